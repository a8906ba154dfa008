// resizeBilinear / resizeNearest: random batch, channels, input and output sizes (up- and
// down-scaling by integer and non-integer factors, size-1 axes), forward against
// test/reference/resize.ts and gradient against finite differences with the default FWD/GRAD
// tolerances (each output blends at most four inputs). Nearest on i32 label maps must match exactly.
// resizeArgmax and resizeSoftmaxStats (no gradient) against the float64 resize's class statistics.
// Then values PyTorch gives for small cases, large factors, and the errors for bad arguments.
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { checkOpWith, ndArb } from './gradcheck.ts';
import { nd, type Nd } from './reference/nd.ts';
import { resizeBilinearRef, resizeNearestRef } from './reference/resize.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

type Size = [number, number];
const dim = fc.integer({ min: 1, max: 8 });
const out = fc.integer({ min: 1, max: 20 });
const shapes = fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), dim, dim, out, out);
const cases = shapes.chain(([n, c, h, w, oh, ow]) => ndArb([n, c, h, w]).map((x): [Nd[], Size] => [[x], [oh, ow]]));

function fixed(shape: number[], size: Size, runs = 2) {
  return { cases: ndArb(shape).map((x): [Nd[], Size] => [[x], size]), runs };
}

const row = (v: number[]) => E.tensor(v, [1, 1, 1, v.length]);
const read = async (t: E.Tensor) => [...(await t.data())].map((v) => Math.round(v * 1e4) / 1e4);

