// Pseudo-label ensembling for retraining (docs/METHODS.md §4, the PVUW 2024 winner's last stage): the
// teacher and the student, each at several scales and flipped, vote by averaging class probabilities
// for every unlabeled training frame; pixels whose ensembled confidence is below a threshold stay
// unlabeled, unless (--pseudo-balance) they are among their class's most confident. The masks are
// written as class-id PNGs (IGNORE = 255) into a folder that appears only when complete (temporary
// name, then rename), so a crash never leaves half a set to train on. Labelling takes most of an hour
// on a large set: a stopped run resumes it from the frames already labelled (DIR.raw, see below).
// The winners did not publish their weights or thresholds; the scales and the 0.7 default are ours.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { concat, resizeArgmax, tidy } from '../engine/index.ts';
import { writeFileAtomic } from '../engine/checkpoint-node.ts';
import { IGNORE, type LabelMap } from '../dataset/labels.ts';
import { readPrediction, writePrediction } from '../dataset/predictions.ts';
import type { VideoDataset } from '../dataset/reader.ts';
import type { FrameRef } from '../dataset/splits.ts';
import { framesPerPass } from '../eval/predict.ts';
import { meanProbabilities, ttaViews } from '../eval/tta.ts';
import type { Student } from '../models/student.ts';
import { frameTensor } from '../models/input.ts';

export const PSEUDO_SCALES = [0.75, 1, 1.25];

export interface PseudoOptions {
  /** Pixels whose ensembled confidence is below this stay unlabeled ... */
  threshold: number;
  /** ... unless they are among the most confident `balance` share of the pixels predicted as their class
   * (class-balanced self-training, CBST); 0: one threshold for all classes. */
  balance: number;
}

export interface PseudoStats {
  frames: number;
  /** Share of pixels given a label. */
  kept: number;
  /** Share of labeled pixels that agree with the ground truth, over frames that have it (NaN if none). */
  accuracy: number;
  /** Per class, the confidence a pixel predicted as it needs to be kept (NaN: never predicted). */
  thresholds: number[];
  /** Per class, over frames with ground truth: the share of its pixels labeled as it (recall), and the
   * share of the pixels labeled as it that are it (precision); NaN where there are none. */
  recall: number[];
  precision: number[];
}

/** Confidences are stored as 16-bit fractions: a threshold moves by less than 2e-5. */
const Q = 65535;

/**
 * DIR.raw holds the first pass's output, frame i in `i.bin`: width and height (uint32 LE), then the
 * class ids (a byte a pixel), then the confidences (uint16 LE, in 1/Q). Each file is renamed into place
 * when whole, and frames are labelled in order, so the files 0..m−1 are the first m frames' labels.
 * `manifest.json` names what they were made from: the frames to label and a hash of the models' weights;
 * `seconds` how long the labelling has taken so far, over every run that added to it.
 */
const RAW_HEAD = 8;

