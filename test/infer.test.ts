// Inference on frames of any size (eval/predict.ts): the input size at the training scale, the
// sliding windows and their averaged scores against a float64 sum of the windows run one by one,
// and predictions at each frame's own size, for frames of sizes that are not multiples of the patch.
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import type { Frame } from '../dataset/image.ts';
import { parseEvalArgs } from '../eval/evaluate.ts';
import { explainLimits, framesPerPass, inputSize, predictFrames, scoresAt, windowStarts } from '../eval/predict.ts';
import { Student, defaultStudentConfig } from '../models/student.ts';
import { frameTensor } from '../models/input.ts';
import { close } from './gradcheck.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

/** A tiny student trained (in name) on 48x32 crops at base size 32. */
const tiny = (baseSize = 32) =>
  new Student({ ...defaultStudentConfig(5, [32, 48]), width: 16, depth: 1, heads: 2, mlpRatio: 2, stemDim: 8, decoderDim: 8, reprDim: 8, baseSize }, 3);

const frame = (w: number, h: number, seed: number): Frame => ({ width: w, height: h, rgb: Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 7919 + seed * 104729) % 256) });

describe('inference at the training scale', () => {
  test('inputSize: the shorter side at the base size, sides on the patch grid', () => {
    const c = { patch: 8, baseSize: 96 };
    expect(inputSize(c, 480, 854)).toEqual([96, 168]); // 854·96/480 = 170.8 → 168 (21 patches)
    expect(inputSize(c, 96, 128)).toEqual([96, 128]); // the embedded set: as it is
    expect(inputSize(c, 190, 250)).toEqual([96, 128]); // 126.3 → 128
    expect(inputSize(c, 480, 854, 1.2)).toEqual([112, 208]); // TTA scales multiply the base
    expect(inputSize({ patch: 8, baseSize: 0 }, 190, 250)).toEqual([192, 248]); // base 0: the frame's own size, rounded
    expect(inputSize({ patch: 8, baseSize: 0 }, 3, 5)).toEqual([8, 8]); // never below one patch
  });

  test('windowStarts: stride steps, the last window ends at the edge, one window when it fits', () => {
    expect(windowStarts(48, 32, 16)).toEqual([0, 16]);
    expect(windowStarts(168, 128, 80)).toEqual([0, 40]);
    expect(windowStarts(200, 48, 32)).toEqual([0, 32, 64, 96, 128, 152]);
    expect(windowStarts(32, 48, 32)).toEqual([0]);
    expect(windowStarts(48, 48, 32)).toEqual([0]);
  });

  test('slide: each 1/4-resolution score is the float64 mean of the windows that cover it', async () => {
    const model = tiny(0); // frames as they are: 104×56 is 3 × 3 windows of 48×32 (stride 32 × 16), the last ones moved to the edge
    const f = frame(104, 56, 1);
    const x = frameTensor(f);
    const got = E.noGrad(() => scoresAt(model, x, 1, 1, 'slide'));
    expect(got.shape).toEqual([1, 5, 14, 26]);
    const ys = windowStarts(56, 32, 16);
    const xs = windowStarts(104, 48, 32);
    expect([ys, xs]).toEqual([[0, 16, 24], [0, 32, 56]]);
    const sum = new Float64Array(5 * 14 * 26);
    const count = new Float64Array(14 * 26);
    for (const y of ys) {
      for (const x0 of xs) {
        const s = E.noGrad(() => E.tidy(() => model.lowLogits(E.slice(x, [0, 0, y, x0], [1, 3, y + 32, x0 + 48]))));
        expect(s.shape).toEqual([1, 5, 8, 12]);
        const d = await s.data();
        s.dispose();
        for (let c = 0; c < 5; c++) {
          for (let i = 0; i < 8; i++) for (let j = 0; j < 12; j++) sum[(c * 14 + y / 4 + i) * 26 + x0 / 4 + j]! += d[(c * 8 + i) * 12 + j]!;
        }
        for (let i = 0; i < 8; i++) for (let j = 0; j < 12; j++) count[(y / 4 + i) * 26 + x0 / 4 + j]! += 1;
      }
    }
    expect(Math.min(...count)).toBe(1);
    expect(Math.max(...count)).toBe(6); // rows 24-31 under 3 windows, columns 32-47 and 56-79 under 2
    const want = sum.map((v, i) => v / count[i % (14 * 26)]!);
    close(await got.data(), want, { atol: 1e-5, rtol: 1e-5 }, 'slide scores');
    // A frame that fits one window gives the whole-frame scores.
    const small = frameTensor(frame(48, 32, 2));
    const [a, b] = E.noGrad(() => [scoresAt(model, small, 1, 1, 'slide'), scoresAt(model, small, 1, 1, 'whole')]);
    expect([...(await a!.data())]).toEqual([...(await b!.data())]);
    for (const t of [got, x, small, a!, b!]) t.dispose();
    model.ps.dispose();
  });

  test("predictions have each frame's own size, whole and slide, for sizes off the patch grid", async () => {
    const model = tiny();
    for (const [w, h] of [[854, 480], [250, 190], [61, 37]] as const) {
      for (const mode of ['whole', 'slide'] as const) {
        const preds = await predictFrames(model, [frame(w, h, 3), frame(w, h, 4)], undefined, mode);
        expect(preds.map((p) => p.length), `${w}×${h} ${mode}`).toEqual([w * h, w * h]);
        expect(preds.every((p) => p.every((v) => v >= 0 && v < 5))).toBe(true);
      }
    }
    model.ps.dispose();
  });

  // The worst case a VSPW user meets: 854×480 frames seen at 480p (base size 480, as VSPW recipes
  // train), 124 classes, the default student's patch and decoder sizes (a narrow transformer keeps the
  // test short; the token count, 6,420, is what sizes the attention). Without the row blocks, the
  // reduced class scores and the frames-per-pass bound, bindings reached 2.6 GB (q·kᵀ) and 189 MB
  // (frame-sized scores).
  test('an 854×480 frame at base size 480 with 124 classes: every binding under 128 MiB', async () => {
    const config = { ...defaultStudentConfig(124, [96, 128]), width: 32, depth: 1, heads: 4, baseSize: 480 };
    const model = new Student(config, 5);
    expect(inputSize(config, 480, 854)).toEqual([480, 856]);
    expect(framesPerPass(config, 480, 854, 8)).toBe(1); // a frame's decoder im2col columns alone are 89 MB
    expect(framesPerPass({ ...config, baseSize: 96 }, 480, 854, 8)).toBe(8); // at base size 96 the 8 requested fit
    E.largestBinding(true);
    const preds = await predictFrames(model, [frame(854, 480, 5), frame(854, 480, 6)]);
    const big = E.largestBinding();
    expect(preds.map((p) => p.length)).toEqual([854 * 480, 854 * 480]);
    expect(big.bytes, big.what).toBeLessThan(128 * 2 ** 20);
    expect(big.bytes).toBeGreaterThan(32 * 2 ** 20); // it did run at 480p
    model.ps.dispose();
  });

  // Frames seen at their own size (--base-size 0): at 1080p a frame's decoder im2col columns would be
  // 448 MB and the stem's 149 MB; conv2d builds them in bands of rows within the binding budget.
  test('a 1920×1080 frame at its own size with 124 classes: every binding under 128 MiB', async () => {
    // Patch 16 keeps the attention (8,160 tokens) short; the convolutions are the default student's.
    const config = { ...defaultStudentConfig(124, [96, 128]), patch: 16, width: 32, depth: 1, heads: 4, baseSize: 0 };
    const model = new Student(config, 5);
    expect(inputSize(config, 1080, 1920)).toEqual([1088, 1920]);
    E.largestBinding(true);
    const [pred] = await predictFrames(model, [frame(1920, 1080, 7)]);
    const big = E.largestBinding();
    expect(pred!.length).toBe(1920 * 1080);
    expect(big.bytes, big.what).toBeLessThanOrEqual(64 * 2 ** 20);
    expect(big.bytes).toBeGreaterThan(32 * 2 ** 20);
    model.ps.dispose();
  });

  test('eval options --infer and --base-size; a binding error says what to change', () => {
    const base = ['--checkpoint', 'm', '--data', 'd'];
    expect(parseEvalArgs(base)).toMatchObject({ infer: 'whole', baseSize: undefined });
    expect(parseEvalArgs([...base, '--infer', 'slide', '--base-size', '480'])).toMatchObject({ infer: 'slide', baseSize: 480 });
    expect(() => parseEvalArgs([...base, '--infer', 'tiles'])).toThrow(/--infer must be whole or slide, got tiles/);
    expect(() => parseEvalArgs([...base, '--base-size', '-3'])).toThrow(/--base-size must be a number of pixels in 0..8192, got -3/);
    expect(explainLimits("conv2d: binding 'C' is 177500160 bytes, over this device's maxStorageBufferBindingSize (134217728)")).toMatch(/\(one tensor is over what the device lets a shader bind: use a smaller --base-size/);
    expect(explainLimits('other')).toBe('other');
  });
});
