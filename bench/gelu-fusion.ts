// linear + GELU fused in the matmul kernel's store (linear(..., { activation: 'gelu' })) against
// gelu(linear(...)), with and without gradients recorded (with: the fused kernel also stores GELU's
// input for backward). Median ms per call over 25 rounds of 10, the two interleaved.
// Run: npx vite-node bench/gelu-fusion.ts [rows K N]   (default 512 128 512: the benchmark ViT's fc1)
import { initNode } from '../engine/node.ts';
import * as E from '../engine/index.ts';
await initNode();
const [R, K, N] = [2, 3, 4].map((i, j) => Number(process.argv[i] ?? [512, 128, 512][j]));
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const x = E.tensor(rnd(R * K), [R, K]);
const w = E.requireGrad(E.tensor(rnd(N * K), [N, K]));
const b = E.requireGrad(E.tensor(rnd(N), [N]));
const variants: Record<string, (grad: boolean) => E.Tensor> = {
  unfused: (g) => (g ? E.gelu(E.linear(x, w, b)) : E.noGrad(() => E.gelu(E.linear(x, w, b)))),
  fused: (g) => (g ? E.linear(x, w, b, { activation: 'gelu' }) : E.noGrad(() => E.linear(x, w, b, { activation: 'gelu' }))),
};
for (const grad of [false, true]) {
  const t: Record<string, number[]> = { unfused: [], fused: [] };
  for (let rep = 0; rep < 30; rep++) {
    for (const [name, f] of Object.entries(variants)) {
      await E.sync();
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) E.tidy(() => void f(grad));
      await E.sync();
      if (rep >= 5) t[name]!.push((performance.now() - t0) / 10);
    }
  }
  const med = (a: number[]) => a.sort((p, q) => p - q)[a.length >> 1]!;
  console.log(`${R}x${K}x${N} grad=${grad}: unfused ${med(t.unfused!).toFixed(2)} ms, fused ${med(t.fused!).toFixed(2)} ms`);
}
process.exit(0);
