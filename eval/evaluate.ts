// Evaluate a student on a split: predict every frame of every video (optionally with test-time
// augmentation, tta.ts), accumulate VSPW's metrics (mIoU over the confusion matrix, mVC8/mVC16 per
// video), optionally write the predicted masks. Also the command line of `node eval/run.js` (parsed
// here rather than in main.ts, which runs on import, so that tests can check it).
import type { Frame } from '../dataset/image.ts';
import { writePrediction, type PredictionValues } from '../dataset/predictions.ts';
import type { VideoDataset } from '../dataset/reader.ts';
import type { Student } from '../models/student.ts';
import { chooseModel, type AggregateChoice } from './aggregate.ts';
import { SegMetrics, type SegResult } from './metrics.ts';
import { INFER_MODES, inPasses, predictFrames, type InferMode } from './predict.ts';
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
  /** Whole-input or sliding-window inference (predict.ts); default whole. */
  infer?: InferMode;
  /** Test-time augmentation (scales × flips, merged by vote or mean); none when absent. */
  tta?: TtaOptions;
  /** A second model: each video keeps the model whose masks follow the optical flow better (aggregate.ts). */
  aggregate?: Student;
  /** Called with each video's aggregation choice. */
  onChoice?: (c: AggregateChoice) => void;
  /**
   * Runs on each video's final masks (after aggregation) before they are scored and written, e.g. class
   * correction (vlm.ts); may change the masks in place.
   */
  postprocess?: (video: string, frames: Frame[], preds: Int32Array[]) => Promise<void>;
}

export interface VideoPrediction {
  video: string;
  frames: string[];
  preds: Int32Array[];
}

export interface EvalOutput {
  /** The scores of the final masks (aggregated and post-processed when asked). */
  result: SegResult;
  predictions: VideoPrediction[];
  /** With `aggregate`: each model's own scores ([first, second]) and each video's choice. */
  models?: SegResult[];
  choices?: AggregateChoice[];
}

export async function evaluate(model: Student, ds: VideoDataset, o: EvalOptions): Promise<EvalOutput> {
  const models = o.aggregate ? [model, o.aggregate] : [model];
  for (const [i, m] of models.entries()) {
    if (ds.numClasses !== m.config.numClasses) {
      throw new Error(`evaluate: the ${i === 0 ? 'model' : 'aggregated model'} predicts ${m.config.numClasses} classes but the dataset declares ${ds.numClasses}`);
    }
  }
  const metrics = new SegMetrics(ds.numClasses);
  const perModel = models.map(() => new SegMetrics(ds.numClasses));
  const videos = ds.split(o.split).slice(0, o.videos ?? Infinity);
  const predictions: VideoPrediction[] = [];
  const choices: AggregateChoice[] = [];
  for (const [vi, video] of videos.entries()) {
    const names = ds.frames(video);
    const samples = names.map((f) => ds.readSample(video, f));
    const frames = samples.map((s) => s.frame);
    const odd = frames.findIndex((f) => f.width !== frames[0]!.width || f.height !== frames[0]!.height);
    if (odd > 0) {
      const size = (f: Frame) => `${f.width}×${f.height}`;
      throw new Error(`evaluate: video ${video}: frame ${names[odd]} is ${size(frames[odd]!)} but ${names[0]} is ${size(frames[0]!)} (a video's frames must share one size)`);
    }
    const gts = samples.map((s) => s.labels.labels);
    const raws = samples.map((s) => s.raw.values);
    const predsPerModel: Int32Array[][] = [];
    for (const m of models) predsPerModel.push(await predictVideo(m, frames, o));
    let preds = predsPerModel[0]!;
    if (o.aggregate) {
      const c = await chooseModel(video, frames, predsPerModel, Math.max(1, ds.numClasses - 1));
      choices.push(c);
      o.onChoice?.(c);
      predsPerModel.forEach((p, m) => perModel[m]!.addVideo(p, gts, raws));
      preds = predsPerModel[c.chosen]!.map((p) => p.slice());
    }
    if (o.postprocess) await o.postprocess(video, frames, preds);
    metrics.addVideo(preds, gts, raws);
    if (o.predDir) {
      const { width, height } = frames[0]!;
      names.forEach((f, t) => writePrediction(o.predDir!, video, f, { width, height, labels: preds[t]! }, ds.mapping, { values: o.predValues ?? 'dataset' }));
    }
    predictions.push({ video, frames: names, preds });
    o.progress?.(vi + 1, videos.length);
  }
  return { result: metrics.result(), predictions, ...(o.aggregate ? { models: perModel.map((m) => m.result()), choices } : {}) };
}

