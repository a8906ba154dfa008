// Real VSPW-shaped data end to end: a set in VSPW's own values and layout (no dataset.json: 124 classes
// assumed; masks hold class + 1, 0 "others", 255 void), videos of 854×480, 250×190 (not a multiple of
// the patch) and 320×240. Training with a retraining round, evaluation plain, with TTA, with sliding
// windows and with aggregation: all complete, every prediction has its frame's size, and the scores
// equal a float64 computation of IoU from the prediction and ground-truth PNGs on disk.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeMask } from '../dataset/image.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { writeVspwLike } from '../dataset/synth-write.ts';
import { largestBinding } from '../engine/index.ts';
import { evaluate } from '../eval/evaluate.ts';
import { studentFromCheckpoint } from '../models/checkpoint.ts';
import { train } from '../train/train.ts';
import { tinyRun } from './fixtures.ts';
import { gpu } from './setup.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-vspw-'));
const data = path.join(root, 'data');
const SIZES: [number, number][] = [
  [854, 480],
  [250, 190],
  [320, 240],
];

beforeAll(async () => {
  await gpu();
  writeVspwLike(data, { seed: 2, videos: 6, frames: 3, sizes: SIZES, valVideos: 3 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** IoU per class (0..123) in float64 from the PNGs: VSPW values, 0 and 255 ignored in the ground truth. */
function iouFromPngs(predDir: string, ds: VideoDataset): { perClass: number[]; mIoU: number } {
  const inter = new Float64Array(124);
  const gtCount = new Float64Array(124);
  const predCount = new Float64Array(124);
  for (const video of ds.split('val')) {
    for (const f of readdirSync(path.join(data, 'data', video, 'mask'))) {
      const gt = decodeMask(new Uint8Array(readFileSync(path.join(data, 'data', video, 'mask', f))), f).values;
      const pred = decodeMask(new Uint8Array(readFileSync(path.join(predDir, video, f))), f).values;
      expect(pred.length).toBe(gt.length);
      for (let i = 0; i < gt.length; i++) {
        if (gt[i] === 0 || gt[i] === 255) continue;
        const g = gt[i]! - 1;
        const p = pred[i]! - 1; // predictions in the data set's values: class + 1
        gtCount[g]!++;
        predCount[p]!++;
        if (g === p) inter[g]!++;
      }
    }
  }
  const perClass = Array.from(inter, (n, c) => (gtCount[c]! > 0 ? n / (gtCount[c]! + predCount[c]! - n) : NaN));
  const present = perClass.filter((v) => !Number.isNaN(v));
  return { perClass, mIoU: present.reduce((a, b) => a + b, 0) / present.length };
}

describe('VSPW-shaped data', () => {
  test('train with a retraining round, then evaluate plain, --tta, --infer slide and --aggregate', async () => {
    const ds = VideoDataset.open(data);
    expect(ds.numClasses).toBe(124);
    expect(ds.assumption).toMatch(/no dataset.json, so VSPW's label mapping is assumed \(124 classes/);
    const out = path.join(root, 'run');
    const r = await train(tinyRun(data, out, { steps: 3, labeledEvery: 2, retrainRounds: 1, pseudoThreshold: 0 }));
    expect(r).toBeDefined();
    // Pseudo-labels of every unlabeled frame, each at its frame's size.
    const pseudo = path.join(out, 'pseudo-1');
    for (const video of readdirSync(pseudo)) {
      const size = SIZES[Number(video.slice(-3)) % SIZES.length]!;
      for (const f of readdirSync(path.join(pseudo, video))) {
        const m = decodeMask(new Uint8Array(readFileSync(path.join(pseudo, video, f))), f);
        expect([m.width, m.height], `${video}/${f}`).toEqual(size);
      }
    }
    const { model } = studentFromCheckpoint(new Uint8Array(readFileSync(path.join(out, 'model.safetensors'))), 'model.safetensors');
    expect(model.config.baseSize).toBe(32); // the crop's shorter side: 854×480 is seen at 57×32
    const runs = {
      plain: {},
      tta: { tta: { scales: [0.9, 1, 1.2], mode: 'vote' as const } },
      slide: { infer: 'slide' as const },
      aggregate: { aggregate: model },
    };
    largestBinding(true);
    for (const [name, extra] of Object.entries(runs)) {
      const predDir = path.join(root, `pred-${name}`);
      const { result, predictions } = await evaluate(model, ds, { split: 'val', predDir, ...extra });
      predictions.forEach((p) => {
        const size = SIZES[Number(p.video.slice(-3)) % SIZES.length]!;
        for (const pred of p.preds) expect(pred.length, `${name} ${p.video}`).toBe(size[0] * size[1]);
      });
      const want = iouFromPngs(predDir, ds);
      expect(result.mIoU, name).toBeCloseTo(want.mIoU, 12);
      result.perClassIoU.forEach((v, c) => (Number.isNaN(want.perClass[c]!) ? expect(v).toBeNaN() : expect(v, `${name} class ${c}`).toBeCloseTo(want.perClass[c]!, 12)));
    }
    expect(largestBinding().bytes).toBeLessThan(128 * 2 ** 20);
    model.ps.dispose();
  });
});
