// Training options: defaults, `--flags`, and an optional JSON config file (`--config FILE`), checked
// with errors that name the option. Precedence: defaults < config file < command-line flags.
import type { StudentConfig } from '../models/student.ts';

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
  evalEvery: number;
  checkpointEvery: number;
  /** Random rescale range before cropping to the training size. */
  scaleMin: number;
  scaleMax: number;
  /** Extra model settings (width, depth, ...) merged over the default student. */
  model: Partial<StudentConfig>;
  /** Evaluate on this many validation videos during training (all at the end). */
  evalVideos: number;
}

export const DEFAULTS: TrainOptions = {
  data: 'data/synth',
  out: 'runs/default',
  steps: 400,
  batch: 4,
  lr: 1e-3,
  optimizer: 'adamw',
  weightDecay: 0.01,
  warmup: 50,
  labeledEvery: 8,
  labeledVideos: 0,
  seed: 0,
  resume: false,
  evalEvery: 200,
  checkpointEvery: 100,
  scaleMin: 0.75,
  scaleMax: 1.5,
  model: {},
  evalVideos: 4,
};

export const USAGE = `usage: node train/run.js [options]

Trains the segmentation student on a dataset in VSPW's layout (by default the embedded synthetic
set, generated into data/synth on first use) and ends with an evaluation on the val split.

  --data DIR            dataset root (default ${DEFAULTS.data}; generated if it is the default and missing)
  --out DIR             run folder: checkpoints, metrics.jsonl, report.html (default ${DEFAULTS.out})
  --steps N             training steps (default ${DEFAULTS.steps})
  --batch N             frames per step (default ${DEFAULTS.batch})
  --lr X                peak learning rate (default ${DEFAULTS.lr}); poly decay (power 0.9) after warm-up
  --warmup N            linear warm-up steps (default ${DEFAULTS.warmup})
  --optimizer NAME      adamw | sgd (default ${DEFAULTS.optimizer}; sgd uses momentum 0.9)
  --weight-decay X      (default ${DEFAULTS.weightDecay})
  --labeled-every K     label every K-th frame of each training video (default ${DEFAULTS.labeledEvery}; 1 = all)
  --labeled-videos F    instead, label all frames of this fraction of training videos
  --seed S              seed for initialisation, sampling and augmentation (default ${DEFAULTS.seed})
  --resume              continue the run in --out from its last checkpoint
  --config FILE         JSON file with any of these options (camelCase keys) and "model": {...}
  --eval-every N        evaluate on a few val videos every N steps (default ${DEFAULTS.evalEvery}; 0 = only at the end)
  --eval-videos N       val videos used by the periodic evaluation (default ${DEFAULTS.evalVideos})
  --checkpoint-every N  write a checkpoint every N steps (default ${DEFAULTS.checkpointEvery})
  --scale-min X, --scale-max X   random rescale range of the augmentation (default ${DEFAULTS.scaleMin}-${DEFAULTS.scaleMax})
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
};

/** Parse argv into options; returns undefined for --help. `readConfig` reads a JSON file's text. */
export function parseArgs(argv: string[], readConfig: (path: string) => string): TrainOptions | undefined {
  const given: Partial<Record<keyof TrainOptions, unknown>> = {};
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return undefined;
    if (a === '--resume') {
      given.resume = true;
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
  const o = { ...DEFAULTS, ...fromFile, ...given } as TrainOptions;
  validate(o);
  return o;
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
  if (o.optimizer !== 'adamw' && o.optimizer !== 'sgd') throw new Error(`option optimizer must be adamw or sgd, got '${o.optimizer}'`);
  if (typeof o.model !== 'object' || o.model === null) throw new Error('option model must be an object of student settings');
}
