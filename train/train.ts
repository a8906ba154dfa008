// Training of the segmentation student, supervised or semi-supervised (train/semi.ts), with progress,
// metrics.jsonl, atomic checkpoints, --resume, pseudo-label retraining rounds, a final evaluation on
// the val split and report.html. The command line is train/main.ts.
//
// Steps are numbered globally over the rounds (round r covers steps r·S+1 … (r+1)·S), so checkpoints,
// metrics.jsonl and --resume work across rounds. A round begins with a fresh student; after it, the
// teacher and student label the unlabeled frames (train/pseudo.ts) and the next round trains on
// labels + pseudo-labels, supervised only (as the PVUW 2024 winners retrained: the semi-supervised
// methods train round 0, whose pseudo-labels are what the later rounds learn from).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  AdamW, SGD, assignData, keep, tensor, backward, beginProfiledStep, compiledSoFar, decodeSafetensors, describeDevice, endProfiledStep, formatProfile, polyLR, profileSummary,
  matchByName, memoryStats, problemsError, resizeBilinear, stack, type Tensor, startProfiling, stopProfiling, tidy, zeroGrad,
} from '../engine/index.ts';
import { readRegularFile } from '../engine/checkpoint-node.ts';
import { initNode } from '../engine/node.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { makeRng, mixSeed } from '../dataset/rng.ts';
import { labeledEvery, labeledVideos, type FrameRef, type SemiSplit } from '../dataset/splits.ts';
import { writeSynthWhole } from '../dataset/synth-write.ts';
import { EMBEDDED, SYNTH_VERSION } from '../dataset/synth.ts';
import { evaluate, formatResult } from '../eval/evaluate.ts';
import type { SegResult } from '../eval/metrics.ts';
import { checkConfigFitsTensors, studentConfigOf } from '../models/checkpoint.ts';
import { Student, checkStudentConfig, defaultStudentConfig, type StudentConfig } from '../models/student.ts';
import { Batches } from './batches.ts';
import { classCounts, sqrtInverseWeights } from './class-weights.ts';
import { DEFAULTS, PRETRAINED, PROFILE_WARMUP, ROUND_OPTIONS, cropSize, methodsOf, resumeChanges, supStepsOf, type TrainOptions } from './config.ts';
import { TRAIN_AUGMENT } from './images.ts';
import { Progress } from '../eval/progress.ts';
import { formatClassIoU, formatQuality, pseudoLabelQuality } from './pseudo-quality.ts';
import { framesToLabel, pseudoLabelSource, writePseudoLabels } from './pseudo.ts';
import { writeReport } from './report.ts';
import { RunDir, claimRunDir, type CheckpointInfo } from './run-state.ts';
import { SemiStep } from './semi.ts';
import { MeanTeacher } from './teacher.ts';

/** Per-class figures for metrics.jsonl: JSON has no NaN (a class with nothing to measure). */
const nanToNull = (a: number[]): (number | null)[] => a.map((v) => (Number.isNaN(v) ? null : v));

/** Unlabeled frames on which a semi-supervised run scores its teacher at each evaluation (--eval-every). */
const WATCHED = 32;

/**
 * The embedded data set is generated on first use, into a temporary folder renamed when complete. One
 * made by an older generator is used as it is (it may hold the user's changes), with a warning.
 */
function ensureData(o: TrainOptions): void {
  const isDefault = path.resolve(o.data) === path.resolve(DEFAULTS.data);
  if (existsSync(o.data)) {
    if (isDefault) {
      const older = olderGenerator(path.join(o.data, 'synth.json'));
      if (older) console.warn(`${o.data} was made by another version of the generator (${older}, now v${SYNTH_VERSION}); move it away to get the current embedded set`);
    }
    return;
  }
  if (!isDefault) throw new Error(`--data ${o.data}: no such directory`);
  console.log(`generating the synthetic data set into ${o.data} (first run only)...`);
  console.log(`wrote ${writeSynthWhole(o.data, EMBEDDED)} files`);
}

