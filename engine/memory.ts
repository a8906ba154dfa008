// GPU memory: a size-bucketed pool of storage buffers.
//
// Creating and destroying GPUBuffers every op is slow and fragments memory, so a released buffer goes
// back to a free list for its size class and the next allocation of that class reuses it. Reuse is safe
// without waiting for the GPU: all our work runs on one queue, in order, so a later dispatch that
// overwrites a reused buffer runs after every earlier one that read it. (Uploads are the exception,
// handled in scheduler.ts: queue.writeBuffer jumps ahead of commands still being encoded.)
//
// Size classes: 256 bytes, then four classes per power of two (1, 1.25, 1.5, 1.75 × 2^k), so at most
// 25% is wasted. The pool keeps at most `maxPooledBytes`; past that, released buffers are destroyed.
//
// An allocation takes the free buffer of its class with the lowest id, not the last one released:
// then which buffers a step gets depends only on which are free, not on the order earlier steps
// released them in, so a repeated training step binds the very same buffers every time and
// kernel.ts can reuse its bind groups (last-released-first permuted a ViT step's backward buffers
// from step to step: 87 of its 331 bind groups were new each step).

import { device } from './device.ts';

export const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */

const ids = new WeakMap<GPUBuffer, number>();
let nextId = 0;

/** A number naming `buf` for the life of the process (for sorting and cache keys). */
export function bufferId(buf: GPUBuffer): number {
  let id = ids.get(buf);
  if (id === undefined) ids.set(buf, (id = nextId++));
  return id;
}

export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

export interface MemoryStats {
  /** Buffers handed out and not yet released. */
  liveBuffers: number;
  liveBytes: number;
  /** Buffers waiting in the free lists. */
  pooledBuffers: number;
  pooledBytes: number;
  /** GPUBuffers ever created (grows only when the pool misses). */
  created: number;
  /** The most bytes in live buffers, and in live + pooled ones (what the driver holds), since the last resetPeak(). */
  peakLiveBytes: number;
  peakHeldBytes: number;
}

class BufferPool {
  /** Free buffers per size class, highest id first (acquire pops the lowest). */
  private free = new Map<number, GPUBuffer[]>();
  private live = new Set<GPUBuffer>();
  liveBytes = 0;
  pooledBytes = 0;
  pooledBuffers = 0;
  created = 0;
  peakLiveBytes = 0;
  peakHeldBytes = 0;
  maxPooledBytes = 2 * 1024 ** 3;
  /** Buffers to destroy once the commands that may use them have been submitted. */
  private doomed: GPUBuffer[] = [];

  acquire(bytes: number, label: string): GPUBuffer {
    const size = sizeClass(Math.max(bytes, 4));
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.pooledBytes -= size;
      this.pooledBuffers--;
    } else {
      const d = device();
      const max = d.info.limits.maxBufferSize ?? Infinity;
      if (size > max) throw new Error(`${label}: needs a ${bytes}-byte buffer, over this adapter's maxBufferSize (${max})`);
      buf = d.scoped(`${label}: allocating ${bytes} bytes`, () => d.gpu.createBuffer({ size, usage: STORAGE_USAGE, label }));
      this.created++;
    }
    this.live.add(buf);
    this.liveBytes += size;
    this.peakLiveBytes = Math.max(this.peakLiveBytes, this.liveBytes);
    this.peakHeldBytes = Math.max(this.peakHeldBytes, this.liveBytes + this.pooledBytes);
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (!this.live.delete(buf)) throw new Error('internal: buffer released twice');
    const size = buf.size;
    this.liveBytes -= size;
    if (this.pooledBytes + size > this.maxPooledBytes) {
      this.doomed.push(buf);
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    const id = bufferId(buf);
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (bufferId(list[mid]!) > id) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buf);
    this.pooledBytes += size;
    this.pooledBuffers++;
  }

  /** Called by the scheduler right after a submit: destroying earlier would invalidate the command buffer. */
  afterSubmit(): void {
    for (const b of this.doomed) b.destroy();
    this.doomed = [];
  }

  /** Give every pooled buffer back to the driver (e.g. between benchmark phases). */
  trim(): void {
    for (const list of this.free.values()) this.doomed.push(...list);
    this.free.clear();
    this.pooledBytes = 0;
    this.pooledBuffers = 0;
  }

  stats(): MemoryStats {
    return {
      liveBuffers: this.live.size,
      liveBytes: this.liveBytes,
      pooledBuffers: this.pooledBuffers,
      pooledBytes: this.pooledBytes,
      created: this.created,
      peakLiveBytes: this.peakLiveBytes,
      peakHeldBytes: this.peakHeldBytes,
    };
  }
}

export const pool = new BufferPool();

export function memoryStats(): MemoryStats {
  return pool.stats();
}

/** Start measuring the peaks of memoryStats() from what is in use now. */
export function resetPeak(): void {
  pool.peakLiveBytes = pool.liveBytes;
  pool.peakHeldBytes = pool.liveBytes + pool.pooledBytes;
}
