// U2PL pieces: the CPU selection (entropy, percentile, the dynamic partition, rank-based negatives) on
// hand-checkable cases; the contrastive loss on random tiny batches against the float64 reference in
// test/reference/u2pl.ts replaying the same draws (1e-4 relative) with its gradient w.r.t. the student
// features against finite differences of that reference; the per-class queues (FIFO order, size
// limits, checkpoint round trip, flat GPU memory); CutMix of images and per-pixel arrays.
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { IGNORE } from '../dataset/labels.ts';
import { makeRng } from '../dataset/rng.ts';
import { cutmixBoxes, cutmixImages, cutmixPixels, type Box } from '../train/cutmix.ts';
import { ClassQueues } from '../train/queue.ts';
import {
  alphaT,
  contrastiveLoss,
  drawContrast,
  dropUnreliable,
  entropyMasks,
  labeledMasks,
  percentile,
  selectContrast,
  toPixelMajor,
  unsupScale,
} from '../train/u2pl.ts';
import { close, finiteDiff } from './gradcheck.ts';
import { nd } from './reference/nd.ts';
import { contrastiveLossRef, enqueueRef } from './reference/u2pl.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

const rows = async (t: E.Tensor | undefined) => {
  if (!t) return [];
  const d = Array.from(await t.data());
  const r = t.shape[1]!;
  return Array.from({ length: t.shape[0]! }, (_, i) => d.slice(i * r, (i + 1) * r));
};

describe('pseudo-labels and the dynamic partition', () => {
  test('toPixelMajor: [B,K,H,W] → [B·H·W, K]', () => {
    // b = 2, k = 2, h = 1, w = 2: image 0 pixels (0.5,0.5) (1,0); image 1 pixels (0.2,0.8) (0.9,0.1).
    const probs = Float32Array.from([0.5, 1, 0.5, 0, 0.2, 0.9, 0.8, 0.1]);
    expect(Array.from(toPixelMajor(probs, 2, 2, 1, 2))).toEqual(Array.from(Float32Array.from([0.5, 0.5, 1, 0, 0.2, 0.8, 0.9, 0.1])));
    expect(() => toPixelMajor(probs, 2, 2, 2, 2)).toThrow(/toPixelMajor: probs \[2,2,2,2\] has 8 values, expected 16/);
  });

  test('percentile matches numpy.percentile (linear)', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([4, 3, 2, 1], 25)).toBe(1.75);
    expect(percentile([10, 7, 4, 3, 2, 1], 30)).toBeCloseTo(2.5, 12);
    expect(percentile([1, 2, 3, 4, 5], 90)).toBeCloseTo(4.6, 12);
    expect(percentile([3, 1, 2], 0)).toBe(1);
    expect(percentile([3, 1, 2], 100)).toBe(3);
    expect(percentile([5], 37)).toBe(5);
    expect(() => percentile([], 50)).toThrow(/percentile: no values/);
    expect(() => percentile([1], 101)).toThrow(/percentile: q must be in \[0, 100\], got 101/);
  });

  test('alphaT: 20·(1 − progress), clamped', () => {
    expect(alphaT(0)).toBe(20);
    expect(alphaT(0.25)).toBe(15);
    expect(alphaT(1)).toBe(0);
    expect(alphaT(1.5)).toBe(0);
    expect(alphaT(-1)).toBe(20);
    expect(alphaT(0.5, 10)).toBe(5);
    expect(() => alphaT(NaN)).toThrow(/alphaT: progress must be a finite number/);
  });

  test("unsupScale: U2PL's code weighs the kept pseudo-labels by pixels / kept pixels", () => {
    expect(unsupScale(Int32Array.from([0, 1, IGNORE, IGNORE]))).toBe(2);
    expect(unsupScale(Int32Array.from([3, 1, 2]))).toBe(1);
    expect(unsupScale(Int32Array.from([IGNORE, IGNORE]))).toBe(0);
  });

  test('dropUnreliable drops the alpha% highest-entropy valid pixels; IGNORE pixels neither count nor change', () => {
    const rng = makeRng(3);
    const order = rng.shuffle([...Array(100).keys()]);
    // 100 valid pixels with entropies 0..99 in random order, then 10 IGNORE pixels of high entropy.
    const labels = Int32Array.from([...order.map((v) => v % 7), ...Array(10).fill(IGNORE)]);
    const entropy = Float32Array.from([...order, ...Array(10).fill(1000)]);
    const out = dropUnreliable(labels, entropy, 20); // threshold: percentile 80 of 0..99 = 79.2
    out.forEach((l, i) => expect(l).toBe(i >= 100 || order[i]! >= 80 ? IGNORE : labels[i]));
    expect(out.filter((l, i) => i < 100 && l === IGNORE).length).toBe(20);
    expect(dropUnreliable(labels, entropy, 0).filter((l) => l === IGNORE).length).toBe(10);
    expect(labels[0]).not.toBe(IGNORE); // the input is not modified
    expect(() => dropUnreliable(labels, entropy, 120)).toThrow(/dropUnreliable: alpha must be a percentage in \[0, 100\], got 120/);
  });

  test('entropyMasks on a tiny case; labeledMasks', () => {
    const labels = Int32Array.from([0, 1, IGNORE, 2, 0, 1]);
    const entropy = Float32Array.from([0.1, 0.5, 9, 0.3, 0.9, 0.7]);
    // valid H sorted: .1 .3 .5 .7 .9 → percentile 20 = .26, percentile 80 = .74
    let m = entropyMasks(labels, entropy, 20);
    expect(Array.from(m.low)).toEqual([1, 0, 0, 0, 0, 0]);
    expect(Array.from(m.high)).toEqual([0, 0, 0, 0, 1, 0]);
    // the median .5 bounds both
    m = entropyMasks(labels, entropy, 50);
    expect(Array.from(m.low)).toEqual([1, 1, 0, 1, 0, 0]);
    expect(Array.from(m.high)).toEqual([0, 1, 0, 0, 1, 1]);
    m = entropyMasks(Int32Array.from([IGNORE, IGNORE]), Float32Array.from([1, 2]), 20);
    expect(Array.from(m.low)).toEqual([0, 0]);
    const l = labeledMasks(Int32Array.from([3, IGNORE, 0]));
    expect(Array.from(l.low)).toEqual([1, 0, 1]);
    expect(Array.from(l.high)).toEqual([1, 0, 1]);
  });
});

