// 2-D convolution (PyTorch's conv2d semantics: NCHW, weight [Cout, Cin/groups, kh, kw], stride,
// zero padding, dilation, groups) and its gradients, by one of three paths: 3×3 convolutions with
// stride 1 and padding 1 (the decoder's) by Winograd's F(2×2, 3×3) (engine/ops/winograd.ts: 16/36 of
// the multiply-adds), the others by im2col and a product or, with few output channels, directly.
//
// im2col and a matrix product (the usual case), composed from differentiable ops:
//   cols = im2col(x)                          [N, G, Cin/G·kh·kw, Hout·Wout]   (shaders/im2col.wgsl)
//   out  = W [G, Cout/G, Cin/G·kh·kw] · cols  [N, G, Cout/G, Hout·Wout] = [N, Cout, Hout, Wout]
// plus the bias (shaders/conv2d_bias.wgsl, a row at a time). On lavapipe the direct kernels below run
// at ~0.2 GFLOP/s (every tap is a scalar storage load with a bounds check) and matmul at ~5–10: on
// the segmentation student's convolutions forward + backward got 2–14× faster (6× in all).
// W on the left (one product per image and group, W broadcast over the batch) gives NCHW with no
// permute; measured against cols·Wᵀ followed by a permute it was about even. A 1×1 convolution with
// stride 1 and no padding needs no im2col: x viewed as [N, G, Cin/G, H·W] is the column matrix.
// The gradients are the ops' own: matmul gives dW = Σ_n dY·colsᵀ and dcols = Wᵀ·dY, and im2col's is
// col2im (shaders/col2im.wgsl), a gather with one writer per input element. cols is kh·kw/(sh·sw)
// times the input and is kept for the backward pass; over the binding budget (a large frame's decoder
// columns) the convolution is done in bands of output rows (inBands).
//
// Direct kernels when Cout/groups < DIRECT_BELOW (depthwise, few output channels): each product
// would have fewer than 8 rows, leaving matmul mostly idle (depthwise 3×3 measured 5–10× slower that
// way). One invocation per element of what each kernel writes, so no atomics: the forward
// (shaders/conv2d.wgsl) per output element; the input gradient (conv2d_grad_input.wgsl), a transposed
// convolution, per input element; the weight gradient (conv2d_grad_weight.wgsl) per weight element
// over N·Hout·Wout, in chunks of rows summed by `sum` when the weight is small and the batch large (a
// GPU would otherwise get too few invocations). The bias gradient is Σ over N, H, W of dY.

import col2imWgsl from '../../shaders/col2im.wgsl?raw';
import convWgsl from '../../shaders/conv2d.wgsl?raw';
import biasWgsl from '../../shaders/conv2d_bias.wgsl?raw';
import gradInputWgsl from '../../shaders/conv2d_grad_input.wgsl?raw';
import gradWeightWgsl from '../../shaders/conv2d_grad_weight.wgsl?raw';
import im2colWgsl from '../../shaders/im2col.wgsl?raw';
import { record } from '../autograd.ts';
import { bindingBudget, dispatch, kernel } from '../kernel.ts';
import { Tensor, shapeStr } from '../tensor.ts';
import { matmul } from './matmul.ts';
import { concat, pad, reshape, slice } from './movement.ts';
import { sum } from './reduce.ts';
import { winogradApplies, winogradConv } from './winograd.ts';

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

/** Convolutions with fewer output channels per group than this take the direct kernels. */
const DIRECT_BELOW = 8;

// Weight-gradient chunking of the direct path: aim for at least this many invocations, with chunks
// of at least MIN_CHUNK_MACS multiply-adds each so that the second pass stays small next to the first.
// It is for GPUs (a depthwise 3×3 weight of 576 elements over an 8×56×56 batch is otherwise 576
// invocations of 25k multiply-adds each); on lavapipe it measured from neutral to ~30% slower.
const TARGET_INVOCATIONS = 1 << 15;
const MIN_CHUNK_MACS = 4096;

function pair(v: number | readonly [number, number] | undefined, dflt: number, name: string, min: number, what: string): [number, number] {
  const p: readonly number[] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : v;
  if (p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < min)) {
    throw new Error(`${what}: ${name} ${JSON.stringify(v)} must be an integer ≥ ${min} or a pair of them`);
  }
  return [p[0]!, p[1]!];
}

