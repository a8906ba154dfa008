// Training options: defaults, `--flags`, and an optional JSON config file (`--config FILE`), checked
// with errors that name the option. Precedence: defaults < config file < command-line flags.
import type { StudentConfig } from '../models/student.ts';
import type { ClassWeighting } from './class-weights.ts';
import { mvcDefaults } from './mvc.ts';

export interface TrainOptions {
  data: string;
  out: string;
  steps: number;
  batch: number;
  lr: number;
  optimizer: 'adamw' | 'sgd';
  weightDecay: number;
  warmup: number;
  labeledEvery: number;
  /** Label whole videos instead of every k-th frame: the fraction of training videos labeled (0 = off). */
  labeledVideos: number;
  seed: number;
  resume: boolean;
  /** Train into an --out that holds files: the run's own files there are replaced, others kept. */
  overwrite: boolean;
  evalEvery: number;
  checkpointEvery: number;
  /** Random rescale range (relative to the base size) before cropping to the training size. */
  scaleMin: number;
  scaleMax: number;
  /** Training crop 'WxH' (the student's imageSize); '' = --init's, or the default student's 128x96. */
  crop: string;
  /** Frames' shorter side is resized to this many pixels before augmentation and inference; -1 = the crop's shorter side, 0 = frames as they are. */
  baseSize: number;
  /** Extra model settings (width, depth, ...) merged over the default student. */
  model: Partial<StudentConfig>;
  /** Evaluate on this many validation videos during training (all at the end). */
  evalVideos: number;
  /** Start the student from this checkpoint's weights (default: the shipped pretrained ones), '' (`--init none`) = random. */
  init: string;
  /** Weights of the supervised cross-entropy per class: 'none', or 'sqrt' (∝ 1/√frequency; train/class-weights.ts). */
  classWeight: ClassWeighting;
  /** Online hard example mining in the supervised cross-entropy (train/ohem.ts). */
  ohem: boolean;

  // ---- semi-supervised training (docs/METHODS.md §1-4); train/semi.ts ----
  /** A preset: 'sup' (labels only), one method, or 'full' (all of them). The switches below add to it. */
  method: Method;
  u2pl: boolean;
  mvc: boolean;
  ifr: boolean;
  /** Supervised warm-up before the teacher is made (-1: a quarter of the steps when a method is on). */
  supSteps: number;
  /** Unlabeled frames per step for U2PL and IFR (0: the same as --batch). */
  unlabeledBatch: number;
  /** Mean teacher's maximum EMA momentum. */
  emaMax: number;
  /** U2PL: weights of the unsupervised CE and the contrastive loss; per-class memory queue length. */
  lambdaUnsup: number;
  lambdaContra: number;
  queueSize: number;
  /** U2PL: percent of the highest-entropy pseudo-labels left out of the unsupervised CE at the start of the
   * semi-supervised steps, decaying linearly to 0 (U2PL's 100 − drop_percent: 20). */
  unsupDrop: number;
  /** U2PL: per-pixel weights of the unsupervised CE: 'none' (U2PL's plain mean), or 'sup': the supervised
   * loss's (class weights and OHEM, on the pseudo-labels), so that rare classes count as in the labels. */
  unsupWeights: 'none' | 'sup';
  /** MVC: frames per clip, mask block size (pixels) and masked share, loss weight. */
  mvcClip: number;
  maskBlock: number;
  maskRatio: number;
  mvcWeight: number;
  /** MVC with U2PL on a per-frame student: the share of U2PL's unlabeled frames it masks. */
  mvcShare: number;
  /** MVC's target pixels: 'all' (MIC: the teacher's argmax everywhere), 'reliable' (those U2PL's CE keeps) or
   * 'visible' (those the mask leaves visible). */
  mvcTarget: 'all' | 'reliable' | 'visible';
  /** IFR: ramp-up length in steps (-1: a quarter of the semi-supervised steps). */
  ifrRampup: number;
  /** IFR: softmax temperature of the cosines between a pixel's feature and the reference's prototypes (IFR: 0.5). */
  ifrTemperature: number;
  /** IFR: whether its loss trains the classifier too ('train', as IFR) or only the features ('frozen'). */
  ifrClassifier: 'train' | 'frozen';
  /** IFR's strong variant: also prototypes from photometrically distorted references (weight ×0.1). */
  ifrStrong: boolean;
  /** Pseudo-label ensembling + retraining rounds after the first training (0 = none). */
  retrainRounds: number;
  /** Ensembled pseudo-labels below this confidence are left unlabeled. */
  pseudoThreshold: number;
  /** ... unless among the most confident share of the pixels predicted as their class (CBST; 0 = off). */
  pseudoBalance: number;
  /** Retraining labels every K-th frame of each unlabeled video. */
  pseudoEvery: number;
  /** Profile this many training steps (after up to PROFILE_WARMUP warm-up steps) and print the top kernels (0 = off). */
  profile: number;
}

