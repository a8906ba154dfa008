// `node eval/run.js` end to end (run from source with vite-node) with model aggregation and class
// correction against a local stub of an OpenAI-compatible endpoint: what the log says, the JSON line,
// the masks written, and the failures that must leave no half-written output: an unreachable endpoint
// (masks unchanged, logged), a misspelt class, an unreadable frame, frames of different sizes.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeMask, encodePaletteMask } from '../dataset/image.ts';
import { encodeJpeg } from '../dataset/jpeg-encode.ts';
import { SYNTH_CLASSES } from '../dataset/synth.ts';
import { writeSynth } from '../dataset/synth-write.ts';
import { saveCheckpoint } from '../engine/checkpoint-node.ts';
import * as E from '../engine/index.ts';
import { Student, defaultStudentConfig } from '../models/student.ts';
import { gpu } from './setup.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-eval-cli-'));
const data = path.join(root, 'data');
const ckpt = (name: string) => path.join(root, `${name}.safetensors`);
let server: Server;
let url = '';
const asked: string[] = [];

beforeAll(async () => {
  await gpu();
  writeSynth(data, { seed: 9, videos: 3, frames: 4, width: 48, height: 32, valVideos: 2 });
  for (const [name, seed] of [['a', 1], ['b', 2]] as const) {
    const m = new Student({ ...defaultStudentConfig(SYNTH_CLASSES.length, [32, 48]), width: 16, depth: 1, heads: 2, mlpRatio: 2, stemDim: 8, decoderDim: 8, reprDim: 8 }, seed);
    // Weights ×3: the initialisation's small logits make a random model predict one class everywhere;
    // larger ones give varied masks, so that both aggregation and class correction have work to do.
    const scaled = new Map([...m.ps.tensors].map(([k, t]) => [k, E.affine(t, 3)]));
    await saveCheckpoint(ckpt(name), scaled, { step: '0', config: JSON.stringify(m.config), classes: JSON.stringify(SYNTH_CLASSES) });
    scaled.forEach((t) => t.dispose());
    m.ps.dispose();
  }
  // Answers every question with the group's first class that appears in the question, as "Grass.".
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      const text = (JSON.parse(body) as { messages: { content: { type: string; text?: string }[] }[] }).messages[0]!.content.find((c) => c.type === 'text')!.text!;
      asked.push(text);
      const answer = text.match(/ a (\w+)/)![1]!;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: `${answer[0]!.toUpperCase()}${answer.slice(1)}.` } }] }));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}, 300_000);
afterAll(async () => {
  await new Promise((ok) => server.close(ok));
  rmSync(root, { recursive: true, force: true });
});

/** Runs the CLI without blocking this process (the stub server must keep answering). */
function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const vite = path.resolve('node_modules/.bin/vite-node');
  return new Promise((ok) => {
    const p = spawn(process.execPath, [vite, 'eval/main.ts', '--data', data, '--pred-values', 'class-ids', ...args]);
    let stdout = '', stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c));
    p.stderr.on('data', (c: Buffer) => (stderr += c));
    p.on('close', (status) => ok({ status, stdout, stderr }));
  });
}

const masks = (dir: string) =>
  readdirSync(dir)
    .sort()
    .flatMap((v) => readdirSync(path.join(dir, v)).sort().map((f) => decodeMask(readFileSync(path.join(dir, v, f)), f).values));
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;