/** One model's masks for all frames of a video, `batch` frames per pass (fewer when they do not fit), each chunk with its predecessor. */
async function predictVideo(model: Student, frames: Frame[], o: EvalOptions): Promise<Int32Array[]> {
  const predict = (chunk: Frame[], previous: Frame | undefined) =>
    o.tta ? predictFramesTta(model, chunk, previous, { ...o.tta, infer: o.infer }) : predictFrames(model, chunk, previous, o.infer);
  return inPasses(model, frames, undefined, Math.max(1, ...(o.tta?.scales ?? [])), predict, o.batch ?? 8);
}

/**
 * The per-class IoU table and the summary line, as printed by eval and at the end of training. A class
 * absent from the ground truth has no IoU (NaN, and no part in mIoU): its row is left out and counted on
 * one line, so VSPW's 124 classes on a split that shows a few dozen print those few dozen.
 */
export function formatResult(r: SegResult, classNames: string[]): string {
  const pct = (x: number) => (Number.isNaN(x) ? '   —' : (100 * x).toFixed(1).padStart(5));
  const shown = r.perClassIoU.flatMap((iou, c) => (Number.isNaN(iou) ? [] : [c]));
  const name = (c: number) => classNames[c] ?? String(c);
  const w = Math.max(5, ...shown.map((c) => name(c).length));
  const rows = shown.map((c) => `  ${name(c).padEnd(w)} ${pct(r.perClassIoU[c]!)}`);
  const hidden = r.perClassIoU.length - shown.length;
  if (hidden) rows.push(`  (${hidden} of ${r.perClassIoU.length} classes absent from the ground truth: no IoU, not listed)`);
  return [`  ${'class'.padEnd(w)}   IoU`, ...rows, `mIoU ${pct(r.mIoU)}  mVC8 ${pct(r.mVC8)}  mVC16 ${pct(r.mVC16)}`].join('\n');
}

export const USAGE = `usage: node eval/run.js --checkpoint FILE --data DIR [--split val] [--out PRED_DIR [--overwrite]] [--pred-values dataset|class-ids] [--batch N] [--infer whole|slide] [--base-size N]
                        [--tta [--tta-scales 0.9,1,1.1,1.2] [--tta-mode vote|mean]] [--aggregate FILE]
                        [--vlm-url URL --vlm-model NAME --vlm-classes GROUPS [--vlm-timeout MS]]

  --checkpoint FILE   a model.safetensors written by train/run.js (its metadata holds the config)
  --data DIR          dataset root in VSPW's layout
  --split NAME        split file to evaluate (default val)
  --out PRED_DIR      write predicted masks as PRED_DIR/<video>/<frame>.png (palette PNGs); a folder
                      that exists and is not empty is refused unless --overwrite is given
  --overwrite         write into an existing --out folder: masks replace files of the same names,
                      every other file there is kept
  --pred-values V     mask values: 'dataset' (default: the data set's own label values, e.g. VSPW's
                      class + 1) or 'class-ids' (0..C-1, as some VSPW/PVUW scripts read predictions)
  --batch N           frames per forward pass (default 8; fewer when large frames would not fit a binding)
  --infer M           frames are resized to the model's training scale (its base size: the shorter side
                      in pixels), then 'whole' (default): the model runs on the whole frame; 'slide': on
                      windows of its training crop, stride 2/3 of it, scores averaged where they overlap
  --base-size N       see frames at a shorter side of N pixels instead of the checkpoint's base size
                      (0: as they are)
  --tta               test-time augmentation: predict each frame at several scales, each also
                      flipped horizontally, and merge the views (8 runs of the model with the default scales)
  --tta-scales LIST   comma-separated input scales (default ${TTA_DEFAULTS.scales.join(',')})
  --tta-mode M        'vote' (default): per-pixel majority of the label maps, ties to the largest
                      scale's (unflipped before flipped); 'mean': argmax of the mean probabilities
  --aggregate FILE    a second checkpoint: both models segment every video, and each video keeps the
                      model whose masks agree better with themselves from frame to frame once warped
                      by the Farneback optical flow (mean SSIM); prints each model's scores, the
                      choice per video and the aggregate's scores
  --vlm-url URL       class correction by a vision-language model: an OpenAI-compatible endpoint
                      (the API base, e.g. http://localhost:8000/v1, or its /chat/completions address);
                      per video and group, a crop of the group's region is sent with the question
                      "Is the {label} in the image a {a, b or c}? Please give me the only answer." and
                      the group's pixels in every frame take the answered class; a failed request or an
                      answer naming no single class leaves the masks as they were (logged)
  --vlm-model NAME    the model name sent to the endpoint
  --vlm-classes G     the groups of confusable classes, ';'-separated, each [label:]class,class[,...]
                      (class names as the data set spells them), e.g. 'ground:grass,field;wall,fence'
  --vlm-timeout MS    time allowed per request (default 30000)
  --help              this text`;

