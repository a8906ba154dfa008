// Properties of the neural-network ops (engine/ops/nn.ts) against the float64 references in
// reference/nn.ts: forward values and gradients (central finite differences) on random shapes that
// include size-1 dimensions, random axes, and for crossEntropy and resizeCrossEntropy random ignored
// pixels and weights.
// Tolerances are gradcheck.ts's FWD/GRAD defaults unless a comment says otherwise.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { checkOpWith, close, FWD, ndArb, shapeArb, values } from './gradcheck.ts';
import { nd, size, type Nd } from './reference/nd.ts';
import { alongAxis, attentionRef, crossEntropyRef, dropoutRef, groupNormRef, l2NormalizeRef, layerNormRef, logSoftmaxRef, softmaxRef } from './reference/nn.ts';
import { resizeBilinearRef } from './reference/resize.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

/** A shape of rank 1–4 and one of its axes, given to the op as a negative axis half of the time. */
const shapeAndAxis = shapeArb(1, 4, 6).chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: 0, max: s.length - 1 }), fc.boolean()));

describe('softmax and logSoftmax', () => {
  for (const [name, op, ref] of [
    ['softmax', E.softmax, softmaxRef],
    ['logSoftmax', E.logSoftmax, logSoftmaxRef],
  ] as const) {
    test(`${name} along a random axis`, async () => {
      await checkOpWith(name, {
        cases: shapeAndAxis.chain(([s, axis, negative]) =>
          ndArb(s, (n) => values(n, -4, 4)).map((x) => [[x], { axis, userAxis: negative ? axis - s.length : axis }] as [Nd[], { axis: number; userAxis: number }]),
        ),
        op: (p, x) => op(x!, p.userAxis),
        ref: (p, x) => ref(x!, p.axis),
      });
    });
  }

  test('large logits stay finite (the row maximum is subtracted)', async () => {
    const x = E.tensor([1000, 1001, 1002, -1000, -1001, -1002], [2, 3]);
    close(await E.softmax(x).data(), softmaxRef(nd([2, 3], [1000, 1001, 1002, -1000, -1001, -1002]), 1).data, FWD, 'softmax');
    const ls = await E.logSoftmax(E.tensor([0, 200], [2])).data();
    expect([...ls]).toEqual([-200, 0]);
  });

  test('bad axes and dtypes are named in the error', () => {
    expect(() => E.softmax(E.tensor([1, 2], [2]), 1)).toThrow(/softmax: axis 1 is out of range for rank 1/);
    expect(() => E.logSoftmax(E.tensor(new Int32Array([1, 2]), [2]))).toThrow(/logSoftmax: x must be f32/);
  });
});

