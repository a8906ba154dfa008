// Movement ops: random shapes, axes, slices, pads and indices, forward against test/reference/movement.ts
// and gradient against finite differences (default FWD/GRAD tolerances: the forward is an exact copy
// and the gradients are sums of a few f32 values). Then exact checks on i32/u32 tensors, whose values
// must move bit for bit, and the error messages for bad arguments.
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { checkOpWith, ndArb, shapeArb, values } from './gradcheck.ts';
import { nd, type Nd } from './reference/nd.ts';
import {
  broadcastToRef,
  concatRef,
  flipRef,
  indexSelectRef,
  padRef,
  permuteRef,
  reshapeRef,
  sliceRef,
  stackRef,
  takeAlongAxisRef,
} from './reference/movement.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

// Index tensors outlive checkOpWith's tidy scope (a gather's backward reads them after the forward
// scope closed), so they are kept and disposed after each test.
const kept: E.Tensor[] = [];
afterEach(() => {
  for (const t of kept.splice(0)) t.dispose();
});
function indexTensor(v: readonly number[], shape: readonly number[], dtype: 'i32' | 'u32' = 'i32'): E.Tensor {
  const t = E.keep(E.tensor(v, shape, dtype));
  kept.push(t);
  return t;
}

const full = <T>(a: T[]) => fc.shuffledSubarray(a, { minLength: a.length, maxLength: a.length });
/** An axis of rank r, given as the user may: non-negative or counted from the end. */
const axisOf = (r: number) => fc.tuple(fc.integer({ min: 0, max: r - 1 }), fc.boolean()).map(([a, neg]) => ({ axis: a, user: neg ? a - r : a }));

