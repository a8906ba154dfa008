// `npm run ablation`: the semi-supervised methods against supervised-only training at the same labels
// and the same budget of steps, with several seeds; writes a table of val mIoU, mVC8 and mVC16 (mean ±
// half the spread) to OUT/results.md and results.json, and into README.md between the ablation markers.
//
// Budget: per seed, one supervised warm-up run (--warmup-steps) is shared by every method; each method
// (and "sup", which just keeps training on the labels) then trains --steps more steps from it with
// --init and no further warm-up, so every row has seen the same labels for the same number of steps.
// --retrain adds a pseudo-label retraining round on top of a method's finished run (its own row).
import { cpSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../engine/checkpoint-node.ts';
import { initNode } from '../engine/node.ts';
import { VideoDataset } from '../dataset/reader.ts';
import type { FrameRef } from '../dataset/splits.ts';
import { studentFromCheckpoint } from '../models/checkpoint.ts';
import { DEFAULTS, METHODS, parseArgs, type Method, type TrainOptions } from './config.ts';
import { KEPT_SHARE, formatClassPR, formatQuality, isMissing, pseudoLabelQuality, type PseudoQuality } from './pseudo-quality.ts';
import { RunDir } from './run-state.ts';
import { train, trainingSplit } from './train.ts';

interface AblationOptions {
  out: string;
  data: string;
  seeds: number;
  /** The seeds (< seeds) this invocation trains, in this order; the table covers every seed results.json holds. */
  onlySeeds: number[];
  methods: Method[];
  warmupSteps: number;
  steps: number;
  batch: number;
  labeledVideos: number;
  labeledEvery: number;
  readme: string;
  /** A JSON file of training options (as train/run.js --config) applied to every run, '' = none. */
  config: string;
  /** Methods whose runs also get one pseudo-label retraining round, a row of its own. */
  retrain: Method[];
  /** The retraining round labels every K-th unlabeled frame (train/run.js --pseudo-every). */
  pseudoEvery: number;
}

/** A row of the table: a method, or a method with a retraining round on top. */
type Entry = Method | `${Method}+retrain`;

const USAGE = `usage: npm run ablation -- [--steps N] [--warmup-steps N] [--seeds N [--only-seeds 2,0]] [--methods sup,u2pl,mvc,ifr,full]
                         [--labeled-videos F | --labeled-every K] [--batch N] [--out DIR] [--data DIR] [--readme FILE]
                         [--config FILE   training options for every run, as train/run.js --config]
                         [--retrain full  methods whose runs also get one retraining round] [--pseudo-every K]`;

function parse(argv: string[]): AblationOptions {
  const o: AblationOptions = {
    out: 'runs/ablation',
    data: DEFAULTS.data,
    seeds: 2,
    onlySeeds: [],
    methods: ['sup', 'u2pl', 'mvc', 'ifr', 'full'],
    warmupSteps: 200,
    steps: 200,
    batch: 4,
    labeledVideos: 0.1,
    labeledEvery: 0,
    readme: 'README.md',
    config: '',
    retrain: [],
    pseudoEvery: 3,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, v] = [argv[i]!, argv[i + 1]];
    if (flag === '--help') throw new Error(USAGE);
    if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    const num = (min: number) => {
      const x = Number(v);
      if (!(x >= min)) throw new Error(`${flag} must be a number >= ${min}, got '${v}'`);
      return x;
    };
    if (flag === '--out') o.out = v;
    else if (flag === '--data') o.data = v;
    else if (flag === '--readme') o.readme = v;
    else if (flag === '--config') o.config = v;
    else if (flag === '--seeds') o.seeds = num(1);
    else if (flag === '--only-seeds') {
      if (!/^\d+(,\d+)*$/.test(v)) throw new Error(`--only-seeds must be seeds separated by commas (e.g. 2,0), got '${v}'`);
      o.onlySeeds = [...new Set(v.split(',').map(Number))];
    } else if (flag === '--steps') o.steps = num(1);
    else if (flag === '--warmup-steps') o.warmupSteps = num(1);
    else if (flag === '--batch') o.batch = num(1);
    else if (flag === '--labeled-videos') [o.labeledVideos, o.labeledEvery] = [num(0), 0];
    else if (flag === '--labeled-every') [o.labeledEvery, o.labeledVideos] = [num(1), 0];
    else if (flag === '--pseudo-every') o.pseudoEvery = num(1);
    else if (flag === '--methods' || flag === '--retrain') {
      const ms = v.split(',') as Method[];
      const bad = ms.filter((m) => !METHODS.includes(m));
      if (bad.length) throw new Error(`${flag}: unknown ${bad.join(', ')} (known: ${METHODS.join(', ')})`);
      if (flag === '--methods') o.methods = ms;
      else o.retrain = ms;
    } else throw new Error(`unknown option '${flag}'\n${USAGE}`);
  }
  const outside = o.onlySeeds.filter((s) => s >= o.seeds);
  if (outside.length) throw new Error(`--only-seeds ${outside.join(',')}: not among the --seeds ${o.seeds} (seeds 0 to ${o.seeds - 1})`);
  if (!o.onlySeeds.length) o.onlySeeds = Array.from({ length: o.seeds }, (_, s) => s);
  const orphan = o.retrain.filter((m) => !o.methods.includes(m));
  if (orphan.length) throw new Error(`--retrain ${orphan.join(',')}: not among --methods ${o.methods.join(',')} (a retraining round goes on top of a method's run)`);
  return o;
}