/** Which generator made the set whose synth.json is `marker`, when not the current one (undefined if it is). */
function olderGenerator(marker: string): string | undefined {
  if (!existsSync(marker)) return 'v1 (no synth.json)';
  try {
    const v = (JSON.parse(readFileSync(marker, 'utf8')) as { version?: unknown }).version;
    return v === SYNTH_VERSION ? undefined : `v${String(v)}`;
  } catch (e) {
    return `unknown (${marker}: ${(e as Error).message})`;
  }
}

/** The labeled and unlabeled training frames for options `o` (its labels option and seed). */
export function trainingSplit(o: TrainOptions, ds: VideoDataset): SemiSplit {
  const videos = ds.videoFrames('train');
  const split = o.labeledVideos > 0 ? labeledVideos(videos, o.labeledVideos, o.seed) : labeledEvery(videos, o.labeledEvery);
  const labeled = split.labeled.filter((r) => ds.hasMask(r.video, r.frame));
  if (!labeled.length) throw new Error(`${o.data}: the training split has no labeled frames (labeled-every ${o.labeledEvery}, labeled-videos ${o.labeledVideos})`);
  ds.checkMasks(labeled);
  return { labeled, unlabeled: split.unlabeled };
}

/** Options that cannot work with each other or with the data stop here, before any training. */
function checkSemi(o: TrainOptions, split: SemiSplit, ds: VideoDataset): void {
  const m = methodsOf(o);
  const longest = Math.max(...ds.videoFrames('train').map((v) => v.frames.length));
  if ((m.u2pl || m.ifr || o.retrainRounds > 0) && split.unlabeled.length === 0) {
    const which = [m.u2pl && '--u2pl', m.ifr && '--ifr', o.retrainRounds > 0 && '--retrain-rounds'].filter(Boolean).join(', ');
    throw new Error(`${which} need unlabeled frames, but every training frame is labeled (--labeled-every ${o.labeledEvery}): use --labeled-every K > 1 or --labeled-videos F < 1`);
  }
  if (m.mvc && o.mvcClip > longest) throw new Error(`--mvc-clip ${o.mvcClip}: the longest training video has ${longest} frames`);
  if (m.ifr && longest < 2) throw new Error('--ifr pairs two frames of one video, but every training video has a single frame');
  if (m.any && o.retrainRounds > 0 && supStepsOf(o) >= o.steps) throw new Error(`--sup-steps ${o.supSteps} leaves no semi-supervised steps in a round of ${o.steps}`);
}

/**
 * The student's settings: from the resumed run, or --init's checkpoint, or the defaults + --config's
 * "model"; then --crop (imageSize) and --base-size. The frames' own size does not enter: a step costs
 * the same whatever the data's resolution.
 */
