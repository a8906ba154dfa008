// float64 reference for train/ifr.ts, written pixel by pixel from the method's description: class
// means of the reference frame's features, cosine-softmax reconstruction of each target pixel, a 1×1
// linear classifier, bilinear upsampling, cross-entropy. Absent classes are simply skipped.
import { nd, type Nd } from './nd.ts';
import { crossEntropyRef } from './nn.ts';
import { resizeBilinearRef } from './resize.ts';

/** Column j of a [D, n] matrix. */
const column = (x: Nd, j: number): number[] => Array.from({ length: x.shape[0]! }, (_, c) => x.data[c * x.shape[1]! + j]!);

const norm = (v: number[]) => Math.max(Math.hypot(...v), 1e-12);

/** Class means of the columns of features [D, n]: protos [K, D] (0 rows for absent classes) and present flags. */
export function prototypesRef(features: Nd, classes: readonly number[], numClasses: number): { protos: Nd; present: number[] } {
  const [d, n] = features.shape as [number, number];
  const protos = nd([numClasses, d]);
  const present = new Array<number>(numClasses).fill(0);
  for (let k = 0; k < numClasses; k++) {
    const members = [...Array(n).keys()].filter((j) => classes[j] === k);
    if (!members.length) continue;
    present[k] = 1;
    for (let c = 0; c < d; c++) protos.data[k * d + c] = members.reduce((s, j) => s + features.data[c * n + j]!, 0) / members.length;
  }
  return { protos, present };
}

/** Attention [K, n]: softmax over the present classes of cos(f_j, P_k)/temperature; 0 for absent classes. */
export function attentionRef(features: Nd, protos: Nd, present: readonly number[], temperature: number): Nd {
  const [d, n] = features.shape as [number, number];
  const k = protos.shape[0]!;
  const out = nd([k, n]);
  for (let j = 0; j < n; j++) {
    const f = column(features, j);
    const live = [...Array(k).keys()].filter((c) => present[c]);
    const score = live.map((c) => {
      const p = Array.from({ length: d }, (_, i) => protos.data[c * d + i]!);
      const cos = f.reduce((s, v, i) => s + v * p[i]!, 0) / (norm(f) * norm(p));
      return Math.exp(cos / temperature);
    });
    const total = score.reduce((a, b) => a + b, 0);
    live.forEach((c, i) => (out.data[c * n + j] = score[i]! / total));
  }
  return out;
}

/** Reconstructed features [D, n]: Σ_k attention[k, j]·P[k]. */
export function reconstructRef(features: Nd, protos: Nd, present: readonly number[], temperature: number): Nd {
  const [d, n] = features.shape as [number, number];
  const k = protos.shape[0]!;
  const a = attentionRef(features, protos, present, temperature);
  return nd([d, n], (i) => {
    const c = Math.floor(i / n);
    const j = i % n;
    let s = 0;
    for (let m = 0; m < k; m++) s += a.data[m * n + j]! * protos.data[m * d + c]!;
    return s;
  });
}

export interface IfrRefCase {
  /** Classifier weight [K, D] and bias [K] (a 1×1 convolution). */
  weight: Nd;
  bias: Nd;
  refClasses: readonly number[];
  /** Labels [H, W] flattened, and their size. */
  labels: readonly number[];
  size: [number, number];
  temperature: number;
  logitTemperature: number;
  ignoreIndex: number;
}

/** The IFR loss of one pair, target and reference features [1, D, h, w] (their spatial sizes may differ). */
export function ifrLossRef(target: Nd, reference: Nd, c: IfrRefCase): Nd {
  const [, d, h, w] = target.shape as [number, number, number, number];
  const [, , hr, wr] = reference.shape as [number, number, number, number];
  const k = c.weight.shape[0]!;
  const { protos, present } = prototypesRef(nd([d, hr * wr], reference.data), c.refClasses, k);
  const rec = reconstructRef(nd([d, h * w], target.data), protos, present, c.temperature);
  const logits = nd([1, k, h, w], (i) => {
    const cls = Math.floor(i / (h * w));
    const j = i % (h * w);
    let s = c.bias.data[cls]!;
    for (let m = 0; m < d; m++) s += c.weight.data[cls * d + m]! * rec.data[m * h * w + j]!;
    return s;
  });
  // Upsampled, then divided by the logit temperature, in the authors' order.
  const up = resizeBilinearRef(logits, c.size);
  const sharp = nd(up.shape, (i) => up.data[i]! / c.logitTemperature);
  return crossEntropyRef(sharp, [...c.labels], { ignoreIndex: c.ignoreIndex, reduction: 'mean' });
}
