// Neural-network ops: softmax, logSoftmax, attention, crossEntropy (and resizeCrossEntropy, the loss
// of upsampled class scores), layerNorm, groupNorm, l2Normalize, dropout.
//
// Each is a fused kernel with a fused backward kernel (shaders/softmax*.wgsl, cross_entropy*.wgsl,
// resize_cross_entropy*.wgsl, layernorm*.wgsl, groupnorm*.wgsl, l2norm*.wgsl, dropout.wgsl). Row-wise ops run one
// invocation per row and walk the row with a stride, so they work along any axis without a
// transpose; this also suits lavapipe, where workgroup-shared reductions are slow.
//
// Backward closures use only the op's inputs and output (plus numbers): statistics such as layer
// norm's mean and rstd or the mean cross-entropy's weight total are recomputed in the backward pass
// rather than saved as extra tensors, which a `tidy` around the forward pass would dispose.
// attention and resizeCrossEntropy are the exceptions, and say why.

import attentionFusedWgsl from '../../shaders/attention_fused.wgsl?raw';
import crossEntropyWgsl from '../../shaders/cross_entropy.wgsl?raw';
import crossEntropyGradWgsl from '../../shaders/cross_entropy_grad.wgsl?raw';
import dropoutWgsl from '../../shaders/dropout.wgsl?raw';
import groupnormWgsl from '../../shaders/groupnorm.wgsl?raw';
import groupnormGradWgsl from '../../shaders/groupnorm_grad.wgsl?raw';
import groupnormGradParamsWgsl from '../../shaders/groupnorm_grad_params.wgsl?raw';
import l2normWgsl from '../../shaders/l2norm.wgsl?raw';
import l2normGradWgsl from '../../shaders/l2norm_grad.wgsl?raw';
import layernormWgsl from '../../shaders/layernorm.wgsl?raw';
import layernormGradWgsl from '../../shaders/layernorm_grad.wgsl?raw';
import layernormGradParamsWgsl from '../../shaders/layernorm_grad_params.wgsl?raw';
import layernormStatsWgsl from '../../shaders/layernorm_stats.wgsl?raw';
import coordWgsl from '../../shaders/resize_coord.wgsl?raw';
import resizeCrossEntropyWgsl from '../../shaders/resize_cross_entropy.wgsl?raw';
import resizeCrossEntropyGradWgsl from '../../shaders/resize_cross_entropy_grad.wgsl?raw';
import scoreWgsl from '../../shaders/resize_score.wgsl?raw';
import rngWgsl from '../../shaders/rng.wgsl?raw';
import softmaxWgsl from '../../shaders/softmax.wgsl?raw';
import softmaxGradWgsl from '../../shaders/softmax_grad.wgsl?raw';
import { isGradEnabled, record } from '../autograd.ts';
import { device, loopKernelsFast } from '../device.ts';
import { bindingBudget, dispatch, kernel } from '../kernel.ts';
import { normAxis } from '../shape.ts';
import { Tensor, sameShape, shapeStr } from '../tensor.ts';
import { mapBinary, mapUnary } from './elementwise.ts';
import { matmulInto, transposed, type MatView } from './matmul.ts';
import { seedWords } from './random.ts';
import { sum } from './reduce.ts';

function checkF32(t: Tensor, op: string, what: string): void {
  if (t.dtype !== 'f32') throw new Error(`${op}: ${what} must be f32, got ${t}`);
}

/** Rows along `axis`: each has `c` elements `inner` apart (the layout every row kernel here indexes). */
function rowsAlong(x: Tensor, axis: number, op: string): { rows: number; c: number; inner: number } {
  const ax = normAxis(axis, x.rank, op);
  const c = x.shape[ax]!;
  const inner = x.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const outer = x.shape.slice(0, ax).reduce((a, b) => a * b, 1);
  return { rows: outer * inner, c, inner };
}

// ---- softmax, logSoftmax ------------------------------------------------------------------------------

const SOFTMAX = {
  softmax: { OUT: 'exp(p.alpha * (v - m)) / s', TERM: 'g * y', GRAD: 'p.alpha * (y * (g - t))' },
  logSoftmax: { OUT: 'p.alpha * (v - m) - log(s)', TERM: 'g', GRAD: 'p.alpha * (g - exp(y) * t)' },
} as const;