describe('movement ops on f32: forward and gradient', () => {
  test('reshape (with -1)', async () => {
    await checkOpWith('reshape', {
      cases: shapeArb(0, 4, 5).chain((s) =>
        fc.tuple(ndArb(s), full(s), fc.boolean(), fc.nat()).map(([x, t, merge, k]): [Nd[], number[]] => {
          let target = merge && t.length >= 2 ? [t[0]! * t[1]!, ...t.slice(2)] : t;
          if (target.length && k % 2) target = target.map((d, i) => (i === k % target.length ? -1 : d));
          return [[x], target];
        }),
      ),
      op: (shape, x) => E.reshape(x!, shape),
      ref: (shape, x) => reshapeRef(x!, shape),
    });
  });

  test('permute', async () => {
    await checkOpWith('permute', {
      cases: shapeArb(0, 5, 4).chain((s) =>
        fc.tuple(ndArb(s), full([...s.keys()]), fc.boolean()).map(([x, axes, neg]): [Nd[], { axes: number[]; user: number[] }] => [
          [x],
          { axes, user: neg ? axes.map((a) => a - s.length) : axes },
        ]),
      ),
      op: (p, x) => E.permute(x!, p.user),
      ref: (p, x) => permuteRef(x!, p.axes),
    });
  });

  test('transpose of two random axes', async () => {
    await checkOpWith('transpose', {
      cases: shapeArb(2, 4, 5).chain((s) => fc.tuple(ndArb(s), axisOf(s.length), axisOf(s.length)).map(([x, a, b]): [Nd[], [typeof a, typeof b]] => [[x], [a, b]])),
      op: ([a, b], x) => E.transpose(x!, a.user, b.user),
      ref: ([a, b], x) => {
        const perm = [...x!.shape.keys()];
        [perm[a.axis], perm[b.axis]] = [perm[b.axis]!, perm[a.axis]!];
        return permuteRef(x!, perm);
      },
    });
  });

  test('broadcastTo / expand (with -1 keeping a dimension)', async () => {
    await checkOpWith('broadcastTo', {
      cases: shapeArb(0, 4, 4).chain((target) =>
        fc
          .tuple(fc.integer({ min: 0, max: target.length }), fc.array(fc.integer({ min: 0, max: 2 }), { minLength: target.length, maxLength: target.length }))
          .chain(([drop, kind]) => {
            // kind per output dim: 0 = keep, 1 = size 1 in x (broadcast), 2 = keep and ask with -1
            const xs = target.slice(drop).map((d, i) => (kind[i + drop] === 1 ? 1 : d));
            const asked = target.map((d, i) => (i >= drop && kind[i] === 2 ? -1 : d));
            return ndArb(xs).map((x): [Nd[], { target: number[]; asked: number[] }] => [[x], { target, asked }]);
          }),
      ),
      op: (p, x) => E.expand(x!, p.asked),
      ref: (p, x) => broadcastToRef(x!, p.target),
    });
  });

  test('slice with Python indices, steps and empty results', async () => {
    const index = fc.oneof(fc.integer({ min: -9, max: 9 }), fc.constantFrom(Infinity, -Infinity));
    await checkOpWith('slice', {
      cases: shapeArb(1, 4, 7).chain((s) =>
        fc.integer({ min: 0, max: s.length }).chain((k) =>
          fc
            .tuple(ndArb(s), fc.array(index, { minLength: k, maxLength: k }), fc.array(index, { minLength: k, maxLength: k }), fc.option(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: k, maxLength: k }), { nil: undefined }))
            .map(([x, starts, ends, steps]): [Nd[], { starts: number[]; ends: number[]; steps: number[] | undefined }] => [[x], { starts, ends, steps }]),
        ),
      ),
      op: (p, x) => E.slice(x!, p.starts, p.ends, p.steps),
      ref: (p, x) => sliceRef(x!, p.starts, p.ends, p.steps),
    });
  });

  test('concat of 1 to 4 tensors (some empty along the axis)', async () => {
    await checkOpWith('concat', {
      cases: shapeArb(1, 4, 4).chain((s) =>
        fc.tuple(axisOf(s.length), fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 4 })).chain(([a, sizes]) =>
          fc.tuple(...sizes.map((n) => ndArb(s.map((d, i) => (i === a.axis ? n : d))))).map((xs): [Nd[], typeof a] => [xs, a]),
        ),
      ),
      op: (a, ...xs) => E.concat(xs, a.user),
      ref: (a, ...xs) => concatRef(xs, a.axis),
    });
  });

  test('stack of 1 to 4 tensors along a new axis', async () => {
    await checkOpWith('stack', {
      cases: shapeArb(0, 3, 4).chain((s) =>
        fc.tuple(axisOf(s.length + 1), fc.integer({ min: 1, max: 4 })).chain(([a, k]) => fc.array(ndArb(s), { minLength: k, maxLength: k }).map((xs): [Nd[], typeof a] => [xs, a])),
      ),
      op: (a, ...xs) => E.stack(xs, a.user),
      ref: (a, ...xs) => stackRef(xs, a.axis),
    });
  });

  test('pad with a constant', async () => {
    const pair = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }));
    await checkOpWith('pad', {
      cases: shapeArb(0, 4, 4).chain((s) =>
        fc.tuple(ndArb(s), fc.array(pair, { minLength: s.length, maxLength: s.length }), values(1)).map(([x, pads, [v]]): [Nd[], { pads: [number, number][]; value: number }] => [[x], { pads, value: v! }]),
      ),
      op: (p, x) => E.pad(x!, p.pads, p.value),
      ref: (p, x) => padRef(x!, p.pads, p.value),
    });
  });

  test('flip over random axes', async () => {
    await checkOpWith('flip', {
      cases: shapeArb(1, 4, 5).chain((s) => fc.tuple(ndArb(s), fc.subarray([...s.keys()])).map(([x, axes]): [Nd[], number[]] => [[x], axes])),
      op: (axes, x) => E.flip(x!, axes),
      ref: (axes, x) => flipRef(x!, axes),
    });
  });

  test('indexSelect with repeated and out-of-range positions', async () => {
    await checkOpWith('indexSelect', {
      cases: shapeArb(1, 4, 5).chain((s) =>
        axisOf(s.length).chain((a) =>
          fc.tuple(ndArb(s), fc.array(fc.integer({ min: -2, max: s[a.axis]! + 1 }), { maxLength: 6 })).map(([x, idx]): [Nd[], { a: typeof a; idx: number[] }] => [[x], { a, idx }]),
        ),
      ),
      op: (p, x) => E.indexSelect(x!, p.a.user, indexTensor(p.idx, [p.idx.length])),
      ref: (p, x) => indexSelectRef(x!, p.a.axis, p.idx),
    });
  });

  test('takeAlongAxis with repeated and out-of-range positions', async () => {
    await checkOpWith('takeAlongAxis', {
      cases: shapeArb(1, 4, 5).chain((s) =>
        fc.tuple(axisOf(s.length), fc.integer({ min: 0, max: 5 })).chain(([a, m]) => {
          const ishape = s.map((d, i) => (i === a.axis ? m : d));
          const idx = ndArb(ishape, (n) => fc.array(fc.integer({ min: -1, max: s[a.axis]! }), { minLength: n, maxLength: n }));
          return fc.tuple(ndArb(s), idx).map(([x, i]): [Nd[], { a: typeof a; idx: Nd }] => [[x], { a, idx: i }]);
        }),
      ),
      op: (p, x) => E.takeAlongAxis(x!, indexTensor([...p.idx.data], p.idx.shape), p.a.user),
      ref: (p, x) => takeAlongAxisRef(x!, p.idx, p.a.axis),
    });
  });

  test('a larger permute and flip (many workgroups)', async () => {
    const s = [3, 67, 129];
    const x = nd(s, (i) => Math.fround(Math.sin(i)));
    const t = E.tensor(Float32Array.from(x.data), s);
    expect([...(await E.permute(t, [2, 0, 1]).data())]).toEqual([...permuteRef(x, [2, 0, 1]).data]);
    expect([...(await E.flip(t, [0, 2]).data())]).toEqual([...flipRef(x, [0, 2]).data]);
  });

  test('a flip past 65535 workgroups (2-D grid)', async () => {
    const n = 65535 * 256 + 1000;
    const v = new Float32Array(n).map((_, i) => i % 1000);
    const y = await E.flip(E.tensor(v), 0).data();
    for (let i = 0; i < n; i += 997) expect(y[i]).toBe(v[n - 1 - i]);
    expect(y[n - 1]).toBe(v[0]);
  });
});

