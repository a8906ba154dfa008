// A run folder on disk: checkpoints (safetensors, written atomically), their JSON descriptor, and
// metrics.jsonl. `checkpoint.json` is written last, so it only ever names complete weight files:
// a crash mid-save leaves the previous checkpoint usable, and --resume continues from it.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadCheckpoint, saveCheckpoint, writeFileAtomic } from '../engine/checkpoint-node.ts';
import type { Tensor } from '../engine/index.ts';
import type { StudentConfig } from '../models/student.ts';
import type { TrainOptions } from './config.ts';

export interface CheckpointInfo {
  step: number;
  options: TrainOptions;
  model: StudentConfig;
  classNames: string[];
  /** Optimiser settings (JSON) restored with its state tensors. */
  optimizer: unknown;
  /** The labeled split used, so that a resumed run checks it trains on the same labels. */
  labeledFrames: number;
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

  async save(info: CheckpointInfo, params: Map<string, Tensor>, optim: Record<string, Tensor>): Promise<void> {
    const meta = { format: 'webgpu-vss student', step: String(info.step), config: JSON.stringify(info.model), classes: JSON.stringify(info.classNames) };
    await saveCheckpoint(this.modelPath, params, meta);
    await saveCheckpoint(this.optimPath, optim, { step: String(info.step) });
    await writeFileAtomic(this.infoPath, new TextEncoder().encode(JSON.stringify(info, null, 2)));
  }

  readInfo(): CheckpointInfo {
    if (!existsSync(this.infoPath)) throw new Error(`--resume: ${this.infoPath} does not exist (no checkpoint to resume from in ${this.dir})`);
    return JSON.parse(readFileSync(this.infoPath, 'utf8')) as CheckpointInfo;
  }

  async load(params: Map<string, Tensor>, optim: Record<string, Tensor>): Promise<void> {
    await loadCheckpoint(this.modelPath, params);
    await loadCheckpoint(this.optimPath, optim);
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