async function rawManifest(models: Student[], frames: FrameRef[]): Promise<string> {
  const hash = createHash('sha256');
  for (const m of models) {
    for (const [name, t] of [...m.ps.tensors].sort(([a], [b]) => (a < b ? -1 : 1))) {
      hash.update(name);
      const v = (await t.data()) as Float32Array;
      hash.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
  }
  return JSON.stringify({ models: hash.digest('hex'), frames: frames.map((r) => `${r.video}/${r.frame}`) });
}

const rawFile = (raw: string, i: number) => path.join(raw, `${i}.bin`);

/** Frame i of `raw`: its size, and its pixel p's class id and confidence (in 1/Q). */
function readRaw(raw: string, i: number): { width: number; height: number; id: (p: number) => number; conf: (p: number) => number } {
  const file = rawFile(raw, i);
  const buf = readFileSync(file);
  const width = buf.readUInt32LE(0);
  const height = buf.readUInt32LE(4);
  const n = width * height;
  if (buf.length !== RAW_HEAD + 3 * n) throw new Error(`pseudo-labels: ${file} holds ${buf.length} bytes, not the ${RAW_HEAD + 3 * n} of a ${width}×${height} frame; remove ${raw} to label afresh`);
  return { width, height, id: (p) => buf[RAW_HEAD + p]!, conf: (p) => buf.readUInt16LE(RAW_HEAD + n + 2 * p) };
}

/**
 * How many frames `raw` already holds from the same models for the same frames (their counts added to
 * `hist`), and the seconds spent on them; otherwise `raw` is emptied and started afresh with `manifest`.
 */
function resumeRaw(raw: string, manifest: string, hist: Uint32Array): { done: number; seconds: number } {
  const listed = path.join(raw, 'manifest.json');
  if (existsSync(listed) && readFileSync(listed, 'utf8') === manifest) {
    let i = 0;
    for (; existsSync(rawFile(raw, i)); i++) {
      const { width, height, id, conf } = readRaw(raw, i);
      for (let p = 0; p < width * height; p++) hist[id(p) * (Q + 1) + conf(p)]!++;
    }
    const timed = path.join(raw, 'seconds');
    return { done: i, seconds: existsSync(timed) ? Number(readFileSync(timed, 'utf8')) || 0 : 0 };
  }
  rmSync(raw, { recursive: true, force: true });
  mkdirSync(raw, { recursive: true });
  writeFileSync(listed, manifest);
  return { done: 0, seconds: 0 };
}

/**
 * Per class c, the confidence (in 1/Q) a pixel predicted as c needs: `threshold`, lowered so that at
 * least the `balance` share of c's predicted pixels is kept. `hist[c·(Q+1) + q]` counts c's pixels at q.
 */
export function classThresholds(hist: Uint32Array, numClasses: number, threshold: number, balance: number): number[] {
  const global = Math.ceil(threshold * Q);
  return Array.from({ length: numClasses }, (_, c) => {
    const h = hist.subarray(c * (Q + 1), (c + 1) * (Q + 1));
    const n = h.reduce((a, b) => a + b, 0);
    if (!n) return NaN;
    const want = balance * n;
    let q = Q;
    for (let seen = h[Q]!; q > 0 && seen < want; ) seen += h[--q]!;
    return Math.min(global, q) / Q;
  });
}

/**
 * Writes pseudo-labels for `frames` into `dir` (atomically, as a whole folder). Two passes: the models
 * label every frame (argmax and confidence, kept on disk, 3 bytes a pixel, so memory stays flat on a
 * large set) and count confidences per class; then each class's threshold is applied and the masks written.
 * A first pass stopped part-way is taken up where it stopped (same models, same frames; else begun again).
 */
export async function writePseudoLabels(
  models: Student[],
  ds: VideoDataset,
  frames: FrameRef[],
  dir: string,
  opts: PseudoOptions,
  /** Progress (it takes minutes): `resumed` with the frames labelled by earlier, stopped calls and the
   * seconds they took (once, before any new work), `frames` with the number done after each chunk. */
  on: { resumed?: (done: number, seconds: number) => void; frames?: (done: number) => void } = {},
): Promise<PseudoStats> {
  const k = ds.numClasses;
  if (k >= IGNORE) throw new Error(`pseudo-labels: ${k} classes do not fit the masks' 8-bit ids (at most ${IGNORE - 1})`);
  const tmp = `${dir}.partial`;
  const raw = `${dir}.raw`;
  rmSync(tmp, { recursive: true, force: true });
  const hist = new Uint32Array(k * (Q + 1));
  const t0 = performance.now();
  const earlier = resumeRaw(raw, await rawManifest(models, frames), hist);
  let done = earlier.done;
  on.resumed?.(done, earlier.seconds);
  // Runs of consecutive frames of one video (videos may differ in size, and a batch holds one size),
  // cut into chunks of up to 4 frames (fewer for large frames: predict.ts framesPerPass). Each frame
  // is decoded once; the first of a run also sizes its chunks.
  const runs: FrameRef[][] = [];
  for (const r of frames.slice(done)) {
    const last = runs.at(-1);
    if (last && last[0]!.video === r.video) last.push(r);
    else runs.push([r]);
  }
  for (const run of runs) {
    const first = ds.readFrame(run[0]!.video, run[0]!.frame);
    const per = framesPerPass(models[0]!.config, first.height, first.width, 4, Math.max(...PSEUDO_SCALES));
    for (let i = 0; i < run.length; i += per) {
      const chunk = run.slice(i, i + per);
      const imgs = chunk.map((r, j) => (i + j === 0 ? first : ds.readFrame(r.video, r.frame)));
      const { width, height } = imgs[0]!;
      const { ids: labels, max: conf } = tidy(() => {
        // Every model at every scale, with and without flip (a temporal model sees each frame as its own
        // context); the mean probabilities are reduced at the frame's size without being stored there.
        const p = meanProbabilities(models, concat(imgs.map(frameTensor), 0), ttaViews(PSEUDO_SCALES));
        return resizeArgmax(p, [height, width]);
      });
      const ids = (await labels.data()) as Int32Array;
      const cs = (await conf.data()) as Float32Array;
      labels.dispose();
      conf.dispose();
      const n = width * height;
      for (let j = 0; j < chunk.length; j++) {
        const buf = Buffer.alloc(RAW_HEAD + 3 * n);
        buf.writeUInt32LE(width, 0);
        buf.writeUInt32LE(height, 4);
        for (let p = 0; p < n; p++) {
          const c = ids[j * n + p]!;
          const q = Math.round(cs[j * n + p]! * Q);
          buf[RAW_HEAD + p] = c;
          buf.writeUInt16LE(q, RAW_HEAD + n + 2 * p);
          hist[c * (Q + 1) + q]!++;
        }
        await writeFileAtomic(rawFile(raw, done + j), buf); // a frame's file is there whole or not at all
      }
      done += chunk.length;
      await writeFileAtomic(path.join(raw, 'seconds'), Buffer.from(String(earlier.seconds + (performance.now() - t0) / 1000)));
      on.frames?.(done);
    }
  }

  const thresholds = classThresholds(hist, k, opts.threshold, opts.balance);
  const need = thresholds.map((t) => Math.round(t * Q));
  let kept = 0;
  let total = 0;
  let agree = 0;
  let checked = 0;
  const truth = new Float64Array(k); // ground-truth pixels per class
  const labeledAs = new Float64Array(k); // pixels kept as the class, where the ground truth is known
  const right = new Float64Array(k);
  frames.forEach((r, i) => {
    const { width, height, id, conf } = readRaw(raw, i);
    const n = width * height;
    const out = new Int32Array(n);
    const gt = ds.hasMask(r.video, r.frame) ? ds.readLabels(r.video, r.frame).labels : undefined;
    for (let p = 0; p < n; p++) {
      const c = id(p);
      const ok = conf(p) >= need[c]!;
      out[p] = ok ? c : IGNORE;
      kept += Number(ok);
      const g = gt?.[p] ?? IGNORE;
      if (g === IGNORE) continue;
      truth[g]!++;
      if (ok) {
        checked++;
        labeledAs[c]!++;
        if (g === c) {
          agree++;
          right[c]!++;
        }
      }
    }
    total += n;
    writePrediction(tmp, r.video, r.frame, { width, height, labels: out }, ds.mapping, { values: 'classIds' });
    rmSync(rawFile(raw, i));
  });
  rmSync(raw, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  const ratio = (a: Float64Array, b: Float64Array) => Array.from(a, (v, c) => (b[c] ? v / b[c]! : NaN));
  return { frames: frames.length, kept: kept / Math.max(1, total), accuracy: checked ? agree / checked : NaN, thresholds, recall: ratio(right, truth), precision: ratio(right, labeledAs) };
}

/**
 * The frames a retraining round labels: every `every`-th of each video's unlabeled frames, counted
 * among them (neighbours are near-duplicates; labelling runs 12 forward passes a frame). Counting
 * among the unlabeled frames, not by position in the video, keeps a set labelled every K-th frame
 * (--labeled-every) from losing all of them to the same stride.
 */
export function framesToLabel(unlabeled: FrameRef[], every: number): FrameRef[] {
  if (!(Number.isInteger(every) && every >= 1)) throw new Error(`framesToLabel: every = ${every} must be a positive integer`);
  const seen = new Map<string, number>();
  return unlabeled.filter((r) => {
    const i = seen.get(r.video) ?? 0;
    seen.set(r.video, i + 1);
    return i % every === 0;
  });
}

/** Loaders of the pseudo-labels in `dir` for `frames`, keyed "video/frame" (see Batches). */
export function pseudoLabelSource(ds: VideoDataset, frames: FrameRef[], dir: string): Map<string, () => LabelMap> {
  if (!existsSync(dir)) throw new Error(`pseudo-labels: ${dir} does not exist`);
  return new Map(frames.map((r) => [`${r.video}/${r.frame}`, () => readPrediction(dir, r.video, r.frame, ds.mapping, 'classIds')]));
}
