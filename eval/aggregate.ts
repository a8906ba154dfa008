// Model aggregation by optical flow and SSIM (MVC §2.3, docs/METHODS.md §6): with no labels at test time,
// pick per video the model whose segmentation moves with the video.
//
// For each pair of consecutive frames (t, t+1), the Farneback flow from t+1 back to t
// (farneback(gray_{t+1}, gray_t): next(y, x) ≈ prev(y + fy, x + fx)) warps each model's label map of
// frame t onto frame t+1 (nearest, so labels stay labels), and SSIM compares the warped map with the
// model's own map of t+1, the label maps read as images of their class ids. A model's score is the
// mean over the video's pairs; the video keeps the model with the higher score.
// A model that flickers between frames, or whose masks do not follow the motion, scores lower.
// The flow depends only on the frames, so it is computed once per pair and shared by every model.
// Ties (and one-frame videos, which have no pairs) keep the first model.
//
// Deviation: SSIM's data range L is the span of the class ids (K − 1 for K classes), where the seed
// compares masks saved as 8-bit images (L = 255). Its constants C1 = (0.01L)², C2 = (0.03L)² are meant to
// be small beside the signal's variance; with L = 255 and ids 0..K−1 they swamp it when K is small:
// on a 3-class test scene a mask flickering in a fifth of its blocks scores 0.973 against 1.000 for
// one that moves with the video at L = 255, and 0.593 against 1.000 at L = 2. For VSPW's 124 classes
// the two ranges differ by 2×.
import { cast, noGrad, stack, tensor, tidy, type Tensor } from '../engine/index.ts';
import type { Frame } from '../dataset/image.ts';
import { farneback, toGray, warpLabels } from './flow.ts';
import { ssim } from './ssim.ts';

export interface AggregateChoice {
  video: string;
  /** Index of the chosen model (0 = the first). */
  chosen: number;
  /** Mean SSIM of warped vs predicted label maps per model (NaN without frame pairs). */
  scores: number[];
  /** Frame pairs scored. */
  pairs: number;
}

/**
 * Mean temporal-consistency score of each model's label maps over one video's consecutive frames;
 * `dataRange` is SSIM's L: the span of the class ids, numClasses − 1.
 */
export async function consistencyScores(frames: Frame[], predsPerModel: Int32Array[][], dataRange: number): Promise<number[]> {
  for (const [m, preds] of predsPerModel.entries()) {
    if (preds.length !== frames.length) throw new Error(`consistencyScores: model ${m} has ${preds.length} label maps for ${frames.length} frames`);
  }
  if (frames.length < 2) return predsPerModel.map(() => NaN);
  const { width: w, height: h } = frames[0]!;
  for (const f of frames) {
    if (f.width !== w || f.height !== h) throw new Error(`consistencyScores: frames of different sizes in one video (${w}×${h} and ${f.width}×${f.height})`);
  }
  const labels = (p: Int32Array) => tensor(p, [h, w], 'i32');
  // One scalar per (pair, model), read back once at the end of the video.
  const perPair: Tensor[] = [];
  noGrad(() => {
    for (let t = 0; t + 1 < frames.length; t++) {
      perPair.push(
        tidy(() => {
          const flow = farneback(toGray(frames[t + 1]!), toGray(frames[t]!));
          const scores = predsPerModel.map((preds) => {
            const warped = cast(warpLabels(labels(preds[t]!), flow), 'f32');
            return ssim(warped, cast(labels(preds[t + 1]!), 'f32'), { dataRange });
          });
          return stack(scores);
        }),
      );
    }
  });
  const sums = predsPerModel.map(() => 0);
  try {
    for (const s of perPair) (await s.data()).forEach((v, m) => (sums[m]! += v));
  } finally {
    perPair.forEach((s) => s.dispose());
  }
  return sums.map((s) => s / perPair.length);
}

/** Scores the models on one video and picks the most consistent (the first on ties). */
export async function chooseModel(video: string, frames: Frame[], predsPerModel: Int32Array[][], dataRange: number): Promise<AggregateChoice> {
  const scores = await consistencyScores(frames, predsPerModel, dataRange);
  let chosen = 0;
  scores.forEach((s, m) => {
    if (s > scores[chosen]!) chosen = m;
  });
  return { video, chosen, scores, pairs: Math.max(0, frames.length - 1) };
}

/** One line for the log: which model the video took and why. */
export function formatChoice(c: AggregateChoice, names: string[]): string {
  const name = (m: number) => names[m] ?? `model ${m}`;
  if (c.pairs === 0) return `${c.video}: ${name(c.chosen)} (one frame: no pairs to compare, kept the first model)`;
  const parts = c.scores.map((s, m) => `${name(m)} ${s.toFixed(4)}`).join(', ');
  const why = c.scores.every((s) => s === c.scores[0]) ? 'a tie, kept the first model' : 'the higher mean SSIM of flow-warped masks';
  return `${c.video}: ${name(c.chosen)} (${why}; ${parts} over ${c.pairs} frame pairs)`;
}