/** The geometry of one convolution. */
interface Geometry {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  groups: number;
  oh: number;
  ow: number;
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
  const [cout, cinG, kh, kw] = w.shape as [number, number, number, number];
  const groups = o.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`${what}: groups ${groups} must be an integer ≥ 1`);
  if (cin % groups !== 0 || cout % groups !== 0) throw new Error(`${what}: groups ${groups} must divide both Cin ${cin} and Cout ${cout}`);
  if (cinG !== cin / groups) throw new Error(`${what}: weight has ${cinG} input channels, expected Cin/groups = ${cin}/${groups} = ${cin / groups}`);
  if (b && (b.rank !== 1 || b.shape[0] !== cout)) throw new Error(`${what}: bias must be [${cout}], got ${shapeStr(b.shape)}`);
  const [sh, sw] = pair(o.stride, 1, 'stride', 1, what);
  const [ph, pw] = pair(o.padding, 0, 'padding', 0, what);
  const [dh, dw] = pair(o.dilation, 1, 'dilation', 1, what);
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wd + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (oh < 1 || ow < 1 || kh < 1 || kw < 1) {
    throw new Error(`${what}: the output would be ${oh}×${ow}: the padded input ${h + 2 * ph}×${wd + 2 * pw} is smaller than the dilated kernel ${dh * (kh - 1) + 1}×${dw * (kw - 1) + 1}`);
  }
  return { n, cin, h, w: wd, cout, groups, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw };
}

// ---- the im2col path ---------------------------------------------------------------------------------

/** The kernel geometry baked into im2col and col2im as constants. */
function constants(g: Geometry): Record<string, number> {
  return { KH: g.kh, KW: g.kw, SH: g.sh, SW: g.sw, PH: g.ph, PW: g.pw, DH: g.dh, DW: g.dw };
}

/** x [N, Cin, H, W] → its patches [N, Cin·kh·kw, Hout·Wout]; differentiable (the gradient is col2im). */
function im2col(x: Tensor, g: Geometry, label: string): Tensor {
  const cols = Tensor.empty([g.n, g.cin * g.kh * g.kw, g.oh * g.ow], 'f32', 'im2col');
  const rows = g.n * g.cin * g.kh * g.kw * g.oh;
  const params = { rows, h: g.h, w: g.w, oh: g.oh, ow: g.ow };
  dispatch(kernel('im2col', im2colWgsl, constants(g)), [x, cols], params, rows, `${label} (im2col)`);
  return record(cols, 'im2col', [x], (gc) => [col2im(gc, g, label)]);
}

/** The gradient of im2col: each input element sums the column entries read from it. */
function col2im(gc: Tensor, g: Geometry, label: string): Tensor {
  const gx = Tensor.empty([g.n, g.cin, g.h, g.w], 'f32', 'col2im');
  const rows = g.n * g.cin * g.h;
  const params = { rows, h: g.h, w: g.w, oh: g.oh, ow: g.ow };
  dispatch(kernel('col2im', col2imWgsl, constants(g)), [gc, gx], params, rows, `${label} (col2im)`);
  return gx;
}

/** y [N, Cout, Hout, Wout] + b [Cout] per channel; differentiable. */
function addBias(y: Tensor, b: Tensor, label: string): Tensor {
  const [n, c, h, w] = y.shape as [number, number, number, number];
  const out = Tensor.empty(y.shape, 'f32', 'conv2d bias');
  dispatch(kernel('conv2d_bias', biasWgsl), [y, b, out], { rows: n * c, c, l: h * w }, n * c, `${label} (bias)`);
  return record(out, 'conv2d bias', [y, b], (g) => [g, b.requiresGrad ? sum(g, [0, 2, 3]) : undefined]);
}

/** im2col, matmul, bias; in bands of output rows when the im2col matrix is over bindingBudget(). */
function viaMatmul(x: Tensor, w: Tensor, b: Tensor | undefined, g: Geometry, label: string): Tensor {
  const G = g.groups;
  const k = (g.cin / G) * g.kh * g.kw;
  const pointwise = g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0;
  const rowBytes = 4 * g.n * g.cin * g.kh * g.kw * g.ow; // the im2col matrix's bytes per output row
  const budget = bindingBudget();
  if (!pointwise && g.oh > 1 && rowBytes * g.oh > budget) return inBands(x, w, b, g, Math.max(1, Math.floor(budget / rowBytes)), label);
  // Intermediates: autograd's nodes keep them for the backward pass (the enclosing tidy releases
  // them); when nothing is recorded they are released here.
  const temps: Tensor[] = [];
  const temp = (t: Tensor) => (temps.push(t), t);
  const cols = temp(reshape(pointwise ? x : temp(im2col(x, g, label)), [g.n, G, k, g.oh * g.ow]));
  const prod = temp(matmul(temp(reshape(w, [G, g.cout / G, k])), cols));
  const y = reshape(prod, [g.n, g.cout, g.oh, g.ow]);
  const out = b ? addBias(temp(y), b, label) : y;
  if (!out.node) for (const t of temps) t.dispose();
  return out;
}

