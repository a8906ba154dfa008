// Inter-frame feature reconstruction (IFR, CVPR 2022; docs/METHODS.md §2), as jfzhuang/IFR's
// mmseg/models/segmentors/ifr.py does it for one pair (target frame t, reference frame r):
//   P[k] = mean of r's decoder features over the pixels where r's own argmax is k;
//   f'   = softmax_k(cos(f, P[k]) / 0.5) · P   for every pixel feature f of t (P unnormalised here);
//   loss = CE(upsample(classify(f')) / 0.01, labels of t), ignoring 255.
// Gradients reach both frames' features (through f and through P) and the classifier.
//
// Features are handled as [D, n] matrices (NCHW with N = 1, pixels flattened), so every step is a
// matmul, a row op or an elementwise op and nothing is read back to the CPU: the per-class means are a
// one-hot [K, n] (class ids compared with an index column) times the features, divided by the counts.
// The authors keep only the classes present in r; here every class gets a row and the absent ones are
// masked out of the softmax by a -1e30 added to their similarity, so their weight is exactly 0.
//
// Intermediates are not disposed here (backward needs several of them): call inside the training
// step's tidy(), as with the model's forward pass.
import {
  add, affine, div, eq, gt, l2Normalize, matmul, maximum, reshape, resizeCrossEntropy, shapeStr, softmax, sum, tensor,
  type Tensor,
} from '../engine/index.ts';

/** Weight ramp exp(−5(1 − min(t, T)/T)²) of the IFR losses at step t (t clipped to [0, T]); 1 when T = 0. */
export function ifrRamp(t: number, T: number): number {
  if (!Number.isFinite(t) || !Number.isFinite(T) || T < 0) throw new Error(`ifrRamp: need a finite step t and a ramp length T ≥ 0, got t ${t}, T ${T}`);
  if (T === 0) return 1;
  const phase = 1 - Math.min(Math.max(t, 0), T) / T;
  return Math.exp(-5 * phase * phase);
}

function checkFeatures(op: string, what: string, x: Tensor): void {
  if (x.rank !== 2 || x.dtype !== 'f32') throw new Error(`${op}: ${what} must be f32 [D, n], got ${x}`);
}

/**
 * Per-class mean features: protos [K, D] (row k = mean of the columns of `features` [D, n] whose class
 * is k) and present [K] (1 where class k has a pixel, else 0; absent rows are 0). `classes` [n] i32;
 * values outside [0, numClasses) join no class.
 */
