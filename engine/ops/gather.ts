// Row gathers driven by CPU-side index lists, with fast backward passes: gatherRows (whole rows of a
// matrix) and gatherDot (dot products of each row of A with listed rows of B, without materialising
// those rows).
//
// indexSelect's gradient makes every element of x scan the whole index list (|x|·|idx| reads), far too
// slow for thousands of sampled anchors and negatives (U2PL's contrastive loss). Here the caller already
// holds the indices on the CPU, so they are checked there (a bad one is an Error, not a silent 0) and
// the backward pass builds a CSR table there (for each row r of the source, the outputs that read it):
// the scatter-add kernels walk only those lists, in a fixed order and without atomics. gatherDot exists
// because materialising anchors × negatives × features and multiplying them (batched matmul, or
// broadcast mul + sum) cost ~7× more on lavapipe than one pass that reads the rows in place.

import gatherDotWgsl from '../../shaders/gather_dot.wgsl?raw';
import gatherDotGradAWgsl from '../../shaders/gather_dot_grad_a.wgsl?raw';
import gatherDotGradBWgsl from '../../shaders/gather_dot_grad_b.wgsl?raw';
import gatherRowsWgsl from '../../shaders/gather_rows.wgsl?raw';
import gatherRowsGradWgsl from '../../shaders/gather_rows_grad.wgsl?raw';
import { record } from '../autograd.ts';
import { dispatch, kernel } from '../kernel.ts';
import { Tensor, shapeStr, tensor } from '../tensor.ts';
import { zeros } from './creation.ts';

/** For each row r < n, the positions j with rows[j] = r, in increasing j: positions[offsets[r] .. offsets[r+1]). */
function rowLists(rows: Int32Array, n: number): { offsets: Tensor; positions: Tensor } {
  const offsets = new Int32Array(n + 1);
  for (const r of rows) offsets[r + 1]!++;
  for (let r = 0; r < n; r++) offsets[r + 1]! += offsets[r]!;
  const next = offsets.slice(0, n);
  const positions = new Int32Array(rows.length);
  rows.forEach((r, j) => (positions[next[r]!++] = j));
  return { offsets: tensor(offsets, [n + 1], 'i32'), positions: tensor(positions, [rows.length], 'i32') };
}

function checkMatrix(op: string, what: string, x: Tensor): [number, number] {
  if (x.dtype !== 'f32' || x.rank !== 2) throw new Error(`${op}: ${what} must be a 2-D f32 tensor [N, R], got ${x}`);
  return x.shape as [number, number];
}

/** `rows` as an Int32Array, each an integer in [0, n); the error names the op, the index and the shape. */
function checkRows(op: string, rows: Int32Array | readonly number[], n: number, what: string, x: Tensor): Int32Array {
  const idx = Int32Array.from(rows);
  idx.forEach((v, j) => {
    if (!(v >= 0 && v < n) || v !== rows[j]) throw new Error(`${op}: row index ${rows[j]} at position ${j} is outside [0, ${n}) for ${what} ${shapeStr(x.shape)}`);
  });
  return idx;
}

/**
 * out[j, :] = x[rows[j], :] for x [N, R] f32; rows may repeat and come in any order. Returns
 * [rows.length, R]. The gradient adds each output row's gradient into the row of x it came from.
 */
export function gatherRows(x: Tensor, rows: Int32Array | readonly number[]): Tensor {
  const op = 'gatherRows';
  const [n, r] = checkMatrix(op, 'x', x);
  const idx = checkRows(op, rows, n, 'x', x);
  const label = `${op} ${shapeStr(x.shape)} rows [${idx.length}]`;
  const y = Tensor.empty([idx.length, r], 'f32', op);
  if (y.size) {
    const rowsT = tensor(idx, [idx.length], 'i32');
    dispatch(kernel(op, gatherRowsWgsl), [x, rowsT, y], { total: y.size, r }, y.size, label);
    rowsT.dispose();
  }
  return record(y, op, [x], (g) => {
    if (!x.size || !g.size) return [zeros(x.shape)];
    const gx = Tensor.empty(x.shape, 'f32', `${op}_grad`);
    const { offsets, positions } = rowLists(idx, n);
    dispatch(kernel(`${op}_grad`, gatherRowsGradWgsl), [g, offsets, positions, gx], { total: gx.size, r }, gx.size, `${label} backward`);
    offsets.dispose();
    positions.dispose();
    return [gx];
  });
}

/**
 * out[i, j] = Σ_d a[i, d] · b[rows[i·T + j], d] for a [M, R], b [N, R] (f32) and `rows` listing T rows
 * of b for each row of a (row-major [M, T], so rows.length = M·T). Returns [M, T]. Equal to
 * sum(a[:, None, :] · gatherRows(b, rows).reshape(M, T, R), -1), without the [M, T, R] intermediate.
 * Differentiable in a and b.
 */
export function gatherDot(a: Tensor, b: Tensor, rows: Int32Array | readonly number[]): Tensor {
  const op = 'gatherDot';
  const [m, r] = checkMatrix(op, 'a', a);
  const [n, rb] = checkMatrix(op, 'b', b);
  if (rb !== r) throw new Error(`${op}: a ${shapeStr(a.shape)} and b ${shapeStr(b.shape)} have different row lengths`);
  if (m === 0 ? rows.length !== 0 : rows.length % m !== 0) throw new Error(`${op}: ${rows.length} row indices do not make T per row for the ${m} rows of a ${shapeStr(a.shape)}`);
  const idx = checkRows(op, rows, n, 'b', b);
  const t = m ? idx.length / m : 0;
  const label = `${op} a ${shapeStr(a.shape)} b ${shapeStr(b.shape)} rows [${m},${t}]`;
  const params = { t, r };
  const y = Tensor.empty([m, t], 'f32', op);
  const rowsT = () => tensor(idx, [idx.length], 'i32');
  if (y.size) {
    const rt = rowsT();
    dispatch(kernel(op, gatherDotWgsl), [a, b, rt, y], { total: y.size, ...params }, y.size, label);
    rt.dispose();
  }
  return record(y, op, [a, b], (g) => {
    let ga: Tensor | undefined;
    let gb: Tensor | undefined;
    if (a.requiresGrad) {
      if (!a.size || !g.size) ga = zeros(a.shape);
      else {
        ga = Tensor.empty(a.shape, 'f32', `${op}_grad`);
        const rt = rowsT();
        dispatch(kernel(`${op}_grad_a`, gatherDotGradAWgsl), [g, b, rt, ga], { total: ga.size, ...params }, ga.size, `${label} backward (a)`);
        rt.dispose();
      }
    }
    if (b.requiresGrad) {
      if (!b.size || !g.size) gb = zeros(b.shape);
      else {
        gb = Tensor.empty(b.shape, 'f32', `${op}_grad`);
        const { offsets, positions } = rowLists(idx, n);
        dispatch(kernel(`${op}_grad_b`, gatherDotGradBWgsl), [g, a, offsets, positions, gb], { total: gb.size, ...params }, gb.size, `${label} backward (b)`);
        offsets.dispose();
        positions.dispose();
      }
    }
    return [ga, gb];
  });
}