/** op(alpha·x) along `axis` (alpha > 0), without autograd. */
function softmaxForward(op: keyof typeof SOFTMAX, x: Tensor, axis: number, alpha: number, label: string): Tensor {
  const y = Tensor.empty(x.shape, 'f32', op);
  const r = rowsAlong(x, axis, op);
  dispatch(kernel(op, softmaxWgsl, { OUT: SOFTMAX[op].OUT }), [x, y], { ...r, alpha }, r.rows, label);
  return y;
}

/** The gradient of x for y = op(alpha·x), from y's gradient g and y. */
function softmaxGrad(op: keyof typeof SOFTMAX, g: Tensor, y: Tensor, axis: number, alpha: number, label: string): Tensor {
  const dx = Tensor.empty(y.shape, 'f32', `${op}_grad`);
  const r = rowsAlong(y, axis, op);
  dispatch(kernel(`${op}_grad`, softmaxGradWgsl, { TERM: SOFTMAX[op].TERM, OUT: SOFTMAX[op].GRAD }), [g, y, dx], { ...r, alpha }, r.rows, `${label} backward`);
  return dx;
}

function softmaxOp(op: keyof typeof SOFTMAX, x: Tensor, axis: number): Tensor {
  checkF32(x, op, 'x');
  const label = `${op} ${shapeStr(x.shape)} axis ${axis}`;
  const y = softmaxForward(op, x, axis, 1, label);
  return record(y, op, [x], (g) => [softmaxGrad(op, g, y, axis, 1, label)]);
}

/** Softmax along `axis` (any axis; default the last), numerically stable. */
export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('softmax', x, axis);
}

/** log(softmax(x)) along `axis`, computed as x − max − log Σ exp(x − max) (no log of a rounded-to-0 softmax). */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('logSoftmax', x, axis);
}

// ---- attention ----------------------------------------------------------------------------------------

/** Largest head size of the fused kernel: its key and value tiles (32 × D each) fill 16 KB of workgroup memory at 64. */
const FUSED_MAX_D = 64;

/**
 * Multi-head self-attention on a fused projection: qkv [B, T, 3C] holds q, k and v as [B, T, 3, H, D]
 * (C = H·D, H = heads); returns softmax(q·kᵀ/√D)·v per head, heads merged back: [B, T, C].
 *
 * The products read q, k and v, and write the output and the gradient of qkv, through strides
 * (matmulInto), so nothing is permuted, sliced or summed: the three parts of the gradient are written
 * side by side into one tensor. The 1/√D scale is applied inside the softmax kernels. Unlike the
 * other ops here, the backward pass reads a tensor made in the forward pass (the attention weights,
 * as the composition of ops it replaces did): recomputing them would cost a product and a softmax.
 *
 * Without a backward pass to feed, weights larger than bindingBudget() are computed a block of query
 * rows at a time (attentionByRows), so a 480p frame's 6,420 tokens never need the whole T × T matrix.
 * With one, they are kept in groups of (batch, head) pairs within the budget (headGroups): a batch of
 * 384×384 crops (2,304 tokens) holds 340 MB of weights, one head's 21 MB.
 * Without a backward pass to feed, on adapters that run loops well (loopKernelsFast: GPUs,
 * SwiftShader), one kernel does it all without the T × T matrices (shaders/attention_fused.wgsl).
 * Not on lavapipe, where that design ran 30× slower than the products (README, "Why the speed
 * targets are not met on lavapipe").
 */
