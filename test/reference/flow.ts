// References for eval/flow.ts:
// - polyExpansionRef: Farneback's polynomial expansion from its definition, in float64: at each pixel the
//   quadratic I ≈ r1 + r2·x + r3·y + r4·x² + r5·y² + r6·xy fitted by weighted least squares over the
//   (2n+1)² neighbourhood (weights g(x)·g(y), g a Gaussian of σ; pixels outside replicate the edge),
//   by solving the 6×6 normal equations directly;
// - warpBilinearRef / warpNearestRef: backward warping from its formula.
// Frame pairs with known motion and OpenCV's own Farneback, which bench/flow.ts measures against too,
// are in bench/opencv-flow.ts.
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
