// Command recording: every op appends a dispatch to one open compute pass; the work goes to the GPU
// in one submit when someone needs results (read-back), uploads into a buffer in use, or the batch
// grows past `maxDispatches`. A training step thus becomes one or a few command buffers.
//
// Uniform parameters (shapes, scalars) of all dispatches of a batch live in one "arena" buffer: each
// dispatch gets a 256-byte aligned slot, written into a CPU copy while encoding, and the whole arena
// is uploaded with one writeBuffer just before the submit. The next batch may reuse the arena at once:
// its writeBuffer is queued after the previous submit, so the GPU has read the old values by then.

import { device } from './device.ts';
import { pool } from './memory.ts';
import { profiler, type Timed } from './profiler.ts';

const SLOT = 256; // minUniformBufferOffsetAlignment
const ARENA_BYTES = 256 * 1024;
const WAIT_HISTORY = 3; // waits remembered per batch size (see wait)

class Scheduler {
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private arena: GPUBuffer | undefined;
  private arenaCPU = new Uint8Array(ARENA_BYTES);
  private arenaUsed = 0;
  /** Buffers bound by dispatches in the open batch (so an upload into one of them forces a flush). */
  readonly touched = new Set<GPUBuffer>();
  dispatches = 0;
  maxDispatches = 4096;
  /** Totals since start, for profiling: dispatches, submits. */
  totalDispatches = 0;
  totalSubmits = 0;
  /** Labels of the open batch's dispatches, to name the culprit when WebGPU reports an error. */
  private labels: string[] = [];
  /** Closed command buffers of the open batch: one per dispatch while profiling per dispatch, else none. */
  private finished: { cb: GPUCommandBuffer; timed?: Timed }[] = [];

  private ensurePass(): GPUComputePassEncoder {
    if (!this.pass) {
      const d = device().gpu;
      this.encoder ??= d.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
    }
    return this.pass;
  }

