// Inference: frames in, per-pixel class ids out.
//
// A frame of any size is resized (bilinear) to the nearest size whose sides are multiples of the
// patch size, the student runs (its position embedding is resized to the grid), and the logits are
// resized back to the frame before the argmax, so predictions are always at the frame's resolution.
import { argmax, concat, noGrad, resizeBilinear, softmax, tidy, type Tensor } from '../engine/index.ts';
import type { Frame } from '../dataset/image.ts';
import type { Student } from '../models/student.ts';
import { frameTensor } from '../train/images.ts';

/** Logits [B, K, H, W] at the input's size for a batch [B, 3, H, W] of any size. */
export function logitsAt(model: Student, images: Tensor, scale = 1): Tensor {
  const [, , h, w] = images.shape as [number, number, number, number];
  const p = model.config.patch;
  const th = Math.max(p, Math.round((h * scale) / p) * p);
  const tw = Math.max(p, Math.round((w * scale) / p) * p);
  const input = th === h && tw === w ? images : resizeBilinear(images, [th, tw]);
  const out = model.forward(input).logits;
  return th === h && tw === w ? out : resizeBilinear(out, [h, w]);
}

/** Class probabilities [B, K, H, W]. */
export function probabilities(model: Student, images: Tensor, scale = 1): Tensor {
  return softmax(logitsAt(model, images, scale), 1);
}

/** Predicted class ids for each frame (all frames of a call must share one size). */
export async function predictFrames(model: Student, frames: Frame[]): Promise<Int32Array[]> {
  const labels = noGrad(() =>
    tidy(() => {
      const batch = concat(frames.map(frameTensor), 0);
      return argmax(logitsAt(model, batch), 1);
    }),
  );
  const all = (await labels.data()) as Int32Array;
  labels.dispose();
  const n = frames[0]!.width * frames[0]!.height;
  return frames.map((_, i) => all.slice(i * n, (i + 1) * n));
}
