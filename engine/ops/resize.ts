// Spatial resizing of NCHW tensors to a given size, as torch.nn.functional.interpolate with
// align_corners = false: bilinear (f32) and nearest (f32, and i32/u32 label maps).
//
// Coordinates follow PyTorch's formulas with scale = in / out (shaders/resize_coord.wgsl):
// - bilinear: src = max((dst + 0.5)·scale − 0.5, 0), blending samples ⌊src⌋ and ⌊src⌋ + 1 (clamped);
// - 'nearest' (PyTorch's default mode, which is not centred): src = min(⌊dst·scale⌋, in − 1);
// - 'nearest-exact' (centred, like PIL and OpenCV): src = min(⌊(dst + 0.5)·scale⌋, in − 1).
// scale is rounded to f32 and the products are f32, as in PyTorch's CPU kernels, so nearest picks the
// same pixels as PyTorch exactly. Gradients are gathers (shaders/resize_grad.wgsl): one invocation per
// input pixel sums over the few outputs that read it, so no atomics are needed.

import argmaxWgsl from '../../shaders/resize_argmax.wgsl?raw';
import bilinearWgsl from '../../shaders/resize_bilinear.wgsl?raw';
import coordWgsl from '../../shaders/resize_coord.wgsl?raw';
import gradWgsl from '../../shaders/resize_grad.wgsl?raw';
import nearestWgsl from '../../shaders/resize_nearest.wgsl?raw';
import scoreWgsl from '../../shaders/resize_score.wgsl?raw';
import softmaxStatsWgsl from '../../shaders/resize_softmax_stats.wgsl?raw';
import { record } from '../autograd.ts';
import { dispatch, kernel } from '../kernel.ts';
import { Tensor, shapeStr } from '../tensor.ts';

export type NearestMode = 'nearest' | 'nearest-exact';

/** Checks x and size; returns the output shape and the uniforms every resize kernel takes. */
function plan(op: string, x: Tensor, size: readonly number[]) {
  const what = `${op} ${shapeStr(x.shape)} → [${size.join(',')}]`;
  if (x.rank !== 4) throw new Error(`${what}: input must be [N, C, H, W]`);
  if (size.length !== 2 || size.some((d) => !Number.isInteger(d) || d < 1)) throw new Error(`${what}: size must be two integers ≥ 1 [outH, outW]`);
  const [n, c, ih, iw] = x.shape as [number, number, number, number];
  if (ih < 1 || iw < 1) throw new Error(`${what}: cannot resize an empty image`);
  const [oh, ow] = size as [number, number];
  const u = { ih, iw, oh, ow, sy: Math.fround(ih / oh), sx: Math.fround(iw / ow) };
  return { what, shape: [n, c, oh, ow], u };
}

type Plan = ReturnType<typeof plan>;

function gradient(mode: 'nearest_weight' | 'bilinear_weight', g: Tensor, x: Tensor, pl: Plan, off: number): Tensor {
  const gx = Tensor.empty(x.shape, 'f32', 'resize_grad');
  const k = kernel(`resize_grad_${mode}`, gradWgsl, { COORD: coordWgsl, WEIGHT: mode });
  const u = { ...pl.u, total: gx.size, inv_y: pl.u.oh / pl.u.ih, inv_x: pl.u.ow / pl.u.iw, off };
  dispatch(k, [g, gx], u, gx.size, `${pl.what} (gradient)`);
  return gx;
}

/** Bilinear resize of x [N, C, H, W] (f32) to [N, C, outH, outW], as F.interpolate(mode='bilinear', align_corners=False). */
export function resizeBilinear(x: Tensor, size: readonly [number, number]): Tensor {
  const pl = plan('resizeBilinear', x, size);
  if (x.dtype !== 'f32') throw new Error(`${pl.what}: expected f32, got ${x.dtype} (resize labels with resizeNearest)`);
  const out = Tensor.empty(pl.shape, 'f32', 'resizeBilinear');
  dispatch(kernel('resize_bilinear', bilinearWgsl, { COORD: coordWgsl, SCORE: scoreWgsl }), [x, out], { ...pl.u, total: out.size }, out.size, pl.what);
  return record(out, 'resizeBilinear', [x], (g) => [gradient('bilinear_weight', g, x, pl, 0)]);
}

