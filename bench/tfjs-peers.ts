// TensorFlow.js 4.22 peers for the benchmark: the same two measurements our engine makes
// (bench/engine.ts), on TF.js's WebGPU backend (through Dawn, on the same adapter) and its WASM
// backend (XNNPACK). bench/run.ts starts this file once per backend in a child process, because TF.js
// backends do not switch cleanly and a Dawn instance should not be shared; the child prints one JSON
// line and exits.
//
//   node dist/bench-tfjs.js --backend=webgpu        (after npm run build)
//   npx vite-node bench/tfjs-peers.ts --backend=wasm
//
// Protocol, shared with bench/engine.ts:
// - matmul: f32 1024×1024 · 1024×1024; a sample is MATMUL_REPS products queued back to back and the
//   last one read back; GFLOP/s = 2·n³·reps / median sample time.
// - ViT step: a fixed batch resident on the device; a step is forward, backward, the Adam update and
//   the read-back of the scalar loss; median of VIT_STEPS steps after WARMUP steps.
//
// Node quirks handled here (TF.js targets browsers):
// - the WebGPU backend registers itself only if navigator.gpu exists when it is loaded, so Dawn's GPU
//   is installed as navigator.gpu first and the package is required afterwards; read-backs use
//   `await t.data()` (dataSync needs OffscreenCanvas).
// - the WASM backend disables threads in Node, and even when forced it caps its XNNPACK pool at
//   (logical cores)/2, i.e. 1 thread on this 2-core machine. `useThreadedWasm` loads the threaded
//   build itself (worker script written to a temp file, since Node workers cannot start from blob:
//   URLs) and reports twice the cores while the module initialises, so setThreadsCount is honoured.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { median } from './stats.ts';

type TF = typeof import('@tensorflow/tfjs');
type WasmPkg = typeof import('@tensorflow/tfjs-backend-wasm');
type Tensor = import('@tensorflow/tfjs').Tensor;
type Variable = import('@tensorflow/tfjs').Variable;

export type PeerBackend = 'webgpu' | 'wasm';

export const WARMUP = 3;
export const VIT_STEPS = 10;
export const MATMUL_SAMPLES = 10;
export const MATMUL_REPS = 4;
/** XNNPACK threads for the WASM peer: one per core here. */
export const WASM_THREADS = 2;

/** The benchmark ViT; the engine side builds the same network from models/layers.ts. */
export const VIT = { batch: 8, image: 64, channels: 3, patch: 8, width: 128, depth: 4, heads: 4, mlpRatio: 4, classes: 16, lr: 1e-3 } as const;

// `req`, not `require`: the esbuild banner already declares `require` in the bundle.
const req = createRequire(import.meta.url);
let loaded: { tf: TF; backend: PeerBackend; threads: number } | undefined;
// Dawn aborts if the object from create([]) is collected while a device lives: keep it for the process.
let dawnGPU: unknown;

