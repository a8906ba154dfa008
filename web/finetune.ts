// The page's "fine-tune" button: a few supervised training steps on the opened labeled frames, with the
// engine's AdamW. It is train/'s supervised step stripped to its core: the frames at the model's
// training scale (eval/predict.ts atInputSize, as in inference), cross-entropy of the student's class
// scores upsampled to that size inside the loss (resizeCrossEntropy, as in training) against the
// mask's class ids resized alike (nearest) with IGNORE pixels skipped, backward, one optimiser step.
// Scores × classes are never stored at a frame's size, so a 480p frame with many classes stays within
// the bindings a browser allows. No augmentation and no schedule: the point
// is to adapt the model to the frames at hand, and to show the same engine training in a browser.
// Engine code only (no DOM), so it runs in Node too.
import { AdamW, backward, concat, resizeCrossEntropy, resizeNearest, tensor, tidy, zeroGrad } from '../engine/index.ts';
import type { Frame } from '../dataset/image.ts';
import { IGNORE, type LabelMap } from '../dataset/labels.ts';
import { atInputSize, modelInput, perFrame } from '../eval/predict.ts';
import type { Student } from '../models/student.ts';

/** A frame with its labels; `previous` (the frame before it in its video) is a temporal model's context. */
export interface LabeledFrame {
  frame: Frame;
  previous: Frame | undefined;
  labels: LabelMap;
}

export interface FineTuneOptions {
  steps: number;
  lr: number;
  /** Frames per step: the labeled frames are taken in order, `batch` at a time, cycling. */
  batch: number;
  weightDecay: number;
}

export const FINE_TUNE_DEFAULTS: FineTuneOptions = { steps: 5, lr: 5e-4, batch: 4, weightDecay: 0.01 };

/** Runs `o.steps` steps on `samples` (all of one size); calls `onStep(step, loss)` after each. Returns the losses. */
export async function fineTune(model: Student, samples: LabeledFrame[], o: FineTuneOptions, onStep: (step: number, loss: number) => void = () => {}): Promise<number[]> {
  if (!samples.length) throw new Error('fine-tune: no labeled frames (open frames together with their mask PNGs)');
  if (!(Number.isInteger(o.steps) && o.steps >= 1)) throw new Error(`fine-tune: steps must be a positive integer, got ${o.steps}`);
  if (!(o.lr > 0)) throw new Error(`fine-tune: the learning rate must be positive, got ${o.lr}`);
  const params = model.ps.list();
  const opt = new AdamW(params, { lr: o.lr, weightDecay: o.weightDecay });
  const losses: number[] = [];
  try {
    let next = 0;
    for (let step = 1; step <= o.steps; step++) {
      const batch = Array.from({ length: Math.min(o.batch, samples.length) }, (_, i) => samples[(next + i) % samples.length]!);
      next = (next + batch.length) % samples.length;
      const loss = tidy(() => {
        // Each frame with its own context (modelInput pairs consecutive frames; these need not be).
        const inputs = batch.map((s) => modelInput(model, [s.frame], s.previous));
        const clip = inputs[0]!.clip;
        const { width, height } = batch[0]!.labels;
        const input = atInputSize(model, concat(inputs.map((x) => x.images), 0));
        const size: [number, number] = [input.shape[2]!, input.shape[3]!];
        const logits = perFrame(model.forward(input, { clip }).logitsLow, clip);
        const target = new Int32Array(batch.length * width * height);
        batch.forEach((s, i) => target.set(s.labels.labels, i * width * height));
        const labels = tensor(target, [batch.length, 1, height, width], 'i32');
        const same = size[0] === height && size[1] === width;
        const l = resizeCrossEntropy(logits, (same ? labels : resizeNearest(labels, size)).view([batch.length, ...size]), { ignoreIndex: IGNORE });
        backward(l);
        opt.step();
        zeroGrad(params);
        return l;
      });
      const value = await loss.item();
      loss.dispose();
      if (!Number.isFinite(value)) throw new Error(`fine-tune: the loss is ${value} at step ${step}; try a lower learning rate`);
      losses.push(value);
      onStep(step, value);
    }
  } finally {
    opt.dispose();
  }
  return losses;
}
