// `node eval/run.js`: predict every frame of a split with a trained student, write the masks, and
// print per-class IoU, mIoU, mVC8 and mVC16 (VSPW's definitions), the last line a JSON object.
// The options and their usage text are in evaluate.ts (parseEvalArgs, USAGE).
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { describeDevice } from '../engine/index.ts';
import { initNode } from '../engine/node.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { studentFromCheckpoint } from '../models/checkpoint.ts';
import { USAGE, evaluate, formatResult, parseEvalArgs } from './evaluate.ts';

async function main(argv: string[]): Promise<void> {
  const o = parseEvalArgs(argv);
  if (!o) {
    console.log(USAGE);
    return;
  }
  const ds = VideoDataset.open(o.data);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(o.checkpoint);
  } catch (e) {
    throw new Error(`--checkpoint ${o.checkpoint}: cannot read (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  console.log(`device: ${describeDevice(await initNode())}`);
  const { model, step } = studentFromCheckpoint(bytes, o.checkpoint);
  console.log(`model from ${o.checkpoint} (step ${step}); ${ds.split(o.split).length} videos in split '${o.split}'`);
  if (o.tta) console.log(`test-time augmentation: ${o.tta.mode} over scales ${o.tta.scales.join(', ')}, each also flipped (${2 * o.tta.scales.length} views)`);
  // Predictions go to a temporary folder renamed at the end: a failure never leaves a half-written one.
  const tmp = o.out ? `${o.out}.partial-${process.pid}` : undefined;
  if (tmp) mkdirSync(tmp, { recursive: true });
  try {
    const { result } = await evaluate(model, ds, {
      split: o.split,
      batch: o.batch,
      ...(tmp ? { predDir: tmp } : {}),
      predValues: o.predValues,
      ...(o.tta ? { tta: o.tta } : {}),
      progress: (d, n) => process.stderr.write(`\rvideo ${d}/${n}`),
    });
    process.stderr.write('\n');
    if (tmp) {
      rmSync(o.out!, { recursive: true, force: true });
      renameSync(tmp, o.out!);
      console.log(`predicted masks in ${o.out}`);
    }
    console.log(formatResult(result, ds.classNames));
    console.log(JSON.stringify({ mIoU: result.mIoU, mVC8: result.mVC8, mVC16: result.mVC16, perClassIoU: result.perClassIoU, pixels: result.pixels, tta: o.tta ?? null }));
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
