// Movement and shape ops: reshape, permute/transpose, broadcastTo/expand, slice, concat/stack, pad,
// flip, and two gathers (indexSelect, takeAlongAxis). All work on f32, i32 and u32 tensors;
// gradients flow to f32 inputs.
//
// Every copy goes through one kernel (shaders/strided_copy.wgsl) that walks an iteration shape and
// reads and writes each side through a base offset and per-axis strides: a permutation, a broadcast
// (stride 0), a slice (start offset, stride × step) or a flip (negative stride) is just a choice of
// source strides, and concat, stack, pad and the slice gradient write into a region of a larger
// destination. The gathers view the tensor as [outer, n, inner] around their axis
// (shaders/gather.wgsl); their gradients are atomic-free, deterministic scatter-adds
// (shaders/gather_grad.wgsl).

import gatherWgsl from '../../shaders/gather.wgsl?raw';
import gatherGradWgsl from '../../shaders/gather_grad.wgsl?raw';
import stridedWgsl from '../../shaders/strided_copy.wgsl?raw';
import { record } from '../autograd.ts';
import { dispatch, kernel } from '../kernel.ts';
import { broadcastStrides, collapseDims, normAxes, normAxis, offsetCode, pad8, stridesOf } from '../shape.ts';
import { Tensor, checkShape, sizeOf, shapeStr, type Shape } from '../tensor.ts';
import { fill, zeros } from './creation.ts';
import { sumTo } from './elementwise.ts';

// ---- the strided copy ------------------------------------------------------------------------------

/** One side of a strided copy: a tensor's storage read or written at base + Σ k_d·strides_d. */
interface Side {
  t: Tensor;
  base: number;
  strides: readonly number[];
}

/** For every multi-index k of `shape`: dst at k ← src at k. */
function copy(op: string, shape: Shape, src: Side, dst: Side): void {
  const n = sizeOf(shape);
  if (n === 0) return;
  const c = collapseDims(shape, [src.strides, dst.strides]);
  const OFFSETS = offsetCode(c.shape.length, 'i', 'p.shape', { s: 'p.ss', d: 'p.ds' }, 'i32');
  const k = kernel('strided_copy', stridedWgsl, { T: src.t.dtype, OFFSETS });
  const params = { n, sbase: src.base, dbase: dst.base, shape: pad8(c.shape, op), ss: pad8(c.strides[0]!, op), ds: pad8(c.strides[1]!, op) };
  dispatch(k, [src.t, dst.t], params, n, `${op} ${shapeStr(src.t.shape)} → ${shapeStr(dst.t.shape)}`);
}

/** A new contiguous tensor of `outShape` read from `src` over the iteration shape `iter` (same size). */
function gather(op: string, src: Tensor, iter: Shape, base: number, strides: readonly number[], outShape: Shape = iter): Tensor {
  const out = Tensor.empty(outShape, src.dtype, op);
  copy(op, iter, { t: src, base, strides }, { t: out, base: 0, strides: stridesOf(iter) });
  return out;
}

function checkRank(op: string, x: Tensor): void {
  if (x.rank > 8) throw new Error(`${op}: ${x} has rank ${x.rank}, over the engine's maximum of 8`);
}

// ---- reshape, permute ------------------------------------------------------------------------------

