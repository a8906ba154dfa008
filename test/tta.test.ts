// Test-time augmentation (eval/tta.ts): the vote on hand-made label maps with ties of several shapes
// and against a brute-force count on random maps; the views' ranking; flip and resize round trips on
// a tiny student (exact: flips and same-size resizes move values without arithmetic); the command
// line; and evaluation end to end on a tiny synthetic set, plain and temporal students, both modes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { writeSynth } from '../dataset/synth-write.ts';
import { evaluate, parseEvalArgs } from '../eval/evaluate.ts';
import { classIdsAt, modelInput, perFrame, predictFrames } from '../eval/predict.ts';
import { TTA_SCALES, meanProbabilities, parseScales, predictFramesTta, ttaViews, viewScores, vote } from '../eval/tta.ts';
import { Student, defaultStudentConfig } from '../models/student.ts';
import { close } from './gradcheck.ts';
import { gpu } from './setup.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-tta-'));
const data = path.join(root, 'data');

beforeAll(async () => {
  await gpu();
  writeSynth(data, { seed: 5, videos: 2, frames: 9, width: 48, height: 32, valVideos: 1 }); // 9 frames: one 8-frame VC window
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A tiny randomly initialised student (its predictions are arbitrary but deterministic). */
const tiny = (numClasses: number, temporal = false) =>
  new Student({ ...defaultStudentConfig(numClasses, [32, 48]), width: 16, depth: 1, heads: 2, mlpRatio: 2, stemDim: 8, decoderDim: 8, reprDim: 8, temporal }, 11);

const maps = (...rows: number[][]) => rows.map((r) => Int32Array.from(r));
const identity = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The rule spelled out: count, collect the tied classes, walk the ranking to the first tied label. */
function voteRef(ms: Int32Array[], order: number[], numClasses: number): Int32Array {
  return Int32Array.from(ms[0]!, (_, p) => {
    const counts = new Array<number>(numClasses).fill(0);
    for (const m of ms) counts[m[p]!]!++;
    const most = Math.max(...counts);
    const tied = new Set(counts.flatMap((c, k) => (c === most ? [k] : [])));
    return order.map((i) => ms[i]![p]!).find((l) => tied.has(l))!;
  });
}

describe('vote', () => {
  test('hand-made maps: majorities and ties of several shapes', () => {
    // One pixel per case, the maps ranked as given (order = identity).
    const cases: [number[], number][] = [
      [[1, 1, 2], 1], // plain majority, the top-ranked map outvoted
      [[2, 3, 3, 2], 2], // 2–2 tie: the top-ranked map's label
      [[3, 2, 2, 3], 3],
      [[5, 2, 3, 3, 2], 2], // the top-ranked label (5) is not tied: the first tied label down the ranking
      [[4, 5, 6, 7, 0, 1, 2, 3], 4], // all eight differ: the top-ranked map
      [[0, 1, 1, 2, 2, 3, 3, 0], 0], // four-way 2–2–2–2 tie
      [[7, 6, 6, 5, 5, 5, 6, 7], 6], // 3–3 tie between 6 and 5, 7 (top) has only two votes
      [[9], 9], // a single map
    ];
    for (const [labels, want] of cases) {
      expect(vote(maps(...labels.map((l) => [l])), identity(labels.length), 10)[0], `${labels}`).toBe(want);
    }
    // Several pixels at once, each with its own shape of tie.
    const ms = maps([0, 1, 2, 3], [1, 1, 3, 2], [1, 2, 2, 3], [0, 2, 3, 2]);
    expect([...vote(ms, identity(4), 4)]).toEqual([0, 1, 2, 3]);
  });

  test('the order ranks the maps for ties only', () => {
    const ms = maps([2, 4, 4], [3, 4, 5], [3, 1, 4], [2, 0, 4]);
    expect([...vote(ms, [0, 1, 2, 3], 6)]).toEqual([2, 4, 4]);
    expect([...vote(ms, [3, 2, 1, 0], 6)]).toEqual([2, 4, 4]);
    expect([...vote(ms, [1, 0, 2, 3], 6)]).toEqual([3, 4, 4]);
  });

  test('random maps and rankings: the rule spelled out', () => {
    const arb = fc
      .record({ k: fc.integer({ min: 1, max: 8 }), c: fc.integer({ min: 1, max: 5 }), n: fc.integer({ min: 1, max: 30 }) })
      .chain(({ k, c, n }) =>
        fc.tuple(
          fc.array(fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: n, maxLength: n }), { minLength: k, maxLength: k }),
          fc.shuffledSubarray(identity(k), { minLength: k, maxLength: k }),
          fc.constant(c),
        ),
      );
    fc.assert(
      fc.property(arb, ([rows, order, c]) => {
        const ms = maps(...rows);
        expect([...vote(ms, order, c)]).toEqual([...voteRef(ms, order, c)]);
      }),
      { numRuns: 300 },
    );
  });

  test('bad input is a clear error', () => {
    expect(() => vote([], [], 3)).toThrow(/vote: no label maps/);
    expect(() => vote(maps([0, 1], [0]), [0, 1], 3)).toThrow(/vote: label maps of different sizes \(2, 1\)/);
    expect(() => vote(maps([0], [1]), [0, 0], 3)).toThrow(/vote: order \[0,0\] is not a permutation of the 2 map indices/);
    expect(() => vote(maps([0, 3]), [0], 3)).toThrow(/vote: label 3 at pixel 1 is not a class id in \[0, 3\)/);
  });
});

