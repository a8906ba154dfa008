// `node eval/run.js`: predict every frame of a split with a trained student, write the masks, and
// print per-class IoU, mIoU, mVC8 and mVC16 (VSPW's definitions), the last line a JSON object.
// The options and their usage text are in evaluate.ts (parseEvalArgs, USAGE).
import { mkdirSync, rmSync } from 'node:fs';
import { readRegularFile } from '../engine/checkpoint-node.ts';
import { describeDevice, largestBinding, memoryStats, resetPeak } from '../engine/index.ts';
import { initNode } from '../engine/node.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { studentFromCheckpoint } from '../models/checkpoint.ts';
import type { Frame } from '../dataset/image.ts';
import { formatChoice } from './aggregate.ts';
import { Progress } from './progress.ts';
import { USAGE, evaluate, formatResult, parseEvalArgs, type EvalArgs } from './evaluate.ts';
import { explainLimits } from './predict.ts';
import { checkNotInput, entriesOf, lockDir, moveInto, sample, stagingDir } from './outputs.ts';
import type { SegResult } from './metrics.ts';
import { correctVideo, formatVlmReport, parseVlmGroups, type VlmReport } from './vlm.ts';

async function main(argv: string[]): Promise<void> {
  const o = parseEvalArgs(argv);
  if (!o) {
    console.log(USAGE);
    return;
  }
  const ds = VideoDataset.open(o.data);
  if (ds.assumption) console.log(ds.assumption);
  // Checked before any work: a misspelt class or an output that would harm an input stops the run at once.
  const vlmGroups = o.vlm ? parseVlmGroups(o.vlm.classes, ds.classNames) : undefined;
  const release = o.out ? claimOut(o) : undefined;
  const bytes = readRegularFile(o.checkpoint, '--checkpoint');
  const second = o.aggregate ? readRegularFile(o.aggregate, '--aggregate') : undefined;
  console.log(`device: ${describeDevice(await initNode())}`);
  const use = o.baseSize === undefined ? {} : { baseSize: o.baseSize };
  const { model, step } = studentFromCheckpoint(bytes, o.checkpoint, use);
  console.log(`model from ${o.checkpoint} (step ${step}); ${ds.split(o.split).length} videos in split '${o.split}'`);
  const other = second ? studentFromCheckpoint(second, o.aggregate, use) : undefined;
  if (other) console.log(`aggregating with ${o.aggregate} (step ${other.step}): per video, the model whose masks stay more consistent along the optical flow`);
  const c = model.config;
  console.log(`inference: ${o.infer}, frames resized to ${c.baseSize ? `a shorter side of ${c.baseSize} pixels` : 'no scale (as they are)'}` + (o.infer === 'slide' ? `, windows of ${c.imageSize[1]}x${c.imageSize[0]}` : ''));
  if (o.tta) console.log(`test-time augmentation: ${o.tta.mode} over scales ${o.tta.scales.join(', ')}, each also flipped (${2 * o.tta.scales.length} views)`);
  if (o.vlm) console.log(`class correction: ${vlmGroups!.length} group(s) asked of ${o.vlm.model} at ${o.vlm.url}`);
  const vlmReports: VlmReport[] = [];
  const correct = async (video: string, frames: Frame[], preds: Int32Array[]) => {
    const reports = await correctVideo({ name: video, frames, preds }, vlmGroups!, { ...o.vlm!, classNames: ds.classNames });
    for (const r of reports) process.stderr.write(`\r${formatVlmReport(r)}\n`);
    vlmReports.push(...reports);
  };
  const modelNames = [`A (${o.checkpoint})`, `B (${o.aggregate})`];
  // Predictions go to a hidden folder beside --out, moved in at the end: a failure never leaves a
  // half-written --out, and files already there other than the new masks are never touched.
  const tmp = o.out ? stagingDir(o.out) : undefined;
  if (tmp) {
    rmSync(tmp, { recursive: true, force: true }); // ours: named after this process
    mkdirSync(tmp, { recursive: true });
  }
  resetPeak();
  largestBinding(true);
  let progress: Progress | undefined; // made at the first video, when the count is known
  const say = (line: string) => (progress ? progress.note(line) : console.error(line)); // a line of its own, beside the progress line
  try {
    const { result, models, choices } = await evaluate(model, ds, {
      split: o.split,
      batch: o.batch,
      infer: o.infer,
      ...(tmp ? { predDir: tmp } : {}),
      predValues: o.predValues,
      ...(o.tta ? { tta: o.tta } : {}),
      ...(other ? { aggregate: other.model, onChoice: (c) => say(formatChoice(c, ['A', 'B'])) } : {}),
      ...(o.vlm ? { postprocess: correct } : {}),
      progress: (d, n) => {
        progress ??= new Progress(n, 0, 1, process.stderr, { one: 'video', many: 'videos' });
        progress.update(d, {});
      },
    });
    progress?.break();
    if (tmp) {
      const n = moveInto(tmp, o.out!);
      console.log(`${n} predicted masks in ${o.out}`);
    }
    if (o.vlm) {
      const n = (status: string) => vlmReports.filter((r) => r.status === status).length;
      console.log(`class correction: ${n('relabelled')} relabelled, ${n('unchanged')} left unchanged (failed or unclear answers), ${n('skipped')} skipped (group absent)`);
    }
    if (models && choices) {
      models.forEach((r, m) => console.log(`${modelNames[m]}: ${summary(r)}`));
      const took = [0, 1].map((m) => choices.filter((c) => c.chosen === m).length);
      console.log(`aggregate: ${summary(result)}  (videos from A: ${took[0]}, from B: ${took[1]})`);
    }
    const mem = memoryStats();
    const big = largestBinding();
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    console.log(`GPU memory: peak ${mib(mem.peakHeldBytes)} held (${mib(mem.peakLiveBytes)} in use); largest binding ${mib(big.bytes)} (${big.what})`);
    console.log(formatResult(result, ds.classNames));
    const aggregate = models && choices ? { models: models.map(brief), choices } : null;
    console.log(JSON.stringify({ ...brief(result), perClassIoU: result.perClassIoU, pixels: result.pixels, tta: o.tta ?? null, infer: o.infer, memory: { peakHeldBytes: mem.peakHeldBytes, peakLiveBytes: mem.peakLiveBytes, largestBinding: big }, aggregate, vlm: o.vlm ? vlmReports : null }));
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    release?.();
  }
}

/** --out may not touch an input, and an existing non-empty folder needs --overwrite; then it is locked. */
function claimOut(o: EvalArgs): () => void {
  const out = o.out!;
  checkNotInput('--out', out, [
    { option: '--data', path: o.data },
    { option: '--checkpoint', path: o.checkpoint },
    ...(o.aggregate ? [{ option: '--aggregate', path: o.aggregate }] : []),
  ]);
  const there = entriesOf(out, '--out');
  if (there.length && !o.overwrite) {
    throw new Error(`--out ${out}: exists and is not empty (${sample(there)}); choose another folder, or add --overwrite to write the masks into it (files of other names are kept)`);
  }
  return lockDir(out, '--out');
}

const pct = (x: number) => (100 * x).toFixed(1);
const summary = (r: SegResult) => `mIoU ${pct(r.mIoU)}  mVC8 ${pct(r.mVC8)}  mVC16 ${pct(r.mVC16)}`;
const brief = (r: SegResult) => ({ mIoU: r.mIoU, mVC8: r.mVC8, mVC16: r.mVC16 });

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`eval: ${explainLimits(e.message)}`);
    process.exit(1);
  },
);
