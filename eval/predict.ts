// Inference: frames in, per-pixel class ids out.
//
// A frame of any size is resized (bilinear) to the nearest size whose sides are multiples of the
// patch size, the student runs (its position embedding is resized to the grid), and the logits are
// resized back to the frame before the argmax, so predictions are always at the frame's resolution.
//
// A temporal student (config.temporal) predicts frame t from the clip [t−1, t] and keeps the last
// frame's output: causal, so it works the same when frames stream in (the browser), at twice the
// cost of a frame on its own.
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
 * Predicted class ids for consecutive frames of one video (all of one size). `previous` is the
 * frame before frames[0] (e.g. the last of the previous chunk), the context of a temporal model's
 * first prediction; without it the first frame is its own context.
 */
export async function predictFrames(model: Student, frames: Frame[], previous?: Frame): Promise<Int32Array[]> {
  const labels = noGrad(() =>
    tidy(() => {
      if (!model.config.temporal) return argmax(logitsAt(model, concat(frames.map(frameTensor), 0)), 1);
      const ts = [previous ?? frames[0]!, ...frames].map(frameTensor);
      const pairs = concat(frames.flatMap((_, t) => [ts[t]!, ts[t + 1]!]), 0); // [t−1, t] for each t
      const logits = logitsAt(model, pairs, 1, 2);
      return argmax(slice(logits, [1], [Infinity], [2]), 1); // the second frame of each pair
    }),
  );
  const all = (await labels.data()) as Int32Array;
  labels.dispose();
  const n = frames[0]!.width * frames[0]!.height;
  return frames.map((_, i) => all.slice(i * n, (i + 1) * n));
}
