// The benchmark harness (`npm run bench`; or `npx vite-node bench/run.ts` without a build).
//
// Measures the engine in this process (bench/engine.ts), then TensorFlow.js 4.22 on its WebGPU
// backend (same adapter, through Dawn) and on its WASM backend, each in a child process of its own
// (bench/tfjs-peers.ts): TF.js backends do not switch cleanly and Dawn instances should not be
// shared; then PyTorch on the CPU (interop/torch/bench.py under Debian's /usr/bin/python3, 2 threads),
// when it is installed. Runs are sequential, so no two measurements compete for the cores.
// Prints a table of medians with the engine's speed-up over each peer (> 1: the engine is faster),
// then, as its last line, one JSON object with every figure.
// bench/engine.ts exports engineMatmulGflops() and engineVitStepMs(), measured by the protocol and
// constants in bench/tfjs-peers.ts (WARMUP, VIT, MATMUL_REPS, ...); a row whose engine figure is not
// exported shows the peers alone. Last, the default student's inference fps on an 854×480 frame (VSPW's 480p), in
// this process and in the browser page (bench/web.ts: headless Chromium, a few minutes), and
// Farneback optical flow on a 640×480 pair beside opencv.js (bench/flow.ts), in this process.
//
//   --peers=webgpu,wasm,torch   which peers to run (default all three; --peers= for none)
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeDevice } from '../engine/index.ts';
import { initNode } from '../engine/node.ts';
import * as engine from './engine.ts';
import { H as FLOW_H, W as FLOW_W, benchFarneback } from './flow.ts';
import { browserStudentFps } from './web.ts';

type Peer = 'webgpu' | 'wasm' | 'torch';
const PEERS: readonly Peer[] = ['webgpu', 'wasm', 'torch'];
const PEER_NAME: Record<Peer, string> = { webgpu: 'TF.js webgpu', wasm: 'TF.js wasm', torch: 'PyTorch CPU' };
interface PeerResult {
  backend?: Peer;
  adapter?: string;
  threads?: number;
  torch?: string;
  matmul1024_gflops: number;
  vit_step_ms: number;
  /** PyTorch only: the default student's training step and its inference on a 480×360 frame. */
  student_step_ms?: number;
  student480x360_fps?: number;
}
interface EngineBench {
  engineMatmulGflops: () => Promise<number>;
  engineVitStepMs: () => Promise<number>;
  engineStudentStepMs: () => Promise<number>;
}
const PYTHON = '/usr/bin/python3';

const PEER_TIMEOUT_MS = 15 * 60_000;
const here = path.dirname(fileURLToPath(import.meta.url));

/** The command line of a peer child: PyTorch's script; for TF.js the bundle next to this one after a build, else vite-node on the source. */
function peerCommand(backend: Peer): string[] {
  if (backend === 'torch') return [PYTHON, path.resolve(here, '../interop/torch/bench.py')];
  const flag = `--backend=${backend}`;
  if (import.meta.url.endsWith('.ts')) {
    return [process.execPath, path.resolve(here, '../node_modules/.bin/vite-node'), path.join(here, 'tfjs-peers.ts'), flag];
  }
  return [process.execPath, path.join(here, 'bench-tfjs.js'), flag];
}

function runPeer(backend: Peer): Promise<PeerResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = peerCommand(backend);
    const env = { ...process.env, OMP_NUM_THREADS: '2', OMP_WAIT_POLICY: 'PASSIVE' };
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: PEER_TIMEOUT_MS, env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      if (code === 0 && line) return resolve(JSON.parse(line) as PeerResult);
      reject(new Error(`bench: the ${PEER_NAME[backend]} peer failed (${signal ?? `exit ${code}`}):\n${err}${out}`));
    });
  });
}

const USAGE = `usage: npm run bench [-- --peers=webgpu,wasm,torch]

Times the engine against TensorFlow.js (WebGPU and WASM backends) and PyTorch on the CPU, then the default
student's inference in Node and in the browser page, and Farneback flow beside opencv.js (~7 minutes here).
  --peers=LIST   which peers to run (default all three; --peers= for none)`;

/** The peers to run; unknown options are refused. */
function parsePeers(argv: string[]): Peer[] {
  const unknown = argv.filter((a) => !a.startsWith('--peers='));
  if (unknown.length) throw new Error(`bench: unknown option '${unknown[0]}'\n${USAGE}`);
  const opt = argv.find((a) => a.startsWith('--peers='));
  if (opt === undefined) return [...PEERS];
  const names = opt.slice('--peers='.length).split(',').filter(Boolean);
  for (const n of names) if (!PEERS.includes(n as Peer)) throw new Error(`bench: unknown peer '${n}' in ${opt} (${PEERS.join(', ')})`);
  return names as Peer[];
}

