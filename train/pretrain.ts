// `npm run pretrain`: makes the starting weights the default run begins from (weights/, see its README).
//
// Every seed method starts from weights pretrained on a large data set (ImageNet, One-peace); this
// project cannot download any, so it pretrains on a synthetic world of its own that is disjoint from
// the embedded set's videos: the same generator (dataset/synth.ts), hence the same renderer, classes
// and kinds of scene, but another seed, so no train or val video of the embedded set (seed 0) is
// seen. Supervised, every frame labeled, many short videos: variety, not frame count, is what the
// student lacks (docs/EXPERIMENTS.md). Training is `train()` with the defaults otherwise.
//
//   node dist/pretrain.js [--steps N] [--videos N] [--frames F] [--seed S] [--taxonomy fine|coarse] [--run DIR] [--out FILE] [--resume]
//
// --taxonomy coarse labels the world with 4 super-classes (sky, ground, structure, thing): weights that
// have seen the scenes but not the classes, the starting point of the label-scarce ablation (issue 17).
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeSynthWhole } from '../dataset/synth-write.ts';
import { COARSE_CLASSES, EMBEDDED, SYNTH_VERSION, taxonomyClasses } from '../dataset/synth.ts';
import { DEFAULTS, PRETRAINED } from './config.ts';
import { train } from './train.ts';

export const PRETRAIN_DEFAULTS = { steps: 3500, videos: 1000, frames: 4, seed: 1, run: 'runs/pretrain', out: PRETRAINED };
/** Where --taxonomy coarse writes by default: beside, never over, the shipped weights. */
export const COARSE_PRETRAINED = 'weights/synth-coarse.safetensors';

const USAGE = `usage: npm run pretrain -- [options]   (or node dist/pretrain.js [options])

Pretrains the student on a synthetic world disjoint from the embedded set (generator seed S ≠ ${EMBEDDED.seed})
and copies the weights to --out, where the default training run starts from them.

  --steps N     training steps (default ${PRETRAIN_DEFAULTS.steps})
  --videos N    videos in the pretraining world (default ${PRETRAIN_DEFAULTS.videos}; 2% are its val split)
  --frames F    frames per video, every one labeled (default ${PRETRAIN_DEFAULTS.frames})
  --seed S      the world's generator seed (default ${PRETRAIN_DEFAULTS.seed}; ${EMBEDDED.seed} is the embedded set's and is refused)
  --taxonomy T  fine (default): the embedded set's 10 classes; coarse: 4 super-classes (${COARSE_CLASSES.join(', ')}),
                weights that know the scenes but not the classes
  --run DIR     the training run's folder; the world is generated into DIR/world (default ${PRETRAIN_DEFAULTS.run}, -coarse appended for coarse)
  --out FILE    where the weights go (default ${PRETRAIN_DEFAULTS.out}; coarse: ${COARSE_PRETRAINED})
  --resume      continue an interrupted pretraining in --run`;

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: 'string' },
      videos: { type: 'string' },
      frames: { type: 'string' },
      seed: { type: 'string' },
      taxonomy: { type: 'string' },
      run: { type: 'string' },
      out: { type: 'string' },
      resume: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(USAGE);
  const int = (k: 'steps' | 'videos' | 'frames' | 'seed', min: number): number => {
    const v = values[k] === undefined ? PRETRAIN_DEFAULTS[k] : Number(values[k]);
    if (!Number.isInteger(v) || v < min) throw new Error(`--${k} must be an integer >= ${min}, got ${values[k]}`);
    return v;
  };
  const steps = int('steps', 1), videos = int('videos', 4), frames = int('frames', 1), seed = int('seed', 0);
  if (seed === EMBEDDED.seed) throw new Error(`--seed ${seed} is the embedded set's seed: pretraining would see its train and val videos`);
  const taxonomy = values.taxonomy ?? 'fine';
  if (taxonomy !== 'fine' && taxonomy !== 'coarse') throw new Error(`--taxonomy must be fine or coarse, got "${taxonomy}"`);
  const coarse = taxonomy === 'coarse';
  const run = values.run ?? PRETRAIN_DEFAULTS.run + (coarse ? '-coarse' : '');
  const out = values.out ?? (coarse ? COARSE_PRETRAINED : PRETRAIN_DEFAULTS.out);
  const world = path.join(run, 'world');
  const synth = { seed, videos, frames, valVideos: Math.max(1, Math.round(videos / 50)), extraVideos: 0, width: EMBEDDED.width, height: EMBEDDED.height, taxonomy } as const;
  if (existsSync(path.join(world, 'classes.json'))) {
    const have = JSON.parse(readFileSync(path.join(world, 'classes.json'), 'utf8')) as string[];
    const want = taxonomyClasses(taxonomy);
    if (have.join() !== want.join()) throw new Error(`${world} holds a world with classes ${have.join(', ')}, not the ${taxonomy} taxonomy's: use another --run`);
  }

  if (!existsSync(world)) {
    console.log(`generating the pretraining world (seed ${seed}, ${videos} videos of ${frames} frames) into ${world}...`);
    console.log(`wrote ${writeSynthWhole(world, synth)} files`);
  }
  const r = await train({
    ...DEFAULTS,
    data: world,
    out: path.join(run, 'train'),
    steps,
    labeledEvery: 1,
    init: '',
    evalEvery: Math.max(500, Math.round(steps / 6)),
    resume: Boolean(values.resume),
  });
  if (!r) return;
  mkdirSync(path.dirname(out), { recursive: true });
  copyFileSync(path.join(run, 'train', 'model.safetensors'), `${out}.partial`);
  renameSync(`${out}.partial`, out);
  const note = {
    made: new Date().toISOString().slice(0, 10),
    command: `npm run pretrain -- ${argv.join(' ')}`.trim(),
    world: { generator: `dataset/synth.ts v${SYNTH_VERSION}`, ...synth },
    steps,
    worldValMIoU: Number(r.result.mIoU.toFixed(4)),
  };
  writeFileSync(out.replace(/\.safetensors$/, '') + '.json', JSON.stringify(note, null, 2) + '\n');
  console.log(`pretrained weights: ${out} (val mIoU on the pretraining world's own val videos: ${(100 * r.result.mIoU).toFixed(1)})`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`\npretrain: ${e.message}`);
    process.exit(1);
  },
);
