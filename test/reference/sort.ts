// float64 reference for engine/ops/sort.ts: each row along the axis is sorted with JavaScript's
// stable Array.prototype.sort, so equal values keep position order; NaN counts as larger than +inf.
import { nd, ravel, unravel, type Nd } from './nd.ts';

export interface SortedRef {
  values: Nd;
  indices: Nd;
}

/** a − b in the value order, NaN largest (and −0 equal to +0). */
function compare(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number(Number.isNaN(a)) - Number(Number.isNaN(b));
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The first k elements (all when k is undefined) of each row along `axis` (non-negative), sorted. */
export function sortRef(x: Nd, axis: number, descending: boolean, k?: number): SortedRef {
  const n = x.shape[axis]!;
  const kk = k ?? n;
  const shape = x.shape.map((d, i) => (i === axis ? kk : d));
  const values = nd(shape);
  const indices = nd(shape);
  for (let i = 0; i < values.data.length; i++) {
    const idx = unravel(i, shape);
    if (idx[axis] !== 0) continue; // one pass per row: at its first slot
    const row = Array.from({ length: n }, (_, j) => {
      idx[axis] = j;
      return { v: x.data[ravel(idx, x.shape)]!, j };
    });
    row.sort((a, b) => (descending ? compare(b.v, a.v) : compare(a.v, b.v)));
    for (let s = 0; s < kk; s++) {
      idx[axis] = s;
      values.data[ravel(idx, shape)] = row[s]!.v;
      indices.data[ravel(idx, shape)] = row[s]!.j;
    }
  }
  return { values, indices };
}

/** The k largest along `axis`, largest first. */
export function topkRef(x: Nd, k: number, axis: number): SortedRef {
  return sortRef(x, axis, true, k);
}
