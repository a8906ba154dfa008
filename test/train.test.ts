// Training end to end on a tiny synthetic set: checkpoints, --resume continuing the same curve,
// a NaN stop keeping the last good checkpoint, the report, and option errors.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '../engine/index.ts';
import { readPrediction } from '../dataset/predictions.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { writeSynth } from '../dataset/synth-write.ts';
import { evaluate } from '../eval/evaluate.ts';
import { studentFromCheckpoint } from '../models/checkpoint.ts';
import { DEFAULTS, parseArgs, type TrainOptions } from '../train/config.ts';
import { claimRunDir, commandOptions, resolveRunDir } from '../train/run-state.ts';
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

  test('--init from weights trained for other classes loads all but the classifier; a model shape that contradicts them is refused', async () => {
    // The default run starts from weights pretrained with the embedded set's 10 classes; a data set of
    // another vocabulary (VSPW's 124) keeps the backbone and decoder and trains a fresh classifier.
    const source = path.join(root, 'full', 'model.safetensors');
    const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(source)));
    // ... and was trained on another crop: its position embedding is resized to the grid of --crop (48x32).
    const config = { ...JSON.parse(metadata.config!), numClasses: 7, imageSize: [16, 24] };
    const w = tensors['decoder.classifier.weight']!;
    const c = tensors.pos_embed!.shape[1]!;
    const seven = path.join(root, 'seven-classes.safetensors');
    writeFileSync(
      seven,
      encodeSafetensors(
        {
          ...tensors,
          'decoder.classifier.weight': { dtype: 'f32', shape: [7, ...w.shape.slice(1)], data: new Float32Array(7 * w.shape[1]!).fill(0.5) },
          'decoder.classifier.bias': { dtype: 'f32', shape: [7], data: new Float32Array(7).fill(0.5) },
          pos_embed: { dtype: 'f32', shape: [1, c, 2, 3], data: new Float32Array(c * 6).fill(0.25) },
        },
        { ...metadata, config: JSON.stringify(config), classes: JSON.stringify(Array.from({ length: 7 }, (_, i) => `c${i}`)) },
      ),
    );
    await train(tiny('init-7', { init: seven, lr: 0, weightDecay: 0, steps: 1, checkpointEvery: 1 }));
    const got = decodeSafetensors(new Uint8Array(readFileSync(path.join(root, 'init-7', 'model.safetensors')))).tensors;
    expect(got['decoder.classifier.weight']!.shape[0]).toBe(10); // the data set's classes
    expect([...got['decoder.classifier.bias']!.data].some((v) => v !== 0.5)).toBe(true); // a fresh draw, not the file's
    expect(got.pos_embed!.shape).toEqual([1, c, 4, 6]); // 48x32 crops, patch 8
    for (const v of got.pos_embed!.data) expect(v).toBeCloseTo(0.25, 6); // a constant stays constant under bilinear resizing
    for (const name of ['stem.0.weight', 'blocks.0.attn.qkv.weight', 'decoder.fuse.1.weight']) expect([...got[name]!.data], name).toEqual([...tensors[name]!.data]);

    await expect(train(tiny('init-wide', { init: source, model: { width: 64 } }))).rejects.toThrow(
      `option model: width 64 (the weights have 32): the model's shape comes from --init ${source}; give --init none to train another shape from scratch`,
    );
    expect(parseArgs(['--init', 'none'], () => '')!.init).toBe('');
    expect(DEFAULTS.init).toBe('weights/synth-pretrained.safetensors');
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