  private ensureEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = undefined;
    }
    this.encoder ??= device().gpu.createCommandEncoder();
    return this.encoder;
  }

  /** Reserve a uniform slot; returns the arena buffer, offset and a view to fill. */
  uniformSlot(bytes: number): { buffer: GPUBuffer; offset: number; view: DataView } {
    const need = Math.ceil(bytes / SLOT) * SLOT;
    if (need > ARENA_BYTES) throw new Error(`uniform block of ${bytes} bytes is too large`);
    if (this.arenaUsed + need > ARENA_BYTES) this.flush();
    this.arena ??= device().gpu.createBuffer({ size: ARENA_BYTES, usage: 0x40 /* UNIFORM */ | 0x8 /* COPY_DST */, label: 'uniform arena' });
    const offset = this.arenaUsed;
    this.arenaUsed += need;
    this.arenaCPU.fill(0, offset, offset + need);
    return { buffer: this.arena, offset, view: new DataView(this.arenaCPU.buffer, offset, need) };
  }

  dispatch(
    pipeline: GPUComputePipeline,
    bindGroup: GPUBindGroup,
    offsets: number[],
    wg: [number, number, number],
    label: string,
    buffers: GPUBuffer[],
    kernelName = label,
    bytes = 0,
  ): void {
    if (profiler.enabled) {
      // A pass of its own, with timestamps at its start and end (none in per-dispatch mode).
      if (this.pass) this.pass.end();
      this.encoder ??= device().gpu.createCommandEncoder();
      const timestampWrites = profiler.dispatched({ kernel: kernelName, op: label }, bytes);
      this.pass = this.encoder.beginComputePass(timestampWrites ? { timestampWrites } : {});
    }
    const pass = this.ensurePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup, offsets);
    pass.dispatchWorkgroups(wg[0], wg[1], wg[2]);
    if (profiler.serial) this.finishCommandBuffer({ kernel: kernelName, op: label });
    for (const b of buffers) this.touched.add(b);
    this.labels.push(label);
    this.dispatches++;
    this.totalDispatches++;
    if (this.dispatches >= this.maxDispatches) this.flush();
  }

  /** Close the open encoder into a command buffer of the batch (per dispatch while profiling serially). */
  private finishCommandBuffer(timed?: Timed): void {
    if (this.pass) {
      this.pass.end();
      this.pass = undefined;
    }
    if (this.encoder) this.finished.push({ cb: this.encoder.finish(), timed });
    this.encoder = undefined;
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (profiler.enabled && dst.usage & 0x1 /* MAP_READ */) profiler.readback(bytes);
    this.ensureEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.touched.add(src);
    this.touched.add(dst);
  }

  /** Upload into `buf`; if the open batch uses `buf`, submit it first so the write lands after those reads. */
  write(buf: GPUBuffer, offset: number, data: ArrayBufferView): void {
    if (this.touched.has(buf)) this.flush();
    if (profiler.enabled) profiler.upload(data.byteLength);
    if (profiler.serial) {
      // Held back with the batches before it, so it still lands after them.
      const copy = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
      profiler.hold({ before: () => device().gpu.queue.writeBuffer(buf, offset, copy), buffers: [], what: `an upload of ${copy.length} bytes` });
      return;
    }
    device().gpu.queue.writeBuffer(buf, offset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Submit everything recorded so far. */
  flush(): void {
    if (!this.encoder && !this.finished.length) return;
    const d = device();
    const afterSubmit = profiler.enabled && !profiler.serial ? profiler.beforeSubmit(this.ensureEncoder()) : undefined;
    this.finishCommandBuffer();
    const batch = this.finished;
    this.finished = [];
    const what = this.labels.length <= 6 ? this.labels.join(', ') : `${this.labels.slice(0, 3).join(', ')}, ... ${this.labels.slice(-3).join(', ')}`;
    const scope = `a batch of ${this.dispatches} dispatches (${what})`;
    if (profiler.serial) {
      const arena = this.arena;
      const uniforms = this.arenaCPU.slice(0, this.arenaUsed);
      const before = () => {
        if (arena && uniforms.length) d.gpu.queue.writeBuffer(arena, 0, uniforms);
      };
      profiler.hold({ before, buffers: batch, what: scope });
    } else {
      d.scoped(scope, () => {
        if (this.arenaUsed) d.gpu.queue.writeBuffer(this.arena!, 0, this.arenaCPU.buffer, 0, this.arenaUsed);
        d.gpu.queue.submit(batch.map((b) => b.cb));
      });
      afterSubmit?.();
      pool.afterSubmit(); // per-dispatch profiling does this once the held batches are submitted
    }
    this.totalSubmits++;
    this.arenaUsed = 0;
    this.dispatches = 0;
    this.labels = [];
    this.touched.clear();
  }

  /** Submit and wait for the GPU; throws any WebGPU error reported meanwhile. */
  async sync(): Promise<void> {
    const n = this.dispatches;
    this.flush();
    await this.wait(n, () => device().gpu.queue.onSubmittedWorkDone());
    device().throwPending();
  }

  /**
   * Await `done` (a map or a work-done promise) for a batch of `n` dispatches, sleeping first for
   * most of the time such a batch took before. Dawn's Node binding polls while a promise is
   * pending, keeping a CPU core busy; on a CPU adapter (lavapipe) that core is one the GPU's own
   * worker threads need: sleeping first made a 1024³ matmul 1.65× faster on 2 cores. The estimate
   * (per power-of-two batch size) is the shortest of the last WAIT_HISTORY waits, so one slow batch
   * (a pipeline compiled, the process stopped for minutes) does not make the next ones sleep long;
   * a sleep that overshoots measures 0.8 of the estimate, so the estimate follows the work down.
   */
  async wait<T>(n: number, done: () => Promise<T>): Promise<T> {
    if (profiler.serial) await profiler.drain();
    const key = Math.ceil(Math.log2(n + 1));
    const history = this.waitMs.get(key) ?? [];
    const expect = history.length ? Math.min(...history) : 0;
    const t0 = performance.now();
    if (expect > 2) await new Promise((r) => setTimeout(r, 0.8 * expect));
    const out = await done();
    history.push(performance.now() - t0);
    if (history.length > WAIT_HISTORY) history.shift();
    this.waitMs.set(key, history);
    return out;
  }
  private waitMs = new Map<number, number[]>();
}

export const scheduler = new Scheduler();
profiler.flush = () => scheduler.flush();

/** Submit recorded work and wait until the GPU has finished it. */
export function sync(): Promise<void> {
  return scheduler.sync();
}

/** Submit recorded work without waiting (benchmarks: the GPU starts while the CPU records more). */
export function flush(): void {
  scheduler.flush();
}