describe('views and options', () => {
  test('views are ranked by scale, largest first, unflipped before flipped', () => {
    expect(ttaViews(TTA_SCALES).map((v) => `${v.scale}${v.flip ? 'f' : ''}`)).toEqual(['1.2', '1.2f', '1.1', '1.1f', '1', '1f', '0.9', '0.9f']);
    expect(ttaViews([1, 2]).map((v) => v.scale)).toEqual([2, 2, 1, 1]);
  });

  test('--tta-scales', () => {
    expect(parseScales('0.9,1,1.1,1.2')).toEqual([0.9, 1, 1.1, 1.2]);
    expect(parseScales(' 1 , 0.5')).toEqual([1, 0.5]);
    expect(() => parseScales('1,,2')).toThrow(/--tta-scales: '' in '1,,2' is not a scale in \(0, 4\]/);
    expect(() => parseScales('1,x')).toThrow(/'x' in '1,x' is not a scale/);
    expect(() => parseScales('0,1')).toThrow(/'0' in '0,1' is not a scale/);
    expect(() => parseScales('90')).toThrow(/'90' in '90' is not a scale in \(0, 4\]/);
    expect(() => parseScales('1,1.0')).toThrow(/scale 1 appears twice in '1,1.0'/);
  });

  test('the command line: --tta, --tta-scales, --tta-mode', () => {
    const base = ['--checkpoint', 'm.safetensors', '--data', 'd'];
    expect(parseEvalArgs(base)!.tta).toBeUndefined();
    expect(parseEvalArgs([...base, '--tta'])).toMatchObject({ checkpoint: 'm.safetensors', data: 'd', split: 'val', batch: 8, tta: { scales: [0.9, 1, 1.1, 1.2], mode: 'vote' } });
    expect(parseEvalArgs(['--tta', ...base, '--tta-scales', '1,1.5', '--tta-mode', 'mean', '--batch', '2'])).toMatchObject({ batch: 2, tta: { scales: [1, 1.5], mode: 'mean' } });
    expect(parseEvalArgs([...base, '--tta', '--help'])).toBeUndefined();
    expect(() => parseEvalArgs([...base, '--tta-scales', '1,2'])).toThrow(/--tta-scales is only used with --tta/);
    expect(() => parseEvalArgs([...base, '--tta-mode', 'mean'])).toThrow(/--tta-mode is only used with --tta/);
    expect(() => parseEvalArgs([...base, '--tta', '--tta-mode', 'max'])).toThrow(/--tta-mode must be vote or mean, got max/);
    expect(() => parseEvalArgs([...base, '--tta', '--tta-scales'])).toThrow(/option --tta-scales needs a value/);
    expect(() => parseEvalArgs([...base, '--tta', '--tta-scales', '--batch', '2'])).toThrow(/option --tta-scales needs a value/);
    expect(() => parseEvalArgs([...base, '--tta', '--tta-scales', '-1'])).toThrow(/'-1' in '-1' is not a scale/);
    expect(() => parseEvalArgs([...base, '--ttta'])).toThrow(/unknown option '--ttta'/);
  });
});

