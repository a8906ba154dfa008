// topk / sort / argsort: random shapes, axes (given non-negative or from the end) and k. With
// distinct values (so that the order, and thus the gradient, is defined), values against
// test/reference/sort.ts and the gradient against finite differences; the forward is an exact copy and
// the gradient a scatter, so the default FWD/GRAD tolerances are loose for them. With ties, values and
// indices must match the reference exactly (ties keep position order), on f32, i32 and u32. Then NaN,
// ±0 and ±inf, the class axis of a [B, C, H, W] map as U2PL ranks it, a long row, and bad arguments.
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { checkOpWith, ndArb, shapeArb } from './gradcheck.ts';
import { nd, type Nd } from './reference/nd.ts';
import { sortRef, topkRef } from './reference/sort.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

/** Distinct values, multiples of 1/512 in [-4, 4]: far apart next to the finite-difference step. */
const distinct = (n: number) => fc.uniqueArray(fc.integer({ min: -2048, max: 2048 }), { minLength: n, maxLength: n }).map((v) => v.map((x) => x / 512));
/** Values with many ties. */
const tied = (n: number) => fc.array(fc.integer({ min: -2, max: 2 }), { minLength: n, maxLength: n });

interface P {
  axis: number;
  user: number;
  k: number;
  descending: boolean;
}

function cases(vals: (n: number) => fc.Arbitrary<number[]>): fc.Arbitrary<[Nd[], P]> {
  return shapeArb(1, 4, 6).chain((s) =>
    fc
      .record({ axis: fc.integer({ min: 0, max: s.length - 1 }), neg: fc.boolean(), kFrac: fc.double({ min: 0, max: 1, noNaN: true }), descending: fc.boolean() })
      .chain(({ axis, neg, kFrac, descending }) => {
        const p: P = { axis, user: neg ? axis - s.length : axis, k: Math.round(kFrac * s[axis]!), descending };
        return ndArb(s, vals).map((x): [Nd[], P] => [[x], p]);
      }),
  );
}

async function exact(xs: Nd, dtype: E.DType, p: P, which: 'topk' | 'sort') {
  const x = E.tensor(xs.data, xs.shape, dtype);
  const got = which === 'topk' ? E.topk(x, p.k, p.user) : E.sort(x, p.user, p.descending);
  const want = which === 'topk' ? topkRef(xs, p.k, p.axis) : sortRef(xs, p.axis, p.descending);
  expect(got.values.shape).toEqual(want.values.shape);
  expect([...(await got.values.data())]).toEqual([...want.values.data]);
  expect([...(await got.indices.data())]).toEqual([...want.indices.data]);
  for (const t of [x, got.values, got.indices]) t.dispose();
}

describe('topk, sort, argsort', () => {
  test('topk values: forward and gradient (distinct values)', async () => {
    await checkOpWith('topk', { cases: cases(distinct), op: (p, x) => E.topk(x!, p.k, p.user).values, ref: (p, x) => topkRef(x!, p.k, p.axis).values, runs: 40 });
  });

  test('sort values, ascending and descending: forward and gradient (distinct values)', async () => {
    await checkOpWith('sort', { cases: cases(distinct), op: (p, x) => E.sort(x!, p.user, p.descending).values, ref: (p, x) => sortRef(x!, p.axis, p.descending).values, runs: 30 });
  });

  test('values and indices with ties match exactly (lower index first), on f32, i32 and u32', async () => {
    await fc.assert(
      fc.asyncProperty(cases(tied), fc.constantFrom<E.DType>('f32', 'i32', 'u32'), fc.constantFrom('topk' as const, 'sort' as const), async ([[x], p], dtype, which) => {
        const xs = dtype === 'u32' ? nd(x!.shape, x!.data.map((v) => v + 2)) : x!;
        await exact(xs, dtype, p, which);
      }),
      { numRuns: 40 },
    );
    const x = E.tensor([3, 1, 3, 2, 1], [5]);
    expect([...(await E.argsort(x).data())]).toEqual([1, 4, 3, 0, 2]);
    expect([...(await E.argsort(x, 0, true).data())]).toEqual([0, 2, 3, 1, 4]);
  });

  test('NaN above +inf, −0 equal to +0, ±inf in place', async () => {
    const v = [1, NaN, -Infinity, 0, -0, Infinity, -1];
    const x = E.tensor(v, [7]);
    const s = E.sort(x);
    expect([...(await s.indices.data())]).toEqual([2, 6, 3, 4, 0, 5, 1]);
    expect([...(await s.values.data())].map((a) => Object.is(a, -0) ? '-0' : a)).toEqual([-Infinity, -1, 0, '-0', 1, Infinity, NaN]);
    const t = E.topk(x, 3);
    expect([...(await t.indices.data())]).toEqual([1, 5, 0]);
    expect([...(await E.argsort(x, -1, true).data())]).toEqual([1, 5, 0, 3, 4, 6, 2]);
  });

  test('U2PL: rank 20 of 21 classes per pixel along axis 1 of [B, C, H, W]; a row of 3000', async () => {
    const classes = ndArb([2, 21, 3, 5], distinct).map((x): [Nd[], P] => [[x], { axis: 1, user: 1, k: 20, descending: true }]);
    await checkOpWith('topk classes', { cases: classes, op: (p, x) => E.topk(x!, p.k, p.user).values, ref: (p, x) => topkRef(x!, p.k, p.axis).values, runs: 3 });
    const long = Array.from({ length: 3000 }, (_, i) => ((i * 7919) % 3001) - 1500);
    await exact(nd([1, 3000], long), 'f32', { axis: 1, user: -1, k: 3000, descending: false }, 'sort');
    await exact(nd([3000, 1], long), 'i32', { axis: 0, user: 0, k: 17, descending: true }, 'topk');
  });

  test('bad arguments throw errors naming the op and the shapes', () => {
    const x = E.tensor(new Float32Array(12), [3, 4]);
    expect(() => E.topk(x, 5)).toThrow(/topk \[3,4\] axis -1 k 5: k must be an integer in \[0, 4\]/);
    expect(() => E.topk(x, 1.5, 0)).toThrow(/topk \[3,4\] axis 0 k 1.5: k must be an integer in \[0, 3\]/);
    expect(() => E.sort(x, 2)).toThrow(/sort: axis 2 is out of range for rank 2/);
    expect(() => E.argsort(E.tensor([5], []))).toThrow(/sort: axis -1 is out of range for rank 0/);
    expect(() => E.sort(E.tensor(new Float32Array(E.SORT_MAX_ROW + 1)))).toThrow(new RegExp(`sort \\[${E.SORT_MAX_ROW + 1}\\] axis -1: rows of ${E.SORT_MAX_ROW + 1} elements are longer than the ${E.SORT_MAX_ROW}`));
  });
});