export interface EvalArgs {
  checkpoint: string;
  data: string;
  split: string;
  out: string | undefined;
  /** Write into an existing, non-empty --out (replacing files of the same names only). */
  overwrite: boolean;
  predValues: PredictionValues;
  batch: number;
  infer: InferMode;
  /** Overrides the checkpoint's base size (undefined: keep it). */
  baseSize: number | undefined;
  tta: TtaOptions | undefined;
  aggregate: string | undefined;
  vlm: { url: string; model: string; classes: string; timeoutMs: number } | undefined;
}

/** The command line of `node eval/run.js`; undefined for --help. Bad options throw with a clear message. */
export function parseEvalArgs(argv: readonly string[]): EvalArgs | undefined {
  const o: Record<string, string> = { split: 'val', batch: '8', 'pred-values': 'dataset', infer: 'whole' };
  const known = new Set(['--checkpoint', '--data', '--split', '--out', '--batch', '--infer', '--base-size', '--pred-values', '--tta-scales', '--tta-mode', '--aggregate', '--vlm-url', '--vlm-model', '--vlm-classes', '--vlm-timeout']);
  let tta = false;
  let overwrite = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return undefined;
    if (a === '--tta' || a === '--overwrite') {
      if (a === '--tta') tta = true;
      else overwrite = true;
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
  if (o['base-size'] !== undefined && !(/^\d+$/.test(o['base-size']) && Number(o['base-size']) <= 8192)) throw new Error(`--base-size must be a number of pixels in 0..8192, got ${o['base-size']}`);
  if (!INFER_MODES.includes(o.infer as InferMode)) throw new Error(`--infer must be ${INFER_MODES.join(' or ')}, got ${o.infer}`);
  if (overwrite && o.out === undefined) throw new Error('--overwrite is only used with --out');
  for (const k of ['tta-scales', 'tta-mode']) if (o[k] !== undefined && !tta) throw new Error(`--${k} is only used with --tta`);
  const mode = o['tta-mode'] ?? TTA_DEFAULTS.mode;
  const vlmKeys = ['vlm-url', 'vlm-model', 'vlm-classes'];
  const vlmGiven = vlmKeys.filter((k) => o[k] !== undefined);
  if (vlmGiven.length > 0 && vlmGiven.length < 3) {
    throw new Error(`class correction needs ${vlmKeys.map((k) => `--${k}`).join(', ')} together; missing ${vlmKeys.filter((k) => o[k] === undefined).map((k) => `--${k}`).join(', ')}`);
  }
  if (o['vlm-timeout'] !== undefined && vlmGiven.length === 0) throw new Error('--vlm-timeout is only used with --vlm-url');
  if (o['vlm-url'] !== undefined && !/^https?:\/\/[^/]+/.test(o['vlm-url'])) throw new Error(`--vlm-url must be an http(s) address, got ${o['vlm-url']}`);
  const timeoutMs = Number(o['vlm-timeout'] ?? 30000);
  if (!(Number.isInteger(timeoutMs) && timeoutMs >= 1)) throw new Error(`--vlm-timeout must be a positive number of milliseconds, got ${o['vlm-timeout']}`);
  if (mode !== 'vote' && mode !== 'mean') throw new Error(`--tta-mode must be vote or mean, got ${mode}`);
  return {
    checkpoint: o.checkpoint!,
    data: o.data!,
    split: o.split!,
    out: o.out,
    overwrite,
    predValues: o['pred-values'] === 'class-ids' ? 'classIds' : 'dataset',
    batch: Number(o.batch),
    infer: o.infer as InferMode,
    baseSize: o['base-size'] === undefined ? undefined : Number(o['base-size']),
    aggregate: o.aggregate,
    vlm: vlmGiven.length ? { url: o['vlm-url']!, model: o['vlm-model']!, classes: o['vlm-classes']!, timeoutMs } : undefined,
    tta: tta ? { scales: o['tta-scales'] === undefined ? TTA_DEFAULTS.scales : parseScales(o['tta-scales']), mode } : undefined,
  };
}