export type Method = 'sup' | 'u2pl' | 'mvc' | 'ifr' | 'full';
export const METHODS: readonly Method[] = ['sup', 'u2pl', 'mvc', 'ifr', 'full'];

/** The shipped starting weights (`npm run pretrain`; weights/README.md): the default run begins from them. */
export const PRETRAINED = 'weights/synth-pretrained.safetensors';

export const DEFAULTS: TrainOptions = {
  data: 'data/synth',
  out: '', // runs/default, or the first free runs/default-N (train/run-state.ts claimRunDir)
  steps: 1700,
  batch: 4,
  lr: 1e-3,
  optimizer: 'adamw',
  weightDecay: 0.01,
  warmup: 50,
  labeledEvery: 8,
  labeledVideos: 0,
  seed: 0,
  resume: false,
  overwrite: false,
  evalEvery: 200,
  checkpointEvery: 100,
  scaleMin: 0.75,
  scaleMax: 4 / 3,
  crop: '',
  baseSize: -1,
  model: {},
  evalVideos: 4,
  init: PRETRAINED,
  classWeight: 'sqrt',
  ohem: true,
  method: 'sup',
  u2pl: false,
  mvc: false,
  ifr: false,
  supSteps: -1,
  unlabeledBatch: 0,
  emaMax: 0.99,
  lambdaUnsup: 1,
  lambdaContra: 1,
  queueSize: 2000,
  unsupDrop: 20,
  unsupWeights: 'none',
  mvcClip: 2,
  maskBlock: mvcDefaults.block,
  maskRatio: mvcDefaults.ratio,
  mvcWeight: 1,
  mvcShare: 0.5,
  mvcTarget: 'all',
  ifrRampup: -1,
  ifrTemperature: 0.1,
  ifrClassifier: 'train',
  ifrStrong: false,
  retrainRounds: 0,
  pseudoThreshold: 0.7,
  pseudoBalance: 0.5,
  pseudoEvery: 1,
  profile: 0,
};

/**
 * Options a run recorded before they existed had these values then (not today's defaults): a resumed
 * older run continues as it started.
 */
export const BEFORE_RECORDED: Partial<TrainOptions> = { classWeight: 'none', ohem: false, crop: '', baseSize: 0, ifrTemperature: 0.5, ifrStrong: true, pseudoBalance: 0 };

/** `--profile` without a number profiles this many steps. */
export const PROFILE_STEPS = 5;
/** Steps run before the profiled ones, so that pipeline compilation is not counted as kernel time. */
export const PROFILE_WARMUP = 2;

/** Which semi-supervised methods a run uses: its preset plus the switches. */
export function methodsOf(o: TrainOptions): { u2pl: boolean; mvc: boolean; ifr: boolean; any: boolean } {
  const full = o.method === 'full';
  const m = { u2pl: o.u2pl || full || o.method === 'u2pl', mvc: o.mvc || full || o.method === 'mvc', ifr: o.ifr || full || o.method === 'ifr' };
  return { ...m, any: m.u2pl || m.mvc || m.ifr };
}

/** The supervised warm-up length actually used (resolves -1). */
export function supStepsOf(o: TrainOptions): number {
  if (!methodsOf(o).any) return o.steps;
  return o.supSteps >= 0 ? o.supSteps : Math.floor(o.steps / 4);
}