describe('round trips on a tiny student', () => {
  test('flip(flip(x)) = x', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 4, maxLength: 4 }), async (shape) => {
        const v = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i * 0.5 - 3);
        const back = E.tidy(() => E.flip(E.flip(E.tensor(v, shape), 3), 3));
        expect([...(await back.data())]).toEqual([...v]);
        back.dispose();
      }),
      { numRuns: 10 },
    );
  });

  test('the flipped view of a mirrored input is the mirrored unflipped view (every scale, temporal too)', async () => {
    for (const temporal of [false, true]) {
      const model = tiny(5, temporal);
      const clip = temporal ? 2 : 1;
      const x = E.randNormal([2, 3, 32, 48], 3);
      for (const scale of [0.9, 1, 1.2]) {
        const [a, b] = E.noGrad(() =>
          E.tidy(() => [viewScores(model, E.flip(x, 3), { scale, flip: true }, clip), E.flip(viewScores(model, x, { scale, flip: false }, clip), 3)]),
        );
        expect(a!.shape[1]).toBe(5);
        expect([...(await a!.data())], `scale ${scale}, temporal ${temporal}`).toEqual([...(await b!.data())]);
        a!.dispose();
        b!.dispose();
      }
      x.dispose();
      model.ps.dispose();
    }
  });

  test('at scale 1 the resize round trip is the identity', async () => {
    const x = E.randNormal([1, 4, 5, 7], 1);
    const same = E.resizeBilinear(x, [5, 7]);
    expect([...(await same.data())]).toEqual([...(await x.data())]);
    // A frame at the training scale runs as is: the view at scale 1 is the model's 1/4-resolution output.
    const model = tiny(4);
    const img = E.randNormal([1, 3, 32, 48], 2);
    const [view, direct] = E.noGrad(() => E.tidy(() => [viewScores(model, img, { scale: 1, flip: false }), model.forward(img).logitsLow]));
    expect(view!.shape).toEqual([1, 4, 8, 12]);
    expect([...(await view!.data())]).toEqual([...(await direct!.data())]);
    for (const t of [x, same, img, view!, direct!]) t.dispose();
    model.ps.dispose();
  });
});

