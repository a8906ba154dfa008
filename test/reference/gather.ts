// float64 references for engine/ops/gather.ts, written from the definitions.
import { nd, type Nd } from './nd.ts';

/** Output row j is a copy of input row rows[j]. */
export function gatherRowsRef(x: Nd, rows: readonly number[]): Nd {
  const r = x.shape[1]!;
  return nd([rows.length, r], (i) => x.data[rows[Math.floor(i / r)]! * r + (i % r)]!);
}

/** out[i, j] = Σ_d a[i, d] · b[rows[i·T + j], d], T = rows.length / M. */
export function gatherDotRef(a: Nd, b: Nd, rows: readonly number[]): Nd {
  const [m, r] = a.shape as [number, number];
  const t = m ? rows.length / m : 0;
  return nd([m, t], (k) => {
    const i = Math.floor(k / t);
    let s = 0;
    for (let d = 0; d < r; d++) s += a.data[i * r + d]! * b.data[rows[k]! * r + d]!;
    return s;
  });
}
