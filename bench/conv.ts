// Times conv2d forward and forward+backward on the segmentation student's convolutions (batch 8 of
// 3×96×128) and prints GPU time (per-kernel timestamps, summed) and wall time per call, medians.
// Run: npx vite-node bench/conv.ts [rounds] [kernels]   ("kernels" prints the per-kernel split of fwd+bwd)
// GPU time on lavapipe is wall time of the passes, so other processes on the machine inflate it.
import { initNode } from '../engine/node.ts';
import { backward, conv2d, formatProfile, noGrad, requireGrad, setWinograd, tidy } from '../engine/index.ts';
import { randTensor as rand, timeGpu } from './gpu-time.ts';
import { median } from './stats.ts';

const rounds = Number(process.argv[2] ?? 3);
await initNode();

// name, x shape, w shape, stride, padding, whether x needs a gradient (the image does not), and
// false where a 3×3 convolution is to skip the Winograd path
const cases: [string, number[], number[], number, number, boolean, boolean?][] = [
  ['stem.0 3→32 3×3 s2', [8, 3, 96, 128], [32, 3, 3, 3], 2, 1, false],
  ['stem.1 32→32 3×3 s2', [8, 32, 48, 64], [32, 32, 3, 3], 2, 1, true],
  ['patch 3→128 k8 s8', [8, 3, 96, 128], [128, 3, 8, 8], 8, 0, false],
  ['reduce 128→64 1×1', [8, 128, 12, 16], [64, 128, 1, 1], 1, 0, true],
  ['fuse.0 96→64 3×3', [8, 96, 24, 32], [64, 96, 3, 3], 1, 1, true],
  ['fuse.1 64→64 3×3', [8, 64, 24, 32], [64, 64, 3, 3], 1, 1, true],
  // the same two by im2col + matmul instead of Winograd's F(2×2, 3×3)
  ['fuse.0 by im2col', [8, 96, 24, 32], [64, 96, 3, 3], 1, 1, true, false],
  ['fuse.1 by im2col', [8, 64, 24, 32], [64, 64, 3, 3], 1, 1, true, false],
  ['classifier 64→10 1×1', [8, 64, 24, 32], [10, 64, 1, 1], 1, 0, true],
  // not the student's: depthwise (the augmentation's blur), on the direct kernels
  ['blur 3×3 depthwise', [1, 3, 96, 128], [3, 1, 3, 3], 1, 1, false],
  ['depthwise 64 3×3', [8, 64, 24, 32], [64, 1, 3, 3], 1, 1, true],
];

let lastProfile = '';
/** [GPU ms, wall ms] of one run of `fn`; keeps its per-kernel table in lastProfile. */
async function time(fn: () => void): Promise<[number, number]> {
  const t = await timeGpu(fn);
  lastProfile = formatProfile(t.profile, 8);
  return [t.kernelMs, t.wallMs];
}

const total = [0, 0, 0, 0];
for (const [name, xs, ws, stride, padding, xGrad, winograd] of cases) {
  setWinograd(winograd);
  const x = requireGrad(rand(xs), xGrad);
  const w = requireGrad(rand(ws));
  const b = requireGrad(rand([ws[0]!]));
  const o = { stride, padding, groups: xs[1]! / ws[1]! };
  const fwd = () => tidy(() => void noGrad(() => conv2d(x, w, b, o)));
  const both = () =>
    tidy(() => {
      const y = conv2d(x, w, b, o);
      backward(y, y); // any seed of the right shape
      for (const t of [x, w, b]) {
        t.grad?.dispose();
        t.grad = undefined;
      }
    });
  await time(both); // compile
  const f: [number, number][] = [];
  const fb: [number, number][] = [];
  for (let r = 0; r < rounds; r++) {
    f.push(await time(fwd));
    fb.push(await time(both));
  }
  const m = (v: [number, number][], i: 0 | 1) => median(v.map((t) => t[i]));
  const row = [m(f, 0), m(f, 1), m(fb, 0), m(fb, 1)];
  if (winograd !== false) row.forEach((v, i) => (total[i]! += v)); // the student's convolutions as conv2d runs them
  const fmt = (v: number) => v.toFixed(0).padStart(6);
  if (process.argv.includes('kernels')) console.log(lastProfile);
  console.log(`${name.padEnd(22)} forward GPU ${fmt(row[0]!)} ms wall ${fmt(row[1]!)} ms   fwd+bwd GPU ${fmt(row[2]!)} ms wall ${fmt(row[3]!)} ms`);
  for (const t of [x, w, b]) t.dispose();
}
setWinograd(undefined);
console.log(`total: forward GPU ${total[0]!.toFixed(0)} ms wall ${total[1]!.toFixed(0)} ms; fwd+bwd GPU ${total[2]!.toFixed(0)} ms wall ${total[3]!.toFixed(0)} ms`);
