// References for eval/flow.ts:
// - polyExpansionRef: Farneback's polynomial expansion from its definition, in float64: at each pixel the
//   quadratic I ≈ r1 + r2·x + r3·y + r4·x² + r5·y² + r6·xy fitted by weighted least squares over the
//   (2n+1)² neighbourhood (weights g(x)·g(y), g a Gaussian of σ; pixels outside replicate the edge),
//   by solving the 6×6 normal equations directly;
// - warpBilinearRef / warpNearestRef: backward warping from its formula;
// - motionPair: textured frame pairs with known motion (translation, zoom, rotation), rendered from an
//   analytic texture so the true flow is exact, not an artefact of resampling;
// - openCV / cvFarneback: OpenCV's own Farneback (opencv.js, @techstark/opencv-js) as the reference
//   implementation for the flow itself (also used by bench/flow.ts).
import { createRequire } from 'node:module';
import { makeRng } from '../../dataset/rng.ts';
import type { FarnebackOptions } from '../../eval/flow.ts';
import { nd, type Nd } from './nd.ts';

/** Solves the n×n system A·x = b (Gaussian elimination with partial pivoting; A and b are overwritten). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[p]![c]!)) p = r;
    [A[c], A[p]] = [A[p]!, A[c]!];
    [b[c], b[p]] = [b[p]!, b[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = A[r]![c]! / A[c]![c]!;
      for (let k = c; k < n; k++) A[r]![k]! -= f * A[c]![k]!;
      b[r]! -= f * b[c]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let k = r + 1; k < n; k++) s -= A[r]![k]! * x[k]!;
    x[r] = s / A[r]![r]!;
  }
  return x;
}

/** img [H, W] → [5, H, W]: the fitted coefficients of y, x, y², x², xy (OpenCV's channel order). */
export function polyExpansionRef(img: Nd, n: number, sigma: number): Nd {
  const [H, W] = img.shape as [number, number];
  const g = (t: number) => Math.exp(-(t * t) / (2 * sigma * sigma));
  let s = 0;
  for (let t = -n; t <= n; t++) s += g(t);
  const out = nd([5, H, W]);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const A = Array.from({ length: 6 }, () => new Array<number>(6).fill(0));
      const b = new Array<number>(6).fill(0);
      for (let dy = -n; dy <= n; dy++) {
        for (let dx = -n; dx <= n; dx++) {
          const w = (g(dx) / s) * (g(dy) / s);
          const v = img.data[Math.min(Math.max(y + dy, 0), H - 1) * W + Math.min(Math.max(x + dx, 0), W - 1)]!;
          const basis = [1, dx, dy, dx * dx, dy * dy, dx * dy];
          for (let i = 0; i < 6; i++) {
            b[i]! += w * basis[i]! * v;
            for (let j = 0; j < 6; j++) A[i]![j]! += w * basis[i]! * basis[j]!;
          }
        }
      }
      const r = solve(A, b); // r1 .. r6
      [r[2], r[1], r[4], r[3], r[5]].forEach((c, k) => (out.data[(k * H + y) * W + x] = c!));
    }
  }
  return out;
}

/** The flow vector (fx, fy) at pixel j of a [H, W, 2] flow. */
const at = (flow: Nd, j: number): [number, number] => [flow.data[2 * j]!, flow.data[2 * j + 1]!];

/**
 * x [..., H, W] sampled at (y + fy, x + fx), bilinear; taps outside the frame read the nearest edge
 * pixel, or `fill` when given.
 */
