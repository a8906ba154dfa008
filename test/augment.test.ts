// The training augmentation's colour jitter (train/images.ts): the colour map by hand (identity, hue
// rotations that permute pure colours, saturation 0 gives grey, contrast 0 gives the centre grey,
// greys stay grey), the normalised-space version on the GPU against a float64 reference of the same
// map on random images (fast-check), and photometric() applying exactly the map of its draws.
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import type { Frame } from '../dataset/image.ts';
import { makeRng } from '../dataset/rng.ts';
import { MEAN, STD, frameTensor } from '../models/input.ts';
import { augment, colourMap, gaussianBlur, labelTensor, normalisedColourMap, photometric, type Jitter } from '../train/images.ts';
import { close } from './gradcheck.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

const NONE: Jitter = { brightness: 1, contrast: 1, saturation: 1, hue: 0 };
const apply = (j: Jitter, rgb: number[]) => {
  const { m, t } = colourMap(j);
  return [0, 1, 2].map((r) => m[r * 3]! * rgb[0]! + m[r * 3 + 1]! * rgb[1]! + m[r * 3 + 2]! * rgb[2]! + t[r]!);
};
const near = (got: number[], want: number[]) => got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 12));

describe('colour jitter', () => {
  test('the colour map by hand', () => {
    near(apply(NONE, [0.2, 0.5, 0.9]), [0.2, 0.5, 0.9]);
    near(apply({ ...NONE, hue: 1 / 3 }, [1, 0, 0]), [0, 1, 0]); // a third of a turn: red → green → blue
    near(apply({ ...NONE, hue: 1 / 3 }, [0, 1, 0]), [0, 0, 1]);
    near(apply({ ...NONE, hue: -1 / 3 }, [1, 0, 0]), [0, 0, 1]);
    near(apply({ ...NONE, hue: 0.5 }, [1, 0, 0]), [-1 / 3, 2 / 3, 2 / 3]); // half a turn: red's opposite about grey
    near(apply({ ...NONE, saturation: 0 }, [1, 0, 0]), [0.299, 0.299, 0.299]);
    near(apply({ ...NONE, brightness: 2 }, [0.1, 0.2, 0.3]), [0.2, 0.4, 0.6]);
    const grey0 = 0.299 * MEAN[0]! + 0.587 * MEAN[1]! + 0.114 * MEAN[2]!;
    near(apply({ ...NONE, contrast: 0 }, [0.9, 0.1, 0.4]), [grey0, grey0, grey0]);
    for (const j of [{ ...NONE, hue: 0.13 }, { ...NONE, saturation: 1.7 }, { brightness: 1.1, contrast: 0.9, saturation: 0.8, hue: -0.2 }]) {
      const g = apply(j, [0.4, 0.4, 0.4]);
      expect(g[1]).toBeCloseTo(g[0]!, 12);
      expect(g[2]).toBeCloseTo(g[0]!, 12);
    }
  });

  const jitterArb = fc.record({
    brightness: fc.double({ min: 0.5, max: 1.5, noNaN: true }),
    contrast: fc.double({ min: 0.5, max: 1.5, noNaN: true }),
    saturation: fc.double({ min: 0, max: 2, noNaN: true }),
    hue: fc.double({ min: -0.5, max: 0.5, noNaN: true }),
  });
  const frameArb = fc
    .record({ w: fc.integer({ min: 1, max: 9 }), h: fc.integer({ min: 1, max: 7 }) })
    .chain(({ w, h }) => fc.uint8Array({ minLength: w * h * 3, maxLength: w * h * 3 }).map((rgb): Frame => ({ width: w, height: h, rgb })));

  /** float64: de-normalise, map, normalise again; [3, H, W]. */
  const reference = (f: Frame, j: Jitter) => {
    const n = f.width * f.height;
    const out = new Float64Array(3 * n);
    for (let i = 0; i < n; i++) {
      const y = apply(j, [0, 1, 2].map((c) => f.rgb[i * 3 + c]! / 255));
      for (let c = 0; c < 3; c++) out[c * n + i] = (y[c]! - MEAN[c]!) / STD[c]!;
    }
    return out;
  };

  test('on normalised images (1×1 convolution) it is the RGB map, against float64 (fast-check, |Δ| ≤ 1e-5)', async () => {
    await fc.assert(
      fc.asyncProperty(frameArb, jitterArb, async (f, j) => {
        const { weight, bias } = normalisedColourMap(j);
        const y = E.tidy(() => E.conv2d(frameTensor(f), E.tensor(weight, [3, 3, 1, 1]), E.tensor(bias, [3])));
        const got = await y.data();
        y.dispose();
        close(got, reference(f, j), { atol: 1e-5, rtol: 1e-5 }, 'jittered image');
      }),
      { numRuns: 25 },
    );
  });

  test("photometric() applies the map of its own draws (jitter always, no blur)", async () => {
    const f: Frame = { width: 5, height: 4, rgb: Uint8Array.from({ length: 60 }, (_, i) => (i * 53) % 256) };
    const o = { jitter: { strength: 0.2, p: 1 }, blurP: 0 };
    for (const seed of [1, 2, 3]) {
      const x = frameTensor(f);
      const y = photometric(x, makeRng(seed), o);
      const got = await y.data();
      for (const t of new Set([x, y])) t.dispose();
      // The same draws, in photometric's order: fire?, brightness, contrast, saturation, hue.
      const r = makeRng(seed);
      r.float();
      const j: Jitter = { brightness: r.range(0.8, 1.2), contrast: r.range(0.8, 1.2), saturation: r.range(0.8, 1.2), hue: r.range(-0.2, 0.2) };
      close(got, reference(f, j), { atol: 1e-5, rtol: 1e-5 }, `seed ${seed}`);
      expect([...got].some((v, i) => Math.abs(v - reference(f, NONE)[i]!) > 1e-3)).toBe(true); // it did change the image
    }
  });
});

