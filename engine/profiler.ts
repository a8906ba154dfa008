// Profiling: per-kernel GPU time, launches, submits, read-backs, uploads, bytes bound and pipeline
// compilations, over a few marked steps (`beginProfiledStep` … `endProfiledStep`).
//
// Two timing modes:
// - 'timestamp-query' (when the adapter has the feature): every dispatch gets a compute pass of its
//   own whose start and end write timestamps into a query set; at each submit they are resolved into
//   a buffer that is read back asynchronously. Submits and batches stay as they are without profiling.
// - 'per-dispatch' (no timestamps, or asked for): every dispatch is encoded into a command buffer of
//   its own, and the batch's submit is held back until the next wait (read-back, sync, end of step),
//   where the command buffers go to the GPU one at a time, each awaited with onSubmittedWorkDone.
//   Ops are synchronous, so a wait point is the first place an await can happen. CPU-timed: a time
//   includes the submit and the callback's latency.
//
// Bytes "bound" are the sizes of the storage bindings of each dispatch: an upper bound of the bytes a
// kernel touches. Off (the default), the scheduler pays one boolean test per dispatch, copy, upload
// and submit, and kernel compilation a clock read.

import { device } from './device.ts';
import { pool } from './memory.ts';

const QUERIES = 4096; // timestamps per query set (WebGPU's maximum): 2 per dispatch

export type ProfileMode = 'timestamp-query' | 'per-dispatch';

export interface KernelStats {
  kernel: string;
  calls: number;
  ms: number;
  /** Storage bytes bound, summed over calls. */
  bytes: number;
}

/** One op (a dispatch label: op name and shapes), to tell apart the calls of a kernel. */
export interface OpStats {
  op: string;
  kernel: string;
  calls: number;
  ms: number;
}

export interface Counts {
  dispatches: number;
  /** Queue submits (one command buffer each, or one per dispatch in per-dispatch mode: still counted once). */
  submits: number;
  readbacks: number;
  readbackBytes: number;
  uploads: number;
  uploadBytes: number;
  /** Storage bytes bound by all dispatches. */
  bytesBound: number;
  /** Bind groups created (the others were reused from earlier dispatches over the same buffers). */
  bindGroupsMade: number;
}

export interface Compile {
  kernel: string;
  ms: number;
  /** Compiled inside a profiled step (a cache miss there is part of that step's wall time). */
  inStep: boolean;
}

export interface Profile {
  mode: ProfileMode;
  steps: number;
  /** Wall time of the profiled steps, summed. */
  wallMs: number;
  /** GPU time of their kernels, summed. */
  kernelMs: number;
  counts: Counts;
  /** Slowest first. */
  kernels: KernelStats[];
  /** Slowest first. */
  ops: OpStats[];
  /** Every pipeline compiled since startProfiling. */
  compiles: Compile[];
}

/** What a timing is added to. */
export interface Timed {
  kernel: string;
  op: string;
}

/** A held-back batch (per-dispatch mode): uploads to make first, then its command buffers in order. */
interface Held {
  before: () => void;
  buffers: { cb: GPUCommandBuffer; timed?: Timed }[];
  what: string;
}

const zeroCounts = (): Counts => ({ dispatches: 0, submits: 0, readbacks: 0, readbackBytes: 0, uploads: 0, uploadBytes: 0, bytesBound: 0, bindGroupsMade: 0 });

class Profiler {
  /**
   * Submits the work recorded so far: the scheduler plugs itself in here (the scheduler reports to the
   * profiler; the profiler needs from it only this, so neither module imports the other both ways).
   */
  flush: () => void = () => {};
  /** Inside a profiled step: the scheduler reports to us. */
  enabled = false;
  /** Inside a profiled step in per-dispatch mode. */
  serial = false;
  /** Between startProfiling and stopProfiling: compilations are logged. */
  tracking = false;
  mode: ProfileMode = 'timestamp-query';
  private querySets: GPUQuerySet[] = [];
  /** The dispatches timed in the open batch (timestamp mode). */
  private batch: Timed[] = [];
  private kernels = new Map<string, KernelStats>();
  private ops = new Map<string, OpStats>();
  counts = zeroCounts();
  compiles: Compile[] = [];
  private pending: Promise<void>[] = [];
  private held: Held[] = [];
  steps = 0;
  wallMs = 0;
  private stepStart = 0;