describe('attention', () => {
  // D = 4, 8 let the unrolled kernel read q and k in place (rows vec4-aligned); D = 1..3 take its packed path.
  const cases = fc
    .record({ B: fc.integer({ min: 1, max: 2 }), T: fc.integer({ min: 1, max: 6 }), heads: fc.integer({ min: 1, max: 3 }), D: fc.constantFrom(1, 2, 3, 4, 8) })
    .chain(({ B, T, heads, D }) => ndArb([B, T, 3 * heads * D]).map((x) => [[x], heads] as [Nd[], number]));
  afterAll(() => {
    E.setMatmulVariant(undefined);
    E.setLoopKernelsFast(undefined);
  });
  for (const variant of ['unrolled', 'tiled'] as const) {
    test(`forward and gradient of qkv, ${variant} matmul kernel`, async () => {
      E.setMatmulVariant(variant);
      await checkOpWith('attention', { cases, op: (heads, qkv) => E.attention(qkv!, heads), ref: (heads, qkv) => attentionRef(qkv!, heads), runs: 15 });
    });
  }

  // Long enough for K = T to span two dispatch chunks of the unrolled kernel (stored partial sums are
  // re-read through the strided output) and for 128-row workgroups: checked against the composition
  // of tested ops that attention replaces, on the values and on the gradient.
  for (const variant of ['unrolled', 'tiled'] as const) {
    test(`T = 150: the same as permute, slice, matmul and softmax, ${variant} matmul kernel`, async () => {
      E.setMatmulVariant(variant);
      const [B, T, H, D] = [2, 150, 2, 8];
      const C = H * D;
      const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i * 12.9898) * 2);
      const composed = (x: E.Tensor) => {
        const qkv = E.permute(E.reshape(x, [B, T, 3, H, D]), [2, 0, 3, 1, 4]);
        const part = (i: number) => E.reshape(E.slice(qkv, [i], [i + 1]), [B, H, T, D]);
        const p = E.softmax(E.mul(E.matmul(part(0), part(1), { transB: true }), 1 / Math.sqrt(D)), -1);
        return E.reshape(E.permute(E.matmul(p, part(2)), [0, 2, 1, 3]), [B, T, C]);
      };
      const run = async (f: (x: E.Tensor) => E.Tensor) => {
        const x = E.requireGrad(E.tensor(rand(B * T * 3 * C, 1), [B, T, 3 * C]));
        const y = E.tidy(() => {
          const out = f(x);
          E.backward(out, E.tensor(rand(B * T * C, 2), [B, T, C]));
          return out;
        });
        const got = [await y.data(), await x.grad!.data()];
        for (const t of [x.grad!, x, y]) t.dispose();
        return got;
      };
      const [y, g] = await run((x) => E.attention(x, H));
      const [yWant, gWant] = await run(composed);
      close(y!, yWant!, FWD, 'attention forward');
      close(g!, gWant!, FWD, 'attention gradient');
    });
  }

  // Without gradients, where loop kernels run well, one fused kernel (online softmax over blocks of 32
  // keys, 64 queries a workgroup): T up to 130 spans several blocks of both; D = 32 is the student's.
  test('fused kernel (no gradient, loop kernels): forward vs float64, T over several key and query blocks', async () => {
    E.setLoopKernelsFast(true);
    const fused = fc
      .record({ B: fc.integer({ min: 1, max: 2 }), T: fc.oneof(fc.integer({ min: 1, max: 70 }), fc.constant(130)), heads: fc.integer({ min: 1, max: 3 }), D: fc.constantFrom(1, 3, 4, 8, 32) })
      .chain(({ B, T, heads, D }) => ndArb([B, T, 3 * heads * D]).map((x) => ({ x, heads })));
    await fc.assert(
      fc.asyncProperty(fused, async ({ x, heads }) => {
        const t = E.tensor(Float32Array.from(x.data), x.shape);
        const y = E.noGrad(() => E.attention(t, heads));
        close(await y.data(), attentionRef(x, heads).data, FWD, `fused attention [${x.shape}] heads ${heads}`);
        t.dispose();
        y.dispose();
      }),
      { numRuns: 20 },
    );
  });

  // Inference weights over the budget (a 480p frame: 6,420 tokens, 660 MB of 4-head weights) are
  // computed a block of query rows at a time: here a budget of a few rows forces 1-row to many-row
  // blocks, with a last block shorter than the others.
  test('row blocks (no gradient, weights over the budget): forward vs float64', async () => {
    E.setLoopKernelsFast(false); // not the fused kernel
    const blocks = fc
      .record({ B: fc.integer({ min: 1, max: 2 }), T: fc.integer({ min: 2, max: 40 }), heads: fc.integer({ min: 1, max: 3 }), D: fc.constantFrom(1, 4, 8), rows: fc.integer({ min: 1, max: 7 }) })
      .chain(({ B, T, heads, D, rows }) => ndArb([B, T, 3 * heads * D]).map((x) => ({ x, heads, budget: B * heads * T * 4 * rows })));
    try {
      await fc.assert(
        fc.asyncProperty(blocks, async ({ x, heads, budget }) => {
          E.setBindingBudget(budget);
          expect(E.bindingBudget()).toBe(budget);
          const t = E.tensor(Float32Array.from(x.data), x.shape);
          const y = E.noGrad(() => E.attention(t, heads));
          close(await y.data(), attentionRef(x, heads).data, FWD, `attention by rows [${x.shape}] heads ${heads} budget ${budget}`);
          t.dispose();
          y.dispose();
        }),
        { numRuns: 25 },
      );
    } finally {
      E.setBindingBudget(undefined);
    }
  });

  // Training keeps the weights for the backward pass: over the budget (4 heads at a 384×384 crop, batch
  // 4: 340 MB) they are kept in groups of (batch, head) pairs, each within it; the budget here forces
  // groups of whole batch elements, of a few heads, and of one head.
  test('weights over the budget with a gradient: (batch, head) groups, forward and gradient vs float64', async () => {
    const grouped = fc
      .record({ B: fc.integer({ min: 1, max: 3 }), T: fc.integer({ min: 1, max: 6 }), heads: fc.integer({ min: 1, max: 4 }), D: fc.constantFrom(1, 4), fit: fc.integer({ min: 1, max: 9 }) })
      .chain(({ B, T, heads, D, fit }) => ndArb([B, T, 3 * heads * D]).map((x) => [[x], { heads, budget: fit * T * T * 4 }] as [Nd[], { heads: number; budget: number }]));
    const op = (p: { heads: number; budget: number }, qkv: E.Tensor) => {
      E.setBindingBudget(p.budget);
      try {
        return E.attention(qkv, p.heads);
      } finally {
        E.setBindingBudget(undefined);
      }
    };
    await checkOpWith('attention in head groups', { cases: grouped, op: (p, qkv) => op(p, qkv!), ref: (p, qkv) => attentionRef(qkv!, p.heads), runs: 25 });
    // The largest binding of a forward and backward pass: all weights at once without a budget, one
    // head's with a budget that fits one.
    const [B, T, heads] = [2, 64, 4];
    const qkv = E.requireGrad(E.tensor(Float32Array.from({ length: B * T * 3 * heads }, (_, i) => Math.sin(i)), [B, T, 3 * heads]));
    const largest = (budget: number | undefined) => {
      E.setBindingBudget(budget);
      E.largestBinding(true);
      try {
        E.tidy(() => E.backward(E.sum(E.attention(qkv, heads))));
        return E.largestBinding().bytes;
      } finally {
        E.setBindingBudget(undefined);
        qkv.grad?.dispose();
        qkv.grad = undefined;
      }
    };
    expect(largest(undefined)).toBe(B * heads * T * T * 4);
    expect(largest(T * T * 4)).toBe(T * T * 4);
    qkv.dispose();
  });

  test('training attention whose single head\'s weights exceed a binding says what to change', () => {
    const limit = E.device().info.limits.maxStorageBufferBindingSize!;
    const T = Math.ceil(Math.sqrt(limit / 4)) + 1; // one head of T × T f32 weights: just over the limit
    const qkv = E.requireGrad(E.zeros([1, T, 12]));
    expect(() => E.attention(qkv, 4)).toThrow(new RegExp(`attention \\[1,${T},12\\] heads 4: training needs each head's ${T}×${T} attention weights whole .* over this device's maxStorageBufferBindingSize \\(${limit}\\): train on smaller crops \\(--crop\\)`));
    qkv.dispose();
  });

  test('bad shapes are named in the error', () => {
    expect(() => E.attention(E.zeros([2, 3, 12]), 3)).toThrow(/attention \[2,3,12\] heads 3: expected qkv \[B, T, 3·C\]/);
    expect(() => E.attention(E.zeros([2, 12]), 2)).toThrow(/expected qkv/);
  });
});

