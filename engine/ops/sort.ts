// Sorting along an axis: topk, sort, argsort.
//
// One kernel (shaders/sort.wgsl) serves all three: each element counts the elements of its row that
// come before it, which is its rank, and writes itself to that slot if the rank is below k. This is
// O(n) per element and O(n²) per row, with all elements of all rows in parallel and no workgroup
// memory (which is slow on lavapipe); it suits the short rows this engine sorts (classes per pixel, k ≤ ~20)
// and is capped at SORT_MAX_ROW elements per row, where a row already costs 2^28 comparisons (a bitonic
// sort would be the way past that). Ties keep position order (lower index first), in both
// directions; NaN sorts above +inf, as in PyTorch.
//
// Gradient: values[o, s, r] = x[o, indices[o, s, r], r], so the gradient of x is the output gradient
// scattered back to the selected positions (zeros elsewhere). That is takeAlongAxis's gradient, and it
// uses its atomic-free kernel (shaders/gather_grad.wgsl): each element of x looks up whether and where
// it was selected.

import gatherGradWgsl from '../../shaders/gather_grad.wgsl?raw';
import sortWgsl from '../../shaders/sort.wgsl?raw';
import { record } from '../autograd.ts';
import type { DType } from '../dtype.ts';
import { dispatch, kernel } from '../kernel.ts';
import { normAxis } from '../shape.ts';
import { Tensor, shapeStr, sizeOf } from '../tensor.ts';

/** The longest row topk, sort and argsort accept. */
export const SORT_MAX_ROW = 16384;

// Maps each dtype to u32 keys in the same order (see shaders/sort.wgsl).
const KEYS: Record<DType, string> = {
  f32: `let b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; } // NaN, either sign: above +inf
  if (b == 0x80000000u) { return 0x80000000u; } // −0 ranks as +0
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);`,
  i32: 'return bitcast<u32>(v) ^ 0x80000000u;',
  u32: 'return v;',
};

export interface Sorted {
  values: Tensor;
  /** Positions along the axis (i32). */
  indices: Tensor;
}

/** The first k (all when undefined) of x's elements along `axis` in sorted order. */
function sortAlong(op: string, x: Tensor, kWanted: number | undefined, axis: number, descending: boolean): Sorted {
  const ax = normAxis(axis, x.rank, op);
  const n = x.shape[ax]!;
  const k = kWanted ?? n;
  const label = `${op} ${shapeStr(x.shape)} axis ${axis}${op === 'topk' ? ` k ${k}` : ''}`;
  if (n > SORT_MAX_ROW) throw new Error(`${label}: rows of ${n} elements are longer than the ${SORT_MAX_ROW} this sort supports`);
  if (!Number.isInteger(k) || k < 0 || k > n) throw new Error(`${label}: k must be an integer in [0, ${n}]`);
  const inner = sizeOf(x.shape.slice(ax + 1));
  const shape = x.shape.map((d, i) => (i === ax ? k : d));
  const values = Tensor.empty(shape, x.dtype, op);
  const indices = Tensor.empty(shape, 'i32', `${op} indices`);
  if (values.size > 0) {
    const kern = kernel('sort', sortWgsl, { T: x.dtype, KEY: KEYS[x.dtype] });
    dispatch(kern, [x, values, indices], { total: x.size, n, k, inner, desc: descending ? 1 : 0 }, x.size, label);
  }
  record(values, op, [x], (g) => {
    const gx = Tensor.empty(x.shape, 'f32', `${op}_grad`);
    const kg = kernel('takeAlongAxis_grad', gatherGradWgsl, { I_T: 'i32', POS: 'Idx[(o * p.m + j) * p.inner + r]' });
    dispatch(kg, [g, indices, gx], { total: gx.size, n, m: k, inner }, gx.size, `${label} (gradient)`);
    return [gx];
  });
  return { values, indices };
}

/**
 * The k largest elements along `axis` and their positions (i32), largest first; equal values keep
 * position order. NaN counts as the largest. Values are differentiable: the gradient goes to the
 * selected positions (backward reads `indices`, so keep them until then, as any saved tensor).
 */
export function topk(x: Tensor, k: number, axis = -1): Sorted {
  return sortAlong('topk', x, k, axis, true);
}

/** Sort along `axis` (ascending unless `descending`), stably; returns the values and their original positions (i32). */
export function sort(x: Tensor, axis = -1, descending = false): Sorted {
  return sortAlong('sort', x, undefined, axis, descending);
}

/** The positions (i32) that sort x along `axis`. */
export function argsort(x: Tensor, axis = -1, descending = false): Tensor {
  const { values, indices } = sort(x, axis, descending);
  values.dispose();
  return indices;
}
