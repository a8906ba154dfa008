// float64 reference for eval/ssim.ts: mean SSIM as scikit-image's structural_similarity with
// gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=L (Wang et al. 2004):
// - the local statistics are scipy.ndimage.gaussian_filter(·, σ = 1.5, truncate = 3.5, mode='reflect')
//   of x, y, x², y², xy: an 11-tap kernel exp(−d²/2σ²) (d = −5…5) normalised to sum 1, along each axis,
//   with the image mirrored at its edges (d c b a | a b c d | d c b a);
// - S = (2·μx·μy + C1)(2·σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)), σ² = E[x²] − μ², C1 = (0.01L)²,
//   C2 = (0.03L)²;
// - the map is cropped by (11 − 1)/2 = 5 pixels on each side and averaged; for [C, H, W] the mean is
//   over channels of the per-channel means.
// Computed here on the full image (mirror included) and cropped afterwards, as skimage does; the engine
// version filters only the valid region, so this also checks that the crop removes every mirrored tap.
import { nd, type Nd } from './nd.ts';

const SIGMA = 1.5;
const RADIUS = 5;

const taps = (() => {
  const w = Array.from({ length: 2 * RADIUS + 1 }, (_, k) => Math.exp(-((k - RADIUS) ** 2) / (2 * SIGMA * SIGMA)));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
})();

/** scipy's 'reflect' index: −1 → 0, −2 → 1, n → n − 1, n + 1 → n − 2. */
function mirror(i: number, n: number): number {
  while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
  return i;
}

/** Separable Gaussian filter of one h×w plane (rows then columns). */
function gaussian(p: Float64Array, h: number, w: number): Float64Array {
  const rows = new Float64Array(h * w);
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let k = -RADIUS; k <= RADIUS; k++) s += taps[k + RADIUS]! * p[y * w + mirror(x + k, w)]!;
      rows[y * w + x] = s;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let k = -RADIUS; k <= RADIUS; k++) s += taps[k + RADIUS]! * rows[mirror(y + k, h) * w + x]!;
      out[y * w + x] = s;
    }
  }
  return out;
}

/** The cropped SSIM map: [H − 10, W − 10] for [H, W] inputs, [C, H − 10, W − 10] for [C, H, W]. */
export function ssimMapRef(a: Nd, b: Nd, dataRange: number): Nd {
  const [c, h, w] = a.shape.length === 2 ? [1, a.shape[0]!, a.shape[1]!] : (a.shape as [number, number, number]);
  const c1 = (0.01 * dataRange) ** 2;
  const c2 = (0.03 * dataRange) ** 2;
  const oh = h - 2 * RADIUS;
  const ow = w - 2 * RADIUS;
  const out: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    const x = a.data.subarray(ch * h * w, (ch + 1) * h * w);
    const y = b.data.subarray(ch * h * w, (ch + 1) * h * w);
    const f = (g: (i: number) => number) => gaussian(Float64Array.from({ length: h * w }, (_, i) => g(i)), h, w);
    const ux = f((i) => x[i]!);
    const uy = f((i) => y[i]!);
    const uxx = f((i) => x[i]! * x[i]!);
    const uyy = f((i) => y[i]! * y[i]!);
    const uxy = f((i) => x[i]! * y[i]!);
    for (let r = RADIUS; r < h - RADIUS; r++) {
      for (let s = RADIUS; s < w - RADIUS; s++) {
        const i = r * w + s;
        const vx = uxx[i]! - ux[i]! * ux[i]!;
        const vy = uyy[i]! - uy[i]! * uy[i]!;
        const vxy = uxy[i]! - ux[i]! * uy[i]!;
        out.push(((2 * ux[i]! * uy[i]! + c1) * (2 * vxy + c2)) / ((ux[i]! ** 2 + uy[i]! ** 2 + c1) * (vx + vy + c2)));
      }
    }
  }
  return nd(a.shape.length === 2 ? [oh, ow] : [c, oh, ow], out);
}

/** Mean SSIM (a scalar, shape []). */
export function ssimRef(a: Nd, b: Nd, dataRange: number): Nd {
  const m = ssimMapRef(a, b, dataRange);
  return nd([], [m.data.reduce((s, v) => s + v, 0) / m.data.length]);
}
