// --class-weight sqrt: weights ∝ 1/√frequency averaging 1 per labeled pixel, absent classes at the
// largest weight, and per-pixel weights that are 0 on ignored pixels (so crossEntropy leaves them out).
import { describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { pixelWeights, sqrtInverseWeights } from '../train/class-weights.ts';
import { gpu } from './setup.ts';

describe('class weights', () => {
  test('1/√frequency, mean 1 over labeled pixels; an absent class gets the largest weight', () => {
    const counts = [900, 90, 9, 0, 1];
    const w = sqrtInverseWeights(counts);
    const total = 1000;
    const mean = counts.reduce((a, n, c) => a + (n / total) * w[c]!, 0);
    expect(mean).toBeCloseTo(1, 6);
    expect(w[1]! / w[0]!).toBeCloseTo(Math.sqrt(10), 5); // ten times rarer: √10 times the weight
    expect(w[2]! / w[0]!).toBeCloseTo(10, 4);
    expect(w[3]).toBe(w[4]); // absent: the weight of the rarest present class
    expect(() => sqrtInverseWeights([0, 0])).toThrow(/no labeled pixel/);
  });

  test('per-pixel weights look the label up; ignored pixels (255) weigh 0', async () => {
    await gpu();
    const table = E.tensor([0.5, 2, 3], [3]);
    const labels = E.tensor(Int32Array.from([0, 2, 255, 1, 1, 0]), [1, 2, 3], 'i32');
    const w = pixelWeights(table, labels);
    expect(w.shape).toEqual([1, 2, 3]);
    expect([...((await w.data()) as Float32Array)]).toEqual([0.5, 3, 0, 2, 2, 0.5]);
    // In the loss: the weighted mean of crossEntropy equals Σ w·loss / Σ w over the same pixels.
    const logits = E.tensor(Float32Array.from({ length: 18 }, (_, i) => Math.sin(i)), [1, 3, 2, 3]);
    const each = (await E.crossEntropy(logits, labels, { ignoreIndex: 255, reduction: 'none' }).data()) as Float32Array;
    const mean = (await E.crossEntropy(logits, labels, { ignoreIndex: 255, weight: w }).data()) as Float32Array;
    const wv = [0.5, 3, 0, 2, 2, 0.5];
    expect(mean[0]).toBeCloseTo(wv.reduce((a, v, i) => a + v * each[i]!, 0) / wv.reduce((a, b) => a + b, 0), 5);
  });
});
