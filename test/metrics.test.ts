// The VSPW metrics (eval/metrics.ts) on small hand-made cases; each expected value is worked out by
// hand in the comment above it.
import { describe, expect, test } from 'vitest';
import { formatResult } from '../eval/evaluate.ts';
import { SegMetrics, vcScores } from '../eval/metrics.ts';

const I = 255; // ignore

/** A video of `length` frames that all equal `base`, with some frames replaced. */
function video(length: number, base: number[], changes: Record<number, number[]> = {}): number[][] {
  return Array.from({ length }, (_, t) => changes[t] ?? base);
}

describe('mIoU', () => {
  test('confusion matrix over non-ignored ground truth, IoU = TP/(TP+FP+FN)', () => {
    // gt   0 0 1 1 I 2        pairs (gt→pred): 0→0, 0→1, 1→1, 1→1, (ignored), 2→0
    // pred 0 1 1 1 0 0        confusion rows (gt) × cols (pred): [1 1 0; 0 2 0; 1 0 0]
    // class 0: TP 1, FP 1 (2→0), FN 1 (0→1): 1/3.  class 1: TP 2, FP 1 (0→1), FN 0: 2/3.
    // class 2: TP 0, FP 0, FN 1: 0.  mIoU = (1/3 + 2/3 + 0)/3 = 1/3.
    const m = new SegMetrics(3, I);
    m.addFrame([0, 1, 1, 1, 0, 0], [0, 0, 1, 1, I, 2]);
    const r = m.result();
    expect(Array.from(m.confusion)).toEqual([1, 1, 0, 0, 2, 0, 1, 0, 0]);
    expect(r.perClassIoU[0]).toBeCloseTo(1 / 3, 12);
    expect(r.perClassIoU[1]).toBeCloseTo(2 / 3, 12);
    expect(r.perClassIoU[2]).toBe(0);
    expect(r.mIoU).toBeCloseTo(1 / 3, 12);
    expect(r.pixels).toBe(5);
    // No video was added: no VC windows.
    expect(r.mVC8).toBeNaN();
    expect(r.vcWindows).toEqual({ 8: 0, 16: 0 });
  });

  test('frames accumulate into one matrix (not a mean of per-frame IoUs)', () => {
    // Frame A: gt 0 0, pred 0 0.  Frame B: gt 1 1 1 1, pred 0 1 1 1.
    // Summed: class 0: TP 2, FP 1, FN 0 → 2/3; class 1: TP 3, FP 0, FN 1 → 3/4. mIoU = (2/3 + 3/4)/2 = 17/24.
    const m = new SegMetrics(2);
    m.addFrame([0, 0], [0, 0]);
    m.addFrame(new Int32Array([0, 1, 1, 1]), new Uint8Array([1, 1, 1, 1]));
    expect(m.result().mIoU).toBeCloseTo(17 / 24, 12);
  });

  test('classes absent from the ground truth do not enter the mean, even when predicted', () => {
    // C = 4. gt 0 0 1 1, pred 0 3 1 1.
    // class 0: TP 1, FN 1 (0→3) → 1/2. class 1: TP 2 → 1. class 2: in neither → NaN.
    // class 3: predicted once but absent from gt → NaN here (its formula value 0 is what the devkit's
    // isval mask leaves out). mIoU = (1/2 + 1)/2 = 3/4 (a plain mean with class 3 as 0 would give 1/2).
    const m = new SegMetrics(4);
    m.addFrame([0, 3, 1, 1], [0, 0, 1, 1]);
    const r = m.result();
    expect(r.perClassIoU.slice(0, 2)).toEqual([0.5, 1]);
    expect(r.perClassIoU[2]).toBeNaN();
    expect(r.perClassIoU[3]).toBeNaN();
    expect(r.mIoU).toBe(0.75);
  });

  test('ignored ground truth skips the pixel whatever was predicted; all-ignored gives NaN', () => {
    // gt I I 1, pred 255 7 1: the ignored pixels are not read (not even checked); class 1 IoU 1.
    const m = new SegMetrics(2);
    m.addFrame([255, 7, 1], [I, I, 1]);
    expect(m.result().mIoU).toBe(1);
    const empty = new SegMetrics(2);
    empty.addFrame([0, 1], [I, I]);
    expect(empty.result().mIoU).toBeNaN();
    expect(empty.result().pixels).toBe(0);
  });

  test('bad input is refused with the values named', () => {
    const m = new SegMetrics(3);
    expect(() => m.addFrame([0, 3], [0, 1])).toThrow(/prediction 3 at pixel 1 is not a class 0\.\.2/);
    expect(() => m.addFrame([0, 0], [0, 9])).toThrow(/ground truth 9 at pixel 1 is neither a class 0\.\.2 nor ignore 255/);
    expect(() => m.addFrame([0], [0, 1])).toThrow(/prediction has 1 pixels, ground truth 2/);
    expect(() => new SegMetrics(3, 2)).toThrow(/ignore value 2 is one of the classes 0\.\.2/);
    expect(() => m.addVideo([[0]], [[0], [0]])).toThrow(/1 predicted frames for 2 ground-truth frames/);
  });
});

