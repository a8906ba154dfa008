// matmul and linear against float64 references, for both kernel variants (forced with setMatmulVariant).
//
// Forward tolerance, per element: |got − want| ≤ (K + 2)·2⁻²⁴·(|A|·|B|)ᵢⱼ + 1e-30, the classic bound
// for a K-term f32 dot product summed in any order of depth ≤ K (the absolute 1e-30 covers the
// adapter flushing denormals to zero). It scales with K and with the size of the terms, so it is
// tight for small K and for elements that are small by cancellation.
// Gradients: central differences of the float64 reference with gradcheck's GRAD tolerance, on small
// matrices (dims ≤ 6): the differences evaluate the reference twice per input element.
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { broadcastPair, checkOpWith, close, values } from './gradcheck.ts';
import { unary } from './reference/elementwise.ts';
import { linearRef, matmulRef } from './reference/matmul.ts';
import { nd, size, type Nd } from './reference/nd.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);
afterEach(() => E.setMatmulVariant(undefined));

const U = 2 ** -24;

interface Case {
  a: Nd;
  b: Nd;
  transA: boolean;
  transB: boolean;
  K: number;
}

/** Random M, K, N in 1..max (1 often), transpose flags, and batch shapes that broadcast together. */
function cases(max: number, batchRank: number, batchDim: number): fc.Arbitrary<Case> {
  const dim = fc.oneof(fc.constant(1), fc.integer({ min: 1, max }));
  return fc
    .record({ M: dim, K: dim, N: dim, transA: fc.boolean(), transB: fc.boolean(), batch: broadcastPair(batchRank, batchDim) })
    .chain(({ M, K, N, transA, transB, batch: [ba, bb] }) => {
      const sa = [...ba, ...(transA ? [K, M] : [M, K])];
      const sb = [...bb, ...(transB ? [N, K] : [K, N])];
      return fc.tuple(values(size(sa)), values(size(sb))).map(([va, vb]) => ({ a: nd(sa, va), b: nd(sb, vb), transA, transB, K }));
    });
}

const abs = (x: Nd): Nd => nd(x.shape, (i) => Math.abs(x.data[i]!));
const upload = (x: Nd) => E.tensor(Float32Array.from(x.data), x.shape);

/** The forward bound above, element by element. */
async function checkForward(c: Case): Promise<void> {
  const { a, b, transA, transB, K } = c;
  const want = matmulRef(a, b, transA, transB);
  const bound = matmulRef(abs(a), abs(b), transA, transB);
  const [ta, tb] = [upload(a), upload(b)];
  const y = E.matmul(ta, tb, { transA, transB });
  expect(y.shape).toEqual(want.shape);
  const got = await y.data();
  for (const t of [ta, tb, y]) t.dispose();
  const what = `matmul ${a.shape}${transA ? 'ᵀ' : ''} x ${b.shape}${transB ? 'ᵀ' : ''} (${E.matmulVariant()})`;
  for (let i = 0; i < want.data.length; i++) {
    const err = Math.abs(got[i]! - want.data[i]!);
    const lim = (K + 2) * U * bound.data[i]! + 1e-30;
    if (!(err <= lim)) throw new Error(`${what}: element ${i}: got ${got[i]}, want ${want.data[i]} (|err| ${err.toExponential(2)} > ${lim.toExponential(2)})`);
  }
}

