// Profiles the benchmark ViT's training step (bench/vit.ts) as `train/run.js --profile` does the
// student's: a few warm-up steps, then N steps unprofiled (wall time only: the profiler's overhead),
// then N profiled; prints the table. Run: npx vite-node bench/profile-vit.ts [N] [per-dispatch]
import { beginProfiledStep, describeDevice, endProfiledStep, formatProfile, startProfiling, stopProfiling } from '../engine/index.ts';
import { initNode } from '../engine/node.ts';
import { vitTrainer } from './vit.ts';

const n = Number(process.argv[2] ?? 5);
const perDispatch = process.argv.includes('per-dispatch');
console.log(`device: ${describeDevice(await initNode())}`);
const t = vitTrainer();
const step = async () => {
  const loss = t.step();
  await loss.item();
  loss.dispose();
};
startProfiling({ perDispatch }); // compilations from here on, kernels only inside the profiled steps
for (let i = 0; i < 2; i++) await step();
const t0 = performance.now();
for (let i = 0; i < n; i++) await step();
const plainMs = (performance.now() - t0) / n;
for (let i = 0; i < n; i++) {
  beginProfiledStep();
  await step();
  await endProfiledStep();
}
const p = await stopProfiling();
t.dispose();
console.log(formatProfile(p));
console.log(`unprofiled: ${plainMs.toFixed(1)} ms per step (profiled: ${(p.wallMs / p.steps).toFixed(1)} ms)`);
process.exit(0);
