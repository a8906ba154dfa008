// `node train/run.js`: the training command line (train/train.ts does the work).
import { readFileSync } from 'node:fs';
import { explainLimits } from '../eval/predict.ts';
import { USAGE } from './config.ts';
import { commandOptions } from './run-state.ts';
import { train } from './train.ts';

async function main(argv: string[]): Promise<void> {
  const o = commandOptions(argv, (f) => readFileSync(f, 'utf8'));
  if (!o) {
    console.log(USAGE);
    return;
  }
  const r = await train(o);
  if (r) console.log(JSON.stringify({ mIoU: r.result.mIoU, mVC8: r.result.mVC8, mVC16: r.result.mVC16, perClassIoU: r.result.perClassIoU, steps: o.steps, labeledFrames: r.labeledFrames }));
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`\ntrain: ${explainLimits(e.message)}`);
    process.exit(1);
  },
);