export function attention(qkv: Tensor, heads: number): Tensor {
  const what = `attention ${shapeStr(qkv.shape)} heads ${heads}`;
  checkF32(qkv, 'attention', 'qkv');
  if (qkv.rank !== 3 || !(Number.isInteger(heads) && heads > 0) || qkv.shape[2]! % (3 * heads) !== 0 || qkv.shape[2] === 0) {
    throw new Error(`${what}: expected qkv [B, T, 3·C] with C > 0 divisible by the heads`);
  }
  const [B, T, C3] = qkv.shape as [number, number, number];
  const C = C3 / 3;
  const D = C / heads;
  const scale = 1 / Math.sqrt(D);
  if (!(isGradEnabled() && qkv.requiresGrad) && loopKernelsFast() && D <= FUSED_MAX_D) {
    const out = Tensor.empty([B, T, C], 'f32', 'attention');
    const DV = Math.ceil(D / 4);
    const k = kernel(`attention_fused_d${D}`, attentionFusedWgsl, { D, DV, KV: 32 * DV });
    dispatch(k, [qkv, out], { T, H: heads, scale }, [Math.ceil(T / 64), heads, B], `${what} (fused)`);
    return out;
  }
  // Head h of batch b of part j of a [B, T, parts, H, D] tensor, as a T × D matrix.
  const part = (t: Tensor, parts: number, j: number): MatView => ({ t, off: j * C, bs: [T * parts * C, D], rs: parts * C, cs: 1 });
  const [q, k, v] = [0, 1, 2].map((j) => part(qkv, 3, j)) as [MatView, MatView, MatView];
  const headBytes = T * T * 4; // one head's weights
  if (!(isGradEnabled() && qkv.requiresGrad) && B * heads * headBytes > bindingBudget()) {
    const rows = Math.max(1, Math.floor(bindingBudget() / (B * heads * T * 4))); // [B, H, rows, T] f32 within the budget
    return attentionByRows(q, k, v, B, heads, T, C, D, scale, rows, what);
  }
  // The backward pass reads the weights: kept in groups of (batch, head) pairs that fit the budget
  // (one group unless the crop is large), each group's T × T matrices whole.
  const limit = device().info.limits.maxStorageBufferBindingSize ?? Infinity;
  if (headBytes > limit) {
    throw new Error(
      `${what}: training needs each head's ${T}×${T} attention weights whole (${headBytes} bytes), over this device's ` +
        `maxStorageBufferBindingSize (${limit}): train on smaller crops (--crop)`,
    );
  }
  const groups = headGroups(B, heads, Math.max(headBytes, bindingBudget()) / headBytes);
  // Group g's heads of part j (offset to its first batch and head).
  const at = (m: MatView, g: HeadGroup): MatView => ({ ...m, off: m.off + g.b0 * m.bs[0]! + g.h0 * m.bs[1]! });
  const out = Tensor.empty([B, T, C], 'f32', 'attention');
  const probs = groups.map((g) => {
    const batch = [g.nb, g.nh];
    const scores = Tensor.empty([g.nb, g.nh, T, T], 'f32', 'attention scores');
    const suffix = groups.length > 1 ? ` (batch ${g.b0}, heads ${g.h0}–${g.h0 + g.nh - 1})` : '';
    matmulInto(at(q, g), transposed(at(k, g)), square(scores), T, T, D, batch, `${what}: q·kᵀ${suffix}`);
    const prob = softmaxForward('softmax', scores, -1, scale, what);
    scores.dispose();
    matmulInto(square(prob), at(v, g), at(part(out, 1, 0), g), T, D, T, batch, `${what}: p·v${suffix}`);
    return prob;
  });
  const y = record(out, 'attention', [qkv], (grad) => {
    const dqkv = Tensor.empty(qkv.shape, 'f32', 'attention_grad');
    groups.forEach((g, i) => {
      const batch = [g.nb, g.nh];
      const prob = probs[i]!;
      const dOut = at(part(grad, 1, 0), g);
      const dProb = Tensor.empty(prob.shape, 'f32', 'attention_grad');
      matmulInto(dOut, transposed(at(v, g)), square(dProb), T, T, D, batch, `${what} backward: dp`);
      matmulInto(transposed(square(prob)), dOut, at(part(dqkv, 3, 2), g), T, D, T, batch, `${what} backward: dv`);
      const dScores = softmaxGrad('softmax', dProb, prob, -1, scale, what);
      dProb.dispose();
      matmulInto(square(dScores), at(k, g), at(part(dqkv, 3, 0), g), T, D, T, batch, `${what} backward: dq`);
      matmulInto(transposed(square(dScores)), at(q, g), at(part(dqkv, 3, 1), g), T, D, T, batch, `${what} backward: dk`);
      dScores.dispose();
    });
    return [dqkv];
  });
  if (!y.node) for (const p of probs) p.dispose(); // no backward will read them
  return y;
}

/** A [nb, nh, T, T] weights tensor's T × T matrices. */
function square(t: Tensor): MatView {
  const [, nh, T] = t.shape as [number, number, number];
  return { t, off: 0, bs: [nh * T * T, T * T], rs: T, cs: 1 };
}

/** Batches b0 … b0 + nb − 1, heads h0 … h0 + nh − 1 (all heads when nb > 1). */
interface HeadGroup {
  b0: number;
  nb: number;
  h0: number;
  nh: number;
}

/**
 * The (batch, head) pairs cut into groups of at most `fit` heads: whole batch elements while one
 * fits, else a batch element's heads in runs.
 */
