// Float64 references for matmul and linear: the textbook sums over k, with NumPy batch broadcasting.
import { broadcastShape, nd, size, unravel, type Nd } from './nd.ts';

/** x with its last two axes swapped. */
export function swapLast(x: Nd): Nd {
  const r = x.shape.length;
  const [p, q] = [x.shape[r - 2]!, x.shape[r - 1]!];
  const shape = [...x.shape.slice(0, -2), q, p];
  return nd(shape, (t) => {
    const m = Math.floor(t / (p * q)) * p * q;
    const i = t % (p * q); // (row of the result, column of the result) = (j, i) of x
    return x.data[m + (i % p) * q + Math.floor(i / p)]!;
  });
}

/** Offset of the matrix of x that batch index idx (of the broadcast batch shape) reads. */
function matrixOffset(x: Nd, idx: number[]): number {
  const bs = x.shape.slice(0, -2);
  const off = idx.length - bs.length;
  let m = 0;
  for (let d = 0; d < bs.length; d++) m = m * bs[d]! + (bs[d] === 1 ? 0 : idx[d + off]!);
  return m * x.shape[x.shape.length - 2]! * x.shape[x.shape.length - 1]!;
}

/** op(a)·op(b), op = transpose of the last two axes where asked. */
export function matmulRef(a: Nd, b: Nd, transA = false, transB = false): Nd {
  const A = transA ? swapLast(a) : a;
  const B = transB ? swapLast(b) : b;
  const [M, K] = A.shape.slice(-2) as [number, number];
  const N = B.shape[B.shape.length - 1]!;
  const batch = broadcastShape(A.shape.slice(0, -2), B.shape.slice(0, -2));
  const out = nd([...batch, M, N]);
  for (let z = 0; z < size(batch); z++) {
    const idx = unravel(z, batch);
    const ao = matrixOffset(A, idx);
    const bo = matrixOffset(B, idx);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += A.data[ao + m * K + k]! * B.data[bo + k * N + n]!;
        out.data[(z * M + m) * N + n] = s;
      }
    }
  }
  return out;
}

/** x·wᵀ + bias: x [..., K], w [N, K], bias [N]. */
export function linearRef(x: Nd, w: Nd, bias?: Nd): Nd {
  const [N, K] = w.shape as [number, number];
  const R = x.data.length / K;
  const out = nd([...x.shape.slice(0, -1), N]);
  for (let r = 0; r < R; r++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias.data[n]! : 0;
      for (let k = 0; k < K; k++) s += x.data[r * K + k]! * w.data[n * K + k]!;
      out.data[r * N + n] = s;
    }
  }
  return out;
}
