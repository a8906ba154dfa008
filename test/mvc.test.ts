// MVC's pieces (train/mvc.ts): block masks (masked share ≈ ratio, constant blocks, the grid size
// rounded as Python's round in MIC), masking on the GPU, and the quality weight.
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { makeRng, type Rng } from '../dataset/rng.ts';
import { blockMask, maskImages, mvcDefaults, qualityWeight } from '../train/mvc.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

/** An Rng whose float() makes a checkerboard of kept (0.99) and masked (0) cells in every frame's gh×gw grid. */
function checkerRng(gh: number, gw: number): Rng {
  let i = 0;
  const float = () => {
    const c = i++ % (gh * gw);
    return (Math.floor(c / gw) + (c % gw)) % 2 === 0 ? 0.99 : 0;
  };
  return { ...makeRng(0), float };
}

/** Lengths of the runs of equal values in `xs`. */
function runs(xs: number[]): number[] {
  const out: number[] = [];
  xs.forEach((v, i) => (i > 0 && v === xs[i - 1] ? out[out.length - 1]!++ : out.push(1)));
  return out;
}

describe('blockMask', () => {
  test('the masked share is the ratio, within 5 binomial standard deviations', () => {
    // 96×128 with 16-px blocks: 6×8 equal cells, so the masked pixel share of all frames is the
    // share of n = frames·48 independent Bernoulli(r) cells: σ = √(r(1−r)/n).
    const frames = 100;
    const n = frames * 48;
    for (const [i, ratio] of [0, 0.3, 0.7, 0.9, 1].entries()) {
      const m = blockMask(frames, 96, 128, { block: 16, ratio }, makeRng(i));
      const masked = m.reduce((s, v) => s + (v === 0 ? 1 : 0), 0) / m.length;
      expect(Math.abs(masked - ratio)).toBeLessThanOrEqual(5 * Math.sqrt((ratio * (1 - ratio)) / n));
      expect(m.every((v) => v === 0 || v === 1)).toBe(true);
    }
  });

  test('blocks are constant, round(size/block) per axis, nearest-upsampled (random sizes)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 24 }), (b, h, w, block) => {
        // Python's round: halves to even.
        const pyRound = (x: number) => (Math.abs((x % 1) - 0.5) < 1e-12 ? 2 * Math.round(x / 2) : Math.round(x));
        const gh = Math.max(1, pyRound(h / block));
        const gw = Math.max(1, pyRound(w / block));
        const m = blockMask(b, h, w, { block, ratio: 0.5 }, checkerRng(gh, gw));
        for (let f = 0; f < b; f++) {
          const at = (y: number, x: number) => m[f * h * w + y * w + x]!;
          // A checkerboard of cells: the runs along a column are the gh cell rows, along a row the gw
          // cell columns; nearest upsampling makes every run floor or ceil of size/cells.
          const col = runs(Array.from({ length: h }, (_, y) => at(y, 0)));
          const row = runs(Array.from({ length: w }, (_, x) => at(0, x)));
          expect(col.length).toBe(gh);
          expect(row.length).toBe(gw);
          for (const r of col) expect(r === Math.floor(h / gh) || r === Math.ceil(h / gh)).toBe(true);
          for (const r of row) expect(r === Math.floor(w / gw) || r === Math.ceil(w / gw)).toBe(true);
          // Constant within each block: every pixel equals the checkerboard of its (row run, column run).
          const rowOf = col.flatMap((len, i) => Array<number>(len).fill(i));
          const colOf = row.flatMap((len, i) => Array<number>(len).fill(i));
          for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) expect(at(y, x)).toBe((rowOf[y]! + colOf[x]!) % 2 === 0 ? 1 : 0);
        }
      }),
      { numRuns: 60 },
    );
  });

  test('grid size: hand cases, halves rounding to even as in MIC', () => {
    // One frame (h ≥ gh: the checkerboard never wraps); Math.round agrees with Python on these widths.
    const grid = (h: number, w: number, block: number) => {
      const m = blockMask(1, h, w, { block, ratio: 0.5 }, checkerRng(h, Math.max(1, Math.round(w / block))));
      return [runs(Array.from({ length: h }, (_, y) => m[y * w]!)).length, runs([...m.slice(0, w)]).length];
    };
    expect(grid(96, 128, 16)).toEqual([6, 8]);
    expect(grid(96, 128, 12)).toEqual([8, 11]); // 10.67 → 11
    expect(grid(40, 24, 16)).toEqual([2, 2]); // 2.5 → 2, 1.5 → 2
    expect(grid(8, 7, 16)).toEqual([1, 1]); // 0.5 → 0 and 0.44 → 0, at least one block
  });

  test('each frame is drawn independently; the defaults suit 96×128', () => {
    const m = blockMask(2, 96, 128, mvcDefaults, makeRng(1));
    expect([...m.slice(0, 96 * 128)]).not.toEqual([...m.slice(96 * 128)]);
    expect(96 % mvcDefaults.block).toBe(0);
    expect(128 % mvcDefaults.block).toBe(0);
  });

  test('bad arguments', () => {
    const rng = makeRng(0);
    expect(() => blockMask(0, 8, 8, mvcDefaults, rng)).toThrow(/blockMask: b = 0/);
    expect(() => blockMask(1, 8.5, 8, mvcDefaults, rng)).toThrow(/blockMask: h = 8.5/);
    expect(() => blockMask(1, 8, 8, { block: 0, ratio: 0.5 }, rng)).toThrow(/blockMask: block = 0/);
    expect(() => blockMask(1, 8, 8, { block: 4, ratio: 1.5 }, rng)).toThrow(/blockMask: ratio = 1.5/);
  });
});

