// How good a model's pseudo-labels are on the unlabeled training frames, measured against their ground
// truth where the data has it (the embedded set has masks for every frame; semi-supervised benchmarks
// usually hide labels they have). Self-training helps only if the labels it trains on are mostly
// right: U2PL keeps the pixels of lowest entropy, so the accuracy of the most confident shares says
// whether its "reliable" pixels deserve the name. The ablation reports it for the warm-up teacher and
// for each method's final model.
import { noGrad, resizeSoftmaxStats, tidy } from '../engine/index.ts';
import { IGNORE } from '../dataset/labels.ts';
import type { VideoDataset } from '../dataset/reader.ts';
import type { FrameRef } from '../dataset/splits.ts';
import { modelInput, perFrame, scoresAt } from '../eval/predict.ts';
import type { Student } from '../models/student.ts';

export interface PseudoQuality {
  /** Pixels with ground truth that were scored. */
  pixels: number;
  /** Share of them whose argmax label is right. */
  accuracy: number;
  /** Accuracy over the `share` most confident pixels (lowest entropy first), for each share asked. */
  byConfidence: { share: number; accuracy: number }[];
  /**
   * IoU of the pseudo-labels against the ground truth per class id (NaN for a class absent from the
   * ground truth), and their mean over the classes present: accuracy is mostly the large classes'.
   */
  perClassIoU: number[];
  mIoU: number;
  /**
   * Per class id: precision (share of the pixels labeled c that are c; NaN if none is) and recall (share
   * of the pixels that are c labeled c; NaN if none is), over all scored pixels and over the KEPT_SHARE
   * lowest-entropy ones (what U2PL's unsupervised CE keeps at first). A teacher can be right on a class's
   * pixels yet keep few of them (low kept recall), or keep wrong ones (low kept precision).
   */
  perClassPrecision?: number[];
  perClassRecall?: number[];
  kept?: { share: number; precision: number[]; recall: number[] };
}

export const QUALITY_SHARES = [0.2, 0.5, 0.8];
/** The share of pixels U2PL's unsupervised CE keeps at the start (100 − --unsup-drop's default 20 percent). */
export const KEPT_SHARE = 0.8;

/**
 * Accuracy of `labels` against `gt` (IGNORE pixels left out), overall and over the lowest-entropy shares;
 * IoU per class id (at least `numClasses` entries).
 */
export function qualityOf(labels: Int32Array, entropy: Float32Array, gt: Int32Array, shares = QUALITY_SHARES, numClasses = 0): PseudoQuality {
  if (labels.length !== gt.length || entropy.length !== gt.length) {
    throw new Error(`qualityOf: ${labels.length} labels, ${entropy.length} entropies and ${gt.length} ground-truth pixels`);
  }
  const scored: number[] = [];
  for (let i = 0; i < gt.length; i++) if (gt[i] !== IGNORE) scored.push(i);
  const right = (i: number) => (labels[i] === gt[i] ? 1 : 0);
  const mean = (idx: number[]) => (idx.length ? idx.reduce((a, i) => a + right(i), 0) / idx.length : NaN);
  const ranked = [...scored].sort((a, b) => entropy[a]! - entropy[b]!);
  const k = scored.reduce((m, i) => Math.max(m, labels[i]! + 1, gt[i]! + 1), numClasses);
  const [tp, inGt, inPred] = [new Float64Array(k), new Float64Array(k), new Float64Array(k)];
  for (const i of scored) {
    inGt[gt[i]!]++;
    inPred[labels[i]!]++;
    if (labels[i] === gt[i]) tp[gt[i]!]++;
  }
  const perClassIoU = Array.from(tp, (t, c) => (inGt[c]! > 0 ? t / (inGt[c]! + inPred[c]! - t) : NaN));
  const present = perClassIoU.filter((v) => !Number.isNaN(v));
  const ratio = (a: Float64Array, b: Float64Array) => Array.from(a, (x, c) => (b[c]! > 0 ? x / b[c]! : NaN));
  const [keptTp, keptPred] = [new Float64Array(k), new Float64Array(k)];
  for (const i of ranked.slice(0, Math.max(1, Math.round(KEPT_SHARE * ranked.length)))) {
    keptPred[labels[i]!]++;
    if (labels[i] === gt[i]) keptTp[gt[i]!]++;
  }
  return {
    pixels: scored.length,
    accuracy: mean(scored),
    byConfidence: shares.map((share) => ({ share, accuracy: mean(ranked.slice(0, Math.max(1, Math.round(share * ranked.length)))) })),
    perClassIoU,
    mIoU: present.length ? present.reduce((a, b) => a + b, 0) / present.length : NaN,
    perClassPrecision: ratio(tp, inPred),
    perClassRecall: ratio(tp, inGt),
    kept: { share: KEPT_SHARE, precision: ratio(keptTp, keptPred), recall: ratio(keptTp, inGt) },
  };
}

