// Elementwise ops: unary math, binary arithmetic with NumPy broadcasting, comparisons, where.
//
// Each op is one WGSL expression dropped into shaders/unary.wgsl or shaders/binary.wgsl; the kernel
// cache keys on the final text, so every (op, dtype) pair compiles once and serves all shapes.
// A number operand is passed as a uniform (`p.alpha`) rather than uploaded as a tensor.
// Backward rules are themselves single fused kernels where possible (e.g. gelu' · g in one pass).

import binaryWgsl from '../../shaders/binary.wgsl?raw';
import unaryWgsl from '../../shaders/unary.wgsl?raw';
import whereWgsl from '../../shaders/where.wgsl?raw';
import { record } from '../autograd.ts';
import type { DType } from '../dtype.ts';
import { dispatch, kernel } from '../kernel.ts';
import { broadcastShapes, broadcastStrides, collapseDims, offsetCode, pad8 } from '../shape.ts';
import { Tensor, sameShape, shapeStr } from '../tensor.ts';
import { sum } from './reduce.ts';

// Exact GELU needs erf, which WGSL lacks: Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
const ERF = `
fn erf_(x: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
  return select(-y, y, x >= 0.0);
}`;
// tanh(x) for |x| > 15 is ±1 in f32; clamping keeps exp() from overflowing to inf/inf = NaN.
const TANH = `fn tanh_(x: f32) -> f32 { let e = exp(2.0 * clamp(x, -15.0, 15.0)); return (e - 1.0) / (e + 1.0); }`;
// pow for negative bases with integer exponents (as NumPy); NaN for negative base and fractional exponent.
const POW = `
// Special values through a var, as WGSL rejects inf and NaN in constant expressions.
fn bits_(u: u32) -> f32 { var b = u; return bitcast<f32>(b); }
fn pow_(a: f32, b: f32) -> f32 {
  if (a > 0.0) { return pow(a, b); }
  if (a == 0.0) {
    if (b > 0.0) { return 0.0; }
    if (b == 0.0) { return 1.0; }
    return bits_(0x7f800000u); // +inf
  }
  if (fract(b) != 0.0) { return bits_(0x7fc00000u); } // NaN
  let m = pow(-a, b);
  return select(m, -m, fract(b * 0.5) != 0.0);
}`;

function check(t: Tensor, op: string, dtypes: readonly DType[] = ['f32']): void {
  if (!dtypes.includes(t.dtype)) throw new Error(`${op}: expected ${dtypes.join(' or ')}, got ${t}`);
}

/** out = expr(a) for every element. `expr` may use `a`, `p.alpha`, `p.beta` and helper functions. No autograd. */
export function mapUnary(op: string, x: Tensor, expr: string, o: { alpha?: number; beta?: number; helpers?: string; out?: DType } = {}): Tensor {
  const out = Tensor.empty(x.shape, o.out ?? x.dtype, op);
  const k = kernel(op, unaryWgsl, { A_T: x.dtype, O_T: out.dtype, EXPR: expr, HELPERS: o.helpers ?? '' });
  dispatch(k, [x, out], { n: x.size, alpha: o.alpha ?? 0, beta: o.beta ?? 0 }, x.size, `${op} ${shapeStr(x.shape)}`);
  return out;
}

// Expressions that mean the same on vec4<f32> operands as on f32 ones, component by component.
const VEC4_EXPRS = new Set(['a + b', 'a - b', 'a * b']);

