// GPU memory stays flat over a long training run: 500 steps of a small MLP with AdamW, each step in
// tidy(), must hold the same number of live buffers and the same pooled bytes after step 50 as after
// step 500 (a leak of even one tensor per step would show as 450 more), and the loss must go down.
// The step also clips gradients and updates an EMA teacher, so those are covered too.
import { beforeAll, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { bufferId, pool } from '../engine/memory.ts';
import { makeRng } from '../dataset/rng.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

const rng = (seed: number): (() => number) => makeRng(seed).float;

test('500 AdamW steps of an MLP: live buffers and pooled bytes are flat, the loss goes down', async () => {
  const r = rng(1);
  const uniform = (n: number, s: number) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * s);
  const [N, D, H, C] = [64, 8, 32, 4];
  // A learnable task: the class is the argmax of a fixed random projection of the input.
  const xs = uniform(N * D, 1);
  const proj = uniform(D * C, 1);
  const labels = Int32Array.from({ length: N }, (_, i) => {
    let best = 0;
    let bestV = -Infinity;
    for (let c = 0; c < C; c++) {
      let v = 0;
      for (let d = 0; d < D; d++) v += xs[i * D + d]! * proj[d * C + c]!;
      if (v > bestV) [best, bestV] = [c, v];
    }
    return best;
  });
  const x = E.tensor(xs, [N, D]);
  const y = E.tensor(labels, [N]);
  const shapes = [[H, D], [H], [C, H], [C]];
  const params = shapes.map((s) => E.requireGrad(E.tensor(uniform(E.sizeOf(s), 1 / Math.sqrt(s[s.length - 1]!)), s)));
  const teacher = params.map((p) => E.keep(E.zerosLike(p)));
  const ema = new E.EMA(teacher, params);
  const opt = new E.AdamW(params, { lr: 0.01 });
  const [w1, b1, w2, b2] = params as [E.Tensor, E.Tensor, E.Tensor, E.Tensor];

  const step = (t: number): E.Tensor =>
    E.tidy(() => {
      opt.zeroGrad();
      const logits = E.linear(E.relu(E.linear(x, w1, b1)), w2, b2);
      const loss = E.crossEntropy(logits, y);
      E.backward(loss);
      E.clipGradNorm(params, 5);
      opt.step(E.polyLR(t, { base: 0.01, total: 500, warmup: 10 }));
      ema.update(E.emaMomentum(t));
      return E.detach(loss);
    });

  const first = step(0);
  const firstLoss = await first.item();
  first.dispose();
  let at50: ReturnType<typeof E.memoryStats> | undefined;
  let lastLoss = NaN;
  for (let t = 1; t < 500; t++) {
    const loss = step(t);
    if (t === 499) lastLoss = await loss.item();
    loss.dispose();
    if (t === 50) {
      await E.sync();
      at50 = E.memoryStats();
    }
  }
  await E.sync();
  const at500 = E.memoryStats();
  expect(at500.liveBuffers).toBe(at50!.liveBuffers);
  expect(at500.pooledBytes).toBe(at50!.pooledBytes);
  expect(lastLoss).toBeLessThan(firstLoss * 0.5);

  opt.dispose();
  for (const t of [...params, ...teacher, x, y]) {
    t.grad?.dispose();
    t.dispose();
  }
});

test('the pool hands out the free buffer of lowest id, whatever order buffers were released in', () => {
  const bytes = 3_333_333; // a size class no other test allocates
  let bufs = [0, 1, 2, 3].map(() => pool.acquire(bytes, 'test'));
  const sorted = bufs.map(bufferId).sort((a, b) => a - b);
  for (const order of [[0, 1, 2, 3], [3, 1, 0, 2], [2, 3, 1, 0]]) {
    for (const j of order) pool.release(bufs[j]!);
    bufs = [0, 1, 2, 3].map(() => pool.acquire(bytes, 'test'));
    expect(bufs.map(bufferId)).toEqual(sorted);
  }
  for (const b of bufs) pool.release(b);
});
