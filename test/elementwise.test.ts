import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { checkOp, broadcastPair, ndArb, shapeArb, values, FWD } from './gradcheck.ts';
import { binary, binaryRef, unary, unaryRef } from './reference/elementwise.ts';
import { mapNd, nd, type Nd } from './reference/nd.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

// Input ranges per op: away from kinks (relu, abs at 0) and outside domains (log, sqrt need x > 0).
const unaryDomain: Record<string, [number, number, number[]]> = {
  neg: [-3, 3, []],
  exp: [-3, 3, []],
  log: [0.05, 4, []],
  sqrt: [0.05, 4, []],
  abs: [-3, 3, [0]],
  relu: [-3, 3, [0]],
  sigmoid: [-6, 6, []],
  tanh: [-4, 4, []],
  gelu: [-4, 4, []],
};

describe('unary ops', () => {
  for (const name of Object.keys(unaryRef)) {
    test(name, async () => {
      const [lo, hi, avoid] = unaryDomain[name]!;
      await checkOp(name, {
        inputs: shapeArb(0, 4, 6).chain((s) => ndArb(s, (n) => values(n, lo, hi, avoid)).map((x) => [x])),
        op: (E as unknown as Record<string, (x: E.Tensor) => E.Tensor>)[name]!,
        ref: unary(name),
        // gelu uses a 1.5e-7 erf approximation; exp's outputs reach e³ so use relative error
        fwd: name === 'gelu' ? { atol: 3e-6, rtol: 1e-4 } : FWD,
      });
    });
  }
});

describe('binary ops with broadcasting', () => {
  const domain: Record<string, (n: number) => fc.Arbitrary<number[]>> = {
    div: (n) => values(n, 0.2, 3).chain((v) => fc.array(fc.boolean(), { minLength: n, maxLength: n }).map((s) => v.map((x, i) => (s[i] ? -x : x)))),
    pow: (n) => values(n, 0.2, 3),
    maximum: (n) => values(n, -3, 3),
    minimum: (n) => values(n, -3, 3),
  };
  for (const name of Object.keys(binaryRef)) {
    test(name, async () => {
      const second = domain[name] ?? ((n: number) => values(n, -3, 3));
      const first = name === 'pow' ? (n: number) => values(n, 0.2, 3) : (n: number) => values(n, -3, 3);
      await checkOp(name, {
        inputs: broadcastPair().chain(([a, b]) => fc.tuple(ndArb(a, first), ndArb(b, second))).filter(
          // maximum/minimum: no ties (the gradient is not defined there)
          ([a, b]) => !['maximum', 'minimum'].includes(name) || mapNd([a, b], (x, y) => (Math.abs(x - y) < 0.01 ? 1 : 0)).data.every((v) => v === 0),
        ),
        op: (E as unknown as Record<string, (a: E.Tensor, b: E.Tensor) => E.Tensor>)[name]!,
        ref: binary(name),
      });
    });
  }

  // Same-shape f32 operands whose size is a multiple of 4 take the kernel's vec4 path (mapBinary).
  for (const name of ['add', 'sub', 'mul']) {
    test(`${name} of same-shape operands, sizes a multiple of 4 (four elements an invocation)`, async () => {
      await checkOp(name, {
        inputs: shapeArb(0, 3, 5)
          .map((s) => [...s, 4 * (1 + (s.length % 3))])
          .chain((s) => fc.tuple(ndArb(s, (n) => values(n, -3, 3)), ndArb(s, (n) => values(n, -3, 3)))),
        op: (E as unknown as Record<string, (a: E.Tensor, b: E.Tensor) => E.Tensor>)[name]!,
        ref: binary(name),
      });
    });
  }

  test('number operands on either side', async () => {
    const s = 1.75;
    for (const name of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum']) {
      const f = (E as unknown as Record<string, (a: E.Tensor | number, b: E.Tensor | number) => E.Tensor>)[name]!;
      const r = binaryRef[name]!;
      await checkOp(`${name}(x, ${s})`, { inputs: shapeArb(0, 3).chain((sh) => ndArb(sh, (n) => values(n, 0.2, 3)).map((x) => [x])), op: (x) => f(x, s), ref: (x: Nd) => mapNd([x], (a) => r(a, s)), runs: 10 });
      await checkOp(`${name}(${s}, x)`, { inputs: shapeArb(0, 3).chain((sh) => ndArb(sh, (n) => values(n, 0.2, 3)).map((x) => [x])), op: (x) => f(s, x), ref: (x: Nd) => mapNd([x], (a) => r(s, a)), runs: 10 });
    }
  });

  test('affine and clamp', async () => {
    await checkOp('affine', { inputs: shapeArb(0, 3).chain((sh) => ndArb(sh).map((x) => [x])), op: (x) => E.affine(x, -1.5, 0.25), ref: (x) => mapNd([x], (a) => a * -1.5 + 0.25) });
    await checkOp('clamp', {
      inputs: shapeArb(0, 3).chain((sh) => ndArb(sh, (n) => values(n, -2, 2, [-0.5, 1])).map((x) => [x])),
      op: (x) => E.clamp(x, -0.5, 1),
      ref: (x) => mapNd([x], (a) => Math.min(1, Math.max(-0.5, a))),
    });
  });

  test('where broadcasts condition and both branches', async () => {
    await checkOp('where', {
      inputs: broadcastPair().chain(([a, b]) => fc.tuple(ndArb(a, (n) => fc.array(fc.constantFrom(0, 1), { minLength: n, maxLength: n })), ndArb(a), ndArb(b))),
      op: (c, a, b) => E.where(c, a, b),
      ref: (c, a, b) => mapNd([c, a, b], (x, y, z) => (x !== 0 ? y : z)),
      grad: [1, 2],
    });
  });
});