/** out = expr(a, b) with broadcasting. `expr` may use `a`, `b`, `p.alpha` and helpers. No autograd. */
export function mapBinary(op: string, a: Tensor, b: Tensor, expr: string, o: { alpha?: number; helpers?: string; out?: DType } = {}): Tensor {
  const shape = broadcastShapes(a.shape, b.shape, op);
  const out = Tensor.empty(shape, o.out ?? a.dtype, op);
  const c = collapseDims(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
  // Same-shape f32 operands, with an expression that means the same on vectors: four elements an
  // invocation, as vec4 loads and stores (on lavapipe every per-lane load or store costs ~10
  // instructions whatever its width: the residual adds ran at ~1 GB/s). Their offsets are the index.
  const contiguous = c.shape.length === 1 && c.strides[0]![0] === 1 && c.strides[1]![0] === 1;
  const lanes = contiguous && out.size % 4 === 0 && VEC4_EXPRS.has(expr) && [a, b, out].every((t) => t.dtype === 'f32') ? 4 : 1;
  const type = (t: Tensor) => (lanes === 4 ? 'vec4<f32>' : t.dtype);
  const OFFSETS = lanes === 4 ? 'let off_a = i; let off_b = i;' : offsetCode(c.shape.length, 'i', 'p.shape', { a: 'p.sa', b: 'p.sb' });
  const k = kernel(lanes === 4 ? `${op}_vec4` : op, binaryWgsl, { A_T: type(a), B_T: type(b), O_T: type(out), EXPR: expr, OFFSETS, HELPERS: o.helpers ?? '' });
  const n = out.size / lanes;
  dispatch(
    k,
    [a, b, out],
    { n, alpha: o.alpha ?? 0, shape: pad8(c.shape), sa: pad8(c.strides[0]!), sb: pad8(c.strides[1]!) },
    n,
    `${op} ${shapeStr(a.shape)} ${shapeStr(b.shape)}`,
  );
  return out;
}

/** Sum a broadcast gradient back down to `shape` (the inverse of broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const off = g.rank - shape.length;
  const axes: number[] = [];
  for (let d = 0; d < g.rank; d++) if (d < off || (shape[d - off] === 1 && g.shape[d] !== 1)) axes.push(d);
  const s = sum(g, axes, true);
  const v = s.view(shape);
  s.dispose();
  return v;
}

// ---- unary ----------------------------------------------------------------------------------------

type Unary = (x: Tensor) => Tensor;

/** The backward kernel of a unary op, g · f'(…): it gets (g, x) or (g, y) as its two operands, whichever `bwd` reads. */
function unaryGrad(op: string, bwd: string, helpers: string): (g: Tensor, x: Tensor, y?: Tensor) => Tensor {
  const usesY = /\by\b/.test(bwd);
  const expr = bwd.replace(/\bg\b/g, 'a').replace(/\b[xy]\b/g, 'b');
  return (g, x, y) => mapBinary(`${op}_grad`, g, usesY ? y! : x, expr, { helpers });
}

/** A differentiable unary op: forward expression of `a`; backward expression of `g`, `x` (= input) and `y` (= output). */
function unary(op: string, fwd: string, bwd: string, helpers = ''): Unary {
  const grad = unaryGrad(op, bwd, helpers);
  return (x) => {
    check(x, op);
    const y = mapUnary(op, x, fwd, { helpers });
    return record(y, op, [x], (g) => [grad(g, x, y)]);
  };
}

export const neg = unary('neg', '-a', '-g');
export const exp = unary('exp', 'exp(a)', 'g * y');
export const log = unary('log', 'log(a)', 'g / x');
export const sqrt = unary('sqrt', 'sqrt(a)', 'g * 0.5 / y');
export const abs = unary('abs', 'abs(a)', 'g * sign(x)');
export const relu = unary('relu', 'max(a, 0.0)', 'select(0.0, g, x > 0.0)');
export const sigmoid = unary('sigmoid', '1.0 / (1.0 + exp(-a))', 'g * y * (1.0 - y)');
export const tanh = unary('tanh', 'tanh_(a)', 'g * (1.0 - y * y)', TANH);
/** GELU's WGSL: forward of `a`, backward of `g` and the input `x`, and the erf they call. Shared with linear's fused GELU. */
export const GELU = {
  fwd: '0.5 * a * (1.0 + erf_(a * 0.70710678118654752))',
  bwd: 'g * (0.5 * (1.0 + erf_(x * 0.70710678118654752)) + x * 0.39894228040143268 * exp(-0.5 * x * x))',
  helpers: ERF,
};
/** GELU, exact (erf) form as in ViT and PyTorch's default. */
export const gelu = unary('gelu', GELU.fwd, GELU.bwd, GELU.helpers);

/** g · GELU'(x), without autograd: the backward of a GELU whose input x was kept (linear's fused GELU). */
export const geluBackward: (g: Tensor, x: Tensor) => Tensor = unaryGrad('gelu', GELU.bwd, GELU.helpers);

// ---- binary ---------------------------------------------------------------------------------------

type Operand = Tensor | number;

function binary(
  op: string,
  fwd: string,
  /** forward with a number as the second operand (b = p.alpha) and as the first (a = p.alpha) */
  scalarRight: string,
  scalarLeft: string,
  grads: (g: Tensor, a: Tensor, b: Tensor, y: Tensor) => [Tensor | undefined, Tensor | undefined],
  gradScalarRight: (g: Tensor, a: Tensor, s: number, y: Tensor) => Tensor,
  gradScalarLeft: (g: Tensor, s: number, b: Tensor, y: Tensor) => Tensor,
  helpers = '',
) {
  return (a: Operand, b: Operand): Tensor => {
    if (typeof a === 'number' && typeof b === 'number') throw new Error(`${op}: at least one operand must be a tensor`);
    if (typeof b === 'number') {
      const x = a as Tensor;
      check(x, op);
      const y = mapUnary(`${op}_s`, x, scalarRight, { alpha: b, helpers });
      return record(y, op, [x], (g) => [gradScalarRight(g, x, b, y)]);
    }
    if (typeof a === 'number') {
      check(b, op);
      const y = mapUnary(`${op}_ls`, b, scalarLeft, { alpha: a, helpers });
      return record(y, op, [b], (g) => [gradScalarLeft(g, a, b, y)]);
    }
    check(a, op);
    check(b, op);
    const y = mapBinary(op, a, b, fwd, { helpers });
    return record(y, op, [a, b], (g) => {
      const [ga, gb] = grads(g, a, b, y);
      return [ga && a.requiresGrad ? sumTo(ga, a.shape) : undefined, gb && b.requiresGrad ? sumTo(gb, b.shape) : undefined];
    });
  };
}

const scaled = (g: Tensor, s: number) => mapUnary('scale', g, 'a * p.alpha', { alpha: s });

export const add = binary('add', 'a + b', 'a + p.alpha', 'p.alpha + a', (g) => [g, g], (g) => g, (g) => g);
export const sub = binary('sub', 'a - b', 'a - p.alpha', 'p.alpha - a', (g) => [g, neg(g)], (g) => g, (g) => neg(g));
export const mul = binary(
  'mul',
  'a * b',
  'a * p.alpha',
  'p.alpha * a',
  (g, a, b) => [mapBinary('mul', g, b, 'a * b'), mapBinary('mul', g, a, 'a * b')],
  (g, _a, s) => scaled(g, s),
  (g, s) => scaled(g, s),
);
export const div = binary(
  'div',
  'a / b',
  'a / p.alpha',
  'p.alpha / a',
  (g, _a, b, y) => [mapBinary('div', g, b, 'a / b'), mapBinary('div_grad_b', mapBinary('mul', g, y, 'a * b'), b, '-a / b')],
  (g, _a, s) => scaled(g, 1 / s),
  (g, _s, b, y) => mapBinary('div_grad_b', mapBinary('mul', g, y, 'a * b'), b, '-a / b'),
);
export const pow = binary(
  'pow',
  'pow_(a, b)',
  'pow_(a, p.alpha)',
  'pow_(p.alpha, a)',
  (g, a, b, y) => [
    mapBinary('mul', g, mapBinary('pow_grad_a', a, b, 'b * pow_(a, b - 1.0)', { helpers: POW }), 'a * b'),
    mapBinary('mul', g, mapBinary('pow_grad_b', y, a, 'a * log(b)'), 'a * b'),
  ],
  (g, a, s) => mapBinary('pow_grad_a', g, a, 'a * p.alpha * pow_(b, p.alpha - 1.0)', { alpha: s, helpers: POW }),
  (g, s, _b, y) => mapBinary('pow_grad_ls', g, y, 'a * b * p.alpha', { alpha: Math.log(s) }),
  POW,
);
/** Elementwise maximum; at ties the gradient goes to the first operand. */
export const maximum = binary(
  'maximum',
  'max(a, b)',
  'max(a, p.alpha)',
  'max(p.alpha, a)',
  (g, a, b) => {
    const m = mapBinary('ge', a, b, 'select(0.0, 1.0, a >= b)');
    return [mapBinary('mul', g, m, 'a * b'), mapBinary('mul_not', g, m, 'a * (1.0 - b)')];
  },
  (g, a, s) => mapBinary('max_grad_s', g, a, 'select(0.0, a, b >= p.alpha)', { alpha: s }),
  (g, s, b) => mapBinary('max_grad_s', g, b, 'select(0.0, a, b > p.alpha)', { alpha: s }),
);
/** Elementwise minimum; at ties the gradient goes to the first operand. */
export const minimum = binary(
  'minimum',
  'min(a, b)',
  'min(a, p.alpha)',
  'min(p.alpha, a)',
  (g, a, b) => {
    const m = mapBinary('le', a, b, 'select(0.0, 1.0, a <= b)');
    return [mapBinary('mul', g, m, 'a * b'), mapBinary('mul_not', g, m, 'a * (1.0 - b)')];
  },
  (g, a, s) => mapBinary('min_grad_s', g, a, 'select(0.0, a, b <= p.alpha)', { alpha: s }),
  (g, s, b) => mapBinary('min_grad_s', g, b, 'select(0.0, a, b < p.alpha)', { alpha: s }),
);

/** x·alpha + beta in one kernel (e.g. normalising images); differentiable in x. */
export function affine(x: Tensor, alpha: number, beta = 0): Tensor {
  check(x, 'affine');
  const y = mapUnary('affine', x, 'a * p.alpha + p.beta', { alpha, beta });
  return record(y, 'affine', [x], (g) => [scaled(g, alpha)]);
}

/** Clamp into [lo, hi]; gradient passes where lo < x < hi (and at the bounds, as PyTorch). */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  check(x, 'clamp');
  const y = mapUnary('clamp', x, 'clamp(a, p.alpha, p.beta)', { alpha: lo, beta: hi });
  return record(y, 'clamp', [x], (g) => [maskBetween(g, x, lo, hi)]);
}

