// The profiler (engine/profiler.ts) on a workload of known shape: exact launches, submits, read-backs,
// uploads and bytes bound per kernel and per step, compilations counted once, sane times, in both
// timing modes; the per-dispatch mode keeps uploads ordered; `--profile` parsing; and
// `node train/run.js --profile 2` (from source) printing the table and writing profile.json.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeSynth } from '../dataset/synth-write.ts';
import {
  add, assignData, beginProfiledStep, device, endProfiledStep, matmul, relu, setMatmulVariant, startProfiling, stopProfiling, tensor, tidy,
  type Profile, type Tensor,
} from '../engine/index.ts';
import { profiler } from '../engine/profiler.ts';
import { scheduler } from '../engine/scheduler.ts';
import { DEFAULTS, PROFILE_STEPS, parseArgs } from '../train/config.ts';
import { TINY_MODEL } from './fixtures.ts';
import { gpu } from './setup.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-profile-'));
const hasTimestamps = (await gpu()).info.features.includes('timestamp-query');

beforeAll(() => setMatmulVariant('tiled')); // one dispatch per matmul (the unrolled variant splits K into chunks)
afterAll(() => {
  setMatmulVariant(undefined);
  rmSync(root, { recursive: true, force: true });
});

const [M, K] = [32, 64];
const F = 4; // bytes per f32
const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * 0.1);
const x0 = () => tensor(values(M * K, 1), [M, K]);

/** One step: upload w [K, K], then 3 × (matmul, relu, add), then one read-back of [M, K]. */
async function step(x: Tensor, seed: number): Promise<Float32Array> {
  const w = tensor(values(K * K, seed), [K, K]);
  const y = tidy(() => {
    let h = x;
    for (let i = 0; i < 3; i++) h = add(relu(matmul(h, w)), h);
    return h;
  });
  const out = (await y.data()) as Float32Array;
  y.dispose();
  w.dispose();
  return out;
}

async function profile(steps: number, perDispatch: boolean): Promise<{ p: Profile; outs: Float32Array[] }> {
  const x = x0();
  startProfiling({ perDispatch });
  const outs: Float32Array[] = [];
  for (let s = 0; s < steps; s++) {
    beginProfiledStep();
    outs.push(await step(x, s));
    await endProfiledStep();
    await step(x, 99); // between steps: not counted
  }
  const p = await stopProfiling();
  x.dispose();
  return { p, outs };
}

const byName = (p: Profile) => Object.fromEntries(p.kernels.map((k) => [k.kernel, k]));

/** `fresh`: the profile's buffers were never bound before (its every dispatch makes a bind group). */
function checkCounts(p: Profile, steps: number, fresh = false): void {
  expect(p.steps).toBe(steps);
  const k = byName(p);
  // add's operands have the same shape, so it runs four elements an invocation (add_vec4).
  expect(Object.keys(k).sort()).toEqual(['add_vec4', 'matmul_tiled', 'relu']);
  for (const name of ['add_vec4', 'matmul_tiled', 'relu']) expect(k[name]!.calls).toBe(3 * steps);
  // Storage bindings: matmul_tiled binds x [M,K], w [K,K], w again (no bias) and out [M,K]; relu x, out; add a, b, out.
  expect(k.matmul_tiled!.bytes / k.matmul_tiled!.calls).toBe((2 * M * K + 2 * K * K) * F);
  expect(k.relu!.bytes / k.relu!.calls).toBe(2 * M * K * F);
  expect(k.add_vec4!.bytes / k.add_vec4!.calls).toBe(3 * M * K * F);
  expect(p.counts).toEqual({
    dispatches: 9 * steps,
    submits: steps, // the read-back's
    readbacks: steps,
    readbackBytes: M * K * F * steps,
    uploads: steps,
    uploadBytes: K * K * F * steps,
    bytesBound: 3 * steps * ((2 * M * K + 2 * K * K) * F + 2 * M * K * F + 3 * M * K * F),
    // Bind groups: new ones only for buffers not bound before; repeated steps reuse all of theirs.
    bindGroupsMade: fresh ? 9 * steps : 0,
  });
  for (const x of p.kernels) expect(x.ms).toBeGreaterThanOrEqual(0);
  expect(p.kernelMs).toBeGreaterThan(0);
}

