// Per-kernel GPU time from timestamp queries.
//
// While profiling, every dispatch gets a compute pass of its own whose beginning and end write
// timestamps into a query set; at each submit the timestamps are resolved into a buffer that is
// read back asynchronously and added to per-kernel totals. Separate passes cost a little, so only
// profile when asked (`startProfiling`). Adapters without the 'timestamp-query' feature fall back to
// counting dispatches only.

import { device } from './device.ts';

const CAPACITY = 4096; // queries per query set: 2 per dispatch

export interface KernelTime {
  kernel: string;
  calls: number;
  ms: number;
}

class Profiler {
  enabled = false;
  private querySet: GPUQuerySet | undefined;
  private resolveBuf: GPUBuffer | undefined;
  /** Kernel names of the dispatches timed in the open batch. */
  private names: string[] = [];
  private totals = new Map<string, KernelTime>();
  private pending: Promise<void>[] = [];

  get hasTimestamps(): boolean {
    return device().info.features.includes('timestamp-query');
  }

  /** Timestamp writes for the pass of the next dispatch, or undefined without timestamps. */
  passTimestamps(kernelName: string): GPUComputePassTimestampWrites | undefined {
    if (!this.hasTimestamps) {
      this.count(kernelName, 0);
      return undefined;
    }
    const d = device().gpu;
    this.querySet ??= d.createQuerySet({ type: 'timestamp', count: CAPACITY });
    const i = this.names.length;
    this.names.push(kernelName);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** True when the query set is full and the batch must be submitted. */
  get full(): boolean {
    return this.names.length * 2 >= CAPACITY;
  }

  /** Before submit: resolve this batch's timestamps into a buffer to read after the submit. */
  beforeSubmit(encoder: GPUCommandEncoder): (() => void) | undefined {
    const n = this.names.length;
    if (!n || !this.querySet) return undefined;
    const d = device().gpu;
    const bytes = 2 * n * 8;
    this.resolveBuf ??= d.createBuffer({ size: CAPACITY * 8, usage: 0x200 /* QUERY_RESOLVE */ | 0x4 /* COPY_SRC */ });
    const read = d.createBuffer({ size: bytes, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */ });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    encoder.copyBufferToBuffer(this.resolveBuf, 0, read, 0, bytes);
    const names = this.names;
    this.names = [];
    return () => {
      this.pending.push(
        read.mapAsync(1).then(() => {
          const t = new BigInt64Array(read.getMappedRange());
          names.forEach((name, i) => this.count(name, Number(t[2 * i + 1]! - t[2 * i]!) / 1e6));
          read.destroy();
        }),
      );
    };
  }

  private count(name: string, ms: number): void {
    const e = this.totals.get(name) ?? { kernel: name, calls: 0, ms: 0 };
    e.calls++;
    e.ms += ms;
    this.totals.set(name, e);
  }

  /** Per-kernel totals since startProfiling, slowest first (waits for outstanding read-backs). */
  async report(): Promise<KernelTime[]> {
    await Promise.all(this.pending);
    this.pending = [];
    return [...this.totals.values()].sort((a, b) => b.ms - a.ms);
  }

  reset(): void {
    this.totals.clear();
  }
}

export const profiler = new Profiler();

export function startProfiling(): void {
  profiler.reset();
  profiler.enabled = true;
}

/** Stop profiling and return per-kernel GPU time, slowest first. Call after the profiled work was submitted (e.g. after sync()). */
export async function stopProfiling(): Promise<KernelTime[]> {
  profiler.enabled = false;
  return profiler.report();
}

/** A fixed-width table of the top `n` kernels. */
export function formatProfile(rows: KernelTime[], n = 15): string {
  const total = rows.reduce((s, r) => s + r.ms, 0);
  const lines = rows.slice(0, n).map((r) => `${r.kernel.padEnd(28)} ${String(r.calls).padStart(6)} calls ${r.ms.toFixed(1).padStart(9)} ms ${((100 * r.ms) / (total || 1)).toFixed(1).padStart(5)}%`);
  return [`${'kernel'.padEnd(28)} ${'calls'.padStart(12)} ${'GPU time'.padStart(12)}   share`, ...lines, `total GPU time ${total.toFixed(1)} ms`].join('\n');
}
