// How the student takes a frame: RGB normalised with ImageNet's mean and std (the convention of the
// field's backbones), laid out NCHW. Training, evaluation and the browser page all go through here.
import { tensor, type Tensor } from '../engine/index.ts';
import type { Frame } from '../dataset/image.ts';

export const MEAN = [0.485, 0.456, 0.406];
export const STD = [0.229, 0.224, 0.225];

/** One frame → normalised [1, 3, H, W]. */
export function frameTensor(f: Frame): Tensor {
  const n = f.width * f.height;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) out[c * n + i] = (f.rgb[i * 3 + c]! / 255 - MEAN[c]!) / STD[c]!;
  }
  return tensor(out, [1, 3, f.height, f.width]);
}