  reset(mode: ProfileMode): void {
    this.mode = mode;
    this.kernels.clear();
    this.ops.clear();
    this.counts = zeroCounts();
    this.compiles = [];
    this.steps = 0;
    this.wallMs = 0;
    this.tracking = true;
  }

  /** A dispatch is being recorded: count it; in timestamp mode, the timestamp writes of its pass. */
  dispatched(t: Timed, bytes: number): GPUComputePassTimestampWrites | undefined {
    const k = this.stats(t);
    k.calls++;
    k.bytes += bytes;
    this.opStats(t).calls++;
    this.counts.dispatches++;
    this.counts.bytesBound += bytes;
    if (this.serial) return undefined;
    const i = this.batch.length;
    this.batch.push(t);
    const set = Math.floor((2 * i) / QUERIES);
    this.querySets[set] ??= device().gpu.createQuerySet({ type: 'timestamp', count: QUERIES });
    const at = (2 * i) % QUERIES;
    return { querySet: this.querySets[set], beginningOfPassWriteIndex: at, endOfPassWriteIndex: at + 1 };
  }

  readback(bytes: number): void {
    this.counts.readbacks++;
    this.counts.readbackBytes += bytes;
  }

  upload(bytes: number): void {
    this.counts.uploads++;
    this.counts.uploadBytes += bytes;
  }

  compiled(kernel: string, ms: number): void {
    this.compiles.push({ kernel, ms, inStep: this.enabled });
  }

  /** Timestamp mode, before a batch's submit: resolve its timestamps; returns what to call after the submit. */
  beforeSubmit(encoder: GPUCommandEncoder): (() => void) | undefined {
    this.counts.submits++;
    const batch = this.batch;
    if (!batch.length) return undefined;
    this.batch = [];
    const d = device().gpu;
    const bytes = 2 * batch.length * 8;
    const resolved = d.createBuffer({ size: bytes, usage: 0x200 /* QUERY_RESOLVE */ | 0x4 /* COPY_SRC */ });
    const read = d.createBuffer({ size: bytes, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */ });
    for (let s = 0; s * QUERIES < 2 * batch.length; s++) {
      const count = Math.min(QUERIES, 2 * batch.length - s * QUERIES);
      encoder.resolveQuerySet(this.querySets[s]!, 0, count, resolved, s * QUERIES * 8);
    }
    encoder.copyBufferToBuffer(resolved, 0, read, 0, bytes);
    return () => {
      resolved.destroy(); // after the submit: the GPU keeps what it still needs
      this.pending.push(
        read.mapAsync(1).then(() => {
          const t = new BigInt64Array(read.getMappedRange());
          batch.forEach((timed, i) => this.time(timed, Math.max(0, Number(t[2 * i + 1]! - t[2 * i]!) / 1e6)));
          read.destroy();
        }),
      );
    };
  }

  /** Per-dispatch mode: keep a batch for `drain`. */
  hold(h: Held): void {
    if (h.buffers.length) this.counts.submits++;
    this.held.push(h);
  }

  /** Per-dispatch mode: submit the held batches one command buffer at a time, timing each. */
  async drain(): Promise<void> {
    const d = device();
    while (this.held.length) {
      const h = this.held.shift()!;
      h.before();
      for (const { cb, timed } of h.buffers) {
        const t0 = performance.now();
        d.scoped(h.what, () => d.gpu.queue.submit([cb]));
        await d.gpu.queue.onSubmittedWorkDone();
        if (timed) this.time(timed, performance.now() - t0);
      }
    }
    // Buffers released meanwhile could be destroyed only now that their commands were submitted.
    pool.afterSubmit();
  }

