// What each method of a semi-supervised step is given (train/semi.ts), replayed by hand from the
// step's own random draws: with U2PL on a per-frame student, MVC masks the last half (--mvc-share) of
// U2PL's unlabeled frames (after colour jitter and blur) and its target is the teacher's argmax of those
// frames unmasked; U2PL's unsupervised loss keeps the others; MVC's loss is the student's CE on
// the masked frames. A temporal student keeps MVC's own clips. IFR adds 3 frames, 5 with --ifr-strong.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { makeRng } from '../dataset/rng.ts';
import { labeledEvery } from '../dataset/splits.ts';
import { writeSynth } from '../dataset/synth-write.ts';
import { Student, defaultStudentConfig } from '../models/student.ts';
import { Batches } from '../train/batches.ts';
import { DEFAULTS, type TrainOptions } from '../train/config.ts';
import { cutmixBoxes, cutmixImages, cutmixPixels } from '../train/cutmix.ts';
import { TRAIN_AUGMENT, photometric } from '../train/images.ts';
import { blockMask, maskImages, qualityWeight } from '../train/mvc.ts';
import { SemiStep } from '../train/semi.ts';
import { MeanTeacher } from '../train/teacher.ts';
import { TINY_MODEL } from './fixtures.ts';
import { gpu } from './setup.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-wiring-'));
const data = path.join(root, 'data');
beforeAll(async () => {
  await gpu();
  writeSynth(data, { seed: 8, videos: 3, frames: 6, width: 48, height: 32, valVideos: 1 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Jitter and blur always on, so that frames without them cannot pass for frames with them.
const AUG = { ...TRAIN_AUGMENT({ imageSize: [32, 48], baseSize: 32 }, 0.75, 1.5), jitter: { strength: 0.2, p: 1 }, blurP: 1 };
const OPTS: TrainOptions = { ...DEFAULTS, method: 'full', batch: 2, unlabeledBatch: 4, steps: 10, supSteps: 0, init: '' };

/** A tiny student whose parameters carry noise, so that its argmax varies over pixels and classes. */
async function noisyStudent(numClasses: number, temporal: boolean): Promise<Student> {
  const model = new Student({ ...defaultStudentConfig(numClasses, [32, 48]), ...TINY_MODEL, temporal }, 3);
  for (const [i, t] of model.ps.list().entries()) {
    const noisy = E.tidy(() => E.add(t, E.randNormal(t.shape, 100 + i, 0, 0.3)));
    E.assignData(t, await noisy.data());
    noisy.dispose();
  }
  return model;
}

/** A step of `o` on the test set, with a noisy tiny student (temporal or not) and its teacher. */
async function step(temporal: boolean, o: TrainOptions) {
  const ds = VideoDataset.open(data);
  const split = labeledEvery(ds.videoFrames('train'), 3);
  const batches = new Batches(ds, split.labeled, split.unlabeled, AUG);
  const model = await noisyStudent(ds.numClasses, temporal);
  const teacher = new MeanTeacher(model);
  return { batches, model, teacher, semi: new SemiStep(model, o, batches, AUG) };
}

const frames = (t: E.Tensor, from: number, to: number) => E.tidy(() => E.slice(t, [from], [to]));
const read = async (t: E.Tensor) => Array.from(await t.data());

describe("a semi-supervised step's wiring", () => {
  test('MVC with U2PL: the second half of the unlabeled frames is masked, its target the teacher on them unmasked', async () => {
    const { batches, model, teacher, semi } = await step(false, OPTS);
    // Seeds 0..7 give both kinds of U2PL step: with and without CutMix.
    const kinds = new Set<boolean>();
    for (let seed = 0; seed < 8; seed++) {
      const p = await semi.prepare(1, makeRng(seed), teacher);
      // The replay: the same draws in the same order.
      const r = makeRng(seed);
      const lb = batches.labeledBatch(2, r);
      lb.images.dispose();
      lb.labels.dispose();
      const weak = batches.unlabeledBatch(4, r);
      const boxes = r.float() < 0.5 ? cutmixBoxes(4, 32, 48, r) : undefined;
      kinds.add(Boolean(boxes));
      const labels = (await E.tidy(() => E.argmax(E.resizeBilinear(teacher.forward(weak).logitsLow, [32, 48]), 1)).data()) as Int32Array;
      const view = boxes ? cutmixImages(weak, boxes) : weak;
      const want = boxes ? cutmixPixels(labels, 4, 32, 48, boxes) : labels;
      const mask = blockMask(2, 32, 48, { block: OPTS.maskBlock, ratio: OPTS.maskRatio }, r);
      const masked = E.tidy(() => maskImages(photometric(frames(view, 2, 4), r, AUG), mask));

      expect(p.u2pl!.masked).toBe(2);
      expect(p.u2pl!.target).toHaveLength(2 * 32 * 48); // U2PL's CE: the unmasked half only
      expect(await read(frames(p.u2pl!.images, 0, 2))).toEqual(await read(frames(view, 0, 2)));
      expect(await read(frames(p.u2pl!.images, 2, 4))).toEqual(await read(masked));
      expect(await read(frames(p.u2pl!.images, 2, 4))).not.toEqual(await read(E.tidy(() => maskImages(frames(view, 2, 4), mask))));
      expect(p.mvc!.images).toBeUndefined(); // no clips of its own
      expect(await read(p.mvc!.target)).toEqual(Array.from(want.subarray(2 * 32 * 48)));
      const probs = (await E.tidy(() => E.max(E.softmax(E.resizeBilinear(teacher.forward(view).logitsLow, [32, 48]), 1), [1])).data()) as Float32Array;
      expect(p.mvc!.q).toBeCloseTo(qualityWeight(probs.subarray(2 * 32 * 48)), 6);
      expect(p.ifr!.images.shape[0]).toBe(3); // no strong variant by default

      // MVC's loss is the student's CE on the masked frames, taken from the step's one student pass.
      const loss = E.tidy(() => {
        const { parts } = semi.losses(1, p, makeRng(99));
        return parts.mvc!;
      });
      const alone = E.tidy(() => E.crossEntropy(model.logits(masked), p.mvc!.target, { ignoreIndex: 255 }));
      expect((await loss.data())[0]).toBeCloseTo((await alone.data())[0]!, 4);
      for (const t of [weak, view, masked, loss, alone]) if (!t.disposed) t.dispose();
      p.dispose();
    }
    expect([...kinds].sort()).toEqual([false, true]);
    model.ps.dispose();
    teacher.dispose();
  });

  test('--mvc-share 0.25 masks one of four unlabeled frames; U2PL keeps the other three', async () => {
    const { model, teacher, semi } = await step(false, { ...OPTS, mvcShare: 0.25 });
    const p = await semi.prepare(1, makeRng(0), teacher);
    expect(p.u2pl!.masked).toBe(1);
    expect(p.u2pl!.target).toHaveLength(3 * 32 * 48);
    expect(p.mvc!.target.shape).toEqual([1, 32, 48]);
    p.dispose();
    model.ps.dispose();
    teacher.dispose();
  });

  test("--mvc-target reliable / visible: MVC's target keeps only the pixels U2PL's CE keeps (the lowest-entropy 80% of the batch) / the mask leaves visible", async () => {
    const { batches, model, teacher } = await step(false, OPTS);
    const all = new SemiStep(model, OPTS, batches, AUG);
    const reliable = new SemiStep(model, { ...OPTS, mvcTarget: 'reliable' }, batches, AUG);
    const pa = await all.prepare(1, makeRng(3), teacher);
    const pr = await reliable.prepare(1, makeRng(3), teacher);
    // The replay of the view both steps gave the teacher, for its entropies (float64 here).
    const r = makeRng(3);
    const lb = batches.labeledBatch(2, r);
    lb.images.dispose();
    lb.labels.dispose();
    const weak = batches.unlabeledBatch(4, r);
    const boxes = r.float() < 0.5 ? cutmixBoxes(4, 32, 48, r) : undefined;
    const view = boxes ? cutmixImages(weak, boxes) : weak;
    const probs = (await E.tidy(() => E.softmax(E.resizeBilinear(teacher.forward(view).logitsLow, [32, 48]), 1)).data()) as Float32Array;
    const k = model.config.numClasses;
    const hw = 32 * 48;
    const entropy = Array.from({ length: 4 * hw }, (_, i) => {
      const [f, px] = [Math.floor(i / hw), i % hw];
      let h = 0;
      for (let c = 0; c < k; c++) {
        const q = probs[(f * k + c) * hw + px]!;
        h -= q * Math.log(q + 1e-10);
      }
      return h;
    });
    const mvcAll = await read(pa.mvc!.target);
    const mvcRel = await read(pr.mvc!.target);
    expect(Array.from(pr.u2pl!.target)).toEqual(Array.from(pa.u2pl!.target)); // U2PL's own CE is unchanged
    const target = [...Array.from(pr.u2pl!.target), ...mvcRel]; // the whole unlabeled batch, as U2PL partitions it
    const dropped = target.flatMap((l, i) => (l === 255 ? [entropy[i]!] : []));
    const kept = target.flatMap((l, i) => (l === 255 ? [] : [entropy[i]!]));
    expect(Math.abs(dropped.length / target.length - 0.2)).toBeLessThan(0.01);
    expect(Math.max(...kept)).toBeLessThanOrEqual(Math.min(...dropped) + 1e-5);
    expect(mvcRel.some((l) => l === 255)).toBe(true);
    mvcRel.forEach((l, i) => l !== 255 && expect(l).toBe(mvcAll[i]));
    expect(mvcAll.every((l) => l !== 255)).toBe(true); // 'all' (MIC): every pixel

    // 'visible': the pixels the mask leaves visible, every one of them (the replayed draws go on to the mask).
    const mask = blockMask(2, 32, 48, { block: OPTS.maskBlock, ratio: OPTS.maskRatio }, r);
    const pv = await new SemiStep(model, { ...OPTS, mvcTarget: 'visible' }, batches, AUG).prepare(1, makeRng(3), teacher);
    expect(await read(pv.mvc!.target)).toEqual(mvcAll.map((l, i) => (mask[i] ? l : 255)));
    expect(mask.some((v) => v === 0) && mask.some((v) => v === 1)).toBe(true);
    pv.dispose();
    expect(() => new SemiStep(model, { ...OPTS, mvcTarget: 'reliable', method: 'mvc' }, batches, AUG)).toThrow(/--mvc-target reliable needs MVC on U2PL's frames/);
    for (const t of [weak, view]) if (!t.disposed) t.dispose();
    pa.dispose();
    pr.dispose();
    model.ps.dispose();
    teacher.dispose();
  });

  test('a temporal student keeps MVC on clips of its own; --ifr-strong adds the two distorted references', async () => {
    const { model, teacher, semi } = await step(true, { ...OPTS, ifrStrong: true });
    const p = await semi.prepare(1, makeRng(0), teacher);
    expect(p.u2pl!.masked).toBe(0);
    expect(p.u2pl!.target).toHaveLength(4 * 32 * 48);
    expect(p.mvc!.images!.shape).toEqual([2, 3, 32, 48]); // one clip of --mvc-clip 2 frames (batch 2)
    expect(p.ifr!.images.shape[0]).toBe(5);
    p.dispose();
    model.ps.dispose();
    teacher.dispose();
  });
});
