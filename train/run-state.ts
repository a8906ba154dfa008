// A run folder on disk: checkpoints (safetensors, written atomically), their JSON descriptor, and
// metrics.jsonl. `checkpoint.json` is written last, so it only ever names complete weight files:
// a crash mid-save leaves the previous checkpoint usable, and --resume continues from it.
// Semi-supervised runs also keep semi.safetensors: the mean teacher ("teacher.<name>") and U2PL's
// memory queues ("queue.<class>", of varying length).
import { appendFileSync, existsSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { loadCheckpoint, readRegularFile, saveCheckpoint, writeFileAtomic } from '../engine/checkpoint-node.ts';
import { assignData, decodeSafetensors, matchByName, problemsError, tensor, type Tensor } from '../engine/index.ts';
import type { LabelSpec } from '../dataset/labels.ts';
import { studentMetadata } from '../models/checkpoint.ts';
import type { StudentConfig } from '../models/student.ts';
import { checkNotInput, entriesOf, lockDir, sample } from '../eval/outputs.ts';
import { BEFORE_RECORDED, DEFAULTS, parseArgs, type TrainOptions } from './config.ts';

export interface CheckpointInfo {
  step: number;
  options: TrainOptions;
  model: StudentConfig;
  classNames: string[];
  /** How the data set's mask values map to the classes (dataset.json's declaration). */
  labels: LabelSpec;
  /** Optimiser settings (JSON) restored with its state tensors. */
  optimizer: unknown;
  /** The labeled split used, so that a resumed run checks it trains on the same labels. */
  labeledFrames: number;
}

/** What the run folder needs of U2PL's queues (train/queue.ts). */
interface Queues {
  state(): Record<string, Tensor>;
  load(state: Record<string, Tensor>): void;
}

/** What a run writes into its folder; --overwrite removes these (and pseudo-N/) and nothing else. */
const RUN_FILES = ['model.safetensors', 'optimizer.safetensors', 'semi.safetensors', 'checkpoint.json', 'metrics.jsonl', 'report.html', 'profile.json'];
const RUN_FOLDERS = /^(pseudo-\d+(\.partial)?|report)$/;

/** Where runs go when --out is not given: DEFAULT_RUN, else DEFAULT_RUN-2, -3, … (the first free one). */
export const DEFAULT_RUN = 'runs/default';

export class RunDir {
  constructor(readonly dir: string) {}
  get modelPath(): string {
    return path.join(this.dir, 'model.safetensors');
  }
  get optimPath(): string {
    return path.join(this.dir, 'optimizer.safetensors');
  }
  get infoPath(): string {
    return path.join(this.dir, 'checkpoint.json');
  }
  get metricsPath(): string {
    return path.join(this.dir, 'metrics.jsonl');
  }

  get semiPath(): string {
    return path.join(this.dir, 'semi.safetensors');
  }

  async save(info: CheckpointInfo, params: Map<string, Tensor>, optim: Record<string, Tensor>, teacher?: Map<string, Tensor>, queues?: Queues): Promise<void> {
    const meta = { ...studentMetadata(info.model, info.classNames, info.labels), step: String(info.step) };
    await saveCheckpoint(this.modelPath, params, meta);
    await saveCheckpoint(this.optimPath, optim, { step: String(info.step) });
    if (teacher || queues) {
      const semi: Record<string, Tensor> = { ...queues?.state() };
      for (const [name, t] of teacher ?? []) semi[`teacher.${name}`] = t;
      await saveCheckpoint(this.semiPath, semi, { step: String(info.step) });
    }
    await writeFileAtomic(this.infoPath, new TextEncoder().encode(JSON.stringify(info, null, 2)));
  }

  /** The student and (if given) the teacher of the last checkpoint. */
  async loadModels(params: Map<string, Tensor>, teacher?: Map<string, Tensor>): Promise<void> {
    await loadCheckpoint(this.modelPath, params);
    if (teacher) this.loadSemi(teacher, undefined);
  }

  private loadSemi(teacher: Map<string, Tensor> | undefined, queues: Queues | undefined): void {
    if (!existsSync(this.semiPath)) throw new Error(`--resume: ${this.semiPath} is missing (the teacher and queues of a semi-supervised run)`);
    const { tensors } = decodeSafetensors(readRegularFile(this.semiPath), this.semiPath);
    if (teacher) {
      const { pairs, problems } = matchByName(teacher, tensors, { prefix: 'teacher.' });
      if (problems.length) throw problemsError(`${this.semiPath}: the teacher does not match the model`, problems);
      for (const [t, f] of pairs) assignData(t, f.data);
    }
    if (queues) {
      const state: Record<string, Tensor> = {};
      for (const [name, f] of Object.entries(tensors)) if (name.startsWith('queue.')) state[name] = tensor(f.data, f.shape);
      queues.load(state);
      for (const t of Object.values(state)) t.dispose(); // load copies them
    }
  }

  hasRun(): boolean {
    return existsSync(this.infoPath) || existsSync(this.metricsPath);
  }

  /** Whether a checkpoint is there to --resume from. */
  hasCheckpoint(): boolean {
    return existsSync(this.infoPath);
  }

  /** checkpoint.json, checked enough that what reads it next cannot misread it; errors name the file. */
  readInfo(): CheckpointInfo {
    if (!existsSync(this.infoPath)) throw new Error(`--resume: ${this.infoPath} does not exist (no checkpoint to resume from in ${this.dir})`);
    const bytes = readRegularFile(this.infoPath, '--resume');
    let info: unknown;
    try {
      info = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (e) {
      throw new Error(`--resume: ${this.infoPath}: not valid JSON (${(e as Error).message}); the run's other files are untouched`);
    }
    const i = info as Partial<CheckpointInfo> | null;
    const bad = (what: string): never => {
      throw new Error(`--resume: ${this.infoPath}: ${what}; not a checkpoint.json written by train/run.js, or damaged`);
    };
    if (typeof i !== 'object' || i === null || Array.isArray(i)) return bad('not a JSON object');
    if (!(Number.isInteger(i.step) && i.step! >= 0)) bad(`'step' is ${JSON.stringify(i.step)}, not a step number`);
    if (typeof i.options !== 'object' || i.options === null) bad("no 'options' object");
    if (typeof i.model !== 'object' || i.model === null) bad("no 'model' object");
    if (!Array.isArray(i.classNames)) bad("no 'classNames' list");
    if (!Number.isInteger(i.labeledFrames)) bad("no 'labeledFrames' count");
    return { ...i, options: { ...DEFAULTS, ...BEFORE_RECORDED, ...i.options } } as CheckpointInfo;
  }

  async load(params: Map<string, Tensor>, optim: Record<string, Tensor>, teacher?: Map<string, Tensor>, queues?: Queues): Promise<void> {
    await loadCheckpoint(this.modelPath, params);
    await loadCheckpoint(this.optimPath, optim);
    if (teacher || queues) this.loadSemi(teacher, queues);
  }

  /** Append one JSON record to metrics.jsonl. */
  log(record: Record<string, unknown>): void {
    appendFileSync(this.metricsPath, `${JSON.stringify(record)}\n`);
  }

  /**
   * Records so far; on resume, those after the checkpoint's step are dropped so the curve continues
   * cleanly (the file is rewritten atomically). A last line cut short (a crash mid-append: no final
   * newline) is dropped with a warning; any other unreadable line is an error naming file and line.
   */
  async records(upToStep = Infinity): Promise<Record<string, number>[]> {
    if (!existsSync(this.metricsPath)) return [];
    const text = new TextDecoder().decode(readRegularFile(this.metricsPath));
    const lines = text.split('\n');
    const torn = lines.at(-1) !== '';
    const rows: Record<string, number>[] = [];
    lines.forEach((l, n) => {
      if (l.trim() === '') return;
      let r: unknown;
      try {
        r = JSON.parse(l);
      } catch {
        r = undefined;
      }
      const ok = typeof r === 'object' && r !== null && Number.isInteger((r as { step?: unknown }).step);
      if (ok) rows.push(r as Record<string, number>);
      else if (n === lines.length - 1 && torn) console.warn(`${this.metricsPath}: line ${n + 1} is cut short (an interrupted write); dropped`);
      else throw new Error(`${this.metricsPath}: line ${n + 1} is not a metrics record (a JSON object with a step): ${JSON.stringify(l.slice(0, 80))}`);
    });
    const kept = rows.filter((r) => r.step! <= upToStep);
    if (kept.length !== rows.length || torn) await writeFileAtomic(this.metricsPath, new TextEncoder().encode(kept.map((r) => `${JSON.stringify(r)}\n`).join('')));
    return kept;
  }

  /** --overwrite: remove what a run writes (RUN_FILES, RUN_FOLDERS), nothing else. */
  removeRunFiles(): void {
    for (const e of readdirSync(this.dir, { withFileTypes: true })) {
      if (e.isFile() && RUN_FILES.includes(e.name)) unlinkSync(path.join(this.dir, e.name));
      else if (e.isDirectory() && RUN_FOLDERS.test(e.name)) rmSync(path.join(this.dir, e.name), { recursive: true });
    }
  }
}

/**
 * The run folder for options `o`, locked for this process (call the returned release when done).
 * Without --out: DEFAULT_RUN or the first free DEFAULT_RUN-N (with --resume: the newest that holds a
 * run). A folder that holds files needs --resume (a run of ours) or --overwrite; an output may not
 * overlap --data or --init.
 */
export function claimRunDir(o: TrainOptions): { out: string; release: () => void } {
  const out = resolveRunDir(o);
  if (!o.out) console.log(`run folder: ${out}${out !== DEFAULT_RUN ? ` (${DEFAULT_RUN} holds an earlier run; give --out DIR to choose)` : ''}`);
  checkNotInput('--out', out, [{ option: '--data', path: o.data }, ...(o.init ? [{ option: '--init', path: o.init }] : [])]);
  const run = new RunDir(out);
  const there = entriesOf(out, '--out');
  if (!o.resume && there.length) {
    if (!o.overwrite) {
      const what = run.hasRun() ? 'holds a run of train/run.js' : `exists and is not empty (${sample(there)})`;
      throw new Error(`--out ${out}: ${what}; add --resume to continue it, --overwrite to replace the run's files (other files are kept), or choose another --out`);
    }
  }
  const release = lockDir(out, '--out');
  if (!o.resume && there.length) run.removeRunFiles(); // --overwrite, now that no other process writes here
  return { out, release };
}

/**
 * The options of `node train/run.js ARGV` (undefined for --help). With --resume, the run's recorded
 * options are the base instead of the defaults, so `--resume --out DIR` alone continues it as it was;
 * flags given on top that change what it computes are refused by train (resumeChanges).
 */
export function commandOptions(argv: string[], readConfig: (file: string) => string): TrainOptions | undefined {
  const o = parseArgs(argv, readConfig);
  if (!o?.resume) return o;
  const out = resolveRunDir(o);
  // Not the recorded --overwrite: it started the run, and would now refuse --resume.
  return parseArgs(argv, readConfig, { ...new RunDir(out).readInfo().options, out, resume: true, overwrite: false });
}

/** --out, or the default run folder when it is not given (see claimRunDir). */
export function resolveRunDir(o: TrainOptions): string {
  return o.out || defaultRunDir(o.resume);
}

function defaultRunDir(resume: boolean): string {
  const name = (k: number) => (k === 1 ? DEFAULT_RUN : `${DEFAULT_RUN}-${k}`);
  if (resume) {
    let last: string | undefined;
    for (let k = 1; existsSync(name(k)); k++) if (new RunDir(name(k)).hasRun()) last = name(k);
    if (!last) throw new Error(`--resume: no run in ${DEFAULT_RUN} (or ${DEFAULT_RUN}-N) to continue; give --out DIR`);
    return last;
  }
  let k = 1;
  while (existsSync(name(k)) && readdirSync(name(k)).length > 0) k++; // a lock counts: another run is starting there
  return name(k);
}