  private stats({ kernel }: Timed): KernelStats {
    let k = this.kernels.get(kernel);
    if (!k) this.kernels.set(kernel, (k = { kernel, calls: 0, ms: 0, bytes: 0 }));
    return k;
  }

  private opStats({ kernel, op }: Timed): OpStats {
    const key = `${kernel}\n${op}`;
    let o = this.ops.get(key);
    if (!o) this.ops.set(key, (o = { op, kernel, calls: 0, ms: 0 }));
    return o;
  }

  private time(t: Timed, ms: number): void {
    this.stats(t).ms += ms;
    this.opStats(t).ms += ms;
  }

  beginStep(): void {
    if (!this.tracking) throw new Error('beginProfiledStep: call startProfiling() first');
    this.flush(); // earlier work is not part of the step
    this.enabled = true;
    this.serial = this.mode === 'per-dispatch';
    this.stepStart = performance.now();
  }

  async endStep(): Promise<void> {
    if (!this.enabled) throw new Error('endProfiledStep without beginProfiledStep');
    this.flush();
    await this.drain();
    this.wallMs += performance.now() - this.stepStart;
    this.steps++;
    this.enabled = false;
    this.serial = false;
  }

  async report(): Promise<Profile> {
    await Promise.all(this.pending);
    this.pending = [];
    const kernels = [...this.kernels.values()].sort((a, b) => b.ms - a.ms);
    return {
      mode: this.mode,
      steps: this.steps,
      wallMs: this.wallMs,
      kernelMs: kernels.reduce((s, k) => s + k.ms, 0),
      counts: { ...this.counts },
      kernels: kernels.map((k) => ({ ...k })),
      ops: [...this.ops.values()].sort((a, b) => b.ms - a.ms).map((o) => ({ ...o })),
      compiles: [...this.compiles],
    };
  }
}

export const profiler = new Profiler();

/**
 * Start a profile: from now on pipeline compilations are logged; kernels are measured inside
 * `beginProfiledStep` … `endProfiledStep`. Timestamps are used where the adapter has them, unless
 * `perDispatch` asks for the fallback.
 */
export function startProfiling(opts: { perDispatch?: boolean } = {}): ProfileMode {
  const hasTimestamps = device().info.features.includes('timestamp-query');
  profiler.reset(hasTimestamps && !opts.perDispatch ? 'timestamp-query' : 'per-dispatch');
  return profiler.mode;
}

/** Mark the start of a step to measure. Submit (or sync) earlier work first so it is not counted. */
export function beginProfiledStep(): void {
  profiler.beginStep();
}

/** Mark the end of a measured step (after its read-back, so its GPU work is done). */
export function endProfiledStep(): Promise<void> {
  return profiler.endStep();
}

/** End the profile: per-kernel totals (slowest first), counts, compilations. */
export async function stopProfiling(): Promise<Profile> {
  if (profiler.enabled) await profiler.endStep();
  profiler.tracking = false;
  return profiler.report();
}

function size(bytes: number): string {
  const [d, unit] = bytes >= 1e9 ? [1e9, 'GB'] : bytes >= 1e6 ? [1e6, 'MB'] : bytes >= 1e3 ? [1e3, 'kB'] : [1, 'B'];
  return `${(bytes / d).toFixed(d === 1 ? 0 : 1)} ${unit}`;
}
const f1 = (x: number) => x.toFixed(1);

