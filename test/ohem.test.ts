// OHEM (train/ohem.ts) against a float64 reference: per-pixel cross-entropy, kept where the label's
// probability is below the threshold or among the hardest minKeptShare of the pixels; ignored pixels
// never weigh. Random logits, labels with ignored pixels, both regimes (many hard pixels, few).
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { IGNORE } from '../dataset/labels.ts';
import { parseArgs } from '../train/config.ts';
import { ohemMask, ohemWeight } from '../train/ohem.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

/** The reference: CE per pixel in float64, then the rule spelled out with a sort. */
function maskRef(logits: number[], labels: number[], [b, k, h, w]: number[], thresh: number, share: number): { mask: number[]; loss: number[]; t: number } {
  const hw = h! * w!;
  const loss = labels.map((l, i) => {
    if (l === IGNORE) return 0;
    const n = Math.floor(i / hw);
    const p = i % hw;
    const z = Array.from({ length: k! }, (_, c) => logits[(n * k! + c) * hw + p]!);
    const m = Math.max(...z);
    return Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0)) + m - z[l]!;
  });
  const kept = Math.max(1, Math.round(share * loss.length));
  const kth = [...loss].sort((a, c) => c - a)[kept - 1]!;
  const t = Math.min(kth, -Math.log(thresh));
  void b;
  return { mask: loss.map((v) => (v >= t ? 1 : 0)), loss, t };
}

describe('OHEM', () => {
  test('keeps the pixels under the probability threshold, or the hardest share, against float64', async () => {
    const cases = fc.record({ b: fc.integer({ min: 1, max: 2 }), k: fc.integer({ min: 2, max: 5 }), h: fc.integer({ min: 2, max: 9 }), w: fc.integer({ min: 2, max: 9 }), scale: fc.constantFrom(0.5, 8), seed: fc.integer() });
    await fc.assert(
      fc.asyncProperty(cases, async ({ b, k, h, w, scale, seed }) => {
        const shape = [b, k, h, w];
        const logits = Array.from({ length: b * k * h * w }, (_, i) => Math.sin(i * 12.9898 + seed) * scale); // scale 8: most pixels confident
        const labels = Array.from({ length: b * h * w }, (_, i) => (Math.abs(Math.sin(i * 78.233 + seed)) < 0.15 ? IGNORE : Math.floor(Math.abs(Math.sin(i * 3.7 + seed)) * k)));
        const x = E.tensor(logits, shape);
        const y = E.tensor(labels, [b, h, w], 'i32');
        const got = Array.from(await ohemMask(x, y, { thresh: 0.7, minKeptShare: 0.1 }).data());
        const ref = maskRef(logits, labels, shape, 0.7, 0.1);
        ref.mask.forEach((m, i) => {
          if (Math.abs(ref.loss[i]! - ref.t) > 1e-5) expect(got[i], `pixel ${i}: loss ${ref.loss[i]}, threshold ${ref.t}`).toBe(m);
        });
        x.dispose();
        y.dispose();
      }),
      { numRuns: 30 },
    );
  });

  test('a large batch (4 × 96 × 128 pixels, the default) takes its quantile from every 24th pixel', async () => {
    const [b, k, h, w] = [4, 3, 96, 128];
    const logits = Array.from({ length: b * k * h * w }, (_, i) => Math.sin(i * 0.37) * 4);
    const labels = Array.from({ length: b * h * w }, (_, i) => i % 3);
    const got = Array.from(await ohemMask(E.tensor(logits, [b, k, h, w]), E.tensor(labels, [b, h, w], 'i32'), { thresh: 0.7, minKeptShare: 0.1 }).data());
    const ref = maskRef(logits, labels, [b, k, h, w], 0.7, 0.1);
    const kept = got.reduce((a, v) => a + v, 0);
    // The threshold here is the probability one (most pixels are hard), which the sample does not change.
    expect(ref.t).toBeCloseTo(-Math.log(0.7), 12);
    expect(kept).toBe(ref.mask.reduce((a, v) => a + v, 0));
  });

  test('with class weights, the kept pixels keep their weight and the others get 0; --ohem is a switch, --no-ohem turns it off', async () => {
    const x = E.tensor([5, 0, 0, 3, 0, 5, 5, 0], [1, 2, 2, 2]); // pixels 0, 3: class 0 (3 less sure); pixels 1, 2: class 1
    const y = E.tensor([0, 1, 0, 0], [1, 2, 2], 'i32'); // pixel 2 is wrong (hard), the others right
    const w = E.tensor([2, 3, 4, 5], [1, 2, 2]);
    expect(Array.from(await ohemWeight(x, y, w, { thresh: 0.7, minKeptShare: 0.25 }).data())).toEqual([0, 0, 4, 0]);
    expect(Array.from(await ohemWeight(x, y, undefined, { thresh: 0.7, minKeptShare: 0.5 }).data()).reduce((a, v) => a + v, 0)).toBe(2); // at least 2 kept
    // A NaN loss (a diverged model) is kept, so the weighted loss is NaN and training stops on it.
    const nan = E.tensor([NaN, 0, 0, 0, 0, 5, 5, 0], [1, 2, 2, 2]);
    const kept = Array.from(await ohemMask(nan, y, { thresh: 0.7, minKeptShare: 0.25 }).data());
    expect(kept[0]).toBe(1);
    expect(parseArgs([], () => '{}')!.ohem).toBe(true); // on by default
    expect(parseArgs(['--no-ohem'], () => '{}')!.ohem).toBe(false);
    expect(parseArgs(['--ohem'], () => '{}')!.ohem).toBe(true);
    expect(() => parseArgs(['--config', 'c.json'], () => '{"ohem": "yes"}')).toThrow(/option ohem must be true or false, got "yes"/);
  });
});
