// Optimisers (SGD, AdamW), gradient clipping and the EMA used by the mean teacher.
//
// Every update is one fused kernel per parameter that reads the gradient and rewrites the parameter
// and its state buffers in place: a parameter keeps its GPU buffer for life, so models, EMA teachers
// and checkpoints may hold references to it. The learning rate, the step count and the other
// hyper-parameters travel as uniforms, so a schedule can change lr every step without recompiling, and
// no step reads anything back from the GPU (clipGradNorm computes the norm and the factor there too).
//
// The arithmetic follows PyTorch's single-tensor code paths (torch.optim.SGD, torch.optim.AdamW,
// torch.nn.utils.clip_grad_norm_). State buffers are allocated, zeroed and kept when the optimiser is
// built (PyTorch creates them lazily, with the same values), so `state()` always names the same
// tensors and a checkpoint can be loaded straight into them with `loadParams`.

import adamwWgsl from '../shaders/adamw.wgsl?raw';
import clipNormWgsl from '../shaders/clip_norm.wgsl?raw';
import clipScaleWgsl from '../shaders/clip_scale.wgsl?raw';
import clipSumsqWgsl from '../shaders/clip_sumsq.wgsl?raw';
import emaWgsl from '../shaders/ema.wgsl?raw';
import sgdWgsl from '../shaders/sgd.wgsl?raw';
import { zeroGrad } from './autograd.ts';
import { dispatch, kernel } from './kernel.ts';
import { matchByName, problemsError } from './named.ts';
import { fill, zerosLike } from './ops/creation.ts';
import { scheduler } from './scheduler.ts';
import { Tensor, keep, sameShape, shapeStr } from './tensor.ts';

/** What `state()` returns: the optimiser's own state tensors (live: do not dispose) and JSON-able settings. */
export interface OptimState<M> {
  tensors: Record<string, Tensor>;
  meta: M;
}

function checkParams(op: string, params: readonly Tensor[]): void {
  params.forEach((p, i) => {
    if (p.dtype !== 'f32') throw new Error(`${op}: parameter ${i} ${p} is ${p.dtype}; only f32 tensors can be optimised`);
    if (p.disposed) throw new Error(`${op}: parameter ${i} ${p} is disposed`);
  });
}

function checkRange(op: string, name: string, v: number, lo: number, hi = Infinity, hiOpen = false): void {
  if (!(Number.isFinite(v) && v >= lo && (hiOpen ? v < hi : v <= hi))) {
    const range = hi === Infinity ? `a finite number >= ${lo}` : `in [${lo}, ${hi}${hiOpen ? ')' : ']'}`;
    throw new Error(`${op}: ${name} must be ${range}, got ${v}`);
  }
}

/** The gradient of `p` when it has one that fits, undefined when it has none. */
function gradOf(op: string, p: Tensor, i: number): Tensor | undefined {
  const g = p.grad;
  if (!g) return undefined;
  if (g.dtype !== 'f32' || !sameShape(g.shape, p.shape)) throw new Error(`${op}: gradient ${g} does not match parameter ${i} ${p}`);
  return g;
}

/** Copy `src` into the state tensor `dst` on the GPU (same shape). */
function copyInto(dst: Tensor, src: Tensor): void {
  if (src !== dst && src.size) scheduler.copy(src.buffer(), 0, dst.buffer(), 0, src.size * 4);
}

/** Restore state tensors by name, listing every missing, unexpected or mis-shaped one in one error. */
function loadTensors(op: string, own: Record<string, Tensor>, given: Record<string, Tensor>): void {
  const { pairs, problems } = matchByName(Object.entries(own), given, { strict: true });
  if (problems.length) throw problemsError(`${op}.loadState: the state tensors do not match this optimiser`, problems);
  for (const [t, g] of pairs) copyInto(t, g);
}

// ---- SGD --------------------------------------------------------------------------------------------