describe('resize', () => {
  test('bilinear: random sizes, forward and gradient', async () => {
    await checkOpWith('resizeBilinear', { cases, op: (s, x) => E.resizeBilinear(x!, s), ref: (s, x) => resizeBilinearRef(x!, s), runs: 40 });
  });

  for (const mode of ['nearest', 'nearest-exact'] as const) {
    test(`${mode}: random sizes, forward and gradient`, async () => {
      await checkOpWith(mode, { cases, op: (s, x) => E.resizeNearest(x!, s, mode), ref: (s, x) => resizeNearestRef(x!, s, mode === 'nearest-exact'), runs: 30 });
    });
  }

  test('large factors: 4× up, non-integer down (7/64, 5/48), gradients included', async () => {
    await checkOpWith('bilinear 4x', { ...fixed([1, 2, 16, 12], [64, 48]), op: (s, x) => E.resizeBilinear(x!, s), ref: (s, x) => resizeBilinearRef(x!, s) });
    await checkOpWith('bilinear down', { ...fixed([1, 1, 64, 48], [7, 5]), op: (s, x) => E.resizeBilinear(x!, s), ref: (s, x) => resizeBilinearRef(x!, s) });
    await checkOpWith('nearest 4x', { ...fixed([1, 2, 16, 12], [64, 48]), op: (s, x) => E.resizeNearest(x!, s), ref: (s, x) => resizeNearestRef(x!, s) });
    await checkOpWith('nearest down', { ...fixed([1, 1, 64, 48], [7, 5]), op: (s, x) => E.resizeNearest(x!, s), ref: (s, x) => resizeNearestRef(x!, s) });
  });

  test('nearest on i32 and u32 label maps matches the reference exactly', async () => {
    await fc.assert(
      fc.asyncProperty(shapes, fc.boolean(), fc.constantFrom('i32' as const, 'u32' as const), async ([n, c, h, w, oh, ow], exact, dtype) => {
        const v = Array.from({ length: n * c * h * w }, (_, i) => ((i * 37) % 23) + (dtype === 'i32' && i % 5 === 0 ? -1 : 0) + (i % 7 === 0 ? 255 : 0));
        const y = E.resizeNearest(E.tensor(v, [n, c, h, w], dtype), [oh, ow], exact ? 'nearest-exact' : 'nearest');
        expect(y.dtype).toBe(dtype);
        expect([...(await y.data())]).toEqual([...resizeNearestRef(nd([n, c, h, w], v), [oh, ow], exact).data]);
        y.dispose();
      }),
      { numRuns: 30 },
    );
  });

  test('values PyTorch gives (F.interpolate, align_corners=False)', async () => {
    const x = row([0, 1, 2, 3]);
    expect(await read(E.resizeBilinear(x, [1, 8]))).toEqual([0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3]);
    expect(await read(E.resizeBilinear(x, [1, 3]))).toEqual([0.1667, 1.5, 2.8333]);
    expect(await read(E.resizeNearest(x, [1, 8]))).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    expect(await read(E.resizeNearest(x, [1, 3]))).toEqual([0, 1, 2]);
    expect(await read(E.resizeNearest(x, [1, 3], 'nearest-exact'))).toEqual([0, 2, 3]);
    // PyTorch's float32 index: output 41 of 82 reads input ⌊41·f32(2/82)⌋ = 0 (exact arithmetic says 1).
    const wide = await E.resizeNearest(row([5, 7]), [1, 82]).data();
    expect([wide[40], wide[41], wide[42]]).toEqual([5, 5, 7]);
  });

  test('resizeArgmax: the argmax over classes and the maximum of the bilinear resize, never stored', async () => {
    const argCases = fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 7 }), dim, dim, out, out, fc.integer());
    await fc.assert(
      fc.asyncProperty(argCases, async ([n, k, h, w, oh, ow, seed]) => {
        const x = nd([n, k, h, w], (i) => Math.sin(i * 12.9898 + seed) * 3); // any values; classes differ
        const ref = resizeBilinearRef(x, [oh, ow]);
        const { ids, max } = E.resizeArgmax(E.tensor(Float32Array.from(x.data), x.shape), [oh, ow]);
        expect(ids.dtype).toBe('i32');
        expect(ids.shape).toEqual([n, oh, ow]);
        const [gotIds, gotMax] = [await ids.data(), await max.data()];
        ids.dispose();
        max.dispose();
        const plane = oh * ow;
        for (let b = 0; b < n; b++) {
          for (let p = 0; p < plane; p++) {
            const scores = Array.from({ length: k }, (_, c) => ref.data[(b * k + c) * plane + p]!);
            const best = Math.max(...scores);
            const i = b * plane + p;
            // f32 against float64: the maximum within 1e-5; the class is the reference's unless another
            // class is within that of it (then either may win).
            expect(Math.abs(gotMax[i]! - best)).toBeLessThan(1e-5);
            expect(best - scores[gotIds[i]!]!).toBeLessThan(2e-5);
          }
        }
      }),
      { numRuns: 40 },
    );
    // Exact ties go to the lower class, as argmax's.
    const ids = async (v: number[]) => [...(await E.resizeArgmax(E.tensor(v, [1, 2, 2, 2]), [3, 3]).ids.data())];
    expect(await ids([1, 1, 1, 1, 1, 1, 1, 1])).toEqual(Array(9).fill(0));
    expect(await ids([0, 0, 0, 0, 1, 1, 1, 1])).toEqual(Array(9).fill(1));
    expect(() => E.resizeArgmax(E.tensor(new Int32Array(8), [1, 2, 2, 2], 'i32'), [3, 3])).toThrow(/resizeArgmax \[1,2,2,2\] → \[3,3\]: expected f32 class scores, got i32/);
  });

  test('resizeSoftmaxStats: argmax, max probability and entropy of the softmax of the bilinear resize, never stored', async () => {
    const statCases = fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 7 }), dim, dim, out, out, fc.integer(), fc.double({ min: 0.1, max: 8, noNaN: true }));
    await fc.assert(
      fc.asyncProperty(statCases, async ([n, k, h, w, oh, ow, seed, spread]) => {
        const x = nd([n, k, h, w], (i) => Math.fround(Math.sin(i * 12.9898 + seed) * spread));
        const ref = resizeBilinearRef(x, [oh, ow]);
        const st = E.resizeSoftmaxStats(E.tensor(Float32Array.from(x.data), x.shape), [oh, ow]);
        expect([st.ids.shape, st.maxProb.shape, st.entropy.shape]).toEqual([[n, oh, ow], [n, oh, ow], [n, oh, ow]]);
        const [ids, maxProb, entropy] = [await st.ids.data(), await st.maxProb.data(), await st.entropy.data()];
        [st.ids, st.maxProb, st.entropy].forEach((t) => t.dispose());
        const plane = oh * ow;
        for (let b = 0; b < n; b++) {
          for (let q = 0; q < plane; q++) {
            const z = Array.from({ length: k }, (_, c) => ref.data[(b * k + c) * plane + q]!);
            const m = Math.max(...z);
            const e = z.map((v) => Math.exp(v - m));
            const sum = e.reduce((a, v) => a + v, 0);
            const prob = e.map((v) => v / sum);
            const i = b * plane + q;
            // f32 against float64 (k ≤ 7 terms of magnitude ≤ 1): within 1e-5; the class is the
            // reference's unless another is within 2e-5 of it.
            expect(Math.abs(maxProb[i]! - 1 / sum)).toBeLessThan(1e-5);
            expect(Math.abs(entropy[i]! - -prob.reduce((a, p) => a + p * Math.log(p + 1e-10), 0))).toBeLessThan(1e-5);
            expect(m - z[ids[i]!]!).toBeLessThan(2e-5);
          }
        }
      }),
      { numRuns: 40 },
    );
    // Ties go to the lower class; k equal scores have entropy log k.
    const st = E.resizeSoftmaxStats(E.tensor([2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2], [1, 3, 2, 2]), [3, 3]);
    expect([...(await st.ids.data())]).toEqual(Array(9).fill(0));
    for (const v of await st.entropy.data()) expect(v).toBeCloseTo(Math.log(3), 6);
    for (const v of await st.maxProb.data()) expect(v).toBeCloseTo(1 / 3, 7);
    expect(() => E.resizeSoftmaxStats(E.tensor(new Int32Array(8), [1, 2, 2, 2], 'i32'), [3, 3])).toThrow(/resizeSoftmaxStats \[1,2,2,2\] → \[3,3\]: expected f32 class scores, got i32/);
  });

  test('bad arguments throw errors naming the op and the shapes', () => {
    const x = E.tensor(new Float32Array(12), [1, 1, 3, 4]);
    expect(() => E.resizeBilinear(E.tensor([1, 2]), [2, 2])).toThrow(/resizeBilinear \[2\] → \[2,2\]: input must be \[N, C, H, W\]/);
    expect(() => E.resizeBilinear(x, [0, 2])).toThrow(/resizeBilinear \[1,1,3,4\] → \[0,2\]: size must be two integers ≥ 1/);
    expect(() => E.resizeNearest(x, [2.5, 2] as [number, number])).toThrow(/size must be two integers/);
    expect(() => E.resizeBilinear(E.tensor(new Int32Array(12), [1, 1, 3, 4]), [2, 2])).toThrow(/resizeBilinear .*expected f32, got i32/);
    expect(() => E.resizeNearest(x, [2, 2], 'linear' as 'nearest')).toThrow(/mode 'linear' must be 'nearest' or 'nearest-exact'/);
    expect(() => E.resizeNearest(E.tensor([], [1, 1, 0, 3]), [2, 2])).toThrow(/cannot resize an empty image/);
  });
});
