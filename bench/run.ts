// The benchmark harness (`npm run bench`; or `npx vite-node bench/run.ts` without a build).
//
// Measures the engine in this process (bench/engine.ts), then TensorFlow.js 4.22 on its WebGPU
// backend (same adapter, through Dawn) and on its WASM backend, each in a child process of its own
// (bench/tfjs-peers.ts): TF.js backends do not switch cleanly and Dawn instances should not be
// shared. Runs are sequential, so no two measurements compete for the cores.
// Prints a table of medians with the engine's speed-up over each peer (> 1: the engine is faster),
// then, as its last line, one JSON object with every figure.
// bench/engine.ts exports engineMatmulGflops() and engineVitStepMs(), measured by the protocol and
// constants in bench/tfjs-peers.ts (WARMUP, VIT, MATMUL_REPS, ...); a row whose engine figure is not
// exported shows the peers alone. Last, the default student's inference fps on an 854×480 frame (VSPW's 480p), in
// this process and in the browser page (bench/web.ts: headless Chromium, a few minutes), and
// Farneback optical flow on a 640×480 pair beside opencv.js (bench/flow.ts), in this process.
//
//   --peers=webgpu,wasm   which TF.js peers to run (default both; --peers= for none)
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeDevice } from '../engine/index.ts';
import { initNode } from '../engine/node.ts';
import * as engine from './engine.ts';
import { H as FLOW_H, W as FLOW_W, benchFarneback } from './flow.ts';
import { browserStudentFps } from './web.ts';

type Peer = 'webgpu' | 'wasm';
interface PeerResult {
  backend: Peer;
  adapter?: string;
  threads?: number;
  matmul1024_gflops: number;
  vit_step_ms: number;
}
interface EngineBench {
  engineMatmulGflops: () => Promise<number>;
  engineVitStepMs: () => Promise<number>;
}

const PEER_TIMEOUT_MS = 15 * 60_000;
const here = path.dirname(fileURLToPath(import.meta.url));

/** The command for a peer child: the bundle next to this one after a build, else vite-node on the source. */
function peerCommand(backend: Peer): string[] {
  const flag = `--backend=${backend}`;
  if (import.meta.url.endsWith('.ts')) {
    return [path.resolve(here, '../node_modules/.bin/vite-node'), path.join(here, 'tfjs-peers.ts'), flag];
  }
  return [path.join(here, 'bench-tfjs.js'), flag];
}

function runPeer(backend: Peer): Promise<PeerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, peerCommand(backend), { stdio: ['ignore', 'pipe', 'pipe'], timeout: PEER_TIMEOUT_MS });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      if (code === 0 && line) return resolve(JSON.parse(line) as PeerResult);
      reject(new Error(`bench: the TF.js ${backend} peer failed (${signal ?? `exit ${code}`}):\n${err}${out}`));
    });
  });
}

function parsePeers(argv: string[]): Peer[] {
  const opt = argv.find((a) => a.startsWith('--peers='));
  if (opt === undefined) return ['webgpu', 'wasm'];
  const names = opt.slice('--peers='.length).split(',').filter(Boolean);
  for (const n of names) if (n !== 'webgpu' && n !== 'wasm') throw new Error(`bench: unknown peer '${n}' in ${opt} (webgpu, wasm)`);
  return names as Peer[];
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const cell = (x: number | undefined) => (x === undefined ? '—' : x >= 100 ? x.toFixed(0) : x.toPrecision(3));

async function main(): Promise<void> {
  const peers = parsePeers(process.argv.slice(2));
  // bench/engine.ts may hold only some of the measurements; the table has a row for each figure found.
  const eng: Partial<EngineBench> = engine;

  await initNode();
  const adapter = describeDevice();
  const ours = {
    matmul: await eng.engineMatmulGflops?.(),
    vit: await eng.engineVitStepMs?.(),
  };
  const results = new Map<Peer, PeerResult>();
  for (const p of peers) results.set(p, await runPeer(p));

  const rows = [
    { name: 'matmul 1024² f32 (GFLOP/s)', key: 'matmul1024_gflops', ours: ours.matmul, higherIsBetter: true },
    { name: 'ViT train step (ms)', key: 'vit_step_ms', ours: ours.vit, higherIsBetter: false },
  ] as const;
  const json: Record<string, number | string> = {};
  const header = ['measurement', 'engine', ...peers.map((p) => `TF.js ${p}`), ...peers.map((p) => `speed-up vs ${p}`)];
  const table = [header];
  for (const r of rows) {
    if (r.ours !== undefined) json[r.key] = round(r.ours);
    const theirs = peers.map((p) => results.get(p)![r.key]);
    const speedups = theirs.map((t) => (r.ours === undefined ? undefined : r.higherIsBetter ? r.ours / t : t / r.ours));
    peers.forEach((p, i) => {
      json[`tfjs_${p}_${r.key}`] = round(theirs[i]!);
      if (speedups[i] !== undefined) json[`speedup_vs_tfjs_${p}_${r.key}`] = round(speedups[i]!);
    });
    table.push([r.name, cell(r.ours), ...theirs.map(cell), ...speedups.map((s) => (s === undefined ? '—' : `${s.toFixed(2)}×`))]);
  }
  const wasm = results.get('wasm');
  if (wasm?.threads !== undefined) json.tfjs_wasm_threads = wasm.threads;

  console.log(`engine adapter: ${adapter}`);
  const gpuPeer = results.get('webgpu');
  if (gpuPeer?.adapter) console.log(`TF.js WebGPU adapter: ${gpuPeer.adapter}`);
  if (wasm) console.log(`TF.js WASM: threaded SIMD build, ${wasm.threads} XNNPACK thread(s)`);
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