export function prototypes(features: Tensor, classes: Tensor, numClasses: number): { protos: Tensor; present: Tensor } {
  const op = 'prototypes';
  checkFeatures(op, 'features', features);
  const n = features.shape[1]!;
  if (classes.dtype !== 'i32' || classes.rank !== 1 || classes.shape[0] !== n) {
    throw new Error(`${op}: classes must be i32 [${n}] (one per column of features ${shapeStr(features.shape)}), got ${classes}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`${op}: numClasses must be a positive integer, got ${numClasses}`);
  const ids = tensor(Int32Array.from({ length: numClasses }, (_, k) => k), [numClasses, 1], 'i32');
  const row = classes.view([1, n]);
  const onehot = eq(row, ids); // [K, n], 1 where pixel j has class k
  ids.dispose();
  row.dispose();
  const counts = sum(onehot, 1, true); // [K, 1]
  const protos = div(matmul(onehot, features, { transB: true }), maximum(counts, 1));
  const hit = gt(counts, 0);
  counts.dispose();
  const present = hit.view([numClasses]);
  hit.dispose();
  return { protos, present };
}

/**
 * Attention of every pixel feature on the prototypes: softmax over k of cos(f_j, P_k) / temperature,
 * [K, n]. Classes with present[k] = 0 get weight exactly 0 (if none is present, the weights are uniform
 * and, with absent rows of 0 as prototypes() gives, the reconstruction is 0).
 */
export function ifrAttention(features: Tensor, protos: Tensor, present: Tensor, temperature = 0.5): Tensor {
  const op = 'ifrAttention';
  checkFeatures(op, 'features', features);
  const [d] = features.shape as [number, number];
  const k = protos.shape[0]!;
  if (protos.rank !== 2 || protos.dtype !== 'f32' || protos.shape[1] !== d) {
    throw new Error(`${op}: protos must be f32 [K, ${d}] to match features ${shapeStr(features.shape)}, got ${protos}`);
  }
  if (present.dtype !== 'f32' || present.rank !== 1 || present.shape[0] !== k) throw new Error(`${op}: present must be f32 [${k}] (one per prototype), got ${present}`);
  if (!(temperature > 0)) throw new Error(`${op}: temperature must be positive, got ${temperature}`);
  const cos = matmul(l2Normalize(protos, 1), l2Normalize(features, 0)); // [K, n]
  const col = present.view([k, 1]);
  const mask = affine(col, 1e30, -1e30); // 0 where present, −1e30 where absent
  col.dispose();
  return softmax(add(affine(cos, 1 / temperature), mask), 0);
}

/** Reconstruct features [D, n] from prototypes [K, D]: column j = Σ_k attention[k, j]·P[k]. */
export function reconstruct(features: Tensor, protos: Tensor, present: Tensor, temperature = 0.5): Tensor {
  return matmul(protos, ifrAttention(features, protos, present, temperature), { transA: true });
}

export interface IfrOptions {
  /** Softmax temperature of the cosine similarities (0.5). */
  temperature?: number;
  /** The reconstructed logits are divided by this before the cross-entropy (0.01). */
  logitTemperature?: number;
  /** Label ignored by the cross-entropy (255). */
  ignoreIndex?: number;
}

/**
 * The IFR loss of one pair: mean cross-entropy over the non-ignored pixels of `labels` [1, H, W] i32
 * (the target's ground truth, or for an unlabeled target the student's argmax of its upsampled logits)
 * of the logits of the target's features [1, D, h, w] reconstructed from the prototypes of the
 * reference's features [1, D, h', w'] grouped by `refClasses` (i32, h'·w' elements: the argmax of the
 * reference's logits at its features' resolution). `classify` maps features [1, D, h, w] to logits
 * [1, K, h, w] (the student's 1×1 classifier); K = numClasses. The logits are bilinearly upsampled to
 * H×W as the authors do; dividing by logitTemperature first is the same (the resize is linear) and
 * cheaper.
 */
export function ifrLoss(
  classify: (f: Tensor) => Tensor,
  target: Tensor,
  reference: Tensor,
  refClasses: Tensor,
  labels: Tensor,
  numClasses: number,
  opts: IfrOptions = {},
): Tensor {
  const op = 'ifrLoss';
  const { temperature = 0.5, logitTemperature = 0.01, ignoreIndex = 255 } = opts;
  for (const [what, x] of [['target', target], ['reference', reference]] as const) {
    if (x.rank !== 4 || x.shape[0] !== 1 || x.dtype !== 'f32') throw new Error(`${op}: ${what} features must be f32 [1, D, h, w], got ${x}`);
  }
  const [, d, h, w] = target.shape as [number, number, number, number];
  const [, dr, hr, wr] = reference.shape as [number, number, number, number];
  if (dr !== d) throw new Error(`${op}: target ${shapeStr(target.shape)} and reference ${shapeStr(reference.shape)} have different feature sizes`);
  const n = hr * wr;
  const okClasses = refClasses.rank === 1 ? refClasses.shape[0] === n : refClasses.rank === 3 && refClasses.shape[0] === 1 && refClasses.shape[1] === hr && refClasses.shape[2] === wr;
  if (refClasses.dtype !== 'i32' || !okClasses) throw new Error(`${op}: refClasses must be i32 [${n}] or [1, ${hr}, ${wr}] for reference ${shapeStr(reference.shape)}, got ${refClasses}`);
  if (labels.dtype !== 'i32' || labels.rank !== 3 || labels.shape[0] !== 1) throw new Error(`${op}: labels must be i32 [1, H, W], got ${labels}`);
  if (!(logitTemperature > 0)) throw new Error(`${op}: logitTemperature must be positive, got ${logitTemperature}`);

  const cls = refClasses.view([n]);
  const { protos, present } = prototypes(reshape(reference, [d, n]), cls, numClasses);
  cls.dispose();
  const rec = reconstruct(reshape(target, [d, h * w]), protos, present, temperature);
  const logits = classify(reshape(rec, [1, d, h, w]));
  if (logits.rank !== 4 || logits.shape[0] !== 1 || logits.shape[1] !== numClasses || logits.shape[2] !== h || logits.shape[3] !== w) {
    throw new Error(`${op}: classify gave ${shapeStr(logits.shape)} for features ${shapeStr(target.shape)}, expected [1, ${numClasses}, ${h}, ${w}]`);
  }
  const sharp = affine(logits, 1 / logitTemperature);
  return resizeCrossEntropy(sharp, labels, { ignoreIndex });
}