describe('contrastive selection', () => {
  // Pixels, K = 5 (default ranks 3..20 clip to 3..5):
  // 0 unlabeled, pseudo-label 0, reliable and unreliable, probs .4 .25 .15 .12 .08 → classes of rank 3, 4: 3 and 4
  // 1 labeled 1, reliable and unreliable, probs .1 .2 .3 .25 .15 → top 3 = 2, 3, 1; minus the label: 2, 3
  // 2 unlabeled 2, reliable only, p_2 = .8 → anchor of 2
  // 3 unlabeled 4, unreliable only, all probs equal → ties by id: ranks 3, 4 are classes 3, 4
  // 4 labeled IGNORE, unreliable → nothing (its true label is unknown)
  // 5 labeled 0, neither → nothing
  const input = {
    n: 6,
    k: 5,
    labels: Int32Array.from([0, 1, 2, 4, IGNORE, 0]),
    labeled: Uint8Array.from([0, 1, 0, 0, 1, 1]),
    teacherProb: Float32Array.from([
      [0.4, 0.25, 0.15, 0.12, 0.08],
      [0.1, 0.2, 0.3, 0.25, 0.15],
      [0.05, 0.05, 0.8, 0.05, 0.05],
      [0.2, 0.2, 0.2, 0.2, 0.2],
      [0.2, 0.2, 0.2, 0.2, 0.2],
      [0.9, 0.025, 0.025, 0.025, 0.025],
    ].flat()),
    low: Uint8Array.from([1, 1, 1, 0, 0, 0]),
    high: Uint8Array.from([1, 1, 0, 1, 1, 0]),
  };
  const lists = (sel: ReturnType<typeof selectContrast>, key: 'anchorCandidates' | 'positivePixels' | 'negativePixels') => sel.map((s) => Array.from(s[key]));

  test('anchors, positives and rank-based negatives (labeled and unlabeled rules), by class id', () => {
    const sel = selectContrast(input);
    expect(lists(sel, 'anchorCandidates')).toEqual([[0], [], [2], [], []]);
    expect(lists(sel, 'positivePixels')).toEqual([[0], [1], [2], [], []]);
    expect(lists(sel, 'negativePixels')).toEqual([[], [], [1], [0, 1, 3], [0, 3]]);
  });

  test('rank window and probability threshold are options', () => {
    const sel = selectContrast(input, { lowRank: 1, highRank: 3, probThreshold: 0.35 });
    // pixel 0: ranks 1, 2 = classes 1, 2; pixel 3: classes 1, 2; pixel 1 (labeled): top 1 = class 2
    expect(lists(sel, 'negativePixels')).toEqual([[], [0, 3], [0, 1, 3], [], []]);
    expect(lists(sel, 'anchorCandidates')).toEqual([[0], [], [2], [], []]);
    expect(lists(selectContrast(input, { probThreshold: 0.5 }), 'anchorCandidates')).toEqual([[], [], [2], [], []]);
  });

  test('with K ≤ 3 classes there are no unlabeled negatives', () => {
    const sel = selectContrast({
      n: 2,
      k: 3,
      labels: Int32Array.from([0, 1]),
      labeled: Uint8Array.from([0, 1]),
      teacherProb: Float32Array.from([0.5, 0.3, 0.2, 0.5, 0.3, 0.2]),
      low: Uint8Array.from([0, 0]),
      high: Uint8Array.from([1, 1]),
    });
    expect(lists(sel, 'negativePixels')).toEqual([[1], [], [1]]);
  });

  test('bad lengths are named', () => {
    expect(() => selectContrast({ ...input, low: new Uint8Array(5) })).toThrow(/selectContrast: low has 5 values, expected 6/);
    expect(() => selectContrast({ ...input, teacherProb: new Float32Array(6) })).toThrow(/selectContrast: teacherProb has 6 values, expected 30/);
  });
});

