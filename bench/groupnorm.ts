// Times groupNorm + ReLU as one kernel (engine/ops/nn.ts) against the composition it replaced
// (layerNorm over [B·groups, …] rows with unit affine, then broadcast mul γ, add β, relu), forward and
// forward + backward, on the student's GroupNorm sites for the 11 frames of a `full` step (96×128
// crops). Prints GPU time (per-kernel timestamps, summed) per call, medians.
// Run: npx vite-node bench/groupnorm.ts [rounds]
import { initNode } from '../engine/node.ts';
import { add, backward, fill, groupNorm, layerNorm, mul, noGrad, relu, requireGrad, reshape, tidy, type Tensor } from '../engine/index.ts';
import { randTensor as rand, timeGpu } from './gpu-time.ts';
import { median } from './stats.ts';

const rounds = Number(process.argv[2] ?? 5);
await initNode();

const cases: [string, number[]][] = [
  ['stem.0 [11,32,48,64]', [11, 32, 48, 64]],
  ['stem.1 [11,32,24,32]', [11, 32, 24, 32]],
  ['fuse.0/1 [11,64,24,32]', [11, 64, 24, 32]],
];
const GROUPS = 8;

/** The composition groupNorm was built from before its kernel, with the ReLU after it. */
function composed(x: Tensor, gamma: Tensor, beta: Tensor): Tensor {
  const [b, c] = x.shape as [number, number];
  const n = x.size / (b * GROUPS);
  const unit = layerNorm(reshape(x, [b * GROUPS, n]), fill([n], 1), fill([n], 0), 1e-5);
  const perChannel = [1, c, 1, 1];
  return relu(add(mul(reshape(unit, x.shape), reshape(gamma, perChannel)), reshape(beta, perChannel)));
}
const fused = (x: Tensor, gamma: Tensor, beta: Tensor) => groupNorm(x, gamma, beta, GROUPS, { activation: 'relu' });

/** GPU ms of one run of `fn`. */
const time = async (fn: () => void) => (await timeGpu(fn)).kernelMs;

for (const [name, shape] of cases) {
  const x = requireGrad(rand(shape));
  const gamma = requireGrad(rand([shape[1]!]));
  const beta = requireGrad(rand([shape[1]!]));
  const row: string[] = [];
  for (const [label, f] of [['fused', fused], ['composed', composed]] as const) {
    const fwd = () => tidy(() => void noGrad(() => f(x, gamma, beta)));
    const both = () =>
      tidy(() => {
        const y = f(x, gamma, beta);
        backward(y, y); // any seed of the right shape
        for (const t of [x, gamma, beta]) {
          t.grad?.dispose();
          t.grad = undefined;
        }
      });
    await time(both); // compile
    const fs: number[] = [];
    const fbs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      fs.push(await time(fwd));
      fbs.push(await time(both));
    }
    row.push(`${label} fwd ${median(fs).toFixed(1).padStart(6)} ms, fwd+bwd ${median(fbs).toFixed(1).padStart(6)} ms`);
  }
  console.log(`${name.padEnd(24)} ${row.join('   ')}`);
  for (const t of [x, gamma, beta]) t.dispose();
}
