// 2-D convolution (PyTorch's conv2d semantics: NCHW, weight [Cout, Cin/groups, kh, kw], stride,
// zero padding, dilation, groups) and its gradients.
//
// All three kernels are direct: one invocation per element of what they write, looping over what it
// sums, so every kernel writes each element exactly once and none needs atomics:
// - forward (shaders/conv2d.wgsl): per output element, over Cin/groups · kh · kw;
// - input gradient (shaders/conv2d_grad_input.wgsl): the transposed convolution, per input element;
// - weight gradient (shaders/conv2d_grad_weight.wgsl): per weight element, over N · Hout · Wout. When
//   the weight is small and the batch large (depthwise 3×3, a 1×1 head) that is too few invocations to
//   fill a GPU, so the rows (n, oy) are split into chunks, one invocation per (chunk, weight element),
//   and the partial sums are added by `sum` over the chunk axis.
// The bias gradient is Σ over N, H, W of the output gradient.

import convWgsl from '../../shaders/conv2d.wgsl?raw';
import gradInputWgsl from '../../shaders/conv2d_grad_input.wgsl?raw';
import gradWeightWgsl from '../../shaders/conv2d_grad_weight.wgsl?raw';
import { record } from '../autograd.ts';
import { dispatch, grid1d, kernel } from '../kernel.ts';
import { Tensor, shapeStr } from '../tensor.ts';
import { sum } from './reduce.ts';

export interface Conv2dOptions {
  /** Step between output positions, [sy, sx] or one for both (default 1). */
  stride?: number | readonly [number, number];
  /** Zeros added on each side, [py, px] or one for both (default 0). */
  padding?: number | readonly [number, number];
  /** Spacing between kernel taps, [dy, dx] or one for both (default 1). */
  dilation?: number | readonly [number, number];
  /** Input and output channels are split into this many groups (default 1; groups = C is depthwise). */
  groups?: number;
}

// Weight-gradient chunking: aim for at least this many invocations, with chunks of at least
// MIN_CHUNK_MACS multiply-adds each so that the second pass stays small next to the first. It is for
// GPUs (a depthwise 3×3 weight of 576 elements over an 8×56×56 batch is otherwise 576 invocations of
// 25k multiply-adds each); on lavapipe, whose 2 cores a few workgroups already fill, it measured from
// neutral to ~30% slower.
const TARGET_INVOCATIONS = 1 << 15;
const MIN_CHUNK_MACS = 4096;

function pair(v: number | readonly [number, number] | undefined, dflt: number, name: string, min: number, what: string): [number, number] {
  const p: readonly number[] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : v;
  if (p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < min)) {
    throw new Error(`${what}: ${name} ${JSON.stringify(v)} must be an integer ≥ ${min} or a pair of them`);
  }
  return [p[0]!, p[1]!];
}

/** The geometry of one convolution: the batch size and the uniforms the three kernels share. */
interface Geometry {
  n: number;
  u: Dims;
}
interface Dims {
  cin: number;
  h: number;
  w: number;
  cout: number;
  oh: number;
  ow: number;
  cin_g: number;
  cout_g: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
}

