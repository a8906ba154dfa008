// `npm run ablation` end to end on a tiny set: the methods from a shared warm-up per seed, a retraining
// round on top of a method's run as a row of its own, the gain over each seed's supervised run, the table
// written into a README, and a second invocation that resumes from results.json instead of training again,
// picks up a run that finished unrecorded, and resumes one cut short from its checkpoint; and an
// ablation spread over invocations on other machines, which carry only results.json and teachers.json.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeSynth } from '../dataset/synth-write.ts';
import { RunDir } from '../train/run-state.ts';
import { train } from '../train/train.ts';
import { TINY_MODEL } from './fixtures.ts';
import { gpu } from './setup.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-ablation-'));
const data = path.join(root, 'data');
const out = path.join(root, 'abl');
const readme = path.join(root, 'README.md');
const config = path.join(root, 'tiny.json');
beforeAll(async () => {
  await gpu();
  writeSynth(data, { seed: 8, videos: 3, frames: 6, width: 48, height: 32, valVideos: 1 });
  writeFileSync(config, JSON.stringify({ model: TINY_MODEL, init: '', crop: '48x32' }));
  writeFileSync(readme, '# x\n<!-- ablation:start -->\nold table\n<!-- ablation:end -->\nafter\n');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const vite = path.resolve('node_modules/.bin/vite-node');
const ablation = (...args: string[]) => ablationIn(out, ...args);
const ablationIn = (dir: string, ...args: string[]) =>
  spawnSync(process.execPath, [vite, 'train/ablation.ts', '--data', data, '--out', dir, '--config', config, '--readme', readme, ...args], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() },
  });
const ARGS = ['--seeds', '2', '--methods', 'sup,u2pl', '--retrain', 'u2pl', '--warmup-steps', '2', '--steps', '2', '--batch', '2', '--labeled-every', '2', '--pseudo-every', '2'];

interface Row {
  method: string;
  seed: number;
  mIoU: number;
  minutes: number;
}