/** Is PyTorch importable by Debian's Python (scripts/setup.sh installs it)? */
function torchInstalled(): boolean {
  return spawnSync(PYTHON, ['-c', 'import torch, PIL'], { stdio: 'ignore' }).status === 0;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const cell = (x: number | undefined) => (x === undefined ? '—' : x >= 100 ? x.toFixed(0) : x.toPrecision(3));

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) return void console.log(USAGE);
  let peers = parsePeers(argv);
  if (peers.includes('torch') && !torchInstalled()) {
    console.log(`PyTorch peer skipped: ${PYTHON} cannot import torch (bash scripts/setup.sh installs Debian's python3-torch)`);
    peers = peers.filter((p) => p !== 'torch');
  }
  // bench/engine.ts may hold only some of the measurements; the table has a row for each figure found.
  const eng: Partial<EngineBench> = engine;

  await initNode();
  const adapter = describeDevice();
  const ours = {
    matmul: await eng.engineMatmulGflops?.(),
    vit: await eng.engineVitStepMs?.(),
    studentStep: await eng.engineStudentStepMs?.(),
    student480: await engine.engineStudentFps(480, 360),
  };
  const results = new Map<Peer, PeerResult>();
  for (const p of peers) results.set(p, await runPeer(p));

  const rows = [
    { name: 'matmul 1024² f32 (GFLOP/s)', key: 'matmul1024_gflops', ours: ours.matmul, higherIsBetter: true },
    { name: 'ViT train step (ms)', key: 'vit_step_ms', ours: ours.vit, higherIsBetter: false },
    { name: 'student train step, 4 × 96×128 (ms)', key: 'student_step_ms', ours: ours.studentStep, higherIsBetter: false },
    { name: 'student inference 480×360 (frames/s)', key: 'student480x360_fps', ours: ours.student480, higherIsBetter: true },
  ] as const;
  const json: Record<string, number | string> = {};
  const prefix = (p: Peer) => (p === 'torch' ? 'torch_cpu' : `tfjs_${p}`);
  const header = ['measurement', 'engine', ...peers.map((p) => PEER_NAME[p]), ...peers.map((p) => `speed-up vs ${PEER_NAME[p]}`)];
  const table = [header];
  for (const r of rows) {
    if (r.ours !== undefined) json[r.key] = round(r.ours);
    const theirs = peers.map((p) => results.get(p)![r.key]);
    const speedups = theirs.map((t) => (r.ours === undefined || t === undefined ? undefined : r.higherIsBetter ? r.ours / t : t / r.ours));
    peers.forEach((p, i) => {
      if (theirs[i] !== undefined) json[`${prefix(p)}_${r.key}`] = round(theirs[i]!);
      if (speedups[i] !== undefined) json[`speedup_vs_${prefix(p)}_${r.key}`] = round(speedups[i]!);
    });
    table.push([r.name, cell(r.ours), ...theirs.map(cell), ...speedups.map((s) => (s === undefined ? '—' : `${s.toFixed(2)}×`))]);
  }
  const torch = results.get('torch');
  const wasm = results.get('wasm');
  if (wasm?.threads !== undefined) json.tfjs_wasm_threads = wasm.threads;

  console.log(`engine adapter: ${adapter}`);
  const gpuPeer = results.get('webgpu');
  if (gpuPeer?.adapter) console.log(`TF.js WebGPU adapter: ${gpuPeer.adapter}`);
  if (wasm) console.log(`TF.js WASM: threaded SIMD build, ${wasm.threads} XNNPACK thread(s)`);
  if (torch) console.log(`PyTorch ${torch.torch} on the CPU (Debian's python3-torch), ${torch.threads} thread(s)`);
  const fps = await engine.engineStudentFps(854, 480);
  json.student854x480_fps = round(fps);
  // The same model in the browser page (a few minutes on SwiftShader); skipped, saying why, without Chromium.
  let web: { fps: number; adapter: string } | string;
  try {
    web = await browserStudentFps(854, 480);
    json.browser_student854x480_fps = round(web.fps, 4);
  } catch (e) {
    web = (e as Error).message;
  }
  const flow = await benchFarneback();
  json.farneback640_ms = round(flow.engine_ms);
  json.opencv_farneback640_ms = round(flow.opencv_ms);
  json.speedup_vs_opencv_farneback640 = round(flow.opencv_ms / flow.engine_ms);
  const widths = header.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  for (const row of table) console.log(row.map((s, c) => (c ? s.padStart(widths[c]!) : s.padEnd(widths[c]!))).join('  '));
  console.log(`default student inference, 854×480 frame (seen at its base size, 96 pixels high; class ids at 854×480): ${fps.toFixed(2)} frames/s (no peer: TF.js has no such model)`);
  console.log(typeof web === 'string' ? `the same in the browser page: not measured (${web})` : `the same in the browser page (headless Chromium, ${web.adapter}): ${web.fps.toFixed(3)} frames/s`);
  console.log(
    `Farneback ${FLOW_W}×${FLOW_H}, OpenCV's defaults: engine ${flow.engine_ms.toFixed(0)} ms, opencv.js (WASM, 1 thread) ${flow.opencv_ms.toFixed(0)} ms, ` +
      `speed-up ${(flow.opencv_ms / flow.engine_ms).toFixed(2)}× (flows differ by ${flow.epe.toExponential(1)} px on average)`,
  );
  console.log(JSON.stringify(json));
}

main().then(
  () => process.exit(0), // Dawn's handles would keep the process alive
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
