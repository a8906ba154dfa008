// float64 references for engine/ops/nn.ts, written the plain way: gather a row, compute, scatter back.
import { nd, ravel, unravel, type Nd } from './nd.ts';

/** Apply `f` to every 1-d row of `x` along `axis` (non-negative), writing the rows of the result. */
export function alongAxis(x: Nd, axis: number, f: (row: number[]) => number[]): Nd {
  const out = nd(x.shape);
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape);
    if (idx[axis] !== 0) continue; // visit each row once, from its first element
    const at = (j: number) => ravel(idx.map((v, d) => (d === axis ? j : v)), x.shape);
    const row = Array.from({ length: x.shape[axis]! }, (_, j) => x.data[at(j)]!);
    f(row).forEach((v, j) => (out.data[at(j)] = v));
  }
  return out;
}

export function softmaxRow(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

export const softmaxRef = (x: Nd, axis: number) => alongAxis(x, axis, softmaxRow);
export const logSoftmaxRef = (x: Nd, axis: number) => alongAxis(x, axis, (row) => softmaxRow(row).map(Math.log));

export interface CrossEntropyRefOpts {
  ignoreIndex: number;
  weight?: Nd;
  reduction: 'mean' | 'sum' | 'none';
}

/** Cross-entropy with classes on axis 1; labels are [N, d1, ...] as plain numbers. */
export function crossEntropyRef(logits: Nd, labels: number[], o: CrossEntropyRefOpts): Nd {
  const [n, c, ...rest] = logits.shape as [number, number, ...number[]];
  const pixelShape = [n, ...rest];
  const losses = nd(pixelShape);
  let weightTotal = 0;
  for (let r = 0; r < labels.length; r++) {
    const label = labels[r]!;
    if (label === o.ignoreIndex) continue;
    const [b, ...pos] = unravel(r, pixelShape);
    const x = (j: number) => logits.data[ravel([b!, j, ...pos], logits.shape)]!;
    // log Σ exp(x_j), with the maximum taken out so that it stays finite
    const xs = Array.from({ length: c }, (_, j) => x(j));
    const m = Math.max(...xs);
    const lse = m + Math.log(xs.reduce((s, v) => s + Math.exp(v - m), 0));
    const w = o.weight ? o.weight.data[r]! : 1;
    losses.data[r] = w * (lse - x(label));
    weightTotal += w;
  }
  if (o.reduction === 'none') return losses;
  const total = losses.data.reduce((a, b) => a + b, 0);
  if (o.reduction === 'sum') return nd([], [total]);
  return nd([], [weightTotal === 0 ? 0 : total / weightTotal]);
}

/** Layer norm over the last axis, biased variance. */
export function layerNormRef(x: Nd, gamma: Nd, beta: Nd, eps: number): Nd {
  return alongAxis(x, x.shape.length - 1, (row) => {
    const mean = row.reduce((a, b) => a + b, 0) / row.length;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length;
    return row.map((v, j) => ((v - mean) / Math.sqrt(variance + eps)) * gamma.data[j]! + beta.data[j]!);
  });
}

/** Group norm of x [B, C, ...]: per sample and group of C/G channels, (x − mean)/√(var + eps), then γ[c]·x̂ + β[c]. */
export function groupNormRef(x: Nd, gamma: Nd, beta: Nd, groups: number, eps: number): Nd {
  const [B, C] = x.shape as [number, number];
  const per = x.data.length / (B * C); // positions per channel
  const out = new Float64Array(x.data.length);
  const n = (C / groups) * per;
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < groups; g++) {
      const start = (b * C + g * (C / groups)) * per;
      let mean = 0;
      for (let i = 0; i < n; i++) mean += x.data[start + i]!;
      mean /= n;
      let v = 0;
      for (let i = 0; i < n; i++) v += (x.data[start + i]! - mean) ** 2;
      const rstd = 1 / Math.sqrt(v / n + eps);
      for (let i = 0; i < n; i++) {
        const ch = g * (C / groups) + Math.floor(i / per);
        out[start + i] = (x.data[start + i]! - mean) * rstd * gamma.data[ch]! + beta.data[ch]!;
      }
    }
  }
  return nd(x.shape, out);
}

export function l2NormalizeRef(x: Nd, axis: number, eps: number): Nd {
  return alongAxis(x, axis, (row) => {
    const norm = Math.sqrt(row.reduce((a, v) => a + v * v, 0));
    return row.map((v) => v / Math.max(norm, eps));
  });
}

/** Inverted dropout with a given 0/1 keep mask. */
export function dropoutRef(x: Nd, mask: ArrayLike<number>, p: number): Nd {
  return nd(x.shape, (i) => (mask[i] ? x.data[i]! / (1 - p) : 0));
}

/** Multi-head self-attention on qkv [B, T, 3·C] (q, k, v as [B, T, 3, H, D]): softmax(q·kᵀ/√D)·v, heads merged: [B, T, C]. */
export function attentionRef(qkv: Nd, heads: number): Nd {
  const [B, T, C3] = qkv.shape as [number, number, number];
  const C = C3 / 3;
  const D = C / heads;
  const at = (b: number, t: number, j: number, h: number, d: number) => qkv.data[(b * T + t) * C3 + j * C + h * D + d]!;
  const out = nd([B, T, C]);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let t = 0; t < T; t++) {
        const scores = Array.from({ length: T }, (_, u) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += at(b, t, 0, h, d) * at(b, u, 1, h, d);
          return s / Math.sqrt(D);
        });
        const p = softmaxRow(scores);
        for (let d = 0; d < D; d++) out.data[(b * T + t) * C + h * D + d] = p.reduce((s, pu, u) => s + pu * at(b, u, 2, h, d), 0);
      }
    }
  }
  return out;
}
