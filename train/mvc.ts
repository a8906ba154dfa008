// Masked video consistency (MVC, PVUW 2024): the pieces the training step composes.
//
// The student sees frames with random blocks masked out (set to 0, the mean colour of normalised
// frames) and must reproduce the EMA teacher's argmax on the unmasked frames, weighted by the share
// q of confident teacher pixels. The masking follows MIC (lhoyer/MIC, masking_transforms.py): a
// coarse grid of blocks, each kept with probability 1 − ratio, upsampled nearest to the frame.
// Masks are drawn on the CPU from the seeded generator (deterministic by seed, one number
// per block) and applied on the GPU with one broadcast multiply. Each frame gets its own
// draw, so a block masked in one frame of a clip is usually visible in its neighbours, which the
// student's temporal block (models/student.ts, `temporal`) can look at.
import { mul, tensor, tidy, type Tensor } from '../engine/index.ts';
import type { Rng } from '../dataset/rng.ts';

export interface MaskOptions {
  /** Block side in pixels. */
  block: number;
  /** Probability that a block is masked. */
  ratio: number;
}

/**
 * MIC masks 64-px blocks of 512-px crops (1/8 of the side) with ratio 0.7; MVC's own values are
 * unpublished. For 96×128 frames, 1/8 of the side is 12-16 px; 16 px is two 8-px patches, so a
 * masked block removes whole tokens (no half-visible patch leaks its content into the embedding)
 * and the grid is 6×8 blocks, coarse enough that a masked object part must be filled from context
 * or neighbouring frames rather than from adjacent pixels. The ratio keeps MIC's 0.7.
 */
export const mvcDefaults: MaskOptions = { block: 16, ratio: 0.7 };

/** Python's round (MIC computes the grid with it): halves go to the even neighbour, 2.5 → 2. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 === 1 ? r - 1 : r;
}

/** Block masks [b, 1, h, w] (row-major), 1 = kept, 0 = masked; an independent draw per frame. */
export function blockMask(b: number, h: number, w: number, opts: MaskOptions, rng: Rng): Float32Array {
  for (const [name, v] of [['b', b], ['h', h], ['w', w]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`blockMask: ${name} = ${v} must be a positive integer (shape [${b},1,${h},${w}])`);
  }
  if (!(opts.block > 0)) throw new Error(`blockMask: block = ${opts.block} must be positive`);
  if (!(opts.ratio >= 0 && opts.ratio <= 1)) throw new Error(`blockMask: ratio = ${opts.ratio} must be in [0, 1]`);
  const gh = Math.max(1, roundHalfEven(h / opts.block));
  const gw = Math.max(1, roundHalfEven(w / opts.block));
  // Nearest upsampling as PyTorch's F.interpolate(mode='nearest'): source cell floor(y · gh / h).
  const rowCell = Array.from({ length: h }, (_, y) => Math.floor((y * gh) / h));
  const colCell = Array.from({ length: w }, (_, x) => Math.floor((x * gw) / w));
  const out = new Float32Array(b * h * w);
  const grid = new Uint8Array(gh * gw);
  for (let i = 0; i < b; i++) {
    for (let c = 0; c < grid.length; c++) grid[c] = rng.float() >= opts.ratio ? 1 : 0;
    const base = i * h * w;
    for (let y = 0; y < h; y++) {
      const row = rowCell[y]! * gw;
      for (let x = 0; x < w; x++) out[base + y * w + x] = grid[row + colCell[x]!]!;
    }
  }
  return out;
}

/** `images` [B,3,H,W] times the mask [B,1,H,W] from `blockMask`: masked pixels become 0 (the mean colour). */
export function maskImages(images: Tensor, mask: Float32Array): Tensor {
  const [b, c, h, w] = images.shape as [number, number, number, number];
  if (images.rank !== 4 || c !== 3 || images.dtype !== 'f32') {
    throw new Error(`maskImages: expected f32 images [B,3,H,W], got ${images.dtype} [${images.shape}]`);
  }
  if (mask.length !== b * h * w) throw new Error(`maskImages: mask has ${mask.length} values, images [${images.shape}] need [${b},1,${h},${w}] = ${b * h * w}`);
  return tidy(() => mul(images, tensor(mask, [b, 1, h, w])));
}

/** MIC's quality weight: the share of pixels whose teacher max probability is ≥ threshold. */
export function qualityWeight(maxProb: ArrayLike<number>, threshold = 0.968): number {
  if (maxProb.length === 0) throw new Error('qualityWeight: no pixels (empty max-probability array)');
  let n = 0;
  for (let i = 0; i < maxProb.length; i++) if (maxProb[i]! >= threshold) n++;
  return n / maxProb.length;
}
