// conv2d: random geometry (batch, groups, channels per group, kernel, stride, padding, dilation, odd
// and non-square sizes, with and without bias), forward against test/reference/conv.ts and gradients
// of x, w and b against finite differences, with the default FWD/GRAD tolerances (each output sums at
// most a few dozen products of values in [-2, 2]). Then the shapes the models use (ViT patch
// embedding, depthwise 3×3, 1×1 head), the chunked weight gradient, and the errors for bad arguments.
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

const randomCases = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 3 }),
    cinG: fc.integer({ min: 1, max: 3 }),
    coutG: fc.integer({ min: 1, max: 3 }),
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
  test('random geometry: forward and gradients of x, w, b', async () => {
    await checkOpWith('conv2d', { cases: randomCases, op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), runs: 40 });
  });

  test('ViT patch embedding (kernel = stride = 4), non-square image', async () => {
    await checkOpWith('patch embedding', { cases: inputs([2, 3, 8, 12], [5, 3, 4, 4], fixed(4, 0, 1)), op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), runs: 3 });
  });

  test('depthwise 3×3 (groups = C, padding 1) and 1×1 head', async () => {
    await checkOpWith('depthwise 3x3', { cases: inputs([2, 4, 6, 5], [4, 1, 3, 3], fixed(1, 1, 4)), op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), runs: 3 });
    await checkOpWith('1x1', { cases: inputs([2, 6, 5, 3], [3, 6, 1, 1], fixed(1, 0, 1)), op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), runs: 3 });
  });

  test('weight gradient summed in chunks over a large batch (gradients of w and b only)', async () => {
    // 2·128 rows of 128 outputs against 9 weights: the weight gradient is split into 8 chunks.
    // The tolerance is the default: each chunk sums 4096 products, and the chunks are added with Kahan.
    await checkOpWith('conv2d large', { cases: inputs([2, 1, 128, 128], [1, 1, 3, 3], fixed(1, 1, 1)), op: (p, x, w, b) => conv(p, x!, w!, b), ref: (p, x, w, b) => ref(p, x!, w!, b), grad: [1, 2], runs: 2 });
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
