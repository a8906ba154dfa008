// The engine's side of the benchmarks, measured by the same protocol as bench/tfjs-peers.ts.
import { AdamW, backward, matmul, randInt, randNormal, resizeCrossEntropy, sync, tidy, zeroGrad, type Tensor } from '../engine/index.ts';
import { MATMUL_REPS, MATMUL_SAMPLES, VIT_STEPS, WARMUP } from './tfjs-peers.ts';
import { median } from './stats.ts';
import type { Frame } from '../dataset/image.ts';
import { predictFrames } from '../eval/predict.ts';
import { Student, defaultStudentConfig } from '../models/student.ts';
import { vitTrainer } from './vit.ts';

const STUDENT_FRAMES = 5;
const STUDENT_STEPS = 10;

/** f32 1024×1024 matmul throughput in GFLOP/s: MATMUL_REPS products, then a read-back of the last. */
export async function engineMatmulGflops(n = 1024): Promise<number> {
  const a = randNormal([n, n], 1);
  const b = randNormal([n, n], 2);
  const sample = async () => {
    const t0 = performance.now();
    const outs: Tensor[] = [];
    for (let r = 0; r < MATMUL_REPS; r++) outs.push(tidy(() => matmul(a, b)));
    await outs[outs.length - 1]!.data();
    const ms = performance.now() - t0;
    for (const o of outs) o.dispose();
    return ms;
  };
  for (let i = 0; i < WARMUP; i++) await sample();
  const times: number[] = [];
  for (let i = 0; i < MATMUL_SAMPLES; i++) times.push(await sample());
  a.dispose();
  b.dispose();
  return (2 * n ** 3 * MATMUL_REPS) / (median(times) * 1e6);
}

/** Median ms of one ViT training step (forward, backward, Adam, loss read-back). */
export async function engineVitStepMs(): Promise<number> {
  const t = vitTrainer();
  const step = async () => {
    const t0 = performance.now();
    const loss = t.step();
    await loss.item();
    const ms = performance.now() - t0;
    loss.dispose();
    return ms;
  };
  for (let i = 0; i < WARMUP; i++) await step();
  const times: number[] = [];
  for (let i = 0; i < VIT_STEPS; i++) times.push(await step());
  t.dispose();
  await sync();
  return median(times);
}

/** The frame the student benchmarks predict (fixed pseudo-random colours: the model's work does not depend on them). */
export function benchFrame(width: number, height: number): Frame {
  return { width, height, rgb: Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 37) % 251) };
}

/**
 * Frames per second of the default student (10 classes, 128×96 crops, base size 96) predicting a
 * frame, as `node eval/run.js` does: resize to the base size, forward, class ids at the frame's size
 * (resizeArgmax), read back.
 */
export async function engineStudentFps(width = 854, height = 480): Promise<number> {
  const model = new Student(defaultStudentConfig(10), 0);
  const frame = benchFrame(width, height);
  for (let i = 0; i < WARMUP; i++) await predictFrames(model, [frame]);
  const times: number[] = [];
  for (let i = 0; i < STUDENT_FRAMES; i++) {
    const t0 = performance.now();
    await predictFrames(model, [frame]);
    times.push(performance.now() - t0);
  }
  model.ps.dispose();
  return 1000 / median(times);
}

/**
 * Median ms of one supervised training step of the default student (10 classes) on a fixed batch of 4
 * crops of 96×128: forward, cross-entropy, backward, AdamW, loss read-back (the PyTorch peer's protocol).
 */
export async function engineStudentStepMs(): Promise<number> {
  const model = new Student(defaultStudentConfig(10), 0);
  const params = model.ps.list();
  const opt = new AdamW(params, { lr: 1e-3, weightDecay: 0.01 });
  const images = randNormal([4, 3, 96, 128], 3);
  const labels = randInt([4, 96, 128], 0, 10, 4);
  const step = async () => {
    const t0 = performance.now();
    const loss = tidy(() => {
      const l = resizeCrossEntropy(model.forward(images).logitsLow, labels);
      backward(l);
      opt.step(1e-3);
      zeroGrad(params);
      return l;
    });
    await loss.item();
    loss.dispose();
    return performance.now() - t0;
  };
  for (let i = 0; i < WARMUP; i++) await step();
  const times: number[] = [];
  for (let i = 0; i < STUDENT_STEPS; i++) times.push(await step());
  for (const t of [images, labels]) t.dispose();
  opt.dispose();
  model.ps.dispose();
  return median(times);
}
