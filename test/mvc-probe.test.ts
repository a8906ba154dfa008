// The MVC probe (train/mvc-probe.ts) against the engine's own cross-entropy: with nothing masked and no
// jitter every view is the clean frame (full agreement, the clean CE everywhere); with everything masked
// the masked view is the mean-colour frame, and its CE is the model's CE on that frame.
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
import { TRAIN_AUGMENT } from '../train/images.ts';
import { PROBE_VIEWS, formatMvcProbe, probeMvc } from '../train/mvc-probe.ts';
import { TINY_MODEL } from './fixtures.ts';
import { gpu } from './setup.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-mvc-probe-'));
beforeAll(async () => {
  await gpu();
  writeSynth(root, { seed: 5, videos: 3, frames: 4, width: 48, height: 32, valVideos: 1 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function setup() {
  const ds = VideoDataset.open(root);
  const split = labeledEvery(ds.videoFrames('train'), 2);
  const model = new Student({ ...defaultStudentConfig(ds.numClasses, [32, 48]), ...TINY_MODEL }, 4);
  const aug = { ...TRAIN_AUGMENT({ imageSize: [32, 48], baseSize: 32 }, 1, 1), jitter: { strength: 0.2, p: 0 }, blurP: 0 };
  return { model, aug, source: new Batches(ds, split.labeled, split.unlabeled, aug) };
}

/** The engine's mean CE of `model` on `x` against its own argmax on `clean`. */
async function engineCE(model: Student, x: E.Tensor, clean: E.Tensor): Promise<number> {
  const ce = E.tidy(() => E.crossEntropy(model.logits(x), E.argmax(model.logits(clean), 1), { ignoreIndex: 255 }));
  const v = (await ce.data())[0]!;
  ce.dispose();
  return v;
}

describe('mvc-probe', () => {
  test('nothing masked, no jitter: every view agrees fully, at the clean CE', async () => {
    const { model, aug, source } = await setup();
    const p = await probeMvc(model, source, aug, { block: 16, ratio: 0 }, makeRng(1), 2, 2);
    const clean = source.unlabeledBatch(2, makeRng(1)); // the probe's first batch: the same draws
    const ce = await engineCE(model, clean, clean);
    for (const v of PROBE_VIEWS) {
      expect(p[v].visible.agree).toBe(1);
      expect(p[v].hidden.pixels).toBe(0);
      expect(p[v].visible.pixels).toBe(2 * 2 * 32 * 48);
    }
    // One batch of the same draws, so that the engine's CE over the same frames is the reference.
    const one = await probeMvc(model, source, aug, { block: 16, ratio: 0 }, makeRng(1), 1, 2);
    expect(one.clean.visible.ce).toBeCloseTo(ce, 4);
    expect(one.masked.visible.ce).toBeCloseTo(ce, 4);
    expect(formatMvcProbe(p)).toContain('masked + jittered');
    clean.dispose();
    model.ps.dispose();
  });

  test('everything masked: the masked view is the mean-colour frame', async () => {
    const { model, aug, source } = await setup();
    const p = await probeMvc(model, source, aug, { block: 16, ratio: 1 }, makeRng(2), 1, 2);
    const clean = source.unlabeledBatch(2, makeRng(2));
    const grey = E.zeros(clean.shape);
    expect(p.masked.hidden.pixels).toBe(2 * 32 * 48);
    expect(p.masked.visible.pixels).toBe(0);
    expect(p.clean.hidden.agree).toBe(1);
    expect(p.masked.hidden.ce).toBeCloseTo(await engineCE(model, grey, clean), 4);
    expect(p['masked + jittered'].hidden.ce).toBeCloseTo(p.masked.hidden.ce, 6); // no jitter drawn: the same frame
    for (const t of [clean, grey]) t.dispose();
    model.ps.dispose();
  });
});
