// Online hard example mining for the supervised cross-entropy (--ohem), as mmsegmentation's
// OHEMPixelSampler: only the pixels the model still gets wrong enough count, those whose softmax
// probability of the true class is below `thresh` (0.7), and at least `minKept` of them (the hardest)
// so that a batch the model already fits keeps a loss. In loss terms a pixel's probability p of its
// label is below thresh exactly when its unweighted cross-entropy −log p is above −log thresh, so the
// kept set is {loss ≥ min(−log thresh, the minKept-th largest loss)}: one threshold, no read-back.
// Ignored pixels have loss 0 and weight 0: they are never counted.
import { affine, detach, lt, minimum, mul, noGrad, reshape, resizeCrossEntropy, slice, tidy, topk, type Tensor } from '../engine/index.ts';
import { IGNORE } from '../dataset/labels.ts';

export interface OhemOptions {
  /** Keep pixels whose probability of their label is below this. */
  thresh: number;
  /** ... and at least this share of the batch's pixels (the hardest). */
  minKeptShare: number;
}

export const OHEM_DEFAULTS: OhemOptions = { thresh: 0.7, minKeptShare: 0.1 };

/** Pixels the quantile is estimated from. */
const SAMPLE = 2048;

/**
 * Per-pixel weights [B, H, W] (f32, no gradient): 1 where the pixel is kept, 0 elsewhere, for class
 * scores [B, K, h, w] at any resolution (upsampled bilinearly to the labels') and labels [B, H, W]
 * (IGNORE = not labeled).
 */
export function ohemMask(logits: Tensor, labels: Tensor, o: OhemOptions = OHEM_DEFAULTS): Tensor {
  if (!(o.thresh > 0 && o.thresh <= 1)) throw new Error(`ohem: thresh must be in (0, 1], got ${o.thresh}`);
  if (!(o.minKeptShare > 0 && o.minKeptShare <= 1)) throw new Error(`ohem: minKeptShare must be in (0, 1], got ${o.minKeptShare}`);
  return noGrad(() =>
    tidy(() => {
      const loss = resizeCrossEntropy(detach(logits), labels, { ignoreIndex: IGNORE, reduction: 'none' });
      // The minKeptShare quantile of the losses, estimated from every s-th pixel, at most SAMPLE of them
      // (the quantile's standard error is then under 0.7 points): sorting the 49,152 pixels of a default
      // batch on lavapipe doubled the step's time.
      const s = Math.ceil(loss.size / SAMPLE);
      const sample = slice(reshape(loss, [loss.size]), [0], [loss.size], [s]);
      const k = Math.max(1, Math.min(sample.size, Math.round(o.minKeptShare * sample.size)));
      const kth = slice(topk(sample, k).values, [k - 1], [k]); // the k-th largest loss, [1]
      // 1 − (loss < t) rather than loss ≥ t: a NaN loss is kept, so a diverged model's NaN reaches the
      // loss and stops the run instead of being masked out into a loss of 0.
      return affine(lt(loss, minimum(kth, -Math.log(o.thresh))), -1, 1);
    }),
  );
}

/** `weight` (per-pixel, e.g. class weights) restricted to the kept pixels, or the mask itself without one. */
export function ohemWeight(logits: Tensor, labels: Tensor, weight: Tensor | undefined, o: OhemOptions = OHEM_DEFAULTS): Tensor {
  const mask = ohemMask(logits, labels, o);
  if (!weight) return mask;
  const w = mul(weight, mask);
  mask.dispose();
  return w;
}