describe('VC_n (VC_perclip.py)', () => {
  // A 10-frame video, 4 pixels. GT is [1 1 2 2] in every frame except frame 9: [3 1 2 2].
  // Prediction is [1 1 2 0] except frame 4: [1 5 2 0] and frame 9: [0 0 0 0].
  // n = 8: windows start at i = 0 … L−n−1 = 0, 1 (frames 0–7 and 1–8); the last full window (2–9) is
  // not included by the devkit.
  //   window 0: stable GT = all 4 pixels; stable pred = pixels 0, 2, 3 (pixel 1 changes at frame 4) → 3/4.
  //   window 1: the same → 3/4.
  //   (window 2, excluded: stable GT = pixels 1, 2, 3; stable pred = pixel 3 only → 1/3; including it
  //    would give mVC8 = (3/4 + 3/4 + 1/3)/3 ≈ 0.611.)
  // mVC8 = 3/4. n = 16: L = 10 ≤ 16, no window: mVC16 NaN. VC ignores whether the prediction is right
  // (pixel 3 is predicted 0 against GT 2 and still counts as consistent).
  const gts = video(10, [1, 1, 2, 2], { 9: [3, 1, 2, 2] });
  const preds = video(10, [1, 1, 2, 0], { 4: [1, 5, 2, 0], 9: [0, 0, 0, 0] });

  test('windows i = 0 … L−n−1: the last full window is left out', () => {
    expect(vcScores(preds, gts, 8)).toEqual([0.75, 0.75]);
    const m = new SegMetrics(6);
    m.addVideo(preds, gts);
    const r = m.result();
    expect(r.mVC8).toBe(0.75);
    expect(r.vcWindows).toEqual({ 8: 2, 16: 0 });
    expect(r.mVC16).toBeNaN();
    // addVideo also fills the confusion matrix: 40 pixels, none ignored.
    expect(r.pixels).toBe(40);
  });

  test('videos with L ≤ n frames give no window; L = n + 1 gives one', () => {
    expect(vcScores(video(8, [1]), video(8, [1]), 8)).toEqual([]);
    expect(vcScores(video(9, [1]), video(9, [1]), 8)).toEqual([1]);
    expect(vcScores([], [], 8)).toEqual([]);
    // 17 frames: 9 windows of 8, 1 window of 16.
    const m = new SegMetrics(2);
    m.addVideo(video(17, [0, 1]), video(17, [0, 1]));
    expect(m.result()).toMatchObject({ mVC8: 1, mVC16: 1, vcWindows: { 8: 9, 16: 1 } });
  });

  test('the mean is over all windows of all videos, not over per-video means', () => {
    // Video A (above): windows 3/4, 3/4. Video B: 9 frames, 1 pixel, GT always 1, prediction 1 then 0
    // from frame 3: its one window has stable GT {pixel} and no stable prediction → 0.
    // mVC8 = (3/4 + 3/4 + 0)/3 = 1/2 (the mean of video means would be (3/4 + 0)/2 = 3/8).
    const m = new SegMetrics(6);
    m.addVideo(preds, gts);
    m.addVideo(video(9, [1], { 3: [0], 4: [0], 5: [0], 6: [0], 7: [0], 8: [0] }), video(9, [1]));
    expect(m.result().mVC8).toBe(0.5);
    expect(m.result().vcWindows[8]).toBe(3);
  });

  test('a window without a stable GT pixel (0/0) is dropped, like the devkit nanmean', () => {
    // 9 frames, 1 pixel whose GT alternates 1, 2, 1, …: the single window has no stable GT pixel → NaN,
    // dropped; together with a 9-frame video scoring 1, mVC8 = 1 over 1 window.
    const flicker = Array.from({ length: 9 }, (_, t) => [1 + (t % 2)]);
    expect(vcScores(video(9, [0]), flicker, 8)).toEqual([NaN]);
    const m = new SegMetrics(3);
    m.addVideo(video(9, [0]), flicker);
    m.addVideo(video(9, [2]), video(9, [2]));
    expect(m.result().mVC8).toBe(1);
    expect(m.result().vcWindows[8]).toBe(1);
  });

  test('raw GT values are compared, ignored values included', () => {
    // VSPW: raw 0 and 255 both map to ignore. 9 frames, 2 pixels. Pixel 0's raw GT alternates 0, 255
    // (mapped: ignore throughout); pixel 1's raw GT is 5 (class 4). Prediction: pixel 0 alternates
    // 0, 1; pixel 1 is 4 throughout.
    //   raw GT: stable GT = {pixel 1}, stable pred there → 1/1 = 1.
    //   mapped GT: stable GT = {pixel 0, pixel 1}, stable pred only pixel 1 → 1/2.
    const raw = Array.from({ length: 9 }, (_, t) => [t % 2 ? 255 : 0, 5]);
    const mapped = video(9, [I, 4]);
    const pred = Array.from({ length: 9 }, (_, t) => [t % 2, 4]);
    const withRaw = new SegMetrics(124);
    withRaw.addVideo(pred, mapped, raw);
    expect(withRaw.result().mVC8).toBe(1);
    const withMapped = new SegMetrics(124);
    withMapped.addVideo(pred, mapped);
    expect(withMapped.result().mVC8).toBe(0.5);
    // mIoU uses the mapped GT either way: pixel 1 only, class 4 right every time.
    expect(withRaw.result().mIoU).toBe(1);
    expect(withRaw.result().pixels).toBe(9);
  });

  test('frames of different sizes are refused', () => {
    expect(() => vcScores([[0], [0, 1]], [[0], [0, 1]], 2)).toThrow(/frame 1 has 2 predicted and 2 ground-truth pixels, frame 0 has 1/);
    expect(() => vcScores([[0]], [[0]], 1)).toThrow(/window length must be an integer ≥ 2/);
  });
});

describe('formatResult', () => {
  test('lists the classes with an IoU and counts the rest on one line', () => {
    const r = { perClassIoU: [0.5, NaN, 0.25, NaN, NaN], mIoU: 0.375, mVC8: 0.9, mVC16: NaN, vcWindows: { 8: 1, 16: 0 }, pixels: 10 };
    expect(formatResult(r, ['sky', 'a-very-long-name', 'road', 'x', 'y']).split('\n')).toEqual([
      '  class   IoU',
      '  sky    50.0',
      '  road   25.0',
      '  (3 of 5 classes absent from the ground truth: no IoU, not listed)',
      'mIoU  37.5  mVC8  90.0  mVC16    —',
    ]);
    expect(formatResult({ ...r, perClassIoU: [0.5, 0.25] }, ['sky', 'road'])).not.toMatch(/not listed/);
  });
});