describe('movement ops on i32 and u32 move values exactly', () => {
  // Values past f32's 24-bit mantissa: a copy through f32 would lose them.
  const big = { i32: [-(2 ** 31), 2 ** 31 - 1], u32: [0, 2 ** 32 - 1] } as const;

  for (const dtype of ['i32', 'u32'] as const) {
    test(`${dtype}: every op against its reference`, async () => {
      const ints = (n: number) => fc.array(fc.integer({ min: big[dtype][0], max: big[dtype][1] }), { minLength: n, maxLength: n });
      await fc.assert(
        fc.asyncProperty(
          shapeArb(1, 4, 4).chain((s) => fc.tuple(ndArb(s, ints), ndArb(s, ints), full([...s.keys()]), axisOf(s.length), fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }))),
          async ([x, y, perm, a, idx]) => {
            const n = x.shape[a.axis]!;
            const pos = idx.map((k) => k % n);
            const [tx, ty] = [x, y].map((v) => E.tensor([...v.data], v.shape, dtype)) as [E.Tensor, E.Tensor];
            const along = nd(x.shape, (i) => (i * 7) % n);
            const pads = x.shape.map((_, d) => [d % 2, 1] as [number, number]);
            const padValue = dtype === 'i32' ? -1 : 255;
            const cases: [E.Tensor, Nd][] = [
              [E.reshape(tx, [-1]), reshapeRef(x, [-1])],
              [E.permute(tx, perm), permuteRef(x, perm)],
              [E.broadcastTo(tx, [2, ...x.shape]), broadcastToRef(x, [2, ...x.shape])],
              [E.slice(tx, [1], [Infinity], [2]), sliceRef(x, [1], [Infinity], [2])],
              [E.concat([tx, ty], a.user), concatRef([x, y], a.axis)],
              [E.stack([tx, ty], a.axis), stackRef([x, y], a.axis)],
              [E.pad(tx, pads, padValue), padRef(x, pads, padValue)],
              [E.flip(tx, a.user), flipRef(x, [a.axis])],
              [E.indexSelect(tx, a.user, E.tensor(pos, [pos.length], 'u32')), indexSelectRef(x, a.axis, pos)],
              [E.takeAlongAxis(tx, E.tensor([...along.data], along.shape, 'i32'), a.user), takeAlongAxisRef(x, along, a.axis)],
            ];
            for (const [got, want] of cases) {
              expect(got.dtype).toBe(dtype);
              expect(got.shape).toEqual(want.shape);
              expect([...(await got.data())]).toEqual([...want.data]);
            }
          },
        ),
        { numRuns: 10 },
      );
    });
  }

  test('permuting a label map', async () => {
    const labels = E.tensor(Int32Array.from([0, 1, 2, 255, 4, 5]), [2, 3]);
    expect([...(await E.transpose(labels).data())]).toEqual([0, 255, 1, 4, 2, 5]);
    expect([...(await E.flip(labels, -1).data())]).toEqual([2, 1, 0, 5, 4, 255]);
  });

  test('out-of-range positions give 0 and get no gradient; u32 positions ≥ 2^31 are out of range', async () => {
    const x = E.requireGrad(E.tensor([1, 2, 3, 4, 5, 6], [3, 2]));
    const y = E.indexSelect(x, 0, E.tensor([2, 3, 2 ** 32 - 1, 0, 2], [5], 'u32'));
    expect([...(await y.data())]).toEqual([5, 6, 0, 0, 0, 0, 1, 2, 5, 6]);
    E.backward(E.sum(y));
    expect([...(await x.grad!.data())]).toEqual([1, 1, 0, 0, 2, 2]);
    const z = E.takeAlongAxis(E.tensor([1, 2, 3, 4], [2, 2]), E.tensor([-1, 1, 2, 0], [2, 2], 'i32'), 1);
    expect([...(await z.data())]).toEqual([0, 2, 0, 3]);
  });

  test('reshape shares storage (no copy)', () => {
    const x = E.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(E.reshape(x, [3, -1]).buffer()).toBe(x.buffer());
  });
});

