// Training end to end on a tiny synthetic set: checkpoints, --resume continuing the same curve,
// a NaN stop keeping the last good checkpoint, the report, and option errors.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '../engine/index.ts';
import { readPrediction } from '../dataset/predictions.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { writeSynth } from '../dataset/synth-write.ts';
import { evaluate } from '../eval/evaluate.ts';
import { studentFromCheckpoint } from '../models/checkpoint.ts';
import { parseArgs, type TrainOptions } from '../train/config.ts';
import { train } from '../train/train.ts';
import { tinyRun } from './fixtures.ts';
import { gpu } from './setup.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-train-'));
const data = path.join(root, 'data');

beforeAll(async () => {
  await gpu();
  writeSynth(data, { seed: 3, videos: 3, frames: 6, width: 48, height: 32, valVideos: 1 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tiny = (out: string, extra: Partial<TrainOptions> = {}): TrainOptions =>
  tinyRun(data, path.join(root, out), { steps: 4, labeledEvery: 2, checkpointEvery: 2, ...extra });

const losses = (dir: string) =>
  readFileSync(path.join(root, dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { step: number; loss?: number })
    .filter((r) => r.loss !== undefined)
    .map((r) => [r.step, r.loss!] as const);

describe('training', () => {
  test('an interrupted run resumed from its checkpoint follows the uninterrupted curve', async () => {
    const full = await train(tiny('full'));
    expect(full!.result.mIoU).toBeGreaterThanOrEqual(0);
    expect(existsSync(path.join(root, 'full', 'report.html'))).toBe(true);
    expect(readFileSync(path.join(root, 'full', 'report.html'), 'utf8')).toMatch(/<svg[\s\S]*training loss[\s\S]*<img src="report\//);

    // Interrupted after step 3: the last checkpoint is step 2, and metrics.jsonl has step 3 too.
    await train(tiny('resumed'), { stopAfter: 3 });
    expect(JSON.parse(readFileSync(path.join(root, 'resumed', 'checkpoint.json'), 'utf8')).step).toBe(2);
    await train(tiny('resumed', { resume: true }));
    const a = losses('full');
    const b = losses('resumed');
    expect(b.map((r) => r[0])).toEqual([1, 2, 3, 4]); // step 3 of the interrupted run was dropped and redone
    b.forEach(([, l], i) => expect(l).toBeCloseTo(a[i]![1], 5));
  });

  test('a checkpoint evaluates to the same metrics and writes masks in the data set\'s values', async () => {
    const bytes = readFileSync(path.join(root, 'full', 'model.safetensors'));
    const { model, step, labels } = studentFromCheckpoint(new Uint8Array(bytes), 'model.safetensors');
    expect(step).toBe(4);
    const ds = VideoDataset.open(data);
    expect(labels).toEqual(ds.mapping.spec); // the page maps masks with it
    const predDir = path.join(root, 'preds');
    const { result, predictions } = await evaluate(model, ds, { split: 'val', predDir });
    const finalRecord = readFileSync(path.join(root, 'full', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).at(-1);
    expect(result.mIoU).toBeCloseTo(finalRecord.mIoU, 5);
    const p = predictions[0]!;
    const back = readPrediction(predDir, p.video, p.frames[0]!, ds.mapping, 'dataset');
    expect([...back.labels]).toEqual([...p.preds[0]!]);
    model.ps.dispose();
  });

  test('--init starts from a checkpoint\'s weights; a tensor of another shape is named in the error', async () => {
    const source = path.join(root, 'full', 'model.safetensors');
    await train(tiny('init', { init: source, lr: 0, weightDecay: 0, steps: 1, checkpointEvery: 1 })); // lr 0: the weights stay as loaded
    const want = decodeSafetensors(new Uint8Array(readFileSync(source))).tensors;
    const got = decodeSafetensors(new Uint8Array(readFileSync(path.join(root, 'init', 'model.safetensors')))).tensors;
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const [name, t] of Object.entries(want)) expect([...got[name]!.data], name).toEqual([...t.data]);

    const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(source)));
    const name = Object.keys(tensors).find((n) => n.endsWith('.bias'))!;
    const bad = path.join(root, 'bad-init.safetensors');
    writeFileSync(bad, encodeSafetensors({ ...tensors, [name]: { dtype: 'f32', shape: [1], data: new Float32Array(1) } }, metadata));
    await expect(train(tiny('bad-init', { init: bad }))).rejects.toThrow(
      `--init ${bad}: the checkpoint does not fit the model (1 problem):\n  '${name}': expected [${tensors[name]!.shape.join(',')}] f32, got [1] f32`,
    );
  });

  test('a diverging run stops with a message and keeps the last good checkpoint', async () => {
    const err = await train(tiny('nan', { lr: 1e30, warmup: 0, steps: 6, checkpointEvery: 1 })).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/loss is (NaN|Infinity|-Infinity) at step \d+: stopping/);
    const failed = Number(/at step (\d+)/.exec(err!.message)![1]);
    expect(failed).toBeGreaterThan(1); // step 1's loss comes before any update
    expect(JSON.parse(readFileSync(path.join(root, 'nan', 'checkpoint.json'), 'utf8')).step).toBe(failed - 1);
  });

  test('bad options and data are clear errors', async () => {
    const read = () => '{}';
    expect(() => parseArgs(['--steps', '0'], read)).toThrow(/option steps must be an integer >= 1, got 0/);
    expect(() => parseArgs(['--bogus', '1'], read)).toThrow(/unknown option '--bogus'/);
    expect(() => parseArgs(['--lr'], read)).toThrow(/option --lr needs a value/);
    expect(() => parseArgs(['--config', 'c.json'], () => '{"stepz": 3}')).toThrow(/--config c.json: unknown key 'stepz'/);
    expect(parseArgs(['--help'], read)).toBeUndefined();
    expect(parseArgs(['--config', 'c.json', '--batch', '3'], () => '{"batch": 5, "steps": 7}')).toMatchObject({ batch: 3, steps: 7 });
    await expect(train(tiny('missing', { data: path.join(root, 'nope') }))).rejects.toThrow(/--data .*nope: no such directory/);
    await expect(train(tiny('resume-none', { resume: true }))).rejects.toThrow(/--resume: .*checkpoint.json does not exist/);
  });
});
