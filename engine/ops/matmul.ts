// Matrix products: matmul (batched, broadcasting, optionally transposed operands) and linear.
//
// Two kernels, chosen at run time (setMatmulVariant forces one, e.g. in tests):
// - 'tiled' (shaders/matmul_tiled.wgsl), the default where loop kernels run well (loopKernelsFast in
//   device.ts: GPUs, SwiftShader): 64 × 64 output blocks, 4 × 4 per invocation, K tiles of 16 staged
//   in workgroup memory.
// - 'unrolled' (shaders/matmul_unrolled.wgsl), the default on lavapipe (Mesa's llvmpipe). On lavapipe a storage load with a
//   computed address costs ~10 instructions a value and only constant-address workgroup-memory loads
//   in branch-free code are cheap; the kernel is built around that (its header says how), with its
//   straight-line part generated here, one dispatch per chunk of K. On 1024³ here it does 12–17
//   GFLOP/s per two uncontended cores (bench/matmul-kernels.ts, "cpu" figure: per CPU time), against 5–7 for the
//   best register-tiled loop kernels tried (4×8, 8×4, 8×8 blocks per invocation, vec4 loads) and
//   2.5–4 for 'tiled'. The first use of each chunk size (and workgroup size, 32, 64 or 128 rows, and
//   block width, 16 or 24 columns: whichever pads the product least, rowsOf and columnsOf) compiles
//   for seconds (lavapipe's LLVM).
//   Other CPU adapters compile differently: on SwiftShader (Chrome's) 'tiled' is 8× faster (the
//   default student on a 96×128 frame: 2.3 s against 19 s), so it keeps 'tiled'.
//
// Both kernels read their operands and write the output through strides (MatView), so transposed,
// broadcast and interleaved operands (attention's heads, via matmulInto) need no copies. The unrolled
// kernel computes out[i, j] = Σ_k X[i, k] Y[k, j] and reads X rows four k at a time, so X must be
// contiguous along K with K % 4 = 0: X is op(A), or op(B)ᵀ (it then computes outᵀ = op(B)ᵀ·op(A)ᵀ,
// storing through swapped strides); when neither is laid out so, the smaller one is first copied
// into that layout (O(rows·K), small next to the product).
//
// linear's bias is added in the kernels (the unrolled kernel starts its accumulators from it), and so is its
// optional GELU (the "epilogue": applied as the result is stored, the pre-activation stored beside it
// only when backward will need it), which saves the GELU pass's read and write of the hidden tensor.
//
// Backward: dA = dY·op(B)ᵀ and dB = op(A)ᵀ·dY, written with the transpose flags of the same kernel;
// gradients of broadcast batch dimensions are summed back with sumTo.

import broadcastWgsl from '../../shaders/broadcast.wgsl?raw';
import unrolledWgsl from '../../shaders/matmul_unrolled.wgsl?raw';
import packWgsl from '../../shaders/matmul_pack.wgsl?raw';
import tiledWgsl from '../../shaders/matmul_tiled.wgsl?raw';
import { isGradEnabled, record } from '../autograd.ts';
import { device, loopKernelsFast } from '../device.ts';
import { dispatch, kernel, type Kernel } from '../kernel.ts';
import { broadcastStrides, MAX_RANK, pad8, stridesOf } from '../shape.ts';
import { Tensor, sizeOf, shapeStr } from '../tensor.ts';
import { zeros } from './creation.ts';
import { GELU, gelu, geluBackward, mapBinary, sumTo } from './elementwise.ts';
import { sum } from './reduce.ts';

export type MatmulVariant = 'unrolled' | 'tiled';

let forced: MatmulVariant | undefined;

/** Force a kernel variant for every matmul (tests, benchmarks); undefined restores the automatic choice. */
export function setMatmulVariant(v: MatmulVariant | undefined): void {
  forced = v;
}

