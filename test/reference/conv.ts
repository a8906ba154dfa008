// float64 reference for engine/ops/conv.ts: PyTorch's conv2d written as its definition,
//   out[n, co, oy, ox] = b[co] + Σ_{ci < Cin/groups, ky, kx} x[n, g·Cin/groups + ci, oy·sy − py + ky·dy, ox·sx − px + kx·dx] · w[co, ci, ky, kx]
// where g = ⌊co / (Cout/groups)⌋ and positions outside the input read 0 (zero padding).
import { nd, ravel, unravel, type Nd } from './nd.ts';

export interface ConvParams {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

export function conv2dRef(x: Nd, w: Nd, b: Nd | undefined, p: ConvParams): Nd {
  const [N, Cin, H, W] = x.shape as [number, number, number, number];
  const [Cout, CinG, KH, KW] = w.shape as [number, number, number, number];
  const [sy, sx] = p.stride;
  const [py, px] = p.padding;
  const [dy, dx] = p.dilation;
  const OH = Math.floor((H + 2 * py - dy * (KH - 1) - 1) / sy) + 1;
  const OW = Math.floor((W + 2 * px - dx * (KW - 1) - 1) / sx) + 1;
  const CoutG = Cout / p.groups;
  const shape = [N, Cout, OH, OW];
  return nd(shape, (i) => {
    const [n, co, oy, ox] = unravel(i, shape) as [number, number, number, number];
    const g = Math.floor(co / CoutG);
    let s = b ? b.data[co]! : 0;
    for (let ci = 0; ci < CinG; ci++) {
      for (let ky = 0; ky < KH; ky++) {
        for (let kx = 0; kx < KW; kx++) {
          const y = oy * sy - py + ky * dy;
          const xx = ox * sx - px + kx * dx;
          if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
          s += x.data[ravel([n, g * CinG + ci, y, xx], [N, Cin, H, W])]! * w.data[ravel([co, ci, ky, kx], w.shape)]!;
        }
      }
    }
    return s;
  });
}