function headGroups(B: number, heads: number, fit: number): HeadGroup[] {
  const groups: HeadGroup[] = [];
  if (fit >= heads) {
    const nb = Math.min(B, Math.floor(fit / heads));
    for (let b0 = 0; b0 < B; b0 += nb) groups.push({ b0, nb: Math.min(nb, B - b0), h0: 0, nh: heads });
  } else {
    const nh = Math.max(1, Math.floor(fit));
    for (let b0 = 0; b0 < B; b0++) for (let h0 = 0; h0 < heads; h0 += nh) groups.push({ b0, nb: 1, h0, nh: Math.min(nh, heads - h0) });
  }
  return groups;
}


/**
 * Inference attention over `rows` queries at a time: each step computes the weights of those queries
 * against every key, so the T × T matrix is never whole (a 480p frame has 6,420 tokens of 8×8 pixels:
 * its 4-head weights take 660 MB). Exact: each query's softmax row is complete within its step.
 */
function attentionByRows(q: MatView, k: MatView, v: MatView, B: number, heads: number, T: number, C: number, D: number, scale: number, rows: number, what: string): Tensor {
  const out = Tensor.empty([B, T, C], 'f32', 'attention');
  for (let r0 = 0; r0 < T; r0 += rows) {
    const n = Math.min(rows, T - r0);
    const chunk: MatView = { ...q, off: q.off + r0 * q.rs };
    const scores = Tensor.empty([B, heads, n, T], 'f32', 'attention scores');
    const square: MatView = { t: scores, off: 0, bs: [heads * n * T, n * T], rs: T, cs: 1 };
    matmulInto(chunk, transposed(k), square, n, T, D, [B, heads], `${what}: q·kᵀ rows ${r0}-${r0 + n - 1}`);
    const prob = softmaxForward('softmax', scores, -1, scale, what);
    scores.dispose();
    const dst: MatView = { t: out, off: r0 * C, bs: [T * C, D], rs: C, cs: 1 };
    matmulInto({ ...square, t: prob }, v, dst, n, D, T, [B, heads], `${what}: p·v rows ${r0}-${r0 + n - 1}`);
    prob.dispose();
  }
  return out;
}

// ---- crossEntropy -------------------------------------------------------------------------------------

export interface CrossEntropyOptions {
  /** Pixels with this label add nothing to the loss or the mean's denominator. Default -100, as PyTorch. */
  ignoreIndex?: number;
  /** Per-pixel f32 weights, the shape of `labels`. Treated as a constant (no gradient flows into it). */
  weight?: Tensor;
  /** 'mean' (default), 'sum', or 'none' (per-pixel losses, the shape of `labels`). */
  reduction?: 'mean' | 'sum' | 'none';
}

// Σ loss / Σ weight, with 0 (not NaN) when no pixel counts.
const SAFE_DIV = 'select(0.0, a / b, b != 0.0)';

/**
 * Cross-entropy of `logits` against integer class `labels`, as torch.nn.functional.cross_entropy:
 * logits [N, C] with labels [N], or logits [N, C, d1, d2, …] (class axis 1, e.g. segmentation
 * [B, C, H, W]) with labels [N, d1, d2, …], i32.
 *
 * Pixel loss: w · (log Σ_j exp(x_j) − x_label), w the pixel's weight (1 without `weight`), 0 where the
 * label is `ignoreIndex`. 'mean' divides the sum by the total weight of the pixels that are not
 * ignored (PyTorch's rule with weights); when that total is 0 (e.g. every pixel ignored) the mean is
 * 0, not NaN, and so is its gradient.
 *
 * A label outside [0, C) that is not `ignoreIndex` cannot raise an error from inside a kernel: it
 * makes that pixel's loss and gradient NaN. Training code should call `checkLabels` when it loads
 * data, which names the offending value.
 */
