// Evaluate a student on a split: predict every frame of every video (optionally with test-time
// augmentation, tta.ts), accumulate VSPW's metrics (mIoU over the confusion matrix, mVC8/mVC16 per
// video), optionally write the predicted masks. Also the command line of `node eval/run.js` (parsed
// here rather than in main.ts, which runs on import, so that tests can check it).
import type { Frame } from '../dataset/image.ts';
import { writePrediction, type PredictionValues } from '../dataset/predictions.ts';
import type { VideoDataset } from '../dataset/reader.ts';
import type { Student } from '../models/student.ts';
import { SegMetrics, type SegResult } from './metrics.ts';
import { predictFrames } from './predict.ts';
import { TTA_DEFAULTS, parseScales, predictFramesTta, type TtaOptions } from './tta.ts';

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
  /** Test-time augmentation (scales × flips, merged by vote or mean); none when absent. */
  tta?: TtaOptions;
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
      const frames = samples.map((s) => s.frame);
      preds.push(...(await (o.tta ? predictFramesTta(model, frames, previous, o.tta) : predictFrames(model, frames, previous))));
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

export const USAGE = `usage: node eval/run.js --checkpoint FILE --data DIR [--split val] [--out PRED_DIR] [--pred-values dataset|class-ids] [--batch N]
                        [--tta [--tta-scales 0.9,1,1.1,1.2] [--tta-mode vote|mean]]

  --checkpoint FILE   a model.safetensors written by train/run.js (its metadata holds the config)
  --data DIR          dataset root in VSPW's layout
  --split NAME        split file to evaluate (default val)
  --out PRED_DIR      write predicted masks as PRED_DIR/<video>/<frame>.png (palette PNGs)
  --pred-values V     mask values: 'dataset' (default: the data set's own label values, e.g. VSPW's
                      class + 1) or 'class-ids' (0..C-1, as some VSPW/PVUW scripts read predictions)
  --batch N           frames per forward pass (default 8)
  --tta               test-time augmentation: predict each frame at several scales, each also
                      flipped horizontally, and merge the views (8 runs of the model with the default scales)
  --tta-scales LIST   comma-separated input scales (default ${TTA_DEFAULTS.scales.join(',')})
  --tta-mode M        'vote' (default): per-pixel majority of the label maps, ties to the largest
                      scale's (unflipped before flipped); 'mean': argmax of the mean probabilities
  --help              this text`;

export interface EvalArgs {
  checkpoint: string;
  data: string;
  split: string;
  out: string | undefined;
  predValues: PredictionValues;
  batch: number;
  tta: TtaOptions | undefined;
}

/** The command line of `node eval/run.js`; undefined for --help. Bad options throw with a clear message. */
export function parseEvalArgs(argv: readonly string[]): EvalArgs | undefined {
  const o: Record<string, string> = { split: 'val', batch: '8', 'pred-values': 'dataset' };
  const known = new Set(['--checkpoint', '--data', '--split', '--out', '--batch', '--pred-values', '--tta-scales', '--tta-mode']);
  let tta = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return undefined;
    if (a === '--tta') {
      tta = true;
      continue;
    }
    if (!known.has(a)) throw new Error(`unknown option '${a}' (see --help)`);
    const v = argv[++i];
    if (v === undefined || v.startsWith('--')) throw new Error(`option ${a} needs a value`);
    o[a.slice(2)] = v;
  }
  for (const k of ['checkpoint', 'data']) if (!o[k]) throw new Error(`--${k} is required (see --help)`);
  if (o['pred-values'] !== 'dataset' && o['pred-values'] !== 'class-ids') throw new Error(`--pred-values must be dataset or class-ids, got ${o['pred-values']}`);
  if (!(Number.isInteger(Number(o.batch)) && Number(o.batch) >= 1)) throw new Error(`--batch must be a positive integer, got ${o.batch}`);
  for (const k of ['tta-scales', 'tta-mode']) if (o[k] !== undefined && !tta) throw new Error(`--${k} is only used with --tta`);
  const mode = o['tta-mode'] ?? TTA_DEFAULTS.mode;
  if (mode !== 'vote' && mode !== 'mean') throw new Error(`--tta-mode must be vote or mean, got ${mode}`);
  return {
    checkpoint: o.checkpoint!,
    data: o.data!,
    split: o.split!,
    out: o.out,
    predValues: o['pred-values'] === 'class-ids' ? 'classIds' : 'dataset',
    batch: Number(o.batch),
    tta: tta ? { scales: o['tta-scales'] === undefined ? TTA_DEFAULTS.scales : parseScales(o['tta-scales']), mode } : undefined,
  };
}
