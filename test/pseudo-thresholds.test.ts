// Class-balanced pseudo-label thresholds (train/pseudo.ts classThresholds) against a sort-based
// reference: per class, the confidence of its ⌈balance·n⌉-th most confident pixel, capped at the
// global threshold.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { classThresholds } from '../train/pseudo.ts';

const Q = 65535;

function reference(pixels: { c: number; q: number }[], k: number, threshold: number, balance: number): number[] {
  const global = Math.ceil(threshold * Q);
  return Array.from({ length: k }, (_, c) => {
    const qs = pixels.filter((p) => p.c === c).map((p) => p.q).sort((a, b) => b - a);
    if (!qs.length) return NaN;
    const rank = Math.max(1, Math.ceil(balance * qs.length)); // keep at least this many
    return Math.min(global, balance > 0 ? qs[rank - 1]! : Q) / Q;
  });
}

describe('class-balanced pseudo-label thresholds', () => {
  test('each class keeps its most confident share, never a higher threshold than the global one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.record({ c: fc.nat(4), q: fc.oneof(fc.integer({ min: 0, max: Q }), fc.constantFrom(0, 100, Q)) }), { minLength: 1, maxLength: 200 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (k, raw, threshold, balance) => {
          const pixels = raw.map((p) => ({ c: p.c % k, q: p.q }));
          const hist = new Uint32Array(k * (Q + 1));
          for (const p of pixels) hist[p.c * (Q + 1) + p.q]!++;
          const got = classThresholds(hist, k, threshold, balance);
          expect(got).toEqual(reference(pixels, k, threshold, balance));
          // What the thresholds keep: at least the balance share of each class, and everything ≥ the global threshold.
          for (let c = 0; c < k; c++) {
            const qs = pixels.filter((p) => p.c === c).map((p) => p.q);
            const kept = qs.filter((q) => q >= Math.round(got[c]! * Q)).length;
            expect(kept).toBeGreaterThanOrEqual(balance * qs.length);
            expect(kept).toBeGreaterThanOrEqual(qs.filter((q) => q >= Math.ceil(threshold * Q)).length);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test('balance 0 is the one global threshold for every class that was predicted', () => {
    const hist = new Uint32Array(3 * (Q + 1));
    hist[0 * (Q + 1) + 10] = 5;
    hist[2 * (Q + 1) + Q] = 1;
    expect(classThresholds(hist, 3, 0.7, 0)).toEqual([Math.ceil(0.7 * Q) / Q, NaN, Math.ceil(0.7 * Q) / Q]);
  });
});
