// conv2d: random geometry (batch, groups, channels per group, kernel, stride, padding, dilation, odd
// and non-square sizes, with and without bias), forward against test/reference/conv.ts and gradients
// of x, w and b against finite differences, with the default FWD/GRAD tolerances (each output sums at
// most a few hundred products of values in [-2, 2]). conv2d has two paths, picked by the number of
// output channels per group: below 8 the direct kernels, from 8 on im2col + matmul (1×1 convolutions
// with stride 1 and no padding skip im2col). A random-geometry property runs on each; then the shapes
// the models use (ViT patch embedding, depthwise 3×3, 1×1 heads) on the paths they take, long sums
// (the direct weight gradient's chunks, matmul's K chunks), the release of intermediates when nothing
// is recorded, and the errors for bad arguments. 3×3 convolutions with stride 1 and padding 1 take a
// third path, Winograd's F(2×2, 3×3): a property of its own, and a test of which geometries take it.
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { checkOpWith, ndArb } from './gradcheck.ts';
import { conv2dRef, type ConvParams } from './reference/conv.ts';
import type { Nd } from './reference/nd.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

interface Case extends ConvParams {
  /** How the options are passed: a number where both axes agree and `asNumber`, else a pair. */
  asNumber: boolean;
  bias: boolean;
}

function options(p: Case): E.Conv2dOptions {
  const one = (v: [number, number]) => (p.asNumber && v[0] === v[1] ? v[0] : v);
  return { stride: one(p.stride), padding: one(p.padding), dilation: one(p.dilation), groups: p.groups };
}

const conv = (p: Case, x: E.Tensor, w: E.Tensor, b?: E.Tensor) => E.conv2d(x, w, p.bias ? b : undefined, options(p));
const ref = (p: Case, x: Nd, w: Nd, b?: Nd) => conv2dRef(x, w, p.bias ? b : undefined, p);

/** Inputs for a fixed geometry: x, w and (if p.bias) b. */
function inputs(xs: number[], ws: number[], p: Case): fc.Arbitrary<[Nd[], Case]> {
  return fc.tuple(ndArb(xs), ndArb(ws), ndArb([ws[0]!])).map(([x, w, b]): [Nd[], Case] => [p.bias ? [x, w, b] : [x, w], p]);
}

const pairArb = (lo: number, hi: number) => fc.tuple(fc.integer({ min: lo, max: hi }), fc.integer({ min: lo, max: hi }));

/** Random geometry with Cout/groups in [coutLo, coutHi] (so on one path) and at most maxGroups groups. */
const randomCases = (coutLo: number, coutHi: number, maxGroups: number) =>
  fc
    .record({
      n: fc.integer({ min: 1, max: 2 }),
      groups: fc.integer({ min: 1, max: maxGroups }),
      cinG: fc.integer({ min: 1, max: 3 }),
      coutG: fc.integer({ min: coutLo, max: coutHi }),
      k: pairArb(1, 3),
      size: pairArb(1, 7),
      stride: pairArb(1, 3),
      padding: pairArb(0, 2),
      dilation: pairArb(1, 2),
      asNumber: fc.boolean(),
      bias: fc.boolean(),
    })
    .filter((c) => [0, 1].every((d) => c.size[d]! + 2 * c.padding[d]! >= c.dilation[d]! * (c.k[d]! - 1) + 1))
    .chain((c) => {
      const p: Case = { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups, asNumber: c.asNumber, bias: c.bias };
      return inputs([c.n, c.groups * c.cinG, ...c.size], [c.groups * c.coutG, c.cinG, ...c.k], p);
    });

const fixed = (stride: number, padding: number, groups: number, bias = true): Case => ({
  stride: [stride, stride],
  padding: [padding, padding],
  dilation: [1, 1],
  groups,
  asNumber: true,
  bias,
});

