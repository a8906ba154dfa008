// Semi-supervised training end to end on a tiny synthetic set: every method composes and trains,
// a resumed run reproduces the uninterrupted curve (teacher, queues and schedule restored), memory is
// flat over a longer run, retraining rounds write pseudo-labels, and impossible options stop early.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeSafetensors, memoryStats } from '../engine/index.ts';
import { decodeMask } from '../dataset/image.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { writeSynth } from '../dataset/synth-write.ts';
import { Student, defaultStudentConfig } from '../models/student.ts';
import { parseArgs, type TrainOptions } from '../train/config.ts';
import { writePseudoLabels } from '../train/pseudo.ts';
import { train } from '../train/train.ts';
import { TINY_MODEL, tinyRun } from './fixtures.ts';
import { gpu } from './setup.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-semi-'));
const data = path.join(root, 'data');

beforeAll(async () => {
  await gpu();
  writeSynth(data, { seed: 5, videos: 3, frames: 6, width: 48, height: 32, valVideos: 1 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tiny = (out: string, extra: Partial<TrainOptions> = {}): TrainOptions =>
  tinyRun(data, path.join(root, out), { steps: 6, labeledEvery: 3, checkpointEvery: 2, supSteps: 2, queueSize: 64, ...extra });

type Rec = Record<string, number>;
const records = (dir: string): Rec[] =>
  readFileSync(path.join(root, dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Rec);

describe('semi-supervised training', () => {
  test('all methods together: every loss part is logged after the warm-up, and a resumed run follows the same curve', async () => {
    const full = await train(tiny('full', { method: 'full', evalEvery: 3 }));
    expect(full!.result.mIoU).toBeGreaterThanOrEqual(0);
    const a = records('full').filter((r) => r.loss !== undefined);
    // At each evaluation after the warm-up, the teacher's pseudo-labels are scored on unlabeled frames.
    const scored = a.find((r) => r.step === 3) as unknown as { pseudoMIoU: number; pseudoAccuracy: number; pseudoClassIoU: (number | null)[] };
    expect(scored.pseudoMIoU).toBeGreaterThanOrEqual(0);
    expect(scored.pseudoAccuracy).toBeLessThanOrEqual(1);
    expect(scored.pseudoClassIoU).toHaveLength(VideoDataset.open(data).numClasses);
    // And the GPU memory the run holds (what shows a leak over a long run).
    const mem = a.find((r) => r.step === 3)!;
    expect(mem.liveMiB).toBeGreaterThan(0);
    expect(mem.heldMiB).toBeGreaterThanOrEqual(mem.liveMiB!);
    expect(a.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(a[1]!.unsup).toBeUndefined(); // step 2 is still the supervised warm-up
    for (const r of a.slice(2)) {
      for (const k of ['sup', 'unsup', 'ifr', 'mvc', 'mvcQuality']) expect(Number.isFinite(r[k]), `${k} at step ${r.step}`).toBe(true);
    }
    // The contrastive term needs confident teacher pixels (p > 0.3), which 6 steps do not give; its
    // negatives are queued from the start, and the queues and teacher are checkpointed.
    const semi = decodeSafetensors(new Uint8Array(readFileSync(path.join(root, 'full', 'semi.safetensors'))), 'semi');
    expect(Object.keys(semi.tensors).some((k) => k.startsWith('queue.'))).toBe(true);
    expect(Object.keys(semi.tensors)).toContain('teacher.decoder.classifier.weight');

    // Interrupted after step 5 (checkpoint at 4, past the warm-up: teacher and queues are saved), resumed.
    await train(tiny('resumed', { method: 'full', evalEvery: 3 }), { stopAfter: 5 });
    await train(tiny('resumed', { method: 'full', evalEvery: 3, resume: true }));
    const b = records('resumed').filter((r) => r.loss !== undefined);
    expect(b.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    b.forEach((r, i) => expect(r.loss).toBeCloseTo(a[i]!.loss!, 4));
  });

  test("--mvc gives the student a temporal block only when --config's model says temporal: true", async () => {
    const block = (dir: string) => Object.keys(decodeSafetensors(new Uint8Array(readFileSync(path.join(root, dir, 'model.safetensors'))), dir).tensors).filter((k) => k.startsWith('temporal.'));
    await train(tiny('mvc-clip', { method: 'mvc', steps: 3, checkpointEvery: 3, model: { ...TINY_MODEL, temporal: true } }));
    expect(block('mvc-clip')).toContain('temporal.frame_embed');
    await train(tiny('mvc-frames', { method: 'mvc', steps: 3, checkpointEvery: 3 }));
    expect(block('mvc-frames')).toEqual([]);
    expect(records('mvc-frames').filter((r) => r.mvc !== undefined).length).toBeGreaterThan(0); // MVC still trains, frame by frame
  });

  test('memory stays flat over a longer semi-supervised run (teacher, queues, clips)', async () => {
    const live = new Map<number, number>();
    // Small queues fill within a few steps, so from then on every step should hold the same buffers.
    await train(tiny('flat', { method: 'full', steps: 30, checkpointEvery: 1000, queueSize: 16 }), {
      onStep: (step) => live.set(step, memoryStats().liveBuffers),
    });
    expect(live.size).toBe(30);
    expect(live.get(30)).toBe(live.get(12));
  });

  test('a retraining round writes confident pseudo-labels for the unlabeled frames and trains on them, supervised', async () => {
    const r = await train(tiny('retrain', { method: 'u2pl', retrainRounds: 1, pseudoThreshold: 0.05, pseudoEvery: 2 }));
    expect(r).toBeDefined();
    const dir = path.join(root, 'retrain', 'pseudo-1');
    const videos = readdirSync(dir);
    expect(videos.length).toBe(2); // the two training videos
    // Frames 0 and 3 of each are labeled (--labeled-every 3); of the others, --pseudo-every 2 labels 2 and 4.
    for (const v of videos) expect(readdirSync(path.join(dir, v)).length).toBe(2);
    const mask = decodeMask(readFileSync(path.join(dir, videos[0]!, readdirSync(path.join(dir, videos[0]!))[0]!)), 'mask');
    expect(mask.width * mask.height).toBe(48 * 32);
    const recs = records('retrain');
    expect(recs.find((x) => x.pseudoKept !== undefined)!.pseudoKept).toBe(1); // max prob ≥ 1/K > 0.05
    expect(Math.max(...recs.filter((x) => x.loss !== undefined).map((x) => x.step))).toBe(12); // two rounds of 6
    const round1 = recs.filter((x) => x.round === 1 && x.loss !== undefined);
    expect(round1.length).toBe(6);
    // Round 0 trained U2PL; the retraining round is supervised (labels + pseudo-labels) only.
    expect(recs.some((x) => !x.round && x.unsup !== undefined)).toBe(true);
    expect(round1.every((x) => x.unsup === undefined && Number.isFinite(x.sup))).toBe(true);
  });

  test('options that cannot work stop before training, naming the option', async () => {
    await expect(train(tiny('all-labeled', { method: 'u2pl', labeledEvery: 1 }))).rejects.toThrow(/--u2pl need unlabeled frames, but every training frame is labeled/);
    const short = path.join(root, 'short');
    writeSynth(short, { seed: 6, videos: 2, frames: 3, width: 48, height: 32, valVideos: 1 });
    await expect(train(tiny('long-clip', { data: short, method: 'mvc', mvcClip: 4 }))).rejects.toThrow(/--mvc-clip 4: the longest training video has 3 frames/);
    expect(() => parseArgs(['--mvc', '--mvc-clip', '5'], () => '{}')).toThrow(/mvcClip must be at most 4/);
    expect(() => parseArgs(['--method', 'full', '--mvc-share', '1'], () => '{}')).toThrow(/option mvcShare must be a share strictly between 0 and 1, got 1/);
    expect(() => parseArgs(['--method', 'full', '--mvc-target', 'some'], () => '{}')).toThrow(/option mvcTarget must be all, reliable or visible, got 'some'/);
    expect(parseArgs(['--method', 'full', '--mvc-target', 'reliable'], () => '{}')!.mvcTarget).toBe('reliable');
    expect(() => parseArgs(['--method', 'bogus'], () => '{}')).toThrow(/option method must be one of sup, u2pl, mvc, ifr, full/);
    expect(() => parseArgs(['--u2pl', '--steps', '10', '--sup-steps', '10'], () => '{}')).toThrow(/supSteps \(10\) must be below steps \(10\)/);
    expect(parseArgs(['--method', 'u2pl', '--mvc'], () => '{}')).toMatchObject({ method: 'u2pl', mvc: true });
    expect(parseArgs(['--unsup-drop', '80'], () => '{}')!.unsupDrop).toBe(80);
    expect(() => parseArgs(['--unsup-drop', '120'], () => '{}')).toThrow(/option unsupDrop must be a number in \[0, 100\], got 120/);
    expect(parseArgs(['--unsup-weights', 'sup'], () => '{}')!.unsupWeights).toBe('sup');
    expect(() => parseArgs(['--unsup-weights', 'sqrt'], () => '{}')).toThrow(/option unsupWeights must be none or sup, got 'sqrt'/);
    expect(parseArgs(['--ifr-temperature', '0.1', '--ifr-classifier', 'frozen'], () => '{}')).toMatchObject({ ifrTemperature: 0.1, ifrClassifier: 'frozen' });
    expect(() => parseArgs(['--ifr-temperature', '0'], () => '{}')).toThrow(/option ifrTemperature must be a positive number, got 0/);
    expect(() => parseArgs(['--ifr-classifier', 'fixed'], () => '{}')).toThrow(/option ifrClassifier must be train or frozen, got 'fixed'/);
  });

  test("--ifr-temperature reaches IFR's loss in the training step; the supervised loss of the step is unchanged", async () => {
    const steps = { method: 'ifr', steps: 3, checkpointEvery: 3, evalEvery: 0 } as const;
    await train(tiny('ifr-t01', steps)); // the default, 0.1
    await train(tiny('ifr-t05', { ...steps, ifrTemperature: 0.5 })); // IFR's
    const [a, b] = [records('ifr-t05'), records('ifr-t01')].map((r) => r.filter((x) => x.loss !== undefined));
    expect(b[2]!.sup).toBe(a[2]!.sup); // the first semi step: same model, same batch
    expect(Number.isFinite(b[2]!.ifr)).toBe(true);
    expect(b[2]!.ifr).not.toBeCloseTo(a[2]!.ifr!, 3);
  });

  test('--unsup-weights sup weights the pseudo-labels as the labels (class weights, OHEM); the rest of the step is unchanged', async () => {
    const steps = { method: 'u2pl', steps: 3, checkpointEvery: 3, evalEvery: 0 } as const;
    await train(tiny('uw-none', steps));
    await train(tiny('uw-sup', { ...steps, unsupWeights: 'sup' }));
    const [a, b] = [records('uw-none'), records('uw-sup')].map((r) => r.filter((x) => x.loss !== undefined));
    expect(b.slice(0, 2)).toEqual(a.slice(0, 2).map((r) => ({ ...r, seconds: b[a.indexOf(r)]!.seconds }))); // the warm-up steps are the same
    expect(b[2]!.sup).toBe(a[2]!.sup); // the first semi step: same model, same batch, same supervised loss
    expect(b[2]!.unsup).not.toBeCloseTo(a[2]!.unsup!, 3); // ... but another unsupervised loss
    expect(Number.isFinite(b[2]!.unsup)).toBe(true);
  });

  test('--resume --retrain-rounds adds a retraining round to a finished run; within a round the option is refused', async () => {
    const steps = { method: 'u2pl', steps: 4, supSteps: 2, checkpointEvery: 2 } as const;
    await train(tiny('added', steps));
    // A pseudo-1/ labelled before with the recorded options would be reused: refused while the options change.
    mkdirSync(path.join(root, 'added', 'pseudo-1'));
    const more = { ...steps, resume: true, retrainRounds: 1, pseudoThreshold: 1, pseudoBalance: 0.5 };
    await expect(train(tiny('added', more))).rejects.toThrow(/pseudo-1 was labelled with the run's recorded --pseudo-\* options; remove it/);
    rmSync(path.join(root, 'added', 'pseudo-1'), { recursive: true });
    await train(tiny('added', more));
    const recs = records('added');
    expect(recs.filter((x) => x.loss !== undefined).map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // Threshold 1 keeps nothing on its own; the class-balanced half is what is kept.
    expect(recs.find((x) => x.pseudoKept !== undefined)!.pseudoKept).toBeGreaterThanOrEqual(0.5);
    const info = JSON.parse(readFileSync(path.join(root, 'added', 'checkpoint.json'), 'utf8')) as { step: number; options: TrainOptions };
    expect([info.step, info.options.retrainRounds, info.options.pseudoBalance]).toEqual([8, 1, 0.5]);

    await train(tiny('mid-round', steps), { stopAfter: 3 }); // checkpoint at step 2 of 4
    await expect(train(tiny('mid-round', { ...steps, resume: true, retrainRounds: 1 }))).rejects.toThrow(/--retrain-rounds 1 \(the run has 0\)/);
  });
});

describe('pseudo-labels', () => {
  test('a labelling stopped part-way goes on from the frames it did, to the same masks; other weights begin again', async () => {
    const ds = VideoDataset.open(data);
    const frames = ds.videoFrames('train').flatMap((v) => v.frames.map((frame, index) => ({ video: v.video, frame, index })));
    const config = { ...defaultStudentConfig(ds.numClasses, [32, 48]), ...TINY_MODEL };
    const [model, other] = [new Student(config, 0), new Student(config, 1)];
    const opts = { threshold: 0.5, balance: 0.3 }; // per-class thresholds: the resumed counts must be whole
    const masks = (dir: string) => frames.map((r) => readFileSync(path.join(dir, r.video, `${r.frame}.png`)));
    const stop = { frames: (done: number) => { if (done >= 4) throw new Error('stopped'); } };

    const whole = path.join(root, 'pseudo-whole');
    const a = await writePseudoLabels([model], ds, frames, whole, opts);
    const dir = path.join(root, 'pseudo-stopped');
    await expect(writePseudoLabels([model], ds, frames, dir, opts, stop)).rejects.toThrow('stopped');
    expect(existsSync(dir)).toBe(false); // no half set to train on
    const before = readdirSync(`${dir}.raw`).filter((f) => f.endsWith('.bin')).length;
    expect(before).toBeGreaterThanOrEqual(4);
    expect(before).toBeLessThan(frames.length);
    const stoppedSeconds = Number(readFileSync(path.join(`${dir}.raw`, 'seconds'), 'utf8'));
    expect(stoppedSeconds).toBeGreaterThan(0);
    let resumed = -1;
    let spent = -1;
    const b = await writePseudoLabels([model], ds, frames, dir, opts, { resumed: (n, s) => ((resumed = n), (spent = s)) });
    expect(resumed).toBe(before);
    expect(spent).toBe(stoppedSeconds); // the stopped run's time is counted in the labelling's
    expect(b).toEqual(a);
    expect(masks(dir)).toEqual(masks(whole));

    // Frames labelled by other weights are not reused.
    const again = path.join(root, 'pseudo-other');
    await expect(writePseudoLabels([model], ds, frames, again, opts, stop)).rejects.toThrow('stopped');
    resumed = -1;
    await writePseudoLabels([other], ds, frames, again, opts, { resumed: (n) => (resumed = n) });
    expect(resumed).toBe(0);
    const fresh = path.join(root, 'pseudo-other-whole');
    await writePseudoLabels([other], ds, frames, fresh, opts);
    expect(masks(again)).toEqual(masks(fresh));
    expect(masks(fresh)).not.toEqual(masks(whole));
    model.ps.dispose();
    other.ps.dispose();
  });

  test('videos of different sizes: each chunk holds one video, each mask its frame\'s size', async () => {
    // Two sets of different frame sizes merged into one: 3 videos of 48×32 and 3 of 64×48.
    const mixed = path.join(root, 'mixed');
    writeSynth(mixed, { seed: 8, videos: 3, frames: 6, width: 48, height: 32, valVideos: 1 });
    const other = path.join(root, 'other');
    writeSynth(other, { seed: 9, videos: 3, frames: 6, width: 64, height: 48, valVideos: 1 });
    for (const v of ['video_000', 'video_001']) renameSync(path.join(other, 'data', v), path.join(mixed, 'data', `big_${v}`));
    writeFileSync(path.join(mixed, 'train.txt'), 'video_000\nbig_video_000\nvideo_001\nbig_video_001\n');
    const ds = VideoDataset.open(mixed);
    const frames = ds.videoFrames('train').flatMap((v) => v.frames.map((frame, index) => ({ video: v.video, frame, index })));
    const model = new Student({ ...defaultStudentConfig(ds.numClasses, [32, 48]), ...TINY_MODEL }, 0);
    const dir = path.join(root, 'pseudo-mixed');
    const stats = await writePseudoLabels([model], ds, frames, dir, { threshold: 0, balance: 0 });
    expect(stats.frames).toBe(24);
    expect(stats.kept).toBe(1);
    const masks = frames.map((r) => decodeMask(readFileSync(path.join(dir, r.video, `${r.frame}.png`)), r.frame));
    frames.forEach((r, i) => expect([masks[i]!.width, masks[i]!.height], `${r.video}/${r.frame}`).toEqual(r.video.startsWith('big_') ? [64, 48] : [48, 32]));
    expect(readdirSync(root).filter((f) => f.startsWith('pseudo-mixed.'))).toEqual([]); // no partial or raw folder left

    // Class-balanced: a threshold nothing reaches, but each class keeps its most confident half.
    const balanced = path.join(root, 'pseudo-balanced');
    const b = await writePseudoLabels([model], ds, frames, balanced, { threshold: 1, balance: 0.5 });
    model.ps.dispose();
    const per = new Map<number, { all: number; kept: number }>();
    frames.forEach((r, i) => {
      const m = decodeMask(readFileSync(path.join(balanced, r.video, `${r.frame}.png`)), r.frame);
      masks[i]!.values.forEach((c, p) => {
        const e = per.get(c) ?? { all: 0, kept: 0 };
        e.all++;
        if (m.values[p] === c) e.kept++;
        else expect(m.values[p]).toBe(255); // kept as the same class, or not at all
        per.set(c, e);
      });
    });
    expect(per.size).toBeGreaterThan(1);
    for (const [c, e] of per) {
      expect(e.kept / e.all, `class ${c}`).toBeGreaterThanOrEqual(0.5);
      expect(b.thresholds[c]).toBeLessThan(1);
    }
    expect(b.kept).toBeGreaterThanOrEqual(0.5);
    // Per-class recall and precision against the ground truth, counted here from the written masks.
    const k = ds.numClasses;
    const [truth, labeledAs, right] = [new Array(k).fill(0), new Array(k).fill(0), new Array(k).fill(0)];
    for (const r of frames) {
      const m = decodeMask(readFileSync(path.join(balanced, r.video, `${r.frame}.png`)), r.frame).values;
      ds.readLabels(r.video, r.frame).labels.forEach((g, p) => {
        if (g === 255) return;
        truth[g]++;
        if (m[p] !== 255) labeledAs[m[p]!]++;
        if (m[p] === g) right[g]++;
      });
    }
    for (let c = 0; c < k; c++) {
      expect(b.recall[c], `recall of ${c}`).toEqual(truth[c] ? right[c] / truth[c] : NaN);
      expect(b.precision[c], `precision of ${c}`).toEqual(labeledAs[c] ? right[c] / labeledAs[c] : NaN);
    }
  });
});
