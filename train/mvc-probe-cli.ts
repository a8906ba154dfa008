// `node dist/mvc-probe.js --model M [--data DIR] [--labeled-videos F] [--seed S] [--batches N] [--mask-ratio R] [--mask-block P]`: see mvc-probe.ts.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initNode } from '../engine/node.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { makeRng } from '../dataset/rng.ts';
import { studentFromCheckpoint } from '../models/checkpoint.ts';
import { Batches } from './batches.ts';
import { DEFAULTS } from './config.ts';
import { TRAIN_AUGMENT } from './images.ts';
import { formatMvcProbe, probeMvc } from './mvc-probe.ts';
import { PROBE_OPTIONS } from './probe-options.ts';
import { trainingSplit } from './train.ts';

const USAGE = `usage: mvc-probe --model M.safetensors [--data DIR (data/synth)] [--labeled-videos F (0.0625)] [--seed S (0)] [--batches N (24, of 4 frames)]
                 [--mask-ratio R (${DEFAULTS.maskRatio})] [--mask-block P (${DEFAULTS.maskBlock})]`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...PROBE_OPTIONS,
      batches: { type: 'string', default: '24' },
      'mask-ratio': { type: 'string', default: String(DEFAULTS.maskRatio) },
      'mask-block': { type: 'string', default: String(DEFAULTS.maskBlock) },
    },
  });
  if (values.help) return console.log(USAGE);
  if (!values.model) throw new Error(`--model is required\n${USAGE}`);
  const num = (name: keyof typeof values, min: number, max = Infinity) => {
    const x = Number(values[name]);
    if (!(x >= min && x <= max)) throw new Error(`--${name} must be a number in [${min}, ${max}], got "${String(values[name])}"\n${USAGE}`);
    return x;
  };
  const [labeledVideos, seed, batches, ratio, block] = [num('labeled-videos', 0, 1), num('seed', 0), num('batches', 1), num('mask-ratio', 0, 1), num('mask-block', 1)];
  await initNode();
  const ds = VideoDataset.open(values.data);
  const { model } = studentFromCheckpoint(new Uint8Array(readFileSync(values.model)), values.model);
  const split = trainingSplit({ ...DEFAULTS, labeledVideos, seed }, ds);
  if (!split.unlabeled.length) throw new Error(`${values.data}: --labeled-videos ${labeledVideos} leaves no unlabeled training frames to probe`);
  const aug = TRAIN_AUGMENT(model.config, DEFAULTS.scaleMin, DEFAULTS.scaleMax);
  const source = new Batches(ds, split.labeled, split.unlabeled, aug);
  console.log(formatMvcProbe(await probeMvc(model, source, aug, { ratio, block }, makeRng(seed + 123), Math.round(batches))));
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`mvc-probe: ${e.message}`);
    process.exit(1);
  },
);
