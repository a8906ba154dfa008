// float64 references for engine/ops/resize.ts, from the formulas of torch.nn.functional.interpolate
// with align_corners = False and an output size (scale = in / out on each axis):
// - bilinear: src = max((dst + 0.5)·scale − 0.5, 0); i0 = ⌊src⌋, i1 = min(i0 + 1, in − 1), λ = src − i0;
//   out = (1 − λy)·((1 − λx)·x[i0y, i0x] + λx·x[i0y, i1x]) + λy·((1 − λx)·x[i1y, i0x] + λx·x[i1y, i1x]).
// - nearest: src = min(⌊dst·scale⌋, in − 1); nearest-exact: src = min(⌊(dst + 0.5)·scale⌋, in − 1).
//   PyTorch evaluates these in float32 (scale = (float)in / out, floorf(dst * scale)), which picks a
//   different pixel than exact arithmetic in some cases (in 2, out 82, dst 41 gives 0, not 1), so the
//   index is computed in float32 here too (Math.fround); being an index, it is then exact.
import { nd, unravel, type Nd } from './nd.ts';

function bilinearTaps(dst: number, inSize: number, outSize: number): [number, number, number] {
  const scale = inSize / outSize;
  const src = Math.max((dst + 0.5) * scale - 0.5, 0);
  const i0 = Math.floor(src);
  return [i0, Math.min(i0 + 1, inSize - 1), src - i0];
}

export function resizeBilinearRef(x: Nd, [OH, OW]: readonly [number, number]): Nd {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const shape = [N, C, OH, OW];
  const at = (n: number, c: number, y: number, xx: number) => x.data[((n * C + c) * H + y) * W + xx]!;
  return nd(shape, (i) => {
    const [n, c, oy, ox] = unravel(i, shape) as [number, number, number, number];
    const [y0, y1, ly] = bilinearTaps(oy, H, OH);
    const [x0, x1, lx] = bilinearTaps(ox, W, OW);
    const top = (1 - lx) * at(n, c, y0, x0) + lx * at(n, c, y0, x1);
    const bottom = (1 - lx) * at(n, c, y1, x0) + lx * at(n, c, y1, x1);
    return (1 - ly) * top + ly * bottom;
  });
}

export function nearestIndex(dst: number, inSize: number, outSize: number, exact: boolean): number {
  const scale = Math.fround(inSize / outSize);
  return Math.min(Math.floor(Math.fround((exact ? dst + 0.5 : dst) * scale)), inSize - 1);
}

export function resizeNearestRef(x: Nd, [OH, OW]: readonly [number, number], exact = false): Nd {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const shape = [N, C, OH, OW];
  return nd(shape, (i) => {
    const [n, c, oy, ox] = unravel(i, shape) as [number, number, number, number];
    return x.data[((n * C + c) * H + nearestIndex(oy, H, OH, exact)) * W + nearestIndex(ox, W, OW, exact)]!;
  });
}
