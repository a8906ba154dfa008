// float64 references for engine/ops/elementwise.ts and reduce.ts.
import { mapNd, reduceNd, type Nd } from './nd.ts';

/** erf by its Maclaurin series, summed until terms vanish: exact to ~1e-12 for |x| < 3 (the range tests use). */
export function erf(x: number): number {
  if (Math.abs(x) > 3) throw new Error(`reference erf(${x}): only |x| <= 3 is supported`);
  let term = x;
  let s = x;
  for (let n = 1; n < 200 && Math.abs(term) > 1e-17; n++) {
    term *= (-x * x) / n;
    s += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * s;
}

export const unaryRef: Record<string, (a: number) => number> = {
  neg: (a) => -a,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  relu: (a) => Math.max(a, 0),
  sigmoid: (a) => 1 / (1 + Math.exp(-a)),
  tanh: Math.tanh,
  gelu: (a) => 0.5 * a * (1 + erf(a / Math.SQRT2)),
};

export const binaryRef: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  maximum: (a, b) => Math.max(a, b),
  minimum: (a, b) => Math.min(a, b),
};

export const unary = (name: string) => (x: Nd) => mapNd([x], unaryRef[name]!);
export const binary = (name: string) => (a: Nd, b: Nd) => mapNd([a, b], binaryRef[name]!);

export const sumRef = (x: Nd, axes: number[], keep = false) => reduceNd(x, axes, (v) => v.reduce((s, a) => s + a, 0), keep);
export const meanRef = (x: Nd, axes: number[], keep = false) => reduceNd(x, axes, (v) => v.reduce((s, a) => s + a, 0) / v.length, keep);
export const maxRef = (x: Nd, axes: number[], keep = false) => reduceNd(x, axes, (v) => Math.max(...v), keep);
export const argmaxRef = (x: Nd, axis: number, keep = false) => reduceNd(x, [axis], (v) => v.indexOf(Math.max(...v)), keep);