describe('bad arguments throw errors naming the op and the shapes', () => {
  test.each([
    ['reshape size', () => E.reshape(E.zeros([2, 3]), [4, 2]), /reshape: cannot reshape \[2,3\] .* into \[4,2\]/],
    ['reshape two -1', () => E.reshape(E.zeros([2, 3]), [-1, -1]), /reshape: \[-1,-1\] has more than one -1/],
    ['reshape -1 does not divide', () => E.reshape(E.zeros([2, 3]), [4, -1]), /reshape: cannot reshape \[2,3\]/],
    ['permute repeated axis', () => E.permute(E.zeros([2, 3]), [0, 0]), /permute: axes \[0,0\] are not a permutation .*\[2,3\]/],
    ['permute too few axes', () => E.permute(E.zeros([2, 3]), [1]), /permute: axes \[1\]/],
    ['permute axis out of range', () => E.permute(E.zeros([2, 3]), [0, 2]), /permute: axis 2 is out of range for rank 2/],
    ['permute rank 9', () => E.permute(E.zeros([1, 1, 1, 1, 1, 1, 1, 1, 1]), [0, 1, 2, 3, 4, 5, 6, 7, 8]), /permute: .* rank 9/],
    ['transpose of a vector', () => E.transpose(E.zeros([3])), /transpose: axis -2 is out of range for rank 1/],
    ['broadcastTo mismatch', () => E.broadcastTo(E.zeros([2, 3]), [4, 3, 2]), /broadcastTo: cannot broadcast \[2,3\] to \[4,3,2\]/],
    ['broadcastTo lower rank', () => E.broadcastTo(E.zeros([2, 3]), [3]), /broadcastTo: cannot broadcast \[2,3\] to \[3\]/],
    ['slice step 0', () => E.slice(E.zeros([4]), [0], [4], [0]), /slice \[4\].*step 0 on axis 0/],
    ['slice too many axes', () => E.slice(E.zeros([4]), [0, 0], [1, 1]), /slice \[4\].*at most 1/],
    ['slice fractional index', () => E.slice(E.zeros([4]), [0.5], [2]), /slice \[4\].*index 0.5/],
    ['concat shapes', () => E.concat([E.zeros([2, 3]), E.zeros([2, 4])], 0), /concat: shapes \[2,3\] \[2,4\] differ outside axis 0/],
    ['concat dtypes', () => E.concat([E.zeros([2]), E.zeros([2], 'i32')], 0), /concat: tensors have different dtypes/],
    ['concat nothing', () => E.concat([], 0), /concat: needs at least one tensor/],
    ['concat axis', () => E.concat([E.zeros([2])], 1), /concat: axis 1 is out of range for rank 1/],
    ['stack shapes', () => E.stack([E.zeros([2, 3]), E.zeros([3, 2])]), /stack: shapes \[2,3\] \[3,2\] differ/],
    ['stack axis', () => E.stack([E.zeros([2])], 3), /stack: axis 3 is out of range for rank 2/],
    ['pad pairs', () => E.pad(E.zeros([2, 3]), [[1, 1]]), /pad \[2,3\] by \[\[1,1\]\]: needs one \[before, after\] pair per axis/],
    ['pad negative', () => E.pad(E.zeros([2]), [[-1, 0]]), /pad \[2\].*non-negative/],
    ['pad value', () => E.pad(E.zeros([2], 'u32'), [[1, 0]], -1), /pad \[2\].*value -1 is not representable as u32/],
    ['flip axis', () => E.flip(E.zeros([2, 3]), [2]), /flip: axis 2 is out of range for rank 2/],
    ['indexSelect f32 index', () => E.indexSelect(E.zeros([4]), 0, E.zeros([2])), /indexSelect: index must be an i32 or u32 tensor/],
    ['indexSelect 2-D index', () => E.indexSelect(E.zeros([4]), 0, E.zeros([2, 1], 'i32')), /indexSelect: index must be 1-D/],
    ['takeAlongAxis shapes', () => E.takeAlongAxis(E.zeros([2, 3]), E.zeros([3, 1], 'i32'), 1), /takeAlongAxis: index \[3,1\] must match \[2,3\] except along axis 1/],
  ] as const)('%s', (_name, f, msg) => {
    expect(f).toThrow(msg);
  });
});
