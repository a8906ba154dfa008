// Supervised training of the segmentation student (semi-supervised methods come in later issues),
// with progress, metrics.jsonl, atomic checkpoints, --resume, a final evaluation on the val split
// and report.html. The command line is train/main.ts.
import { existsSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { AdamW, SGD, backward, crossEntropy, describeDevice, polyLR, tidy, zeroGrad } from '../engine/index.ts';
import { initNode } from '../engine/node.ts';
import { IGNORE } from '../dataset/labels.ts';
import { VideoDataset, type Sample } from '../dataset/reader.ts';
import { makeRng, mixSeed } from '../dataset/rng.ts';
import { labeledEvery, labeledVideos, type FrameRef } from '../dataset/splits.ts';
import { writeSynth } from '../dataset/synth-write.ts';
import { evaluate, formatResult } from '../eval/evaluate.ts';
import type { SegResult } from '../eval/metrics.ts';
import { Student, defaultStudentConfig, type StudentConfig } from '../models/student.ts';
import { DEFAULTS, type TrainOptions } from './config.ts';
import { TRAIN_AUGMENT, augment, frameTensor, labelTensor, stackBatch } from './images.ts';
import { Progress } from './progress.ts';
import { writeReport } from './report.ts';
import { RunDir, type CheckpointInfo } from './run-state.ts';

/** The embedded data set is generated on first use, into a temporary folder renamed when complete. */
function ensureData(o: TrainOptions): void {
  if (existsSync(o.data)) return;
  if (path.resolve(o.data) !== path.resolve(DEFAULTS.data)) throw new Error(`--data ${o.data}: no such directory`);
  console.log(`generating the synthetic data set into ${o.data} (first run only)...`);
  const tmp = `${o.data}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const n = writeSynth(tmp);
  renameSync(tmp, o.data);
  console.log(`wrote ${n} files`);
}

function trainingSplit(o: TrainOptions, ds: VideoDataset): FrameRef[] {
  const videos = ds.videoFrames('train');
  const split = o.labeledVideos > 0 ? labeledVideos(videos, o.labeledVideos, o.seed) : labeledEvery(videos, o.labeledEvery);
  const labeled = split.labeled.filter((r) => ds.hasMask(r.video, r.frame));
  if (!labeled.length) throw new Error(`${o.data}: the training split has no labeled frames (labeled-every ${o.labeledEvery}, labeled-videos ${o.labeledVideos})`);
  ds.checkMasks(labeled);
  return labeled;
}

export interface TrainResult {
  result: SegResult;
  labeledFrames: number;
}

/**
 * Train with options `o` (see config.ts), evaluate on val, write the report. `stopAfter` ends the
 * loop early without the final evaluation, as an interrupted run would (tests use it for --resume).
 */
export async function train(o: TrainOptions, hooks: { stopAfter?: number } = {}): Promise<TrainResult | undefined> {
  ensureData(o);
  const ds = VideoDataset.open(o.data);
  const labeled = trainingSplit(o, ds);
  const run = new RunDir(o.out);
  const prior: CheckpointInfo | undefined = o.resume ? run.readInfo() : undefined;
  if (prior && prior.labeledFrames !== labeled.length) {
    throw new Error(`--resume: the checkpoint trained on ${prior.labeledFrames} labeled frames, these options give ${labeled.length}`);
  }

  const dev = await initNode();
  console.log(`device: ${describeDevice(dev)}`);
  const first = ds.readFrame(labeled[0]!.video, labeled[0]!.frame);
  const size: [number, number] = [first.height, first.width];
  const modelConfig: StudentConfig = prior?.model ?? { ...defaultStudentConfig(ds.numClasses, size), ...o.model };
  if (modelConfig.numClasses !== ds.numClasses) {
    throw new Error(`the checkpoint's model has ${modelConfig.numClasses} classes, the data set ${ds.numClasses}`);
  }
  const model = new Student(modelConfig, o.seed);
  const params = model.ps.list();
  const opt = o.optimizer === 'sgd' ? new SGD(params, { lr: o.lr, momentum: 0.9, weightDecay: o.weightDecay }) : new AdamW(params, { lr: o.lr, weightDecay: o.weightDecay });
  let start = 0;
  if (prior) {
    await run.load(model.ps.tensors, opt.state().tensors);
    opt.loadState({ meta: prior.optimizer } as never);
    start = prior.step;
    console.log(`resumed from ${run.infoPath} at step ${start}`);
  }
  const history = run.records(start);
  console.log(
    `training ${model.ps.size().toLocaleString()} parameters on ${labeled.length} labeled frames of ${ds.split('train').length} videos ` +
      `(${o.labeledVideos > 0 ? `${o.labeledVideos * 100}% of videos` : `1 frame in ${o.labeledEvery}`}), ${o.steps} steps of ${o.batch}`,
  );

  // Decoded frames are cached: the data sets this trains on in minutes fit in memory.
  const cache = new Map<string, Sample>();
  const sample = (r: FrameRef): Sample => {
    const key = `${r.video}/${r.frame}`;
    let s = cache.get(key);
    if (!s) cache.set(key, (s = ds.readSample(r.video, r.frame)));
    return s;
  };
  const aug = TRAIN_AUGMENT(modelConfig.imageSize, o.scaleMin, o.scaleMax);
  const lrAt = (step: number) => polyLR(step, { base: o.lr, total: o.steps, warmup: Math.min(o.warmup, o.steps - 1) });
  const info = (step: number): CheckpointInfo => ({ step, options: o, model: modelConfig, classNames: ds.classNames, optimizer: opt.state().meta, labeledFrames: labeled.length });

  const progress = new Progress(o.steps, start);
  const t0 = performance.now();
  for (let step = start + 1; step <= o.steps; step++) {
    // Batches depend only on (seed, step), so a resumed run sees the same data as an uninterrupted one.
    const rng = makeRng(mixSeed(o.seed, step));
    const parts = Array.from({ length: o.batch }, () => {
      const s = sample(rng.pick(labeled));
      return tidy(() => augment(frameTensor(s.frame), labelTensor(s.labels), rng, aug));
    });
    const lr = lrAt(step);
    const loss = tidy(() => {
      const batch = stackBatch(
        parts.map((p) => p.image),
        parts.map((p) => p.labels!),
      );
      const l = crossEntropy(model.forward(batch.images).logits, batch.labels!, { ignoreIndex: IGNORE });
      backward(l);
      opt.step(lr);
      zeroGrad(params);
      return l;
    });
    const value = await loss.item();
    loss.dispose();
    if (!Number.isFinite(value)) {
      progress.break();
      throw new Error(`loss is ${value} at step ${step}: stopping. The last good checkpoint (step ${history.at(-1)?.step ?? 'none'}) is in ${o.out}; try a lower --lr.`);
    }
    progress.update(step, { loss: value.toFixed(4), lr: lr.toExponential(2) });
    const record: Record<string, number> = { step, loss: value, lr, seconds: (performance.now() - t0) / 1000 };
    if (o.evalEvery && step % o.evalEvery === 0 && step < o.steps) {
      const { result } = await evaluate(model, ds, { split: 'val', videos: o.evalVideos });
      record.mIoU = result.mIoU;
      progress.break();
      console.log(`step ${step}: val mIoU ${(100 * result.mIoU).toFixed(1)} on ${o.evalVideos} videos`);
    }
    run.log(record);
    history.push(record);
    if (step % o.checkpointEvery === 0 || step === o.steps) await run.save(info(step), model.ps.tensors, opt.state().tensors);
    if (step === hooks.stopAfter) {
      progress.break();
      model.ps.dispose();
      opt.dispose();
      return undefined;
    }
  }
  progress.break();

  console.log('evaluating on the val split...');
  const { result, predictions } = await evaluate(model, ds, { split: 'val' });
  const final = { step: o.steps, mIoU: result.mIoU, mVC8: result.mVC8, mVC16: result.mVC16, final: 1 };
  run.log(final);
  history.push(final);
  console.log(formatResult(result, ds.classNames));
  const report = writeReport(o.out, { history, result, classNames: ds.classNames, predictions, ds });
  console.log(`report: ${report}`);
  model.ps.dispose();
  opt.dispose();
  return { result, labeledFrames: labeled.length };
}