export function crossEntropy(logits: Tensor, labels: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  checkF32(logits, op, 'logits');
  if (logits.rank < 2) throw new Error(`${op}: logits must be [N, C] or [N, C, d1, ...], got ${shapeStr(logits.shape)}`);
  const want = [logits.shape[0]!, ...logits.shape.slice(2)];
  const o = checkCrossEntropy(op, logits, labels, want, 'logits without the class axis 1', opts);
  const c = logits.shape[1]!;
  const inner = want.slice(1).reduce((a, b) => a * b, 1);
  const params = { pixels: labels.size, c, inner, ignore: o.ignoreIndex };
  const label = `${op} logits ${shapeStr(logits.shape)} labels ${shapeStr(labels.shape)}`;
  const W = weightBinding(o.weight);

  const perPixel = Tensor.empty(labels.shape, 'f32', op);
  dispatch(kernel(op, crossEntropyWgsl, W.subs(4)), W.with([logits, labels, perPixel]), params, labels.size, label);
  const grad = (g: Tensor, gstride: number): Tensor => {
    const dx = Tensor.empty(logits.shape, 'f32', `${op}_grad`);
    dispatch(kernel(`${op}_grad`, crossEntropyGradWgsl, W.subs(5)), W.with([logits, labels, g, dx]), { ...params, gstride }, labels.size, `${label} backward`);
    return dx;
  };
  return reduceCrossEntropy(op, perPixel, logits, labels, o, grad);
}

/**
 * crossEntropy(resizeBilinear(logits, [H, W]), labels, opts) for class scores at a lower resolution,
 * logits [N, K, h, w] and labels [N, H, W], without storing the upsampled scores: a segmentation
 * model's loss at the frame's size, where [N, K, H, W] may not fit a binding (480×480 with VSPW's 124
 * classes: 114 MB a frame, and its gradient as much again). The kernels (shaders/resize_cross_entropy*.wgsl)
 * do the composition's arithmetic in its order; they agree with it to f32 rounding.
 */
export function resizeCrossEntropy(logits: Tensor, labels: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const op = 'resizeCrossEntropy';
  checkF32(logits, op, 'logits');
  if (logits.rank !== 4 || logits.shape.slice(1).some((d) => d < 1)) throw new Error(`${op}: logits must be [N, K, h, w] with K, h, w ≥ 1, got ${shapeStr(logits.shape)}`);
  if (labels.rank !== 3) throw new Error(`${op}: labels must be [N, H, W], got ${shapeStr(labels.shape)}`);
  const [n, k, ih, iw] = logits.shape as [number, number, number, number];
  const [, oh, ow] = labels.shape as [number, number, number];
  const o = checkCrossEntropy(op, logits, labels, [n, oh, ow], 'the batch of the logits at the frame\'s size', opts);
  if (oh < 1 || ow < 1) throw new Error(`${op}: labels ${shapeStr(labels.shape)} have no pixels`);
  const u = { k, ih, iw, oh, ow, sy: Math.fround(ih / oh), sx: Math.fround(iw / ow), ignore: o.ignoreIndex };
  const label = `${op} logits ${shapeStr(logits.shape)} labels ${shapeStr(labels.shape)}`;
  const W = weightBinding(o.weight);
  // Per-pixel losses, and each pixel's max score and Σ exp(z − max): the backward pass's softmax.
  // Unlike most ops here, the backward reads these two tensors made in the forward pass (as
  // attention reads its weights): two numbers a pixel, where recomputing them would run the forward
  // kernel again.
  const [loss, m, s] = ['loss', 'max', 'sum'].map((what) => Tensor.empty(labels.shape, 'f32', `${op} ${what}`)) as [Tensor, Tensor, Tensor];
  dispatch(kernel(op, resizeCrossEntropyWgsl, { ...W.subs(6), COORD: coordWgsl, SCORE: scoreWgsl }), W.with([logits, labels, loss, m, s]), { ...u, total: labels.size }, labels.size, label);
  const grad = (g: Tensor, gstride: number): Tensor => {
    const dx = Tensor.empty(logits.shape, 'f32', `${op}_grad`);
    // One invocation per input position and block of up to 16 classes (the kernel's per-class sums).
    const cb = Math.min(k, 16);
    const blocks = Math.ceil(k / cb);
    const kb = kernel(`${op}_grad_cb${cb}`, resizeCrossEntropyGradWgsl, { ...W.subs(7), COORD: coordWgsl, SCORE: scoreWgsl, CB: cb });
    const threads = n * blocks * ih * iw;
    dispatch(kb, W.with([logits, labels, m, s, g, dx]), { ...u, total: threads, blocks, inv_y: oh / ih, inv_x: ow / iw, gstride }, threads, `${label} backward`);
    return dx;
  };
  const y = reduceCrossEntropy(op, loss, logits, labels, o, grad);
  if (!y.node) [m, s].forEach((t) => t.dispose()); // no backward will read them
  return y;
}

