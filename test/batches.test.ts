// Which view each part of a semi-supervised step sees (train/batches.ts): labeled frames get the whole
// augmentation (geometry, colour jitter, blur); the teacher's frames (U2PL's weak view, MVC's clips,
// IFR's pairs) get the geometry alone, as in the methods' code. Each check replays the batch's own
// draws and compares with augment() run by hand.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { makeRng } from '../dataset/rng.ts';
import { labeledEvery } from '../dataset/splits.ts';
import { writeSynth } from '../dataset/synth-write.ts';
import { Batches } from '../train/batches.ts';
import { frameTensor } from '../models/input.ts';
import { TRAIN_AUGMENT, augment, labelTensor } from '../train/images.ts';
import { gpu } from './setup.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-batches-'));
const data = path.join(root, 'data');
beforeAll(async () => {
  await gpu();
  writeSynth(data, { seed: 4, videos: 3, frames: 6, width: 48, height: 32, valVideos: 1 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Jitter and blur always on, so a view that had them could not pass for one without.
const AUG = { ...TRAIN_AUGMENT({ imageSize: [32, 48], baseSize: 32 }, 0.75, 1.5), jitter: { strength: 0.2, p: 1 }, blurP: 1 };
const GEOMETRIC = { ...AUG, jitter: { strength: 0.2, p: 0 }, blurP: 0 };

describe('the views of a step', () => {
  test('labeled frames are jittered and blurred; the teacher sees the same geometry without', async () => {
    const ds = VideoDataset.open(data);
    const split = labeledEvery(ds.videoFrames('train'), 3);
    const batches = new Batches(ds, split.labeled, split.unlabeled, AUG);
    const read = async (t: E.Tensor) => Array.from(await t.data());

    // Labeled: the whole augmentation, labels with the same geometry.
    const lb = batches.labeledBatch(2, makeRng(7));
    const r = makeRng(7);
    const refs = [r.pick(split.labeled), r.pick(split.labeled)];
    const seeds = refs.map(() => r.int(2 ** 31));
    expect(lb.refs).toEqual(refs);
    for (let i = 0; i < 2; i++) {
      const s = ds.readSample(refs[i]!.video, refs[i]!.frame);
      const full = augment(frameTensor(s.frame), labelTensor(s.labels), makeRng(seeds[i]!), AUG);
      const geo = augment(frameTensor(s.frame), labelTensor(s.labels), makeRng(seeds[i]!), GEOMETRIC);
      const got = (await read(lb.images)).slice(i * 3 * 32 * 48, (i + 1) * 3 * 32 * 48);
      expect(got).toEqual(await read(full.image));
      expect(got).not.toEqual(await read(geo.image));
      expect((await read(lb.labels)).slice(i * 32 * 48, (i + 1) * 32 * 48)).toEqual(await read(geo.labels!));
      for (const t of [full.image, full.labels!, geo.image, geo.labels!]) t.dispose();
    }

    // U2PL's weak view: geometry only.
    const weak = batches.unlabeledBatch(2, makeRng(9));
    const r2 = makeRng(9);
    const want: number[] = [];
    for (let i = 0; i < 2; i++) {
      const u = r2.pick(split.unlabeled);
      const v = augment(frameTensor(ds.readFrame(u.video, u.frame)), undefined, makeRng(r2.int(2 ** 31)), GEOMETRIC).image;
      want.push(...(await read(v)));
      v.dispose();
    }
    expect(await read(weak)).toEqual(want);

    // MVC's clips: consecutive frames of one video, one geometry, no photometric change.
    const clips = batches.clips(1, 2, makeRng(11));
    const r3 = makeRng(11);
    const long = ds.videoFrames('train').filter((v) => v.frames.length >= 2);
    const v = r3.pick(long);
    const start = r3.int(v.frames.length - 2 + 1);
    const seed = r3.int(2 ** 31);
    const clipWant: number[] = [];
    for (let j = 0; j < 2; j++) {
      const t = augment(frameTensor(ds.readFrame(v.video, v.frames[start + j]!)), undefined, makeRng(seed), GEOMETRIC).image;
      clipWant.push(...(await read(t)));
      t.dispose();
    }
    expect(await read(clips)).toEqual(clipWant);
    for (const t of [lb.images, lb.labels, weak, clips]) t.dispose();
  });

  test('decoded frames are cached up to a byte limit, the least recently used dropped first', () => {
    const ds = VideoDataset.open(data);
    const split = labeledEvery(ds.videoFrames('train'), 1);
    const batches = new Batches(ds, split.labeled, split.unlabeled, AUG);
    const per = 48 * 32 * 3 + 48 * 32 * 4 + 48 * 32; // RGB bytes, i32 labels, raw mask values
    batches.cacheLimit = 3 * per;
    const rng = makeRng(1);
    for (let i = 0; i < 10; i++) {
      const b = batches.labeledBatch(2, rng);
      b.images.dispose();
      b.labels.dispose();
      expect(batches.cached.bytes).toBeLessThanOrEqual(3 * per);
    }
    expect(batches.cached).toEqual({ samples: 3, bytes: 3 * per });
  });

  test('a retraining round draws ground-truth and pseudo-labelled frames in turn, however many of each', async () => {
    const ds = VideoDataset.open(data);
    const split = labeledEvery(ds.videoFrames('train'), 3);
    const key = (r: { video: string; frame: string }) => `${r.video}/${r.frame}`;
    // Pseudo-labels (here: class 1 everywhere) for every unlabeled frame: twice as many as the labeled ones.
    const extra = new Map(split.unlabeled.map((r) => [key(r), () => ({ width: 48, height: 32, labels: new Int32Array(48 * 32).fill(1) })]));
    const batches = new Batches(ds, [...split.labeled, ...split.unlabeled], split.unlabeled, AUG, extra);
    const rng = makeRng(3);
    for (let i = 0; i < 5; i++) {
      const b = batches.labeledBatch(4, rng);
      expect(b.refs.map((r) => extra.has(key(r)))).toEqual([false, true, false, true]);
      const labels = Array.from(await b.labels.data());
      expect(labels.slice(32 * 48, 2 * 32 * 48).every((v) => v === 1 || v === 255)).toBe(true); // the pseudo-labels, augmented
      b.images.dispose();
      b.labels.dispose();
    }
  });
});
