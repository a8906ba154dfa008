// Inference: frames in, per-pixel class ids out.
//
// A frame of any size is resized (bilinear) to the nearest size whose sides are multiples of the
// patch size, the student runs (its position embedding is resized to the grid), and the logits are
// resized back to the frame before the argmax, so predictions are always at the frame's resolution.
//
// A temporal student (config.temporal) predicts frame t from the clip [t−1, t] and keeps the last
// frame's output: causal, so it works the same when frames stream in (the browser), at twice the
// cost of a frame on its own.
//
// Test-time augmentation (several scales, each also flipped, merged by vote) is in tta.ts.
import { argmax, concat, noGrad, resizeBilinear, slice, softmax, tidy, type Tensor } from '../engine/index.ts';
import type { Frame } from '../dataset/image.ts';
import type { Student } from '../models/student.ts';
import { frameTensor } from '../train/images.ts';

/** Logits [B, K, H, W] at the input's size for a batch [B, 3, H, W] of any size; `clip` as in Student.forward. */
export function logitsAt(model: Student, images: Tensor, scale = 1, clip = 1): Tensor {
  const [, , h, w] = images.shape as [number, number, number, number];
  const p = model.config.patch;
  const th = Math.max(p, Math.round((h * scale) / p) * p);
  const tw = Math.max(p, Math.round((w * scale) / p) * p);
  const input = th === h && tw === w ? images : resizeBilinear(images, [th, tw]);
  const out = model.forward(input, { clip }).logits;
  return th === h && tw === w ? out : resizeBilinear(out, [h, w]);
}

/** Class probabilities [B, K, H, W]. */
export function probabilities(model: Student, images: Tensor, scale = 1, clip = 1): Tensor {
  return softmax(logitsAt(model, images, scale, clip), 1);
}

/**
 * The batch the model sees for consecutive frames of one video: the frames [B, 3, H, W] (clip 1), or
 * for a temporal model the pairs [t−1, t] of each frame t, [2B, 3, H, W] (clip 2). `previous` is the
 * frame before frames[0] (e.g. the last of the previous chunk), the context of a temporal model's
 * first prediction; without it the first frame is its own context.
 */
export function modelInput(model: Student, frames: Frame[], previous?: Frame): { images: Tensor; clip: number } {
  if (!model.config.temporal) return { images: concat(frames.map(frameTensor), 0), clip: 1 };
  const ts = [previous ?? frames[0]!, ...frames].map(frameTensor);
  return { images: concat(frames.flatMap((_, t) => [ts[t]!, ts[t + 1]!]), 0), clip: 2 };
}

/** One [K, H, W] output per frame from the outputs of modelInput's batch: for pairs, the second frame's. */
export function perFrame(out: Tensor, clip: number): Tensor {
  return clip === 1 ? out : slice(out, [1], [Infinity], [2]);
}

/** A batch of label maps [B, H, W] read back as one Int32Array per frame. */
export async function labelsPerFrame(labels: Tensor): Promise<Int32Array[]> {
  const [b, h, w] = labels.shape as [number, number, number];
  const all = (await labels.data()) as Int32Array;
  return Array.from({ length: b }, (_, i) => all.slice(i * h * w, (i + 1) * h * w));
}

/** Predicted class ids for consecutive frames of one video (all of one size); `previous` as in modelInput. */
export async function predictFrames(model: Student, frames: Frame[], previous?: Frame): Promise<Int32Array[]> {
  const labels = noGrad(() =>
    tidy(() => {
      const { images, clip } = modelInput(model, frames, previous);
      return argmax(perFrame(logitsAt(model, images, 1, clip), clip), 1);
    }),
  );
  try {
    return await labelsPerFrame(labels);
  } finally {
    labels.dispose();
  }
}