/** The same values with another shape (no copy). One dimension may be -1: it is inferred. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const free = shape.flatMap((d, i) => (d === -1 ? [i] : []));
  const bad = () => new Error(`reshape: cannot reshape ${shapeStr(x.shape)} (${x.size} elements) into ${shapeStr(shape)}`);
  if (free.length > 1) throw new Error(`reshape: ${shapeStr(shape)} has more than one -1`);
  if (shape.some((d) => d !== -1 && !(Number.isInteger(d) && d >= 0))) throw new Error(`reshape: invalid shape ${shapeStr(shape)}`);
  const target = [...shape];
  if (free.length) {
    const known = sizeOf(shape.filter((d) => d !== -1));
    if (known === 0 || x.size % known !== 0) throw bad();
    target[free[0]!] = x.size / known;
  }
  if (sizeOf(target) !== x.size) throw bad();
  const y = x.view(target);
  return record(y, 'reshape', [x], (g) => [g.view(x.shape)]);
}

/** Reorder the axes: output axis i is input axis `axes[i]` (negative axes count from the end). */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  checkRank('permute', x);
  const perm = axes.map((a) => normAxis(a, x.rank, 'permute'));
  if (perm.length !== x.rank || new Set(perm).size !== x.rank) {
    throw new Error(`permute: axes [${axes.join(',')}] are not a permutation of the ${x.rank} axes of ${shapeStr(x.shape)}`);
  }
  const s = stridesOf(x.shape);
  const y = gather('permute', x, perm.map((a) => x.shape[a]!), 0, perm.map((a) => s[a]!));
  return record(y, 'permute', [x], (g) => {
    const inv = new Array<number>(perm.length);
    perm.forEach((a, i) => (inv[a] = i));
    return [permute(g, inv)];
  });
}

