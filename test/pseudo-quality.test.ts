// Pseudo-label quality (train/pseudo-quality.ts): a hand-worked case, random cases against a
// brute-force count, and the model-level measurement against eval's own predictions on a tiny set.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { IGNORE } from '../dataset/labels.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { writeSynth } from '../dataset/synth-write.ts';
import { predictFrames } from '../eval/predict.ts';
import { Student, defaultStudentConfig } from '../models/student.ts';
import { formatClassIoU, formatClassPR, formatQuality, pseudoLabelQuality, qualityOf } from '../train/pseudo-quality.ts';
import { gpu } from './setup.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-pseudo-quality-'));
const data = path.join(root, 'data');
beforeAll(async () => {
  await gpu();
  writeSynth(data, { seed: 3, videos: 2, frames: 5, width: 48, height: 32, valVideos: 1 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('qualityOf', () => {
  test('hand-worked: ignored pixels left out, shares ranked by entropy', () => {
    const labels = Int32Array.from([1, 2, 3, 4, 5, 6]);
    const gt = Int32Array.from([1, 0, 3, IGNORE, 5, 0]); // pixels 0, 2, 4 right; 3 ignored
    const entropy = Float32Array.from([0.1, 0.05, 0.3, 0.0, 0.9, 0.5]); // scored, by entropy: 1, 0, 2, 5, 4
    const q = qualityOf(labels, entropy, gt, [0.2, 0.6, 1]);
    expect(q.pixels).toBe(5);
    expect(q.accuracy).toBeCloseTo(3 / 5, 12);
    // 0.2·5 = 1 pixel: #1 (wrong); 0.6·5 = 3: #1, #0, #2 (two right); all: 3/5.
    expect(q.byConfidence.map((c) => c.accuracy)).toEqual([0, 2 / 3, 3 / 5]);
    // Per class (ids 0, 1, 3, 5 in the ground truth): 0 has gt {1, 5}, pred {}: 0; 1 and 3 and 5 right once, each predicted once: 1.
    expect(q.perClassIoU).toEqual([0, 1, NaN, 1, NaN, 1, NaN]);
    expect(q.mIoU).toBeCloseTo(3 / 4, 12);
    // Precision: 0 and 4 are never predicted on a scored pixel (NaN); 1, 3, 5 are right each time they are predicted; 2 and 6 wrong.
    expect(q.perClassPrecision).toEqual([NaN, 1, 0, 1, NaN, 1, 0]);
    expect(q.perClassRecall).toEqual([0, 1, NaN, 1, NaN, 1, NaN]);
    // The 80% lowest entropies: round(0.8·5) = 4 pixels, #1 (label 2), #0 (1), #2 (3), #5 (6); #4 (label 5) is left out.
    expect(q.kept).toEqual({ share: 0.8, precision: [NaN, 1, 0, 1, NaN, NaN, 0], recall: [0, 1, NaN, 1, NaN, 0, NaN] });
    expect(formatQuality(q)).toBe('60.0% (top 20%: 0.0%, top 60%: 66.7%, top 100%: 60.0%), mIoU 75.0');
    // Classes absent from the ground truth are left out; a ratio with nothing to divide by is a dash,
    // also after a JSON round trip (results.json) has turned its NaN into null.
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const pr = 'a —/0 (kept —/0), b 100/100 (kept 100/100), d 100/100 (kept 100/100), f 100/100 (kept —/0)';
    expect(formatClassPR(q, names)).toBe(pr);
    expect(formatClassPR(JSON.parse(JSON.stringify(q)), names)).toBe(pr);
    expect(formatClassIoU(JSON.parse(JSON.stringify(q)), names)).toBe('a 0.0, b 100.0, d 100.0, f 100.0');
    expect(() => qualityOf(labels, entropy, gt.slice(1))).toThrow(/6 labels, 6 entropies and 5 ground-truth pixels/);
  });

  test('random cases against a brute-force count', () => {
    const px = fc.record({ label: fc.integer({ min: 0, max: 3 }), gt: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(IGNORE)), ent: fc.float({ min: 0, max: 2, noNaN: true }) });
    fc.assert(
      fc.property(fc.array(px, { minLength: 1, maxLength: 60 }), fc.double({ min: 0.05, max: 1, noNaN: true }), (ps, share) => {
        const scored = ps.filter((p) => p.gt !== IGNORE);
        fc.pre(scored.length > 0);
        const q = qualityOf(Int32Array.from(ps, (p) => p.label), Float32Array.from(ps, (p) => p.ent), Int32Array.from(ps, (p) => p.gt), [share]);
        expect(q.pixels).toBe(scored.length);
        expect(q.accuracy).toBeCloseTo(scored.filter((p) => p.label === p.gt).length / scored.length, 12);
        for (let c = 0; c < 4; c++) {
          const tp = scored.filter((p) => p.gt === c && p.label === c).length, union = scored.filter((p) => p.gt === c || p.label === c).length;
          if (scored.some((p) => p.gt === c)) expect(q.perClassIoU[c]).toBeCloseTo(tp / union, 12);
          else expect(q.perClassIoU[c] ?? NaN).toBeNaN();
          const pred = scored.filter((p) => p.label === c).length, inGt = scored.filter((p) => p.gt === c).length;
          if (pred) expect(q.perClassPrecision![c]).toBeCloseTo(tp / pred, 12);
          else expect(q.perClassPrecision![c] ?? NaN).toBeNaN();
          if (inGt) expect(q.perClassRecall![c]).toBeCloseTo(tp / inGt, 12);
          else expect(q.perClassRecall![c] ?? NaN).toBeNaN();
        }
        // The top share: the n lowest entropies. With ties at the cut the pick is not unique, so check
        // the count of right pixels lies between the fewest and the most any tie-break could give.
        const n = Math.max(1, Math.round(share * scored.length));
        const cut = [...scored].sort((a, b) => Math.fround(a.ent) - Math.fround(b.ent))[n - 1]!.ent;
        const below = scored.filter((p) => Math.fround(p.ent) < Math.fround(cut));
        const at = scored.filter((p) => Math.fround(p.ent) === Math.fround(cut));
        const rightBelow = below.filter((p) => p.label === p.gt).length;
        const rightAt = at.filter((p) => p.label === p.gt).length;
        const need = n - below.length;
        const lo = rightBelow + Math.max(0, need - (at.length - rightAt));
        const hi = rightBelow + Math.min(need, rightAt);
        const got = Math.round(q.byConfidence[0]!.accuracy * n);
        expect(got).toBeGreaterThanOrEqual(lo);
        expect(got).toBeLessThanOrEqual(hi);
      }),
      { numRuns: 300 },
    );
  });
});

test("pseudoLabelQuality scores the model's own predictions against the masks", async () => {
  const ds = VideoDataset.open(data);
  const model = new Student({ ...defaultStudentConfig(ds.numClasses, [32, 48]), width: 16, depth: 1, heads: 2, mlpRatio: 2, stemDim: 8, decoderDim: 8, reprDim: 8 }, 4);
  const frames = ds.videoFrames('train').flatMap(({ video, frames: fs }) => fs.map((frame, index) => ({ video, frame, index })));
  const q = await pseudoLabelQuality(model, ds, frames, 2);
  let right = 0, n = 0;
  for (const r of frames.filter((_, i) => i % 2 === 0)) {
    const s = ds.readSample(r.video, r.frame);
    const [pred] = await predictFrames(model, [s.frame]);
    s.labels.labels.forEach((g, i) => {
      if (g === IGNORE) return;
      n++;
      if (pred![i] === g) right++;
    });
  }
  expect(q.pixels).toBe(n);
  expect(q.accuracy).toBeCloseTo(right / n, 12);
  model.ps.dispose();
});