describe('crossEntropy', () => {
  interface Case {
    labels: number[];
    pixelShape: number[];
    ignoreIndex: number;
    reduction: 'mean' | 'sum' | 'none';
  }
  // Labels tensors are kept alive until the end (the graph holds them until backward).
  const made: E.Tensor[] = [];
  afterAll(() => made.forEach((t) => t.dispose()));

  const cases = fc
    .record({
      n: fc.integer({ min: 1, max: 4 }),
      c: fc.integer({ min: 1, max: 5 }),
      rest: fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 2 }),
      ignoreIndex: fc.constantFrom(-100, 255, 0),
      reduction: fc.constantFrom('mean' as const, 'sum' as const, 'none' as const),
      weighted: fc.boolean(),
    })
    .chain(({ n, c, rest, ignoreIndex, reduction, weighted }) => {
      const pixelShape = [n, ...rest];
      const pixels = size(pixelShape);
      // About one pixel in four is ignored.
      const label = fc.oneof({ arbitrary: fc.integer({ min: 0, max: c - 1 }), weight: 3 }, { arbitrary: fc.constant(ignoreIndex), weight: 1 });
      return fc.tuple(
        ndArb([n, c, ...rest], (k) => values(k, -4, 4)),
        weighted ? ndArb(pixelShape, (k) => values(k, 0, 2)).map((w) => [w]) : fc.constant([] as Nd[]),
        fc.array(label, { minLength: pixels, maxLength: pixels }),
      ).map(([logits, w, labels]) => [[logits, ...w], { labels, pixelShape, ignoreIndex, reduction }] as [Nd[], Case]);
    });

  test('forward and gradient: random shapes, ignored pixels, weights and reductions', async () => {
    await checkOpWith<Case>('crossEntropy', {
      cases,
      op: (p, logits, weight) => {
        const labels = E.keep(E.tensor(Int32Array.from(p.labels), p.pixelShape));
        made.push(labels);
        return E.crossEntropy(logits!, labels, { ignoreIndex: p.ignoreIndex, reduction: p.reduction, ...(weight ? { weight } : {}) });
      },
      ref: (p, logits, weight) => crossEntropyRef(logits!, p.labels, { ignoreIndex: p.ignoreIndex, reduction: p.reduction, ...(weight ? { weight } : {}) }),
      grad: [0], // weights are constants
      runs: 40,
    });
  });

  test('the default ignoreIndex is -100, and an all-ignored mean is 0 with a zero gradient', async () => {
    const logits = E.requireGrad(E.tensor([1, 2, 3, 4, 5, 6], [2, 3]));
    const labels = E.tensor(new Int32Array([-100, -100]), [2]);
    const loss = E.crossEntropy(logits, labels);
    expect(await loss.item()).toBe(0);
    E.backward(loss);
    expect([...(await logits.grad!.data())]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test('segmentation layout [B, C, H, W] and large logits', async () => {
    // B=1, C=2, H=1, W=2: pixel 0 has logits (1000, 0) and label 1; pixel 1 has (0, 0) and label 0.
    const logits = E.tensor([1000, 0, 0, 0], [1, 2, 1, 2]);
    const labels = E.tensor(new Int32Array([1, 0]), [1, 1, 2]);
    const perPixel = await E.crossEntropy(logits, labels, { reduction: 'none' }).data();
    close(perPixel, [1000, Math.LN2], FWD, 'crossEntropy none');
  });

  test('labels outside [0, C): NaN from the kernel, a named error from checkLabels', async () => {
    const logits = E.requireGrad(E.tensor([0, 0, 0, 0, 0, 0], [2, 3]));
    const bad = E.tensor(new Int32Array([1, 7]), [2]);
    const perPixel = await E.crossEntropy(logits, bad, { reduction: 'none' }).data();
    expect(perPixel[0]).toBeCloseTo(Math.log(3), 5);
    expect(perPixel[1]).toBeNaN();
    const loss = E.crossEntropy(logits, bad);
    expect(await loss.item()).toBeNaN();
    E.backward(loss);
    const g = await logits.grad!.data();
    expect([...g.slice(3)].every(Number.isNaN)).toBe(true);
    await expect(E.checkLabels(bad, 3)).rejects.toThrow(/checkLabels: label 7 at position \[1\] of labels \[2\] is outside \[0, 3\) and is not the ignore index -100/);
    await expect(E.checkLabels(E.tensor(new Int32Array([0, 2, 255, -100]), [2, 2]), 3)).rejects.toThrow(/label 255 at position \[1, 0\]/);
    await E.checkLabels(E.tensor(new Int32Array([0, 2, 255, 1]), [2, 2]), 3, 255);
  });

  test('bad inputs are named in the error', () => {
    const logits = E.tensor(new Float32Array(12), [2, 3, 2]);
    expect(() => E.crossEntropy(logits, E.tensor(new Float32Array(4), [2, 2]))).toThrow(/crossEntropy: labels must be i32/);
    expect(() => E.crossEntropy(logits, E.tensor(new Int32Array(3), [3]))).toThrow(/crossEntropy: labels \[3\] do not match logits \[2,3,2\] \(expected labels \[2,2\]/);
    expect(() => E.crossEntropy(E.tensor([1, 2], [2]), E.tensor(new Int32Array(1), [1]))).toThrow(/crossEntropy: logits must be \[N, C\]/);
    const labels = E.tensor(new Int32Array(4), [2, 2]);
    expect(() => E.crossEntropy(logits, labels, { weight: E.tensor(new Float32Array(2), [2]) })).toThrow(/crossEntropy: weight \[2\] must have the shape of labels \[2,2\]/);
    expect(() => E.crossEntropy(logits, labels, { ignoreIndex: 0.5 })).toThrow(/ignoreIndex must be an integer/);
  });
});

describe('resizeCrossEntropy', () => {
  interface Case {
    labels: number[];
    size: [number, number];
    ignoreIndex: number;
    reduction: 'mean' | 'sum' | 'none';
  }
  const made: E.Tensor[] = [];
  afterAll(() => made.forEach((t) => t.dispose()));

  // Class scores [n, k, h, w] upsampled (or downsampled) to [n, H, W] labels.
  const cases = fc
    .record({
      n: fc.integer({ min: 1, max: 2 }),
      k: fc.integer({ min: 1, max: 4 }),
      h: fc.integer({ min: 1, max: 4 }),
      w: fc.integer({ min: 1, max: 4 }),
      H: fc.integer({ min: 1, max: 9 }),
      W: fc.integer({ min: 1, max: 9 }),
      ignoreIndex: fc.constantFrom(-100, 255),
      reduction: fc.constantFrom('mean' as const, 'sum' as const, 'none' as const),
      weighted: fc.boolean(),
    })
    .chain(({ n, k, h, w, H, W, ignoreIndex, reduction, weighted }) => {
      const label = fc.oneof({ arbitrary: fc.integer({ min: 0, max: k - 1 }), weight: 3 }, { arbitrary: fc.constant(ignoreIndex), weight: 1 });
      return fc.tuple(
        ndArb([n, k, h, w], (m) => values(m, -4, 4)),
        weighted ? ndArb([n, H, W], (m) => values(m, 0, 2)).map((x) => [x]) : fc.constant([] as Nd[]),
        fc.array(label, { minLength: n * H * W, maxLength: n * H * W }),
      ).map(([logits, wt, labels]) => [[logits, ...wt], { labels, size: [H, W], ignoreIndex, reduction }] as [Nd[], Case]);
    });

  test('forward and gradient equal crossEntropy of resizeBilinear (float64): random sizes up and down, ignored pixels, weights, reductions', async () => {
    await checkOpWith<Case>('resizeCrossEntropy', {
      cases,
      op: (p, logits, weight) => {
        const labels = E.keep(E.tensor(Int32Array.from(p.labels), [logits!.shape[0]!, ...p.size]));
        made.push(labels);
        return E.resizeCrossEntropy(logits!, labels, { ignoreIndex: p.ignoreIndex, reduction: p.reduction, ...(weight ? { weight } : {}) });
      },
      ref: (p, logits, weight) =>
        crossEntropyRef(resizeBilinearRef(logits!, p.size), p.labels, { ignoreIndex: p.ignoreIndex, reduction: p.reduction, ...(weight ? { weight } : {}) }),
      grad: [0],
      runs: 40,
    });
  });

  test('a training-sized case agrees with the stored composition to f32 rounding, loss and gradient', async () => {
    // 4× upsampling as the student's, 10 classes, a quarter of the pixels ignored, class-like weights.
    // The arithmetic is the composition's, but not bit for bit: lavapipe fuses a·b + c into one
    // rounding where its compiler chooses, differently in different kernels (measured: ~1 ulp).
    const [n, k, h, w, H, W] = [2, 10, 6, 8, 24, 32];
    let s = 7;
    const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const logitsData = Float32Array.from({ length: n * k * h * w }, () => 8 * rand() - 4);
    const labels = E.tensor(Int32Array.from({ length: n * H * W }, () => (rand() < 0.25 ? 255 : Math.floor(rand() * k))), [n, H, W]);
    const weight = E.tensor(Float32Array.from({ length: n * H * W }, () => 0.5 + rand()), [n, H, W]);
    const ulps = { atol: 1e-6, rtol: 1e-5 };
    for (const reduction of ['mean', 'none'] as const) {
      const run = async (fused: boolean) => {
        const logits = E.requireGrad(E.tensor(logitsData, [n, k, h, w]));
        const out = E.tidy(() => {
          const opts = { ignoreIndex: 255, weight, reduction };
          const loss = fused ? E.resizeCrossEntropy(logits, labels, opts) : E.crossEntropy(E.resizeBilinear(logits, [H, W]), labels, opts);
          E.backward(reduction === 'none' ? E.sum(E.mul(loss, weight)) : loss);
          return loss;
        });
        return { loss: await out.data(), grad: await logits.grad!.data() };
      };
      const [fused, stored] = [await run(true), await run(false)];
      close(fused.loss, stored.loss, ulps, `${reduction}: loss`);
      close(fused.grad, stored.grad, ulps, `${reduction}: gradient`);
      expect(fused.grad.some((g) => g !== 0)).toBe(true);
    }
  });

  test('never stores the upsampled scores: the largest binding of the loss and its gradient is the logits\' size', async () => {
    // [2, 124, 24, 24] scores for 96×96 labels: upsampled they would be 9.1 MB, the logits are 0.6 MB.
    const logits = E.requireGrad(E.randNormal([2, 124, 24, 24], 1));
    const labels = E.randInt([2, 96, 96], 0, 124, 2);
    E.largestBinding(true);
    const loss = E.tidy(() => {
      const l = E.resizeCrossEntropy(logits, labels, { ignoreIndex: 255 });
      E.backward(l);
      return l;
    });
    expect(Number.isFinite(await loss.item())).toBe(true);
    expect(E.largestBinding(true).bytes).toBe(logits.size * 4);
  });

  test('bad inputs are named in the error', () => {
    const logits = E.tensor(new Float32Array(2 * 3 * 2 * 2), [2, 3, 2, 2]);
    expect(() => E.resizeCrossEntropy(logits, E.tensor(new Int32Array(8), [1, 2, 4]))).toThrow(/resizeCrossEntropy: labels \[1,2,4\] do not match logits \[2,3,2,2\] \(expected labels \[2,2,4\]/);
    expect(() => E.resizeCrossEntropy(E.tensor(new Float32Array(6), [2, 3]), E.tensor(new Int32Array(2), [2, 1, 1]))).toThrow(/resizeCrossEntropy: logits must be \[N, K, h, w\]/);
    expect(() => E.resizeCrossEntropy(logits, E.tensor(new Int32Array(8), [2, 4]))).toThrow(/resizeCrossEntropy: labels must be \[N, H, W\]/);
    expect(() => E.resizeCrossEntropy(logits, E.tensor(new Int32Array(16), [2, 2, 4]), { weight: E.tensor(new Float32Array(2), [2]) })).toThrow(/weight \[2\] must have the shape of labels \[2,2,4\]/);
  });
});

/**
 * A bound on layerNorm's f32 error that FWD does not cover: x − mean cancels, so each output carries
 * about c·u·max|x| of rounding (u = 2⁻²⁴, c the row length, naive sums) times rstd·|γ|, and rstd
 * reaches 1/√eps (316) for a nearly constant row (e.g. [2.99987, 2.99987] is ~1e-5 off in f32). Twice
 * that, per case; for rows of unit spread it is ~1e-6, below FWD.
 */
function layerNormF32Error(x: Nd, gamma: Nd, eps: number): number {
  const c = x.shape[x.shape.length - 1]!;
  const maxG = Math.max(...Array.from(gamma.data, Math.abs));
  let worst = 0;
  for (let r = 0; r < x.data.length / c; r++) {
    const row = Array.from(x.data.subarray(r * c, (r + 1) * c));
    const mean = row.reduce((a, b) => a + b, 0) / c;
    const rstd = 1 / Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / c + eps);
    worst = Math.max(worst, c * 2 ** -24 * Math.max(...row.map(Math.abs)) * rstd);
  }
  return 2 * worst * maxG;
}

describe('groupNorm', () => {
  test('forward and gradients for x, gamma and beta, with and without the fused ReLU, against float64', async () => {
    type P = { groups: number; relu: boolean };
    const ref = (p: P, x: Nd, gamma: Nd, beta: Nd) => {
      const y = groupNormRef(x, gamma, beta, p.groups, 1e-5);
      return p.relu ? nd(y.shape, y.data.map((v) => Math.max(0, v))) : y;
    };
    await checkOpWith('groupNorm', {
      // [B, C, ...] with 1-2 spatial axes (rows of ≤ 2 elements have dx = 0 whatever the ReLU did); groups a divisor of C.
      cases: fc
        .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), shapeArb(1, 2, 5), fc.boolean())
        .chain(([b, groups, perGroup, rest, relu]) => {
          const c = groups * perGroup;
          // β off 0, or fast-check's favourite values (0s) would put most pre-activations on the ReLU's kink.
          const xs = fc.tuple(ndArb([b, c, ...rest], (n) => values(n, -3, 3)), ndArb([c], (n) => values(n, -2, 2)), ndArb([c], (n) => values(n, -2, 2, relu ? [0] : [], 0.1)));
          return xs.map((ins) => [ins, { groups, relu }] as [Nd[], P]);
        })
        // Finite differences across the ReLU's kink are meaningless: keep pre-activations off 0.
        .filter(([[x, gamma, beta], p]) => !p.relu || groupNormRef(x!, gamma!, beta!, p.groups, 1e-5).data.every((z) => Math.abs(z) > 1e-3)),
      op: (p, x, gamma, beta) => E.groupNorm(x!, gamma!, beta!, p.groups, p.relu ? { activation: 'relu' } : {}),
      ref: (p, x, gamma, beta) => ref(p, x!, gamma!, beta!),
      // The f32 cancellation bound of layerNorm, over the rows groupNorm normalises.
      fwd: (p, x, gamma) => ({ atol: FWD.atol + layerNormF32Error(nd([x!.shape[0]! * p.groups, x!.data.length / (x!.shape[0]! * p.groups)], x!.data), gamma!, 1e-5), rtol: FWD.rtol }),
      runs: 40,
    });
  });

  test('one group per channel of a 480p-sized decoder map, against float64', async () => {
    // Rows of 30 000 elements: the per-row loops and the per-channel γ/β sums over a large map.
    const [b, c, h, w] = [1, 4, 120, 250];
    const rnd = (n: number, k: number) => Float64Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * k) * 2 + 0.3));
    const x = nd([b, c, h, w], rnd(b * c * h * w, 0.37));
    const gamma = nd([c], rnd(c, 1.3));
    const beta = nd([c], rnd(c, 2.1));
    const ins = [x, gamma, beta].map((v) => E.requireGrad(E.tensor(Float32Array.from(v.data), v.shape)));
    const y = E.groupNorm(ins[0]!, ins[1]!, ins[2]!, c, { activation: 'relu' });
    const want = groupNormRef(x, gamma, beta, c, 1e-5).data.map((v) => Math.max(0, v));
    close(await y.data(), want, FWD, 'groupNorm forward');
    E.backward(E.sum(y));
    // dβ[c] = the count of positive outputs of channel c (the ReLU passes a gradient of 1 there).
    // Outputs within f32 rounding of 0 may fall either side: they bound the difference.
    const z = groupNormRef(x, gamma, beta, c, 1e-5).data;
    const dbeta = await ins[2]!.grad!.data();
    for (let ch = 0; ch < c; ch++) {
      const zs = z.slice(ch * h * w, (ch + 1) * h * w);
      const positives = zs.filter((v) => v > 0).length;
      const nearZero = zs.filter((v) => Math.abs(v) < 1e-5).length;
      expect(Math.abs(dbeta[ch]! - positives), `groupNorm dβ of channel ${ch}`).toBeLessThanOrEqual(nearZero + 1e-6 * positives);
    }
    for (const t of [y, ...ins]) {
      t.grad?.dispose();
      t.dispose();
    }
  });

  test('bad arguments name the op and the shapes', () => {
    const x = E.zeros([2, 6, 3, 3]);
    expect(() => E.groupNorm(x, E.zeros([6]), E.zeros([6]), 4)).toThrow('groupNorm: 6 channels of x [2,6,3,3] do not split into 4 groups');
    expect(() => E.groupNorm(x, E.zeros([3]), E.zeros([6]), 2)).toThrow('groupNorm: gamma [3] must be [6], the channels of x [2,6,3,3]');
    expect(() => E.groupNorm(E.zeros([6]), E.zeros([6]), E.zeros([6]), 2)).toThrow('groupNorm: x must be [B, C, ...], got [6]');
    expect(() => E.groupNorm(x, E.zeros([6]), E.zeros([6]), 2, { activation: 'gelu' as 'relu' })).toThrow("groupNorm: activation must be 'relu' or absent, got 'gelu'");
  });
});