describe('a run folder is never lost', () => {
  const bytes = (dir: string, file: string) => readFileSync(path.join(dir, file));

  test('running the default command twice keeps the first run: the second goes to runs/default-2', async () => {
    const cwd = process.cwd();
    const home = path.join(root, 'home');
    mkdirSync(home);
    process.chdir(home);
    try {
      const o = tinyRun(data, DEFAULTS.out, { steps: 2, checkpointEvery: 1 });
      expect(o.out).toBe('');
      await train(o);
      const first = bytes('runs/default', 'model.safetensors');
      const curve = bytes('runs/default', 'metrics.jsonl');
      await train(o);
      expect(bytes('runs/default', 'model.safetensors').equals(first)).toBe(true);
      expect(bytes('runs/default', 'metrics.jsonl').equals(curve)).toBe(true);
      expect(existsSync('runs/default-2/model.safetensors')).toBe(true);
      // --resume without --out continues the newest of them.
      expect(resolveRunDir({ ...o, resume: true })).toBe('runs/default-2');
      expect(readdirSync('runs').sort()).toEqual(['default', 'default-2']); // no lock left behind
      expect(readdirSync('runs/default').filter((f) => f.startsWith('.'))).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });

  test('an --out that holds a run or other files needs --resume or --overwrite; --overwrite keeps what is not ours', async () => {
    const out = path.join(root, 'full');
    const model = bytes(out, 'model.safetensors');
    await expect(train(tiny('full'))).rejects.toThrow(`--out ${out}: holds a run of train/run.js; add --resume to continue it, --overwrite to replace the run's files (other files are kept), or choose another --out`);
    expect(bytes(out, 'model.safetensors').equals(model)).toBe(true);

    const mine = path.join(root, 'mine');
    mkdirSync(mine);
    writeFileSync(path.join(mine, 'notes.txt'), 'a user file');
    await expect(train(tiny('mine'))).rejects.toThrow(/--out .*mine: exists and is not empty \(notes\.txt\)/);
    expect(readdirSync(mine)).toEqual(['notes.txt']);
    await train(tiny('mine', { overwrite: true, steps: 2 }));
    await train(tiny('mine', { overwrite: true, steps: 2 })); // replaces its own run
    expect(readFileSync(path.join(mine, 'notes.txt'), 'utf8')).toBe('a user file');
    expect(losses('mine').map((r) => r[0])).toEqual([1, 2]); // one run's curve, not two interleaved

    await expect(train(tiny('data-out', { out: path.join(data, 'runs') }))).rejects.toThrow(/--out .*: overlaps --data .*: choose another --out/);
    await expect(train(tiny('x', { out: data }))).rejects.toThrow(/overlaps --data/);
  });

  test('a folder is locked while a run writes it; a lock left by a dead process is taken over', async () => {
    const o = tiny('locked', { steps: 2 });
    let seen = '';
    await train(o, {
      onStep: () => {
        try {
          claimRunDir({ ...o, resume: true });
        } catch (e) {
          seen = (e as Error).message;
        }
      },
    });
    expect(seen).toMatch(new RegExp(`--out .*locked: in use by process ${process.pid} on ${hostname()} since .*; wait for it to finish`));
    const dead = spawnSync('true').pid!; // exited: its pid names no process now
    const stale = path.join(root, 'stale');
    mkdirSync(stale);
    writeFileSync(path.join(stale, '.lock'), JSON.stringify({ pid: dead, host: hostname(), since: 'then' }));
    await train(tiny('stale', { steps: 1 }));
    expect(existsSync(path.join(stale, 'model.safetensors'))).toBe(true);
    expect(existsSync(path.join(stale, '.lock'))).toBe(false);
  });

  test('--resume keeps the run\'s options: given alone it takes them, changed ones are refused', async () => {
    const out = path.join(root, 'full');
    const read = () => '{}';
    const o = commandOptions(['--resume', '--out', out, '--eval-every', '7'], read)!;
    expect(o).toMatchObject({ steps: 4, batch: 2, labeledEvery: 2, model: tiny('full').model, evalEvery: 7, resume: true, out });
    // A run recorded before --class-weight existed trained without class weights, and resumes so.
    const info = path.join(out, 'checkpoint.json');
    const saved = readFileSync(info);
    const old = JSON.parse(saved.toString()) as { options: Record<string, unknown> };
    delete old.options.classWeight;
    writeFileSync(info, JSON.stringify(old));
    expect(commandOptions(['--resume', '--out', out], read)!.classWeight).toBe('none');
    // A run started with --overwrite (as the ablation starts its runs) resumes: --overwrite is not carried over.
    old.options.overwrite = true;
    writeFileSync(info, JSON.stringify(old));
    expect(commandOptions(['--resume', '--out', out], read)).toMatchObject({ resume: true, overwrite: false });
    writeFileSync(info, saved);
    await expect(train({ ...o, lr: 0.5, batch: 3 })).rejects.toThrow(
      `--resume: --batch 3 (the run has 2), --lr 0.5 (the run has 0.001): a resumed run keeps its options (${out}/checkpoint.json); give only --resume --out ${out}, or start a new run`,
    );
  });

  test('a damaged checkpoint.json or metrics.jsonl is named; a line cut short by a crash is dropped', async () => {
    await train(tiny('damaged', { steps: 2, checkpointEvery: 1 }));
    const dir = path.join(root, 'damaged');
    await expect(train(tiny('damaged', { steps: 2, checkpointEvery: 1, resume: true }))).rejects.toThrow(`--resume: the run in ${dir} is finished (step 2 of 2); nothing to continue`);
    // Stopped after its last checkpoint but before its final evaluation: resuming only evaluates it.
    const metricsFile = path.join(dir, 'metrics.jsonl');
    const logged = readFileSync(metricsFile, 'utf8');
    const finalLine = logged.split('\n').find((l) => l.includes('"final":1'))!;
    writeFileSync(metricsFile, logged.replace(`${finalLine}\n`, ''));
    const evaluated = await train(tiny('damaged', { steps: 2, checkpointEvery: 1, resume: true }));
    expect(evaluated!.result.mIoU).toBe((JSON.parse(finalLine) as { mIoU: number }).mIoU);
    expect(readFileSync(metricsFile, 'utf8')).toBe(logged);
    await train(tiny('damaged', { steps: 2, checkpointEvery: 1, overwrite: true }), { stopAfter: 1 });
    const info = path.join(dir, 'checkpoint.json');
    const good = readFileSync(info);
    writeFileSync(info, '{"step": 2, "opt');
    await expect(train(tiny('damaged', { steps: 2, checkpointEvery: 1, resume: true }))).rejects.toThrow(`--resume: ${info}: not valid JSON`);
    const recorded = JSON.parse(good.toString()) as { model: object };
    writeFileSync(info, JSON.stringify({ ...recorded, model: { ...recorded.model, depth: 1e9 } }));
    await expect(train(tiny('damaged', { steps: 2, checkpointEvery: 1, resume: true }))).rejects.toThrow(`${info}: invalid student config: depth must be an integer in [1, 64], got 1000000000`);
    writeFileSync(info, good);

    const metrics = path.join(dir, 'metrics.jsonl');
    const lines = readFileSync(metrics, 'utf8');
    writeFileSync(metrics, `${lines.split('\n')[0]}\nnot json\n${lines.split('\n').slice(1).join('\n')}`);
    await expect(train(tiny('damaged', { steps: 2, checkpointEvery: 1, resume: true }))).rejects.toThrow(`${metrics}: line 2 is not a metrics record`);
    writeFileSync(metrics, lines);
    appendFileSync(metrics, '{"step": 2, "lo'); // a crash in the middle of an append
    await train(tiny('damaged', { steps: 2, checkpointEvery: 1, resume: true }));
    expect(readFileSync(metrics, 'utf8').endsWith('\n')).toBe(true);
    expect(losses('damaged').map((r) => r[0])).toEqual([1, 2]);
  });
});

describe('npm run pretrain', () => {
  test('makes weights and a note from a world of another seed; the embedded set\'s seed is refused', () => {
    const run = path.join(root, 'pretrain');
    const out = path.join(root, 'weights', 'p.safetensors');
    const vite = path.resolve('node_modules/.bin/vite-node');
    const cli = (...args: string[]) => spawnSync(process.execPath, [vite, 'train/pretrain.ts', ...args], { encoding: 'utf8' });
    const refused = cli('--seed', '0', '--run', run, '--out', out);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("--seed 0 is the embedded set's seed: pretraining would see its train and val videos");

    const r = cli('--videos', '4', '--frames', '2', '--steps', '2', '--run', run, '--out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(path.join(run, 'world', 'train.txt'), 'utf8').trim().split('\n')).toHaveLength(3); // 4 videos, 1 val
    const note = JSON.parse(readFileSync(path.join(root, 'weights', 'p.json'), 'utf8'));
    expect(note).toMatchObject({ steps: 2, world: { seed: 1, videos: 4, frames: 2, valVideos: 1 } });
    const { step, model } = studentFromCheckpoint(new Uint8Array(readFileSync(out)), out);
    expect(step).toBe(2);
    expect(model.config.numClasses).toBe(10);
    model.ps.dispose();

    // The coarse taxonomy: a 4-class world and classifier; a run folder holding the fine world is refused.
    const wrong = cli('--taxonomy', 'coarse', '--run', run, '--out', out);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain("holds a world with classes sky, building, road, grass, water, tree, person, car, ball, sign, not the coarse taxonomy's");
    const coarseOut = path.join(root, 'weights', 'c.safetensors');
    const c = cli('--taxonomy', 'coarse', '--videos', '4', '--frames', '2', '--steps', '1', '--run', path.join(root, 'pretrain-c'), '--out', coarseOut);
    expect(c.status, c.stderr).toBe(0);
    expect(JSON.parse(readFileSync(path.join(root, 'pretrain-c', 'world', 'classes.json'), 'utf8'))).toEqual(['sky', 'ground', 'structure', 'thing']);
    const coarse = studentFromCheckpoint(new Uint8Array(readFileSync(coarseOut)), coarseOut).model;
    expect(coarse.config.numClasses).toBe(4);
    coarse.ps.dispose();
  }, 180_000);
});