describe('profiler', () => {
  // Adapters without timestamps get the per-dispatch test below.
  test.skipIf(!hasTimestamps)('timestamp mode: exact counts and bytes per kernel and step; pipelines compiled once; GPU time within wall time', async () => {
    const first = await profile(1, false);
    expect(first.p.mode).toBe('timestamp-query');
    checkCounts(first.p, 1, true);
    expect(first.p.compiles.map((c) => c.kernel).sort()).toEqual(['add_vec4', 'matmul_tiled', 'relu']);
    expect(first.p.compiles.every((c) => c.inStep && c.ms > 0)).toBe(true);

    const { p } = await profile(3, false);
    checkCounts(p, 3);
    expect(p.compiles).toEqual([]); // cached: no compilation on repeated steps
    expect(p.kernelMs).toBeLessThanOrEqual(p.wallMs * 1.1);
  });

  test('per-dispatch mode: the same counts, one logical submit per step, CPU-timed kernels, the same results', async () => {
    const plain: Float32Array[] = [];
    const x = x0();
    for (let s = 0; s < 2; s++) plain.push(await step(x, s));
    x.dispose();
    const { p, outs } = await profile(2, true);
    expect(p.mode).toBe('per-dispatch');
    checkCounts(p, 2);
    for (const k of p.kernels) expect(k.ms).toBeGreaterThan(0);
    expect(p.kernelMs).toBeLessThanOrEqual(p.wallMs);
    outs.forEach((o, i) => expect([...o]).toEqual([...plain[i]!]));
  });

  test('per-dispatch mode keeps an upload into a buffer in use after the dispatches that read it', async () => {
    const a = tensor([-1, 2, -3, 4]);
    startProfiling({ perDispatch: true });
    beginProfiledStep();
    const before = relu(a);
    assignData(a, [5, -6, 7, -8]); // `a` is bound by the open batch: that batch is held first, then this upload
    const after = relu(a);
    expect([...(await before.data())]).toEqual([0, 2, 0, 4]);
    expect([...(await after.data())]).toEqual([5, 0, 7, 0]);
    await endProfiledStep();
    const p = await stopProfiling();
    expect(p.counts).toMatchObject({ dispatches: 2, uploads: 1, readbacks: 2 });
    for (const t of [a, before, after]) t.dispose();
  });

  test('off, nothing is counted and batching is unchanged', async () => {
    const x = x0();
    const submits = scheduler.totalSubmits;
    await step(x, 0);
    expect(scheduler.totalSubmits - submits).toBe(1);
    expect(profiler.enabled || profiler.serial || profiler.tracking).toBe(false);
    const { p } = await profile(0, false);
    expect(p.counts.dispatches).toBe(0);
    x.dispose();
    await device().gpu.queue.onSubmittedWorkDone();
  });
});

describe('--profile', () => {
  const read = () => '{}';
  test('parsing: optional step count, checked with a message naming the option', () => {
    expect(parseArgs([], read)!.profile).toBe(0);
    expect(parseArgs(['--profile'], read)!.profile).toBe(PROFILE_STEPS);
    expect(parseArgs(['--profile', '--steps', '10'], read)).toMatchObject({ profile: PROFILE_STEPS, steps: 10 });
    expect(parseArgs(['--profile', '3'], read)!.profile).toBe(3);
    expect(parseArgs(['--profile=2'], read)!.profile).toBe(2);
    expect(parseArgs(['--config', 'c.json'], () => '{"profile": 4}')!.profile).toBe(4);
    expect(() => parseArgs(['--profile', 'abc'], read)).toThrow(/option profile must be an integer >= 0, got NaN/);
    expect(() => parseArgs(['--profile', '1.5'], read)).toThrow(/option profile must be an integer >= 0, got 1.5/);
    expect(() => parseArgs(['--profile', '-1'], read)).toThrow(/option profile must be an integer >= 0, got -1/);
    expect(() => parseArgs(['--steps', '3', '--profile'], read)).toThrow(/option profile \(5\) must be at most steps \(3\)/);
    expect(DEFAULTS.profile).toBe(0);
  });

  test('node train/run.js --profile 2 prints the top kernels and writes OUT/profile.json', async () => {
    const data = path.join(root, 'data');
    const out = path.join(root, 'run');
    writeSynth(data, { seed: 3, videos: 3, frames: 6, width: 48, height: 32, valVideos: 1 });
    const config = path.join(root, 'tiny.json');
    writeFileSync(config, JSON.stringify({ model: TINY_MODEL }));
    const args = ['--data', data, '--out', out, '--init', 'none', '--crop', '48x32', '--config', config, '--steps', '4', '--batch', '2', '--warmup', '1', '--labeled-every', '2', '--eval-every', '0', '--profile', '2'];
    const vite = path.resolve('node_modules/.bin/vite-node');
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((ok) => {
      const p = spawn(process.execPath, [vite, 'train/main.ts', ...args]);
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (c: Buffer) => (stdout += c));
      p.stderr.on('data', (c: Buffer) => (stderr += c));
      p.on('close', (status) => ok({ status, stdout, stderr }));
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/profile of 2 step\(s\); timing: (GPU timestamp queries|per-dispatch submits)/);
    expect(r.stdout).toMatch(/kernel +calls\/step +ms\/step +share +bound\/step\n\w+ +\d+\.\d +\d+\.\d\d +\d+\.\d%/);
    expect(r.stdout).toMatch(/per step: [\d.]+ dispatches \([\d.]+ new bind groups\), [\d.]+ submits, [\d.]+ read-backs/);
    expect(r.stdout).toMatch(/upper bound of the bytes kernels touch/);
    const j = JSON.parse(readFileSync(path.join(out, 'profile.json'), 'utf8'));
    expect(j).toMatchObject({ steps: 2, warmupSteps: 2 });
    expect(j.mode).toBe(hasTimestamps ? 'timestamp-query' : 'per-dispatch');
    expect(j.kernels.length).toBeGreaterThan(5);
    expect(j.dispatchesPerStep).toBeCloseTo(j.kernels.reduce((s: number, k: { callsPerStep: number }) => s + k.callsPerStep, 0), 6);
    expect(j.readbacksPerStep).toBeGreaterThanOrEqual(1); // the loss
    expect(j.compiles.count).toBeGreaterThan(5); // the model's first steps compiled its kernels
    expect(j.kernelMsPerStep).toBeGreaterThan(0);
  }, 300_000);
});