/**
 * A convolution whose im2col matrix would be over the binding budget (a 720p frame's decoder columns
 * take ~200 MB), `rows` output rows at a time: output rows [r0, r1) read input rows r0·sh − ph up to
 * (r1 − 1)·sh − ph + dh·(kh − 1), taken from x padded by ph above and below once, so each band is a
 * convolution without vertical padding; the bands are concatenated along H. Built from differentiable
 * ops, so training takes the same path and its gradients are theirs.
 */
function inBands(x: Tensor, w: Tensor, b: Tensor | undefined, g: Geometry, rows: number, label: string): Tensor {
  const temps: Tensor[] = [];
  const temp = (t: Tensor) => (temps.push(t), t);
  const xp = g.ph ? temp(pad(x, [[0, 0], [0, 0], [g.ph, g.ph], [0, 0]])) : x;
  const bands: Tensor[] = [];
  for (let r0 = 0; r0 < g.oh; r0 += rows) {
    const r1 = Math.min(g.oh, r0 + rows);
    const end = (r1 - 1) * g.sh + g.dh * (g.kh - 1) + 1;
    const band = temp(slice(xp, [0, 0, r0 * g.sh, 0], [g.n, g.cin, end, g.w]));
    bands.push(temp(viaMatmul(band, w, b, { ...g, h: end - r0 * g.sh, ph: 0, oh: r1 - r0 }, `${label} rows ${r0}–${r1 - 1}`)));
  }
  const y = concat(bands, 2);
  if (!y.node) for (const t of temps) t.dispose();
  return y;
}

// ---- the direct path --------------------------------------------------------------------------------

/** The uniforms the three direct kernels share. */
function dims(g: Geometry) {
  const { cin, h, w, cout, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw } = g;
  return { cin, h, w, cout, oh, ow, cin_g: cin / g.groups, cout_g: cout / g.groups, kh, kw, sh, sw, ph, pw, dh, dw };
}

function direct(x: Tensor, w: Tensor, b: Tensor | undefined, g: Geometry, label: string): Tensor {
  const out = Tensor.empty([g.n, g.cout, g.oh, g.ow], 'f32', 'conv2d');
  dispatch(kernel('conv2d', convWgsl), [x, w, b ?? w, out], { ...dims(g), total: out.size, has_bias: b ? 1 : 0 }, out.size, label);
  return record(out, 'conv2d', b ? [x, w, b] : [x, w], (gy) => [
    x.requiresGrad ? gradInput(gy, w, g, label) : undefined,
    w.requiresGrad ? gradWeight(gy, x, w.shape, g, label) : undefined,
    b?.requiresGrad ? sum(gy, [0, 2, 3]) : undefined,
  ]);
}

function gradInput(gy: Tensor, w: Tensor, g: Geometry, label: string): Tensor {
  const gx = Tensor.empty([g.n, g.cin, g.h, g.w], 'f32', 'conv2d_grad_input');
  dispatch(kernel('conv2d_grad_input', gradInputWgsl), [gy, w, gx], { ...dims(g), total: gx.size }, gx.size, `${label} (input gradient)`);
  return gx;
}

function gradWeight(gy: Tensor, x: Tensor, shape: readonly number[], g: Geometry, label: string): Tensor {
  const wsize = (g.cout * g.cin * g.kh * g.kw) / g.groups;
  const rows = g.n * g.oh;
  const maxChunks = Math.max(1, Math.floor((rows * g.ow) / MIN_CHUNK_MACS));
  const chunks = Math.max(1, Math.min(rows, maxChunks, Math.ceil(TARGET_INVOCATIONS / wsize)));
  const rowsPer = Math.max(1, Math.ceil(rows / chunks));
  const used = Math.max(1, Math.ceil(rows / rowsPer));
  const partial = Tensor.empty(used === 1 ? shape : [used, ...shape], 'f32', 'conv2d_grad_weight');
  dispatch(
    kernel('conv2d_grad_weight', gradWeightWgsl),
    [gy, x, partial],
    { ...dims(g), total: partial.size, wsize, rows, rows_per: rowsPer },
    partial.size,
    `${label} (weight gradient, ${used} chunk${used === 1 ? '' : 's'})`,
  );
  if (used === 1) return partial;
  const gw = sum(partial, 0);
  partial.dispose();
  return gw;
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
  if (g.cout / g.groups < DIRECT_BELOW) return direct(x, w, b, g, label);
  if (!winogradApplies(g)) return viaMatmul(x, w, b, g, label);
  const y = winogradConv(x, w, label);
  if (!b) return y;
  const out = addBias(y, b, label);
  if (!out.node) y.dispose();
  return out;
}