/**
 * Nearest-neighbour resize of x [N, C, H, W] to [N, C, outH, outW], as F.interpolate(mode='nearest')
 * (the default: src = ⌊dst·in/out⌋) or mode='nearest-exact' (src = ⌊(dst + 0.5)·in/out⌋). Works on
 * f32 (differentiable) and on i32/u32 label maps.
 */
export function resizeNearest(x: Tensor, size: readonly [number, number], mode: NearestMode = 'nearest'): Tensor {
  const pl = plan('resizeNearest', x, size);
  if (mode !== 'nearest' && mode !== 'nearest-exact') throw new Error(`${pl.what}: mode '${mode as string}' must be 'nearest' or 'nearest-exact'`);
  const off = mode === 'nearest' ? 0 : 0.5;
  const out = Tensor.empty(pl.shape, x.dtype, 'resizeNearest');
  dispatch(kernel('resize_nearest', nearestWgsl, { T: x.dtype, COORD: coordWgsl }), [x, out], { ...pl.u, total: out.size, off }, out.size, pl.what);
  return record(out, 'resizeNearest', [x], (g) => [gradient('nearest_weight', g, x, pl, off)]);
}

/**
 * argmax over classes of resizeBilinear(x, size), without storing the resized scores: x [N, K, h, w]
 * (f32) → ids [N, outH, outW] (i32, the lower class at ties) and max [N, outH, outW] (the interpolated
 * score of that class: the confidence when x holds probabilities). Inference reduces class scores
 * this way before they reach a frame's size, where [N, K, H, W] can exceed a binding (VSPW: 124
 * classes at 480p is 203 MB a frame). Not differentiable.
 */
export function resizeArgmax(x: Tensor, size: readonly [number, number]): { ids: Tensor; max: Tensor } {
  const pl = plan('resizeArgmax', x, size);
  if (x.dtype !== 'f32') throw new Error(`${pl.what}: expected f32 class scores, got ${x.dtype}`);
  const [n, k, oh, ow] = pl.shape as [number, number, number, number];
  if (k < 1) throw new Error(`${pl.what}: no classes to choose from`);
  const ids = Tensor.empty([n, oh, ow], 'i32', 'resizeArgmax');
  const max = Tensor.empty([n, oh, ow], 'f32', 'resizeArgmax');
  dispatch(kernel('resize_argmax', argmaxWgsl, { COORD: coordWgsl, SCORE: scoreWgsl }), [x, ids, max], { ...pl.u, total: ids.size, k }, ids.size, pl.what);
  return { ids, max };
}

/**
 * What pseudo-labels need from class scores x [N, K, h, w] (f32) at size [outH, outW], without storing
 * the upsampled scores or their softmax (shaders/resize_softmax_stats.wgsl): per output pixel, with
 * z = resizeBilinear(x, size) and p = softmax(z) over the classes, ids = argmax z (i32, the lower class
 * at ties), maxProb = max p, entropy = −Σ p log(p + 1e-10) (U2PL's, in nats). Not differentiable.
 */
export function resizeSoftmaxStats(x: Tensor, size: readonly [number, number]): { ids: Tensor; maxProb: Tensor; entropy: Tensor } {
  const pl = plan('resizeSoftmaxStats', x, size);
  if (x.dtype !== 'f32') throw new Error(`${pl.what}: expected f32 class scores, got ${x.dtype}`);
  const [n, k, oh, ow] = pl.shape as [number, number, number, number];
  if (k < 1) throw new Error(`${pl.what}: no classes`);
  const ids = Tensor.empty([n, oh, ow], 'i32', 'resizeSoftmaxStats');
  const maxProb = Tensor.empty([n, oh, ow], 'f32', 'resizeSoftmaxStats');
  const entropy = Tensor.empty([n, oh, ow], 'f32', 'resizeSoftmaxStats');
  dispatch(kernel('resize_softmax_stats', softmaxStatsWgsl, { COORD: coordWgsl, SCORE: scoreWgsl }), [x, ids, maxProb, entropy], { ...pl.u, total: ids.size, k }, ids.size, pl.what);
  return { ids, maxProb, entropy };
}
