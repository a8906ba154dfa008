// Learning-rate schedules: pure functions of the step, to pass to `optimiser.step(lr)` every step.
//
// Both share a linear warm-up: for t < W, lr = warmupStart + (base − warmupStart) · t / W, reaching
// `base` at t = W. After it the decay runs over the remaining T − W steps, with progress
// q = (t − W) / (T − W), clamped to [0, 1] so that steps past `total` keep the final value:
//
//   polyLR:   lr = base · (1 − q)^power                       (W = 0: base · (1 − t/T)^power, the "poly"
//                                                              policy of U2PL and mmseg's PolyLR with min_lr 0)
//   cosineLR: lr = min + (base − min) · (1 + cos(π · q)) / 2
//
// Both are continuous at t = W.

export interface PolyOptions {
  base: number;
  total: number;
  power?: number;
  warmup?: number;
  warmupStart?: number;
}

export interface CosineOptions {
  base: number;
  total: number;
  warmup?: number;
  warmupStart?: number;
  min?: number;
}

function check(op: string, step: number, base: number, total: number, warmup: number): void {
  if (!(Number.isFinite(step) && step >= 0)) throw new Error(`${op}: step must be a non-negative number, got ${step}`);
  if (!(Number.isFinite(base) && base >= 0)) throw new Error(`${op}: base must be a non-negative number, got ${base}`);
  if (!(Number.isFinite(warmup) && warmup >= 0)) throw new Error(`${op}: warmup must be a non-negative number, got ${warmup}`);
  if (!(Number.isFinite(total) && total > warmup)) throw new Error(`${op}: total (${total}) must be a number greater than warmup (${warmup})`);
}

/** Linear warm-up value at `step`, or undefined once the warm-up is over. */
function warm(step: number, base: number, warmup: number, warmupStart: number): number | undefined {
  return step < warmup ? warmupStart + ((base - warmupStart) * step) / warmup : undefined;
}

function progress(step: number, total: number, warmup: number): number {
  return Math.min(1, (step - warmup) / (total - warmup));
}

/** Polynomial decay base · (1 − q)^power after a linear warm-up (see the file header). */
export function polyLR(step: number, opts: PolyOptions): number {
  const { base, total, power = 0.9, warmup = 0, warmupStart = 0 } = opts;
  check('polyLR', step, base, total, warmup);
  if (!(Number.isFinite(power) && power >= 0)) throw new Error(`polyLR: power must be a non-negative number, got ${power}`);
  return warm(step, base, warmup, warmupStart) ?? base * (1 - progress(step, total, warmup)) ** power;
}

/** Cosine decay from base to min after a linear warm-up (see the file header). */
export function cosineLR(step: number, opts: CosineOptions): number {
  const { base, total, warmup = 0, warmupStart = 0, min = 0 } = opts;
  check('cosineLR', step, base, total, warmup);
  if (!(Number.isFinite(min) && min >= 0 && min <= base)) throw new Error(`cosineLR: min must be in [0, base = ${base}], got ${min}`);
  return warm(step, base, warmup, warmupStart) ?? min + ((base - min) * (1 + Math.cos(Math.PI * progress(step, total, warmup)))) / 2;
}
