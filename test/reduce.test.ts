import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { checkOpWith, ndArb, shapeArb, values } from './gradcheck.ts';
import type { Nd } from './reference/nd.ts';
import { argmaxRef, maxRef, meanRef, sumRef } from './reference/elementwise.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

/** A shape with at least one dimension and a random subset of its axes (as given by the user: may be negative). */
const shapeAndAxes = shapeArb(1, 4, 6).chain((s) =>
  fc.tuple(fc.constant(s), fc.subarray([...s.keys()], { minLength: 1 }), fc.boolean(), fc.boolean()),
);

describe('reductions', () => {
  for (const [name, op, ref] of [
    ['sum', E.sum, sumRef],
    ['mean', E.mean, meanRef],
    ['max', E.max, maxRef],
  ] as const) {
    test(`${name} over random axes, keepdims or not`, async () => {
      await checkOpWith(name, {
        cases: shapeAndAxes.chain(([s, axes, keep, negative]) =>
          // distinct values: no ties for max's gradient
          ndArb(s, (n) => fc.uniqueArray(fc.integer({ min: -2000, max: 2000 }), { minLength: n, maxLength: n }).map((v) => v.map((x) => x / 512))).map(
            (x) => [[x], { axes, keep, userAxes: negative ? axes.map((a) => a - s.length) : axes }] as [Nd[], { axes: number[]; keep: boolean; userAxes: number[] }],
          ),
        ),
        op: (p, x) => op(x!, p.userAxes, p.keep),
        ref: (p, x) => ref(x!, p.axes, p.keep),
      });
    });
  }

  test('sum of all elements, large: Kahan summation keeps f32 accuracy', async () => {
    const n = 1 << 20;
    const v = new Float32Array(n).map((_, i) => ((i * 7919) % 1000) / 1000 + 0.1);
    let want = 0;
    for (const x of v) want += x;
    const got = await E.sum(E.tensor(v)).item();
    expect(Math.abs(got - want) / want).toBeLessThan(1e-6);
  });

  test('argmax along an axis, first index at ties', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(1, 4, 6).chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: 0, max: s.length - 1 }), ndArb(s, (n) => values(n, -3, 3)))), async ([s, axis, x]) => {
        const got = await E.argmax(E.tensor(Float32Array.from(x.data), s), axis).data();
        expect([...got]).toEqual([...argmaxRef(x, axis).data]);
      }),
      { numRuns: 25 },
    );
    expect([...(await E.argmax(E.tensor([1, 3, 3, 0], [4]), 0).data())]).toEqual([1]);
  });
});
