// `node dist/ifr-probe.js --model M [--data DIR] [--labeled-videos F] [--seed S] [--pairs N] [--temperature T]`: see ifr-probe.ts.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initNode } from '../engine/node.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { labeledVideos } from '../dataset/splits.ts';
import { studentFromCheckpoint } from '../models/checkpoint.ts';
import { DEFAULTS } from './config.ts';
import { formatProbe, framePairs, probeIfr } from './ifr-probe.ts';
import { PROBE_OPTIONS } from './probe-options.ts';

const USAGE = `usage: ifr-probe --model M.safetensors [--data DIR (data/synth)] [--labeled-videos F (0.0625)] [--seed S (0)] [--pairs N (200)] [--temperature T (${DEFAULTS.ifrTemperature}, as training)]`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...PROBE_OPTIONS,
      pairs: { type: 'string', default: '200' },
      temperature: { type: 'string', default: String(DEFAULTS.ifrTemperature) },
    },
  });
  if (values.help) return console.log(USAGE);
  if (!values.model) throw new Error(`--model is required\n${USAGE}`);
  const num = (name: string, s: string) => {
    const x = Number(s);
    if (!Number.isFinite(x) || x < 0) throw new Error(`--${name} must be a non-negative number, got "${s}"\n${USAGE}`);
    return x;
  };
  const [fraction, seed, pairs, temperature] = [num('labeled-videos', values['labeled-videos']), num('seed', values.seed), num('pairs', values.pairs), num('temperature', values.temperature)];
  if (!(temperature > 0)) throw new Error(`--temperature must be positive, got "${values.temperature}"\n${USAGE}`);
  await initNode();
  const ds = VideoDataset.open(values.data);
  const { model } = studentFromCheckpoint(new Uint8Array(readFileSync(values.model)), values.model);
  const { labeled } = labeledVideos(ds.videoFrames('train'), fraction, seed);
  console.log(formatProbe(await probeIfr(model, ds, framePairs(labeled, pairs, seed), temperature), ds.classNames));
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`ifr-probe: ${e.message}`);
    process.exit(1);
  },
);
