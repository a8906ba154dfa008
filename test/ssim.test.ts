// eval/ssim.ts against the float64 reference (test/reference/ssim.ts, skimage's definition) on random
// small images: [H, W] and [C, H, W], H, W in 11..15 (11 is the smallest skimage accepts), L = 1 and
// 255, b independent of a or a plus a little noise (SSIM near 1). Forward tolerances are gradcheck's
// FWD defaults (SSIM lies in [−1, 1], so atol 1e-5 is absolute); the gradient (of the mean, L = 1, where
// it is O(1) — at L = 255 it is the same function of x/255, so 255 times smaller) uses GRAD.
// Then the properties: SSIM(x, x) = 1, symmetry, decreasing as noise grows; errors.
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { makeRng } from '../dataset/rng.ts';
import { ssim, ssimMap } from '../eval/ssim.ts';
import { checkOpWith, values } from './gradcheck.ts';
import { nd, type Nd } from './reference/nd.ts';
import { ssimMapRef, ssimRef } from './reference/ssim.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

const side = (max: number) => fc.integer({ min: 11, max });

/** [a, b] of one random shape with values in [0, L]; b is independent or a + noise of 5% of L. */
function pair(L: number, maxSide: number): fc.Arbitrary<Nd[]> {
  const shape = fc.tuple(fc.integer({ min: 0, max: 3 }), side(maxSide), side(maxSide)).map(([c, h, w]) => (c === 0 ? [h, w] : [c, h, w]));
  return shape.chain((s) => {
    const n = s.reduce((p, d) => p * d, 1);
    return fc.tuple(values(n, 0, L), values(n, 0, L), fc.boolean()).map(([a, r, near]) => {
      const b = near ? a.map((v, i) => Math.fround(v + 0.05 * (r[i]! - L / 2))) : r;
      return [nd(s, a), nd(s, b)];
    });
  });
}

const upload = (x: Nd) => E.tensor(Float32Array.from(x.data), x.shape);

/** A smooth 8-bit-like test image: a ramp plus a few waves. */
function smooth(h: number, w: number): Nd {
  return nd([h, w], (i) => Math.round(127 + 60 * Math.sin((i % w) / 3) + 40 * Math.cos(Math.floor(i / w) / 4) + (i % w)));
}

async function value(t: E.Tensor): Promise<number> {
  try {
    return await t.item();
  } finally {
    t.dispose();
  }
}

describe('ssim', () => {
  test('the map matches the reference (random shapes, L = 1 and 255)', async () => {
    const cases = fc.constantFrom(1, 255).chain((L) => pair(L, 15).map((xs): [Nd[], number] => [xs, L]));
    await checkOpWith('ssimMap', { cases, op: (L, a, b) => ssimMap(a!, b!, { dataRange: L }), ref: (L, a, b) => ssimMapRef(a!, b!, L), grad: [], runs: 30 });
  });

  test('the mean and its gradient match the reference (L = 1)', async () => {
    const cases = pair(1, 13).map((xs): [Nd[], null] => [xs, null]);
    await checkOpWith('ssim', { cases, op: (_p, a, b) => ssim(a!, b!, { dataRange: 1 }), ref: (_p, a, b) => ssimRef(a!, b!, 1), runs: 8 });
  });

  test('SSIM(x, x) = 1, constant images included', async () => {
    await fc.assert(
      fc.asyncProperty(pair(255, 16), async ([a]) => {
        const x = upload(a!);
        expect(Math.abs((await value(ssim(x, x))) - 1)).toBeLessThan(1e-6);
        x.dispose();
      }),
      { numRuns: 10 },
    );
    const k = E.fill([12, 12], 200);
    expect(await value(ssim(k, k))).toBeCloseTo(1, 6);
    k.dispose();
  });

  test('symmetric: ssim(a, b) = ssim(b, a) exactly, map included', async () => {
    await fc.assert(
      fc.asyncProperty(pair(255, 15), async ([a, b]) => {
        const [x, y] = [upload(a!), upload(b!)];
        expect(await value(ssim(x, y))).toBe(await value(ssim(y, x)));
        const [m1, m2] = [ssimMap(x, y), ssimMap(y, x)];
        expect([...(await m1.data())]).toEqual([...(await m2.data())]);
        for (const t of [x, y, m1, m2]) t.dispose();
      }),
      { numRuns: 10 },
    );
  });

  test('decreases as the noise grows', async () => {
    const img = smooth(24, 32);
    const rng = makeRng(7);
    const noise = Array.from({ length: img.data.length }, () => rng.float() * 2 - 1);
    const x = upload(img);
    const got: number[] = [];
    for (const sigma of [0, 2, 5, 10, 20, 40, 80]) {
      const y = upload(nd(img.shape, (i) => img.data[i]! + sigma * noise[i]!));
      got.push(await value(ssim(x, y)));
      y.dispose();
    }
    x.dispose();
    expect(got[0]).toBeCloseTo(1, 6);
    for (let i = 1; i < got.length; i++) expect(got[i]!).toBeLessThan(got[i - 1]!);
    expect(got.at(-1)!).toBeLessThan(0.5);
  });

  test('bad input is a clear error', () => {
    E.tidy(() => errors());
  });
});

function errors(): void {
  const t = (s: number[], dtype: E.DType = 'f32') => E.fill(s, 0, dtype);
  expect(() => ssim(t([12, 12]), t([12, 13]))).toThrow(/ssim \[12,12\] \[12,13\]: the images must have the same shape/);
  expect(() => ssim(t([1, 2, 12, 12]), t([1, 2, 12, 12]))).toThrow(/ssim \[1,2,12,12\].*expected \[H, W\] or \[C, H, W\]/);
  expect(() => ssim(t([10, 12]), t([10, 12]))).toThrow(/at least 11×11 .*got 10×12/);
  expect(() => ssim(t([12, 12], 'i32'), t([12, 12], 'i32'))).toThrow(/expected f32 tensors, got i32/);
  expect(() => ssim(t([12, 12]), t([12, 12]), { dataRange: 0 })).toThrow(/dataRange must be a positive number, got 0/);
}