describe("blur: MIC's kernel", () => {
  // float64: the 2-D Gaussian of σ over a ⌈0.1·W⌉ odd window (≥ 3), reflect borders (…2 1 | 0 1 2…).
  const blurRef = (x: Float32Array, c: number, h: number, w: number, sigma: number) => {
    const side = Math.max(3, Math.ceil(0.1 * w) | 1), r = Math.min(side >> 1, h - 1, w - 1);
    const g = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
    const norm = g.reduce((a, b) => a + b, 0) ** 2;
    const at = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * n - 2 - i : i);
    const out = new Float64Array(c * h * w);
    for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) {
      let s = 0;
      for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) s += g[dy + r]! * g[dx + r]! * x[(ch * h + at(y + dy, h)) * w + at(xx + dx, w)]!;
      out[(ch * h + y) * w + xx] = s / norm;
    }
    return out;
  };

  test('gaussianBlur equals a float64 2-D Gaussian with reflect borders (fast-check, |Δ| ≤ 1e-5)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 20 }), fc.integer({ min: 2, max: 70 }), fc.double({ min: 0.15, max: 1.15, noNaN: true }), fc.integer({ min: 1, max: 1000 }), async (h, w, sigma, seed) => {
        const rng = makeRng(seed);
        const x = Float32Array.from({ length: 3 * h * w }, () => rng.range(-2, 2));
        const y = E.tidy(() => gaussianBlur(E.tensor(x, [1, 3, h, w]), sigma));
        const got = await y.data();
        y.dispose();
        close(got, blurRef(x, 3, h, w, sigma), { atol: 1e-5, rtol: 1e-5 }, `blur ${h}×${w} σ ${sigma}`);
      }),
      { numRuns: 25 },
    );
  });
});

describe('geometry: base size, random scale, crop', () => {
  // A 854×480 frame (VSPW's 480p) with base size 96 and the scale fixed at 1 is a 171×96 image: every
  // crop of 96×128 is a window of resizeBilinear(frame, [96, 171]), whatever the frame's resolution;
  // its labels the same window of the nearest resize. Base size 0 crops the frame as it is.
  test('frames are resized to the base size before the crop', async () => {
    const [w, h] = [854, 480];
    const f: Frame = { width: w, height: h, rgb: Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 7919) % 251) };
    const labels = { width: w, height: h, labels: Int32Array.from({ length: w * h }, (_, i) => Math.floor((i % w) / 100) + 10 * Math.floor(i / w / 100)) };
    const o = { size: [96, 128] as [number, number], baseSize: 96, scaleMin: 1, scaleMax: 1, flip: false, jitter: { strength: 0, p: 0 }, blurP: 0 };
    const img = frameTensor(f);
    const lab = labelTensor(labels);
    const whole = E.resizeBilinear(img, [96, 171]);
    const wholeLab = E.resizeNearest(lab, [96, 171]);
    const seen = new Set<number>();
    for (const seed of [1, 2, 3, 4]) {
      const out = augment(img, lab, makeRng(seed), o);
      expect(out.image.shape).toEqual([1, 3, 96, 128]);
      const got = await out.image.data();
      const gotLab = await out.labels!.data();
      // Find the window's left edge by matching the first row; then the whole window must match.
      const wholeData = await whole.data();
      const x = [...Array(171 - 128 + 1).keys()].find((x0) => [...Array(128).keys()].every((j) => got[j] === wholeData[x0 + j]))!;
      expect(x, `seed ${seed}: the crop is a window of the base-size image`).toBeGreaterThanOrEqual(0);
      seen.add(x);
      const win = E.slice(whole, [0, 0, 0, x], [1, 3, 96, x + 128]);
      const winLab = E.slice(wholeLab, [0, 0, 0, x], [1, 1, 96, x + 128]);
      expect([...got]).toEqual([...(await win.data())]);
      expect([...gotLab]).toEqual([...(await winLab.data())]);
      for (const t of [out.image, out.labels!, win, winLab]) t.dispose();
    }
    expect(seen.size, 'the crops move').toBeGreaterThan(1);
    const asIs = augment(img, lab, makeRng(1), { ...o, baseSize: 0 });
    const asIsData = await asIs.image.data();
    const frameData = await img.data();
    // At base size 0 the crop is a window of the frame itself (rows of 854 pixels).
    const row0 = [...asIsData.slice(0, 128)];
    expect([...Array(w * h - 128).keys()].some((s) => row0.every((v, j) => v === frameData[s + j]))).toBe(true);
    for (const t of [asIs.image, asIs.labels!, img, lab, whole, wholeLab]) t.dispose();
  });
});