describe('node eval/run.js', () => {
  test('--aggregate says which model each video took and why, and scores each model and the aggregate', async () => {
    const r = await cli('--checkpoint', ckpt('a'), '--aggregate', ckpt('b'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/video_\d+: [AB] \((the higher mean SSIM of flow-warped masks|a tie, kept the first model); A 0?\.?[\d.]+, B [\d.]+ over 3 frame pairs\)/);
    // Progress in a log (stderr is a pipe here): a line per video with its rate and ETA.
    expect(r.stderr).toMatch(/^video 1\/2  [\d.]+ videos\/s  ETA \d+m\d\ds$/m);
    expect(r.stderr).toMatch(/^video 2\/2  [\d.]+ videos\/s  ETA 0m00s$/m);
    expect(r.stdout).toMatch(/^A \(.*a\.safetensors\): mIoU +[\d.]+ +mVC8 .*$/m);
    expect(r.stdout).toMatch(/^B \(.*b\.safetensors\): mIoU/m);
    expect(r.stdout).toMatch(/^aggregate: mIoU .* \(videos from A: \d, from B: \d\)$/m);
    const agg = lastJson(r.stdout).aggregate as { models: unknown[]; choices: { chosen: number; scores: number[] }[] };
    expect(agg.models).toHaveLength(2);
    expect(agg.choices).toHaveLength(2);
    for (const c of agg.choices) expect(c.chosen).toBe(c.scores[1]! > c.scores[0]! ? 1 : 0);
  }, 600_000);

  test('--vlm-* relabels each group to the answered class; an unreachable endpoint leaves the masks and says so', async () => {
    const plain = path.join(root, 'plain'), fixed = path.join(root, 'fixed'), down = path.join(root, 'down');
    const base = ['--checkpoint', ckpt('a')];
    expect((await cli(...base, '--out', plain)).status).toBe(0);
    const before = masks(plain);
    // Groups of the classes the random model predicts most, so that the correction has work to do.
    const counts = SYNTH_CLASSES.map((_, c) => before.reduce((n, m) => n + m.filter((v) => v === c).length, 0));
    const [c1, c2, c3] = SYNTH_CLASSES.map((_, c) => c).sort((a, b) => counts[b]! - counts[a]!);
    const spec = `stuff:${SYNTH_CLASSES[c1!]},${SYNTH_CLASSES[c2!]},${SYNTH_CLASSES[c3!]}`;
    const vlm = ['--vlm-url', url, '--vlm-model', 'stub-vl', '--vlm-classes', spec];
    const r = await cli(...base, '--out', fixed, ...vlm);
    expect(r.status, r.stderr).toBe(0);
    expect(asked.at(-1)).toBe(`Is the stuff in the image a ${SYNTH_CLASSES[c1!]}, ${SYNTH_CLASSES[c2!]} or ${SYNTH_CLASSES[c3!]}? Please give me the only answer.`);
    expect(r.stdout).toMatch(/class correction: 2 relabelled, 0 left unchanged/);
    // The stub always answers the first class: every pixel of the group now has it, all others as before.
    const after = masks(fixed);
    const group = new Set([c1, c2, c3]);
    after.forEach((m, i) => m.forEach((v, p) => expect(v).toBe(group.has(before[i]![p]!) ? c1 : before[i]![p])));
    expect(counts[c2!]! + counts[c3!]!, `class counts ${counts}`).toBeGreaterThan(0);

    const closed = await cli(...base, '--out', down, '--vlm-url', 'http://127.0.0.1:1/v1', '--vlm-model', 'x', '--vlm-classes', spec, '--vlm-timeout', '2000');
    expect(closed.status, closed.stderr).toBe(0);
    expect(closed.stderr).toMatch(/unchanged — request failed/);
    expect(closed.stdout).toMatch(/class correction: 0 relabelled, 2 left unchanged/);
    expect(masks(down)).toEqual(before);
  }, 600_000);

  test('bad input stops with a clear error and leaves no output folder', async () => {
    const out = path.join(root, 'bad');
    const misspelt = await cli('--checkpoint', ckpt('a'), '--out', out, '--vlm-url', url, '--vlm-model', 'm', '--vlm-classes', 'grass,gras');
    expect(misspelt.status).toBe(1);
    expect(misspelt.stderr).toMatch(/eval: --vlm-classes.*gras/);
    const half = await cli('--checkpoint', ckpt('a'), '--out', out, '--vlm-url', url);
    expect(half.stderr).toMatch(/needs --vlm-url, --vlm-model, --vlm-classes together; missing --vlm-model, --vlm-classes/);
    const noB = await cli('--checkpoint', ckpt('a'), '--aggregate', path.join(root, 'nope.safetensors'));
    expect(noB.stderr).toMatch(/--aggregate .*nope\.safetensors: cannot read \(ENOENT\)/);
    // An unreadable frame in the second val video: the first video's masks must not survive.
    const video = readFileSync(path.join(data, 'val.txt'), 'utf8').trim().split('\n')[1]!;
    const dir = path.join(data, 'data', video, 'origin');
    const frame = path.join(dir, readdirSync(dir).sort()[1]!);
    const good = readFileSync(frame);
    writeFileSync(frame, 'not an image');
    try {
      const broken = await cli('--checkpoint', ckpt('a'), '--out', out);
      expect(broken.status).toBe(1);
      expect(broken.stderr).toMatch(new RegExp(`eval: .*${path.basename(frame)}.*not a JPEG or PNG`));
    } finally {
      writeFileSync(frame, good);
    }
    // A frame (and its mask) of another size in the middle of a video.
    const maskDir = path.join(data, 'data', video, 'mask');
    const maskFile = path.join(maskDir, readdirSync(maskDir).sort()[1]!);
    const goodMask = readFileSync(maskFile);
    writeFileSync(frame, encodeJpeg({ width: 24, height: 16, rgb: new Uint8Array(24 * 16 * 3).fill(90) }));
    writeFileSync(maskFile, encodePaletteMask({ width: 24, height: 16, values: new Uint8Array(24 * 16) }));
    try {
      const odd = await cli('--checkpoint', ckpt('a'), '--out', out);
      expect(odd.status).toBe(1);
      expect(odd.stderr).toMatch(new RegExp(`eval: evaluate: video ${video}: frame ${path.basename(frame, '.jpg')} is 24×16 but \\S+ is 48×32`));
    } finally {
      writeFileSync(frame, good);
      writeFileSync(maskFile, goodMask);
    }
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(root).filter((f) => f.includes('bad'))).toEqual([]); // the hidden staging folder too
  }, 600_000);

  test('--out never deletes what eval did not write, and never overlaps the data set', async () => {
    const out = path.join(root, 'mine');
    mkdirSync(out);
    writeFileSync(path.join(out, 'notes.txt'), 'a user file');
    const refused = await cli('--checkpoint', ckpt('a'), '--out', out);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/eval: --out .*mine: exists and is not empty \(notes\.txt\); choose another folder, or add --overwrite/);
    expect(readdirSync(out)).toEqual(['notes.txt']);
    // --overwrite writes the masks beside the user's file; twice, to replace its own masks.
    for (let i = 0; i < 2; i++) {
      const r = await cli('--checkpoint', ckpt('a'), '--out', `${out}/`, '--overwrite');
      expect(r.status, r.stderr).toBe(0);
    }
    expect(readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('a user file');
    const videos = readFileSync(path.join(data, 'val.txt'), 'utf8').trim().split('\n');
    expect(readdirSync(out).sort()).toEqual(['notes.txt', ...videos].sort());
    expect(readdirSync(root).filter((f) => f.includes('partial'))).toEqual([]);

    // The data set as --out, with or without a trailing slash, or a folder inside it: refused, data intact.
    const files = (dir: string): string[] => readdirSync(dir, { recursive: true }).map(String).sort();
    const inData = files(data);
    for (const o of [data, `${data}/`, path.join(data, 'data', 'preds')]) {
      const r = await cli('--checkpoint', ckpt('a'), '--out', o, '--overwrite');
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/eval: --out .*: overlaps --data .*: choose another --out/);
    }
    expect(files(data)).toEqual(inData);

    // A folder another live process writes is refused, saying who holds it.
    const busy = path.join(root, 'busy');
    mkdirSync(busy);
    writeFileSync(path.join(busy, '.lock'), JSON.stringify({ pid: process.pid, host: hostname(), since: 'now' }));
    const locked = await cli('--checkpoint', ckpt('a'), '--out', busy);
    expect(locked.stderr).toMatch(new RegExp(`eval: --out .*busy: in use by process ${process.pid} on `));
  }, 600_000);
});
