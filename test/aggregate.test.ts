// Model aggregation (eval/aggregate.ts) and its use in evaluate():
// - the consistency score against a float64 composition of independent references (OpenCV's Farneback
//   from opencv.js, the nearest warp and SSIM references);
// - on a textured scene moving 2 px right and 1 px down per frame, label maps that move with it beat
//   maps that flicker and maps that stand still, whichever model comes first;
// - ties, one-frame videos and bad input;
// - evaluate() with a second model: each model's own scores, the per-video choice, and the aggregate's
//   scores and masks are those of the chosen model.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Frame } from '../dataset/image.ts';
import { makeRng } from '../dataset/rng.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { writeSynth } from '../dataset/synth-write.ts';
import { chooseModel, consistencyScores, formatChoice } from '../eval/aggregate.ts';
import { FARNEBACK_DEFAULTS } from '../eval/flow.ts';
import { evaluate, parseEvalArgs } from '../eval/evaluate.ts';
import { SegMetrics } from '../eval/metrics.ts';
import { Student, defaultStudentConfig } from '../models/student.ts';
import { nd } from './reference/nd.ts';
import { cvFarneback, cvGray, openCV } from '../bench/opencv-flow.ts';
import { warpNearestRef } from './reference/flow.ts';
import { ssimRef } from './reference/ssim.ts';
import { gpu } from './setup.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-aggregate-'));
const data = path.join(root, 'data');