/** Checks labels, weight and options against the pixel shape `want`; returns the options with defaults. */
function checkCrossEntropy(op: string, logits: Tensor, labels: Tensor, want: number[], wantText: string, opts: CrossEntropyOptions) {
  const { ignoreIndex = -100, weight, reduction = 'mean' } = opts;
  if (labels.dtype !== 'i32') throw new Error(`${op}: labels must be i32 class indices, got ${labels}`);
  if (!sameShape(labels.shape, want)) throw new Error(`${op}: labels ${shapeStr(labels.shape)} do not match logits ${shapeStr(logits.shape)} (expected labels ${shapeStr(want)}: ${wantText})`);
  if (weight) {
    checkF32(weight, op, 'weight');
    if (!sameShape(weight.shape, labels.shape)) throw new Error(`${op}: weight ${shapeStr(weight.shape)} must have the shape of labels ${shapeStr(labels.shape)}`);
  }
  // The mean's denominator compares labels with ignoreIndex through an f32 uniform: exact up to 2^24.
  if (!Number.isInteger(ignoreIndex) || Math.abs(ignoreIndex) > 2 ** 24) throw new Error(`${op}: ignoreIndex must be an integer in [-2^24, 2^24], got ${ignoreIndex}`);
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') throw new Error(`${op}: reduction must be 'mean', 'sum' or 'none', got '${reduction as string}'`);
  return { ignoreIndex, weight, reduction };
}

/** The optional per-pixel weight binding: its declaration and value in the kernels, and the tensor list with it. */
function weightBinding(weight: Tensor | undefined) {
  return {
    subs: (binding: number) => ({ W_DECL: weight ? `@group(0) @binding(${binding}) var<storage, read> W: array<f32>;` : '', W: weight ? 'W[r]' : '1.0' }),
    with: (ts: Tensor[]) => (weight ? [...ts, weight] : ts),
  };
}

/**
 * The reduction of per-pixel losses `perPixel` (consumed) and its backward: `grad(g, gstride)` gives
 * ∂loss/∂logits for an incoming gradient per pixel (gstride 1) or one scalar (gstride 0).
 */
function reduceCrossEntropy(
  op: string,
  perPixel: Tensor,
  logits: Tensor,
  labels: Tensor,
  o: ReturnType<typeof checkCrossEntropy>,
  grad: (g: Tensor, gstride: number) => Tensor,
): Tensor {
  /** Σ of the weights of the pixels that are not ignored: the mean's denominator. */
  const weightTotal = (): Tensor => {
    const w = o.weight
      ? mapBinary('ce_weight', labels, o.weight, 'select(b, 0.0, a == i32(p.alpha))', { alpha: o.ignoreIndex, out: 'f32' })
      : mapUnary('ce_count', labels, 'select(1.0, 0.0, a == i32(p.alpha))', { alpha: o.ignoreIndex, out: 'f32' });
    const t = sum(w);
    w.dispose();
    return t;
  };
  if (o.reduction === 'none') return record(perPixel, op, [logits], (g) => [grad(g, 1)]);
  const total = sum(perPixel);
  perPixel.dispose();
  if (o.reduction === 'sum') return record(total, op, [logits], (g) => [grad(g, 0)]);
  const den = weightTotal();
  const y = mapBinary('ce_mean', total, den, SAFE_DIV);
  total.dispose();
  den.dispose();
  return record(y, op, [logits], (g) => {
    const d = weightTotal();
    const gs = mapBinary('ce_mean', g, d, SAFE_DIV);
    const dx = grad(gs, 0);
    d.dispose();
    gs.dispose();
    return [dx];
  });
}

/**
 * Read `labels` back and throw if any is outside [0, numClasses) without being `ignoreIndex`; the
 * error names the first such value and its position. crossEntropy cannot check this itself (kernels
 * cannot throw), so call this when loading data.
 */
export async function checkLabels(labels: Tensor, numClasses: number, ignoreIndex = -100): Promise<void> {
  if (labels.dtype !== 'i32') throw new Error(`checkLabels: labels must be i32 class indices, got ${labels}`);
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`checkLabels: numClasses must be a positive integer, got ${numClasses}`);
  const v = await labels.data();
  for (let i = 0; i < v.length; i++) {
    const l = v[i]!;
    if (l === ignoreIndex || (l >= 0 && l < numClasses)) continue;
    const pos: number[] = [];
    for (let d = labels.rank - 1, rest = i; d >= 0; d--) {
      pos[d] = rest % labels.shape[d]!;
      rest = Math.floor(rest / labels.shape[d]!);
    }
    throw new Error(`checkLabels: label ${l} at position [${pos.join(', ')}] of labels ${shapeStr(labels.shape)} is outside [0, ${numClasses}) and is not the ignore index ${ignoreIndex}`);
  }
}

