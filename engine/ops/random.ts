// Seeded random tensors: uniform, normal, Bernoulli masks and integers.
//
// The generator is counter-based (shaders/rng.wgsl): element i of a draw is a hash of (seed, i), so the
// same seed always gives the same tensor, whatever else ran before, and there is no generator state
// to save in checkpoints. Callers pick seeds (e.g. from the step number); draws that must be
// independent need different seeds. Seeds are non-negative integers up to 2^53 − 1.

import randomWgsl from '../../shaders/random.wgsl?raw';
import rngWgsl from '../../shaders/rng.wgsl?raw';
import type { DType } from '../dtype.ts';
import { dispatch, kernel } from '../kernel.ts';
import { Tensor, checkShape, shapeStr, type Shape } from '../tensor.ts';

/** The seed as the two u32 words the WGSL generator takes (low, high); throws unless it is an integer in [0, 2^53). */
export function seedWords(seed: number, op: string): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`${op}: seed must be an integer in [0, 2^53), got ${seed}`);
  return [seed % 2 ** 32, Math.floor(seed / 2 ** 32)];
}

interface Draw {
  a?: number;
  b?: number;
  ilo?: number;
  range?: number;
}

function draw(op: string, shape: Shape, seed: number, dtype: DType, expr: string, d: Draw): Tensor {
  checkShape(shape, op);
  const [lo, hi] = seedWords(seed, op);
  const out = Tensor.empty(shape, dtype, op);
  const k = kernel(op, randomWgsl, { O_T: dtype, RNG: rngWgsl, EXPR: expr });
  dispatch(
    k,
    [out],
    { n: out.size, seed_lo: lo, seed_hi: hi, a: d.a ?? 0, b: d.b ?? 0, ilo: d.ilo ?? 0, range: d.range ?? 0 },
    out.size,
    `${op} ${shapeStr(shape)} seed ${seed}`,
  );
  return out;
}

function finite(op: string, what: string, v: number): void {
  if (!Number.isFinite(v)) throw new Error(`${op}: ${what} must be a finite number, got ${v}`);
}

/** Uniform f32 values in [lo, hi) (24 random bits each; hi itself can appear only through f32 rounding of lo + (hi − lo)·u). */
export function randUniform(shape: Shape, seed: number, lo = 0, hi = 1): Tensor {
  finite('randUniform', 'lo', lo);
  finite('randUniform', 'hi', hi);
  if (!(hi >= lo)) throw new Error(`randUniform: hi (${hi}) must be >= lo (${lo})`);
  return draw('randUniform', shape, seed, 'f32', 'p.a + (p.b - p.a) * rng_unit(key, i)', { a: lo, b: hi });
}

/** Normal f32 values with the given mean and standard deviation (Box–Muller; |z| ≤ 5.77, the limit of 24-bit uniforms). */
export function randNormal(shape: Shape, seed: number, mean = 0, std = 1): Tensor {
  finite('randNormal', 'mean', mean);
  finite('randNormal', 'std', std);
  if (std < 0) throw new Error(`randNormal: std must be >= 0, got ${std}`);
  return draw('randNormal', shape, seed, 'f32', 'p.a + p.b * rng_normal(key, i)', { a: mean, b: std });
}

/** An f32 mask: 1 with probability p, else 0. */
export function randBernoulli(shape: Shape, p: number, seed: number): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`randBernoulli: p must be in [0, 1], got ${p}`);
  return draw('randBernoulli', shape, seed, 'f32', 'select(0.0, 1.0, rng_unit(key, i) < p.a)', { a: p });
}

/**
 * Uniform i32 integers in [lo, hi). Drawn as a 32-bit hash modulo (hi − lo), so the bias towards
 * small offsets is below (hi − lo) / 2^32 (under 2.4e-7 for 1000 values).
 */
export function randInt(shape: Shape, lo: number, hi: number, seed: number): Tensor {
  for (const [what, v] of [['lo', lo], ['hi', hi]] as const) {
    if (!Number.isInteger(v) || v < -(2 ** 31) || v > 2 ** 31 - 1) throw new Error(`randInt: ${what} must be an i32 integer, got ${v}`);
  }
  if (hi <= lo) throw new Error(`randInt: the range [${lo}, ${hi}) is empty`);
  // Offsets are added in u32 arithmetic and reinterpreted: correct (mod 2^32) for ranges over 2^31.
  return draw('randInt', shape, seed, 'i32', 'bitcast<i32>(bitcast<u32>(p.ilo) + rng_u32(key, i) % p.range)', { ilo: lo, range: hi - lo });
}
