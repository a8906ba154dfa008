// What bounds the 'unrolled' matmul kernel on lavapipe: the kernel's core (shaders/matmul_unrolled.wgsl, a
// workgroup of 128 rows × 24 columns, KC k per dispatch) with parts taken out, in GFLOP/s.
// Run: npx vite-node bench/matmul-ceiling.ts [groups]
//
// Variants (each: 128 rows × 24·groups columns × KC):
// - x from storage / x constant: each invocation reads its row of X (per-lane addresses, which
//   lavapipe turns into a loop over the lanes with a bounds check per value) or uses a constant (only
//   the multiply-adds with their broadcast workgroup-memory operand are left);
// - 24 stores / 1 store: each invocation writes its 24 outputs (per-lane stores again), or their sum;
// - KC 128 / 32: the straight-line code is ~4× longer at 128 (about 100 KB of x86 against ~25 KB:
//   more than the 32 KB instruction cache).
// The same multiply-add pattern compiled from C on this machine (gcc -O2: vmulps with a broadcast
// memory operand + vaddps, 24 accumulators) runs at 26-34 GFLOP/s per core in a loop, and at
// 10 GFLOP/s per core as ~110 KB of straight-line code (README, "Why the speed targets are not met").
import { initNode } from '../engine/node.ts';
import { describeDevice, device, dispatch, kernel, flush, tensor, type Tensor } from '../engine/index.ts';
import { median } from './stats.ts';

const BN = 24;
const WG = 128;
const REGION = 16;
const groups = Number(process.argv[2] ?? 96);

function source(KC: number, fromStorage: boolean, allStores: boolean): string {
  let body = '';
  for (let r = 0; r < KC; r += REGION) {
    for (let q = r / 4; q < (r + REGION) / 4; q++) {
      body += fromStorage ? `  let x${q} = X[xb + ${q}u];\n` : `  let x${q} = vec4<f32>(f32(li + ${q}u));\n`;
    }
    for (let k = r; k < r + REGION; k++) for (let j = 0; j < BN; j++) body += `  c${j} += x${k >> 2}.${'xyzw'[k % 4]} * Ys[${k * BN + j}];\n`;
    body += `  pin[0] = ${Array.from({ length: BN }, (_, j) => `c${j}`).join(' + ')};\n`; // as the real kernel (see its header)
  }
  const accs = Array.from({ length: BN }, (_, j) => `c${j}`);
  return `
struct Params { J: u32, never: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
var<workgroup> Ys: array<f32, ${KC * BN}>;
var<workgroup> pin: array<f32, 1>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let j0 = wid.y * ${BN}u;
  for (var t = li; t < ${KC * BN}u; t += ${WG}u) { Ys[t] = Y[(t / ${BN}u) * p.J + j0 + t % ${BN}u]; }
  workgroupBarrier();
  let xb = li * ${KC / 4}u;
${accs.map((c) => `  var ${c} = 0.0;`).join('\n')}
${fromStorage ? '' : '  c0 += X[xb].x; // keeps the binding'}
${body}
  c0 += select(0.0, pin[0], p.never == 1u);
  let o = li * p.J + j0;
${allStores ? accs.map((c, j) => `  O[o + ${j}u] = ${c};`).join('\n') : `  O[o] = ${accs.join(' + ')};`}
}`;
}

async function gflops(KC: number, fromStorage: boolean, allStores: boolean): Promise<number> {
  const J = BN * groups;
  const x = tensor(new Float32Array(WG * KC).fill(0.5), [WG * KC]);
  const y = tensor(new Float32Array(KC * J).fill(0.25), [KC * J]);
  const o = tensor(new Float32Array(WG * J), [WG * J]);
  const k = kernel(`ceiling_k${KC}_${fromStorage ? 'x' : 'nox'}_${allStores ? 'stores' : 'store'}`, source(KC, fromStorage, allStores));
  const run = async (n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) dispatch(k, [x, y, o], { J, never: 0 }, [1, groups, 1], 'ceiling');
    flush();
    await device().gpu.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / n;
  };
  await run(1); // compiles
  const times: number[] = [];
  for (let r = 0; r < 7; r++) times.push(await run(8));
  for (const t of [x, y, o] as Tensor[]) t.dispose();
  return (2 * WG * J * KC) / median(times) / 1e6;
}

await initNode();
console.log(`${describeDevice()}\n128 rows × ${BN * groups} columns × KC, medians of 7 batches of 8 dispatches, GFLOP/s`);
console.log('KC   x from storage, 24 stores   x from storage, 1 store   x constant, 1 store');
for (const KC of [128, 32]) {
  const cells = [await gflops(KC, true, true), await gflops(KC, true, false), await gflops(KC, false, false)];
  console.log(`${String(KC).padEnd(5)}${cells.map((c, i) => c.toFixed(1).padStart(i ? 26 : 27)).join('')}`);
}
