// Segmentation metrics as the VSPW devkit computes them (docs/METHODS.md §8): mIoU from a confusion matrix,
// and video consistency VC_n (mVC8, mVC16).
//
// mIoU. The confusion matrix counts (ground truth, prediction) pairs over pixels whose ground truth is
// a class (ignored pixels are skipped whatever was predicted). IoU_c = TP/(TP+FP+FN). The mean is over
// the classes present in the ground truth. VSPW_code's evaluator_test.py imports its Evaluator from a
// utils.py that the public repository lacks; the copies used with VSPW (Tube-Link's
// scripts/test_vspw/iou_cal.py and the PVUW challenge's iou_cal.py derived from it) compute
// `isval = confusion.sum(axis=1) > 0; mIoU = nansum(IoU·isval) / isval.sum()`. So a class that was
// predicted but never occurs in the ground truth (IoU 0 by the formula) does NOT lower the mean; here
// its perClassIoU is NaN, like a class absent from both. (A plain np.nanmean of the IoUs, as in many
// other Evaluators, would count such a class as 0.)
//
// VC_n (VSPW_code VC_perclip.py, get_common). For each video of L frames the windows start at
// i = 0 … L−n−1 (`for i in range(len(list_) - clip_num)`): the last full window, starting at L−n, is
// NOT included, and videos with L ≤ n give no window. In a window, a pixel is stable in the ground truth
// if its value in frames i+1 … i+n−1 equals frame i's (likewise for the prediction); the window's score
// is |stable GT ∧ stable prediction| / |stable GT|. A window with no stable GT pixel scores 0/0 = NaN and
// is dropped by the devkit's nanmean. VC_n is the mean over all windows of all videos (not a mean of
// per-video means). The devkit compares the raw mask values, ignored values included: pass the raw GT
// masks (rawGts) when the label mapping is not one-to-one (VSPW maps both 0 and 255 to ignore).

export interface SegResult {
  /** IoU per class; NaN for a class absent from the ground truth (it does not enter mIoU). */
  perClassIoU: number[];
  /** Mean of perClassIoU over the classes present in the ground truth; NaN if none is. */
  mIoU: number;
  /** Mean VC over all 8-frame (16-frame) windows; NaN if there was none. */
  mVC8: number;
  mVC16: number;
  /** Windows that entered mVC8 and mVC16. */
  vcWindows: { 8: number; 16: number };
  /** Pixels counted in the confusion matrix (non-ignored ground truth). */
  pixels: number;
}

type Labels = ArrayLike<number>;

const VC_LENGTHS = [8, 16] as const;

export class SegMetrics {
  /** confusion[g·C + p]: pixels of ground-truth class g predicted as p. Float64: VSPW's counts pass 2^32. */
  readonly confusion: Float64Array;
  private readonly vc = new Map<number, { sum: number; windows: number }>(VC_LENGTHS.map((n) => [n, { sum: 0, windows: 0 }]));

