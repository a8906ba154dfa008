// SSIM (Wang et al. 2004) on the engine, as scikit-image's structural_similarity with
// gaussian_weights=True, sigma=1.5, use_sample_covariance=False and data_range=L (docs/METHODS.md §6):
// an 11×11 Gaussian window (σ = 1.5, truncated at 3.5σ → radius 5), population (co)variances,
// C1 = (0.01L)², C2 = (0.03L)²; for [C, H, W] inputs the mean is over channels (and pixels).
//
// Borders: skimage filters the whole image with mirrored edges and then crops (11 − 1)/2 = 5 pixels
// from each side before averaging, so every pixel it averages has its whole window inside the image.
// Here the filter is a valid convolution (no padding): it computes exactly those pixels and no
// others, so the map is [H − 10, W − 10] and the mean equals skimage's. Images need H, W ≥ 11, as in
// skimage (which raises for smaller ones).
//
// Built from differentiable engine ops (usable as a loss): x, y, x², y², xy stacked as one batch of
// planes and blurred by two 1-D convolutions (11×1 then 1×11, the separable Gaussian). Variances are
// E[x²] − E[x]², which loses digits in f32 when the mean is large next to the spread (values up to
// 255: E[x²] ≈ 6.5e4); both images are therefore shifted by the per-channel mean of (x + y)/2 first
// (on bright, nearly flat 20×20 images that took the largest error against float64 from 4e-4 to 3e-7).
// SSIM does not depend on the shift (the variance terms are shift-invariant and the means get it
// back), so it is a constant outside the graph, and being symmetric in x and y it keeps
// ssim(a, b) = ssim(b, a) exact.
import { add, affine, concat, conv2d, div, isGradEnabled, mean, mul, noGrad, reshape, shapeStr, slice, sub, tensor, tidy, type Tensor } from '../engine/index.ts';

const SIGMA = 1.5;
const RADIUS = 5; // int(3.5·σ + 0.5): skimage's truncate = 3.5 gives the 11-pixel window
const WIN = 2 * RADIUS + 1;

/** The 1-D Gaussian taps exp(−d²/2σ²), d = −5…5, normalised to sum 1 (scipy's gaussian_filter1d). */
const TAPS = (() => {
  const w = Array.from({ length: WIN }, (_, k) => Math.exp(-((k - RADIUS) ** 2) / (2 * SIGMA * SIGMA)));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
})();

export interface SsimOptions {
  /** L, the dynamic range of the values (max − min possible): 255 for 8-bit images (default), 1 for [0, 1]. */
  dataRange?: number;
}

function check(a: Tensor, b: Tensor, dataRange: number): [number, number, number] {
  const what = `ssim ${shapeStr(a.shape)} ${shapeStr(b.shape)}`;
  if (a.dtype !== 'f32' || b.dtype !== 'f32') throw new Error(`${what}: expected f32 tensors, got ${a.dtype} and ${b.dtype}`);
  if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) throw new Error(`${what}: the images must have the same shape`);
  if (a.rank !== 2 && a.rank !== 3) throw new Error(`${what}: expected [H, W] or [C, H, W] images`);
  const [c, h, w] = a.rank === 2 ? [1, a.shape[0]!, a.shape[1]!] : (a.shape as [number, number, number]);
  if (h < WIN || w < WIN) throw new Error(`${what}: images must be at least ${WIN}×${WIN} (the Gaussian window), got ${h}×${w}`);
  if (c < 1) throw new Error(`${what}: no channels`);
  if (!(Number.isFinite(dataRange) && dataRange > 0)) throw new Error(`${what}: dataRange must be a positive number, got ${dataRange}`);
  return [c, h, w];
}

/**
 * The SSIM map of images a, b ([H, W] or [C, H, W], f32) over the pixels whose 11×11 window lies
 * inside the image: [H − 10, W − 10] (or [C, H − 10, W − 10]). Differentiable in a and b.
 */
export function ssimMap(a: Tensor, b: Tensor, opts: SsimOptions = {}): Tensor {
  const L = opts.dataRange ?? 255;
  const [c, h, w] = check(a, b, L);
  const c1 = (0.01 * L) ** 2;
  const c2 = (0.03 * L) ** 2;
  const oh = h - 2 * RADIUS;
  const ow = w - 2 * RADIUS;
  const run = () => {
    const x = reshape(a, [c, 1, h, w]);
    const y = reshape(b, [c, 1, h, w]);
    const shift = noGrad(() => tidy(() => affine(mean(add(x, y), [1, 2, 3], true), 0.5))); // [c, 1, 1, 1]
    const xs = sub(x, shift);
    const ys = sub(y, shift);
    const planes = reshape(concat([xs, ys, mul(xs, xs), mul(ys, ys), mul(xs, ys)], 1), [5 * c, 1, h, w]);
    const vertical = tensor(TAPS, [1, 1, WIN, 1]);
    const horizontal = tensor(TAPS, [1, 1, 1, WIN]);
    const blurred = reshape(conv2d(conv2d(planes, vertical), horizontal), [c, 5, oh, ow]);
    const stat = (k: number) => slice(blurred, [0, k], [c, k + 1]); // [c, 1, oh, ow]
    const [bx, by, bxx, byy, bxy] = [0, 1, 2, 3, 4].map(stat) as [Tensor, Tensor, Tensor, Tensor, Tensor];
    const vx = sub(bxx, mul(bx, bx));
    const vy = sub(byy, mul(by, by));
    const vxy = sub(bxy, mul(bx, by));
    const mx = add(bx, shift);
    const my = add(by, shift);
    const num = mul(add(affine(mul(mx, my), 2), c1), add(affine(vxy, 2), c2));
    const den = mul(add(add(mul(mx, mx), mul(my, my)), c1), add(add(vx, vy), c2));
    return reshape(div(num, den), a.rank === 2 ? [oh, ow] : [c, oh, ow]);
  };
  // Intermediates are released here unless autograd keeps them for the backward pass.
  return isGradEnabled() && (a.requiresGrad || b.requiresGrad) ? run() : tidy(run);
}

/** Mean SSIM of a and b ([H, W] or [C, H, W], f32): a scalar tensor (shape []), differentiable. */
export function ssim(a: Tensor, b: Tensor, opts: SsimOptions = {}): Tensor {
  const run = () => mean(ssimMap(a, b, opts));
  return isGradEnabled() && (a.requiresGrad || b.requiresGrad) ? run() : tidy(run);
}
