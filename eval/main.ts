// `node eval/run.js`: predict every frame of a split with a trained student, write the masks, and
// print per-class IoU, mIoU, mVC8 and mVC16 (VSPW's definitions), the last line a JSON object.
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { describeDevice } from '../engine/index.ts';
import { initNode } from '../engine/node.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { studentFromCheckpoint } from '../models/checkpoint.ts';
import { evaluate, formatResult } from './evaluate.ts';

const USAGE = `usage: node eval/run.js --checkpoint FILE --data DIR [--split val] [--out PRED_DIR] [--pred-values dataset|class-ids] [--batch N]

  --checkpoint FILE   a model.safetensors written by train/run.js (its metadata holds the config)
  --data DIR          dataset root in VSPW's layout
  --split NAME        split file to evaluate (default val)
  --out PRED_DIR      write predicted masks as PRED_DIR/<video>/<frame>.png (palette PNGs)
  --pred-values V     mask values: 'dataset' (default: the data set's own label values, e.g. VSPW's
                      class + 1) or 'class-ids' (0..C-1, as some VSPW/PVUW scripts read predictions)
  --batch N           frames per forward pass (default 8)
  --help              this text`;

function parse(argv: string[]): Record<string, string> | undefined {
  const o: Record<string, string> = { split: 'val', batch: '8', 'pred-values': 'dataset' };
  const known = new Set(['--checkpoint', '--data', '--split', '--out', '--batch', '--pred-values']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return undefined;
    if (!known.has(a)) throw new Error(`unknown option '${a}' (see --help)`);
    const v = argv[++i];
    if (v === undefined || v.startsWith('--')) throw new Error(`option ${a} needs a value`);
    o[a.slice(2)] = v;
  }
  for (const k of ['checkpoint', 'data']) if (!o[k]) throw new Error(`--${k} is required (see --help)`);
  if (o['pred-values'] !== 'dataset' && o['pred-values'] !== 'class-ids') throw new Error(`--pred-values must be dataset or class-ids, got ${o['pred-values']}`);
  if (!(Number.isInteger(Number(o.batch)) && Number(o.batch) >= 1)) throw new Error(`--batch must be a positive integer, got ${o.batch}`);
  return o;
}

async function main(argv: string[]): Promise<void> {
  const o = parse(argv);
  if (!o) {
    console.log(USAGE);
    return;
  }
  const ds = VideoDataset.open(o.data!);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(o.checkpoint!);
  } catch (e) {
    throw new Error(`--checkpoint ${o.checkpoint}: cannot read (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  console.log(`device: ${describeDevice(await initNode())}`);
  const { model, step } = studentFromCheckpoint(bytes, o.checkpoint);
  console.log(`model from ${o.checkpoint} (step ${step}); ${ds.split(o.split!).length} videos in split '${o.split}'`);
  // Predictions go to a temporary folder renamed at the end: a failure never leaves a half-written one.
  const tmp = o.out ? `${o.out}.partial-${process.pid}` : undefined;
  if (tmp) mkdirSync(tmp, { recursive: true });
  try {
    const { result } = await evaluate(model, ds, {
      split: o.split!,
      batch: Number(o.batch),
      ...(tmp ? { predDir: tmp } : {}),
      predValues: o['pred-values'] === 'class-ids' ? 'classIds' : 'dataset',
      progress: (d, n) => process.stderr.write(`\rvideo ${d}/${n}`),
    });
    process.stderr.write('\n');
    if (tmp) {
      rmSync(o.out!, { recursive: true, force: true });
      renameSync(tmp, o.out!);
      console.log(`predicted masks in ${o.out}`);
    }
    console.log(formatResult(result, ds.classNames));
    console.log(JSON.stringify({ mIoU: result.mIoU, mVC8: result.mVC8, mVC16: result.mVC16, perClassIoU: result.perClassIoU, pixels: result.pixels }));
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`eval: ${e.message}`);
    process.exit(1);
  },
);
