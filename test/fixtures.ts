// What the end-to-end tests share: a tiny student (trains in seconds on lavapipe) and the training
// options around it, on a synthetic set each test file writes into its own temporary folder.
import type { StudentConfig } from '../models/student.ts';
import { DEFAULTS, type TrainOptions } from '../train/config.ts';

export const TINY_MODEL: Partial<StudentConfig> = { width: 32, depth: 1, heads: 2, mlpRatio: 2, stemDim: 8, decoderDim: 16, reprDim: 16 };

/**
 * Options of a short run of the tiny student on `data`, written to `out`; `extra` overrides any. It
 * trains on 48x32 crops (the tests' synthetic frames), so frames of that size are used as they are.
 */
export function tinyRun(data: string, out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return { ...DEFAULTS, data, out, batch: 2, warmup: 1, evalEvery: 0, model: TINY_MODEL, init: '', crop: '48x32', ...extra };
}