function maskBetween(g: Tensor, x: Tensor, lo: number, hi: number): Tensor {
  const m = mapUnary('between', x, 'select(0.0, 1.0, a >= p.alpha && a <= p.beta)', { alpha: lo, beta: hi });
  return mapBinary('mul', g, m, 'a * b');
}

// ---- comparisons (no gradient; 1.0 where true, 0.0 where false, as f32) ------------------------------

function compare(op: string, sym: string) {
  return (a: Operand, b: Operand): Tensor => {
    if (typeof a === 'number' && typeof b === 'number') throw new Error(`${op}: at least one operand must be a tensor`);
    if (typeof b === 'number') return mapUnary(op, a as Tensor, `select(0.0, 1.0, f32(a) ${sym} p.alpha)`, { alpha: b, out: 'f32' });
    if (typeof a === 'number') return mapUnary(op, b, `select(0.0, 1.0, p.alpha ${sym} f32(a))`, { alpha: a, out: 'f32' });
    if (a.dtype !== b.dtype) throw new Error(`${op}: operands have different dtypes (${a} vs ${b})`);
    return mapBinary(op, a, b, `select(0.0, 1.0, a ${sym} b)`, { out: 'f32' });
  };
}

export const lt = compare('lt', '<');
export const le = compare('le', '<=');
export const gt = compare('gt', '>');
export const ge = compare('ge', '>=');
export const eq = compare('eq', '==');
export const ne = compare('ne', '!=');

