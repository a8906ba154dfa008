// Farneback dense optical flow on the engine (OpenCV's calcOpticalFlowFarneback, optflowgf.cpp), and
// backward warping of images and label maps by a flow.
//
// The algorithm, per pyramid level from the coarsest to the full image, as OpenCV's CPU path does it:
// - the level image: the full frame blurred by a Gaussian of σ = (1/scale − 1)/2 (reflect-101 borders,
//   farneback_blur.wgsl) and resized bilinearly (engine resizeBilinear) to round(size·scale); levels
//   whose smaller side would fall under 32 px are dropped;
// - the polynomial expansion of both level images (two separable passes, farneback_poly_*.wgsl);
// - the flow starts at zero (coarsest level) or at the previous level's flow resized and divided by
//   pyrScale; then the per-pixel matrices (farneback_matrices.wgsl) are built from it, and `iterations`
//   times they are averaged over the window (box or Gaussian: the vertical pass in
//   farneback_window.wgsl, the horizontal one fused with the rest in farneback_update.wgsl), the 2×2
//   systems solved and the matrices rebuilt from the new flow.
// OpenCV interleaves the last two steps row by row, but each pixel's matrices depend on its own flow
// only, so whole-image passes give the same result. All arithmetic is f32 where OpenCV sums the window
// and solves in double; on the test pairs the two flows differ by about 1e-6 px on average.
// The flow is not differentiated: the kernels are plain dispatches, and the working buffers of a
// level are written in place and freed when the level is done.

import blurWgsl from '../shaders/farneback_blur.wgsl?raw';
import matricesWgsl from '../shaders/farneback_matrices.wgsl?raw';
import matricesFnWgsl from '../shaders/farneback_matrices_fn.wgsl?raw';
import polyHWgsl from '../shaders/farneback_poly_h.wgsl?raw';
import polyVWgsl from '../shaders/farneback_poly_v.wgsl?raw';
import updateWgsl from '../shaders/farneback_update.wgsl?raw';
import windowWgsl from '../shaders/farneback_window.wgsl?raw';
import warpBilinearWgsl from '../shaders/warp_bilinear.wgsl?raw';
import warpNearestWgsl from '../shaders/warp_nearest.wgsl?raw';
import type { Frame } from '../dataset/image.ts';
import { Tensor, affine, dispatch, kernel, permute, resizeBilinear, shapeStr, tensor, tidy, zeros } from '../engine/index.ts';

/** Farneback's parameters, named as OpenCV's (calcOpticalFlowFarneback / FarnebackOpticalFlow). */
export interface FarnebackOptions {
  /** Scale between pyramid levels, in (0, 1). */
  pyrScale?: number;
  /** Pyramid levels above the full image (fewer when a level would fall under 32 px). */
  levels?: number;
  /** Averaging window size (odd sizes are centred; OpenCV's rule is kept for even ones). */
  winsize?: number;
  /** Iterations at each level. */
  iterations?: number;
  /** Polynomial expansion neighbourhood: the fit uses pixels −polyN..polyN around each pixel (1..15). */
  polyN?: number;
  /** σ of the Gaussian applicability of the polynomial expansion. */
  polySigma?: number;
  /** Gaussian window (OPTFLOW_FARNEBACK_GAUSSIAN, σ = 0.3·⌊winsize/2⌋) instead of the box. */
  gaussian?: boolean;
}

/** OpenCV's FarnebackOpticalFlow::create defaults. */
export const FARNEBACK_DEFAULTS: Required<FarnebackOptions> = {
  pyrScale: 0.5,
  levels: 5,
  winsize: 13,
  iterations: 10,
  polyN: 5,
  polySigma: 1.1,
  gaussian: false,
};

const MIN_LEVEL_SIZE = 32;
const MAX_POLY_N = 15; // the poly kernels hold the taps in array<vec4<f32>, 4>
const MAX_LEVELS = 20;
const MAX_WINSIZE = 255;
const MAX_ITERATIONS = 100;

