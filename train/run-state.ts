// A run folder on disk: checkpoints (safetensors, written atomically), their JSON descriptor, and
// metrics.jsonl. `checkpoint.json` is written last, so it only ever names complete weight files:
// a crash mid-save leaves the previous checkpoint usable, and --resume continues from it.
// Semi-supervised runs also keep semi.safetensors: the mean teacher ("teacher.<name>") and U2PL's
// memory queues ("queue.<class>", of varying length).
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadCheckpoint, saveCheckpoint, writeFileAtomic } from '../engine/checkpoint-node.ts';
import { assignData, decodeSafetensors, matchByName, problemsError, tensor, type Tensor } from '../engine/index.ts';
import type { LabelSpec } from '../dataset/labels.ts';
import { studentMetadata } from '../models/checkpoint.ts';
import type { StudentConfig } from '../models/student.ts';
import type { TrainOptions } from './config.ts';

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

export class RunDir {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }
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
    const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(this.semiPath)), this.semiPath);
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

  readInfo(): CheckpointInfo {
    if (!existsSync(this.infoPath)) throw new Error(`--resume: ${this.infoPath} does not exist (no checkpoint to resume from in ${this.dir})`);
    return JSON.parse(readFileSync(this.infoPath, 'utf8')) as CheckpointInfo;
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

  /** Records so far; on resume, drop those after the checkpoint's step so the curve continues cleanly. */
  records(upToStep = Infinity): Record<string, number>[] {
    if (!existsSync(this.metricsPath)) return [];
    const rows = readFileSync(this.metricsPath, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, number>);
    const kept = rows.filter((r) => r.step! <= upToStep);
    if (kept.length !== rows.length) writeFileSync(this.metricsPath, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
    return kept;
  }
}
