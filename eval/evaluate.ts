// Evaluate a student on a split: predict every frame of every video, accumulate VSPW's metrics
// (mIoU over the confusion matrix, mVC8/mVC16 per video), optionally write the predicted masks.
import type { Frame } from '../dataset/image.ts';
import { writePrediction, type PredictionValues } from '../dataset/predictions.ts';
import type { VideoDataset } from '../dataset/reader.ts';
import type { Student } from '../models/student.ts';
import { SegMetrics, type SegResult } from './metrics.ts';
import { predictFrames } from './predict.ts';

export interface EvalOptions {
  split: string;
  /** Only the first N videos of the split (for quick checks during training). */
  videos?: number;
  /** Write predicted masks here (PRED_DIR/<video>/<frame>.png). */
  predDir?: string;
  /** Mask values: the data set's own label values (default, e.g. VSPW's class + 1) or class ids. */
  predValues?: PredictionValues;
  /** Frames per forward pass. */
  batch?: number;
  /** Called after each video with (done, total). */
  progress?: (done: number, total: number) => void;
}

export interface VideoPrediction {
  video: string;
  frames: string[];
  preds: Int32Array[];
}

export async function evaluate(model: Student, ds: VideoDataset, o: EvalOptions): Promise<{ result: SegResult; predictions: VideoPrediction[] }> {
  if (ds.numClasses !== model.config.numClasses) {
    throw new Error(`evaluate: the model predicts ${model.config.numClasses} classes but the dataset declares ${ds.numClasses}`);
  }
  const metrics = new SegMetrics(ds.numClasses);
  const videos = ds.split(o.split).slice(0, o.videos ?? Infinity);
  const predictions: VideoPrediction[] = [];
  const batch = o.batch ?? 8;
  for (const [vi, video] of videos.entries()) {
    const names = ds.frames(video);
    const preds: Int32Array[] = [];
    const gts: Int32Array[] = [];
    const raws: Uint8Array[] = [];
    for (let i = 0, previous: Frame | undefined; i < names.length; i += batch) {
      const chunk = names.slice(i, i + batch);
      const samples = chunk.map((f) => ds.readSample(video, f));
      preds.push(...(await predictFrames(model, samples.map((s) => s.frame), previous)));
      previous = samples[samples.length - 1]!.frame;
      for (const s of samples) {
        gts.push(s.labels.labels);
        raws.push(s.raw.values);
      }
    }
    metrics.addVideo(preds, gts, raws);
    if (o.predDir) {
      const { width, height } = ds.readFrame(video, names[0]!);
      names.forEach((f, t) => writePrediction(o.predDir!, video, f, { width, height, labels: preds[t]! }, ds.mapping, { values: o.predValues ?? 'dataset' }));
    }
    predictions.push({ video, frames: names, preds });
    o.progress?.(vi + 1, videos.length);
  }
  return { result: metrics.result(), predictions };
}

/** Per-class IoU table and the summary line, as printed by eval and at the end of training. */
export function formatResult(r: SegResult, classNames: string[]): string {
  const pct = (x: number) => (Number.isNaN(x) ? '   —' : (100 * x).toFixed(1).padStart(5));
  const w = Math.max(5, ...classNames.map((n) => n.length));
  const rows = r.perClassIoU.map((iou, c) => `  ${(classNames[c] ?? String(c)).padEnd(w)} ${pct(iou)}`);
  return [`  ${'class'.padEnd(w)}   IoU`, ...rows, `mIoU ${pct(r.mIoU)}  mVC8 ${pct(r.mVC8)}  mVC16 ${pct(r.mVC16)}`].join('\n');
}
