// gatherRows and gatherDot: random matrices and random row lists (repeats, size-1 dimensions, empty
// lists, and cases past the kernels' workgroup sizes), forward against test/reference/gather.ts and
// the gradients against finite differences, with the default FWD/GRAD tolerances (the outputs are
// copies or short dot products, each gradient element a sum of a few f32 products). Then the error
// messages for bad arguments.
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { gatherDot, gatherRows } from '../engine/ops/gather.ts';
import { checkOpWith, ndArb } from './gradcheck.ts';
import { gatherDotRef, gatherRowsRef } from './reference/gather.ts';
import type { Nd } from './reference/nd.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

const cases = (n: [number, number], r: [number, number], m: [number, number]) =>
  fc
    .tuple(fc.integer({ min: n[0], max: n[1] }), fc.integer({ min: r[0], max: r[1] }))
    .chain(([n, r]) => fc.tuple(ndArb([n, r]), fc.array(fc.integer({ min: 0, max: n - 1 }), { minLength: m[0], maxLength: m[1] })))
    .map(([x, rows]): [Nd[], number[]] => [[x], rows]);

describe('gatherRows', () => {
  test('forward and gradient on random rows (repeats included)', async () => {
    await checkOpWith('gatherRows', {
      cases: cases([1, 7], [1, 6], [0, 20]),
      op: (rows, x) => gatherRows(x!, Int32Array.from(rows)),
      ref: (rows, x) => gatherRowsRef(x!, rows),
      runs: 40,
    });
  });

  test('sizes past the workgroup sizes (256 forward, 64 backward)', async () => {
    await checkOpWith('gatherRows (large)', {
      cases: cases([70, 90], [2, 3], [300, 400]),
      op: (rows, x) => gatherRows(x!, Int32Array.from(rows)),
      ref: (rows, x) => gatherRowsRef(x!, rows),
      runs: 3,
    });
  });

  test('every output row from one input row: the gradient sums them', async () => {
    const x = E.requireGrad(E.tensor([1, 2, 3, 4], [2, 2]));
    const g = E.tensor([1, 10, 100, 1000, 5, 6], [3, 2]);
    const y = E.tidy(() => {
      const out = gatherRows(x, [1, 1, 1]);
      E.backward(out, g);
      return out;
    });
    expect(Array.from(await y.data())).toEqual([3, 4, 3, 4, 3, 4]);
    expect(Array.from(await x.grad!.data())).toEqual([0, 0, 106, 1016]);
    for (const t of [x.grad!, x, g, y]) t.dispose();
  });

  test('bad arguments name the op, the index and the shapes', () => {
    const x = E.tensor(new Float32Array(6), [3, 2]);
    expect(() => gatherRows(x, [0, 3])).toThrow(/gatherRows: row index 3 at position 1 is outside \[0, 3\) for x \[3,2\]/);
    expect(() => gatherRows(x, [-1])).toThrow(/gatherRows: row index -1 at position 0/);
    expect(() => gatherRows(x, [0.5])).toThrow(/gatherRows: row index 0.5/);
    const v = E.tensor(new Float32Array(6), [6]);
    expect(() => gatherRows(v, [0])).toThrow(/gatherRows: x must be a 2-D f32 tensor \[N, R\], got Tensor\(\[6\]/);
    const i = E.tensor(new Int32Array(6), [3, 2]);
    expect(() => gatherRows(i, [0])).toThrow(/gatherRows: x must be a 2-D f32 tensor.*i32/);
    for (const t of [x, v, i]) t.dispose();
  });
});


/** a [M, R], b [N, R] and T rows of b per row of a. */
const dotCases = (m: [number, number], n: [number, number], r: [number, number], t: [number, number]) =>
  fc
    .tuple(...[m, n, r, t].map(([lo, hi]) => fc.integer({ min: lo, max: hi })))
    .chain(([m, n, r, t]) =>
      fc.tuple(ndArb([m!, r!]), ndArb([n!, r!]), fc.array(fc.integer({ min: 0, max: n! - 1 }), { minLength: m! * t!, maxLength: m! * t! })),
    )
    .map(([a, b, rows]): [Nd[], number[]] => [[a, b], rows]);

describe('gatherDot', () => {
  test('forward and gradients (a and b) on random rows, repeats included', async () => {
    await checkOpWith('gatherDot', {
      cases: dotCases([1, 6], [1, 6], [1, 5], [0, 5]),
      op: (rows, a, b) => gatherDot(a!, b!, rows),
      ref: (rows, a, b) => gatherDotRef(a!, b!, rows),
      runs: 40,
    });
  });

  test('sizes past the workgroup size (64)', async () => {
    await checkOpWith('gatherDot (large)', {
      cases: dotCases([30, 40], [25, 30], [3, 4], [3, 5]),
      op: (rows, a, b) => gatherDot(a!, b!, rows),
      ref: (rows, a, b) => gatherDotRef(a!, b!, rows),
      runs: 3,
    });
  });

  test('only a differentiable (b a constant, as queued features are)', async () => {
    await checkOpWith('gatherDot (a only)', {
      cases: dotCases([1, 5], [1, 5], [1, 4], [1, 4]),
      op: (rows, a, b) => gatherDot(a!, b!, rows),
      ref: (rows, a, b) => gatherDotRef(a!, b!, rows),
      grad: [0],
      runs: 10,
    });
  });

  test('bad arguments', () => {
    const a = E.tensor(new Float32Array(6), [2, 3]);
    const b = E.tensor(new Float32Array(12), [4, 3]);
    const c = E.tensor(new Float32Array(8), [4, 2]);
    expect(() => gatherDot(a, b, [0, 1, 4, 0])).toThrow(/gatherDot: row index 4 at position 2 is outside \[0, 4\) for b \[4,3\]/);
    expect(() => gatherDot(a, b, [0, 1, 2])).toThrow(/gatherDot: 3 row indices do not make T per row for the 2 rows of a \[2,3\]/);
    expect(() => gatherDot(a, c, [0, 1])).toThrow(/gatherDot: a \[2,3\] and b \[4,2\] have different row lengths/);
    for (const t of [a, b, c]) t.dispose();
  });
});
