// Statistical checks of the seeded generator (engine/ops/random.ts).
//
// Seeds are fixed, so each test is deterministic; the bounds are chosen so that a generator producing
// truly independent values would fail a given check with probability around 1e-6 or less:
// sample means within 5σ/√n, rates within 5 binomial standard deviations, chi-square below its
// 1 − 1e-6 quantile (Wilson–Hilferty), the Kolmogorov–Smirnov distance below its 1 − 1e-6 quantile
// 2.69/√n, and correlations below 5/√n (the standard deviation of a correlation of n independent pairs
// is 1/√n).
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

const N = 1 << 20;
const SEEDS = [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 2];

function mean(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]!;
  return s / v.length;
}
function variance(v: ArrayLike<number>): number {
  const m = mean(v);
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i]! - m) ** 2;
  return s / v.length;
}
function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ma = mean(a);
  const mb = mean(b);
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}
/** Chi-square statistic of observed counts against equal expected counts. */
function chiSquare(counts: number[], total: number): number {
  const e = total / counts.length;
  return counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
}
/** The 1 − 1e-6 quantile of chi-square with df degrees of freedom (Wilson–Hilferty, z = 4.75). */
function chiSquareBound(df: number): number {
  const k = 2 / (9 * df);
  return df * (1 - k + 4.75 * Math.sqrt(k)) ** 3;
}

describe('randUniform', () => {
  test('mean, variance, histogram and KS distance of U[0, 1) for several seeds', async () => {
    for (const seed of SEEDS) {
      const u = await E.randUniform([N], seed).data();
      expect(u.every((v) => v >= 0 && v < 1)).toBe(true);
      expect(Math.abs(mean(u) - 0.5)).toBeLessThan((5 * Math.sqrt(1 / 12)) / Math.sqrt(N));
      // Var of (U − ½)² is 1/80 − 1/144 = 1/180.
      expect(Math.abs(variance(u) - 1 / 12)).toBeLessThan((5 * Math.sqrt(1 / 180)) / Math.sqrt(N));
      const bins = new Array<number>(256).fill(0);
      for (const v of u) bins[Math.floor(v * 256)]!++;
      expect(chiSquare(bins, N)).toBeLessThan(chiSquareBound(255));
      const sorted = Float64Array.from(u).sort();
      let d = 0;
      for (let i = 0; i < N; i++) d = Math.max(d, Math.abs(sorted[i]! - i / N), Math.abs(sorted[i]! - (i + 1) / N));
      expect(d).toBeLessThan(2.69 / Math.sqrt(N));
    }
  });

  test('independence: neighbouring seeds, neighbouring elements, and the seed high word', async () => {
    const bound = 5 / Math.sqrt(N);
    for (const seed of [0, 41, 2 ** 32 - 1]) {
      const a = await E.randUniform([N], seed).data();
      const b = await E.randUniform([N], seed + 1).data();
      const hi = await E.randUniform([N], seed + 2 ** 32).data();
      expect(Math.abs(correlation(a, b))).toBeLessThan(bound);
      expect(Math.abs(correlation(a, hi))).toBeLessThan(bound);
      for (const lag of [1, 2, 256]) expect(Math.abs(correlation(a.subarray(lag), a.subarray(0, N - lag)))).toBeLessThan(bound);
      // Pairs (u_i, u_{i+1}) fill the unit square evenly: 16 × 16 cells.
      const cells = new Array<number>(256).fill(0);
      for (let i = 0; i + 1 < N; i += 2) cells[Math.floor(a[i]! * 16) * 16 + Math.floor(a[i + 1]! * 16)]!++;
      expect(chiSquare(cells, N / 2)).toBeLessThan(chiSquareBound(255));
    }
  });

  test('same seed → same numbers; different seed → different numbers; values depend only on (seed, index)', async () => {
    const a = await E.randUniform([1000], 7).data();
    expect([...(await E.randUniform([1000], 7).data())]).toEqual([...a]);
    const b = await E.randUniform([1000], 8).data();
    expect(a.filter((v, i) => v === b[i]).length).toBeLessThan(5);
    // Counter-based: a [3, 5, 7] draw is the first 105 values of any longer draw with the same seed.
    expect([...(await E.randUniform([3, 5, 7], 7).data())]).toEqual([...a.subarray(0, 105)]);
    expect((await E.randUniform([], 7).data())[0]).toBe(a[0]);
  });

  test('bounds lo, hi', async () => {
    const u = await E.randUniform([N], 3, -3, 5).data();
    expect(u.every((v) => v >= -3 && v <= 5)).toBe(true);
    expect(Math.abs(mean(u) - 1)).toBeLessThan((5 * 8 * Math.sqrt(1 / 12)) / Math.sqrt(N));
  });
});

