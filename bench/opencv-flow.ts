// The optical-flow peer and its test material, shared by bench/flow.ts and the flow tests:
// - motionPair: textured frame pairs with known motion (translation, zoom, rotation), rendered from an
//   analytic texture so the true flow is exact, not an artefact of resampling;
// - openCV / cvFarneback / cvGray: OpenCV's own Farneback and grey conversion (opencv.js,
//   @techstark/opencv-js), the reference implementation eval/flow.ts is compared with;
// - meanEpe: the mean end-point difference between two flows.
import { createRequire } from 'node:module';
import { makeRng } from '../dataset/rng.ts';
import type { FarnebackOptions } from '../eval/flow.ts';

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
