// A small seeded random generator for the CPU side (splits, clip sampling, the synthetic data set).
//
// The engine's generator (engine/ops/random.ts) makes GPU tensors; this one makes plain numbers on the
// CPU. It is mulberry32: 32 bits of state, fast, and the same sequence for a seed on every platform
// (integer arithmetic only), which is what "deterministic by seed" needs here.

export interface Rng {
  /** Uniform in [0, 1). */
  float(): number;
  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** One element, uniformly. */
  pick<T>(xs: readonly T[]): T;
  /** Shuffles in place (Fisher–Yates) and returns the array. */
  shuffle<T>(xs: T[]): T[];
}

/** Mixes integers into one 32-bit seed (murmur3's finaliser per part), e.g. (dataset seed, video index). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    if (!Number.isSafeInteger(p) || p < 0) throw new Error(`seed parts must be integers in [0, 2^53), got ${p}`);
    for (const word of [p % 2 ** 32, Math.floor(p / 2 ** 32)]) {
      h = Math.imul(h ^ word, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
    }
  }
  return h >>> 0;
}

export function makeRng(seed: number): Rng {
  let s = mixSeed(seed);
  const float = (): number => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (n: number): number => Math.floor(float() * n);
  return {
    float,
    int,
    range: (lo, hi) => lo + (hi - lo) * float(),
    pick: (xs) => {
      if (xs.length === 0) throw new Error('rng.pick: empty list');
      return xs[int(xs.length)]!;
    },
    shuffle: (xs) => {
      for (let i = xs.length - 1; i > 0; i--) {
        const j = int(i + 1);
        [xs[i], xs[j]] = [xs[j]!, xs[i]!];
      }
      return xs;
    },
  };
}