/** The variant matmul uses now: the forced one, else 'tiled' where loop kernels run well and 'unrolled' where they do not (lavapipe). */
export function matmulVariant(): MatmulVariant {
  return forced ?? (loopKernelsFast() ? 'tiled' : 'unrolled');
}

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * Matrices in a tensor's storage: matrix z of a batch (a multi-index over the batch shape) has
 * element (r, c) at off + Σ_d z_d·bs[d] + r·rs + c·cs (bs[d] = 0 where broadcast). Operands and
 * outputs are views, so transposes, broadcasts and interleaved layouts (attention's heads) are read
 * and written in place.
 */
export interface MatView {
  t: Tensor;
  off: number;
  bs: readonly number[];
  rs: number;
  cs: number;
}

/** The transposed matrices. */
export const transposed = (v: MatView): MatView => ({ ...v, rs: v.cs, cs: v.rs });

interface Plan {
  M: number;
  N: number;
  K: number;
  batch: number[];
  /** op(A) (M × K) and op(B) (K × N). */
  a: MatView;
  b: MatView;
  what: string;
}

function plan(a: Tensor, b: Tensor, transA: boolean, transB: boolean, op: string): Plan {
  const what = `${op} ${shapeStr(a.shape)}${transA ? 'ᵀ' : ''} x ${shapeStr(b.shape)}${transB ? 'ᵀ' : ''}`;
  for (const t of [a, b]) {
    if (t.dtype !== 'f32') throw new Error(`${what}: expected f32 tensors, got ${t}`);
    if (t.rank < 2) throw new Error(`${what}: operands must have rank ≥ 2 (matrices, optionally batched), got ${t}`);
  }
  const [r0, r1] = a.shape.slice(-2) as [number, number];
  const [s0, s1] = b.shape.slice(-2) as [number, number];
  const [M, K] = transA ? [r1, r0] : [r0, r1];
  const [Kb, N] = transB ? [s1, s0] : [s0, s1];
  if (K !== Kb) throw new Error(`${what}: inner dimensions differ (${K} vs ${Kb})`);
  const ab = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  const rank = Math.max(ab.length, bb.length);
  if (rank > MAX_RANK) throw new Error(`${what}: at most ${MAX_RANK} batch dimensions`);
  const batch: number[] = [];
  for (let d = 0; d < rank; d++) {
    const x = ab[ab.length - rank + d] ?? 1;
    const y = bb[bb.length - rank + d] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`${what}: batch dimensions do not broadcast (${x} vs ${y} at batch axis ${d})`);
    batch.push(x === 1 ? y : x);
  }
  const view = (t: Tensor, sh: number[], rows: number, cols: number, trans: boolean): MatView => {
    const v = { t, off: 0, bs: broadcastStrides(sh, batch).map((s) => s * rows * cols), rs: cols, cs: 1 };
    return trans ? transposed(v) : v;
  };
  return { M, N, K, batch, a: view(a, ab, r0, r1, transA), b: view(b, bb, s0, s1, transB), what };
}

/** What the kernels do as they store out: add `bias` [N] to every row; apply GELU, writing its input to `pre` (laid out as out) if given. */
interface Epilogue {
  bias?: Tensor;
  gelu?: boolean;
  pre?: Tensor;
}

/** The epilogue's WGSL (the EPILOGUE placeholder) and its kernel-name suffix. */
function epilogueCode(ep: Epilogue): { code: string; suffix: string } {
  if (!ep.gelu) return { code: '', suffix: '' };
  const pre = ep.pre ? '@group(0) @binding(5) var<storage, read_write> Pre: array<f32>; // GELU\'s input, for backward\n' : '';
  return { code: `${pre}${GELU.helpers}\nfn act(a: f32) -> f32 { return ${GELU.fwd}; }`, suffix: ep.pre ? '_gelu_pre' : '_gelu' };
}

