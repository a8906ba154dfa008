// float64 references for engine/optim.ts, written from PyTorch's documented update rules
// (torch.optim.SGD, torch.optim.AdamW, torch.nn.utils.clip_grad_norm_). Each updates its arrays in place.

export interface SgdHyper {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

/** One SGD step. `buf` is undefined before the first step with momentum (PyTorch: buf = d on the first step). */
export function sgdRef(p: Float64Array, g: Float64Array, buf: Float64Array | undefined, h: SgdHyper): Float64Array | undefined {
  const d = g.map((gi, i) => gi + h.weightDecay * p[i]!);
  let step: Float64Array = d;
  if (h.momentum !== 0) {
    if (!buf) buf = Float64Array.from(d);
    else for (let i = 0; i < d.length; i++) buf[i] = h.momentum * buf[i]! + d[i]!;
    step = h.nesterov ? d.map((di, i) => di + h.momentum * buf![i]!) : buf;
  }
  for (let i = 0; i < p.length; i++) p[i] = p[i]! - h.lr * step[i]!;
  return buf;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** One AdamW step at step number t (1 on the first step this parameter takes). */
export function adamwRef(p: Float64Array, g: Float64Array, m: Float64Array, v: Float64Array, t: number, h: AdamWHyper): void {
  for (let i = 0; i < p.length; i++) {
    p[i] = p[i]! * (1 - h.lr * h.weightDecay);
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * g[i]!;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * g[i]! * g[i]!;
    const mHat = m[i]! / (1 - h.beta1 ** t);
    const vHat = v[i]! / (1 - h.beta2 ** t);
    p[i] = p[i]! - (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
  }
}

/** Global L2 norm of all gradients; scales them by min(1, maxNorm / (norm + 1e-6)). Returns the norm. */
export function clipRef(grads: Float64Array[], maxNorm: number): number {
  let sq = 0;
  for (const g of grads) for (const x of g) sq += x * x;
  const norm = Math.sqrt(sq);
  const f = Math.min(1, maxNorm / (norm + 1e-6));
  for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = g[i]! * f;
  return norm;
}

export function emaRef(target: Float64Array, source: Float64Array, m: number): void {
  for (let i = 0; i < target.length; i++) target[i] = m * target[i]! + (1 - m) * source[i]!;
}