/** The model's pseudo-label quality on every `every`-th of `frames` that has a mask (at the frame's size). */
export async function pseudoLabelQuality(model: Student, ds: VideoDataset, frames: FrameRef[], every = 4): Promise<PseudoQuality> {
  const picked = frames.filter((r, i) => i % every === 0 && ds.hasMask(r.video, r.frame));
  if (!picked.length) throw new Error('pseudoLabelQuality: none of the frames has a ground-truth mask');
  const labels: Int32Array[] = [], entropy: Float32Array[] = [], gt: Int32Array[] = [];
  for (const r of picked) {
    const s = ds.readSample(r.video, r.frame);
    const p = noGrad(() =>
      tidy(() => {
        const { images, clip } = modelInput(model, [s.frame]);
        return resizeSoftmaxStats(perFrame(scoresAt(model, images, 1, clip), clip), [s.frame.height, s.frame.width]);
      }),
    );
    labels.push((await p.ids.data()) as Int32Array);
    entropy.push((await p.entropy.data()) as Float32Array);
    [p.ids, p.maxProb, p.entropy].forEach((t) => t.dispose());
    gt.push(s.labels.labels);
  }
  const cat = <T extends Int32Array | Float32Array>(xs: T[], make: new (n: number) => T): T => {
    const out = new make(xs.reduce((n, x) => n + x.length, 0));
    xs.reduce((at, x) => (out.set(x, at), at + x.length), 0);
    return out;
  };
  return qualityOf(cat(labels, Int32Array), cat(entropy, Float32Array), cat(gt, Int32Array), QUALITY_SHARES, model.config.numClasses);
}

/** "54.1% (top 20%: 85.5%), mIoU 40.2" for tables and logs (mIoU absent in results from before it). */
export function formatQuality(q: PseudoQuality): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const miou = q.mIoU === undefined ? '' : `, mIoU ${(100 * q.mIoU).toFixed(1)}`;
  return `${pct(q.accuracy)} (${q.byConfidence.map((c) => `top ${Math.round(100 * c.share)}%: ${pct(c.accuracy)}`).join(', ')})${miou}`;
}

/** A ratio or metric with nothing to measure: NaN, or null once it went through JSON (results.json, teachers.json). */
export const isMissing = (v: number | null) => v === null || Number.isNaN(v);

/** "disc 56/68 (kept 76/16), …": per class present, precision/recall in percent, all pixels and the kept share. */
export function formatClassPR(q: PseudoQuality, classNames: string[]): string {
  if (!q.perClassPrecision || !q.perClassRecall || !q.kept) return '';
  const n = (v: number) => (isMissing(v) ? '—' : (100 * v).toFixed(0));
  return q.perClassIoU
    .flatMap((v, c) => (isMissing(v) ? [] : [`${classNames[c] ?? c} ${n(q.perClassPrecision![c]!)}/${n(q.perClassRecall![c]!)} (kept ${n(q.kept!.precision[c]!)}/${n(q.kept!.recall[c]!)})`]))
    .join(', ');
}

/** "sky 91.2, person 20.3, …": the per-class IoUs of `q` by class name, classes absent from the ground truth left out. */
export function formatClassIoU(q: PseudoQuality, classNames: string[]): string {
  return q.perClassIoU.flatMap((v, c) => (isMissing(v) ? [] : [`${classNames[c] ?? c} ${(100 * v).toFixed(1)}`])).join(', ');
}