/** Statements storing value `v` at index `o` of O through the epilogue (`last`: a condition for applying the activation, else always). */
function storeCode(ep: Epilogue, o: string, last?: string): string {
  if (!ep.gelu) return `O[${o}] = v;`;
  return `O[${o}] = ${last ? `select(v, act(v), ${last})` : 'act(v)'};${ep.pre ? ` Pre[${o}] = v;` : ''}`;
}

// ---- the unrolled kernel ----------------------------------------------------------------------------

const WGS = [32, 64, 128]; // invocations (rows of X) per workgroup: they share one tile of Y
// Columns per invocation (accumulators): 24 amortises each X load best; 16 pads less for some J
// (attention's p·v and dq, J = D = 32: 2 blocks of 16 against 2 of 24; the classifier's 8 classes).
const X_LOAD = 5; // an X value's load (a per-lane address: ~10 instructions) in multiply-adds (2 each)
const REGION = 16; // k per region between pins (see the shader)
const MAX_KC = 128; // most k per dispatch: longer code compiles for tens of seconds and gains little

/** k per dispatch: K split evenly into chunks of at most MAX_KC, rounded up to whole regions. */
function chunkOf(K: number): number {
  const regions = Math.ceil(K / REGION);
  return REGION * Math.ceil(regions / Math.ceil(regions / (MAX_KC / REGION)));
}

/**
 * The columns per invocation for J columns: 16 where that saves over 10% of the work per k, padding
 * included (each block of BN columns loads X once), else 24. Closer calls (J = 64, 128: 3%) measured
 * even or worse with 16.
 */
function columnsOf(J: number): number {
  const cost = (bn: number) => Math.ceil(J / bn) * (bn + X_LOAD);
  return cost(16) < 0.9 * cost(24) ? 16 : 24;
}

/** Rows per workgroup for I rows: the fewest rows computed, padding included, counting a 64-row workgroup's ~20% higher cost per row than 128's (less sharing of each Y tile); smaller I takes the smallest that covers it. */
function rowsOf(I: number): number {
  const small = WGS.find((w) => w >= I);
  if (small) return small;
  const cost = (wg: number) => Math.ceil(I / wg) * wg * (wg < 128 ? 1.2 : 1);
  return cost(64) < cost(128) ? 64 : 128;
}

/**
 * The unrolled kernel for chunks of KC, its straight-line parts generated (see the shader). With
 * `accumulate` (K spans several chunks), chunks after the first add to what is stored; without, the
 * kernel skips reading `out` (a fifth of the work at K = 64).
 */
function unrolledKernel(KC: number, accumulate: boolean, WG: number, BN: number, ep: Epilogue): Kernel {
  const acc = (j: number) => `c${j}`;
  let body = '';
  for (let r = 0; r < KC; r += REGION) {
    for (let q = r / 4; q < (r + REGION) / 4; q++) body += `  let x${q} = select(vec4<f32>(0.0), X[xb + ${q}u], p.k0 + ${4 * q}u < p.K);\n`;
    for (let k = r; k < r + REGION; k++) {
      for (let j = 0; j < BN; j++) body += `  ${acc(j)} += x${k >> 2}.${'xyzw'[k % 4]} * Ys[${k * BN + j}];\n`;
    }
    body += `  pin[0] = ${Array.from({ length: BN }, (_, j) => acc(j)).join(' + ')};\n`;
  }
  const epi = epilogueCode(ep);
  return kernel(`matmul_unrolled_k${KC}${accumulate ? '_acc' : ''}${WG < 128 ? `_wg${WG}` : ''}${BN !== 24 ? `_bn${BN}` : ''}${epi.suffix}`, unrolledWgsl, {
    TILE: KC * BN,
    BN,
    WG,
    BROADCAST: broadcastWgsl,
    ACCS: Array.from({ length: BN }, (_, j) => `  var ${acc(j)} = biasTile[${j}];`).join('\n'),
    BODY: body,
    // The first chunk stores, later ones add: a select, as a branch doubled the compile time (so did
    // a second, unguarded copy of the stores for blocks away from the edge).
    // The activation only as the last chunk stores (a select, for the same reason).
    STORE: Array.from({ length: BN }, (_, j) => {
      const o = `o + ${j}u * p.cj`;
      const v = `${acc(j)}${accumulate ? ` + select(O[${o}], 0.0, p.first == 1u)` : ''}`;
      return `    if (j0 + ${j}u < p.J) { let v = ${v}; ${storeCode(ep, o, accumulate ? 'p.last == 1u' : undefined)} }`;
    }).join('\n'),
    EPILOGUE: epi.code,
  });
}

