// CutMix of an unlabeled batch, as U2PL mixes the strong view (docs/METHODS.md §1; U2PL's
// generate_unsup_data in cutmix mode): image i takes a rectangle of about half its area from image
// (i + 1) mod B. The same boxes are applied to the GPU images and to every per-pixel CPU array that
// goes with them (pseudo-labels, entropies, confidences), so they stay aligned.
//
// Box shape as U2PL's generate_cutmix_mask: a random width in (W/2, W], the height that makes the area
// H·W/2 (rounded), at a uniformly random position wholly inside the image; one box per image.
import { Tensor, indexSelect, shapeStr, tensor, where } from '../engine/index.ts';
import type { Rng } from '../dataset/rng.ts';

/** Rows y0 ≤ y < y1 and columns x0 ≤ x < x1. */
export interface Box {
  y0: number;
  x0: number;
  y1: number;
  x1: number;
}

/** One box per image of an h×w batch of b images, each of area ≈ h·w/2. */
export function cutmixBoxes(b: number, h: number, w: number, rng: Rng): Box[] {
  if (![b, h, w].every((v) => Number.isInteger(v) && v >= 1)) throw new Error(`cutmixBoxes: b, h, w must be positive integers, got ${b}, ${h}, ${w}`);
  return Array.from({ length: b }, () => {
    const lo = Math.floor(w / 2) + 1;
    const bw = Math.min(w, lo + rng.int(w - lo + 1));
    // bw > w/2, so the height for half the area is at most h.
    const bh = Math.min(h, Math.max(1, Math.round((h * w) / 2 / bw)));
    const y0 = rng.int(h - bh + 1);
    const x0 = rng.int(w - bw + 1);
    return { y0, x0, y1: y0 + bh, x1: x0 + bw };
  });
}

function checkBoxes(op: string, boxes: readonly Box[], b: number, h: number, w: number): void {
  if (boxes.length !== b) throw new Error(`${op}: ${boxes.length} boxes for a batch of ${b}`);
  boxes.forEach((x, i) => {
    const ok = [x.y0, x.x0, x.y1, x.x1].every(Number.isInteger) && x.y0 >= 0 && x.x0 >= 0 && x.y0 <= x.y1 && x.x0 <= x.x1 && x.y1 <= h && x.x1 <= w;
    if (!ok) throw new Error(`${op}: box ${i} (y ${x.y0}..${x.y1}, x ${x.x0}..${x.x1}) does not fit a ${h}×${w} image`);
  });
}

/** [B, 1, H, W]: 1 inside image i's box, 0 outside. */
function boxMask(boxes: readonly Box[], h: number, w: number): Float32Array {
  const m = new Float32Array(boxes.length * h * w);
  boxes.forEach((x, i) => {
    for (let y = x.y0; y < x.y1; y++) m.fill(1, (i * h + y) * w + x.x0, (i * h + y) * w + x.x1);
  });
  return m;
}

/** images [B, C, H, W]: image i with its box replaced by the same region of image (i + 1) mod B. */
export function cutmixImages(images: Tensor, boxes: readonly Box[]): Tensor {
  if (images.rank !== 4 || images.dtype !== 'f32') throw new Error(`cutmixImages: images must be f32 [B, C, H, W], got ${images}`);
  const [b, , h, w] = images.shape as [number, number, number, number];
  checkBoxes(`cutmixImages ${shapeStr(images.shape)}`, boxes, b, h, w);
  const next = tensor(Int32Array.from({ length: b }, (_, i) => (i + 1) % b), [b], 'i32');
  const mask = tensor(boxMask(boxes, h, w), [b, 1, h, w]);
  const partner = indexSelect(images, 0, next);
  const out = where(mask, partner, images);
  // With a gradient to images, the backward pass reads these; otherwise they can go now.
  if (!images.requiresGrad) for (const t of [next, mask, partner]) t.dispose();
  return out;
}

/** The same mix for a per-pixel CPU array laid out [B, H, W] (pseudo-labels, entropies, confidences). */
export function cutmixPixels<T extends Int32Array | Float32Array>(values: T, b: number, h: number, w: number, boxes: readonly Box[]): T {
  if (values.length !== b * h * w) throw new Error(`cutmixPixels: ${values.length} values for [${b},${h},${w}]`);
  checkBoxes(`cutmixPixels [${b},${h},${w}]`, boxes, b, h, w);
  const out = values.slice() as T;
  boxes.forEach((x, i) => {
    const j = (i + 1) % b;
    for (let y = x.y0; y < x.y1; y++) out.set(values.subarray((j * h + y) * w + x.x0, (j * h + y) * w + x.x1), (i * h + y) * w + x.x0);
  });
  return out;
}
