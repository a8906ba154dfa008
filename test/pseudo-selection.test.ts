// What a retraining round pseudo-labels (train/pseudo.ts): which frames (framesToLabel, every K-th
// unlabeled frame of each video), and which pixels: class-balanced thresholds (classThresholds) against a
// sort-based reference: per class, the confidence of its ⌈balance·n⌉-th most confident pixel, capped at
// the global threshold.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { FrameRef } from '../dataset/splits.ts';
import { classThresholds, framesToLabel } from '../train/pseudo.ts';

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

describe('the frames a retraining round labels', () => {
  test('every K-th unlabeled frame of each video, counted among its unlabeled frames', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), (lengths, labeledEvery, k) => {
        // Videos whose every `labeledEvery`-th frame is labeled (labeledEvery 1: a wholly unlabeled video).
        const unlabeled: FrameRef[] = lengths.flatMap((n, v) =>
          Array.from({ length: n }, (_, i) => ({ video: `v${v}`, frame: String(i).padStart(5, '0'), index: i })).filter((r) => labeledEvery === 1 || r.index % labeledEvery !== 0),
        );
        const got = framesToLabel(unlabeled, k);
        const want = lengths.flatMap((_, v) => unlabeled.filter((r) => r.video === `v${v}`).filter((_, j) => j % k === 0));
        expect(got).toEqual(want);
        // Every video with unlabeled frames keeps its first one, so no stride can empty the set.
        expect(new Set(got.map((r) => r.video))).toEqual(new Set(unlabeled.map((r) => r.video)));
      }),
    );
    // All frames of an unlabeled video (VSPW's split): the frame positions 0, K, 2K, ...
    const video = Array.from({ length: 7 }, (_, i) => ({ video: 'a', frame: `${i}`, index: i }));
    expect(framesToLabel(video, 3).map((r) => r.index)).toEqual([0, 3, 6]);
    expect(() => framesToLabel(video, 0)).toThrow(/every = 0 must be a positive integer/);
  });
});