/** Per-step figures of a profile (what the table prints and profile.json holds). */
export function profileSummary(p: Profile) {
  const n = Math.max(p.steps, 1);
  const per = (x: number) => x / n;
  const kernels = p.kernels.map((k) => ({
    kernel: k.kernel,
    callsPerStep: per(k.calls),
    msPerStep: per(k.ms),
    share: p.kernelMs ? k.ms / p.kernelMs : 0,
    bytesPerStep: per(k.bytes),
  }));
  const c = p.counts;
  return {
    mode: p.mode,
    steps: p.steps,
    wallMsPerStep: per(p.wallMs),
    kernelMsPerStep: per(p.kernelMs),
    dispatchesPerStep: per(c.dispatches),
    submitsPerStep: per(c.submits),
    readbacksPerStep: per(c.readbacks),
    readbackBytesPerStep: per(c.readbackBytes),
    uploadsPerStep: per(c.uploads),
    uploadBytesPerStep: per(c.uploadBytes),
    bytesBoundPerStep: per(c.bytesBound),
    bindGroupsMadePerStep: per(c.bindGroupsMade),
    top5Share: kernels.slice(0, 5).reduce((s, k) => s + k.share, 0),
    kernels,
    ops: p.ops.map((o) => ({ op: o.op, kernel: o.kernel, callsPerStep: per(o.calls), msPerStep: per(o.ms), share: p.kernelMs ? o.ms / p.kernelMs : 0 })),
    compiles: { count: p.compiles.length, ms: p.compiles.reduce((s, x) => s + x.ms, 0), inSteps: p.compiles.filter((x) => x.inStep).length, list: p.compiles },
  };
}

/** The top `n` kernels by GPU time, the 5 slowest ops, and the per-step totals, as text. */
export function formatProfile(p: Profile, n = 15): string {
  const s = profileSummary(p);
  const how =
    p.mode === 'timestamp-query'
      ? 'GPU timestamp queries (one compute pass per dispatch)'
      : "per-dispatch submits, each awaited (no 'timestamp-query'; CPU-timed, includes submit and callback latency)";
  const head = `${'kernel'.padEnd(28)} ${'calls/step'.padStart(10)} ${'ms/step'.padStart(10)} ${'share'.padStart(6)} ${'bound/step'.padStart(11)}`;
  const rows = s.kernels
    .slice(0, n)
    .map((k) => `${k.kernel.padEnd(28)} ${f1(k.callsPerStep).padStart(10)} ${k.msPerStep.toFixed(2).padStart(10)} ${`${f1(100 * k.share)}%`.padStart(6)} ${size(k.bytesPerStep).padStart(11)}`);
  const c = s.compiles;
  const slowest = [...c.list].sort((a, b) => b.ms - a.ms).slice(0, 3);
  return [
    `profile of ${p.steps} step(s); timing: ${how}`,
    head,
    ...rows,
    `(top ${Math.min(n, s.kernels.length)} of ${s.kernels.length} kernels; the top 5 take ${f1(100 * s.top5Share)}% of kernel time)`,
    'slowest ops (dispatch labels):',
    ...s.ops.slice(0, 5).map((o) => `  ${o.msPerStep.toFixed(2).padStart(9)} ms/step ${`${f1(100 * o.share)}%`.padStart(6)} ${f1(o.callsPerStep).padStart(6)}× ${o.kernel}: ${o.op}`),
    `per step: wall ${f1(s.wallMsPerStep)} ms, kernels ${f1(s.kernelMsPerStep)} ms (${f1((100 * s.kernelMsPerStep) / (s.wallMsPerStep || 1))}% of wall)`,
    `per step: ${f1(s.dispatchesPerStep)} dispatches (${f1(s.bindGroupsMadePerStep)} new bind groups), ${f1(s.submitsPerStep)} submits, ${f1(s.readbacksPerStep)} read-backs (${size(s.readbackBytesPerStep)}), ` +
      `${f1(s.uploadsPerStep)} uploads (${size(s.uploadBytesPerStep)})`,
    `per step: ${size(s.bytesBoundPerStep)} bound by dispatches (storage bindings' sizes: an upper bound of the bytes kernels touch)`,
    `pipelines compiled since profiling started: ${c.count} (${f1(c.ms)} ms), ${c.inSteps} of them inside profiled steps` +
      (slowest.length ? `; slowest: ${slowest.map((x) => `${x.kernel} ${x.ms.toFixed(0)} ms`).join(', ')}` : ''),
  ].join('\n');
}
