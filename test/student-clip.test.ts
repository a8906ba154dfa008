// The student's clip mode (models/student.ts, `temporal`) and inference with context (eval/predict.ts),
// on a tiny model: a temporal model's frame 1 depends on frame 0 of its clip and on nothing outside
// the clip; a non-temporal one ignores `clip`; predictFrames pairs each frame with the one before;
// checkpoints written before `temporal` existed still load.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import type { Frame } from '../dataset/image.ts';
import { makeRng } from '../dataset/rng.ts';
import { classIdsAt, predictFrames, scoresAt } from '../eval/predict.ts';
import { studentFromCheckpoint, studentMetadata } from '../models/checkpoint.ts';
import { Student, type StudentConfig } from '../models/student.ts';
import { frameTensor } from '../models/input.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

const config = (temporal: boolean): StudentConfig => ({
  norm: 'group',
  baseSize: 0,
  numClasses: 3,
  patch: 8,
  width: 32,
  depth: 1,
  heads: 2,
  mlpRatio: 2,
  imageSize: [16, 16],
  stemDim: 8,
  decoderDim: 16,
  reprDim: 16,
  temporal,
});

/**
 * Freshly initialised, the model predicts one class everywhere and the temporal block is the
 * identity (zero output projections); noise of std 0.3 on every parameter gives varied predictions and
 * a context effect far above f32 rounding, so the comparisons below can tell frames apart.
 */
async function shake(model: Student, seed: number): Promise<Student> {
  for (const [i, t] of model.ps.list().entries()) {
    const noisy = E.tidy(() => E.add(t, E.randNormal(t.shape, seed * 1000 + i, 0, 0.3)));
    E.assignData(t, await noisy.data());
    noisy.dispose();
  }
  return model;
}

let temporal: Student;
let plain: Student;
beforeAll(async () => {
  temporal = await shake(new Student(config(true), 1), 1);
  plain = await shake(new Student(config(false), 1), 2);
});
afterAll(() => {
  temporal.ps.dispose();
  plain.ps.dispose();
});

const rng = makeRng(7);
const randomImages = (n: number) => Float32Array.from({ length: n * 3 * 16 * 16 }, () => rng.range(-2, 2));
const frame = (): Frame => ({ width: 16, height: 16, rgb: Uint8Array.from({ length: 16 * 16 * 3 }, () => rng.int(256)) });

