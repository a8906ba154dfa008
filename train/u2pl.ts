// U2PL (docs/METHODS.md §1): unreliable pseudo-labels and the pixel contrastive loss with per-class memory
// queues of negatives.
//
// The teacher's pseudo-labels and entropies come from one GPU kernel at the frame's size
// (resizeSoftmaxStats). The selection work is done on the CPU with plain typed arrays and per-pixel
// loops: percentiles, the reliable/unreliable masks and the per-class index lists (anchor
// candidates, positives, negatives). The random draws (anchors and negatives, with replacement) use
// the CPU rng too, so a float64 reference can replay them exactly. Only the loss itself runs on the
// GPU, batched over all classes in a handful of ops: gatherRows + l2Normalize for the anchors, one
// matmul for the class centres (the positives), one concat + l2Normalize of centres and queues (the
// keys), one gatherDot for every anchor's cosines with its centre and its drawn negatives (reading the
// keys in place: materialising anchors × negatives × features for a batched matmul made the whole
// loss ~4× slower on lavapipe), and one crossEntropy.
//
// Classes are indexed by class id throughout (the authors' code indexes them by loop position, their
// issue #111), and the labeled-image negatives follow the paper (their code's mask for them is always
// empty, issue #171).
import {
  Tensor,
  concat,
  crossEntropy,
  detach,
  gatherDot,
  gatherRows,
  l2Normalize,
  matmul,
  mul,
  noGrad,
  shapeStr,
  tensor,
  tidy,
  zeros,
} from '../engine/index.ts';
import { IGNORE } from '../dataset/labels.ts';
import type { Rng } from '../dataset/rng.ts';
import type { ClassQueues } from './queue.ts';

// ---- the dynamic partition ------------------------------------------------------------------------

/**
 * α_t = alpha0·(1 − progress): the percentage of pixels treated as unreliable. U2PL uses the epoch
 * ratio e/E; here `progress` is the share of the semi-supervised schedule done, a continuous version
 * of it ((step − supSteps)/(steps − supSteps) in the training loop). Clamped to [0, 1].
 */
export function alphaT(progress: number, alpha0 = 20): number {
  if (!Number.isFinite(progress)) throw new Error(`alphaT: progress must be a finite number, got ${progress}`);
  return alpha0 * (1 - Math.min(1, Math.max(0, progress)));
}

function checkLength(op: string, what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`${op}: ${what} has ${got} values, expected ${want}`);
}

/** probs [B, K, H, W] → pixel-major [B·H·W, K], the layout selectContrast reads. */
export function toPixelMajor(probs: Float32Array, b: number, k: number, h: number, w: number): Float32Array {
  checkLength('toPixelMajor', `probs [${b},${k},${h},${w}]`, probs.length, b * k * h * w);
  const hw = h * w;
  const out = new Float32Array(probs.length);
  for (let i = 0; i < b; i++) for (let c = 0; c < k; c++) for (let q = 0; q < hw; q++) out[(i * hw + q) * k + c] = probs[(i * k + c) * hw + q]!;
  return out;
}

