// Test-time augmentation (MVC §2.4, docs/METHODS.md §5): each frame is predicted at several scales
// ({0.9, 1.0, 1.1, 1.2} by default), each also horizontally flipped, and the views are merged.
//
// A view runs the model on the (flipped) input at scale × the training scale (predict.ts scoresAt:
// sides rounded to multiples of the patch) and flips its class scores back, so every view's scores
// are aligned with the frame; they stay at 1/4 of the view's input until they are reduced. Temporal
// models get the same pairs [t−1, t] as without TTA (predict.ts modelInput), both frames of a pair
// flipped and scaled alike.
//
// Merging:
// - 'vote' (the paper's): each view's scores are resized to the frame and reduced to class ids there
//   (resizeArgmax), then a per-pixel majority vote of the views' label maps. Ties go to the prediction
//   of the higher-resolution input. Precisely: the views are ranked by scale, largest first, and at one
//   scale the unflipped view before the flipped one (the image as shot before its mirror image); a
//   pixel takes the label of the first view in that ranking whose label got the most votes. Without a
//   tie that is the majority label; with one it is the tied class the highest-ranked view chose.
// - 'mean' (for comparison): the views' softmax probabilities averaged on one grid (1/4 of the
//   scale-1 input; each view's scores resized to it, bilinear, before the softmax), then resized to the
//   frame with the argmax (ties, which need exactly equal sums, go to the lower class id).
import { add, flip, mul, noGrad, resizeBilinear, softmax, tidy, type Tensor } from '../engine/index.ts';
import type { Frame } from '../dataset/image.ts';
import type { Student } from '../models/student.ts';
import { classIdsAt, inPasses, inputSize, labelsPerFrame, modelInput, perFrame, scoresAt, type InferMode } from './predict.ts';

export type TtaMode = 'vote' | 'mean';

export interface TtaOptions {
  /** Input scales relative to the training scale; each is run as is and horizontally flipped. */
  scales: readonly number[];
  mode: TtaMode;
  /** How each view runs the model (predict.ts): on the whole input or on sliding windows. Default whole. */
  infer?: InferMode;
}

export const TTA_SCALES: readonly number[] = [0.9, 1, 1.1, 1.2];
export const TTA_DEFAULTS: TtaOptions = { scales: TTA_SCALES, mode: 'vote' };

export interface View {
  scale: number;
  flip: boolean;
}

/** Scales from a comma-separated list ('0.9,1,1.1,1.2'): distinct numbers in (0, 4]. */
export function parseScales(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const scales = parts.map(Number);
  scales.forEach((s, i) => {
    if (!(s > 0 && s <= 4)) throw new Error(`--tta-scales: '${parts[i]}' in '${text}' is not a scale in (0, 4] (e.g. 0.9,1,1.1,1.2)`);
  });
  const dup = scales.find((s, i) => scales.indexOf(s) !== i);
  if (dup !== undefined) throw new Error(`--tta-scales: scale ${dup} appears twice in '${text}'`);
  return scales;
}

/** The views of `scales` in tie-breaking rank: larger scales first; at one scale unflipped, then flipped. */
export function ttaViews(scales: readonly number[]): View[] {
  return [...scales].sort((a, b) => b - a).flatMap((scale) => [{ scale, flip: false }, { scale, flip: true }]);
}

/**
 * Per-pixel majority vote of label maps (class ids in [0, numClasses)). `order` ranks the maps for
 * ties (a permutation of their indices, highest rank first): a pixel takes the label of the first
 * map in `order` whose label has the most votes at that pixel.
 */
export function vote(maps: readonly Int32Array[], order: readonly number[], numClasses: number): Int32Array {
  if (!maps.length) throw new Error('vote: no label maps');
  const n = maps[0]!.length;
  if (maps.some((m) => m.length !== n)) throw new Error(`vote: label maps of different sizes (${maps.map((m) => m.length).join(', ')})`);
  if (order.length !== maps.length || [...order].sort((a, b) => a - b).some((v, i) => v !== i)) {
    throw new Error(`vote: order [${order.join(',')}] is not a permutation of the ${maps.length} map indices`);
  }
  const ranked = order.map((i) => maps[i]!);
  const counts = new Int32Array(numClasses);
  const out = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    let most = 0;
    for (const m of ranked) {
      const c = m[p]!;
      if (!(c >= 0 && c < numClasses)) throw new Error(`vote: label ${c} at pixel ${p} is not a class id in [0, ${numClasses})`);
      most = Math.max(most, ++counts[c]!);
    }
    // A label's count is read at its first map in rank order, then cleared for the next pixel.
    let winner = -1;
    for (const m of ranked) {
      const c = m[p]!;
      if (winner < 0 && counts[c] === most) winner = c;
      counts[c] = 0;
    }
    out[p] = winner;
  }
  return out;
}