export const USAGE = `usage: node train/run.js [options]

Trains the segmentation student on a dataset in VSPW's layout (by default the embedded synthetic
set, generated into data/synth on first use) and ends with an evaluation on the val split.

  --data DIR            dataset root (default ${DEFAULTS.data}; generated if it is the default and missing)
  --out DIR             run folder: checkpoints, metrics.jsonl, report.html (default runs/default, or
                        runs/default-2, -3, … when it holds an earlier run). A folder that holds files is
                        refused unless --resume or --overwrite is given; it is locked while a run writes it
  --steps N             training steps (default ${DEFAULTS.steps})
  --batch N             frames per step (default ${DEFAULTS.batch})
  --lr X                peak learning rate (default ${DEFAULTS.lr}); poly decay (power 0.9) after warm-up
  --warmup N            linear warm-up steps (default ${DEFAULTS.warmup})
  --optimizer NAME      adamw | sgd (default ${DEFAULTS.optimizer}; sgd uses momentum 0.9)
  --weight-decay X      (default ${DEFAULTS.weightDecay})
  --labeled-every K     label every K-th frame of each training video (default ${DEFAULTS.labeledEvery}; 1 = all)
  --labeled-videos F    instead, label all frames of this fraction of training videos
  --seed S              seed for initialisation, sampling and augmentation (default ${DEFAULTS.seed})
  --resume              continue the run in --out (default: the newest runs/default*) from its last
                        checkpoint, with the run's recorded options; options given that differ from them
                        are refused, except --eval-every, --eval-videos, --checkpoint-every, --profile, --data,
                        and, from a checkpoint that ends a round (a finished run), --retrain-rounds and the
                        --pseudo-* options: \`--resume --retrain-rounds 1\` adds a retraining round to a run
  --overwrite           train into an --out that holds files: the run's own files there (checkpoints,
                        metrics, report, pseudo-labels) are replaced, every other file is kept
  --config FILE         JSON file with any of these options (camelCase keys) and "model": {...}
  --eval-every N        evaluate on a few val videos every N steps (default ${DEFAULTS.evalEvery}; 0 = only at the end)
  --eval-videos N       val videos used by the periodic evaluation (default ${DEFAULTS.evalVideos})
  --checkpoint-every N  write a checkpoint every N steps (default ${DEFAULTS.checkpointEvery})
  --scale-min X, --scale-max X   random rescale range of the augmentation (default ${DEFAULTS.scaleMin}-${DEFAULTS.scaleMax}), around the base size
  --crop WxH            training crop, the student's input size (default: --init's, 128x96; a position
                        embedding of another grid is resized); a step costs the same whatever the frames' size
  --base-size N         frames are resized so that their shorter side is N pixels, then rescaled and cropped
                        (VSPW recipes: 480 with 480x480 crops); evaluation uses the same scale (default: the
                        crop's shorter side; 0 = frames as they are)
  --init FILE|none      start the student from a checkpoint's weights (default ${DEFAULTS.init}: pretrained on
                        a synthetic world disjoint from the embedded set, weights/README.md; e.g. runs/sup/
                        model.safetensors to go on from a run); a file trained for other classes gives all
                        but the classifier; none = train from scratch
  --class-weight W      weights of the supervised cross-entropy per class: none, or sqrt (∝ 1/√ of the
                        class's share of labeled pixels, averaging 1 per pixel) (default ${DEFAULTS.classWeight})
  --ohem, --no-ohem     online hard example mining (on by default): the supervised loss counts only pixels whose
                        probability of their label is below 0.7, and at least the hardest 10% (mmsegmentation's OHEM)

Semi-supervised training (docs/METHODS.md; the switches compose with any --method):
  --method NAME         sup (labels only, default) | u2pl | mvc | ifr | full (all three)
  --u2pl                unreliable pseudo-labels: reliable-pixel CE + contrastive loss with per-class queues
  --mvc                 masked consistency: the student on masked frames against the teacher on the frames
                        (frame by frame, as MIC; with --u2pl on half of U2PL's unlabeled frames);
                        --config {"model":{"temporal":true}} gives the student a temporal attention block
                        and masks clips of --mvc-clip frames
  --ifr                 inter-frame feature reconstruction from the reference frame's class prototypes
  --sup-steps N         supervised warm-up before the EMA teacher is made (default: a quarter of --steps)
  --unlabeled-batch N   unlabeled frames per step (default: --batch)
  --ema-max X           the teacher's EMA momentum cap (default ${DEFAULTS.emaMax})
  --lambda-unsup X, --lambda-contra X   U2PL loss weights (default 1, 1)
  --queue-size N        U2PL negatives kept per class (default ${DEFAULTS.queueSize})
  --unsup-drop P        U2PL: percent of the most uncertain (highest-entropy) pseudo-labels left out of the
                        unsupervised CE at first, decaying linearly to 0 (default ${DEFAULTS.unsupDrop}, as U2PL)
  --unsup-weights W     U2PL: per-pixel weights of the unsupervised CE: none (U2PL's plain mean), or sup (those of
                        the supervised loss: --class-weight and --ohem, on the pseudo-labels) (default ${DEFAULTS.unsupWeights})
  --mvc-clip T          MVC frames per clip (default ${DEFAULTS.mvcClip}, at most 4)
  --mask-block P        MVC mask block size in pixels (default ${DEFAULTS.maskBlock})
  --mask-ratio R        MVC share of blocks masked (default ${DEFAULTS.maskRatio})
  --mvc-weight X        MVC loss weight (default ${DEFAULTS.mvcWeight})
  --mvc-share F         with --u2pl on a per-frame student: the share of U2PL's unlabeled frames MVC masks
                        (the rest train U2PL's CE; default ${DEFAULTS.mvcShare}, at least one frame each)
  --mvc-target T        the pixels of MVC's CE: all (default, MIC: the teacher's argmax on every pixel) |
                        reliable (those U2PL's CE keeps by entropy) | visible (those the mask leaves
                        visible); the last two with MVC on U2PL's frames
  --ifr-rampup N        IFR ramp-up steps (default: a quarter of the semi-supervised steps)
  --ifr-temperature X   IFR: temperature of the softmax over cos(pixel feature, prototype) (default ${DEFAULTS.ifrTemperature})
  --ifr-classifier M    IFR's loss trains the features and the classifier (train) or the features only
                        (frozen) (default ${DEFAULTS.ifrClassifier})
  --ifr-strong          IFR's strong variant too: prototypes from colour-jittered, blurred references, weight
                        ×0.1 (two more frames per step; off by default to keep --method full within the hour)
  --retrain-rounds N    after training, ensemble teacher + student (multi-scale) into pseudo-labels for the
                        unlabeled frames, save them as PNG masks in OUT/pseudo-N/, train a fresh student on
                        labels + pseudo-labels, supervised only; N times (default 0)
  --pseudo-threshold X  ensembled pseudo-labels less confident than this are left unlabeled (default ${DEFAULTS.pseudoThreshold})
  --pseudo-balance P    ... unless among the most confident P share of the pixels predicted as their class,
                        so that rare, less confident classes keep pseudo-labels (class-balanced
                        self-training, CBST; default ${DEFAULTS.pseudoBalance}; 0 = one threshold for all)
  --pseudo-every K      label every K-th frame of each unlabeled video for retraining (default ${DEFAULTS.pseudoEvery}; labelling
                        costs 12 forward passes a frame, ~1.2 frames/s for the default student on 2 cores)

  --profile [N]         after ${PROFILE_WARMUP} warm-up steps, profile N training steps (default ${PROFILE_STEPS}): print the top kernels
                        by GPU time and, per step, launches, submits, read-backs, bytes bound and pipeline
                        compilations; also written to OUT/profile.json. The run then goes on unprofiled.
  --help                this text`;

