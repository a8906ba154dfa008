// Inference: frames in, per-pixel class ids out, for frames of any size.
//
// The model sees a frame at its training scale: resized (bilinear) so that its shorter side is the
// config's baseSize (times a test-time scale), sides rounded to multiples of the patch (inputSize).
// It runs either on that whole input ('whole', the default) or on overlapping windows of its training
// crop ('slide', mmsegmentation's slide mode: windows of imageSize, stride 2/3 of it, scores averaged
// where windows overlap). Its class scores stay at 1/4 of the input until the last step, which
// resizes them to the frame and takes the argmax in one kernel (resizeArgmax): the frame-sized
// [B, K, H, W] scores are never stored, so a 480p frame with VSPW's 124 classes fits the 128 MiB a
// binding may hold. Predictions are always at the frame's own size.
//
// A temporal student (config.temporal) predicts frame t from the clip [t−1, t] and keeps the last
// frame's output: causal, so it works the same when frames stream in (the browser), at twice the
// cost of a frame on its own.
//
// Test-time augmentation (several scales, each also flipped, merged by vote) is in tta.ts.
import { add, concat, div, noGrad, pad, resizeArgmax, resizeBilinear, slice, tensor, tidy, type Tensor } from '../engine/index.ts';
import type { Frame } from '../dataset/image.ts';
import type { Student, StudentConfig } from '../models/student.ts';
import { frameTensor } from '../models/input.ts';

export type InferMode = 'whole' | 'slide';
export const INFER_MODES: readonly InferMode[] = ['whole', 'slide'];

/**
 * The size [h, w] the model sees for a frame of h×w at test-time `scale`: the shorter side baseSize ×
 * scale (the frame's own size × scale when baseSize is 0), each side rounded to a multiple of the patch.
 */
export function inputSize(c: Pick<StudentConfig, 'patch' | 'baseSize'>, h: number, w: number, scale = 1): [number, number] {
  const s = (c.baseSize > 0 ? c.baseSize / Math.min(h, w) : 1) * scale;
  const side = (n: number) => Math.max(c.patch, Math.round((n * s) / c.patch) * c.patch);
  return [side(h), side(w)];
}

/** Window origins along one axis of n pixels for windows of `win` with stride `stride`: the last ends at n. */
export function windowStarts(n: number, win: number, stride: number): number[] {
  if (n <= win) return [0];
  const starts: number[] = [];
  for (let s = 0; s + win < n; s += stride) starts.push(s);
  starts.push(n - win);
  return starts;
}

/** A batch [B, 3, H, W] as the model sees it: resized (bilinear) to inputSize(H, W, scale), or itself when it is that size. */
export function atInputSize(model: Student, images: Tensor, scale = 1): Tensor {
  const [, , H, W] = images.shape as [number, number, number, number];
  const [h, w] = inputSize(model.config, H, W, scale);
  return h === H && w === W ? images : resizeBilinear(images, [h, w]);
}

/**
 * Class scores at 1/4 of the model's input for a batch [B, 3, H, W] of any size: [B, K, h/4, w/4] with
 * [h, w] = inputSize(H, W, scale). `clip` as in Student.forward.
 */
export function scoresAt(model: Student, images: Tensor, scale = 1, clip = 1, mode: InferMode = 'whole'): Tensor {
  const input = atInputSize(model, images, scale);
  const [h, w] = [input.shape[2]!, input.shape[3]!];
  if (mode === 'whole') return model.lowLogits(input, clip);
  if (mode !== 'slide') throw new Error(`inference mode '${mode as string}' must be one of ${INFER_MODES.join(', ')}`);
  const [ch, cw] = model.config.imageSize;
  const p = model.config.patch;
  if (p % 4) throw new Error(`slide inference places windows on the 1/4-resolution grid: patch ${p} must be a multiple of 4`);
  // Stride 2/3 of the window (mmsegmentation's 512/341), on the patch grid so windows tile the 1/4 grid.
  const stride = (n: number) => Math.max(p, Math.floor((2 * n) / 3 / p) * p);
  const ys = windowStarts(h, ch, stride(ch));
  const xs = windowStarts(w, cw, stride(cw));
  if (ys.length === 1 && xs.length === 1) return model.lowLogits(input, clip); // the input fits one window
  const [gh, gw] = [h / 4, w / 4];
  const [wh, ww] = [Math.min(ch, h), Math.min(cw, w)]; // a window: the crop, or the input's side where it is smaller
  const count = new Float32Array(gh * gw);
  let sum: Tensor | undefined;
  for (const y of ys) {
    for (const x of xs) {
      const next = tidy(() => {
        const s = model.lowLogits(slice(input, [0, 0, y, x], [Infinity, 3, y + wh, x + ww]), clip);
        const placed = pad(s, [[0, 0], [0, 0], [y / 4, gh - (y + wh) / 4], [x / 4, gw - (x + ww) / 4]]);
        return sum ? add(sum, placed) : placed;
      });
      sum?.dispose();
      sum = next;
      for (let i = y / 4; i < (y + wh) / 4; i++) for (let j = x / 4; j < (x + ww) / 4; j++) count[i * gw + j]! += 1;
    }
  }
  return tidy(() => div(sum!, tensor(count, [1, 1, gh, gw])));
}