export function warpBilinearRef(x: Nd, flow: Nd, fill?: number): Nd {
  const [H, W] = x.shape.slice(-2) as [number, number];
  const tap = (base: number, yy: number, xx: number) =>
    fill !== undefined && (xx < 0 || xx >= W || yy < 0 || yy >= H) ? fill : x.data[base + Math.min(Math.max(yy, 0), H - 1) * W + Math.min(Math.max(xx, 0), W - 1)]!;
  return nd(x.shape, (i) => {
    const j = i % (H * W);
    const base = i - j;
    const [fx, fy] = at(flow, j);
    const sx = (j % W) + fx;
    const sy = Math.floor(j / W) + fy;
    const x0 = Math.floor(sx), y0 = Math.floor(sy);
    const ax = sx - x0, ay = sy - y0;
    return (
      (1 - ay) * ((1 - ax) * tap(base, y0, x0) + ax * tap(base, y0, x0 + 1)) + ay * ((1 - ax) * tap(base, y0 + 1, x0) + ax * tap(base, y0 + 1, x0 + 1))
    );
  });
}

/**
 * labels [..., H, W] at (round(y + fy), round(x + fx)), halves up; outside: the nearest edge pixel, or
 * `fill`. The position is rounded to f32 as the kernel computes it: the pick jumps at halves, so a
 * float64 sum could land on the other side of one.
 */
export function warpNearestRef(labels: Nd, flow: Nd, fill?: number): Nd {
  const [H, W] = labels.shape.slice(-2) as [number, number];
  const round = (c: number, f: number) => Math.floor(Math.fround(Math.fround(c + f) + 0.5));
  return nd(labels.shape, (i) => {
    const j = i % (H * W);
    const [fx, fy] = at(flow, j);
    const sx = round(j % W, fx);
    const sy = round(Math.floor(j / W), fy);
    if (fill !== undefined && (sx < 0 || sx >= W || sy < 0 || sy >= H)) return fill;
    return labels.data[i - j + Math.min(Math.max(sy, 0), H - 1) * W + Math.min(Math.max(sx, 0), W - 1)]!;
  });
}

// ---- frame pairs with known motion --------------------------------------------------------------------

export type Motion = { kind: 'translate'; dx: number; dy: number } | { kind: 'zoom'; s: number } | { kind: 'rotate'; deg: number };

export interface MotionPair {
  width: number;
  height: number;
  /** 8-bit gray frames, row-major. */
  a: Uint8Array;
  b: Uint8Array;
  /** The true flow from a to b, [H, W, 2] (fx, fy): a(y, x) = b(y + fy, x + fx) up to 8-bit rounding. */
  truth: Float32Array;
}

/**
 * A smooth random texture t (a sum of plane waves of wavelengths 7–28 px plus Gaussian blobs), with
 * b(p) = t(p) and a(p) = t(S(p)) for the motion's map S about the frame centre, so the flow is S(p) − p.
 */
export function motionPair(width: number, height: number, motion: Motion, seed = 1): MotionPair {
  const rng = makeRng(seed);
  const waves = Array.from({ length: 10 }, () => {
    const ang = rng.range(0, Math.PI), k = (2 * Math.PI) / rng.range(7, 28);
    return { kx: k * Math.cos(ang), ky: k * Math.sin(ang), ph: rng.range(0, 2 * Math.PI), amp: rng.range(0.5, 1) };
  });
  const blobs = Array.from({ length: 25 }, () => ({ x: rng.range(-20, width + 20), y: rng.range(-20, height + 20), r: rng.range(3, 10), amp: rng.range(-2, 2) }));
  const t = (x: number, y: number) => {
    let v = 0;
    for (const w of waves) v += w.amp * Math.sin(w.kx * x + w.ky * y + w.ph);
    for (const b of blobs) v += b.amp * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.r * b.r));
    return Math.min(255, Math.max(0, Math.round(128 + 22 * v)));
  };
  const cx = (width - 1) / 2, cy = (height - 1) / 2;
  const map = (x: number, y: number): [number, number] => {
    if (motion.kind === 'translate') return [x + motion.dx, y + motion.dy];
    if (motion.kind === 'zoom') return [cx + motion.s * (x - cx), cy + motion.s * (y - cy)];
    const r = (motion.deg * Math.PI) / 180, c = Math.cos(r), s = Math.sin(r);
    return [cx + c * (x - cx) - s * (y - cy), cy + s * (x - cx) + c * (y - cy)];
  };
  const n = width * height;
  const a = new Uint8Array(n), b = new Uint8Array(n), truth = new Float32Array(2 * n);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const [sx, sy] = map(x, y);
      a[i] = t(sx, sy);
      b[i] = t(x, y);
      truth[2 * i] = sx - x;
      truth[2 * i + 1] = sy - y;
    }
  }
  return { width, height, a, b, truth };
}