// ---- layerNorm ------------------------------------------------------------------------------------------

/** Layer normalisation over the last axis: (x − mean) / sqrt(var + eps) · gamma + beta (biased variance, as PyTorch); gamma, beta [C]. */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  const op = 'layerNorm';
  checkF32(x, op, 'x');
  checkF32(gamma, op, 'gamma');
  checkF32(beta, op, 'beta');
  if (x.rank < 1) throw new Error(`${op}: x must have at least one axis, got a scalar ${shapeStr(x.shape)}`);
  const c = x.shape[x.rank - 1]!;
  for (const [what, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (!sameShape(t.shape, [c])) throw new Error(`${op}: ${what} ${shapeStr(t.shape)} must be [${c}], the last axis of x ${shapeStr(x.shape)}`);
  }
  if (!(eps > 0)) throw new Error(`${op}: eps must be positive, got ${eps}`);
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const label = `${op} ${shapeStr(x.shape)}`;
  const y = Tensor.empty(x.shape, 'f32', op);
  dispatch(kernel(op, layernormWgsl, { STATS: layernormStatsWgsl }), [x, gamma, beta, y], { rows, c, eps }, rows, label);
  return record(y, op, [x, gamma, beta], (g) => {
    const dx = Tensor.empty(x.shape, 'f32', `${op}_grad`);
    const stats = Tensor.empty([rows, 2], 'f32', `${op}_grad`);
    dispatch(kernel(`${op}_grad`, layernormGradWgsl, { STATS: layernormStatsWgsl }), [x, gamma, g, dx, stats], { rows, c, eps }, rows, `${label} backward`);
    if (!gamma.requiresGrad && !beta.requiresGrad) {
      stats.dispose();
      return [dx, undefined, undefined];
    }
    const dgamma = Tensor.empty([c], 'f32', `${op}_grad`);
    const dbeta = Tensor.empty([c], 'f32', `${op}_grad`);
    dispatch(kernel(`${op}_grad_params`, layernormGradParamsWgsl), [x, g, stats, dgamma, dbeta], { rows, c }, c, `${label} backward (gamma, beta)`);
    stats.dispose();
    return [dx, dgamma, dbeta];
  });
}

// ---- groupNorm -------------------------------------------------------------------------------------------

export interface GroupNormOptions {
  /** Added to the variance (default 1e-5, as PyTorch). */
  eps?: number;
  /** 'relu': y = max(0, groupNorm(x)) in the same pass (the stem's and the decoder's convs are conv → GN → ReLU). */
  activation?: 'relu';
}

/**
 * Group normalisation (Wu & He, 2018) of x [B, C, ...]: the C channels fall into `groups` groups of
 * C/groups, each sample's group is normalised to zero mean and unit variance over its channels and
 * positions, then y = x̂·γ[c] + β[c]. Unlike BatchNorm it does not depend on the batch, so training and
 * inference compute the same function and only γ, β are stored. One kernel normalises, applies the
 * affine and the optional ReLU (shaders/groupnorm*.wgsl): built from layerNorm and broadcast
 * mul/add/relu, the same function took five passes over the tensor forward and nine backward.
 */
