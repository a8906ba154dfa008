// The training augmentations, on the engine, of frames normalised as the student takes them
// (models/input.ts). Labels are i32 class ids with IGNORE (255) where unlabeled.
import { concat, conv2d, flip, noGrad, pad, resizeBilinear, resizeNearest, slice, tensor, tidy, type Tensor } from '../engine/index.ts';
import { IGNORE, type LabelMap } from '../dataset/labels.ts';
import type { Rng } from '../dataset/rng.ts';
import { MEAN, STD } from '../models/input.ts';

/** One label map → [1, 1, H, W] i32 (the channel axis lets the NCHW resize ops take it). */
export function labelTensor(l: LabelMap): Tensor {
  return tensor(l.labels, [1, 1, l.height, l.width], 'i32');
}

export interface AugmentOptions {
  /** Output (crop) size [H, W]. */
  size: [number, number];
  /** A frame is first resized so that its shorter side is baseSize (0: left as it is), then by a random factor in [scaleMin, scaleMax]. */
  baseSize: number;
  scaleMin: number;
  scaleMax: number;
  flip: boolean;
  /**
   * Colour jitter with probability p, as MIC's (kornia's ColorJitter(s, s, s, s)): brightness,
   * contrast and saturation factors in [1 − s, 1 + s] and a hue shift in [−s, s] of a full turn.
   */
  jitter: { strength: number; p: number };
  /** Gaussian blur with probability p, as MIC's: a kernel of about 10% of the width, σ in [0.15, 1.15] px. */
  blurP: number;
}

/** The training augmentation of a student: crops of its imageSize from frames at its baseSize. */
export const TRAIN_AUGMENT = (c: { imageSize: [number, number]; baseSize: number }, scaleMin: number, scaleMax: number): AugmentOptions => ({
  size: c.imageSize,
  baseSize: c.baseSize,
  scaleMin,
  scaleMax,
  flip: true,
  jitter: { strength: 0.2, p: 0.8 },
  blurP: 0.5,
});

/** The jitter's draws: factors (1 = unchanged) and a hue shift in turns (0 = unchanged). */
export interface Jitter {
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
}

const LUMA = [0.299, 0.587, 0.114]; // ITU-R 601 grey, as torchvision's rgb_to_grayscale
const GREY0 = LUMA.reduce((s, w, c) => s + w * MEAN[c]!, 0); // the grey of the normalisation mean

/**
 * The jitter as one affine map of RGB values in [0, 1]: x → m·x + t (m row-major 3 × 3), applied in
 * the order brightness (x·b), contrast (about GREY0, the mean colour's grey: a fixed centre, where
 * torchvision takes each image's mean), saturation (blend with the pixel's grey) and hue (a rotation
 * by `hue` turns about the grey axis, a linear stand-in for kornia's shift of H in HSV: a third of
 * a turn takes pure red to pure green as in HSV, but the rotation keeps the mean of R, G and B where
 * HSV keeps the maximum). Values are not clamped to [0, 1].
 */
export function colourMap(j: Jitter): { m: number[]; t: number[] } {
  let m = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  let t = [0, 0, 0];
  const then = (a: number[], b: number[]) => {
    const mul = (r: number, c: number) => a[r * 3]! * m[c]! + a[r * 3 + 1]! * m[3 + c]! + a[r * 3 + 2]! * m[6 + c]!;
    const next = Array.from({ length: 9 }, (_, i) => mul(Math.floor(i / 3), i % 3));
    t = [0, 1, 2].map((r) => a[r * 3]! * t[0]! + a[r * 3 + 1]! * t[1]! + a[r * 3 + 2]! * t[2]! + b[r]!);
    m = next;
  };
  const scale = (k: number) => [k, 0, 0, 0, k, 0, 0, 0, k];
  then(scale(j.brightness), [0, 0, 0]);
  then(scale(j.contrast), [0, 1, 2].map(() => (1 - j.contrast) * GREY0));
  const s = j.saturation;
  then(
    Array.from({ length: 9 }, (_, i) => (i % 4 === 0 ? s : 0) + (1 - s) * LUMA[i % 3]!),
    [0, 0, 0],
  );
  // Rodrigues: R = cos θ·I + sin θ·[u]× + (1 − cos θ)·u·uᵀ, u = (1, 1, 1)/√3.
  const th = 2 * Math.PI * j.hue;
  const [c, q, w] = [Math.cos(th), Math.sin(th) / Math.sqrt(3), (1 - Math.cos(th)) / 3];
  then([c + w, w - q, w + q, w + q, c + w, w - q, w - q, w + q, c + w], [0, 0, 0]);
  return { m, t };
}

/** colourMap for normalised images ((x − MEAN)/STD per channel): 1×1 convolution weights [3,3,1,1] and bias [3]. */
export function normalisedColourMap(j: Jitter): { weight: number[]; bias: number[] } {
  const { m, t } = colourMap(j);
  const weight = Array.from({ length: 9 }, (_, i) => (m[i]! * STD[i % 3]!) / STD[Math.floor(i / 3)]!);
  const bias = [0, 1, 2].map((r) => (m[r * 3]! * MEAN[0]! + m[r * 3 + 1]! * MEAN[1]! + m[r * 3 + 2]! * MEAN[2]! + t[r]! - MEAN[r]!) / STD[r]!);
  return { weight, bias };
}

