// Times the matmul kernel variants on n × n × n f32 (default 1024) and prints GFLOP/s.
// Run: npx vite-node bench/matmul-kernels.ts [n] [rounds] [variant ...]
//
// For each variant and transpose combination: a warm-up call (compiles the kernel), then `rounds`
// batches of products (about a second's worth, at most 10), each timed from the first dispatch to
// the end of the queue. Three figures, medians over the rounds:
// - await: the main thread awaits queue.onSubmittedWorkDone() at once, as the engine's read-backs
//   do. Dawn's Node binding polls for the promise on the main thread meanwhile, which takes one of
//   this machine's two cores away from lavapipe's two workers.
// - sleep: the main thread first sleeps for 85% of the fastest batch so far, then awaits: the
//   kernels' own speed (slightly understated whenever the sleep overshoots).
// - cpu: FLOPs per second of CPU time of the process's threads other than the main one (lavapipe's
//   workers), times 2 cores: what two uncontended cores would give. It moves much less than the
//   wall-clock figures when other processes load the machine, so compare variants by it.
import { readdirSync, readFileSync } from 'node:fs';
import { initNode } from '../engine/node.ts';
import { device, describeDevice, matmul, flush, setMatmulVariant, tensor, tidy, type MatmulVariant } from '../engine/index.ts';
import { median } from './stats.ts';

const n = Number(process.argv[2] ?? 1024);
const rounds = Number(process.argv[3] ?? 5);
const variants = (process.argv.length > 4 ? process.argv.slice(4) : ['unrolled', 'tiled']) as MatmulVariant[];
const CORES = 2;
await initNode();
console.log(`${describeDevice()}\nmatmul ${n}×${n}×${n} f32, medians of ${rounds} rounds (GFLOP/s)`);

const rand = () => Float32Array.from({ length: n * n }, () => Math.random() * 2 - 1);
const a = tensor(rand(), [n, n]);
const b = tensor(rand(), [n, n]);
const flop = 2 * n ** 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU ms used so far by the threads other than the main one (Linux /proc; clock ticks of 10 ms). */
function workerCpuMs(): number {
  let ticks = 0;
  for (const t of readdirSync('/proc/self/task')) {
    if (t === String(process.pid)) continue;
    try {
      const f = readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime
    } catch {
      // the thread has ended
    }
  }
  return ticks * 10;
}

/** ms per product for a batch of `count`, and worker CPU ms per product; sleeps `nap` ms before awaiting. */
async function batch(count: number, transA: boolean, transB: boolean, nap = 0): Promise<[number, number]> {
  await device().gpu.queue.onSubmittedWorkDone();
  const c0 = workerCpuMs();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) tidy(() => void matmul(a, b, { transA, transB }));
  flush();
  if (nap) await sleep(nap);
  await device().gpu.queue.onSubmittedWorkDone();
  return [(performance.now() - t0) / count, (workerCpuMs() - c0) / count];
}

for (const variant of variants) {
  setMatmulVariant(variant);
  for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    const [first] = await batch(1, transA, transB);
    const count = Math.max(1, Math.min(10, Math.round(1000 / (await batch(1, transA, transB))[0])));
    const awaited: number[] = [];
    const slept: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const [ms, cpuMs] = await batch(count, transA, transB);
      awaited.push(ms);
      cpu.push(cpuMs / CORES);
    }
    for (let r = 0; r < rounds; r++) {
      const [ms, cpuMs] = await batch(count, transA, transB, 0.85 * count * Math.min(...awaited, ...slept));
      slept.push(ms);
      cpu.push(cpuMs / CORES);
    }
    const g = (ms: number) => (flop / ms / 1e6).toFixed(1).padStart(5);
    const name = `${variant} ${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'}`;
    console.log(
      `${name.padEnd(12)} await ${g(median(awaited))}  sleep ${g(median(slept))} (rounds ${g(Math.max(...slept))}–${g(Math.min(...slept))})  cpu ${g(median(cpu))}` +
        `   [${count} per batch; first call ${first.toFixed(0)} ms]`,
    );
  }
}