describe('evaluation with TTA', () => {
  test('vote and mean equal the merge of the views computed one by one, for plain and temporal students', async () => {
    const ds = VideoDataset.open(data);
    const video = ds.split('val')[0]!;
    const names = ds.frames(video);
    const frames = names.slice(1, 4).map((f) => ds.readFrame(video, f));
    const previous = ds.readFrame(video, names[0]!);
    for (const temporal of [false, true]) {
      const model = tiny(ds.numClasses, temporal);
      const scales = [0.9, 1.2];
      const got = await predictFramesTta(model, frames, previous, { scales, mode: 'vote' });
      const views = ttaViews(scales);
      const perView = E.noGrad(() =>
        E.tidy(() => {
          const { images, clip } = modelInput(model, frames, previous);
          return views.map((v) => classIdsAt(perFrame(viewScores(model, images, v, clip), clip), [32, 48]));
        }),
      );
      const n = 32 * 48;
      const all: Int32Array[] = [];
      for (const t of perView) {
        all.push((await t.data()) as Int32Array);
        t.dispose();
      }
      expect(all.some((m) => m.some((l, i) => l !== all[0]![i])), 'the views disagree somewhere').toBe(true);
      frames.forEach((_, f) => {
        const want = vote(all.map((m) => m.slice(f * n, (f + 1) * n)), identity(views.length), ds.numClasses);
        expect([...got[f]!], `frame ${f}, temporal ${temporal}`).toEqual([...want]);
      });
      // Scale 1 alone: where its two views disagree, the unflipped one wins, so it is the plain prediction.
      const plain = await predictFrames(model, frames, previous);
      expect(await predictFramesTta(model, frames, previous, { scales: [1], mode: 'vote' })).toEqual(plain);
      const mirrored = E.noGrad(() =>
        E.tidy(() => {
          const { images, clip } = modelInput(model, frames, previous);
          return classIdsAt(perFrame(viewScores(model, images, { scale: 1, flip: true }, clip), clip), [32, 48]);
        }),
      );
      const m1 = (await mirrored.data()) as Int32Array;
      mirrored.dispose();
      expect(plain.some((p, f) => p.some((l, i) => l !== m1[f * n + i])), 'the two views at scale 1 disagree somewhere (ties happen)').toBe(true);
      // Mean: the views' probabilities summed in the views' order on the scale-1 grid (8×12), then
      // resized to the frame with the argmax (4 views: the mean is the sum × 1/4, exactly).
      const soft = E.noGrad(() =>
        E.tidy(() => {
          const { images, clip } = modelInput(model, frames, previous);
          const probs = views.map((v) => E.softmax(E.resizeBilinear(perFrame(viewScores(model, images, v, clip), clip), [8, 12]), 1));
          return classIdsAt(probs.reduce((acc, p) => E.add(acc, p)), [32, 48]);
        }),
      );
      const softWant = (await soft.data()) as Int32Array;
      soft.dispose();
      const mean = await predictFramesTta(model, frames, previous, { scales, mode: 'mean' });
      frames.forEach((_, f) => expect([...mean[f]!], `mean, frame ${f}, temporal ${temporal}`).toEqual([...softWant.slice(f * n, (f + 1) * n)]));
      model.ps.dispose();
    }
  });

  test("meanProbabilities (retraining's teacher + student ensemble) is the float64 mean of every model's and view's softmax on the scale-1 grid", async () => {
    const ds = VideoDataset.open(data);
    const video = ds.split('val')[0]!;
    const frames = ds.frames(video).slice(0, 2).map((f) => ds.readFrame(video, f));
    const first = tiny(ds.numClasses);
    const models = [first, new Student(first.config, 12)]; // two different models
    const views = ttaViews([0.75, 1.25]);
    const images = modelInput(models[0]!, frames).images;
    const got = meanProbabilities(models, images, views);
    const gotData = await got.data();
    const want = new Float64Array(gotData.length);
    for (const m of models) {
      for (const v of views) {
        const p = E.noGrad(() => E.tidy(() => E.softmax(E.resizeBilinear(viewScores(m, images, v), [8, 12]), 1)));
        (await p.data()).forEach((x, i) => (want[i]! += x / (models.length * views.length)));
        p.dispose();
      }
    }
    expect(got.shape).toEqual([2, ds.numClasses, 8, 12]);
    close(gotData, want, { atol: 1e-6, rtol: 1e-6 }, 'mean probabilities');
    for (const t of [got, images, ...models.map((m) => m.ps)]) t.dispose();
  });

  test('evaluate with --tta runs end to end and gives metrics in [0, 1]', async () => {
    const ds = VideoDataset.open(data);
    for (const [temporal, mode] of [[false, 'vote'], [true, 'vote'], [false, 'mean']] as const) {
      const model = tiny(ds.numClasses, temporal);
      const { result, predictions } = await evaluate(model, ds, { split: 'val', batch: 3, tta: { scales: TTA_SCALES, mode } });
      for (const v of [result.mIoU, result.mVC8, ...result.perClassIoU.filter((x) => !Number.isNaN(x))]) {
        expect(v).not.toBeNaN();
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      expect(predictions[0]!.preds).toHaveLength(9);
      for (const p of predictions[0]!.preds) expect(p.every((l) => l >= 0 && l < ds.numClasses)).toBe(true);
      model.ps.dispose();
    }
  });
});
