// Test-time augmentation (MVC §2.4, METHODS.md §5): each frame is predicted at several scales
// ({0.9, 1.0, 1.1, 1.2} by default), each also horizontally flipped, and the views are merged.
//
// A view runs the model on the (flipped) input resized to scale × the frame (logitsAt: sides rounded
// to multiples of the patch), resizes the logits back to the frame (bilinear, before any argmax) and
// flips them back, so every view gives logits aligned with the frame. Temporal models get the same
// pairs [t−1, t] as without TTA (predict.ts modelInput), both frames of a pair flipped and scaled alike.
//
// Merging:
// - 'vote' (the paper's): per-pixel majority vote of the views' label maps. Ties go to the prediction
//   of the higher-resolution input. Precisely: the views are ranked by scale, largest first, and at one
//   scale the unflipped view before the flipped one (the image as shot before its mirror image); a
//   pixel takes the label of the first view in that ranking whose label got the most votes. Without a
//   tie that is the majority label; with one it is the tied class the highest-ranked view chose.
// - 'mean' (for comparison): argmax of the views' summed softmax probabilities (soft voting; ties,
//   which need exactly equal sums, go to the lower class id as in argmax).
import { add, argmax, flip, mul, noGrad, softmax, tidy, type Tensor } from '../engine/index.ts';
import type { Frame } from '../dataset/image.ts';
import type { Student } from '../models/student.ts';
import { labelsPerFrame, logitsAt, modelInput, perFrame } from './predict.ts';

export type TtaMode = 'vote' | 'mean';

export interface TtaOptions {
  /** Input scales relative to the frame; each is run as is and horizontally flipped. */
  scales: readonly number[];
  mode: TtaMode;
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

/** Logits [B, K, H, W] of one view of images [B, 3, H, W], aligned with the images; `clip` as in Student.forward. */
export function viewLogits(model: Student, images: Tensor, view: View, clip = 1): Tensor {
  if (!view.flip) return logitsAt(model, images, view.scale, clip);
  return flip(logitsAt(model, flip(images, 3), view.scale, clip), 3);
}

/**
 * Softmax probabilities averaged over every model and view, aligned with the frames: [B, K, H, W]
 * (the last frame of each clip for a temporal model). One view at a time: its activations are
 * released before the next runs. TTA's 'mean' mode takes their argmax; retraining ensembles teacher
 * and student with it (train/pseudo.ts).
 */
export function meanProbabilities(models: readonly Student[], images: Tensor, views: readonly View[], clip = 1): Tensor {
  return noGrad(() =>
    tidy(() => {
      let acc: Tensor | undefined;
      for (const m of models) {
        for (const v of views) {
          const next = tidy(() => {
            const p = softmax(perFrame(viewLogits(m, images, v, clip), clip), 1);
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

/** predictFrames with test-time augmentation: class ids per frame, merged over the views of `o.scales`. */
export async function predictFramesTta(model: Student, frames: Frame[], previous: Frame | undefined, o: TtaOptions): Promise<Int32Array[]> {
  const views = ttaViews(o.scales);
  if (!views.length) throw new Error('test-time augmentation: no scales');
  if (o.mode === 'mean') {
    const labels = noGrad(() =>
      tidy(() => {
        const { images, clip } = modelInput(model, frames, previous);
        return argmax(meanProbabilities([model], images, views, clip), 1);
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
      return views.map((v) => tidy(() => argmax(perFrame(viewLogits(model, images, v, clip), clip), 1)));
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