describe('contrastive loss', () => {
  /** A random batch at representation resolution with a selection that has anchors, positives and negatives. */
  function batch(seed: number, n: number, k: number, r: number) {
    const rng = makeRng(seed);
    const vals = (m: number) => Float32Array.from({ length: m }, () => rng.range(-1, 1));
    const teacherProb = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      const z = Array.from({ length: k }, () => Math.exp(3 * rng.float()));
      const s = z.reduce((a, b) => a + b, 0);
      z.forEach((v, c) => (teacherProb[i * k + c] = v / s));
    }
    const labels = Int32Array.from({ length: n }, () => (rng.float() < 0.1 ? IGNORE : rng.int(k)));
    const low = Uint8Array.from(labels, (l) => (l !== IGNORE && rng.float() < 0.7 ? 1 : 0));
    const sel = selectContrast(
      {
        n,
        k,
        labels,
        labeled: Uint8Array.from({ length: n }, (_, i) => (i < n / 2 ? 1 : 0)),
        teacherProb,
        low,
        high: Uint8Array.from(labels, (l) => (l !== IGNORE && rng.float() < 0.5 ? 1 : 0)),
      },
      { probThreshold: 0.1 },
    );
    return { student: vals(n * r), teacher: vals(n * r), sel, queued: Array.from({ length: k }, () => rng.int(4)), vals };
  }

  test('matches the float64 reference replaying the same draws; gradient w.r.t. the student features', async () => {
    let used = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 30 }),
        fc.integer({ min: 6, max: 24 }),
        fc.integer({ min: 2, max: 6 }),
        // r ≥ 2: a 1-D representation normalises to ±1, whose true gradient is 0 and whose f32 one is
        // rounding divided by |x| (3e-5 for seed 335364104, n 6, k 3), over any fixed tolerance.
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 6 }),
        async (seed, n, k, r, anchors, negatives, size) => {
          const b = batch(seed, n, k, r);
          const opts = { anchors, negatives, temperature: 0.5 };
          // Queues already holding some rows (up to `size`), known on the CPU.
          const queues = new ClassQueues(k, r, size);
          const before: number[][][] = [];
          for (let c = 0; c < k; c++) {
            const keys = b.vals(b.queued[c]! * r);
            if (keys.length) {
              const t = E.tensor(keys, [b.queued[c]!, r]);
              queues.push(c, t);
              t.dispose();
            }
            const rowsOf = Array.from({ length: b.queued[c]! }, (_, i) => Array.from(keys.slice(i * r, (i + 1) * r)));
            before.push(rowsOf.slice(0, size));
          }
          const student = E.requireGrad(E.tensor(b.student, [n, r]));
          const teacher = E.tensor(b.teacher, [n, r]);
          try {
            const loss = E.tidy(() => {
              const l = contrastiveLoss(student, teacher, b.sel, queues, makeRng(seed), opts);
              if (l) E.backward(l);
              return l;
            });
            // The reference: the same enqueue, the same draws from a fresh rng of the same seed.
            const tRows = (i: number) => Array.from(b.teacher.slice(i * r, (i + 1) * r));
            const after = before.map((old, c) => enqueueRef(old, Array.from(b.sel[c]!.negativePixels, tRows), size));
            for (let c = 0; c < k; c++) expect(await rows(queues.get(c)), `queue ${c}`).toEqual(after[c]);
            const draws = drawContrast(b.sel, after.map((q) => q.length), makeRng(seed), opts);
            expect(loss === undefined, 'loss defined iff some class qualifies').toBe(draws.classes.length === 0);
            if (!loss) return;
            used++;
            const sN = nd([n, r], b.student);
            const tN = nd([n, r], b.teacher);
            const positives = b.sel.map((s) => s.positivePixels);
            const ref = (s: typeof sN) => nd([], [contrastiveLossRef(s, tN, positives, after, draws, 0.5)]);
            close([await loss.item()], ref(sN).data, { atol: 0, rtol: 1e-4 }, 'contrastive loss');
            // The gradient entries are small (each anchor weighs 1/(classes·anchors)), so the absolute
            // part of the tolerance is 1e-5 rather than GRAD's 1e-3, which would hide real errors.
            const fd = finiteDiff((s) => ref(s), [sN], Float64Array.from([1]), 0);
            close(await student.grad!.data(), fd, { atol: 1e-5, rtol: 1e-3 }, 'gradient w.r.t. studentRep');
            loss.dispose();
          } finally {
            student.grad?.dispose();
            student.dispose();
            teacher.dispose();
            queues.dispose();
          }
        },
      ),
      { numRuns: 30 },
    );
    expect(used).toBeGreaterThan(10);
  });

  test('no anchor candidates: undefined, but the negatives still go into the queues', async () => {
    const queues = new ClassQueues(3, 2, 10);
    const student = E.tensor([1, 0, 0, 1], [2, 2]);
    const teacher = E.tensor([1, 2, 3, 4], [2, 2]);
    const none = new Int32Array(0);
    const sel = [
      { anchorCandidates: none, positivePixels: Int32Array.from([0]), negativePixels: Int32Array.from([1, 0]) },
      { anchorCandidates: none, positivePixels: none, negativePixels: none },
      { anchorCandidates: none, positivePixels: none, negativePixels: Int32Array.from([1]) },
    ];
    expect(E.tidy(() => contrastiveLoss(student, teacher, sel, queues, makeRng(1)))).toBeUndefined();
    expect(await rows(queues.get(0))).toEqual([[3, 4], [1, 2]]);
    expect(queues.length(1)).toBe(0);
    expect(await rows(queues.get(2))).toEqual([[3, 4]]);
    const wrong = E.tensor(new Float32Array(6), [2, 3]);
    expect(() => contrastiveLoss(wrong, teacher, sel, queues, makeRng(1))).toThrow(/contrastiveLoss: studentRep \[2,3\] and teacherRep \[2,2\] must both be \[n, 2\]/);
    for (const t of [student, teacher, wrong]) t.dispose();
    queues.dispose();
  });
});