function modelConfigFor(o: TrainOptions, ds: VideoDataset, prior: CheckpointInfo | undefined, run: RunDir): StudentConfig {
  if (prior) {
    // checkpoint.json's config, checked against the weights before the model takes any memory.
    const c = checkStudentConfig(prior.model, run.infoPath);
    checkConfigFitsTensors(c, decodeSafetensors(readRegularFile(run.modelPath), run.modelPath).tensors, run.modelPath);
    return c;
  }
  const crop = cropSize(o);
  let c: StudentConfig = checkStudentConfig({ ...defaultStudentConfig(ds.numClasses, crop), ...o.model, ...(crop && { imageSize: crop }) }, 'option model');
  if (o.init) {
    if (!existsSync(o.init) && o.init === PRETRAINED) {
      throw new Error(`--init ${o.init}: the shipped starting weights are missing (run from the repository's root; \`npm run pretrain\` remakes them; --init none trains from scratch)`);
    }
    const { metadata, tensors } = decodeSafetensors(readRegularFile(o.init, '--init'), `--init ${o.init}`);
    const w = studentConfigOf(metadata, tensors, `--init ${o.init}`);
    // The weights fix the model's shape: a --config "model" that says otherwise is a mistake, not a wish.
    const free = new Set(['temporal', 'numClasses', 'imageSize', 'baseSize']);
    const clash = Object.entries(o.model).filter(([k, v]) => !free.has(k) && JSON.stringify(v) !== JSON.stringify(w[k as keyof StudentConfig]));
    if (clash.length) {
      const said = clash.map(([k, v]) => `${k} ${JSON.stringify(v)} (the weights have ${JSON.stringify(w[k as keyof StudentConfig])})`).join(', ');
      throw new Error(`option model: ${said}: the model's shape comes from --init ${o.init}; give --init none to train another shape from scratch`);
    }
    const size = crop ?? o.model.imageSize ?? w.imageSize;
    if (size.join() !== w.imageSize.join()) {
      if (size.some((v) => v % w.patch)) throw new Error(`--crop ${o.crop || size.join('x')}: sides must be multiples of the patch size ${w.patch}`);
      console.log(`--init ${o.init} was trained on ${w.imageSize[1]}x${w.imageSize[0]} crops: training on ${size[1]}x${size[0]} (position embedding resized)`);
    }
    c = { ...w, imageSize: size }; // its baseSize is set below, as for every model
    if (c.numClasses !== ds.numClasses) {
      console.log(`--init ${o.init} has ${c.numClasses} classes, the data set ${o.data} declares ${ds.numClasses}: the classifier starts fresh, the rest from the weights`);
      c = { ...c, numClasses: ds.numClasses };
    }
  }
  if (c.numClasses !== ds.numClasses) throw new Error(`the model has ${c.numClasses} classes, the data set ${o.data} declares ${ds.numClasses}`);
  const baseSize = o.baseSize >= 0 ? o.baseSize : (o.model.baseSize ?? Math.min(...c.imageSize));
  // The temporal block (models/student.ts: MVC's student looks across the frames of a clip) only when
  // --config's model asks for it or the weights have one: measured, it did not pay (docs/EXPERIMENTS.md,
  // session 14), and MVC masks frames one by one, as MIC does.
  const temporal = o.model.temporal ?? Boolean(c.temporal);
  return checkStudentConfig({ ...c, baseSize, temporal }, 'student');
}

/**
 * Load --init's weights; parameters the file lacks (e.g. MVC's temporal block) keep their initialisation,
 * and so does the classifier when the file was trained for another number of classes. A position
 * embedding of another grid is resized bilinearly, as the student does for inputs of another size.
 */
async function initWeights(model: Student, file: string): Promise<void> {
  const { tensors } = decodeSafetensors(readRegularFile(file, '--init'), file);
  const cls = tensors['decoder.classifier.weight'];
  if (cls && cls.shape[0] !== model.config.numClasses) {
    delete tensors['decoder.classifier.weight'];
    delete tensors['decoder.classifier.bias'];
  }
  const pos = tensors.pos_embed;
  const [, , gh, gw] = model.ps.tensors.get('pos_embed')!.shape as number[];
  if (pos && pos.shape.length === 4 && (pos.shape[2] !== gh || pos.shape[3] !== gw)) {
    const resized = tidy(() => resizeBilinear(tensor(pos.data as Float32Array, pos.shape), [gh!, gw!]));
    tensors.pos_embed = { ...pos, shape: resized.shape as number[], data: (await resized.data()) as Float32Array };
    resized.dispose();
  }
  const { pairs, missing: fresh, problems } = matchByName(model.ps.tensors, tensors, { allowMissing: true });
  if (problems.length) throw problemsError(`--init ${file}: the checkpoint does not fit the model`, problems);
  for (const [t, f] of pairs) assignData(t, f.data);
  console.log(`initialised from ${file}${fresh.length ? ` (${fresh.length} new tensors: ${fresh.slice(0, 3).join(', ')}${fresh.length > 3 ? ', …' : ''})` : ''}`);
}

export interface TrainResult {
  result: SegResult;
  labeledFrames: number;
}