function geometry(x: Tensor, w: Tensor, b: Tensor | undefined, o: Conv2dOptions, what: string): Geometry {
  if (x.dtype !== 'f32' || w.dtype !== 'f32' || (b && b.dtype !== 'f32')) throw new Error(`${what}: expected f32 tensors`);
  if (x.rank !== 4) throw new Error(`${what}: input must be [N, Cin, H, W], got ${shapeStr(x.shape)}`);
  if (w.rank !== 4) throw new Error(`${what}: weight must be [Cout, Cin/groups, kh, kw], got ${shapeStr(w.shape)}`);
  const [n, cin, h, wd] = x.shape as [number, number, number, number];
  const [cout, cin_g, kh, kw] = w.shape as [number, number, number, number];
  const groups = o.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`${what}: groups ${groups} must be an integer ≥ 1`);
  if (cin % groups !== 0 || cout % groups !== 0) throw new Error(`${what}: groups ${groups} must divide both Cin ${cin} and Cout ${cout}`);
  if (cin_g !== cin / groups) throw new Error(`${what}: weight has ${cin_g} input channels, expected Cin/groups = ${cin}/${groups} = ${cin / groups}`);
  if (b && (b.rank !== 1 || b.shape[0] !== cout)) throw new Error(`${what}: bias must be [${cout}], got ${shapeStr(b.shape)}`);
  const [sh, sw] = pair(o.stride, 1, 'stride', 1, what);
  const [ph, pw] = pair(o.padding, 0, 'padding', 0, what);
  const [dh, dw] = pair(o.dilation, 1, 'dilation', 1, what);
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wd + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (oh < 1 || ow < 1 || kh < 1 || kw < 1) {
    throw new Error(`${what}: the output would be ${oh}×${ow}: the padded input ${h + 2 * ph}×${wd + 2 * pw} is smaller than the dilated kernel ${dh * (kh - 1) + 1}×${dw * (kw - 1) + 1}`);
  }
  return { n, u: { cin, h, w: wd, cout, oh, ow, cin_g, cout_g: cout / groups, kh, kw, sh, sw, ph, pw, dh, dw } };
}

/**
 * 2-D convolution of x [N, Cin, H, W] with w [Cout, Cin/groups, kh, kw] plus bias b [Cout], as
 * torch.nn.functional.conv2d. Output [N, Cout, Hout, Wout] with
 * Hout = ⌊(H + 2·padding − dilation·(kh − 1) − 1) / stride⌋ + 1 (likewise Wout).
 * Differentiable in x, w and b.
 */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor, opts: Conv2dOptions = {}): Tensor {
  const label = `conv2d ${shapeStr(x.shape)} * ${shapeStr(w.shape)}`;
  const g = geometry(x, w, b, opts, label);
  const out = Tensor.empty([g.n, g.u.cout, g.u.oh, g.u.ow], 'f32', 'conv2d');
  dispatch(kernel('conv2d', convWgsl), [x, w, b ?? w, out], { ...g.u, total: out.size, has_bias: b ? 1 : 0 }, grid1d(out.size, 64), label);
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, 'conv2d', inputs, (gy) => [
    x.requiresGrad ? gradInput(gy, w, x.shape, g, label) : undefined,
    w.requiresGrad ? gradWeight(gy, x, w.shape, g, label) : undefined,
    b?.requiresGrad ? sum(gy, [0, 2, 3]) : undefined,
  ]);
}

function gradInput(gy: Tensor, w: Tensor, shape: readonly number[], g: Geometry, label: string): Tensor {
  const gx = Tensor.empty(shape, 'f32', 'conv2d_grad_input');
  dispatch(kernel('conv2d_grad_input', gradInputWgsl), [gy, w, gx], { ...g.u, total: gx.size }, grid1d(gx.size, 64), `${label} (input gradient)`);
  return gx;
}

function gradWeight(gy: Tensor, x: Tensor, shape: readonly number[], g: Geometry, label: string): Tensor {
  const wsize = g.u.cout * g.u.cin_g * g.u.kh * g.u.kw;
  const rows = g.n * g.u.oh;
  const maxChunks = Math.max(1, Math.floor((rows * g.u.ow) / MIN_CHUNK_MACS));
  const chunks = Math.max(1, Math.min(rows, maxChunks, Math.ceil(TARGET_INVOCATIONS / wsize)));
  const rowsPer = Math.max(1, Math.ceil(rows / chunks));
  const used = Math.max(1, Math.ceil(rows / rowsPer));
  const partial = Tensor.empty(used === 1 ? shape : [used, ...shape], 'f32', 'conv2d_grad_weight');
  dispatch(
    kernel('conv2d_grad_weight', gradWeightWgsl),
    [gy, x, partial],
    { ...g.u, total: partial.size, wsize, rows, rows_per: rowsPer },
    grid1d(partial.size, 64),
    `${label} (weight gradient, ${used} chunk${used === 1 ? '' : 's'})`,
  );
  if (used === 1) return partial;
  const gw = sum(partial, 0);
  partial.dispose();
  return gw;
}