describe('ClassQueues', () => {
  const keys = (...rs: number[][]) => E.tensor(rs.flat(), [rs.length, rs[0]!.length]);
  const push = (q: ClassQueues, c: number, ...rs: number[][]) => {
    const t = keys(...rs);
    q.push(c, t);
    t.dispose();
  };

  test('FIFO, newest first, per-class size limits', async () => {
    const q = new ClassQueues(3, 2, (c) => [2, 3, 4][c]!);
    expect(q.length(1)).toBe(0);
    expect(q.get(1)).toBeUndefined();
    push(q, 1, [1, 1], [2, 2]);
    push(q, 1, [3, 3]);
    expect(await rows(q.get(1))).toEqual([[3, 3], [1, 1], [2, 2]]);
    push(q, 1, [4, 4]);
    expect(await rows(q.get(1))).toEqual([[4, 4], [3, 3], [1, 1]]);
    push(q, 1, [5, 5], [6, 6], [7, 7], [8, 8], [9, 9]);
    expect(await rows(q.get(1))).toEqual([[5, 5], [6, 6], [7, 7]]);
    push(q, 0, [1, 0], [2, 0], [3, 0]);
    expect(await rows(q.get(0))).toEqual([[1, 0], [2, 0]]);
    expect([q.length(0), q.length(1), q.length(2), q.size(2)]).toEqual([2, 3, 0, 4]);
    expect(() => push(q, 3, [1, 1])).toThrow(/ClassQueues.push: class 3 is outside \[0, 3\)/);
    expect(() => push(q, 0, [1, 1, 1])).toThrow(/ClassQueues.push: keys for class 0 must be f32 \[m, 2\], got Tensor\(\[1,3\]/);
    q.dispose();
    expect(q.length(1)).toBe(0);
  });

  test('state and load round trip', async () => {
    const q = new ClassQueues(4, 2, 5);
    push(q, 1, [1, 2], [3, 4]);
    push(q, 3, [5, 6]);
    const s = q.state();
    expect(Object.keys(s).sort()).toEqual(['queue.1', 'queue.3']);
    const r = new ClassQueues(4, 2, 5);
    push(r, 0, [9, 9]);
    const other = E.tensor([0], [1]);
    r.load({ ...s, 'teacher.w': other });
    q.dispose(); // the loaded queues are copies
    expect([0, 1, 2, 3].map((c) => r.length(c))).toEqual([0, 2, 0, 1]);
    expect(await rows(r.get(1))).toEqual([[1, 2], [3, 4]]);
    expect(await rows(r.get(3))).toEqual([[5, 6]]);
    const big = E.tensor(new Float32Array(12), [6, 2]);
    expect(() => r.load({ 'queue.2': big })).toThrow(/ClassQueues.load: 'queue.2' is Tensor\(\[6,2\], f32\), expected f32 \[m ≤ 5, 2\]/);
    expect(() => r.load({ 'queue.7': other })).toThrow(/ClassQueues.load: 'queue.7' names no class in \[0, 4\)/);
    for (const t of [other, big]) t.dispose();
    r.dispose();
  });

  test('200 pushes: live GPU buffers stay flat', async () => {
    const rng = makeRng(5);
    const q = new ClassQueues(4, 8, (c) => 20 + 10 * c);
    let at50 = 0;
    for (let i = 0; i < 200; i++) {
      const m = 1 + rng.int(15);
      E.tidy(() => q.push(rng.int(4), E.tensor(Float32Array.from({ length: m * 8 }, () => rng.float()), [m, 8])));
      if (i === 50) {
        await E.sync();
        at50 = E.memoryStats().liveBuffers;
      }
    }
    await E.sync();
    expect(E.memoryStats().liveBuffers).toBe(at50);
    expect([0, 1, 2, 3].map((c) => q.length(c))).toEqual([20, 30, 40, 50]);
    q.dispose();
  });
});

describe('CutMix', () => {
  test('boxes: half the area (± rounding), inside the image', () => {
    const rng = makeRng(11);
    for (const [h, w] of [[32, 48], [64, 64], [7, 5], [1, 1], [1, 9]] as const) {
      for (const x of cutmixBoxes(6, h, w, rng)) {
        expect(x.y0 >= 0 && x.x0 >= 0 && x.y1 <= h && x.x1 <= w && x.y1 > x.y0 && x.x1 > x.x0).toBe(true);
        const area = (x.y1 - x.y0) * (x.x1 - x.x0);
        // height = round(hw/2 / width): off by at most half a column of the box.
        expect(Math.abs(area - (h * w) / 2)).toBeLessThanOrEqual((x.x1 - x.x0) / 2);
        if (h * w >= 1024) expect(Math.abs(area / ((h * w) / 2) - 1)).toBeLessThan(0.05);
      }
    }
  });

  test('images: the partner (i+1 mod B) inside the box, itself outside; per-pixel arrays follow the same boxes', async () => {
    const [b, c, h, w] = [3, 2, 5, 7];
    const rng = makeRng(2);
    const img = Float32Array.from({ length: b * c * h * w }, () => rng.float());
    const boxes: Box[] = [
      { y0: 1, x0: 2, y1: 4, x1: 6 },
      { y0: 0, x0: 0, y1: 5, x1: 3 },
      { y0: 4, x0: 6, y1: 5, x1: 7 },
    ];
    const x = E.tensor(img, [b, c, h, w]);
    const mixed = cutmixImages(x, boxes);
    const got = await mixed.data();
    const inBox = (i: number, y: number, xx: number) => y >= boxes[i]!.y0 && y < boxes[i]!.y1 && xx >= boxes[i]!.x0 && xx < boxes[i]!.x1;
    const labels = Int32Array.from({ length: b * h * w }, (_, i) => i);
    const ent = Float32Array.from(labels, (v) => v / 10);
    const ml = cutmixPixels(labels, b, h, w, boxes);
    const me = cutmixPixels(ent, b, h, w, boxes);
    for (let i = 0; i < b; i++) {
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) {
          const src = inBox(i, y, xx) ? (i + 1) % b : i;
          for (let ch = 0; ch < c; ch++) expect(got[((i * c + ch) * h + y) * w + xx]).toBe(img[((src * c + ch) * h + y) * w + xx]);
          expect(ml[(i * h + y) * w + xx]).toBe((src * h + y) * w + xx);
          expect(me[(i * h + y) * w + xx]).toBe(ent[(src * h + y) * w + xx]);
        }
      }
    }
    expect(ml).toBeInstanceOf(Int32Array);
    expect(me).toBeInstanceOf(Float32Array);
    expect(labels[0]).toBe(0); // inputs untouched
    expect(() => cutmixImages(x, boxes.slice(1))).toThrow(/cutmixImages \[3,2,5,7\]: 2 boxes for a batch of 3/);
    expect(() => cutmixPixels(labels, b, h, w, [...boxes.slice(1), { y0: 0, x0: 0, y1: 6, x1: 1 }])).toThrow(/cutmixPixels \[3,5,7\]: box 2 \(y 0..6, x 0..1\) does not fit a 5×7 image/);
    x.dispose();
    mixed.dispose();
  });

  test('a batch of one mixes with itself: unchanged', async () => {
    const x = E.tensor([1, 2, 3, 4], [1, 1, 2, 2]);
    const y = cutmixImages(x, cutmixBoxes(1, 2, 2, makeRng(1)));
    expect(Array.from(await y.data())).toEqual([1, 2, 3, 4]);
    x.dispose();
    y.dispose();
  });
});