/** Largest batch count per dispatch (workgroups per dimension). */
function zChunk(): number {
  return device().info.limits.maxComputeWorkgroupsPerDimension ?? 65535;
}

/** Whether the unrolled kernel can read `x` (I × K) as its row operand in place: contiguous along K, vec4-aligned. */
function rowsInPlace(x: MatView, K: number): boolean {
  return x.cs === 1 && [K, x.off, x.rs, ...x.bs].every((s) => s % 4 === 0);
}

/**
 * A copy of `x` (I × K over `batch`) as rows contiguous along K, zero-padded to a multiple of 4.
 * Batch dimensions that x is broadcast along are not copied (they keep stride 0).
 */
function pack(x: MatView, I: number, K: number, batch: readonly number[], what: string): MatView {
  const Kp = Math.ceil(K / 4) * 4;
  const dims = batch.flatMap((_, d) => (x.bs[d] ? [d] : []));
  const shape = dims.map((d) => batch[d]!);
  const rows = sizeOf(shape) * I;
  const t = Tensor.empty([rows * Kp], 'f32', 'matmul pack');
  const params = { rows, I, K, Kp, off: x.off, xi: x.rs, xk: x.cs, brank: dims.length, bshape: pad8(shape), bs: pad8(dims.map((d) => x.bs[d]!)) };
  dispatch(kernel('matmul_pack', packWgsl, { BROADCAST: broadcastWgsl }), [x.t, t], params, rows, what);
  const ps = stridesOf(shape);
  return { t, off: 0, bs: batch.map((_, d) => (x.bs[d] ? ps[dims.indexOf(d)]! * I * Kp : 0)), rs: Kp, cs: 1 };
}

function runUnrolled(p: Plan, out: MatView, ep: Epilogue): void {
  const bias = ep.bias;
  const { M, N, K, a, b } = p;
  // X (rows read per invocation, contiguous along K) and Y (staged in workgroup memory): out = X·Y
  // with X = op(A), or outᵀ = op(B)ᵀ·op(A)ᵀ with X = op(B)ᵀ (not with a bias: it runs along J).
  // X is read in place where it can be, else packed: op(A) unless op(B)ᵀ can be read in place or
  // is the smaller copy (a weight gradient xᵀ·g packs whichever of x and g is narrower).
  const copied = (v: MatView, rows: number) => rows * p.batch.reduce((n, d, i) => (v.bs[i] ? n * d : n), 1);
  const swap = !bias && !rowsInPlace(a, K) && (rowsInPlace(transposed(b), K) || copied(b, N) < copied(a, M));
  const [I, J] = swap ? [N, M] : [M, N];
  const x0 = swap ? transposed(b) : a;
  const y = swap ? transposed(a) : b;
  const o = swap ? transposed(out) : out;
  const x = rowsInPlace(x0, K) ? x0 : pack(x0, I, K, p.batch, p.what);
  const KC = chunkOf(K);
  // The smallest workgroup that covers I, as rows past I are computed for nothing (attention's T = 64
  // rows, convolutions' 32 or 64 output channels): 30% less time at I = 64 and 50% at I = 32 than
  // 128 rows. Larger I keeps 128, which shares each Y tile more (64 rows there cost 15-25% more),
  // unless 64 pads much less (T = 192 tokens: 3 × 64 against 2 × 128).
  const WG = rowsOf(I);
  const BN = columnsOf(J);
  const kern = unrolledKernel(KC, K > KC, WG, BN, ep);
  const Z = sizeOf(p.batch);
  for (let z0 = 0; z0 < Z; z0 += zChunk()) {
    for (let k0 = 0; k0 < K; k0 += KC) {
      dispatch(
        kern,
        [x.t, y.t, bias ?? y.t, out.t, ...(ep.pre ? [ep.pre] : [])],
        {
          I, J, K, k0,
          xi: x.rs, yk: y.rs, yj: y.cs, ci: o.rs, cj: o.cs,
          first: k0 === 0 ? 1 : 0, last: k0 + KC >= K ? 1 : 0, bias: bias ? 1 : 0, never: 0,
          z0, brank: p.batch.length, xoff: x.off, yoff: y.off, ooff: o.off,
          bshape: pad8(p.batch), xs: pad8(x.bs), ys: pad8(y.bs), os: pad8(o.bs),
        },
        [Math.ceil(I / WG), Math.ceil(J / BN), Math.min(zChunk(), Z - z0)],
        p.what,
      );
    }
  }
  if (x !== x0) x.t.dispose();
}