/** numpy.percentile's default (linear interpolation between the two nearest ranks); q in [0, 100]. */
export function percentile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) throw new Error('percentile: no values');
  if (!(q >= 0 && q <= 100)) throw new Error(`percentile: q must be in [0, 100], got ${q}`);
  const s = Float64Array.from(values).sort();
  const pos = (q / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

function validEntropies(op: string, labels: Int32Array, entropy: Float32Array): number[] {
  checkLength(op, 'entropy', entropy.length, labels.length);
  const out: number[] = [];
  labels.forEach((l, i) => {
    if (l !== IGNORE) out.push(entropy[i]!);
  });
  return out;
}

function checkAlpha(op: string, alpha: number): void {
  if (!(alpha >= 0 && alpha <= 100)) throw new Error(`${op}: alpha must be a percentage in [0, 100], got ${alpha}`);
}

/**
 * A copy of `labels` with the `alpha` percent highest-entropy pixels set to IGNORE: those above
 * percentile(H of the non-IGNORE pixels, 100 − alpha), over the whole batch at once, as U2PL. (U2PL
 * drops H ≥ the threshold; "above" differs only at ties and means alpha = 0 drops nothing.)
 */
export function dropUnreliable(labels: Int32Array, entropy: Float32Array, alpha: number): Int32Array {
  checkAlpha('dropUnreliable', alpha);
  const valid = validEntropies('dropUnreliable', labels, entropy);
  const out = labels.slice();
  if (!valid.length) return out;
  const thr = percentile(valid, 100 - alpha);
  out.forEach((l, i) => {
    if (l !== IGNORE && entropy[i]! > thr) out[i] = IGNORE;
  });
  return out;
}

/**
 * U2PL's code multiplies the unsupervised CE (a mean over the kept pixels) by pixels / kept pixels:
 * the more pseudo-labels the entropy filter drops, the more each kept one weighs. Not in the paper;
 * followed here. 0 when nothing is kept (the CE is 0 then too).
 */
export function unsupScale(target: Int32Array): number {
  const kept = target.reduce((n, v) => n + (v !== IGNORE ? 1 : 0), 0);
  return kept ? target.length / kept : 0;
}

export interface EntropyMasks {
  /** 1 for reliable pixels (anchor and positive candidates). */
  low: Uint8Array;
  /** 1 for unreliable pixels (negative candidates). */
  high: Uint8Array;
}

/**
 * Among the non-IGNORE pixels: low = H ≤ percentile(H, alpha), high = H ≥ percentile(H, 100 − alpha)
 * (unlabeled images; U2PL computes both over the batch's valid pixels).
 */
export function entropyMasks(labels: Int32Array, entropy: Float32Array, alpha: number): EntropyMasks {
  checkAlpha('entropyMasks', alpha);
  const valid = validEntropies('entropyMasks', labels, entropy);
  const low = new Uint8Array(labels.length);
  const high = new Uint8Array(labels.length);
  if (!valid.length) return { low, high };
  const lowThr = percentile(valid, alpha);
  const highThr = percentile(valid, 100 - alpha);
  labels.forEach((l, i) => {
    if (l === IGNORE) return;
    low[i] = entropy[i]! <= lowThr ? 1 : 0;
    high[i] = entropy[i]! >= highThr ? 1 : 0;
  });
  return { low, high };
}

/** Labeled images: every pixel with a label is both reliable and a negative candidate. */
export function labeledMasks(labels: Int32Array): EntropyMasks {
  const low = Uint8Array.from(labels, (l) => (l !== IGNORE ? 1 : 0));
  return { low, high: low.slice() };
}

// ---- contrastive selection (CPU) ------------------------------------------------------------------

export interface ContrastInput {
  /** Pixels (rows of the representation), all images of the batch at the representation's resolution. */
  n: number;
  /** Classes. */
  k: number;
  /** [n] ground truth (labeled images) or pseudo-labels (unlabeled ones); IGNORE allowed. */
  labels: Int32Array;
  /** [n] 1 for pixels of labeled images. */
  labeled: Uint8Array;
  /** [n·k] the teacher's softmax, pixel-major. */
  teacherProb: Float32Array;
  low: Uint8Array;
  high: Uint8Array;
}

export interface SelectOptions {
  /** Anchors need teacher prob of their class above this (U2PL: 0.3). */
  probThreshold?: number;
  /** Unlabeled negatives of c: c ranks in [lowRank, highRank) among the teacher's classes (U2PL: 3, 20). */
  lowRank?: number;
  highRank?: number;
}

/** Pixel index lists of one class. */
export interface ClassSelection {
  /** Label c, reliable, teacher p_c > probThreshold. */
  anchorCandidates: Int32Array;
  /** Label c and reliable: their mean teacher feature is the positive key. */
  positivePixels: Int32Array;
  /** Unreliable pixels that are negatives for c (see selectContrast). */
  negativePixels: Int32Array;
}

/**
 * Per class id c (the result's index): anchor candidates, positives and negatives. Ranks are 0-based
 * (0 = the teacher's most probable class; ties go to the lower class id). A negative for c is an
 * unreliable (`high`) pixel where, on an unlabeled image, c ranks in [lowRank, highRank), or, on a
 * labeled image, c ranks below lowRank and the pixel's true label (known, not IGNORE) is not c. Both
 * ranks are clipped to k, so with k ≤ lowRank (3 by default) classes there are no unlabeled negatives.
 */
export function selectContrast(inp: ContrastInput, opts: SelectOptions = {}): ClassSelection[] {
  const { n, k, labels, labeled, teacherProb, low, high } = inp;
  const op = 'selectContrast';
  for (const [what, arr] of [['labels', labels], ['labeled', labeled], ['low', low], ['high', high]] as const) checkLength(op, what, arr.length, n);
  checkLength(op, 'teacherProb', teacherProb.length, n * k);
  const thr = opts.probThreshold ?? 0.3;
  const lowRank = Math.min(opts.lowRank ?? 3, k);
  const highRank = Math.min(opts.highRank ?? 20, k);
  const anchors: number[][] = Array.from({ length: k }, () => []);
  const positives: number[][] = Array.from({ length: k }, () => []);
  const negatives: number[][] = Array.from({ length: k }, () => []);
  const order = new Array<number>(k);
  for (let i = 0; i < n; i++) {
    const l = labels[i]!;
    if (low[i] && l !== IGNORE && l >= 0 && l < k) {
      positives[l]!.push(i);
      if (teacherProb[i * k + l]! > thr) anchors[l]!.push(i);
    }
    if (!high[i]) continue;
    for (let c = 0; c < k; c++) order[c] = c;
    // Stable sort by descending probability: order[r] is the class of rank r.
    order.sort((a, b) => teacherProb[i * k + b]! - teacherProb[i * k + a]! || a - b);
    if (labeled[i]) {
      if (l === IGNORE) continue;
      for (let r = 0; r < lowRank; r++) if (order[r] !== l) negatives[order[r]!]!.push(i);
    } else {
      for (let r = lowRank; r < highRank; r++) negatives[order[r]!]!.push(i);
    }
  }
  return anchors.map((a, c) => ({
    anchorCandidates: Int32Array.from(a),
    positivePixels: Int32Array.from(positives[c]!),
    negativePixels: Int32Array.from(negatives[c]!),
  }));
}

// ---- the contrastive loss ---------------------------------------------------------------------------

export interface ContrastOptions {
  /** Anchors drawn per class, with replacement (U2PL: 256). */
  anchors?: number;
  /** Negatives drawn per anchor from the class's queue, with replacement (U2PL: 50). */
  negatives?: number;
  /** Softmax temperature of the cosines (U2PL: 0.5). */
  temperature?: number;
}

/** The random part of the loss, as index lists. */
export interface ContrastDraws {
  /** Class ids used, increasing: those with an anchor candidate and a non-empty queue. */
  classes: number[];
  /** [classes.length · anchors] rows of the representation (pixels), class by class. */
  anchors: Int32Array;
  /** [classes.length · anchors · negatives] rows of queue(classes[u]), anchor by anchor. */
  negatives: Int32Array;
}

/**
 * Draw anchors and negatives on the CPU rng: for each class c in increasing id with an anchor
 * candidate and queueLengths[c] > 0, `anchors` candidates, then `anchors·negatives` queue rows.
 */
export function drawContrast(sel: readonly ClassSelection[], queueLengths: ArrayLike<number>, rng: Rng, opts: ContrastOptions = {}): ContrastDraws {
  const a = opts.anchors ?? 256;
  const m = opts.negatives ?? 50;
  if (!(Number.isInteger(a) && a >= 1 && Number.isInteger(m) && m >= 1)) throw new Error(`drawContrast: anchors and negatives must be positive integers, got ${a} and ${m}`);
  checkLength('drawContrast', 'queueLengths', queueLengths.length, sel.length);
  const classes: number[] = [];
  const anchors: number[] = [];
  const negatives: number[] = [];
  sel.forEach((s, c) => {
    const cand = s.anchorCandidates;
    const len = queueLengths[c]!;
    if (!cand.length || !len) return;
    classes.push(c);
    for (let j = 0; j < a; j++) anchors.push(cand[rng.int(cand.length)]!);
    for (let j = 0; j < a * m; j++) negatives.push(rng.int(len));
  });
  return { classes, anchors: Int32Array.from(anchors), negatives: Int32Array.from(negatives) };
}

function checkReps(op: string, studentRep: Tensor, teacherRep: Tensor, sel: readonly ClassSelection[], queues: ClassQueues): void {
  if (studentRep.rank !== 2 || studentRep.shape[1] !== queues.dim || teacherRep.rank !== 2 || teacherRep.shape[0] !== studentRep.shape[0] || teacherRep.shape[1] !== queues.dim) {
    throw new Error(`${op}: studentRep ${shapeStr(studentRep.shape)} and teacherRep ${shapeStr(teacherRep.shape)} must both be [n, ${queues.dim}] (the queues' dim)`);
  }
  if (sel.length !== queues.numClasses) throw new Error(`${op}: a selection of ${sel.length} classes for queues of ${queues.numClasses}`);
}

/**
 * The loss for given draws: per used class c, each anchor (student feature) against the positive
 * (mean teacher feature over c's positive pixels) and its negatives (rows of queue c), logits =
 * cos / temperature, cross-entropy with target 0; the mean over all anchors, which is the mean over
 * classes of the per-class means (every class has the same number of anchors). Gradients flow into
 * studentRep only. Call inside the training step's tidy (intermediates are saved for backward).
 */
export function contrastiveLossFromDraws(
  studentRep: Tensor,
  teacherRep: Tensor,
  sel: readonly ClassSelection[],
  queues: ClassQueues,
  draws: ContrastDraws,
  temperature = 0.5,
): Tensor {
  const op = 'contrastiveLoss';
  checkReps(op, studentRep, teacherRep, sel, queues);
  const u = draws.classes.length;
  if (!u) throw new Error(`${op}: no class to contrast (draws.classes is empty)`);
  const n = studentRep.shape[0]!;
  const a = draws.anchors.length / u;
  const m = draws.negatives.length / (u * a);
  if (!Number.isInteger(a) || !Number.isInteger(m)) throw new Error(`${op}: ${draws.anchors.length} anchors and ${draws.negatives.length} negatives do not split evenly over ${u} classes`);
  const anchors = l2Normalize(gatherRows(studentRep, draws.anchors)); // [u·a, r]
  // The keys: the used classes' centres (rows 0..u-1) then their queues, one after another, as unit rows.
  const keys = noGrad(() =>
    tidy(() => {
      // Centres as one matmul: row s of `avg` holds 1/|P| at class s's positive pixels.
      const avg = new Float32Array(u * n);
      draws.classes.forEach((c, s) => {
        const px = sel[c]!.positivePixels;
        if (!px.length) throw new Error(`${op}: class ${c} has anchors but no positive pixels`);
        for (const i of px) avg[s * n + i] = 1 / px.length;
      });
      const centres = matmul(tensor(avg, [u, n]), detach(teacherRep));
      return l2Normalize(concat([centres, ...draws.classes.map((c) => queues.get(c)!)], 0));
    }),
  );
  // Each anchor's row of logits reads its class centre, then its m drawn queue rows.
  const rows = new Int32Array(u * a * (1 + m));
  let at = u;
  draws.classes.forEach((c, s) => {
    const len = queues.length(c);
    for (let i = s * a; i < (s + 1) * a; i++) {
      rows[i * (1 + m)] = s;
      for (let j = 0; j < m; j++) {
        const q = draws.negatives[i * m + j]!;
        if (!(q >= 0 && q < len)) throw new Error(`${op}: negative ${q} is outside queue ${c} of length ${len}`);
        rows[i * (1 + m) + 1 + j] = at + q;
      }
    }
    at += len;
  });
  const logits = mul(gatherDot(anchors, keys, rows), 1 / temperature); // [u·a, 1 + m] cosines / temperature
  return crossEntropy(logits, zeros([u * a], 'i32'));
}

/**
 * U2PL's contrastive loss for one step. First every class's negative pixels (teacher features) are
 * pushed into its queue, as U2PL does for every class before sampling; then anchors and negatives are
 * drawn on `rng` (drawContrast) and the loss computed (contrastiveLossFromDraws). Returns undefined
 * when no class has both an anchor candidate and a non-empty queue (the caller then adds nothing).
 */
export function contrastiveLoss(
  studentRep: Tensor,
  teacherRep: Tensor,
  sel: readonly ClassSelection[],
  queues: ClassQueues,
  rng: Rng,
  opts: ContrastOptions = {},
): Tensor | undefined {
  checkReps('contrastiveLoss', studentRep, teacherRep, sel, queues);
  noGrad(() =>
    tidy(() => {
      const teacher = detach(teacherRep);
      sel.forEach((s, c) => {
        if (s.negativePixels.length) queues.push(c, gatherRows(teacher, s.negativePixels));
      });
    }),
  );
  const lengths = sel.map((_, c) => queues.length(c));
  const draws = drawContrast(sel, lengths, rng, opts);
  if (!draws.classes.length) return undefined;
  return contrastiveLossFromDraws(studentRep, teacherRep, sel, queues, draws, opts.temperature ?? 0.5);
}
