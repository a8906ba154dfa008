// Shared by the kernel micro-benchmarks (bench/conv.ts, bench/groupnorm.ts): GPU time of one call by
// the profiler's per-dispatch timestamps, and random inputs. On lavapipe GPU time is wall time of
// the passes, so other processes on the machine inflate it.
import { beginProfiledStep, device, flush, startProfiling, stopProfiling, tensor, type Profile, type Tensor } from '../engine/index.ts';

/** Kernel time (summed timestamps), wall time and the profile of one run of `fn`, after the queue drains. */
export async function timeGpu(fn: () => void): Promise<{ kernelMs: number; wallMs: number; profile: Profile }> {
  await device().gpu.queue.onSubmittedWorkDone();
  startProfiling();
  beginProfiledStep();
  const t0 = performance.now();
  fn();
  flush();
  await device().gpu.queue.onSubmittedWorkDone();
  const wallMs = performance.now() - t0;
  const profile = await stopProfiling();
  return { kernelMs: profile.kernelMs, wallMs, profile };
}

/** A tensor of uniform values in [-1, 1). */
export const randTensor = (shape: number[]): Tensor => tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.random() * 2 - 1), shape);
