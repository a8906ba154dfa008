// Pseudo-label ensembling for retraining (docs/METHODS.md §4, the PVUW 2024 winner's last stage): the
// teacher and the student, each at several scales and flipped, vote by averaging class probabilities
// for every unlabeled training frame; pixels whose ensembled confidence is below a threshold stay
// unlabeled. The masks are written as class-id PNGs (IGNORE = 255) into a folder that appears only
// when complete (temporary name, then rename), so a crash never leaves half a set to train on.
// The winners did not publish their weights or thresholds; the scales and the 0.7 default are ours.
import { existsSync, renameSync, rmSync } from 'node:fs';
import { concat, resizeArgmax, tidy } from '../engine/index.ts';
import { IGNORE, type LabelMap } from '../dataset/labels.ts';
import { readPrediction, writePrediction } from '../dataset/predictions.ts';
import type { VideoDataset } from '../dataset/reader.ts';
import type { FrameRef } from '../dataset/splits.ts';
import { framesPerPass } from '../eval/predict.ts';
import { meanProbabilities, ttaViews } from '../eval/tta.ts';
import type { Student } from '../models/student.ts';
import { frameTensor } from '../models/input.ts';

export const PSEUDO_SCALES = [0.75, 1, 1.25];

export interface PseudoStats {
  frames: number;
  /** Share of pixels given a label. */
  kept: number;
  /** Share of labeled pixels that agree with the ground truth, over frames that have it (NaN if none). */
  accuracy: number;
}

/** Writes pseudo-labels for `frames` into `dir` (atomically, as a whole folder). */
export async function writePseudoLabels(
  models: Student[],
  ds: VideoDataset,
  frames: FrameRef[],
  dir: string,
  threshold: number,
  /** Called with the number of frames done after each chunk (a progress line: it takes minutes). */
  onFrames?: (done: number) => void,
): Promise<PseudoStats> {
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  let kept = 0;
  let total = 0;
  let agree = 0;
  let checked = 0;
  let done = 0;
  // Runs of consecutive frames of one video (videos may differ in size, and a batch holds one size),
  // cut into chunks of up to 4 frames (fewer for large frames: predict.ts framesPerPass). Each frame
  // is decoded once; the first of a run also sizes its chunks.
  const runs: FrameRef[][] = [];
  for (const r of frames) {
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
      chunk.forEach((r, j) => {
        const n = width * height;
        const out = new Int32Array(n);
        const gt = ds.hasMask(r.video, r.frame) ? ds.readLabels(r.video, r.frame).labels : undefined;
        for (let k = 0; k < n; k++) {
          const ok = cs[j * n + k]! >= threshold;
          out[k] = ok ? ids[j * n + k]! : IGNORE;
          kept += Number(ok);
          if (ok && gt && gt[k] !== IGNORE) {
            checked++;
            agree += Number(gt[k] === out[k]);
          }
        }
        total += n;
        writePrediction(tmp, r.video, r.frame, { width, height, labels: out }, ds.mapping, { values: 'classIds' });
      });
      done += chunk.length;
      onFrames?.(done);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { frames: frames.length, kept: kept / Math.max(1, total), accuracy: checked ? agree / checked : NaN };
}

/** Loaders of the pseudo-labels in `dir` for `frames`, keyed "video/frame" (see Batches). */
export function pseudoLabelSource(ds: VideoDataset, frames: FrameRef[], dir: string): Map<string, () => LabelMap> {
  if (!existsSync(dir)) throw new Error(`pseudo-labels: ${dir} does not exist`);
  return new Map(frames.map((r) => [`${r.video}/${r.frame}`, () => readPrediction(dir, r.video, r.frame, ds.mapping, 'classIds')]));
}