/** Mirror `r` rows and columns at each border of [B,C,H,W] (reflect, without repeating the edge, as kornia's blur does). */
function reflectPad(img: Tensor, r: number): Tensor {
  const [b, c, h, w] = img.shape as [number, number, number, number];
  const rows = concat([flip(slice(img, [0, 0, 1, 0], [b, c, r + 1, w]), [2]), img, flip(slice(img, [0, 0, h - 1 - r, 0], [b, c, h - 1, w]), [2])], 2);
  return concat([flip(slice(rows, [0, 0, 0, 1], [b, c, h + 2 * r, r + 1]), [3]), rows, flip(slice(rows, [0, 0, 0, w - 1 - r], [b, c, h + 2 * r, w - 1]), [3])], 3);
}

/**
 * Gaussian blur of [B,3,H,W] by MIC's kernel for σ (pixels): odd side ⌈0.1·width⌉, at least 3, its
 * radius cut to what the reflect padding allows on small images; two 1-D passes of normalised taps.
 */
export function gaussianBlur(img: Tensor, sigma: number): Tensor {
  const [, , h, w] = img.shape as [number, number, number, number];
  const r = Math.min(Math.max(3, Math.ceil(0.1 * w) | 1) >> 1, h - 1, w - 1);
  if (r < 1) return img;
  const k = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  const t = [0, 1, 2].flatMap(() => k.map((v) => v / sum)); // one kernel per channel (groups 3)
  const vertical = conv2d(reflectPad(img, r), tensor(t, [3, 1, k.length, 1]), undefined, { groups: 3 });
  return conv2d(vertical, tensor(t, [3, 1, 1, k.length]), undefined, { groups: 3 });
}

/**
 * Augment one sample on the GPU: rescale to the base size times a random factor, pad (image with 0 = the mean colour, labels with
 * IGNORE) and random crop to `size`, horizontal flip, colour jitter, blur. Labels follow every
 * geometric step with nearest-neighbour resampling. Returns [1,3,H,W] and [1,1,H,W].
 */
export function augment(image: Tensor, labels: Tensor | undefined, rng: Rng, o: AugmentOptions): { image: Tensor; labels: Tensor | undefined } {
  return noGrad(() =>
    tidy(() => {
      const [, , h0, w0] = image.shape as [number, number, number, number];
      const s = rng.range(o.scaleMin, o.scaleMax) * (o.baseSize > 0 ? o.baseSize / Math.min(h0, w0) : 1);
      const h = Math.max(1, Math.round(h0 * s));
      const w = Math.max(1, Math.round(w0 * s));
      let img = resizeBilinear(image, [h, w]);
      let lab = labels && resizeNearest(labels, [h, w]);
      const [ch, cw] = o.size;
      const ph = Math.max(0, ch - h);
      const pw = Math.max(0, cw - w);
      if (ph || pw) {
        const pads: [number, number][] = [[0, 0], [0, 0], [ph >> 1, ph - (ph >> 1)], [pw >> 1, pw - (pw >> 1)]];
        img = pad(img, pads, 0);
        lab = lab && pad(lab, pads, IGNORE);
      }
      const y = rng.int(img.shape[2]! - ch + 1);
      const x = rng.int(img.shape[3]! - cw + 1);
      img = slice(img, [0, 0, y, x], [1, 3, y + ch, x + cw]);
      lab = lab && slice(lab, [0, 0, y, x], [1, 1, y + ch, x + cw]);
      if (o.flip && rng.float() < 0.5) {
        img = flip(img, [3]);
        lab = lab && flip(lab, [3]);
      }
      return { image: photometric(img, rng, o), labels: lab };
    }),
  );
}

/**
 * The photometric part of `augment`: colour jitter, then blur, each with its probability. One draw
 * for the whole batch `image` [B,3,H,W]; call it per frame (or per clip) for independent draws.
 * Returns `image` itself when neither fires (dispose it only once).
 */
export function photometric(image: Tensor, rng: Rng, o: Pick<AugmentOptions, 'jitter' | 'blurP'>): Tensor {
  return noGrad(() =>
    tidy(() => {
      let img = image;
      if (rng.float() < o.jitter.p) {
        const s = o.jitter.strength;
        const f = () => rng.range(1 - s, 1 + s);
        const { weight, bias } = normalisedColourMap({ brightness: f(), contrast: f(), saturation: f(), hue: rng.range(-s, s) });
        img = conv2d(img, tensor(weight, [3, 3, 1, 1]), tensor(bias, [3]));
      }
      if (rng.float() < o.blurP) img = gaussianBlur(img, rng.range(0.15, 1.15));
      return img;
    }),
  );
}

/** Stack per-sample [1,C,H,W] tensors into a batch (disposing the parts). Labels come out [B,H,W]. */
export function stackBatch(images: Tensor[], labels: Tensor[] | undefined): { images: Tensor; labels: Tensor | undefined } {
  const out = tidy(() => {
    const img = concat(images, 0);
    const lab = labels && concat(labels, 0);
    return { images: img, labels: lab && lab.view([lab.shape[0]!, lab.shape[2]!, lab.shape[3]!]) };
  });
  for (const t of [...images, ...(labels ?? [])]) t.dispose();
  return out;
}