for (const variant of ['unrolled', 'tiled'] as const) {
  describe(`matmul, ${variant} kernel`, () => {
    const use = () => E.setMatmulVariant(variant);

    test('forward: random M, K, N in 1..40, transposes, broadcast batches', async () => {
      use();
      await fc.assert(fc.asyncProperty(cases(40, 2, 3), checkForward), { numRuns: 30 });
    });

    test('forward: K over several dispatch chunks (unrolled kernel: 2 chunks of 80)', async () => {
      use();
      await fc.assert(fc.asyncProperty(fc.constantFrom(129, 150).chain((K) => cases(70, 1, 2).map((c) => ({ ...c, K }))).chain(resize), checkForward), { numRuns: 4 });
    });

    test('gradients of both operands vs finite differences (dims ≤ 6, broadcast batches)', async () => {
      use();
      await checkOpWith('matmul', {
        cases: cases(6, 2, 2).map((c) => [[c.a, c.b], c] as [Nd[], Case]),
        op: (c, a, b) => E.matmul(a!, b!, { transA: c.transA, transB: c.transB }),
        ref: (c, a, b) => matmulRef(a!, b!, c.transA, c.transB),
        runs: 20,
      });
    });

    test('linear: x [..., K]·wᵀ + bias, forward and gradients of x, w, bias', async () => {
      use();
      const arb = fc
        .record({ lead: fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 2 }), K: fc.integer({ min: 1, max: 6 }), N: fc.integer({ min: 1, max: 6 }), bias: fc.boolean() })
        .chain(({ lead, K, N, bias }) => {
          const shapes = [[...lead, K], [N, K], ...(bias ? [[N]] : [])];
          return fc.tuple(...shapes.map((s) => values(size(s)).map((v) => nd(s, v)))).map((xs) => [xs, null] as [Nd[], null]);
        });
      await checkOpWith('linear', { cases: arb, op: (_p, x, w, b) => E.linear(x!, w!, b), ref: (_p, x, w, b) => linearRef(x!, w!, b) });
    });

    test('linear with fused GELU: forward and gradients of x, w, bias, K in one chunk and in several', async () => {
      use();
      // Values keep |x·wᵀ + b| < 4 (the reference erf's range): in [-1, 1] for K ≤ 3; in [-0.25, 0.25]
      // for K = 129, 150, where random sums stay far below it.
      const arb = fc
        .record({
          lead: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
          K: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.constantFrom(129, 150)),
          N: fc.integer({ min: 1, max: 5 }),
          bias: fc.boolean(),
        })
        .chain(({ lead, K, N, bias }) => {
          const hi = K > 3 ? 0.25 : 1;
          const shapes = [[...lead, K], [N, K], ...(bias ? [[N]] : [])];
          return fc.tuple(...shapes.map((s) => values(size(s), -hi, hi).map((v) => nd(s, v)))).map((xs) => [xs, null] as [Nd[], null]);
        });
      await checkOpWith('linear gelu', {
        cases: arb,
        op: (_p, x, w, b) => E.linear(x!, w!, b, { activation: 'gelu' }),
        ref: (_p, x, w, b) => unary('gelu')(linearRef(x!, w!, b)),
        fwd: { atol: 3e-6, rtol: 1e-4 }, // as gelu's own test: its erf approximation is good to 1.5e-7
        runs: 15,
      });
    });

    test('linear with fused GELU without gradients (no pre-activation kept) gives the same values', async () => {
      use();
      const rand = (n: number) => Float64Array.from({ length: n }, () => Math.fround(Math.random() * 0.5 - 0.25));
      for (const K of [3, 150]) {
        const [x, w, b] = [nd([7, K], rand(7 * K)), nd([5, K], rand(5 * K)), nd([5], rand(5))];
        const [tx, tw, tb] = [x, w, b].map((t) => E.tensor(Float32Array.from(t.data), t.shape));
        const y = E.noGrad(() => E.linear(tx!, tw!, tb, { activation: 'gelu' }));
        close(await y.data(), unary('gelu')(linearRef(x, w, b)).data, { atol: 3e-6, rtol: 1e-4 }, `linear gelu K=${K} without grad`);
        for (const t of [tx!, tw!, tb!, y]) t.dispose();
      }
    });

    test("attention's products at 192 tokens, head size 32, within the bound (unrolled kernel: 64-row workgroups; 16- and 24-column blocks)", async () => {
      use();
      const rand = (n: number) => Float64Array.from({ length: n }, () => Math.fround(Math.random() * 2 - 1));
      const m = (...shape: number[]) => nd(shape, rand(shape.reduce((a, b) => a * b, 1)));
      await checkForward({ a: m(2, 192, 192), b: m(2, 192, 32), transA: false, transB: false, K: 192 }); // p·v, dq
      await checkForward({ a: m(2, 192, 32), b: m(2, 192, 32), transA: false, transB: true, K: 32 }); // q·kᵀ, dp
    });

    test('1024 × 1024 × 150 against float64, within the bound', async () => {
      use();
      const rand = (n: number) => Float64Array.from({ length: n }, () => Math.fround(Math.random() * 2 - 1));
      await checkForward({ a: nd([1024, 150], rand(1024 * 150)), b: nd([150, 1024], rand(150 * 1024)), transA: false, transB: false, K: 150 });
    });
  });
}

