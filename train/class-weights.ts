// Class weights for the supervised cross-entropy (--class-weight), from how often each class occurs
// in the labeled training frames. Small objects (a ball, a sign) cover a few hundred times fewer pixels
// than sky or road, so an unweighted mean hardly rewards finding them; mmsegmentation's CE takes such
// weights as `class_weight`. 'sqrt' gives w_c ∝ 1/√f_c (f_c the class's share of labeled pixels),
// milder than 1/f_c, which overshoots on classes seen a handful of times; weights are scaled so that
// the average weight per labeled pixel is 1, which keeps the loss and learning rate on the same scale.
import { IGNORE } from '../dataset/labels.ts';
import type { VideoDataset } from '../dataset/reader.ts';
import type { FrameRef } from '../dataset/splits.ts';
import { indexSelect, reshape, type Tensor } from '../engine/index.ts';

export type ClassWeighting = 'none' | 'sqrt';

/** Pixels of each class in up to `maxFrames` of `frames` (evenly spaced), ignored pixels left out. */
export function classCounts(ds: VideoDataset, frames: FrameRef[], maxFrames = 400): number[] {
  const counts = new Array<number>(ds.numClasses).fill(0);
  const step = Math.max(1, frames.length / maxFrames);
  for (let i = 0; i < frames.length; i += step) {
    const r = frames[Math.floor(i)]!;
    for (const v of ds.readLabels(r.video, r.frame).labels) if (v !== IGNORE) counts[v]!++;
  }
  return counts;
}

/**
 * Weights w_c ∝ 1/√f_c with Σ_c f_c·w_c = 1. A class absent from the counts gets the largest weight
 * of the present ones (it is rarer than any of them), so a pixel of it is never weighted 0 or ∞.
 */
export function sqrtInverseWeights(counts: number[]): Float32Array {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) throw new Error('class weights: the labeled frames have no labeled pixel');
  const raw = counts.map((n) => (n > 0 ? 1 / Math.sqrt(n / total) : 0));
  const top = Math.max(...raw);
  const w = raw.map((v) => v || top);
  const mean = counts.reduce((a, n, c) => a + (n / total) * w[c]!, 0);
  return Float32Array.from(w, (v) => v / mean);
}

/** Per-pixel weights for `labels` (i32, any shape): w[label], 0 where the label is IGNORE (outside the table). */
export function pixelWeights(weights: Tensor, labels: Tensor): Tensor {
  return reshape(indexSelect(weights, 0, reshape(labels, [labels.size])), labels.shape);
}