/** cvRound: to nearest, halves to even. */
function cvRound(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

export function checkFarnebackOptions(opts: FarnebackOptions): Required<FarnebackOptions> {
  const o = { ...FARNEBACK_DEFAULTS, ...opts };
  const int = (k: keyof FarnebackOptions, v: number, lo: number, hi = Infinity) => {
    if (!(Number.isInteger(v) && v >= lo && v <= hi)) throw new Error(`farneback: ${k} must be an integer in [${lo}, ${hi}], got ${v}`);
  };
  if (!(o.pyrScale > 0 && o.pyrScale < 1)) throw new Error(`farneback: pyrScale must be in (0, 1), got ${o.pyrScale}`);
  // Upper bounds far past any useful setting (OpenCV's samples use levels 3-5, winsize 13-15,
  // iterations 3-10), so that a typo cannot start hours of work.
  int('levels', o.levels, 0, MAX_LEVELS);
  int('winsize', o.winsize, 1, MAX_WINSIZE);
  int('iterations', o.iterations, 1, MAX_ITERATIONS);
  int('polyN', o.polyN, 1, MAX_POLY_N);
  if (!(o.polySigma > 0 && o.polySigma <= 10)) throw new Error(`farneback: polySigma must be in (0, 10], got ${o.polySigma}`);
  return o;
}

// ---- filters ----------------------------------------------------------------------------------------

/** The centre-first half (taps 0..⌊ksize/2⌋) of cv::getGaussianKernel(ksize, sigma) for sigma > 0, in double. */
function gaussianHalf(ksize: number, sigma: number): number[] {
  const c = (ksize - 1) / 2;
  const t = Array.from({ length: ksize }, (_, i) => Math.exp(-((i - c) ** 2) / (2 * sigma * sigma)));
  const s = t.reduce((a, b) => a + b, 0);
  return t.slice(Math.floor(c)).map((v) => v / s);
}

/** cv::GaussianBlur of img [H, W] with the half-kernel taps (reflect-101 borders): two passes of farneback_blur.wgsl. */
function gaussianBlur(img: Tensor, taps: Tensor): Tensor {
  const [h, w] = img.shape as [number, number];
  const k = kernel('farneback_blur', blurWgsl);
  const what = `farneback pyramid blur ${shapeStr(img.shape)}`;
  const tmp = Tensor.empty([h, w], 'f32', 'farneback');
  const out = Tensor.empty([h, w], 'f32', 'farneback');
  dispatch(k, [img, taps, tmp], { h, w, half: taps.size - 1, axis: 1 }, h * w, what);
  dispatch(k, [tmp, taps, out], { h, w, half: taps.size - 1, axis: 0 }, h * w, what);
  tmp.dispose();
  return out;
}

// ---- polynomial expansion ---------------------------------------------------------------------------

/**
 * The applicability g (normalised Gaussian of σ at −n..n, rounded to f32 as OpenCV stores it), x·g and
 * x²·g at x = 0..n, and the entries (1,1), (0,3), (3,3), (5,5) of the inverse of the 6×6 normal matrix
 * of the fit on the basis 1, x, y, x², y², xy (its sparsity makes these the only ones needed).
 */
function applicability(n: number, sigma: number) {
  const raw = Array.from({ length: n + 1 }, (_, x) => Math.exp(-(x * x) / (2 * sigma * sigma)));
  const s = raw[0]! + 2 * raw.slice(1).reduce((a, b) => a + b, 0);
  const g = raw.map((v) => Math.fround(v / s));
  const xg = g.map((v, x) => Math.fround(x * v));
  const xxg = g.map((v, x) => Math.fround(x * x * v));
  // Σ over the (2n+1)² window of g(y)g(x)·(1, x², x⁴, x²y²).
  let g00 = 0, g11 = 0, g33 = 0, g55 = 0;
  for (let y = -n; y <= n; y++) {
    for (let x = -n; x <= n; x++) {
      const w = g[Math.abs(y)]! * g[Math.abs(x)]!;
      g00 += w;
      g11 += w * x * x;
      g33 += w * x ** 4;
      g55 += w * x * x * y * y;
    }
  }
  // The block of basis functions 1, x², y²: [[g00, g11, g11], [g11, g33, g55], [g11, g55, g33]].
  const det = g00 * (g33 * g33 - g55 * g55) - g11 * (g11 * g33 - g55 * g11) + g11 * (g11 * g55 - g33 * g11);
  const ig03 = -(g11 * g33 - g11 * g55) / det;
  const ig33 = (g00 * g33 - g11 * g11) / det;
  const pack = (v: number[]) => Array.from({ length: 16 }, (_, i) => v[i] ?? 0);
  return { g: pack(g), xg: pack(xg), xxg: pack(xxg), ig: [1 / g11, ig03, ig33, 1 / g55] };
}

/**
 * Farneback's polynomial expansion of a gray image [H, W] (f32): planes [5, H, W] holding the
 * coefficients of y, x, y², x², xy of the local weighted least-squares quadratic fit over −n..n
 * (Gaussian applicability of σ `sigma`, borders replicated), in OpenCV's order.
 */
export function polyExpansion(img: Tensor, n: number, sigma: number): Tensor {
  const what = `polyExpansion ${shapeStr(img.shape)} (n ${n}, σ ${sigma})`;
  if (img.rank !== 2 || img.dtype !== 'f32') throw new Error(`${what}: expected an [H, W] f32 image, got ${img}`);
  if (!(Number.isInteger(n) && n >= 1 && n <= MAX_POLY_N)) throw new Error(`${what}: n must be an integer in [1, ${MAX_POLY_N}]`);
  if (!(sigma > 0 && Number.isFinite(sigma))) throw new Error(`${what}: sigma must be > 0`);
  const [h, w] = img.shape as [number, number];
  const a = applicability(n, sigma);
  const moments = Tensor.empty([3, h, w], 'f32', 'polyExpansion');
  const out = Tensor.empty([5, h, w], 'f32', 'polyExpansion');
  const u = { h, w, n, g: a.g, xg: a.xg, xxg: a.xxg };
  dispatch(kernel('farneback_poly_v', polyVWgsl), [img, moments], u, h * w, what);
  dispatch(kernel('farneback_poly_h', polyHWgsl), [moments, out], { ...u, ig: a.ig }, h * w, what);
  moments.dispose();
  return out;
}

// ---- Farneback --------------------------------------------------------------------------------------

/** A pyramid level: the full image pre-blurred for the level's scale and resized to its size. */
function levelImage(img: Tensor, k: number, scale: number, size: [number, number]): Tensor {
  const [h, w] = img.shape as [number, number];
  // σ = (1/scale − 1)/2 and ksize = max(round(5σ) | 1, 3) as OpenCV; at the full level σ = 0, for which
  // cv::GaussianBlur uses its fixed 3-tap kernel.
  const sigma = (1 / scale - 1) * 0.5;
  const ksize = Math.max(cvRound(sigma * 5) | 1, 3);
  const taps = tensor(k === 0 ? [0.5, 0.25] : gaussianHalf(ksize, sigma), undefined, 'f32');
  const blurred = gaussianBlur(img, taps);
  if (size[0] === h && size[1] === w) return blurred;
  return resizeBilinear(blurred.view([1, 1, h, w]), size).view(size);
}

/**
 * Dense optical flow from `prev` to `next` by Farneback's algorithm with OpenCV's parameters and
 * defaults. Both are gray images [H, W], f32, with values in [0, 255] as 8-bit images converted by
 * OpenCV (the solver's regulariser makes the result depend on the intensity scale, so [0, 1] images
 * would give a different, over-regularised flow). Returns [H, W, 2] (fx, fy) with
 * prev(y, x) ≈ next(y + fy, x + fx).
 */
export function farneback(prev: Tensor, next: Tensor, opts: FarnebackOptions = {}): Tensor {
  const o = checkFarnebackOptions(opts);
  for (const [name, t] of [['prev', prev], ['next', next]] as const) {
    if (t.rank !== 2 || t.dtype !== 'f32') throw new Error(`farneback: ${name} must be an [H, W] f32 gray image, got ${t}`);
  }
  if (prev.shape[0] !== next.shape[0] || prev.shape[1] !== next.shape[1]) {
    throw new Error(`farneback: prev ${shapeStr(prev.shape)} and next ${shapeStr(next.shape)} differ in size`);
  }
  const [h, w] = prev.shape as [number, number];
  if (h === 0 || w === 0) throw new Error(`farneback: empty image ${shapeStr(prev.shape)}`);
  let levels = 0;
  for (let scale = o.pyrScale; levels < o.levels && w * scale >= MIN_LEVEL_SIZE && h * scale >= MIN_LEVEL_SIZE; levels++) scale *= o.pyrScale;

  const m = Math.floor(o.winsize / 2);
  const window = tensor(o.gaussian && m > 0 ? gaussianHalf(2 * m + 1, m * 0.3) : new Array(m + 1).fill(1 / o.winsize), undefined, 'f32');
  let flow: Tensor | undefined; // planes [2, h, w] (dx, dy) of the last level done
  for (let k = levels; k >= 0; k--) {
    let scale = 1;
    for (let i = 0; i < k; i++) scale *= o.pyrScale;
    const size: [number, number] = [cvRound(h * scale), cvRound(w * scale)];
    const before = flow;
    flow = tidy(() => {
      const [lh, lw] = size;
      const r0 = polyExpansion(levelImage(prev, k, scale, size), o.polyN, o.polySigma);
      const r1 = polyExpansion(levelImage(next, k, scale, size), o.polyN, o.polySigma);
      const f = before
        ? affine(resizeBilinear(before.view([1, 2, before.shape[1]!, before.shape[2]!]), size), 1 / o.pyrScale).view([2, lh, lw])
        : zeros([2, lh, lw]);
      const mat = Tensor.empty([5, lh, lw], 'f32', 'farneback');
      const vert = Tensor.empty([5, lh, lw], 'f32', 'farneback');
      const what = `farneback level ${k} [${lh},${lw}]`;
      const pixels = lh * lw;
      dispatch(kernel('farneback_matrices', matricesWgsl, { MATRICES: matricesFnWgsl }), [r0, r1, f, mat], { h: lh, w: lw }, pixels, what);
      const windowKernel = kernel('farneback_window', windowWgsl);
      const update = kernel('farneback_update', updateWgsl, { MATRICES: matricesFnWgsl });
      for (let it = 0; it < o.iterations; it++) {
        dispatch(windowKernel, [mat, window, vert], { h: lh, w: lw, half: m }, pixels, what);
        const u = { h: lh, w: lw, half: m, update: it < o.iterations - 1 ? 1 : 0 };
        dispatch(update, [vert, window, r0, r1, f, mat], u, pixels, what);
      }
      return f;
    });
    before?.dispose();
  }
  window.dispose();
  const out = permute(flow!, [1, 2, 0]);
  flow!.dispose();
  return out;
}

/**
 * Gray levels [H, W] (f32, integers 0..255) of an RGB frame exactly as OpenCV's cvtColor(RGB2GRAY) on
 * 8-bit images: 0.299R + 0.587G + 0.114B in its 15-bit fixed point (9798, 19235, 3735), rounded.
 */
export function toGray(frame: Frame): Tensor {
  const n = frame.width * frame.height;
  if (frame.rgb.length !== 3 * n) throw new Error(`toGray: ${frame.rgb.length} bytes for a ${frame.width}×${frame.height} RGB frame`);
  const g = new Float32Array(n);
  for (let i = 0; i < n; i++) g[i] = (frame.rgb[3 * i]! * 9798 + frame.rgb[3 * i + 1]! * 19235 + frame.rgb[3 * i + 2]! * 3735 + 16384) >> 15;
  return tensor(g, [frame.height, frame.width]);
}

// ---- warping ----------------------------------------------------------------------------------------

function checkWarp(op: string, x: Tensor, flow: Tensor, ranks: number[], dtype: string): [number, number] {
  const what = `${op} ${shapeStr(x.shape)} by flow ${shapeStr(flow.shape)}`;
  if (flow.rank !== 3 || flow.shape[2] !== 2 || flow.dtype !== 'f32') throw new Error(`${what}: flow must be [H, W, 2] f32, got ${flow}`);
  if (!ranks.includes(x.rank)) throw new Error(`${what}: expected rank ${ranks.join(' or ')}, got ${x.rank}`);
  if (x.dtype !== dtype) throw new Error(`${what}: expected ${dtype}, got ${x.dtype}`);
  const [h, w] = x.shape.slice(-2) as [number, number];
  if (h !== flow.shape[0] || w !== flow.shape[1]) throw new Error(`${what}: the image is ${h}×${w}, the flow ${flow.shape[0]}×${flow.shape[1]}`);
  return [h, w];
}

/**
 * Backward warping, bilinear: out(y, x) = img(y + fy, x + fx) for every plane of img [C, H, W] or
 * [B, C, H, W] (f32), with flow [H, W, 2]. With flow = farneback(A, B), warpImage(B, flow) ≈ A.
 * Samples outside the frame take the nearest edge pixel, or `fill` when it is given (as cv::remap with
 * BORDER_REPLICATE or BORDER_CONSTANT).
 */
export function warpImage(img: Tensor, flow: Tensor, fill?: number): Tensor {
  const [h, w] = checkWarp('warpImage', img, flow, [3, 4], 'f32');
  const out = Tensor.empty(img.shape, 'f32', 'warpImage');
  const u = { total: img.size, h, w, mode: fill === undefined ? 0 : 1, fill: fill ?? 0 };
  dispatch(kernel('warp_bilinear', warpBilinearWgsl), [img, flow, out], u, img.size, `warpImage ${shapeStr(img.shape)}`);
  return out;
}

/**
 * Backward warping of label maps [H, W] or [N, H, W] (i32), nearest: out(y, x) = labels at
 * (y + fy, x + fx) rounded (halves up). Sources outside the frame take the nearest edge pixel's label,
 * or `fill` (an integer, e.g. an ignore label) when it is given.
 */
export function warpLabels(labels: Tensor, flow: Tensor, fill?: number): Tensor {
  const [h, w] = checkWarp('warpLabels', labels, flow, [2, 3], 'i32');
  if (fill !== undefined && !(Number.isInteger(fill) && Math.abs(fill) < 2 ** 31)) throw new Error(`warpLabels: fill must be an i32 integer, got ${fill}`);
  const out = Tensor.empty(labels.shape, 'i32', 'warpLabels');
  const u = { total: labels.size, h, w, mode: fill === undefined ? 0 : 1, fill: fill ?? 0 };
  dispatch(kernel('warp_nearest', warpNearestWgsl), [labels, flow, out], u, labels.size, `warpLabels ${shapeStr(labels.shape)}`);
  return out;
}
