// Times attention (engine/ops/nn.ts) forward + backward at the student's training shape: the 11 frames
// of a `full` step, 96×128 crops in 8×8 patches (192 tokens), width 128 in 4 heads of 32. Prints the
// GPU time (per-kernel timestamps, summed) per call and each product's and softmax's share, medians.
// Run: npx vite-node bench/attention.ts [rounds] [frames]
import { initNode } from '../engine/node.ts';
import { attention, backward, describeDevice, requireGrad, tidy } from '../engine/index.ts';
import { randTensor as rand, timeGpu } from './gpu-time.ts';
import { median } from './stats.ts';

const rounds = Number(process.argv[2] ?? 7);
const B = Number(process.argv[3] ?? 11);
const [T, C, HEADS] = [192, 128, 4];
await initNode();
console.log(`${describeDevice()}\nattention [${B}, ${T}, ${3 * C}], ${HEADS} heads: GPU ms, medians of ${rounds}`);

const qkv = requireGrad(rand([B, T, 3 * C]));
const step = () =>
  tidy(() => {
    const y = attention(qkv, HEADS);
    backward(y, y); // any seed of the right shape
    qkv.grad?.dispose();
    qkv.grad = undefined;
  });
await timeGpu(step); // compile
const totals: number[] = [];
const parts = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  const { kernelMs, profile } = await timeGpu(step);
  totals.push(kernelMs);
  const byPart = new Map<string, number>();
  for (const o of profile.ops) {
    const name = o.op.replace(/^attention \[[^\]]*\] heads \d+:? ?/, '') || o.kernel; // "q·kᵀ", "backward: dq", softmax's own label
    byPart.set(name, (byPart.get(name) ?? 0) + o.ms);
  }
  for (const [k, v] of byPart) parts.set(k, [...(parts.get(k) ?? []), v]);
}
console.log(`forward + backward ${median(totals).toFixed(1)} ms`);
for (const [k, v] of [...parts].sort((a, b) => median(b[1]) - median(a[1]))) console.log(`  ${k.padEnd(28)} ${median(v).toFixed(1).padStart(7)} ms`);
qkv.dispose();