  constructor(
    readonly numClasses: number,
    readonly ignore = 255,
  ) {
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`SegMetrics: numClasses must be a positive integer, got ${numClasses}`);
    if (Number.isInteger(ignore) && ignore >= 0 && ignore < numClasses)
      throw new Error(`SegMetrics: ignore value ${ignore} is one of the classes 0..${numClasses - 1}`);
    this.confusion = new Float64Array(numClasses * numClasses);
  }

  /** Adds one frame to the confusion matrix: prediction (class ids) and ground truth (class ids or ignore). */
  addFrame(pred: Labels, gt: Labels): void {
    if (pred.length !== gt.length) throw new Error(`SegMetrics.addFrame: prediction has ${pred.length} pixels, ground truth ${gt.length}`);
    const C = this.numClasses;
    for (let i = 0; i < gt.length; i++) {
      const g = gt[i]!;
      if (g === this.ignore) continue;
      const p = pred[i]!;
      if (!(g >= 0 && g < C && Number.isInteger(g)))
        throw new Error(`SegMetrics.addFrame: ground truth ${g} at pixel ${i} is neither a class 0..${C - 1} nor ignore ${this.ignore}`);
      if (!(p >= 0 && p < C && Number.isInteger(p))) throw new Error(`SegMetrics.addFrame: prediction ${p} at pixel ${i} is not a class 0..${C - 1}`);
      this.confusion[g * C + p]++;
    }
  }

  /**
   * Adds a whole video: every frame to the confusion matrix (as addFrame) and its VC8/VC16 windows.
   * rawGts, if given, are the ground-truth masks' own values, used for VC in place of gts (see above).
   */
  addVideo(preds: Labels[], gts: Labels[], rawGts?: Labels[]): void {
    if (preds.length !== gts.length) throw new Error(`SegMetrics.addVideo: ${preds.length} predicted frames for ${gts.length} ground-truth frames`);
    if (rawGts && rawGts.length !== gts.length) throw new Error(`SegMetrics.addVideo: ${rawGts.length} raw ground-truth frames for ${gts.length} frames`);
    preds.forEach((p, t) => this.addFrame(p, gts[t]!));
    for (const n of VC_LENGTHS) {
      const acc = this.vc.get(n)!;
      for (const s of vcScores(preds, rawGts ?? gts, n)) {
        if (Number.isNaN(s)) continue;
        acc.sum += s;
        acc.windows++;
      }
    }
  }

  result(): SegResult {
    const C = this.numClasses;
    const m = this.confusion;
    const perClassIoU: number[] = [];
    let sum = 0, present = 0, pixels = 0;
    for (let c = 0; c < C; c++) {
      let gtCount = 0, predCount = 0;
      for (let k = 0; k < C; k++) {
        gtCount += m[c * C + k]!;
        predCount += m[k * C + c]!;
      }
      pixels += gtCount;
      const tp = m[c * C + c]!;
      const iou = gtCount > 0 ? tp / (gtCount + predCount - tp) : NaN;
      perClassIoU.push(iou);
      if (gtCount > 0) {
        sum += iou;
        present++;
      }
    }
    const vc = (n: number) => {
      const a = this.vc.get(n)!;
      return a.windows > 0 ? a.sum / a.windows : NaN;
    };
    return {
      perClassIoU,
      mIoU: present > 0 ? sum / present : NaN,
      mVC8: vc(8),
      mVC16: vc(16),
      vcWindows: { 8: this.vc.get(8)!.windows, 16: this.vc.get(16)!.windows },
      pixels,
    };
  }
}

/**
 * VC_perclip.py's per-window scores for one video: windows i = 0 … L−n−1 (none if L ≤ n); NaN for a
 * window without a stable ground-truth pixel.
 */
export function vcScores(preds: Labels[], gts: Labels[], n: number): number[] {
  const L = gts.length;
  if (preds.length !== L) throw new Error(`vcScores: ${preds.length} predicted frames for ${L} ground-truth frames`);
  if (!Number.isInteger(n) || n < 2) throw new Error(`vcScores: window length must be an integer ≥ 2, got ${n}`);
  const P = L > 0 ? gts[0]!.length : 0;
  for (let t = 0; t < L; t++) {
    if (gts[t]!.length !== P || preds[t]!.length !== P)
      throw new Error(`vcScores: frame ${t} has ${preds[t]!.length} predicted and ${gts[t]!.length} ground-truth pixels, frame 0 has ${P}`);
  }
  const scores: number[] = [];
  for (let i = 0; i < L - n; i++) {
    let stableGt = 0, both = 0;
    for (let x = 0; x < P; x++) {
      const g = gts[i]![x], p = preds[i]![x];
      let gs = true, ps = true;
      for (let j = 1; j < n && gs; j++) {
        gs = gts[i + j]![x] === g;
        if (ps) ps = preds[i + j]![x] === p;
      }
      if (gs) {
        stableGt++;
        if (ps) both++;
      }
    }
    scores.push(both / stableGt);
  }
  return scores;
}