/** Logits of each frame of `images` [n·3·16·16] run as clips of `clip`, as one array per frame. */
async function logitsPerFrame(model: Student, images: Float32Array, clip: number): Promise<Float32Array[]> {
  const n = images.length / (3 * 16 * 16);
  const out = E.noGrad(() => E.tidy(() => model.logits(E.tensor(images, [n, 3, 16, 16]), { clip })));
  const all = (await out.data()) as Float32Array;
  out.dispose();
  const k = all.length / n;
  return Array.from({ length: n }, (_, i) => all.slice(i * k, (i + 1) * k));
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('student clip mode', () => {
  test('a temporal model looks at the other frames of its clip, and only those', async () => {
    const a = randomImages(4);
    const b = a.slice();
    b.set(randomImages(1), 0); // frame 0 changed
    const [ca, cb] = [await logitsPerFrame(temporal, a, 2), await logitsPerFrame(temporal, b, 2)];
    expect(maxDiff(ca[1]!, cb[1]!)).toBeGreaterThan(0.1); // ~10 measured (shaken weights)
    expect(maxDiff(ca[2]!, cb[2]!)).toBe(0); // the second clip does not see the first
    expect(maxDiff(ca[3]!, cb[3]!)).toBe(0);
    // With clip 1 each frame is its own clip.
    const [sa, sb] = [await logitsPerFrame(temporal, a, 1), await logitsPerFrame(temporal, b, 1)];
    expect(maxDiff(sa[1]!, sb[1]!)).toBe(0);
  });

  test("a frame's logits do not depend on its batch: the same frames alone or after others (U2PL's one teacher pass relies on it)", async () => {
    const joined = randomImages(7);
    const a = joined.slice(4 * 3 * 16 * 16); // its last 3 frames
    for (const model of [plain, temporal]) {
      const [alone, after] = [await logitsPerFrame(model, a, 1), (await logitsPerFrame(model, joined, 1)).slice(4)];
      alone.forEach((want, i) => expect(maxDiff(after[i]!, want), `frame ${i}`).toBe(0));
    }
  });

  test('a fresh temporal block is the identity: a model given it predicts as the same weights without it', async () => {
    const withBlock = new Student(config(true), 5); // the block's parameters are created last: the others match
    const without = await shake(new Student(config(false), 5), 3);
    for (const [name, t] of without.ps.tensors) E.assignData(withBlock.ps.get(name), await t.data());
    const a = randomImages(4);
    const want = await logitsPerFrame(without, a, 1);
    for (const clip of [1, 2]) (await logitsPerFrame(withBlock, a, clip)).forEach((got, i) => expect(maxDiff(got, want[i]!), `clip ${clip}, frame ${i}`).toBe(0));
    withBlock.ps.dispose();
    without.ps.dispose();
  });

  test('a non-temporal model ignores clip', async () => {
    const a = randomImages(2);
    const b = a.slice();
    b.set(randomImages(1), 0);
    const [ca, cb, c1] = [await logitsPerFrame(plain, a, 2), await logitsPerFrame(plain, b, 2), await logitsPerFrame(plain, a, 1)];
    expect(maxDiff(ca[1]!, cb[1]!)).toBe(0);
    expect(maxDiff(ca[1]!, c1[1]!)).toBe(0);
    expect(plain.ps.tensors.has('temporal.frame_embed')).toBe(false);
  });

  test('shapes with clip 1 and clip 2; gradients reach the frame embedding rows in use', () => {
    for (const clip of [1, 2]) {
      E.tidy(() => {
        const x = E.tensor(randomImages(4), [4, 3, 16, 16]);
        const out = temporal.forward(x, { clip, repr: true });
        expect(out.logitsLow.shape).toEqual([4, 3, 4, 4]);
        expect(out.features.shape).toEqual([4, 16, 4, 4]);
        expect(out.repr!.shape).toEqual([4, 16, 4, 4]);
      });
    }
  });

  test('the frame embedding gets gradient for the frame positions of the clip only', async () => {
    const pos = temporal.ps.get('temporal.frame_embed');
    E.zeroGrad(temporal.ps.list());
    E.tidy(() => E.backward(E.sum(temporal.logits(E.tensor(randomImages(4), [4, 3, 16, 16]), { clip: 2 }))));
    const g = (await pos.grad!.data()) as Float32Array;
    const rowNorm = (r: number) => g.slice(r * 32, (r + 1) * 32).reduce((s, v) => s + Math.abs(v), 0);
    expect(rowNorm(0)).toBeGreaterThan(0);
    expect(rowNorm(1)).toBeGreaterThan(0);
    expect(rowNorm(2)).toBe(0);
    expect(rowNorm(3)).toBe(0);
    E.zeroGrad(temporal.ps.list());
  });

  test('errors: a batch that is not a whole number of clips, clips longer than 4', () => {
    E.tidy(() => {
      const x = E.zeros([3, 3, 16, 16]);
      expect(() => temporal.forward(x, { clip: 2 })).toThrow(/student: a batch of 3 frames \[3,3,16,16\] is not a whole number of clips of 2 frames/);
      expect(() => temporal.forward(E.zeros([5, 3, 16, 16]), { clip: 5 })).toThrow(/student: clip = 5 must be an integer in \[1, 4\]/);
      expect(() => temporal.forward(x, { clip: 0 })).toThrow(/student: clip = 0/);
    });
  });
});

describe('predictFrames with context', () => {
  /** Class ids of the last frame of the clip [prev, cur], run by hand. */
  async function byHand(model: Student, prev: Frame, cur: Frame): Promise<Int32Array> {
    const ids = E.noGrad(() =>
      E.tidy(() => {
        const scores = scoresAt(model, E.concat([frameTensor(prev), frameTensor(cur)], 0), 1, 2);
        return classIdsAt(E.slice(scores, [1], [2]), [cur.height, cur.width]);
      }),
    );
    const out = (await ids.data()) as Int32Array;
    ids.dispose();
    return out;
  }

  test('a temporal model predicts frame t from [t−1, t]; the first from `previous` or itself', async () => {
    const [p, f0, f1, f2] = [frame(), frame(), frame(), frame()];
    const got = await predictFrames(temporal, [f0, f1, f2], p);
    expect(got).toEqual([await byHand(temporal, p, f0), await byHand(temporal, f0, f1), await byHand(temporal, f1, f2)]);
    const first = await predictFrames(temporal, [f0, f1]);
    expect(first).toEqual([await byHand(temporal, f0, f0), await byHand(temporal, f0, f1)]);
    // The comparison can tell the pairings apart: several classes, and the context changes pixels.
    expect(new Set(got.flatMap((g) => [...g])).size).toBeGreaterThan(1);
    expect(got[0]).not.toEqual(first[0]);
  });

  test('a non-temporal model predicts each frame on its own', async () => {
    const [p, f0, f1] = [frame(), frame(), frame()];
    const alone = async (f: Frame) => {
      const ids = E.noGrad(() => E.tidy(() => classIdsAt(scoresAt(plain, frameTensor(f)), [f.height, f.width])));
      const out = (await ids.data()) as Int32Array;
      ids.dispose();
      return out;
    };
    expect(await predictFrames(plain, [f0, f1], p)).toEqual([await alone(f0), await alone(f1)]);
  });
});

describe('checkpoints', () => {
  test('a config without `temporal` (written before it existed) loads as non-temporal', async () => {
    const { temporal: _, ...old } = config(false);
    const bytes = await E.saveParams(plain.ps.tensors, { config: JSON.stringify(old), classes: '["a","b","c"]', step: '5' });
    const loaded = studentFromCheckpoint(bytes, 'old.safetensors');
    expect(loaded.model.config.temporal).toBe(false);
    const x = randomImages(2);
    expect(await logitsPerFrame(loaded.model, x, 1)).toEqual(await logitsPerFrame(plain, x, 1));
    loaded.model.ps.dispose();
  });

  test('a temporal checkpoint round-trips', async () => {
    const bytes = await E.saveParams(temporal.ps.tensors, { config: JSON.stringify(config(true)) });
    const loaded = studentFromCheckpoint(bytes);
    expect(loaded.model.config.temporal).toBe(true);
    const x = randomImages(2);
    expect(await logitsPerFrame(loaded.model, x, 2)).toEqual(await logitsPerFrame(temporal, x, 2));
    loaded.model.ps.dispose();
  });

  test("the data set's label declaration travels with the checkpoint; a bad or mismatched one is named", async () => {
    const c = config(false);
    const labels = { labels: 'identity' as const, numClasses: c.numClasses, ignore: 200 };
    const meta = studentMetadata(c, ['a', 'b', 'c'], labels);
    const loaded = studentFromCheckpoint(await E.saveParams(plain.ps.tensors, meta), 'run/model.safetensors');
    expect(loaded.labels).toEqual(labels);
    expect(loaded.classNames).toEqual(['a', 'b', 'c']);
    loaded.model.ps.dispose();
    expect(studentFromCheckpoint(await E.saveParams(plain.ps.tensors, { config: JSON.stringify(c) })).labels).toBeUndefined();
    const wrongCount = studentMetadata(c, [], { labels: 'vspw', numClasses: c.numClasses + 1 });
    await expect(E.saveParams(plain.ps.tensors, wrongCount).then((b) => studentFromCheckpoint(b, 'x.safetensors'))).rejects.toThrow(
      `x.safetensors: its 'labels' declaration has ${c.numClasses + 1} classes, the model ${c.numClasses}`,
    );
    const bad = { ...meta, labels: JSON.stringify({ labels: 'rgb', numClasses: c.numClasses }) };
    await expect(E.saveParams(plain.ps.tensors, bad).then((b) => studentFromCheckpoint(b, 'y.safetensors'))).rejects.toThrow(/y\.safetensors: the 'labels' declaration/);
  });
});