// ---- the tiled kernel ------------------------------------------------------------------------------

function runTiled(p: Plan, out: MatView, ep: Epilogue): void {
  const { M, N, K, a, b } = p;
  const bias = ep.bias;
  const epi = epilogueCode(ep);
  const kern = kernel(`matmul_tiled${epi.suffix}`, tiledWgsl, { BROADCAST: broadcastWgsl, EPILOGUE: epi.code, STORE: `        ${storeCode(ep, 'o')}` });
  const Z = sizeOf(p.batch);
  for (let z0 = 0; z0 < Z; z0 += zChunk()) {
    dispatch(
      kern,
      [a.t, b.t, bias ?? b.t, out.t, ...(ep.pre ? [ep.pre] : [])],
      {
        M, N, K, z0, am: a.rs, ak: a.cs, bk: b.rs, bn: b.cs, cm: out.rs, cn: out.cs,
        aKfast: a.cs === 1 ? 1 : 0, bKfast: b.rs === 1 ? 1 : 0, bias: bias ? 1 : 0,
        brank: p.batch.length, aoff: a.off, boff: b.off, ooff: out.off,
        bshape: pad8(p.batch), sa: pad8(a.bs), sb: pad8(b.bs), so: pad8(out.bs),
      },
      [Math.ceil(N / 64), Math.ceil(M / 64), Math.min(zChunk(), Z - z0)],
      p.what,
    );
  }
}

/**
 * out ← a·b for views of M × K and K × N matrices (K ≥ 1) over `batch` (out: M × N, not overlapping
 * a or b), without autograd: for ops that read or write interleaved layouts in place (attention).
 */
export function matmulInto(a: MatView, b: MatView, out: MatView, M: number, N: number, K: number, batch: number[], what: string): void {
  if (M * N * sizeOf(batch) === 0) return;
  run({ M, N, K, batch, a, b, what }, out, {});
}

/** The plan on this device's kernel variant. */
function run(p: Plan, out: MatView, ep: Epilogue): void {
  if (matmulVariant() === 'unrolled') runUnrolled(p, out, ep);
  else runTiled(p, out, ep);
}

/** op(a)·op(b) through the epilogue (bias [N] on every row, GELU), without autograd. */
function product(a: Tensor, b: Tensor, transA: boolean, transB: boolean, op = 'matmul', ep: Epilogue = {}): Tensor {
  const p = plan(a, b, transA, transB, op);
  const shape = [...p.batch, p.M, p.N];
  if (p.K === 0) {
    if (ep.gelu) throw new Error(`internal: ${p.what}: no fused GELU on an empty product`);
    const z = zeros(shape);
    if (!ep.bias) return z;
    const out = mapBinary('add', z, ep.bias, 'a + b');
    z.dispose();
    return out;
  }
  const out = Tensor.empty(shape, 'f32', op);
  if (out.size === 0) return out;
  run(p, { t: out, off: 0, bs: stridesOf(p.batch).map((s) => s * p.M * p.N), rs: p.N, cs: 1 }, ep);
  return out;
}