// ---- OpenCV --------------------------------------------------------------------------------------------

/** The few parts of opencv.js used here. */
interface CvMat {
  data: Uint8Array;
  data32F: Float32Array;
  delete(): void;
}
interface OpenCV {
  Mat: new (...args: unknown[]) => CvMat;
  CV_8UC1: number;
  CV_8UC3: number;
  COLOR_RGB2GRAY: number;
  OPTFLOW_FARNEBACK_GAUSSIAN: number;
  cvtColor(src: CvMat, dst: CvMat, code: number): void;
  calcOpticalFlowFarneback(prev: CvMat, next: CvMat, flow: CvMat, pyrScale: number, levels: number, winsize: number, iterations: number, polyN: number, polySigma: number, flags: number): void;
}

let cv: Promise<OpenCV> | undefined;

/** Loads opencv.js once (its WebAssembly runtime initialises asynchronously). */
export function openCV(): Promise<OpenCV> {
  cv ??= new Promise<OpenCV>((resolve) => {
    const m = createRequire(import.meta.url)('@techstark/opencv-js') as OpenCV & { then?: unknown; onRuntimeInitialized?: () => void };
    // The module object is a thenable that resolves to itself: drop `then`, or awaiting it never ends.
    const done = () => {
      delete m.then;
      resolve(m);
    };
    if (typeof m.Mat === 'function') done();
    else m.onRuntimeInitialized = done;
  });
  return cv;
}

/** OpenCV's calcOpticalFlowFarneback on two 8-bit gray frames: the flow [H, W, 2] (fx, fy). */
export function cvFarneback(cv: OpenCV, width: number, height: number, a: Uint8Array, b: Uint8Array, o: Required<FarnebackOptions>): Float32Array {
  const ma = new cv.Mat(height, width, cv.CV_8UC1), mb = new cv.Mat(height, width, cv.CV_8UC1), flow = new cv.Mat();
  try {
    ma.data.set(a);
    mb.data.set(b);
    cv.calcOpticalFlowFarneback(ma, mb, flow, o.pyrScale, o.levels, o.winsize, o.iterations, o.polyN, o.polySigma, o.gaussian ? cv.OPTFLOW_FARNEBACK_GAUSSIAN : 0);
    return flow.data32F.slice();
  } finally {
    ma.delete();
    mb.delete();
    flow.delete();
  }
}

/** OpenCV's cvtColor(RGB2GRAY) of 8-bit RGB pixels (width × height, channels last). */
export function cvGray(cv: OpenCV, width: number, height: number, rgb: Uint8Array): Uint8Array {
  const src = new cv.Mat(height, width, cv.CV_8UC3), dst = new cv.Mat();
  try {
    src.data.set(rgb);
    cv.cvtColor(src, dst, cv.COLOR_RGB2GRAY);
    return dst.data.slice();
  } finally {
    src.delete();
    dst.delete();
  }
}

/** Mean end-point difference between two [H, W, 2] flows over the pixels at least `margin` from every edge. */
export function meanEpe(f: ArrayLike<number>, g: ArrayLike<number>, width: number, height: number, margin = 0): number {
  let s = 0, n = 0;
  for (let y = margin; y < height - margin; y++) {
    for (let x = margin; x < width - margin; x++) {
      const i = 2 * (y * width + x);
      s += Math.hypot(f[i]! - g[i]!, f[i + 1]! - g[i + 1]!);
      n++;
    }
  }
  return s / n;
}