/** cond ? a : b elementwise with broadcasting; `cond` is nonzero-is-true (any dtype). Differentiable in a and b. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== b.dtype) throw new Error(`where: a and b have different dtypes (${a} vs ${b})`);
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, 'where'), b.shape, 'where');
  const out = Tensor.empty(shape, a.dtype, 'where');
  const c = collapseDims(shape, [cond, a, b].map((t) => broadcastStrides(t.shape, shape)));
  const OFFSETS = offsetCode(c.shape.length, 'i', 'p.shape', { c: 'p.sc', a: 'p.sa', b: 'p.sb' });
  const k = kernel('where', whereWgsl, { C_T: cond.dtype, T: a.dtype, OFFSETS });
  const [sc, sa, sb] = c.strides.map((s) => pad8(s));
  dispatch(k, [cond, a, b, out], { n: out.size, shape: pad8(c.shape), sc: sc!, sa: sa!, sb: sb! }, out.size, `where ${shapeStr(cond.shape)} ${shapeStr(a.shape)} ${shapeStr(b.shape)}`);
  return record(out, 'where', [a, b], (g) => {
    const zero = mapUnary('zero', g, '0.0');
    const ga = a.requiresGrad ? sumTo(where(cond, g, zero), a.shape) : undefined;
    const gb = b.requiresGrad ? sumTo(where(cond, zero, g), b.shape) : undefined;
    return [ga, gb];
  });
}

/** Cast between dtypes (values converted, as WGSL's f32()/i32()/u32()). Not differentiable. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x.view(x.shape);
  return mapUnary(`cast_${dtype}`, x, `${dtype}(a)`, { out: dtype });
}