/** Swap two axes (by default the last two, as a matrix transpose). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const i = normAxis(a, x.rank, 'transpose');
  const j = normAxis(b, x.rank, 'transpose');
  const perm = [...x.shape.keys()];
  [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  return permute(x, perm);
}

// ---- broadcast -------------------------------------------------------------------------------------

/**
 * Materialise `x` broadcast to `shape` (NumPy rules: x's dimensions align to the right and each is
 * either equal or 1). A -1 in `shape` keeps x's dimension there (as torch's expand).
 */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  checkRank('broadcastTo', x);
  const off = shape.length - x.rank;
  const bad = () => new Error(`broadcastTo: cannot broadcast ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  if (off < 0) throw bad();
  const target = shape.map((d, i) => (d === -1 && i >= off ? x.shape[i - off]! : d));
  checkShape(target, 'broadcastTo');
  if (x.shape.some((d, i) => d !== 1 && d !== target[i + off])) throw bad();
  const y = gather('broadcastTo', x, target, 0, broadcastStrides(x.shape, target));
  return record(y, 'broadcastTo', [x], (g) => [sumTo(g, x.shape)]);
}

/** Alias of broadcastTo, as torch names it. */
export const expand = broadcastTo;

// ---- slice, pad, flip ------------------------------------------------------------------------------

/**
 * x[starts[0]:ends[0]:steps[0], starts[1]:ends[1]:steps[1], ...] with Python's rules: negative
 * indices count from the end, out-of-range ones are clamped, ends may be ±Infinity; steps are
 * integers ≥ 1 (default 1). Axes past the given lists are taken whole. Copies.
 */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[], steps?: readonly number[]): Tensor {
  checkRank('slice', x);
  const what = `slice ${shapeStr(x.shape)} [${starts.join(',')}]:[${ends.join(',')}]${steps ? `:[${steps.join(',')}]` : ''}`;
  if (starts.length !== ends.length || starts.length > x.rank || (steps && steps.length !== starts.length)) {
    throw new Error(`${what}: starts, ends (and steps) need one entry per leading axis, at most ${x.rank}`);
  }
  const s = stridesOf(x.shape);
  const outShape = [...x.shape];
  const strides = [...s];
  let base = 0;
  for (let d = 0; d < starts.length; d++) {
    const n = x.shape[d]!;
    const step = steps?.[d] ?? 1;
    if (!Number.isInteger(step) || step < 1) throw new Error(`${what}: step ${step} on axis ${d} must be an integer ≥ 1`);
    const clampIndex = (v: number) => {
      if (!Number.isInteger(v) && Math.abs(v) !== Infinity) throw new Error(`${what}: index ${v} on axis ${d} is not an integer`);
      return Math.min(n, Math.max(0, v < 0 ? v + n : v));
    };
    const a = clampIndex(starts[d]!);
    const b = clampIndex(ends[d]!);
    outShape[d] = Math.max(0, Math.ceil((b - a) / step));
    base += a * s[d]!;
    strides[d] = s[d]! * step;
  }
  const y = gather('slice', x, outShape, base, strides);
  return record(y, 'slice', [x], (g) => {
    const gx = zeros(x.shape);
    copy('slice_grad', outShape, { t: g, base: 0, strides: stridesOf(outShape) }, { t: gx, base, strides });
    return [gx];
  });
}

/** Constant padding: `pads[d] = [before, after]` elements of `value` on each side of axis d (one pair per axis). */
export function pad(x: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  checkRank('pad', x);
  const what = `pad ${shapeStr(x.shape)} by [${pads.map((p) => `[${p.join(',')}]`).join(',')}]`;
  if (pads.length !== x.rank) throw new Error(`${what}: needs one [before, after] pair per axis (${x.rank})`);
  if (pads.some((p) => p.length !== 2 || p.some((v) => !Number.isInteger(v) || v < 0))) throw new Error(`${what}: pads must be pairs of non-negative integers`);
  if (x.dtype !== 'f32' && !(Number.isInteger(value) && (x.dtype === 'i32' ? value === (value | 0) : value >= 0 && value <= 0xffffffff))) {
    throw new Error(`${what}: value ${value} is not representable as ${x.dtype}`);
  }
  const outShape = x.shape.map((n, d) => n + pads[d]![0] + pads[d]![1]);
  const os = stridesOf(outShape);
  const base = pads.reduce((acc, p, d) => acc + p[0] * os[d]!, 0);
  const y = fill(outShape, value, x.dtype);
  copy('pad', x.shape, { t: x, base: 0, strides: stridesOf(x.shape) }, { t: y, base, strides: os });
  return record(y, 'pad', [x], (g) => [gather('pad_grad', g, x.shape, base, os)]);
}

/** Reverse the order of elements along `axes` (e.g. a horizontal image flip is flip(x, [-1])). */
export function flip(x: Tensor, axes: number | readonly number[]): Tensor {
  checkRank('flip', x);
  const ax = normAxes(axes, x.rank, 'flip');
  const s = stridesOf(x.shape);
  let base = 0;
  const strides = s.map((st, d) => {
    if (!ax.includes(d)) return st;
    base += (x.shape[d]! - 1) * st;
    return -st;
  });
  const y = gather('flip', x, x.shape, base, strides);
  return record(y, 'flip', [x], (g) => [flip(g, ax)]);
}

// ---- concat, stack ---------------------------------------------------------------------------------

/** Place xs one after another along `axis` of a new tensor, each read as shape `shapes[j]` (same size as xs[j]). */
function join(op: string, xs: readonly Tensor[], shapes: readonly Shape[], axis: number): Tensor {
  const outShape = [...shapes[0]!];
  outShape[axis] = shapes.reduce((acc, s) => acc + s[axis]!, 0);
  const out = Tensor.empty(outShape, xs[0]!.dtype, op);
  const os = stridesOf(outShape);
  const offsets: number[] = [];
  let at = 0;
  xs.forEach((x, j) => {
    offsets.push(at * os[axis]!);
    copy(op, shapes[j]!, { t: x, base: 0, strides: stridesOf(shapes[j]!) }, { t: out, base: offsets[j]!, strides: os });
    at += shapes[j]![axis]!;
  });
  return record(out, op, xs, (g) => xs.map((x, j) => (x.requiresGrad ? gather(`${op}_grad`, g, shapes[j]!, offsets[j]!, os, x.shape) : undefined)));
}

function checkJoin(op: string, xs: readonly Tensor[]): void {
  if (!xs.length) throw new Error(`${op}: needs at least one tensor`);
  for (const x of xs) {
    checkRank(op, x);
    if (x.dtype !== xs[0]!.dtype) throw new Error(`${op}: tensors have different dtypes (${xs[0]} vs ${x})`);
  }
}

/** Join tensors along an existing axis; all other dimensions must match. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  checkJoin('concat', xs);
  const first = xs[0]!;
  const ax = normAxis(axis, first.rank, 'concat');
  for (const x of xs) {
    if (x.rank !== first.rank || x.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new Error(`concat: shapes ${xs.map((t) => shapeStr(t.shape)).join(' ')} differ outside axis ${axis}`);
    }
  }
  return join('concat', xs, xs.map((x) => x.shape), ax);
}

/** Join same-shaped tensors along a new axis (axis in [-(rank+1), rank]). */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  checkJoin('stack', xs);
  const shape = xs[0]!.shape;
  for (const x of xs) {
    if (x.rank !== shape.length || x.shape.some((d, i) => d !== shape[i])) throw new Error(`stack: shapes ${xs.map((t) => shapeStr(t.shape)).join(' ')} differ`);
  }
  const ax = normAxis(axis, shape.length + 1, 'stack');
  const unit = [...shape.slice(0, ax), 1, ...shape.slice(ax)];
  return join('stack', xs, xs.map(() => unit), ax);
}

// ---- gathers ---------------------------------------------------------------------------------------

// Where each gather kernel reads position (o, j, r) from Idx (see shaders/gather.wgsl).
const POS = { indexSelect: 'Idx[j]', takeAlongAxis: 'Idx[(o * p.m + j) * p.inner + r]' } as const;

function gatherAxis(op: keyof typeof POS, x: Tensor, idx: Tensor, ax: number, outShape: Shape): Tensor {
  const n = x.shape[ax]!;
  const m = outShape[ax]!;
  const inner = sizeOf(x.shape.slice(ax + 1));
  const label = `${op} ${shapeStr(x.shape)} axis ${ax} index ${shapeStr(idx.shape)}`;
  const y = Tensor.empty(outShape, x.dtype, op);
  const k = kernel(op, gatherWgsl, { T: x.dtype, I_T: idx.dtype, POS: POS[op] });
  dispatch(k, [x, idx, y], { total: y.size, n, m, inner }, y.size, label);
  return record(y, op, [x], (g) => {
    const gx = Tensor.empty(x.shape, 'f32', `${op}_grad`);
    const kg = kernel(`${op}_grad`, gatherGradWgsl, { I_T: idx.dtype, POS: POS[op] });
    dispatch(kg, [g, idx, gx], { total: gx.size, n, m, inner }, gx.size, `${label} (gradient)`);
    return [gx];
  });
}

function checkIndex(op: string, idx: Tensor): void {
  if (idx.dtype === 'f32') throw new Error(`${op}: index must be an i32 or u32 tensor, got ${idx}`);
}

/**
 * Select positions `idx` (a 1-D i32/u32 tensor) along `axis`, as torch.index_select: the output has
 * x's shape with that axis replaced by idx's length. Positions outside [0, n) (negative ones too)
 * give 0 and receive no gradient. The gradient sums over repeated positions (cost: idx.length reads
 * per element of x).
 */
export function indexSelect(x: Tensor, axis: number, idx: Tensor): Tensor {
  checkIndex('indexSelect', idx);
  if (idx.rank !== 1) throw new Error(`indexSelect: index must be 1-D, got ${idx}`);
  const ax = normAxis(axis, x.rank, 'indexSelect');
  const outShape = x.shape.map((d, i) => (i === ax ? idx.size : d));
  return gatherAxis('indexSelect', x, idx, ax, outShape);
}

/**
 * out[..., j, ...] = x[..., idx[..., j, ...], ...] along `axis`, as numpy.take_along_axis or
 * torch.gather: idx (i32/u32) has x's rank and x's dimensions except along `axis`, and the output
 * has idx's shape. Positions outside [0, n) (negative ones too) give 0 and receive no gradient.
 */
export function takeAlongAxis(x: Tensor, idx: Tensor, axis: number): Tensor {
  checkIndex('takeAlongAxis', idx);
  const ax = normAxis(axis, x.rank, 'takeAlongAxis');
  if (idx.rank !== x.rank || idx.shape.some((d, i) => i !== ax && d !== x.shape[i])) {
    throw new Error(`takeAlongAxis: index ${shapeStr(idx.shape)} must match ${shapeStr(x.shape)} except along axis ${axis}`);
  }
  return gatherAxis('takeAlongAxis', x, idx, ax, idx.shape);
}