export interface SGDOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export interface SGDMeta {
  type: 'SGD';
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

/** torch.optim.SGD (dampening 0): d = g + wd·p; buf = μ·buf + d; d = nesterov ? d + μ·buf : buf; p −= lr·d. */
export class SGD {
  readonly params: readonly Tensor[];
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  /** Momentum buffers (none when momentum is 0). */
  private readonly buffers: Tensor[];

  constructor(params: readonly Tensor[], opts: SGDOptions) {
    const { lr, momentum = 0.9, weightDecay = 0, nesterov = false } = opts;
    checkParams('SGD', params);
    checkRange('SGD', 'lr', lr, 0);
    checkRange('SGD', 'momentum', momentum, 0);
    checkRange('SGD', 'weightDecay', weightDecay, 0);
    if (nesterov && momentum === 0) throw new Error('SGD: nesterov momentum needs momentum > 0');
    this.params = [...params];
    this.lr = lr;
    this.momentum = momentum;
    this.weightDecay = weightDecay;
    this.nesterov = nesterov;
    this.buffers = momentum > 0 ? this.params.map((p) => keep(zerosLike(p))) : [];
  }

  /** One update of every parameter that has a gradient; `lr` (e.g. from a schedule) replaces this.lr. */
  step(lr?: number): void {
    if (lr !== undefined) {
      checkRange('SGD.step', 'lr', lr, 0);
      this.lr = lr;
    }
    const withM = this.momentum > 0;
    const k = kernel('sgd', sgdWgsl, {
      M_DECL: withM ? '@group(0) @binding(3) var<storage, read_write> M: array<f32>;' : '',
      MOMENTUM: withM ? 'let b = p.momentum * M[i] + d; M[i] = b; d = select(b, d + p.momentum * b, p.nesterov != 0u);' : '',
    });
    const u = { lr: this.lr, wd: this.weightDecay, momentum: this.momentum, nesterov: this.nesterov ? 1 : 0 };
    this.params.forEach((p, i) => {
      const g = gradOf('SGD.step', p, i);
      if (!g) return;
      const ts = withM ? [p, g, this.buffers[i]!] : [p, g];
      dispatch(k, ts, { n: p.size, ...u }, p.size, `SGD.step parameter ${i} ${shapeStr(p.shape)}`);
    });
  }

  zeroGrad(): void {
    zeroGrad(this.params);
  }

  state(): OptimState<SGDMeta> {
    const tensors: Record<string, Tensor> = {};
    this.buffers.forEach((b, i) => (tensors[`${i}.momentum_buffer`] = b));
    return { tensors, meta: { type: 'SGD', lr: this.lr, momentum: this.momentum, weightDecay: this.weightDecay, nesterov: this.nesterov } };
  }

  /**
   * Restore a state saved by `state()`: the learning rate, and the momentum buffers when `tensors` is
   * given (omit it when the checkpoint was loaded straight into `state().tensors`). Momentum, weight
   * decay and nesterov are fixed at construction and must match.
   */
  loadState(s: { tensors?: Record<string, Tensor>; meta: SGDMeta }): void {
    const m = s.meta;
    if (m?.type !== 'SGD') throw new Error(`SGD.loadState: the state is for '${String(m?.type)}', not SGD`);
    if (m.momentum !== this.momentum || m.weightDecay !== this.weightDecay || m.nesterov !== this.nesterov) {
      throw new Error(
        `SGD.loadState: saved with momentum ${m.momentum}, weightDecay ${m.weightDecay}, nesterov ${m.nesterov}; ` +
          `this optimiser has ${this.momentum}, ${this.weightDecay}, ${this.nesterov}`,
      );
    }
    if (s.tensors) loadTensors('SGD', this.state().tensors, s.tensors);
    this.lr = m.lr;
  }

  /** Release the state buffers. */
  dispose(): void {
    for (const b of this.buffers) b.dispose();
  }
}

// ---- AdamW ------------------------------------------------------------------------------------------

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export interface AdamWMeta {
  type: 'AdamW';
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Steps taken by each parameter (a parameter without a gradient does not step, as in PyTorch). */
  steps: number[];
}

/**
 * torch.optim.AdamW: p ← p·(1 − lr·wd) (decoupled decay), then Adam with bias correction:
 * m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g², p −= lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps).
 */
export class AdamW {
  readonly params: readonly Tensor[];
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private steps: number[];
  private readonly m: Tensor[];
  private readonly v: Tensor[];