/** A case with its K replaced (the chunk test's K is fixed): new shapes, new values. */
function resize(c: Case): fc.Arbitrary<Case> {
  const set = (x: Nd, trans: boolean, isA: boolean): number[] => {
    const s = [...x.shape];
    const r = s.length;
    s[isA === trans ? r - 2 : r - 1] = c.K;
    return s;
  };
  const sa = set(c.a, c.transA, true);
  const sb = set(c.b, c.transB, false);
  return fc.tuple(values(size(sa)), values(size(sb))).map(([va, vb]) => ({ ...c, a: nd(sa, va), b: nd(sb, vb) }));
}

describe('matmul and linear: choices and errors', () => {
  test('the unrolled kernel is the default where loop kernels are slow (lavapipe), tiled elsewhere; a forced variant wins', () => {
    const i = E.device().info;
    expect(E.loopKernelsFast()).toBe(!i.isLavapipe);
    expect(E.matmulVariant()).toBe(i.isLavapipe ? 'unrolled' : 'tiled');
    if (/llvmpipe/.test(i.architecture)) expect(E.matmulVariant()).toBe('unrolled'); // this machine's adapter
    E.setLoopKernelsFast(!E.loopKernelsFast());
    expect(E.matmulVariant()).toBe(i.isLavapipe ? 'tiled' : 'unrolled');
    E.setLoopKernelsFast(undefined);
    E.setMatmulVariant('tiled');
    expect(E.matmulVariant()).toBe('tiled');
  });

  test('empty products: K = 0 gives zeros, M = 0 an empty result', async () => {
    expect([...(await E.matmul(E.zeros([2, 0]), E.zeros([0, 3])).data())]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(E.matmul(E.zeros([0, 4]), E.zeros([4, 3])).shape).toEqual([0, 3]);
  });

  test('bad operands throw errors that name the op and the shapes', () => {
    const t = (...s: number[]) => E.zeros(s);
    expect(() => E.matmul(t(3), t(3, 2))).toThrow(/matmul \[3\] x \[3,2\].*rank ≥ 2/);
    expect(() => E.matmul(t(2, 3), t(4, 2))).toThrow(/matmul \[2,3\] x \[4,2\]: inner dimensions differ \(3 vs 4\)/);
    expect(() => E.matmul(t(2, 3), t(2, 4), { transA: true, transB: true })).toThrow(/inner dimensions differ \(2 vs 4\)/);
    expect(() => E.matmul(t(2, 2, 3), t(3, 3, 4))).toThrow(/batch dimensions do not broadcast \(2 vs 3/);
    expect(() => E.matmul(E.zeros([2, 2], 'i32'), t(2, 2))).toThrow(/expected f32/);
    expect(() => E.linear(t(2, 3), t(4, 2))).toThrow(/linear x \[2,3\] w \[4,2\]: x has 3 features but w expects 2/);
    expect(() => E.linear(t(2, 3), t(4, 3), t(3))).toThrow(/bias must be \[4\]/);
    expect(() => E.linear(t(2, 3), t(4, 3, 1))).toThrow(/expected x \[\.\.\., K\] and w \[N, K\]/);
    expect(() => E.linear(t(2, 3), t(4, 3), undefined, { activation: 'relu' as 'gelu' })).toThrow(/activation must be 'gelu' or absent, got 'relu'/);
  });
});