describe('randNormal', () => {
  test('mean, variance and the mass within 1σ, 2σ and 3σ', async () => {
    for (const seed of [0, 1, 2 ** 40]) {
      const z = await E.randNormal([N], seed).data();
      expect(z.every(Number.isFinite)).toBe(true);
      expect(Math.abs(mean(z))).toBeLessThan(5 / Math.sqrt(N));
      // Var of Z² is 2.
      expect(Math.abs(variance(z) - 1)).toBeLessThan(5 * Math.sqrt(2 / N));
      for (const [k, q] of [
        [1, 0.6826894921370859],
        [2, 0.9544997361036416],
        [3, 0.9973002039367398],
      ] as const) {
        const inside = z.filter((v) => Math.abs(v) < k).length / N;
        expect(Math.abs(inside - q)).toBeLessThan(5 * Math.sqrt((q * (1 - q)) / N));
      }
    }
  });

  test('mean and std parameters; neighbouring seeds uncorrelated', async () => {
    const z = await E.randNormal([N], 5, 3, 2).data();
    expect(Math.abs(mean(z) - 3)).toBeLessThan((5 * 2) / Math.sqrt(N));
    expect(Math.abs(Math.sqrt(variance(z)) - 2)).toBeLessThan(0.01);
    const a = await E.randNormal([N], 11).data();
    const b = await E.randNormal([N], 12).data();
    expect(Math.abs(correlation(a, b))).toBeLessThan(5 / Math.sqrt(N));
    expect(Math.abs(correlation(a.subarray(1), a.subarray(0, N - 1)))).toBeLessThan(5 / Math.sqrt(N));
  });
});

describe('randBernoulli', () => {
  test('0/1 values at rate p', async () => {
    for (const p of [0.1, 0.5, 0.97]) {
      const m = await E.randBernoulli([N], p, 99).data();
      expect(m.every((v) => v === 0 || v === 1)).toBe(true);
      expect(Math.abs(mean(m) - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
    }
    expect((await E.randBernoulli([1000], 0, 1).data()).every((v) => v === 0)).toBe(true);
    expect((await E.randBernoulli([1000], 1, 1).data()).every((v) => v === 1)).toBe(true);
  });
});

describe('randInt', () => {
  test('i32 values in [lo, hi), every value equally likely', async () => {
    const r = await E.randInt([N], -3, 7, 2024).data();
    expect(r).toBeInstanceOf(Int32Array);
    expect(r.every((v) => v >= -3 && v < 7)).toBe(true);
    const counts = new Array<number>(10).fill(0);
    for (const v of r) counts[v + 3]!++;
    expect(chiSquare(counts, N)).toBeLessThan(chiSquareBound(9));
    const wide = await E.randInt([1000], -(2 ** 31), 2 ** 31 - 1, 1).data();
    expect(new Set(wide).size).toBeGreaterThan(990);
    expect(wide.some((v) => v < 0) && wide.some((v) => v > 0)).toBe(true);
  });
});

test('bad arguments are named in the error', () => {
  expect(() => E.randUniform([2], -1)).toThrow(/randUniform: seed must be an integer in \[0, 2\^53\), got -1/);
  expect(() => E.randNormal([2], 0.5)).toThrow(/randNormal: seed must be an integer/);
  expect(() => E.randUniform([2], 2 ** 53)).toThrow(/seed must be an integer/);
  expect(() => E.randUniform([2], 0, 1, 0)).toThrow(/randUniform: hi \(0\) must be >= lo \(1\)/);
  expect(() => E.randNormal([2], 0, 0, -1)).toThrow(/randNormal: std must be >= 0/);
  expect(() => E.randBernoulli([2], 1.5, 0)).toThrow(/randBernoulli: p must be in \[0, 1\], got 1.5/);
  expect(() => E.randInt([2], 3, 3, 0)).toThrow(/randInt: the range \[3, 3\) is empty/);
  expect(() => E.randInt([2], 0.5, 3, 0)).toThrow(/randInt: lo must be an i32 integer/);
  expect(() => E.randUniform([2, -1], 0)).toThrow(/randUniform: invalid shape/);
});