/**
 * op(a)·op(b) for a [..., M, K] (or [..., K, M] with transA) and b [..., K, N] (or [..., N, K] with
 * transB); batch dimensions broadcast as in NumPy. Both operands need rank ≥ 2. Returns [..., M, N].
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const tA = opts.transA ?? false;
  const tB = opts.transB ?? false;
  const y = product(a, b, tA, tB);
  return record(y, 'matmul', [a, b], (g) => {
    // dop(A) = g·op(B)ᵀ, dop(B) = op(A)ᵀ·g; a transposed operand gets the transposed product.
    const ga = a.requiresGrad ? (tA ? matmul(b, g, { transA: tB, transB: true }) : matmul(g, b, { transB: !tB })) : undefined;
    const gb = b.requiresGrad ? (tB ? matmul(g, a, { transA: true, transB: tA }) : matmul(a, g, { transA: !tA })) : undefined;
    return [ga && sumTo(ga, a.shape), gb && sumTo(gb, b.shape)];
  });
}

export interface LinearOptions {
  /** Apply GELU to the result inside the product's kernel (the same values as gelu(linear(...))). */
  activation?: 'gelu';
}

/**
 * x·wᵀ + bias as torch.nn.functional.linear: x [..., K], w [N, K] (PyTorch layout), bias [N] → [..., N];
 * with `activation: 'gelu'`, GELU of that.
 */
export function linear(x: Tensor, w: Tensor, bias?: Tensor, opts: LinearOptions = {}): Tensor {
  const what = `linear x ${shapeStr(x.shape)} w ${shapeStr(w.shape)}${bias ? ` bias ${shapeStr(bias.shape)}` : ''}`;
  if (opts.activation !== undefined && opts.activation !== 'gelu') throw new Error(`${what}: activation must be 'gelu' or absent, got '${String(opts.activation)}'`);
  if (x.rank < 1 || w.rank !== 2) throw new Error(`${what}: expected x [..., K] and w [N, K]`);
  const K = x.shape[x.rank - 1]!;
  const N = w.shape[0]!;
  if (w.shape[1] !== K) throw new Error(`${what}: x has ${K} features but w expects ${w.shape[1]}`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== N)) throw new Error(`${what}: bias must be [${N}]`);
  if (bias && bias.dtype !== 'f32') throw new Error(`${what}: expected an f32 bias, got ${bias}`);
  const useGelu = opts.activation === 'gelu';
  if (useGelu && K === 0) return gelu(linear(x, w, bias)); // an empty product: nothing to fuse into
  const inputs = bias ? [x, w, bias] : [x, w];
  const R = sizeOf(x.shape.slice(0, -1));
  const rows = (t: Tensor, n: number) => t.view([R, n]);
  // GELU's input is kept only for a backward pass.
  const pre = useGelu && isGradEnabled() && inputs.some((t) => t.requiresGrad) ? Tensor.empty([R, N], 'f32', 'linear gelu input') : undefined;
  const x2 = rows(x, K);
  const y2 = product(x2, w, false, true, 'linear', { bias, gelu: useGelu, pre });
  x2.dispose();
  const out = y2.view([...x.shape.slice(0, -1), N]);
  y2.dispose();
  return record(out, useGelu ? 'linear_gelu' : 'linear', inputs, (g) => {
    const g2 = pre ? geluBackward(rows(g, N), pre) : rows(g, N);
    const gx = x.requiresGrad ? product(g2, w, false, false, 'linear') : undefined;
    const gw = w.requiresGrad ? product(g2, rows(x, K), true, false, 'linear') : undefined;
    const gb = bias?.requiresGrad ? sum(g2, 0) : undefined;
    return [gx, gw, gb];
  });
}