interface Row {
  method: Entry;
  seed: number;
  mIoU: number;
  mVC8: number;
  mVC16: number;
  minutes: number;
  /** The final model's pseudo-label quality on the unlabeled training frames (absent in older results). */
  pseudo?: PseudoQuality;
}

/** Train `options` into `dir`, resuming from the checkpoint an interrupted invocation left there. */
async function trainOrResume(options: TrainOptions, dir: string) {
  const resume = new RunDir(dir).hasCheckpoint();
  return train({ ...options, out: dir, resume, overwrite: !resume });
}

/** What a finished run scored on val. */
interface Scores {
  mIoU: number;
  mVC8: number;
  mVC16: number;
}

/** Results are what hours of training leave: written whole or not at all. */
const saveJson = (file: string, value: unknown) => writeFileAtomic(file, new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`));

/** The warm-up teacher's pseudo-label quality on the unlabeled frames, per seed (OUT/teachers.json). */
type Teachers = Record<number, PseudoQuality>;

/** A run's metrics.jsonl records, as RunDir.records reads them. */
type Log = Record<string, number>[];

/** The final evaluation a run logged at global step `step`, if it got that far. */
function finalScores(log: Log, step: number): Scores | undefined {
  // A metric with nothing to measure (NaN) was logged as null, as results.json stores it.
  return log.find((r) => r.final === 1 && r.step === step) as Scores | undefined;
}

/**
 * The seconds a run logged from global step `sinceStep` on: a retraining round's labelling, then
 * training. Each process counts its steps' `seconds` from its own start, so the log is a run of rising
 * values per process: sum their peaks.
 */
function loggedSeconds(log: Log, sinceStep: number): number {
  let total = 0;
  let peak = 0;
  for (const r of log) {
    if (r.labelSeconds !== undefined && r.step! >= sinceStep) total += r.labelSeconds;
    if (r.seconds === undefined || r.step! <= sinceStep) continue;
    if (r.seconds < peak) total += peak;
    peak = r.seconds;
  }
  return total + peak;
}

/** Pseudo-label quality of a run's model on the unlabeled frames of its split. */
async function quality(dir: string, ds: VideoDataset, unlabeled: FrameRef[]): Promise<PseudoQuality> {
  const file = path.join(dir, 'model.safetensors');
  const { model } = studentFromCheckpoint(new Uint8Array(readFileSync(file)), file);
  try {
    return await pseudoLabelQuality(model, ds, unlabeled);
  } finally {
    model.ps.dispose();
  }
}

const LABEL: Record<Method, string> = { sup: 'supervised only', u2pl: 'U2PL', mvc: 'MVC', ifr: 'IFR', full: 'all (U2PL + MVC + IFR)' };
/** The table's rows, in order: each method, and after it its retraining round if --retrain names it. */
const tableEntries = (o: AblationOptions): Entry[] => o.methods.flatMap((m) => (o.retrain.includes(m) ? [m, `${m}+retrain` as const] : [m]));
const labelOf = (e: Entry) => (e.endsWith('+retrain') ? `${LABEL[e.slice(0, -'+retrain'.length) as Method]}, + 1 retraining round` : LABEL[e as Method]);

/** The training options of the --config file that differ from the defaults. */
function overrides(o: AblationOptions): Partial<TrainOptions> {
  if (!o.config) return {};
  const opts = parseArgs(['--config', o.config], (f) => readFileSync(f, 'utf8'))!;
  return Object.fromEntries(Object.entries(opts).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(DEFAULTS[k as keyof TrainOptions])));
}

/** 1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st, ... */
const ordinal = (k: number) => `${k}${[11, 12, 13].includes(k % 100) ? 'th' : (['th', 'st', 'nd', 'rd'][k % 10] ?? 'th')}`;

function table(rows: Row[], o: AblationOptions, teachers: Teachers, changed: Partial<TrainOptions>, classNames: string[]): string {
  const pm = (xs: (number | null)[]) => {
    // A metric with nothing to measure (mVC16 on videos of ≤ 16 frames) is NaN, stored as null in results.json.
    if (xs.some(isMissing)) return '—';
    const ys = xs as number[];
    const mean = ys.reduce((a, b) => a + b, 0) / ys.length;
    const half = (Math.max(...ys) - Math.min(...ys)) / 2;
    return ys.length === 1 ? (100 * mean).toFixed(1) : `${(100 * mean).toFixed(1)} ± ${(100 * half).toFixed(1)}`; // one seed has no spread
  };
  const teacherSeeds = Object.keys(teachers).map(Number).filter((s) => s < o.seeds).sort((a, b) => a - b);
  const labels = o.labeledVideos > 0 ? `all frames of ${o.labeledVideos * 100}% of the training videos` : `every ${ordinal(o.labeledEvery)} frame`;
  const lines = [
    `Labels: ${labels}. Each run: ${o.warmupSteps} shared supervised steps, then ${o.steps} steps of the method (batch ${o.batch}); ` +
      `${o.seeds > 1 ? `${o.seeds} seeds (mean ± half the spread)` : '1 seed'}. Val split of ${o.data === DEFAULTS.data ? 'the embedded set' : o.data}, ${new Date().toISOString().slice(0, 10)}.` +
      (o.config ? ` Training options changed from the defaults (--config): ${JSON.stringify(changed)}.` : ''),
    '',
    ...(teacherSeeds.length
      ? [
          `Pseudo-label accuracy of the warm-up teacher on the unlabeled training frames (every 4th frame), all pixels and the most ` +
            `confident shares by entropy: ${teacherSeeds.map((seed) => `seed ${seed} ${formatQuality(teachers[seed]!)}`).join('; ')}.`,
          '',
          `Per class, the precision/recall (%) of its pseudo-labels, and in brackets of the ${100 * KEPT_SHARE}% lowest-entropy pixels ` +
            `that U2PL's unsupervised loss keeps at first: ${teacherSeeds.map((seed) => `seed ${seed}: ${formatClassPR(teachers[seed]!, classNames)}`).join('; ')}.`,
          '',
        ]
      : []),
    '| method | val mIoU | Δ over supervised | mVC8 | mVC16 | its pseudo-labels on the unlabeled frames: accuracy (all / top 20%) / mIoU | minutes per run |',
    '|---|---|---|---|---|---|---|',
  ];
  const acc = (rs: Row[]) => {
    const qs = rs.flatMap((r) => (r.pseudo ? [r.pseudo] : []));
    if (!qs.length) return '—';
    const m = (f: (q: PseudoQuality) => number) => `${((100 * qs.reduce((a, q) => a + f(q), 0)) / qs.length).toFixed(1)}%`;
    const withIoU = qs.filter((q) => q.mIoU !== undefined);
    const miou = withIoU.length === qs.length ? ` / ${((100 * qs.reduce((a, q) => a + q.mIoU, 0)) / qs.length).toFixed(1)}` : '';
    return `${m((q) => q.accuracy)} / ${m((q) => q.byConfidence[0]!.accuracy)}${miou}`;
  };
  // The gain of each seed over that seed's supervised run (same warm-up, labels and steps); '—' until every seed has both.
  // A row on fewer seeds than the table also names those seeds' supervised mIoU: the row above is over all of them.
  const gain = (rs: Row[]) => {
    const sup = rs.map((r) => rows.find((s) => s.method === 'sup' && s.seed === r.seed));
    if (!sup.every(Boolean)) return '—';
    const d = pm(rs.map((r, i) => r.mIoU - sup[i]!.mIoU));
    return rs.length < o.seeds ? `${d} (over ${pm(sup.map((s) => s!.mIoU))})` : d;
  };
  for (const e of tableEntries(o)) {
    const rs = rows.filter((r) => r.method === e && r.seed < o.seeds).sort((a, b) => a.seed - b.seed);
    if (!rs.length) continue;
    // A row not yet run on every seed (an ablation spread over several invocations) says which it has.
    const which = rs.length < o.seeds ? ` (seed${rs.length > 1 ? 's' : ''} ${rs.map((r) => r.seed).join(', ')} of ${o.seeds})` : '';
    const cells = [pm(rs.map((r) => r.mIoU)), e === 'sup' ? '' : gain(rs), pm(rs.map((r) => r.mVC8)), pm(rs.map((r) => r.mVC16)), acc(rs), (rs.reduce((a, r) => a + r.minutes, 0) / rs.length).toFixed(1)];
    lines.push(`| ${labelOf(e)}${which} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const changed = overrides(o); // a bad --config file stops here, before the device starts
  await initNode(); // the quality measurements may run before any training does
  const base: TrainOptions = {
    ...DEFAULTS,
    ...changed,
    data: o.data,
    batch: o.batch,
    labeledVideos: o.labeledVideos,
    labeledEvery: o.labeledEvery || DEFAULTS.labeledEvery,
    evalEvery: 0,
    // Checkpoints along the way, so that a run cut short (the machine taken back, Ctrl-C) is resumed
    // rather than started again: batches depend only on (seed, step), so its curve is the same.
    checkpointEvery: 100,
  };
  const resultsPath = path.join(o.out, 'results.json');
  // Finished runs are kept, so an interrupted ablation continues where it stopped.
  const rows: Row[] = existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as Row[]) : [];
  // Kept beside results.json (not in the warm-up's folder) so that the two files alone, committed or
  // copied to another machine, let a later invocation add seeds and still write the whole table.
  const teachersPath = path.join(o.out, 'teachers.json');
  const teachers: Teachers = existsSync(teachersPath) ? (JSON.parse(readFileSync(teachersPath, 'utf8')) as Teachers) : {};
  let ds: VideoDataset | undefined;
  for (const seed of o.onlySeeds) {
    if (teachers[seed]?.kept !== undefined && tableEntries(o).every((e) => rows.some((r) => r.method === e && r.seed === seed))) continue;
    const warm = path.join(o.out, `warmup-s${seed}`);
    if (!existsSync(path.join(warm, 'model.safetensors')) || !existsSync(path.join(warm, 'report.html'))) {
      console.log(`\n=== seed ${seed}: supervised warm-up, ${o.warmupSteps} steps ===`);
      await trainOrResume({ ...base, seed, steps: o.warmupSteps }, warm);
    }
    // Opened after the first warm-up, which writes the default data set if it is missing.
    ds ??= VideoDataset.open(o.data);
    const { unlabeled } = trainingSplit({ ...base, seed }, ds);
    /** A finished run's row (its minutes, its pseudo-label quality), saved at once so that a rerun skips it. */
    const record = async (method: Entry, dir: string, minutes: number, r: Scores) => {
      rows.push({ method, seed, mIoU: r.mIoU, mVC8: r.mVC8, mVC16: r.mVC16, minutes, pseudo: await quality(dir, ds!, unlabeled) });
      await saveJson(resultsPath, rows);
    };
    /**
     * Train `options` into `dir` until its global step `last`, or pick up what an earlier invocation left
     * there: a finished run that was not recorded yet, or a checkpoint to resume from. Minutes count this
     * process and the training time the earlier ones logged (`sinceStep` on: a retraining round's own).
     */
    const runOrResume = async (entry: Entry, dir: string, last: number, sinceStep: number, options: TrainOptions) => {
      const log = await new RunDir(dir).records();
      const earlier = loggedSeconds(log, sinceStep) / 60;
      const done = finalScores(log, last);
      if (done) return record(entry, dir, earlier, done);
      const t0 = performance.now();
      const r = await trainOrResume(options, dir);
      await record(entry, dir, earlier + (performance.now() - t0) / 60000, r!.result);
    };
    if (teachers[seed]?.kept === undefined) {
      teachers[seed] = await quality(warm, ds, unlabeled);
      await saveJson(teachersPath, teachers);
    }
    console.log(`warm-up teacher's pseudo-labels on the unlabeled frames: ${formatQuality(teachers[seed]!)}`);
    console.log(`  per class, precision/recall % (of the ${100 * KEPT_SHARE}% lowest-entropy pixels): ${formatClassPR(teachers[seed]!, ds.classNames)}`);
    for (const method of o.methods) {
      const done = rows.find((r) => r.method === method && r.seed === seed);
      const dir = path.join(o.out, `${method}-s${seed}`);
      if (done) {
        // Results from before the quality column (or its mIoU) get it now, while the run's model is still there.
        if (done.pseudo?.mIoU === undefined && existsSync(path.join(dir, 'model.safetensors'))) {
          done.pseudo = await quality(dir, ds, unlabeled);
          await saveJson(resultsPath, rows);
        }
        continue;
      }
      console.log(`\n=== seed ${seed}: ${LABEL[method]}, ${o.steps} steps from the warm-up ===`);
      // Four evaluations along the way: the val curve, and for the semi-supervised methods the teacher's
      // pseudo-labels on unlabeled frames (metrics.jsonl: pseudoMIoU, pseudoClassIoU).
      const evalEvery = Math.max(1, Math.floor(o.steps / 4));
      await runOrResume(method, dir, o.steps, 0, { ...base, seed, method, steps: o.steps, warmup: 0, supSteps: 0, evalEvery, init: path.join(warm, 'model.safetensors') });
    }
    for (const method of o.retrain) {
      const entry: Entry = `${method}+retrain`;
      if (rows.some((r) => r.method === entry && r.seed === seed)) continue;
      // The method's finished run, copied (round 0 stays as it was) and resumed with one more round: what
      // `node train/run.js --resume --out DIR --retrain-rounds 1` does to a finished run.
      const from = path.join(o.out, `${method}-s${seed}`);
      const dir = path.join(o.out, `${entry}-s${seed}`);
      console.log(`\n=== seed ${seed}: ${labelOf(entry)} (pseudo-labels on 1 in ${o.pseudoEvery} unlabeled frames) ===`);
      if (!new RunDir(dir).hasCheckpoint()) {
        // Copied whole or not at all: a copy cut short would look like a run to resume.
        const partial = `${dir}.partial`;
        rmSync(partial, { recursive: true, force: true });
        cpSync(from, partial, { recursive: true });
        rmSync(dir, { recursive: true, force: true });
        renameSync(partial, dir);
      }
      // The round's pseudo-label rule is the ablation's (defaults + --config), not what a run recorded
      // before those options existed.
      const recorded = new RunDir(dir).readInfo().options;
      const rule = { pseudoEvery: o.pseudoEvery, pseudoThreshold: base.pseudoThreshold, pseudoBalance: base.pseudoBalance };
      await runOrResume(entry, dir, 2 * o.steps, o.steps, { ...recorded, retrainRounds: 1, ...rule });
    }
  }
  ds ??= VideoDataset.open(o.data); // every seed asked for was already in results.json
  const md = table(rows, o, teachers, changed, ds.classNames);
  writeFileSync(path.join(o.out, 'results.md'), `${md}\n`);
  console.log(`\n${md}`);
  if (existsSync(o.readme)) {
    const text = readFileSync(o.readme, 'utf8');
    const re = /(<!-- ablation:start -->\n)[\s\S]*?(<!-- ablation:end -->)/;
    if (re.test(text)) {
      writeFileSync(o.readme, text.replace(re, `$1${md}\n$2`));
      console.log(`table written into ${o.readme}`);
    }
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`\nablation: ${e.message}`);
    process.exit(1);
  },
);