describe('layerNorm', () => {
  test('forward and gradients for x, gamma and beta', async () => {
    await checkOpWith('layerNorm', {
      cases: shapeArb(1, 4, 6).chain((s) => {
        const c = s[s.length - 1]!;
        return fc.tuple(ndArb(s, (n) => values(n, -3, 3)), ndArb([c], (n) => values(n, -2, 2)), ndArb([c])).map((xs) => [xs, null] as [Nd[], null]);
      }),
      op: (_p, x, g, b) => E.layerNorm(x!, g!, b!),
      ref: (_p, x, g, b) => layerNormRef(x!, g!, b!, 1e-5),
      fwd: (_p, x, g) => ({ atol: FWD.atol + layerNormF32Error(x!, g!, 1e-5), rtol: FWD.rtol }),
    });
  });

  test('a nearly constant row far from 0 (found by fast-check): within the f32 cancellation bound', async () => {
    const x = nd([2, 2], [2.9998743534088135, 2.9998717308044434, 0, 0]);
    const gamma = nd([2], [0, -0.2655632793903351]);
    const beta = nd([2], [0, 0]);
    const ins = [x, gamma, beta].map((v) => E.tensor(Float32Array.from(v.data), v.shape));
    const y = E.layerNorm(ins[0]!, ins[1]!, ins[2]!);
    close(await y.data(), layerNormRef(x, gamma, beta, 1e-5).data, { atol: FWD.atol + layerNormF32Error(x, gamma, 1e-5), rtol: FWD.rtol }, 'layerNorm');
    for (const t of [y, ...ins]) t.dispose();
  });

  test('gamma and beta gradients over many rows (column sums)', async () => {
    // 3000 rows: the row kernels span many workgroups and each column sum is long; tolerance as GRAD.
    const rows = 3000;
    const c = 5;
    const xv = Float32Array.from({ length: rows * c }, (_, i) => Math.sin(i * 0.7) * 2);
    const gv = Float32Array.from({ length: rows * c }, (_, i) => Math.cos(i * 0.3));
    const x = E.tensor(xv, [rows, c]);
    const gamma = E.requireGrad(E.tensor([1, 2, 3, 4, 5], [c]));
    const beta = E.requireGrad(E.tensor([0, 0, 0, 0, 0], [c]));
    E.backward(E.layerNorm(x, gamma, beta), E.tensor(gv, [rows, c]));
    const xh = layerNormRef(nd([rows, c], xv), nd([c], [1, 1, 1, 1, 1]), nd([c], [0, 0, 0, 0, 0]), 1e-5);
    const dg = new Float64Array(c);
    const db = new Float64Array(c);
    for (let i = 0; i < rows * c; i++) {
      dg[i % c] += gv[i]! * xh.data[i]!;
      db[i % c] += gv[i]!;
    }
    close(await gamma.grad!.data(), dg, { atol: 1e-3, rtol: 1e-3 }, 'dgamma');
    close(await beta.grad!.data(), db, { atol: 1e-3, rtol: 1e-3 }, 'dbeta');
  });

  test('bad shapes are named in the error', () => {
    const x = E.tensor(new Float32Array(6), [2, 3]);
    expect(() => E.layerNorm(x, E.tensor([1, 1], [2]), E.tensor([0, 0, 0], [3]))).toThrow(/layerNorm: gamma \[2\] must be \[3\], the last axis of x \[2,3\]/);
    expect(() => E.layerNorm(x, E.tensor([1, 1, 1], [3]), E.tensor([0, 0], [2]))).toThrow(/layerNorm: beta \[2\] must be \[3\]/);
  });
});