describe('conv2d', () => {
  test('random geometry, direct kernels: forward and gradients of x, w, b', async () => {
    await checkOpWith('conv2d', { cases: randomCases(1, 3, 3), op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), runs: 40 });
  });

  test('random geometry, im2col + matmul: forward and gradients of x, w, b', async () => {
    await checkOpWith('conv2d', { cases: randomCases(8, 9, 2), op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), runs: 30 });
  });

  test('3×3, stride 1, padding 1 (Winograd F(2×2, 3×3)): random sizes, odd and even, forward and gradients of x, w, b', async () => {
    const cases = fc
      .record({ n: fc.integer({ min: 1, max: 2 }), cin: fc.integer({ min: 1, max: 5 }), cout: fc.integer({ min: 8, max: 10 }), size: pairArb(1, 7), bias: fc.boolean() })
      .chain((c) => inputs([c.n, c.cin, ...c.size], [c.cout, c.cin, 3, 3], fixed(1, 1, 1, c.bias)));
    await checkOpWith('conv2d winograd', { cases, op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), runs: 30 });
  });

  test('the decoder\'s 3×3 convolutions take the Winograd path; other geometries, groups and an input over the budget do not', async () => {
    const kernelsOf = async (x: E.Tensor, w: E.Tensor, o: E.Conv2dOptions) => {
      E.startProfiling({ perDispatch: true });
      E.beginProfiledStep();
      E.tidy(() => {
        E.backward(E.sum(E.conv2d(x, w, undefined, o)));
      });
      await E.endProfiledStep();
      const p = await E.stopProfiling();
      for (const t of [x, w]) {
        t.grad?.dispose();
        t.grad = undefined;
      }
      return p.kernels.map((k) => k.kernel);
    };
    const x = E.requireGrad(E.tensor(Float32Array.from({ length: 2 * 8 * 6 * 5 }, (_, i) => Math.sin(i)), [2, 8, 6, 5]));
    const w = E.requireGrad(E.tensor(Float32Array.from({ length: 8 * 8 * 9 }, (_, i) => Math.cos(i)), [8, 8, 3, 3]));
    const winograd = ['winograd_input', 'winograd_output', 'winograd_output_grad', 'winograd_input_grad', 'col2im'];
    expect(await kernelsOf(x, w, { padding: 1 })).toEqual(expect.arrayContaining(winograd));
    expect(await kernelsOf(x, w, { padding: 1 })).not.toContain('im2col');
    for (const o of [{ padding: 2, dilation: 2 }, { padding: 1, stride: 2 }, { padding: 0 }]) {
      const ks = await kernelsOf(x, w, o);
      expect(ks, JSON.stringify(o)).toContain('im2col');
      expect(ks.some((k) => k.startsWith('winograd')), JSON.stringify(o)).toBe(false);
    }
    const wg = E.requireGrad(E.tensor(Float32Array.from({ length: 8 * 4 * 9 }, (_, i) => Math.cos(i)), [8, 4, 3, 3]));
    expect((await kernelsOf(x, wg, { padding: 1, groups: 2 })).some((k) => k.startsWith('winograd'))).toBe(false);
    // V [16, C, T] is 16·8·(2·3·3) floats = 9216 bytes: one float less and the im2col path (in bands) takes over.
    E.setBindingBudget(16 * 8 * 18 * 4 - 4);
    try {
      expect((await kernelsOf(x, w, { padding: 1 })).some((k) => k.startsWith('winograd'))).toBe(false);
    } finally {
      E.setBindingBudget(undefined);
    }
    for (const t of [x, w, wg]) t.dispose();
  });

  test('ViT patch embedding (kernel = stride = 4), non-square image', async () => {
    for (const cout of [5, 8]) {
      await checkOpWith('patch embedding', { cases: inputs([2, 3, 8, 12], [cout, 3, 4, 4], fixed(4, 0, 1)), op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), runs: 2 });
    }
  });

  test('depthwise 3×3 (groups = C, padding 1) and 1×1 heads (one grouped)', async () => {
    await checkOpWith('depthwise 3x3', { cases: inputs([2, 4, 6, 5], [4, 1, 3, 3], fixed(1, 1, 4)), op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), runs: 3 });
    await checkOpWith('1x1', { cases: inputs([2, 6, 5, 3], [3, 6, 1, 1], fixed(1, 0, 1)), op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), runs: 3 });
    await checkOpWith('1x1 without im2col', { cases: inputs([2, 6, 5, 3], [16, 3, 1, 1], fixed(1, 0, 2)), op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), runs: 3 });
  });

  test('weight gradients over large images (gradients of w and b only)', async () => {
    // Direct: 2·128 rows of 128 outputs against 9 weights, so the weight gradient is split into 8
    // chunks of 4096 products, added with Kahan. im2col: each weight's gradient sums 40·40 products,
    // a K that matmul covers in many dispatches. The default tolerance holds for f32 sums of this length.
    await checkOpWith('conv2d large', { cases: inputs([2, 1, 128, 128], [1, 1, 3, 3], fixed(1, 1, 1)), op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), grad: [1, 2], runs: 2 });
    await checkOpWith('conv2d large', { cases: inputs([1, 1, 40, 40], [8, 1, 3, 3], fixed(1, 1, 1)), op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), grad: [1, 2], runs: 2 });
  });

  test('many input channels: Cin·kh·kw = 144 spans matmul chunks (stride 2)', async () => {
    await checkOpWith('conv2d wide', { cases: inputs([1, 16, 4, 3], [8, 16, 3, 3], fixed(2, 1, 1)), op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), runs: 2 });
  });

  test('an im2col matrix over the binding budget is built in bands of output rows: same values and gradients', async () => {
    // Budgets of 1–3 output rows' columns: bands of that many rows, with the random stride, padding and dilation.
    const banded = randomCases(8, 9, 2).chain(([xs, p]) => fc.integer({ min: 1, max: 3 }).map((rows): [Nd[], Case & { rows: number }] => [xs, { ...p, rows }]));
    const op = (p: Case & { rows: number }, x: E.Tensor, w: E.Tensor, b?: E.Tensor) => {
      const [n, cin, , width] = x.shape as number[];
      const [, , kh, kw] = w.shape as number[];
      const ow = Math.floor((width! + 2 * p.padding[1] - p.dilation[1] * (kw! - 1) - 1) / p.stride[1]) + 1;
      E.setBindingBudget(p.rows * 4 * n! * cin! * kh! * kw! * ow);
      try {
        return conv(p, x, w, b);
      } finally {
        E.setBindingBudget(undefined);
      }
    };
    await checkOpWith('conv2d in bands', { cases: banded, op: (p, x, w, b) => op(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), runs: 30 });

    // The largest binding, forward and backward, stays within the budget: the whole columns (9× the
    // input here) are never made, neither is their gradient.
    const x = E.requireGrad(E.tensor(Float32Array.from({ length: 2 * 4 * 20 * 12 }, (_, i) => Math.sin(i)), [2, 4, 20, 12]));
    const w = E.requireGrad(E.tensor(Float32Array.from({ length: 8 * 4 * 9 }, (_, i) => Math.cos(i)), [8, 4, 3, 3]));
    const largest = async (budget: number | undefined) => {
      E.setBindingBudget(budget);
      E.largestBinding(true);
      try {
        const y = E.tidy(() => {
          const out = E.conv2d(x, w, undefined, { padding: 2, dilation: 2 }); // not Winograd's geometry
          E.backward(E.sum(out));
          return out;
        });
        const data = await y.data();
        y.dispose();
        return { bytes: E.largestBinding().bytes, data, grad: await x.grad!.data() };
      } finally {
        E.setBindingBudget(undefined);
        x.grad?.dispose();
        x.grad = undefined;
        w.grad?.dispose();
        w.grad = undefined;
      }
    };
    const whole = await largest(undefined);
    const cols = 4 * 2 * 4 * 9 * 20 * 12;
    expect(whole.bytes).toBe(cols);
    const budget = 4 * 2 * 8 * 20 * 12; // the output's bytes: 5 rows of columns a band
    const bands = await largest(budget);
    expect(bands.bytes).toBeLessThanOrEqual(budget);
    expect(bands.data).toEqual(whole.data);
    // Halo rows read by two bands sum their two gradients in another order: equal up to f32 rounding.
    const worst = Math.max(...bands.grad.map((g, i) => Math.abs(g - whole.grad[i]!)));
    expect(worst).toBeLessThan(1e-5);
    x.dispose();
    w.dispose();
  });

  test('without autograd, only the output stays allocated', async () => {
    const x = E.tensor(new Float32Array(2 * 4 * 6 * 5).fill(1), [2, 4, 6, 5]);
    const w = E.requireGrad(E.tensor(new Float32Array(16 * 2 * 3 * 3).fill(0.5), [16, 2, 3, 3]));
    const w1 = E.tensor(new Float32Array(16 * 4), [16, 4, 1, 1]);
    const b = E.tensor(new Float32Array(16).fill(1));
    for (const [ww, o] of [[w, { padding: 1, groups: 2 }], [w1, {}], [w1, { padding: 1 }]] as const) {
      const before = E.memoryStats().liveBuffers;
      const y = E.noGrad(() => E.conv2d(x, ww, b, o));
      expect(E.memoryStats().liveBuffers).toBe(before + 1);
      expect(y.node).toBeUndefined();
      y.dispose();
    }
    for (const t of [x, w, w1, b]) t.dispose();
  });

  test('bad arguments throw errors naming the op and the shapes', () => {
    const x = E.tensor(new Float32Array(2 * 4 * 5 * 5), [2, 4, 5, 5]);
    const w = E.tensor(new Float32Array(6 * 2 * 3 * 3), [6, 2, 3, 3]);
    expect(() => E.conv2d(E.tensor([1, 2, 3]), w)).toThrow(/conv2d \[3\] \* \[6,2,3,3\]: input must be \[N, Cin, H, W\]/);
    expect(() => E.conv2d(x, w)).toThrow(/weight has 2 input channels, expected Cin\/groups = 4\/1 = 4/);
    expect(() => E.conv2d(x, w, undefined, { groups: 3 })).toThrow(/groups 3 must divide both Cin 4 and Cout 6/);
    expect(() => E.conv2d(x, w, E.tensor([1, 2]), { groups: 2 })).toThrow(/bias must be \[6\], got \[2\]/);
    expect(() => E.conv2d(x, E.tensor(new Float32Array(6 * 2 * 7 * 7), [6, 2, 7, 7]), undefined, { groups: 2 })).toThrow(/output would be -1×-1/);
    expect(() => E.conv2d(x, w, undefined, { groups: 2, stride: 0 })).toThrow(/stride 0 must be an integer ≥ 1/);
    expect(() => E.conv2d(x, w, undefined, { groups: 2, padding: [1, -1] })).toThrow(/padding \[1,-1\] must be an integer ≥ 0/);
    expect(() => E.conv2d(E.tensor(new Int32Array(100), [1, 4, 5, 5]), w, undefined, { groups: 2 })).toThrow(/conv2d .*expected f32/);
  });
});