  constructor(params: readonly Tensor[], opts: AdamWOptions) {
    const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01 } = opts;
    checkParams('AdamW', params);
    checkRange('AdamW', 'lr', lr, 0);
    checkRange('AdamW', 'beta1', beta1, 0, 1, true);
    checkRange('AdamW', 'beta2', beta2, 0, 1, true);
    checkRange('AdamW', 'eps', eps, 0);
    checkRange('AdamW', 'weightDecay', weightDecay, 0);
    this.params = [...params];
    this.lr = lr;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.steps = this.params.map(() => 0);
    this.m = this.params.map((p) => keep(zerosLike(p)));
    this.v = this.params.map((p) => keep(zerosLike(p)));
  }

  /** One update of every parameter that has a gradient; `lr` (e.g. from a schedule) replaces this.lr. */
  step(lr?: number): void {
    if (lr !== undefined) {
      checkRange('AdamW.step', 'lr', lr, 0);
      this.lr = lr;
    }
    const k = kernel('adamw', adamwWgsl);
    const { beta1: b1, beta2: b2 } = this;
    this.params.forEach((p, i) => {
      const g = gradOf('AdamW.step', p, i);
      if (!g) return;
      const t = ++this.steps[i]!;
      const u = {
        n: p.size,
        decay: 1 - this.lr * this.weightDecay,
        b1,
        c1: 1 - b1,
        b2,
        c2: 1 - b2,
        eps: this.eps,
        stepSize: this.lr / (1 - b1 ** t),
        bc2Sqrt: Math.sqrt(1 - b2 ** t),
      };
      dispatch(k, [p, g, this.m[i]!, this.v[i]!], u, p.size, `AdamW.step parameter ${i} ${shapeStr(p.shape)}`);
    });
  }

  zeroGrad(): void {
    zeroGrad(this.params);
  }

  state(): OptimState<AdamWMeta> {
    const tensors: Record<string, Tensor> = {};
    this.params.forEach((_, i) => {
      tensors[`${i}.exp_avg`] = this.m[i]!;
      tensors[`${i}.exp_avg_sq`] = this.v[i]!;
    });
    const { lr, beta1, beta2, eps, weightDecay } = this;
    return { tensors, meta: { type: 'AdamW', lr, beta1, beta2, eps, weightDecay, steps: [...this.steps] } };
  }

  /**
   * Restore a state saved by `state()`: learning rate, step counts, and the moments when `tensors` is
   * given (omit it when the checkpoint was loaded straight into `state().tensors`). The betas, eps and
   * weight decay are fixed at construction and must match.
   */
  loadState(s: { tensors?: Record<string, Tensor>; meta: AdamWMeta }): void {
    const m = s.meta;
    if (m?.type !== 'AdamW') throw new Error(`AdamW.loadState: the state is for '${String(m?.type)}', not AdamW`);
    if (m.beta1 !== this.beta1 || m.beta2 !== this.beta2 || m.eps !== this.eps || m.weightDecay !== this.weightDecay) {
      throw new Error(
        `AdamW.loadState: saved with beta1 ${m.beta1}, beta2 ${m.beta2}, eps ${m.eps}, weightDecay ${m.weightDecay}; ` +
          `this optimiser has ${this.beta1}, ${this.beta2}, ${this.eps}, ${this.weightDecay}`,
      );
    }
    if (!Array.isArray(m.steps) || m.steps.length !== this.params.length || !m.steps.every((t) => Number.isInteger(t) && t >= 0)) {
      throw new Error(`AdamW.loadState: steps must be ${this.params.length} non-negative integers (one per parameter), got ${JSON.stringify(m.steps)}`);
    }
    if (s.tensors) loadTensors('AdamW', this.state().tensors, s.tensors);
    this.lr = m.lr;
    this.steps = [...m.steps];
  }

  /** Release the moment buffers. */
  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}