describe('maskImages', () => {
  test('zeroes exactly the masked pixels of every channel (random sizes)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 37 }), fc.integer({ min: 0, max: 1000 }), async (b, h, w, seed) => {
        const rng = makeRng(seed);
        const img = Float32Array.from({ length: b * 3 * h * w }, () => rng.range(-2, 2));
        const mask = blockMask(b, h, w, { block: 4, ratio: 0.5 }, rng);
        const out = E.tidy(() => maskImages(E.tensor(img, [b, 3, h, w]), mask));
        expect(out.shape).toEqual([b, 3, h, w]);
        const got = await out.data();
        out.dispose();
        for (let i = 0; i < got.length; i++) {
          const f = Math.floor(i / (3 * h * w));
          const p = i % (h * w);
          expect(got[i]! + 0).toBe(mask[f * h * w + p] ? img[i] : 0); // + 0: a masked negative value is -0
        }
      }),
      { numRuns: 20 },
    );
  });

  test('bad arguments', () => {
    const img = E.zeros([2, 3, 4, 4]);
    expect(() => maskImages(img, new Float32Array(16))).toThrow(/maskImages: mask has 16 values, images \[2,3,4,4\] need \[2,1,4,4\] = 32/);
    expect(() => maskImages(E.zeros([2, 1, 4, 4]), new Float32Array(32))).toThrow(/maskImages: expected f32 images \[B,3,H,W\], got f32 \[2,1,4,4\]/);
    expect(() => maskImages(E.zeros([3, 4, 4]), new Float32Array(48))).toThrow(/maskImages: expected/);
    img.dispose();
  });
});

describe('qualityWeight', () => {
  test('hand cases', () => {
    expect(qualityWeight([0.97, 0.5, 0.968, 0.9679])).toBe(0.5); // the threshold itself counts
    expect(qualityWeight([0.1, 0.2, 0.3])).toBe(0);
    expect(qualityWeight([1, 1])).toBe(1);
    expect(qualityWeight(new Float64Array([0.6, 0.4, 0.8]), 0.5)).toBeCloseTo(2 / 3, 12);
    expect(() => qualityWeight([])).toThrow(/qualityWeight: no pixels/);
  });
});