/**
 * Train with options `o` (see config.ts), evaluate on val, write the report. `stopAfter` ends the
 * loop early (a global step) without the final evaluation, as an interrupted run would (tests use it).
 */
export async function train(options: TrainOptions, hooks: { stopAfter?: number; onStep?: (step: number) => void } = {}): Promise<TrainResult | undefined> {
  ensureData(options);
  const { out, release } = claimRunDir(options);
  try {
    return await trainIn({ ...options, out }, hooks);
  } finally {
    release();
  }
}

async function trainIn(o: TrainOptions, hooks: { stopAfter?: number; onStep?: (step: number) => void }): Promise<TrainResult | undefined> {
  const ds = VideoDataset.open(o.data);
  if (ds.assumption) console.log(ds.assumption);
  const split = trainingSplit(o, ds);
  checkSemi(o, split, ds);
  const run = new RunDir(o.out);
  const prior: CheckpointInfo | undefined = o.resume ? run.readInfo() : undefined;
  if (prior) {
    const betweenRounds = prior.step % o.steps === 0;
    const changed = resumeChanges(o, prior.options, betweenRounds);
    if (changed.length) {
      throw new Error(`--resume: ${changed.join(', ')}: a resumed run keeps its options (${run.infoPath}); give only --resume --out ${o.out}, or start a new run (--init ${run.modelPath} starts from its weights)`);
    }
    // Pseudo-labels made under other options (labelled, then stopped before the round's first checkpoint) would be reused.
    const next = path.join(o.out, `pseudo-${prior.step / o.steps}`);
    const relabel = [...ROUND_OPTIONS].some((k) => k !== 'retrainRounds' && o[k] !== (prior.options[k] ?? DEFAULTS[k]));
    if (betweenRounds && relabel && existsSync(next)) {
      throw new Error(`--resume: ${next} was labelled with the run's recorded --pseudo-* options; remove it to label with the new ones, or resume without changing them`);
    }
  }
  if (prior && prior.labeledFrames !== split.labeled.length) {
    throw new Error(`--resume: the checkpoint trained on ${prior.labeledFrames} labeled frames, these options give ${split.labeled.length}`);
  }
  const history = await run.records(prior?.step ?? 0);
  // A run stopped after its last checkpoint but before its final evaluation still owes that evaluation.
  const trained = prior !== undefined && prior.step >= (o.retrainRounds + 1) * o.steps;
  if (trained && history.some((r) => r.final === 1)) {
    throw new Error(`--resume: the run in ${o.out} is finished (step ${prior.step} of ${(o.retrainRounds + 1) * o.steps}); nothing to continue. Its model is ${run.modelPath} (node eval/run.js evaluates it)`);
  }
  const dev = await initNode();
  console.log(`device: ${describeDevice(dev)}`);
  // From here on pipeline compilations are logged; kernels only in the profiled steps.
  if (o.profile) console.log(`profiling: ${startProfiling()} mode`);
  const modelConfig = modelConfigFor(o, ds, prior, run);
  const m = methodsOf(o);
  const rounds = o.retrainRounds + 1;
  const total = rounds * o.steps;
  console.log(
    `${split.labeled.length} labeled and ${split.unlabeled.length} unlabeled frames of ${ds.split('train').length} videos ` +
      `(${o.labeledVideos > 0 ? `${o.labeledVideos * 100}% of videos` : `1 frame in ${o.labeledEvery}`}); ` +
      `methods: ${['u2pl', 'mvc', 'ifr'].filter((k) => m[k as 'u2pl']).join(' + ') || 'supervised only'}` +
      `${m.any ? ` after ${supStepsOf(o)} supervised steps` : ''}; ${rounds > 1 ? `${rounds} rounds of ` : ''}${o.steps} steps of ${o.batch}`,
  );

  const counts = o.classWeight === 'sqrt' ? classCounts(ds, split.labeled) : undefined;
  const classWeights = counts ? keep(tensor(sqrtInverseWeights(counts), [ds.numClasses])) : undefined;
  if (classWeights) {
    const w = (await classWeights.data()) as Float32Array;
    const absent = counts!.filter((n) => n === 0).length;
    const listed = ds.classNames.flatMap((n, c) => (counts![c]! > 0 ? [`${n} ${w[c]!.toFixed(2)}`] : []));
    console.log(`class weights (1/√frequency): ${listed.join(', ')}${absent ? `; ${absent} classes without labeled pixels` : ''}`);
  }
  const progress = new Progress(total, prior?.step ?? 0);
  let resumeFrom = prior;
  let last: { model: Student; teacher?: MeanTeacher } | undefined;
  const firstRound = prior ? Math.floor(prior.step / o.steps) : 0;
  const toLabel = framesToLabel(split.unlabeled, o.pseudoEvery);
  if (o.retrainRounds > 0 && !toLabel.length) throw new Error(`--retrain-rounds ${o.retrainRounds}: the split has no unlabeled training frames to pseudo-label`);
  for (let round = firstRound; round < rounds; round++) {
    if (resumeFrom && resumeFrom.step === round * o.steps && round > 0) resumeFrom = undefined; // a finished round: start the next fresh
    const pseudoDir = path.join(o.out, `pseudo-${round}`);
    if (round > 0 && !existsSync(pseudoDir)) {
      // Pseudo-labels from the previous round's models (just trained, or loaded from its last checkpoint).
      const prev = last ?? (await loadRound(run, modelConfig, o, round - 1));
      progress.break();
      console.log(`round ${round}: labelling ${toLabel.length} unlabeled frames with ${prev.teacher ? 'teacher + student' : 'the student'} × scales × flip...`);
      const n = toLabel.length;
      const labelling = new Progress(n, 0, 100, process.stderr, { one: 'frame', many: 'frames' });
      const models = [prev.model, ...(prev.teacher ? [prev.teacher.model] : [])];
      const opts = { threshold: o.pseudoThreshold, balance: o.pseudoBalance };
      const t0 = performance.now();
      let before = 0; // seconds spent on this labelling by runs that stopped during it
      const stats = await writePseudoLabels(models, ds, toLabel, pseudoDir, opts, {
        resumed: (done, seconds) => {
          before = seconds;
          if (done) console.log(`  ${done} frames were labelled by the same models before the run stopped: going on from there`);
          labelling.restart(done);
        },
        frames: (done) => labelling.update(done, {}),
      });
      const labelSeconds = before + (performance.now() - t0) / 1000;
      labelling.break();
      progress.restart(round * o.steps); // the rate and ETA of training, not of the labelling
      const rule = `confidence ≥ ${o.pseudoThreshold}${o.pseudoBalance ? `, or in the top ${100 * o.pseudoBalance}% of its class` : ''}`;
      console.log(`  kept ${(100 * stats.kept).toFixed(1)}% of pixels (${rule}); ${(100 * stats.accuracy).toFixed(1)}% of them agree with the ground truth`);
      if (o.pseudoBalance) {
        const lowered = stats.thresholds.flatMap((t, c) => (t < o.pseudoThreshold ? [`${ds.classNames[c]} ${t.toFixed(2)}`] : []));
        console.log(`  thresholds lowered: ${lowered.join(', ') || 'none'}`);
      }
      const known = stats.recall.flatMap((r, c) => (Number.isNaN(r) ? [] : [`${ds.classNames[c]} ${(100 * r).toFixed(0)}/${Number.isNaN(stats.precision[c]!) ? '-' : (100 * stats.precision[c]!).toFixed(0)}`]));
      if (known.length) console.log(`  per class, % of its pixels kept as it / % of those right: ${known.join(', ')}`);
      run.log({ step: round * o.steps, round, labelSeconds, pseudoKept: stats.kept, pseudoAccuracy: stats.accuracy, pseudoThresholds: nanToNull(stats.thresholds), pseudoRecall: nanToNull(stats.recall), pseudoPrecision: nanToNull(stats.precision) });
    }
    last?.model.ps.dispose();
    last?.teacher?.dispose();
    last = undefined;
    const extra = round > 0 ? pseudoLabelSource(ds, toLabel, pseudoDir) : new Map();
    const labeled = round > 0 ? [...split.labeled, ...toLabel] : split.labeled;
    const batches = new Batches(ds, labeled, split.unlabeled, TRAIN_AUGMENT(modelConfig, o.scaleMin, o.scaleMax), extra);
    const profile = o.profile > 0 && round === firstRound;
    const done = await trainRound(o, { round, run, ds, batches, modelConfig, prior: resumeFrom, history, progress, labeledFrames: split.labeled.length, profile, classWeights, ...hooks });
    resumeFrom = undefined;
    if (!done) {
      classWeights?.dispose();
      return undefined;
    }
    last = done;
    if (rounds > 1) {
      const { result } = await evaluate(done.model, ds, { split: 'val', videos: o.evalVideos });
      progress.break();
      console.log(`round ${round}: val mIoU ${(100 * result.mIoU).toFixed(1)} on ${Math.min(o.evalVideos, ds.split('val').length)} videos`);
      run.log({ step: (round + 1) * o.steps, round, roundMIoU: result.mIoU });
    }
  }
  progress.break();
  if (trained) console.log(`the run trained all ${total} steps but stopped before its final evaluation; evaluating its last checkpoint`);
  last ??= await loadRound(run, modelConfig, o, rounds - 1);

  const model = last.model;
  console.log('evaluating on the val split...');
  const { result, predictions } = await evaluate(model, ds, { split: 'val' });
  const final = { step: total, mIoU: result.mIoU, mVC8: result.mVC8, mVC16: result.mVC16, final: 1 };
  run.log(final);
  history.push(final);
  console.log(formatResult(result, ds.classNames));
  const report = writeReport(o.out, { history, result, classNames: ds.classNames, predictions, ds });
  console.log(`report: ${report}`);
  model.ps.dispose();
  last.teacher?.dispose();
  classWeights?.dispose();
  return { result, labeledFrames: split.labeled.length };
}