describe('l2Normalize', () => {
  test('forward and gradient along a random axis, with eps both below and above the norms', async () => {
    await checkOpWith('l2Normalize', {
      cases: shapeAndAxis
        .chain(([s, axis, negative]) =>
          fc.tuple(ndArb(s, (n) => values(n, -2, 2, [0], 0.02)), fc.constantFrom(1e-12, 1)).map(
            ([x, eps]) => [[x], { axis, userAxis: negative ? axis - s.length : axis, eps }] as [Nd[], { axis: number; userAxis: number; eps: number }],
          ),
        )
        // no row with its norm near eps: the function has a kink there
        .filter(([[x], p]) => alongAxis(x!, p.axis, (row) => row.map(() => Math.hypot(...row))).data.every((n) => Math.abs(n - p.eps) > 0.05)),
      op: (p, x) => E.l2Normalize(x!, p.userAxis, p.eps),
      ref: (p, x) => l2NormalizeRef(x!, p.axis, p.eps),
    });
  });

  test('a zero vector maps to zero', async () => {
    expect([...(await E.l2Normalize(E.tensor([0, 0, 0], [3])).data())]).toEqual([0, 0, 0]);
  });
});

describe('dropout', () => {
  test('forward and gradient use the mask of randBernoulli(shape, 1 − p, seed)', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(0, 4, 6).chain((s) => fc.tuple(ndArb(s), fc.constantFrom(0.1, 0.5, 0.9), fc.integer({ min: 0, max: 2 ** 40 }))),
        async ([x, p, seed]) => {
          const mask = await E.randBernoulli(x.shape, 1 - p, seed).data();
          await checkOpWith('dropout', {
            cases: fc.constant([[x], null] as [Nd[], null]),
            op: (_p, t) => E.dropout(t!, p, seed),
            ref: (_p, t) => dropoutRef(t!, mask, p),
            runs: 1,
          });
        },
      ),
      { numRuns: 20 },
    );
  });

  test('keeps about 1 − p of the elements, scaled by 1/(1 − p)', async () => {
    const n = 1 << 18;
    const p = 0.3;
    const y = await E.dropout(E.fill([n], 1), p, 1234).data();
    const kept = y.filter((v) => v !== 0).length;
    expect(y.every((v) => v === 0 || v === Math.fround(1 / (1 - p)))).toBe(true);
    // Binomial: within 5 standard deviations of n(1 − p).
    expect(Math.abs(kept - n * (1 - p))).toBeLessThan(5 * Math.sqrt(n * p * (1 - p)));
  });

  test('eval mode and p = 0 return x itself; p = 1 zeroes everything; bad p is named', async () => {
    const x = E.tensor([1, 2, 3], [3]);
    expect(E.dropout(x, 0.5, 1, false)).toBe(x);
    expect(E.dropout(x, 0, 1)).toBe(x);
    expect([...(await E.dropout(x, 1, 1).data())]).toEqual([0, 0, 0]);
    expect(() => E.dropout(x, 1.5, 1)).toThrow(/dropout: p must be in \[0, 1\], got 1.5/);
    expect(() => E.dropout(x, 0.5, -1)).toThrow(/dropout: seed must be an integer/);
  });
});