const FLAGS: Record<string, keyof TrainOptions> = {
  '--data': 'data',
  '--out': 'out',
  '--steps': 'steps',
  '--batch': 'batch',
  '--lr': 'lr',
  '--optimizer': 'optimizer',
  '--weight-decay': 'weightDecay',
  '--warmup': 'warmup',
  '--labeled-every': 'labeledEvery',
  '--labeled-videos': 'labeledVideos',
  '--seed': 'seed',
  '--eval-every': 'evalEvery',
  '--eval-videos': 'evalVideos',
  '--checkpoint-every': 'checkpointEvery',
  '--scale-min': 'scaleMin',
  '--scale-max': 'scaleMax',
  '--crop': 'crop',
  '--base-size': 'baseSize',
  '--init': 'init',
  '--class-weight': 'classWeight',
  '--method': 'method',
  '--sup-steps': 'supSteps',
  '--unlabeled-batch': 'unlabeledBatch',
  '--ema-max': 'emaMax',
  '--lambda-unsup': 'lambdaUnsup',
  '--lambda-contra': 'lambdaContra',
  '--queue-size': 'queueSize',
  '--unsup-drop': 'unsupDrop',
  '--unsup-weights': 'unsupWeights',
  '--mvc-clip': 'mvcClip',
  '--mask-block': 'maskBlock',
  '--mask-ratio': 'maskRatio',
  '--mvc-weight': 'mvcWeight',
  '--mvc-share': 'mvcShare',
  '--mvc-target': 'mvcTarget',
  '--ifr-rampup': 'ifrRampup',
  '--ifr-temperature': 'ifrTemperature',
  '--ifr-classifier': 'ifrClassifier',
  '--retrain-rounds': 'retrainRounds',
  '--pseudo-threshold': 'pseudoThreshold',
  '--pseudo-balance': 'pseudoBalance',
  '--pseudo-every': 'pseudoEvery',
  '--profile': 'profile', // as --profile=N; a bare --profile is handled in parseArgs
};