/** --profile: the round's steps to measure, after up to PROFILE_WARMUP warm-up steps (fewer when few are left). */
function profileWindow(o: TrainOptions, start: number): { first: number; last: number; warmup: number } {
  const warmup = Math.max(0, Math.min(PROFILE_WARMUP, o.steps - start - o.profile));
  return { first: start + warmup + 1, last: Math.min(o.steps, start + warmup + o.profile), warmup };
}

/**
 * Print the profile and write OUT/profile.json, right after the profiled steps rather than at the end
 * of the run: it is complete then, later evaluations and checkpoints are not training steps, and a
 * long run need not be waited for.
 */
async function reportProfile(out: string, warmup: number, progress: Progress): Promise<void> {
  const p = await stopProfiling();
  const file = path.join(out, 'profile.json');
  writeFileSync(file, `${JSON.stringify({ device: describeDevice(), warmupSteps: warmup, ...profileSummary(p) }, null, 1)}\n`);
  progress.break();
  console.log(`${formatProfile(p)}\nprofile: ${file}`);
}

/** A round's options: the semi-supervised methods train round 0; retraining rounds are supervised. */
function roundOptions(o: TrainOptions, round: number): TrainOptions {
  return round === 0 ? o : { ...o, method: 'sup', u2pl: false, mvc: false, ifr: false };
}