describe('comparisons and casts', () => {
  test('comparisons give 1.0 / 0.0 with broadcasting', async () => {
    const a = E.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = E.tensor([2, 2, 7], [3]);
    const cases: [string, (x: number, y: number) => boolean][] = [
      ['lt', (x, y) => x < y], ['le', (x, y) => x <= y], ['gt', (x, y) => x > y],
      ['ge', (x, y) => x >= y], ['eq', (x, y) => x === y], ['ne', (x, y) => x !== y],
    ];
    for (const [name, f] of cases) {
      const op = (E as unknown as Record<string, (a: E.Tensor | number, b: E.Tensor | number) => E.Tensor>)[name]!;
      const want = mapNd([nd([2, 3], [1, 2, 3, 4, 5, 6]), nd([3], [2, 2, 7])], (x, y) => (f(x, y) ? 1 : 0));
      expect([...(await op(a, b).data())], name).toEqual([...want.data]);
      expect([...(await op(a, 3).data())], `${name} scalar`).toEqual([1, 2, 3, 4, 5, 6].map((x) => (f(x, 3) ? 1 : 0)));
    }
  });

  test('integer tensors compare exactly and cast', async () => {
    const labels = E.tensor(new Int32Array([0, 255, 3, -1]));
    expect([...(await E.eq(labels, 255).data())]).toEqual([0, 1, 0, 0]);
    expect([...(await E.cast(labels, 'f32').data())]).toEqual([0, 255, 3, -1]);
    expect([...(await E.cast(E.tensor([1.7, -2.2, 3]), 'i32').data())]).toEqual([1, -2, 3]);
  });

  test('shape errors name both shapes', () => {
    const a = E.tensor([1, 2, 3], [3]);
    const b = E.tensor([1, 2], [2]);
    expect(() => E.add(a, b)).toThrow(/add: shapes \[3\] and \[2\] cannot be broadcast/);
    expect(() => E.log(E.tensor(new Int32Array([1])))).toThrow(/log: expected f32/);
  });
});
