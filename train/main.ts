// `node train/run.js`: the training command line (train/train.ts does the work).
import { readFileSync } from 'node:fs';
import { DEFAULTS, USAGE, parseArgs } from './config.ts';
import { RunDir, resolveRunDir } from './run-state.ts';
import { train } from './train.ts';

async function main(argv: string[]): Promise<void> {
  const read = (f: string) => readFileSync(f, 'utf8');
  let o = parseArgs(argv, read);
  if (!o) {
    console.log(USAGE);
    return;
  }
  if (o.resume) {
    // A resumed run continues with its recorded options; flags given on top are checked against them.
    const out = resolveRunDir(o);
    o = parseArgs(argv, read, { ...DEFAULTS, ...new RunDir(out).readInfo().options, out, resume: true })!;
  }
  const r = await train(o);
  if (r) console.log(JSON.stringify({ mIoU: r.result.mIoU, mVC8: r.result.mVC8, mVC16: r.result.mVC16, perClassIoU: r.result.perClassIoU, steps: o.steps, labeledFrames: r.labeledFrames }));
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`\ntrain: ${e.message}`);
    process.exit(1);
  },
);