export function groupNorm(x: Tensor, gamma: Tensor, beta: Tensor, groups: number, opts: GroupNormOptions = {}): Tensor {
  const op = 'groupNorm';
  const { eps = 1e-5, activation } = opts;
  checkF32(x, op, 'x');
  checkF32(gamma, op, 'gamma');
  checkF32(beta, op, 'beta');
  if (x.rank < 2) throw new Error(`${op}: x must be [B, C, ...], got ${shapeStr(x.shape)}`);
  const [b, c] = x.shape as [number, number];
  if (!(Number.isInteger(groups) && groups >= 1 && c % groups === 0)) throw new Error(`${op}: ${c} channels of x ${shapeStr(x.shape)} do not split into ${groups} groups`);
  for (const [what, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (!sameShape(t.shape, [c])) throw new Error(`${op}: ${what} ${shapeStr(t.shape)} must be [${c}], the channels of x ${shapeStr(x.shape)}`);
  }
  if (!(eps > 0)) throw new Error(`${op}: eps must be positive, got ${eps}`);
  if (activation !== undefined && activation !== 'relu') throw new Error(`${op}: activation must be 'relu' or absent, got '${activation}'`);
  const rows = b * groups;
  const hw = c === 0 ? 1 : x.size / (b * c); // positions per channel
  const p = { rows, c: (c / groups) * hw, eps, groups, hw };
  const relu = { RELU: activation === 'relu' ? 'true' : 'false' };
  const defines = { STATS: layernormStatsWgsl, ...relu };
  const label = `${op} ${shapeStr(x.shape)} groups ${groups}${activation ? ` ${activation}` : ''}`;
  const y = Tensor.empty(x.shape, 'f32', op);
  if (x.size === 0) return y;
  dispatch(kernel(op, groupnormWgsl, defines), [x, gamma, beta, y], p, rows, label);
  return record(y, op, [x, gamma, beta], (g) => {
    const dx = Tensor.empty(x.shape, 'f32', `${op}_grad`);
    const stats = Tensor.empty([rows, 2], 'f32', `${op}_grad`);
    dispatch(kernel(`${op}_grad`, groupnormGradWgsl, defines), [x, gamma, beta, g, dx, stats], p, rows, `${label} backward`);
    if (!gamma.requiresGrad && !beta.requiresGrad) {
      stats.dispose();
      return [dx, undefined, undefined];
    }
    const dgamma = Tensor.empty([c], 'f32', `${op}_grad`);
    const dbeta = Tensor.empty([c], 'f32', `${op}_grad`);
    const pp = { c: p.c, rows, groups, hw, channels: c };
    dispatch(kernel(`${op}_grad_params`, groupnormGradParamsWgsl, relu), [x, gamma, beta, g, stats, dgamma, dbeta], pp, c, `${label} backward (gamma, beta)`);
    stats.dispose();
    return [dx, dgamma, dbeta];
  });
}

// ---- l2Normalize ----------------------------------------------------------------------------------------

/** x / max(‖x‖₂, eps) along `axis`, as torch.nn.functional.normalize. */
export function l2Normalize(x: Tensor, axis = -1, eps = 1e-12): Tensor {
  const op = 'l2Normalize';
  checkF32(x, op, 'x');
  if (!(eps > 0)) throw new Error(`${op}: eps must be positive, got ${eps}`);
  const r = { ...rowsAlong(x, axis, op), eps };
  const label = `${op} ${shapeStr(x.shape)} axis ${axis}`;
  const y = Tensor.empty(x.shape, 'f32', op);
  dispatch(kernel(op, l2normWgsl), [x, y], r, r.rows, label);
  return record(y, op, [x], (g) => {
    const dx = Tensor.empty(x.shape, 'f32', `${op}_grad`);
    dispatch(kernel(`${op}_grad`, l2normGradWgsl), [x, g, dx], r, r.rows, `${label} backward`);
    return [dx];
  });
}

// ---- dropout --------------------------------------------------------------------------------------------

/**
 * Inverted dropout: each element is zeroed with probability p and the rest are scaled by 1/(1 − p).
 * The mask is a function of (seed, element index): the kept elements are exactly those where
 * randBernoulli(x.shape, 1 − p, seed) is 1, and the backward pass regenerates it rather than storing
 * it. Use a fresh seed per step and per dropout site. With training false (or p = 0) it returns x
 * itself, as PyTorch does.
 */
export function dropout(x: Tensor, p: number, seed: number, training = true): Tensor {
  const op = 'dropout';
  checkF32(x, op, 'x');
  if (!(p >= 0 && p <= 1)) throw new Error(`${op}: p must be in [0, 1], got ${p}`);
  const [lo, hi] = seedWords(seed, op);
  if (!training || p === 0) return x;
  const params = { seed_lo: lo, seed_hi: hi, keep: 1 - p, scale: p === 1 ? 0 : 1 / (1 - p) };
  const run = (a: Tensor, what: string) => {
    const out = Tensor.empty(a.shape, 'f32', op);
    dispatch(kernel(op, dropoutWgsl, { RNG: rngWgsl }), [a, out], { n: a.size, ...params }, a.size, `${op} ${shapeStr(x.shape)} p ${p}${what}`);
    return out;
  };
  const y = run(x, '');
  return record(y, op, [x], (g) => [run(g, ' backward')]);
}