// ---- gradient clipping --------------------------------------------------------------------------------

const CHUNK = 256; // gradient elements per first-stage invocation

/**
 * torch.nn.utils.clip_grad_norm_: the L2 norm of all gradients together, and every gradient scaled in
 * place by min(1, maxNorm / (norm + 1e-6)). Nothing is read back: the norm and the factor are computed
 * by kernels. Returns the norm (before clipping) as a 1-element tensor. Parameters without a gradient
 * are skipped.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
  checkRange('clipGradNorm', 'maxNorm', maxNorm, 0);
  const grads = params.flatMap((p, i) => gradOf('clipGradNorm', p, i) ?? []);
  const threads = grads.map((g) => Math.ceil(g.size / CHUNK));
  const count = threads.reduce((a, b) => a + b, 0);
  if (count === 0) return fill([1], 0);
  const norm = Tensor.empty([1], 'f32', 'clipGradNorm');
  const partial = Tensor.empty([count], 'f32', 'clipGradNorm');
  const scale = Tensor.empty([1], 'f32', 'clipGradNorm');
  const ksum = kernel('clip_sumsq', clipSumsqWgsl);
  let offset = 0;
  grads.forEach((g, j) => {
    dispatch(ksum, [g, partial], { n: g.size, threads: threads[j]!, offset }, threads[j]!, `clipGradNorm gradient ${shapeStr(g.shape)}`);
    offset += threads[j]!;
  });
  dispatch(kernel('clip_norm', clipNormWgsl), [partial, norm, scale], { count, maxNorm }, [1, 1, 1], `clipGradNorm over ${grads.length} gradients`);
  // Backward may hand two leaves views of one gradient buffer (e.g. both inputs of an add): such a
  // buffer counts once per parameter in the norm but must be scaled only once.
  const seen = new Set<GPUBuffer>();
  const kscale = kernel('clip_scale', clipScaleWgsl);
  for (const g of grads) {
    if (seen.has(g.buffer())) continue;
    seen.add(g.buffer());
    dispatch(kscale, [g, scale], { n: g.size }, g.size, `clipGradNorm scaling ${shapeStr(g.shape)}`);
  }
  // Safe to release at once: a later reuse of these buffers is queued after the kernels above.
  partial.dispose();
  scale.dispose();
  return norm;
}

// ---- EMA ----------------------------------------------------------------------------------------------

/** The mean teacher's momentum at step t: min(1 − 1/(t + 1), max) (0 at t = 0, so the teacher starts as a copy). */
export function emaMomentum(t: number, max = 0.99): number {
  if (!(Number.isFinite(t) && t >= 0)) throw new Error(`emaMomentum: step must be a non-negative number, got ${t}`);
  return Math.min(1 - 1 / (t + 1), max);
}

/** target ← m·target + (1 − m)·source for each pair, in place (the mean teacher's weights). */
export class EMA {
  readonly target: readonly Tensor[];
  readonly source: readonly Tensor[];

  constructor(target: readonly Tensor[], source: readonly Tensor[]) {
    if (target.length !== source.length) throw new Error(`EMA: ${target.length} target tensors but ${source.length} source tensors`);
    target.forEach((t, i) => {
      const s = source[i]!;
      if (t.dtype !== 'f32' || s.dtype !== 'f32' || !sameShape(t.shape, s.shape)) {
        throw new Error(`EMA: pair ${i} does not match: target ${t}, source ${s} (both must be f32 of one shape)`);
      }
      if (t.buffer() === s.buffer()) throw new Error(`EMA: pair ${i}: target and source ${t} share storage`);
    });
    this.target = [...target];
    this.source = [...source];
  }

  update(momentum: number): void {
    checkRange('EMA.update', 'momentum', momentum, 0, 1);
    const k = kernel('ema', emaWgsl);
    this.target.forEach((t, i) => {
      dispatch(k, [t, this.source[i]!], { n: t.size, m: momentum, c: 1 - momentum }, t.size, `EMA.update pair ${i} ${shapeStr(t.shape)}`);
    });
  }
}