/**
 * Class scores [B, K, h, w] of one view of images [B, 3, H, W], flipped back to align with the images,
 * at 1/4 of the view's input (predict.ts scoresAt); `clip` as in Student.forward.
 */
export function viewScores(model: Student, images: Tensor, view: View, clip = 1, infer: InferMode = 'whole'): Tensor {
  if (!view.flip) return scoresAt(model, images, view.scale, clip, infer);
  return flip(scoresAt(model, flip(images, 3), view.scale, clip, infer), 3);
}

/**
 * Softmax probabilities averaged over every model and view, aligned with the frames: [B, K, h, w] on
 * the grid of the first model's scale-1 scores (1/4 of its input; the last frame of each clip for a
 * temporal model). Each view's scores are resized to that grid before its softmax. One view at a time:
 * its activations are released before the next runs. TTA's 'mean' mode and retraining's teacher +
 * student ensemble (train/pseudo.ts) reduce it at the frame's size with resizeArgmax.
 */
export function meanProbabilities(models: readonly Student[], images: Tensor, views: readonly View[], clip = 1, infer: InferMode = 'whole'): Tensor {
  const [, , H, W] = images.shape as [number, number, number, number];
  const [h, w] = inputSize(models[0]!.config, H, W);
  const grid: [number, number] = [h / 4, w / 4];
  return noGrad(() =>
    tidy(() => {
      let acc: Tensor | undefined;
      for (const m of models) {
        for (const v of views) {
          const next = tidy(() => {
            const s = perFrame(viewScores(m, images, v, clip, infer), clip);
            const p = softmax(s.shape[2] === grid[0] && s.shape[3] === grid[1] ? s : resizeBilinear(s, grid), 1);
            return acc ? add(acc, p) : p;
          });
          acc?.dispose();
          acc = next;
        }
      }
      return mul(acc!, 1 / (models.length * views.length));
    }),
  );
}

/** predictFrames with test-time augmentation: class ids per frame, merged over the views of `o.scales` (in passes, as predictFrames). */
export async function predictFramesTta(model: Student, frames: Frame[], previous: Frame | undefined, o: TtaOptions): Promise<Int32Array[]> {
  return inPasses(model, frames, previous, Math.max(1, ...o.scales), (chunk, prev) => ttaPass(model, chunk, prev, o));
}

async function ttaPass(model: Student, frames: Frame[], previous: Frame | undefined, o: TtaOptions): Promise<Int32Array[]> {
  const views = ttaViews(o.scales);
  if (!views.length) throw new Error('test-time augmentation: no scales');
  const size: [number, number] = [frames[0]!.height, frames[0]!.width];
  if (o.mode === 'mean') {
    const labels = noGrad(() =>
      tidy(() => {
        const { images, clip } = modelInput(model, frames, previous);
        return classIdsAt(meanProbabilities([model], images, views, clip, o.infer), size);
      }),
    );
    try {
      return await labelsPerFrame(labels);
    } finally {
      labels.dispose();
    }
  }
  if (o.mode !== 'vote') throw new Error(`test-time augmentation: mode '${o.mode as string}' must be 'vote' or 'mean'`);
  const perView = noGrad(() =>
    tidy(() => {
      const { images, clip } = modelInput(model, frames, previous);
      return views.map((v) => tidy(() => classIdsAt(perFrame(viewScores(model, images, v, clip, o.infer), clip), size)));
    }),
  );
  const maps: Int32Array[][] = []; // [view][frame]
  try {
    for (const t of perView) maps.push(await labelsPerFrame(t));
  } finally {
    for (const t of perView) t.dispose();
  }
  const order = views.map((_, i) => i); // the views are already ranked
  return frames.map((_, f) => vote(maps.map((m) => m[f]!), order, model.config.numClasses));
}