/** The models of the round that ended at the last checkpoint (resuming into a new round). */
async function loadRound(run: RunDir, config: StudentConfig, o: TrainOptions, round: number): Promise<{ model: Student; teacher?: MeanTeacher }> {
  const model = new Student(config, o.seed);
  const teacher = methodsOf(roundOptions(o, round)).any ? new MeanTeacher(model, o.emaMax) : undefined;
  await run.loadModels(model.ps.tensors, teacher?.tensors);
  return { model, teacher };
}

interface RoundContext {
  round: number;
  run: RunDir;
  ds: VideoDataset;
  batches: Batches;
  modelConfig: StudentConfig;
  prior: CheckpointInfo | undefined;
  history: Record<string, number>[];
  progress: Progress;
  labeledFrames: number;
  /** --profile measures steps of this round. */
  profile: boolean;
  /** The supervised CE's class weights (--class-weight), if any. */
  classWeights: Tensor | undefined;
  stopAfter?: number;
  /** Called after every step with the global step (tests watch memory with it). */
  onStep?: (step: number) => void;
}

/** One round of `o.steps` steps; returns its student and teacher, or undefined when stopped early. */
async function trainRound(o: TrainOptions, c: RoundContext): Promise<{ model: Student; teacher?: MeanTeacher } | undefined> {
  const { run, round, progress, history } = c;
  // Each round's student starts afresh from the starting point (--init's weights, else a random draw of its
  // own), not from the previous round's student: retraining starts over, as the winners did from ImageNet.
  const model = new Student(c.modelConfig, o.seed + round);
  if (o.init && !c.prior) await initWeights(model, o.init);
  const params = model.ps.list();
  const opt = o.optimizer === 'sgd' ? new SGD(params, { lr: o.lr, momentum: 0.9, weightDecay: o.weightDecay }) : new AdamW(params, { lr: o.lr, weightDecay: o.weightDecay });
  const semi = new SemiStep(model, roundOptions(o, round), c.batches, TRAIN_AUGMENT(c.modelConfig, o.scaleMin, o.scaleMax), c.classWeights);
  let teacher: MeanTeacher | undefined;
  const base = round * o.steps;
  let start = 0;
  if (c.prior) {
    start = c.prior.step - base;
    if (semi.isSemi(start)) teacher = new MeanTeacher(model, o.emaMax);
    await run.load(model.ps.tensors, opt.state().tensors, teacher?.tensors, semi.queues);
    opt.loadState({ meta: c.prior.optimizer } as never);
    console.log(`resumed from ${run.infoPath} at step ${c.prior.step}`);
  }
  const lrAt = (step: number) => polyLR(step, { base: o.lr, total: o.steps, warmup: Math.min(o.warmup, o.steps - 1) });
  const info = (step: number): CheckpointInfo => ({
    step: base + step,
    options: o,
    model: c.modelConfig,
    classNames: c.ds.classNames,
    labels: c.ds.mapping.spec,
    optimizer: opt.state().meta,
    labeledFrames: c.labeledFrames,
  });
  const dispose = () => {
    model.ps.dispose();
    opt.dispose();
    teacher?.dispose();
    semi.queues?.dispose();
  };

  // Up to WATCHED unlabeled frames with ground truth, spread over the list: the teacher is scored on them
  // at each evaluation. Chosen at the first one (a mask lookup per unlabeled frame: not at start-up).
  let watched: FrameRef[] | undefined;
  const watchedFrames = (): FrameRef[] => {
    if (!watched) {
      const withMasks = c.batches.unlabeled.filter((r) => c.ds.hasMask(r.video, r.frame));
      watched = withMasks.filter((_, i) => i % Math.ceil(withMasks.length / WATCHED) === 0);
    }
    return watched;
  };
  const profiled = c.profile ? profileWindow(o, start) : undefined;
  const t0 = performance.now();
  // The first steps compile the GPU kernels (Mesa caches them on disk, so only a first run waits long).
  if (round === 0 || c.prior) progress.note('compiling GPU kernels during the first steps (minutes on a first run with lavapipe; cached afterwards)...');
  for (let step = start + 1; step <= o.steps; step++) {
    const g = base + step;
    const compiledBefore = compiledSoFar();
    if (semi.isSemi(step) && !teacher) {
      teacher = new MeanTeacher(model, o.emaMax);
      teacher.update(0); // the teacher starts as a copy of the (warmed-up) student
    }
    const measured = profiled !== undefined && step >= profiled.first && step <= profiled.last;
    if (measured) beginProfiledStep();
    // Batches depend only on (seed, global step), so a resumed run sees the same data as an uninterrupted one.
    const rng = makeRng(mixSeed(o.seed, g));
    const lr = lrAt(step);
    const prep = await semi.prepare(step, rng, teacher);
    const names: string[] = [];
    const losses = tidy(() => {
      const { total, parts } = semi.losses(step, prep, rng);
      backward(total);
      opt.step(lr);
      zeroGrad(params);
      names.push('loss', ...Object.keys(parts));
      return stack([total, ...Object.values(parts)]);
    });
    prep.dispose();
    if (teacher) teacher.update(step - semi.supSteps);
    const values = (await losses.data()) as Float32Array;
    losses.dispose();
    if (measured) {
      await endProfiledStep(); // before the progress line, evaluation and checkpoint: not part of the step
      if (step === profiled.last) await reportProfile(o.out, profiled.warmup, progress);
    }
    const value = values[0]!;
    if (!Number.isFinite(value)) {
      progress.break();
      dispose();
      throw new Error(`loss is ${value} at step ${g}: stopping. The last good checkpoint (step ${history.filter((r) => r.loss !== undefined).at(-1)?.step ?? 'none'}) is in ${o.out}; try a lower --lr.`);
    }
    const fields: Record<string, string> = { loss: value.toFixed(4) };
    const record: Record<string, number> = { step: g, loss: value, lr, seconds: (performance.now() - t0) / 1000 };
    names.forEach((n, i) => {
      if (i > 0) {
        fields[n] = values[i]!.toFixed(3);
        record[n] = values[i]!;
      }
    });
    if (prep.mvc) record.mvcQuality = prep.mvc.q;
    if (round > 0) record.round = round;
    const compiled = compiledSoFar();
    if (compiled.ms - compiledBefore.ms > 5000) progress.note(`step ${g}: compiled ${compiled.count - compiledBefore.count} GPU kernels in ${((compiled.ms - compiledBefore.ms) / 1000).toFixed(0)} s`);
    progress.update(g, { ...fields, lr: lr.toExponential(2) });
    if (o.evalEvery && step % o.evalEvery === 0 && step < o.steps) {
      const { result } = await evaluate(model, c.ds, { split: 'val', videos: o.evalVideos });
      record.mIoU = result.mIoU;
      // GPU memory the run holds, at each evaluation: flat over a long run, or something leaks.
      const mem = memoryStats();
      const [liveMiB, heldMiB] = [mem.liveBytes / 2 ** 20, (mem.liveBytes + mem.pooledBytes) / 2 ** 20];
      Object.assign(record, { liveMiB, heldMiB });
      progress.break();
      console.log(
        `step ${g}: val mIoU ${(100 * result.mIoU).toFixed(1)} on ${Math.min(o.evalVideos, c.ds.split('val').length)} videos ` +
          `(GPU memory: ${liveMiB.toFixed(0)} MiB in use, ${heldMiB.toFixed(0)} MiB held)`,
      );
      const frames = teacher ? watchedFrames() : [];
      if (teacher && frames.length) {
        // What the unlabeled losses learn from: the teacher's pseudo-labels against the hidden ground truth.
        const q = await pseudoLabelQuality(teacher.model, c.ds, frames, 1);
        Object.assign(record, { pseudoAccuracy: q.accuracy, pseudoMIoU: q.mIoU, pseudoClassIoU: nanToNull(q.perClassIoU) });
        console.log(`step ${g}: teacher's pseudo-labels on ${frames.length} unlabeled frames: ${formatQuality(q)}; per class ${formatClassIoU(q, c.ds.classNames)}`);
      }
    }
    run.log(record);
    history.push(record);
    if (step % o.checkpointEvery === 0 || step === o.steps) await run.save(info(step), model.ps.tensors, opt.state().tensors, teacher?.tensors, semi.queues);
    c.onStep?.(g);
    if (g === c.stopAfter) {
      progress.break();
      dispose();
      return undefined;
    }
  }
  opt.dispose();
  semi.queues?.dispose();
  return { model, teacher };
}