/** Flags that take no value. */
const SWITCHES: Record<string, keyof TrainOptions> = { '--resume': 'resume', '--overwrite': 'overwrite', '--ohem': 'ohem', '--u2pl': 'u2pl', '--mvc': 'mvc', '--ifr': 'ifr', '--ifr-strong': 'ifrStrong' };

/**
 * Parse argv into options over `base` (the defaults; a resumed run's recorded options); returns
 * undefined for --help. `readConfig` reads a JSON file's text.
 */
export function parseArgs(argv: string[], readConfig: (path: string) => string, base: TrainOptions = DEFAULTS): TrainOptions | undefined {
  const given: Partial<Record<keyof TrainOptions, unknown>> = {};
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return undefined;
    if (SWITCHES[a]) {
      given[SWITCHES[a]] = true;
      continue;
    }
    if (a.startsWith('--no-') && SWITCHES[`--${a.slice(5)}`]) {
      given[SWITCHES[`--${a.slice(5)}`]!] = false; // e.g. --no-ohem turns off a switch that is on by default
      continue;
    }
    if (a === '--profile') {
      // The step count is optional: take the next argument only if it is not another flag.
      const next = argv[i + 1];
      given.profile = next === undefined || next.startsWith('--') ? PROFILE_STEPS : Number(argv[++i]);
      continue;
    }
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = inline ?? argv[++i];
    if (flag === '--config') {
      if (value === undefined) throw new Error('--config needs a file');
      configFile = value;
      continue;
    }
    const key = FLAGS[flag];
    if (!key) throw new Error(`unknown option '${flag}' (see --help)`);
    if (value === undefined || value.startsWith('--')) throw new Error(`option ${flag} needs a value`);
    given[key] = typeof DEFAULTS[key] === 'number' ? Number(value) : value;
  }
  let fromFile: Record<string, unknown> = {};
  if (configFile) {
    try {
      fromFile = JSON.parse(readConfig(configFile)) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`--config ${configFile}: ${(e as Error).message}`);
    }
    for (const k of Object.keys(fromFile)) {
      if (!(k in DEFAULTS)) throw new Error(`--config ${configFile}: unknown key '${k}' (known: ${Object.keys(DEFAULTS).join(', ')})`);
    }
  }
  const o = { ...base, ...fromFile, ...given } as TrainOptions;
  if (o.init === 'none') o.init = '';
  validate(o);
  return o;
}

/** Options a resumed run may change: they do not alter what it computes. */
const FREE_ON_RESUME = new Set<keyof TrainOptions>(['data', 'out', 'resume', 'overwrite', 'evalEvery', 'evalVideos', 'checkpointEvery', 'profile', 'init']);

/** Options of the rounds to come: a run resumed between rounds may change them (add a retraining round to a finished run). */
export const ROUND_OPTIONS = new Set<keyof TrainOptions>(['retrainRounds', 'pseudoThreshold', 'pseudoBalance', 'pseudoEvery']);

/**
 * The options of `o` that differ from the resumed run's `recorded` ones and may not, as "--lr 0.002 (the
 * run has 0.001)". `betweenRounds`: the checkpoint ends a round, so ROUND_OPTIONS may change.
 */
export function resumeChanges(o: TrainOptions, recorded: TrainOptions, betweenRounds = false): string[] {
  const flag = (k: string) => Object.keys(FLAGS).find((f) => FLAGS[f] === k) ?? Object.keys(SWITCHES).find((f) => SWITCHES[f] === k) ?? k;
  const free = (k: keyof TrainOptions) => FREE_ON_RESUME.has(k) || (betweenRounds && ROUND_OPTIONS.has(k));
  return (Object.keys(DEFAULTS) as (keyof TrainOptions)[])
    .filter((k) => !free(k) && JSON.stringify(o[k]) !== JSON.stringify(recorded[k] ?? DEFAULTS[k]))
    .map((k) => `${flag(k)} ${JSON.stringify(o[k])} (the run has ${JSON.stringify(recorded[k] ?? DEFAULTS[k])})`);
}