/**
 * Logits [B, K, H, W] at the input's size: scoresAt's resized, for diagnostics on small frames (the
 * page's logits). Inference reduces scoresAt's instead (classIdsAt): at VSPW's
 * sizes these do not fit a binding.
 */
export function logitsAt(model: Student, images: Tensor, scale = 1, clip = 1): Tensor {
  return resizeBilinear(scoresAt(model, images, scale, clip), [images.shape[2]!, images.shape[3]!]);
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

/** One [K, ...] output per frame from the outputs of modelInput's batch: for pairs, the second frame's. */
export function perFrame(out: Tensor, clip: number): Tensor {
  return clip === 1 ? out : slice(out, [1], [Infinity], [2]);
}

/** Class ids [B, H, W] at a frame size [H, W] from class scores [B, K, h, w] at any resolution. */
export function classIdsAt(scores: Tensor, size: readonly [number, number]): Tensor {
  const { ids, max } = resizeArgmax(scores, size);
  max.dispose();
  return ids;
}

/** A batch of label maps [B, H, W] read back as one Int32Array per frame. */
export async function labelsPerFrame(labels: Tensor): Promise<Int32Array[]> {
  const [b, h, w] = labels.shape as [number, number, number];
  const all = (await labels.data()) as Int32Array;
  return Array.from({ length: b }, (_, i) => all.slice(i * h * w, (i + 1) * h * w));
}

/** The most bytes one frame's largest intermediate tensor may take when frames are batched (as bindingBudget). */
const PASS_BUDGET = 64 * 2 ** 20;

/**
 * How many frames of H×W to run in one pass, at most `wanted`: the largest per-frame tensors of the
 * student (the decoder's 3×3 im2col columns, the 1/4-resolution class scores; twice for a temporal
 * student's pairs) must fit PASS_BUDGET together, so a batch of 480p frames never makes a binding over
 * WebGPU's 128 MiB. At least 1: a single frame too large for a binding is the error that names it.
 */
export function framesPerPass(c: StudentConfig, H: number, W: number, wanted: number, maxScale = 1): number {
  const [h, w] = inputSize(c, H, W, maxScale);
  const grid = (h / 4) * (w / 4);
  const perFrame = 4 * grid * Math.max(9 * (c.decoderDim + c.stemDim), c.numClasses) * (c.temporal ? 2 : 1);
  return Math.max(1, Math.min(wanted, Math.floor(PASS_BUDGET / perFrame)));
}

/**
 * Predicted class ids for consecutive frames of one video (all of one size); `previous` as in
 * modelInput. Runs in passes of as many frames as fit (framesPerPass), each with its predecessor.
 */
export async function predictFrames(model: Student, frames: Frame[], previous?: Frame, mode: InferMode = 'whole'): Promise<Int32Array[]> {
  return inPasses(model, frames, previous, 1, async (chunk, prev) => {
    const { width, height } = chunk[0]!;
    const labels = noGrad(() =>
      tidy(() => {
        const { images, clip } = modelInput(model, chunk, prev);
        return classIdsAt(perFrame(scoresAt(model, images, 1, clip, mode), clip), [height, width]);
      }),
    );
    try {
      return await labelsPerFrame(labels);
    } finally {
      labels.dispose();
    }
  });
}

/**
 * Runs `run` on consecutive chunks of `frames`, each with the frame before it: chunks of at most
 * `wanted` frames (all by default), fewer when they would not fit (framesPerPass at `maxScale`).
 */
export async function inPasses(
  model: Student,
  frames: Frame[],
  previous: Frame | undefined,
  maxScale: number,
  run: (chunk: Frame[], previous: Frame | undefined) => Promise<Int32Array[]>,
  wanted = frames.length,
): Promise<Int32Array[]> {
  const n = framesPerPass(model.config, frames[0]!.height, frames[0]!.width, wanted, maxScale);
  const out: Int32Array[] = [];
  for (let i = 0; i < frames.length; i += n) out.push(...(await run(frames.slice(i, i + n), i ? frames[i - 1] : previous)));
  return out;
}

/** An error message with what to change when a tensor outgrew a binding of the device (the CLIs' last word). */
export function explainLimits(message: string): string {
  if (!message.includes('maxStorageBufferBindingSize')) return message;
  return `${message}\n(one tensor is over what the device lets a shader bind: use a smaller --base-size, or for training a smaller --crop or --batch)`;
}