beforeAll(async () => {
  await gpu();
  writeSynth(data, { seed: 7, videos: 3, frames: 9, width: 48, height: 32, valVideos: 2 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const W = 96, H = 64, T = 6;

/** A smooth random texture moving (2, 1) px per frame: frames, and label maps (3 texture bands) that move with it. */
function movingScene(seed: number): { frames: Frame[]; labels: Int32Array[] } {
  const rng = makeRng(seed);
  const waves = Array.from({ length: 8 }, () => {
    const ang = rng.range(0, Math.PI), k = (2 * Math.PI) / rng.range(10, 30);
    return { kx: k * Math.cos(ang), ky: k * Math.sin(ang), ph: rng.range(0, 2 * Math.PI) };
  });
  const tex = (x: number, y: number) => waves.reduce((v, w) => v + Math.sin(w.kx * x + w.ky * y + w.ph), 0) / 3;
  const frames: Frame[] = [], labels: Int32Array[] = [];
  for (let t = 0; t < T; t++) {
    const rgb = new Uint8Array(3 * W * H), lab = new Int32Array(W * H);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const v = tex(x - 2 * t, y - t), i = y * W + x;
        rgb.fill(Math.min(255, Math.max(0, Math.round(128 + 60 * v))), 3 * i, 3 * i + 3);
        lab[i] = v < -0.4 ? 0 : v < 0.4 ? 1 : 2;
      }
    }
    frames.push({ width: W, height: H, rgb });
    labels.push(lab);
  }
  return { frames, labels };
}

/** The labels with a fifth of the 8×8 blocks of every frame set to a random other class. */
function flicker(labels: Int32Array[], seed: number): Int32Array[] {
  const rng = makeRng(seed);
  return labels.map((l) => {
    const out = l.slice();
    for (let by = 0; by < H; by += 8) {
      for (let bx = 0; bx < W; bx += 8) {
        if (rng.float() >= 0.2) continue;
        const c = rng.int(3);
        for (let y = by; y < by + 8; y++) out.fill(c, y * W + bx, y * W + bx + 8);
      }
    }
    return out;
  });
}

describe('consistency score', () => {
  test('matches OpenCV flow + nearest warp + SSIM in float64', async () => {
    // Tolerance 1e-3 on the mean: the flows agree to ~1e-6 px (flow.test.ts), which moves a nearest
    // sample only at exact half-pixel ties; the SSIM itself differs by f32 rounding (~1e-6).
    const cv = await openCV();
    const { frames, labels } = movingScene(3);
    const noisy = flicker(labels, 4);
    const ref = [labels, noisy].map((preds) => {
      let s = 0;
      for (let t = 0; t + 1 < T; t++) {
        const g = (f: Frame) => cvGray(cv, W, H, f.rgb);
        const flow = cvFarneback(cv, W, H, g(frames[t + 1]!), g(frames[t]!), FARNEBACK_DEFAULTS);
        const warped = warpNearestRef(nd([H, W], Float64Array.from(preds[t]!)), nd([H, W, 2], Float64Array.from(flow)));
        s += ssimRef(warped, nd([H, W], Float64Array.from(preds[t + 1]!)), 2).data[0]!;
      }
      return s / (T - 1);
    });
    const got = await consistencyScores(frames, [labels, noisy], 2); // L = 2: ids 0..2
    expect(got[0]).toBeCloseTo(ref[0]!, 3);
    expect(got[1]).toBeCloseTo(ref[1]!, 3);
    // Masks that move exactly with the texture are nearly perfectly consistent.
    expect(got[0]).toBeGreaterThan(0.9);
  });
});

describe('choosing a model', () => {
  test('the temporally consistent model wins over a flickering one and a static one, in either order', async () => {
    const { frames, labels } = movingScene(11);
    const noisy = flicker(labels, 12);
    const still = labels.map(() => labels[0]!.slice());
    for (const other of [noisy, still]) {
      const a = await chooseModel('v', frames, [labels, other], 2);
      expect(a.chosen).toBe(0);
      expect(a.scores[0]).toBeGreaterThan(a.scores[1]! + 0.1);
      expect(a.pairs).toBe(T - 1);
      const b = await chooseModel('v', frames, [other, labels], 2);
      expect(b.chosen).toBe(1);
      expect(formatChoice(b, ['A', 'B'])).toMatch(/^v: B \(the higher mean SSIM of flow-warped masks; A 0\.\d{4}, B 0\.\d{4} over 5 frame pairs\)$/);
    }
  });

  test('ties keep the first model; a one-frame video has no pairs', async () => {
    const { frames, labels } = movingScene(5);
    const tie = await chooseModel('v', frames.slice(0, 3), [labels.slice(0, 3), labels.slice(0, 3)], 2);
    expect(tie.chosen).toBe(0);
    expect(tie.scores[0]).toBe(tie.scores[1]);
    expect(formatChoice(tie, ['A', 'B'])).toContain('a tie, kept the first model');
    const one = await chooseModel('v', frames.slice(0, 1), [labels.slice(0, 1), flicker(labels.slice(0, 1), 1)], 2);
    expect(one).toMatchObject({ chosen: 0, pairs: 0 });
    expect(one.scores.every(Number.isNaN)).toBe(true);
    expect(formatChoice(one, ['A', 'B'])).toContain('one frame');
  });

  test('bad input: label maps that do not match the frames', async () => {
    const { frames, labels } = movingScene(5);
    await expect(consistencyScores(frames, [labels.slice(1)], 2)).rejects.toThrow(/model 0 has 5 label maps for 6 frames/);
    const odd = [...frames.slice(0, 2), { width: 8, height: 8, rgb: new Uint8Array(192) }];
    await expect(consistencyScores(odd, [labels.slice(0, 3)], 2)).rejects.toThrow(/frames of different sizes.*96×64 and 8×8/);
  });
});

describe('evaluate with a second model', () => {
  const tiny = (seed: number) =>
    new Student({ ...defaultStudentConfig(VideoDataset.open(data).numClasses, [32, 48]), width: 16, depth: 1, heads: 2, mlpRatio: 2, stemDim: 8, decoderDim: 8, reprDim: 8 }, seed);

  test("reports each model's scores, the choice per video, and scores the chosen masks", async () => {
    const ds = VideoDataset.open(data);
    const [a, b] = [tiny(1), tiny(2)];
    const alone = await Promise.all([a, b].map((m) => evaluate(m, ds, { split: 'val', batch: 4 })));
    const seen: string[] = [];
    const out = await evaluate(a, ds, { split: 'val', batch: 4, aggregate: b, onChoice: (c) => seen.push(c.video) });
    expect(out.models).toEqual(alone.map((r) => r.result));
    expect(out.choices!.map((c) => c.video)).toEqual(ds.split('val'));
    expect(seen).toEqual(ds.split('val'));
    const metrics = new SegMetrics(ds.numClasses);
    out.choices!.forEach((c, v) => {
      const chosen = alone[c.chosen]!.predictions[v]!;
      expect(out.predictions[v]!.preds).toEqual(chosen.preds);
      expect(c.chosen).toBe(c.scores[1]! > c.scores[0]! ? 1 : 0);
      const samples = chosen.frames.map((f) => ds.readSample(c.video, f));
      metrics.addVideo(chosen.preds, samples.map((s) => s.labels.labels), samples.map((s) => s.raw.values));
    });
    expect(out.result).toEqual(metrics.result());
    a.ps.dispose();
    b.ps.dispose();
  });

  test('a model whose classes differ from the data is refused before any work', async () => {
    const ds = VideoDataset.open(data);
    const a = tiny(1);
    const b = new Student({ ...a.config, numClasses: a.config.numClasses + 1 }, 3);
    await expect(evaluate(a, ds, { split: 'val', aggregate: b })).rejects.toThrow(/aggregated model predicts \d+ classes but the dataset declares/);
    a.ps.dispose();
    b.ps.dispose();
  });

  test('--aggregate on the command line', () => {
    expect(parseEvalArgs(['--checkpoint', 'a', '--data', 'd', '--aggregate', 'b'])!.aggregate).toBe('b');
    expect(parseEvalArgs(['--checkpoint', 'a', '--data', 'd'])!.aggregate).toBeUndefined();
    expect(() => parseEvalArgs(['--checkpoint', 'a', '--data', 'd', '--aggregate'])).toThrow(/--aggregate needs a value/);
  });
});