describe('npm run ablation', () => {
  test('a retraining round is a row of its own on top of its method; the gain is per seed over supervised; a rerun resumes', () => {
    const bad = ablation(...ARGS.slice(0, 4), '--retrain', 'full');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--retrain full: not among --methods sup,u2pl');

    const r = ablation(...ARGS);
    expect(r.status, r.stderr).toBe(0);
    const rows = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as Row[];
    expect(rows.map((x) => `${x.method}/${x.seed}`).sort()).toEqual(['sup/0', 'sup/1', 'u2pl+retrain/0', 'u2pl+retrain/1', 'u2pl/0', 'u2pl/1']);
    for (const seed of [0, 1]) {
      // Round 0 is left as the method's run; the copy went on for one more round, labelling every 2nd unlabeled frame.
      const step = (dir: string) => JSON.parse(readFileSync(path.join(out, dir, 'checkpoint.json'), 'utf8')).step as number;
      expect(step(`u2pl-s${seed}`)).toBe(2);
      expect(step(`u2pl+retrain-s${seed}`)).toBe(4);
      expect(existsSync(path.join(out, `u2pl-s${seed}`, 'pseudo-1'))).toBe(false);
      expect(existsSync(path.join(out, `u2pl+retrain-s${seed}`, 'pseudo-1'))).toBe(true);
      const recorded = JSON.parse(readFileSync(path.join(out, `u2pl+retrain-s${seed}`, 'checkpoint.json'), 'utf8')).options;
      expect(recorded).toMatchObject({ retrainRounds: 1, pseudoEvery: 2, method: 'u2pl', seed });
    }

    // The Δ column: each seed's gain over its own supervised run, mean ± half the spread (in points).
    const of = (m: string, seed: number) => rows.find((x) => x.method === m && x.seed === seed)!.mIoU;
    const gains = [0, 1].map((s) => 100 * (of('u2pl+retrain', s) - of('sup', s)));
    const mean = (gains[0]! + gains[1]!) / 2;
    const half = Math.abs(gains[0]! - gains[1]!) / 2;
    const md = readFileSync(path.join(out, 'results.md'), 'utf8');
    expect(md).toContain('; 2 seeds (mean ± half the spread).');
    const line = md.split('\n').find((l) => l.startsWith('| U2PL, + 1 retraining round |'))!;
    expect(line.split(' | ')[2]).toBe(`${mean.toFixed(1)} ± ${half.toFixed(1)}`);
    expect(md).toMatch(/\| supervised only \| [\d.]+ ± [\d.]+ \|  \|/); // no gain over itself
    const text = readFileSync(readme, 'utf8');
    expect(text).toContain(`<!-- ablation:start -->\n${md}<!-- ablation:end -->\nafter\n`);

    // A second invocation finds every run in results.json: no training, the same table.
    const again = ablation(...ARGS);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).not.toContain('steps from the warm-up');
    expect(again.stdout).not.toContain('retraining round (pseudo-labels');
    expect(readFileSync(path.join(out, 'results.md'), 'utf8').split('\n').slice(2)).toEqual(md.split('\n').slice(2));
  }, 300_000);

  test('an ablation cut short continues: a finished run not yet recorded is read back, an interrupted one resumed', async () => {
    const resultsPath = path.join(out, 'results.json');
    const before = JSON.parse(readFileSync(resultsPath, 'utf8')) as Row[];
    const lost = (x: Row) => (x.method === 'u2pl' && x.seed === 0) || (x.method === 'sup' && x.seed === 1) || (x.method === 'u2pl+retrain' && x.seed === 1);
    writeFileSync(resultsPath, JSON.stringify(before.filter((x) => !lost(x))));
    // u2pl-s0 finished but its row was never saved; sup-s1 stopped after its first step, as a killed process would.
    const u2plModel = path.join(out, 'u2pl-s0', 'model.safetensors');
    const written = statSync(u2plModel).mtimeMs;
    const sup1 = path.join(out, 'sup-s1');
    const recorded = new RunDir(sup1).readInfo().options;
    renameSync(sup1, `${sup1}.done`);
    await train({ ...recorded, out: sup1, checkpointEvery: 1, overwrite: false, resume: false }, { stopAfter: 1 });
    expect(new RunDir(sup1).readInfo().step).toBe(1);
    // Seed 1's warm-up was killed before its first checkpoint: only its metrics.jsonl is there.
    const warm1 = path.join(out, 'warmup-s1');
    const warmOptions = new RunDir(warm1).readInfo().options;
    renameSync(warm1, `${warm1}.done`);
    await train({ ...warmOptions, out: warm1, checkpointEvery: 1000, overwrite: false, resume: false }, { stopAfter: 1 });
    expect(new RunDir(warm1).hasCheckpoint()).toBe(false);

    const r = ablation(...ARGS);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`resumed from ${path.join(sup1, 'checkpoint.json')} at step 1`);
    expect(statSync(u2plModel).mtimeMs).toBe(written); // read back, not trained again
    expect(new RunDir(warm1).readInfo().step).toBe(2); // the warm-up trained again from the start
    const rows = JSON.parse(readFileSync(resultsPath, 'utf8')) as Row[];
    expect(rows).toHaveLength(before.length);
    for (const x of before.filter(lost)) {
      const again = rows.find((y) => y.method === x.method && y.seed === x.seed)!;
      // The resumed run sees the same batches from its checkpoint on: the same model, to float rounding.
      expect(again.mIoU).toBeCloseTo(x.mIoU, 4);
    }
    // A round read back counts the minutes its log holds: the labelling, then its steps.
    const log = readFileSync(path.join(out, 'u2pl+retrain-s1', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const labelling = log.find((l) => l.labelSeconds !== undefined).labelSeconds as number;
    const trained = Math.max(...log.filter((l) => l.step > 2 && l.seconds !== undefined).map((l) => l.seconds as number));
    expect(labelling).toBeGreaterThan(0);
    const round = rows.find((y) => y.method === 'u2pl+retrain' && y.seed === 1)!;
    expect(round.minutes).toBeCloseTo((labelling + trained) / 60, 6);
  }, 300_000);

  test('--only-seeds: a later invocation, given only results.json and teachers.json, adds a seed and writes the whole table', () => {
    const bad = ablation(...ARGS, '--only-seeds', '1,2');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--only-seeds 2: not among the --seeds 2');

    // What a session commits: the two files, without the runs' folders. Seed 1 is still to run.
    const all = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as Row[];
    const later = path.join(root, 'later');
    mkdirSync(later);
    writeFileSync(path.join(later, 'results.json'), JSON.stringify(all.filter((x) => x.seed === 0)));
    copyFileSync(path.join(out, 'teachers.json'), path.join(later, 'teachers.json'));
    const laterReadme = path.join(later, 'README.md');
    const table = () => readFileSync(path.join(later, 'results.md'), 'utf8');

    // Seed 0 is all there: nothing trains, and every row says which seeds it holds.
    const first = ablationIn(later, ...ARGS, '--only-seeds', '0', '--readme', laterReadme);
    expect(first.status, first.stderr).toBe(0);
    expect(existsSync(path.join(later, 'warmup-s0'))).toBe(false);
    expect(table()).toContain('| supervised only (seed 0 of 2) |');
    expect(table()).toContain('| U2PL, + 1 retraining round (seed 0 of 2) |');
    // One seed: its values without a spread, and the gain over that seed's supervised run, named.
    const sup0 = all.find((x) => x.method === 'sup' && x.seed === 0)!;
    const u2pl0 = all.find((x) => x.method === 'u2pl' && x.seed === 0)!;
    const f = (v: number) => (100 * v).toFixed(1);
    expect(table()).toContain(`| U2PL (seed 0 of 2) | ${f(u2pl0.mIoU)} | ${f(u2pl0.mIoU - sup0.mIoU)} (over ${f(sup0.mIoU)}) |`);

    const second = ablationIn(later, ...ARGS, '--only-seeds', '1');
    expect(second.status, second.stderr).toBe(0);
    expect(existsSync(path.join(later, 'warmup-s0'))).toBe(false);
    expect(existsSync(path.join(later, 'warmup-s1', 'model.safetensors'))).toBe(true);
    const rows = JSON.parse(readFileSync(path.join(later, 'results.json'), 'utf8')) as Row[];
    expect(rows.map((x) => `${x.method}/${x.seed}`).sort()).toEqual(all.map((x) => `${x.method}/${x.seed}`).sort());
    for (const x of all.filter((y) => y.seed === 1)) {
      // Training depends only on (seed, step): seed 1 trained here is seed 1 trained with seed 0.
      expect(rows.find((y) => y.method === x.method && y.seed === 1)!.mIoU).toBeCloseTo(x.mIoU, 4);
    }
    // The whole table, as the single invocation wrote it (its caption's date aside).
    const whole = readFileSync(path.join(out, 'results.md'), 'utf8').split('\n');
    const minutes = (l: string) => l.replace(/\| [\d.]+ \|$/, '|'); // this invocation's own timing
    expect(table().split('\n').slice(1).map(minutes)).toEqual(whole.slice(1).map(minutes));
    expect(table()).not.toContain(' of 2)');
  }, 300_000);
});
