// 3×3 convolutions with stride 1 and padding 1 (the segmentation decoder's) by Winograd's minimal
// filtering, F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
// Each 2×2 block of outputs is computed from the 4×4 input tile around it as
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
// with 16 multiplications per (input, output) channel pair instead of im2col's 36. Summed over the
// input channels, the ⊙ becomes 16 matrix products, one per tile position ξ:
//   U = G g Gᵀ   [16, Cout, Cin]   a product with the constant G⊗G [16, 9]
//   V = Bᵀ d B   [16, Cin, T]      shaders/winograd.wgsl, step 'input' (T = N·⌈H/2⌉·⌈W/2⌉ tiles)
//   M = U · V    [16, Cout, T]     matmul, batched over ξ
//   Y = Aᵀ M A   [N, Cout, H, W]   step 'output'
// Every step is linear, so each has a simple adjoint, and the products' gradients are matmul's own:
// forward and backward do 16/36 of im2col's multiply-adds (on lavapipe, where the products are most
// of a training step, the decoder's convolutions got ~2× faster). V is 4× the input, against im2col's
// 9×. F(2×2, 3×3)'s transforms are 0, ±1 and ±½, so its rounding stays that of f32 sums (F(4×4, 3×3)
// would save more multiplies but its larger constants cost accuracy).
import col2imWgsl from '../../shaders/col2im.wgsl?raw';
import winogradWgsl from '../../shaders/winograd.wgsl?raw';
import { record } from '../autograd.ts';
import { bindingBudget, dispatch, kernel } from '../kernel.ts';
import { Tensor, tensor } from '../tensor.ts';
import { matmul } from './matmul.ts';
import { reshape } from './movement.ts';

/** G [4, 3] of F(2×2, 3×3); the weight transform is G⊗G [16, 9]: U_ξ = Σ G[a, ky]·G[b, kx]·g[ky, kx], ξ = 4a + b. */
const G = [
  [1, 0, 0],
  [0.5, 0.5, 0.5],
  [0.5, -0.5, 0.5],
  [0, 0, 1],
];
const GG = Float32Array.from({ length: 16 * 9 }, (_, i) => {
  const [xi, k] = [Math.floor(i / 9), i % 9];
  return G[xi >> 2]![Math.floor(k / 3)]! * G[xi & 3]![k % 3]!;
});

interface Tiles {
  n: number;
  h: number;
  w: number;
  th: number;
  tw: number;
}

let enabled = true;
/** Benchmarks and tests: turn the path off (false) to time or check im2col on the same convolutions; undefined restores it. */
export function setWinograd(on: boolean | undefined): void {
  enabled = on ?? true;
}

/** Does conv2d take this path? A 3×3 kernel, stride 1, padding 1, dilation 1, one group, and V and M within the binding budget. */
export function winogradApplies(g: { n: number; cin: number; cout: number; h: number; w: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; dh: number; dw: number; groups: number }): boolean {
  const shape = [g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups].join();
  if (!enabled || shape !== '3,3,1,1,1,1,1,1,1') return false;
  const tiles = g.n * Math.ceil(g.h / 2) * Math.ceil(g.w / 2);
  return 4 * 16 * Math.max(g.cin, g.cout) * tiles <= bindingBudget();
}

/** One transform step of shaders/winograd.wgsl (kernel `winograd_${step}`) from src into dst, over c channels. */
function transform(step: 'input' | 'input_grad' | 'output' | 'output_grad', src: Tensor, dst: Tensor, c: number, t: Tiles, label: string): void {
  const tiles = c * t.n * t.th * t.tw; // one invocation per tile and channel
  dispatch(kernel(`winograd_${step}`, winogradWgsl, { STEP: step }), [src, dst], { tiles, c, ...t }, tiles, `${label} (winograd ${step.replace('_grad', ' gradient')})`);
}

/** x [N, C, H, W] → V [16, C, T]; differentiable. */
function inputTransform(x: Tensor, t: Tiles, label: string): Tensor {
  const c = x.shape[1]!;
  const v = Tensor.empty([16, c, t.n * t.th * t.tw], 'f32', 'winograd input');
  transform('input', x, v, c, t, label);
  return record(v, 'winograd input', [x], (gv) => [inputGrad(gv, c, t, label)]);
}

/** dV [16, C, T] → dX [N, C, H, W]: each tile's B·dV·Bᵀ, then col2im sums the overlapping tiles. */
function inputGrad(gv: Tensor, c: number, t: Tiles, label: string): Tensor {
  const back = Tensor.empty([t.n, c * 16, t.th * t.tw], 'f32', 'winograd input gradient');
  transform('input_grad', gv, back, c, t, label);
  const gx = Tensor.empty([t.n, c, t.h, t.w], 'f32', 'winograd input gradient');
  const geometry = { KH: 4, KW: 4, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, DW: 1 };
  const params = { rows: t.n * c * t.h, h: t.h, w: t.w, oh: t.th, ow: t.tw };
  dispatch(kernel('col2im', col2imWgsl, geometry), [back, gx], params, params.rows, `${label} (winograd input gradient, col2im)`);
  back.dispose();
  return gx;
}

/** M [16, Cout, T] → Y [N, Cout, H, W]; differentiable. */
function outputTransform(m: Tensor, t: Tiles, label: string): Tensor {
  const c = m.shape[1]!;
  const y = Tensor.empty([t.n, c, t.h, t.w], 'f32', 'winograd output');
  transform('output', m, y, c, t, label);
  return record(y, 'winograd output', [m], (gy) => {
    const gm = Tensor.empty(m.shape, 'f32', 'winograd output gradient');
    transform('output_grad', gy, gm, c, t, label);
    return [gm];
  });
}

/** x [N, Cin, H, W] ⊛ w [Cout, Cin, 3, 3] with stride 1 and padding 1, no bias (see winogradApplies). */
export function winogradConv(x: Tensor, w: Tensor, label: string): Tensor {
  const [n, cin, h, wd] = x.shape as [number, number, number, number];
  const cout = w.shape[0]!;
  const t: Tiles = { n, h, w: wd, th: Math.ceil(h / 2), tw: Math.ceil(wd / 2) };
  // Intermediates: autograd's nodes keep what backward needs (the enclosing tidy releases them);
  // when nothing is recorded they are released here.
  const temps: Tensor[] = [];
  const temp = (v: Tensor) => (temps.push(v), v);
  const gg = temp(tensor(GG, [16, 9]));
  const u = temp(reshape(temp(matmul(gg, temp(reshape(w, [cout * cin, 9])), { transB: true })), [16, cout, cin]));
  const m = temp(matmul(u, temp(inputTransform(x, t, label))));
  const y = outputTransform(m, t, label);
  if (!y.node) for (const v of temps) v.dispose();
  return y;
}