function validate(o: TrainOptions): void {
  const int = (k: keyof TrainOptions, min: number) => {
    const v = o[k] as number;
    if (!Number.isInteger(v) || v < min) throw new Error(`option ${k} must be an integer >= ${min}, got ${String(v)}`);
  };
  const num = (k: keyof TrainOptions, min: number, max = Infinity) => {
    const v = o[k] as number;
    if (typeof v !== 'number' || !(v >= min && v <= max)) throw new Error(`option ${k} must be a number in [${min}, ${max}], got ${String(v)}`);
  };
  if (typeof o.data !== 'string' || o.data === '') throw new Error(`option data must be a folder, got ${JSON.stringify(o.data)}`);
  if (typeof o.out !== 'string') throw new Error(`option out must be a folder, got ${JSON.stringify(o.out)}`);
  if (o.resume && o.overwrite) throw new Error('--resume continues the run in --out and --overwrite replaces it: give one of them');
  int('steps', 1);
  int('batch', 1);
  int('warmup', 0);
  int('labeledEvery', 1);
  int('seed', 0);
  int('evalEvery', 0);
  int('evalVideos', 1);
  int('checkpointEvery', 1);
  num('lr', 0);
  num('weightDecay', 0);
  num('labeledVideos', 0, 1);
  num('scaleMin', 0.1, 10);
  num('scaleMax', o.scaleMin, 10);
  if (typeof o.crop !== 'string' || (o.crop !== '' && !/^[1-9]\d*x[1-9]\d*$/.test(o.crop))) throw new Error(`option crop must be WxH in pixels (e.g. 128x96), got ${JSON.stringify(o.crop)}`);
  int('baseSize', -1);
  if (typeof o.ohem !== 'boolean') throw new Error(`option ohem must be true or false, got ${JSON.stringify(o.ohem)}`);
  if (o.classWeight !== 'none' && o.classWeight !== 'sqrt') throw new Error(`option classWeight must be none or sqrt, got '${o.classWeight}'`);
  if (o.optimizer !== 'adamw' && o.optimizer !== 'sgd') throw new Error(`option optimizer must be adamw or sgd, got '${o.optimizer}'`);
  if (typeof o.model !== 'object' || o.model === null) throw new Error('option model must be an object of student settings');
  if (!METHODS.includes(o.method)) throw new Error(`option method must be one of ${METHODS.join(', ')}, got '${o.method}'`);
  int('supSteps', -1);
  int('unlabeledBatch', 0);
  num('emaMax', 0, 1);
  num('lambdaUnsup', 0);
  num('lambdaContra', 0);
  int('queueSize', 1);
  num('unsupDrop', 0, 100);
  if (o.unsupWeights !== 'none' && o.unsupWeights !== 'sup') throw new Error(`option unsupWeights must be none or sup, got '${o.unsupWeights}'`);
  int('mvcClip', 1);
  if (o.mvcClip > 4) throw new Error(`option mvcClip must be at most 4 (the student's frame embedding has 4 positions), got ${o.mvcClip}`);
  int('maskBlock', 1);
  num('maskRatio', 0, 1);
  num('mvcWeight', 0);
  if (!(o.mvcShare > 0 && o.mvcShare < 1)) throw new Error(`option mvcShare must be a share strictly between 0 and 1, got ${String(o.mvcShare)}`);
  if (!['all', 'reliable', 'visible'].includes(o.mvcTarget)) throw new Error(`option mvcTarget must be all, reliable or visible, got '${o.mvcTarget}'`);
  int('ifrRampup', -1);
  if (!(o.ifrTemperature > 0)) throw new Error(`option ifrTemperature must be a positive number, got ${String(o.ifrTemperature)}`);
  if (o.ifrClassifier !== 'train' && o.ifrClassifier !== 'frozen') throw new Error(`option ifrClassifier must be train or frozen, got '${o.ifrClassifier}'`);
  int('retrainRounds', 0);
  num('pseudoThreshold', 0, 1);
  num('pseudoBalance', 0, 1);
  int('pseudoEvery', 1);
  int('profile', 0);
  if (o.profile > o.steps) throw new Error(`option profile (${o.profile}) must be at most steps (${o.steps})`);
  if (methodsOf(o).any && o.supSteps >= o.steps) {
    throw new Error(`option supSteps (${o.supSteps}) must be below steps (${o.steps}): the semi-supervised methods start after the warm-up`);
  }
}

/** --crop as the student's imageSize [H, W], or undefined when not given. */
export function cropSize(o: TrainOptions): [number, number] | undefined {
  if (!o.crop) return undefined;
  const [w, h] = o.crop.split('x').map(Number) as [number, number];
  return [h, w];
}