/** Load TF.js on `backend` (once per process: a second backend would need a fresh process); `threads` is the WASM backend's XNNPACK thread count, 1 for WebGPU. */
export async function loadTfjs(backend: PeerBackend): Promise<{ tf: TF; threads: number }> {
  if (loaded) {
    if (loaded.backend !== backend) throw new Error(`tfjs-peers: this process already runs TF.js on ${loaded.backend}, not ${backend}`);
    return loaded;
  }
  let threads = 1;
  if (backend === 'webgpu') {
    const { create, globals } = req('webgpu') as typeof import('webgpu');
    process.env.XDG_RUNTIME_DIR ??= '/tmp'; // only silences a Dawn warning
    Object.assign(globalThis, globals);
    dawnGPU = create([]);
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: dawnGPU }, configurable: true, writable: true });
  }
  const tf = req('@tensorflow/tfjs') as TF;
  if (backend === 'webgpu') req('@tensorflow/tfjs-backend-webgpu');
  else useThreadedWasm(tf, WASM_THREADS);
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs-peers: TF.js could not start its ${backend} backend`);
  await tf.ready();
  if (backend === 'wasm') threads = (req('@tensorflow/tfjs-backend-wasm') as WasmPkg).getThreadsCount();
  loaded = { tf, backend, threads };
  return loaded;
}

/** Replace TF.js's 'wasm' backend factory by one that loads the threaded SIMD build in Node. */
function useThreadedWasm(tf: TF, threads: number): void {
  const wasm = req('@tensorflow/tfjs-backend-wasm') as WasmPkg;
  const dir = path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js'));
  const script = path.join(dir, 'tfjs-backend-wasm-threaded-simd.js');
  const factory = req(script) as (config: object) => Promise<EmscriptenModule>;
  const { wasmWorkerContents } = req(path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  const worker = path.join(mkdtempSync(path.join(os.tmpdir(), 'tfjs-wasm-')), 'worker.cjs');
  // TF.js makes the same escape before it turns the text into a blob (newlines inside string literals).
  writeFileSync(worker, wasmWorkerContents.replace(/\n/g, '\\n'));
  wasm.setThreadsCount(threads);
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', async () => {
    const cpus = os.cpus;
    os.cpus = () => [...cpus(), ...cpus()]; // read once, by the module's static initialisers
    let module: EmscriptenModule;
    try {
      module = await factory({
        locateFile: (file: string) => (file.endsWith('.worker.js') ? worker : path.join(dir, file)),
        mainScriptUrlOrBlob: script, // what each worker evaluates to define the module factory
      });
    } finally {
      os.cpus = cpus;
    }
    const fn = (name: string, ret: string | null, args: string[]) => module.cwrap(name, ret, args);
    // The bridge TF.js's own init() attaches (backend_wasm.ts).
    module.tfjs = {
      init: fn('init', null, []),
      initWithThreadsCount: fn('init_with_threads_count', null, ['number']),
      getThreadsCount: fn('get_threads_count', 'number', []),
      registerTensor: fn('register_tensor', null, ['number', 'number', 'number']),
      disposeData: fn('dispose_data', null, ['number']),
      dispose: fn('dispose', null, []),
    };
    return new wasm.BackendWasm(module as never);
  }, 2);
}

interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: unknown[]) => unknown;
  tfjs?: Record<string, (...a: unknown[]) => unknown>;
}

/** f32 1024×1024 matmul throughput in GFLOP/s (median over MATMUL_SAMPLES samples). */
export async function tfjsMatmulGflops(backend: PeerBackend, n = 1024): Promise<number> {
  const { tf } = await loadTfjs(backend);
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  const sample = async () => {
    const t0 = performance.now();
    const outs: Tensor[] = [];
    for (let r = 0; r < MATMUL_REPS; r++) outs.push(tf.matMul(a, b));
    await outs[outs.length - 1]!.data();
    const ms = performance.now() - t0;
    tf.dispose(outs);
    return ms;
  };
  for (let i = 0; i < WARMUP; i++) await sample();
  const times: number[] = [];
  for (let i = 0; i < MATMUL_SAMPLES; i++) times.push(await sample());
  tf.dispose([a, b]);
  return (2 * n ** 3 * MATMUL_REPS) / (median(times) * 1e6);
}

/** Median ms of one ViT training step (forward, backward, Adam, loss read-back). */
export async function tfjsVitStepMs(backend: PeerBackend): Promise<number> {
  const { tf } = await loadTfjs(backend);
  const { batch: B, image, channels: C, patch: P, width: W, depth, heads, mlpRatio, classes, lr } = VIT;
  const g = image / P; // patches per side
  const T = g * g; // tokens per image
  const D = W / heads;

  const vars: Variable[] = [];
  const param = (shape: number[], init: 'normal' | 'zeros' | 'ones') => {
    const v = tf.variable(init === 'normal' ? tf.truncatedNormal(shape, 0, 0.02) : init === 'zeros' ? tf.zeros(shape) : tf.ones(shape));
    vars.push(v);
    return v;
  };
  const linear = (inF: number, outF: number) => ({ w: param([inF, outF], 'normal'), b: param([outF], 'zeros') });
  const norm = () => ({ g: param([W], 'ones'), b: param([W], 'zeros') });
  const embed = linear(P * P * C, W);
  const pos = param([T, W], 'normal');
  const blocks = Array.from({ length: depth }, () => ({
    norm1: norm(),
    qkv: linear(W, 3 * W),
    proj: linear(W, W),
    norm2: norm(),
    fc1: linear(W, mlpRatio * W),
    fc2: linear(mlpRatio * W, W),
  }));
  const normF = norm();
  const head = linear(W, classes);

  type Lin = { w: Tensor; b: Tensor };
  const dense = (x: Tensor, l: Lin) => tf.add(tf.matMul(x, l.w), l.b); // x: [N, in]
  const layerNorm = (x: Tensor, n: { g: Tensor; b: Tensor }) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6))), n.g), n.b);
  };
  const gelu = (x: Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)); // exact, as the engine's
  const attention = (x: Tensor, blk: (typeof blocks)[number]) => {
    // [B·T, 3W] → [3, B, H, T, D]
    const qkv = tf.transpose(tf.reshape(dense(x, blk.qkv), [B, T, 3, heads, D]), [2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(qkv) as [Tensor, Tensor, Tensor];
    const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D)));
    const out = tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]); // [B, T, H, D]
    return dense(tf.reshape(out, [B * T, W]), blk.proj);
  };

  const images = tf.randomUniform([B, image, image, C]);
  const labels = tf.oneHot(tf.randomUniform([B * T], 0, classes, 'int32') as Tensor, classes);
  const loss = () => {
    // [B, H, W, C] → patches [B·T, P·P·C]
    const patches = tf.reshape(tf.transpose(tf.reshape(images, [B, g, P, g, P, C]), [0, 1, 3, 2, 4, 5]), [B * T, P * P * C]);
    let x = tf.reshape(tf.add(tf.reshape(dense(patches, embed), [B, T, W]), pos), [B * T, W]);
    for (const blk of blocks) {
      x = tf.add(x, attention(layerNorm(x, blk.norm1), blk));
      x = tf.add(x, dense(gelu(dense(layerNorm(x, blk.norm2), blk.fc1)), blk.fc2));
    }
    const logits = dense(layerNorm(x, normF), head); // [B·T, classes]
    return tf.losses.softmaxCrossEntropy(labels, logits) as import('@tensorflow/tfjs').Scalar;
  };

  const opt = tf.train.adam(lr);
  const step = async () => {
    const t0 = performance.now();
    const l = opt.minimize(loss, true, vars)!;
    await l.data();
    const ms = performance.now() - t0;
    l.dispose();
    return ms;
  };
  for (let i = 0; i < WARMUP; i++) await step();
  const times: number[] = [];
  for (let i = 0; i < VIT_STEPS; i++) times.push(await step());
  opt.dispose();
  tf.dispose([images, labels, ...vars]);
  return median(times);
}

/** The child-process program: measure one backend and print one JSON line. */
async function main(backend: PeerBackend): Promise<void> {
  const { threads } = await loadTfjs(backend);
  const about = backend === 'webgpu' ? { adapter: await adapterName() } : { threads };
  const matmul = await tfjsMatmulGflops(backend);
  const vit = await tfjsVitStepMs(backend);
  console.log(JSON.stringify({ backend, ...about, matmul1024_gflops: matmul, vit_step_ms: vit }));
}

/** The adapter Dawn gives TF.js, named as engine/device.ts names it, so run.ts can show they match. */
async function adapterName(): Promise<string> {
  const info = (await (dawnGPU as GPU).requestAdapter({ powerPreference: 'high-performance' }))?.info;
  return info ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ') : 'unknown adapter';
}

const arg = process.argv.slice(2).find((a) => a.startsWith('--backend='))?.slice('--backend='.length);
if (arg !== undefined) {
  if (arg !== 'webgpu' && arg !== 'wasm') throw new Error(`tfjs-peers: --backend must be webgpu or wasm, got '${arg}'`);
  main(arg).then(
    () => process.exit(0), // Dawn's and the WASM workers' handles would keep the process alive
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
