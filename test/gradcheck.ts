// Property-based checks of an op against its float64 reference (forward) and against central finite
// differences of that reference (gradient).
//
// For each random case: inputs are drawn as f32 values (so GPU and reference see the same numbers),
// the op runs on the GPU and a random seed gradient w is back-propagated through it; the output is
// compared with the reference and each input's gradient with ∂/∂x Σ ref(x)·w, by central
// differences in float64 (step 1e-6·max(1,|x|), error ~1e-10, far below the f32 tolerances).
//
// Tolerances (stated, per element): |got − want| ≤ atol·scale + rtol·|want|, where scale is
// max(1, max|want|) over the tensor, so that the check is relative to the tensor's magnitude.
// Defaults: forward atol 1e-5, rtol 1e-4; gradient atol 1e-3, rtol 1e-3.
import fc from 'fast-check';
import { expect } from 'vitest';
import { backward, requireGrad, sameShape, tensor, tidy, type Tensor } from '../engine/index.ts';
import { nd, size, type Nd } from './reference/nd.ts';

export interface Tol {
  atol: number;
  rtol: number;
}

export const FWD: Tol = { atol: 1e-5, rtol: 1e-4 };
export const GRAD: Tol = { atol: 1e-3, rtol: 1e-3 };

export function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (w === g) continue; // also covers matching infinities
    const err = Math.abs(g - w);
    const lim = tol.atol * scale + tol.rtol * Math.abs(w);
    if (!(err <= lim)) {
      throw new Error(`${what}: element ${i}: got ${g}, want ${w} (|err| ${err.toExponential(2)} > ${lim.toExponential(2)})`);
    }
  }
}

/** f32 values in [lo, hi], away from `avoid` points by `gap` (kinks of relu/abs/max, poles of log/div). */
export function values(n: number, lo = -2, hi = 2, avoid: number[] = [], gap = 0.02): fc.Arbitrary<number[]> {
  return fc.array(
    fc
      .float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true, noDefaultInfinity: true })
      // GPUs may flush f32 subnormals to zero (WGSL allows it; lavapipe does), so draw none.
      .map((v) => (Math.abs(v) < 1.1754943508222875e-38 ? 0 : v))
      .filter((v) => avoid.every((a) => Math.abs(v - a) > gap)),
    { minLength: n, maxLength: n },
  );
}

/** A random shape: rank in [minRank, maxRank], each dimension in [1, maxDim]. */
export function shapeArb(minRank = 0, maxRank = 4, maxDim = 5): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/** An Nd of the given shape with values from `vals` (defaults: values in [-2, 2]). */
export function ndArb(shape: number[], vals?: (n: number) => fc.Arbitrary<number[]>): fc.Arbitrary<Nd> {
  return (vals ?? ((n) => values(n)))(size(shape)).map((v) => nd(shape, v));
}

/** Σ ref(xs)·w, the scalar whose gradient we check. */
function objective(ref: (...xs: Nd[]) => Nd, xs: Nd[], w: Float64Array): number {
  const y = ref(...xs);
  let s = 0;
  for (let i = 0; i < y.data.length; i++) s += y.data[i]! * w[i]!;
  return s;
}

export function finiteDiff(ref: (...xs: Nd[]) => Nd, xs: Nd[], w: Float64Array, j: number): Float64Array {
  const x = xs[j]!;
  const g = new Float64Array(x.data.length);
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i]!;
    const h = 1e-6 * Math.max(1, Math.abs(v));
    x.data[i] = v + h;
    const up = objective(ref, xs, w);
    x.data[i] = v - h;
    const dn = objective(ref, xs, w);
    x.data[i] = v;
    g[i] = (up - dn) / (2 * h);
  }
  return g;
}

export interface Check<P> {
  /** Random cases: inputs (f32-representable values) and op parameters (axes, sizes, ...). */
  cases: fc.Arbitrary<[Nd[], P]>;
  /** The op under test, on GPU tensors. */
  op: (p: P, ...xs: Tensor[]) => Tensor;
  /** The float64 reference. */
  ref: (p: P, ...xs: Nd[]) => Nd;
  /** Which inputs to differentiate (default: all). Empty for ops with no gradient. */
  grad?: number[];
  /** Forward tolerance, or one per case for ops whose f32 error depends on the inputs' conditioning. */
  fwd?: Tol | ((p: P, ...xs: Nd[]) => Tol);
  bwd?: Tol;
  runs?: number;
}

/** Run the forward and gradient property for a parameterised op. */
export async function checkOpWith<P>(name: string, c: Check<P>): Promise<void> {
  await fc.assert(
    fc.asyncProperty(c.cases, fc.integer({ min: 1, max: 2 ** 30 }), async ([xs, p], seed) => {
      const which = c.grad ?? xs.map((_, j) => j);
      const ins = xs.map((x, j) => {
        const t = tensor(Float32Array.from(x.data), x.shape);
        return which.includes(j) ? requireGrad(t) : t;
      });
      const ref = (...v: Nd[]) => c.ref(p, ...v);
      const want = ref(...xs);
      // Seed gradient: deterministic pseudo-random values in [-1, 1].
      let s = seed;
      const w = Float64Array.from({ length: want.data.length }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 30) - 1);
      const seedGrad = tensor(Float32Array.from(w), want.shape);
      try {
        // Forward and backward in one scope, as in a training step: intermediates saved for
        // backward live until the scope ends.
        const y = tidy(() => {
          const out = c.op(p, ...ins);
          if (which.length && sameShape(out.shape, want.shape)) backward(out, seedGrad);
          return out;
        });
        try {
          expect(y.shape, `${name}: output shape`).toEqual(want.shape);
          const fwd = typeof c.fwd === 'function' ? c.fwd(p, ...xs) : (c.fwd ?? FWD);
          close(await y.data(), want.data, fwd, `${name} forward`);
          for (const j of which) {
            const fd = finiteDiff(ref, xs, w, j);
            expect(ins[j]!.grad, `${name}: input ${j} received no gradient`).toBeDefined();
            close(await ins[j]!.grad!.data(), fd, c.bwd ?? GRAD, `${name} gradient of input ${j} [${xs[j]!.shape}]`);
          }
        } finally {
          y.dispose();
        }
      } finally {
        seedGrad.dispose();
        for (const t of ins) {
          t.grad?.dispose();
          t.dispose();
        }
      }
    }),
    { numRuns: c.runs ?? 25 },
  );
}

export interface OpCheck extends Omit<Check<null>, 'cases' | 'op' | 'ref'> {
  inputs: fc.Arbitrary<Nd[]>;
  op: (...xs: Tensor[]) => Tensor;
  ref: (...xs: Nd[]) => Nd;
}

/** Run the forward and gradient property for an op without parameters. */
export function checkOp(name: string, c: OpCheck): Promise<void> {
  const { inputs, op, ref, ...rest } = c;
  return checkOpWith(name, { ...rest, cases: inputs.map((xs) => [xs, null] as [Nd[], null]), op: (_p, ...xs) => op(...xs), ref: (_p, ...xs) => ref(...xs) });
}

/** Two shapes that broadcast together: a random output shape, each input dropping leading dims or setting dims to 1. */
export function broadcastPair(maxRank = 4, maxDim = 5): fc.Arbitrary<[number[], number[]]> {
  const derive = (out: number[]) =>
    fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length })).map(([drop, ones]) =>
      out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)),
    );
  return shapeArb(0, maxRank, maxDim).chain((out) => fc.tuple(derive(out), derive(out)));
}
