// float64 references for train/u2pl.ts and train/queue.ts: U2PL's contrastive loss written anchor by
// anchor from its definition (cosines of unit vectors, cross-entropy with target 0), replaying the
// index lists that drawContrast drew, and the FIFO queue update.
import type { Nd } from './nd.ts';

type Row = number[];

function row(x: Nd, i: number): Row {
  const r = x.shape[1]!;
  return Array.from(x.data.subarray(i * r, (i + 1) * r));
}

function unit(v: Row): Row {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / Math.max(n, 1e-12));
}

const dot = (a: Row, b: Row) => a.reduce((s, x, i) => s + x * b[i]!, 0);

/** The queue after pushing `keys`: newest first, at most `size` rows. */
export function enqueueRef(old: readonly Row[], keys: readonly Row[], size: number): Row[] {
  return [...keys, ...old].slice(0, size);
}

export interface DrawsRef {
  classes: readonly number[];
  anchors: ArrayLike<number>;
  negatives: ArrayLike<number>;
}

/**
 * Mean over used classes c and their anchors of −log softmax(logits)[0], logits = [cos(anchor, pos),
 * cos(anchor, neg_1..m)] / temperature; anchor = student row, pos = mean teacher row over c's
 * positive pixels, negs = rows of queues[c].
 */
export function contrastiveLossRef(
  student: Nd,
  teacher: Nd,
  positives: readonly ArrayLike<number>[],
  queues: readonly (readonly Row[])[],
  draws: DrawsRef,
  temperature: number,
): number {
  const u = draws.classes.length;
  const a = draws.anchors.length / u;
  const m = draws.negatives.length / (u * a);
  let total = 0;
  draws.classes.forEach((c, s) => {
    const px = Array.from(positives[c]!);
    const centre = row(teacher, px[0]!).map((_, d) => px.reduce((acc, i) => acc + row(teacher, i)[d]!, 0) / px.length);
    const pos = unit(centre);
    for (let j = 0; j < a; j++) {
      const anchor = unit(row(student, draws.anchors[s * a + j]!));
      const logits = [dot(anchor, pos)];
      for (let q = 0; q < m; q++) logits.push(dot(anchor, unit(queues[c]![draws.negatives[(s * a + j) * m + q]!]!)));
      const z = logits.map((l) => l / temperature);
      const top = Math.max(...z);
      total += top + Math.log(z.reduce((acc, v) => acc + Math.exp(v - top), 0)) - z[0]!;
    }
  });
  return total / (u * a);
}
