// Tensor: a shape, a dtype and a reference to GPU storage. Always contiguous, row-major.
//
// Storage is reference-counted so that `reshape` and `detach` can share a buffer without copying;
// the buffer goes back to the pool (memory.ts) when the last tensor using it is disposed.
//
// Ownership: every tensor is created inside the innermost `tidy` scope (if any). When the scope's
// function returns, every tensor it created is disposed except the ones it returns (they move to the
// enclosing scope) and the ones passed to `keep` (parameters, optimiser state, gradients of
// parameters). A training step wrapped in `tidy` therefore leaves GPU memory exactly as it found it.
//
// Autograd fields (`requiresGrad`, `grad`, `node`) are filled in by autograd.ts.

import { device } from './device.ts';
import { dtypeOfArray, typedArray, type DType } from './dtype.ts';
import { pool } from './memory.ts';
import { scheduler } from './scheduler.ts';
import type { Node } from './autograd.ts';

export type Shape = readonly number[];

class Storage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer) {}
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: Shape, what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${what}: invalid shape [${shape.join(', ')}]: dimensions must be non-negative integers`);
  }
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

// ---- scopes ---------------------------------------------------------------------------------------

const scopes: Set<Tensor>[] = [];

/** Run `fn`; dispose every tensor it created except those it returns (in any nesting of arrays/objects) and kept ones. */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('tidy(fn): fn must be synchronous (await outside the scope)');
  } finally {
    scopes.pop();
  }
  const returned = new Set<Tensor>();
  collectTensors(result, returned);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (returned.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

function collectTensors(v: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 4 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) for (const x of v) collectTensors(x, out, depth + 1);
  else if (v instanceof Map) for (const x of v.values()) collectTensors(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collectTensors(x, out, depth + 1);
}

/** Take `t` out of every scope: it lives until disposed by hand. Returns `t`. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

// ---- the tensor ------------------------------------------------------------------------------------

export class Tensor {
  readonly shape: Shape;
  readonly dtype: DType;
  readonly size: number;
  private storage: Storage | undefined;
  /** Leaf tensors with requiresGrad receive `.grad` from backward(). */
  requiresGrad = false;
  grad: Tensor | undefined;
  /** How this tensor was computed (set by autograd when an input requires grad). */
  node: Node | undefined;
  /** Optional name (parameters), used in error messages and checkpoints. */
  name: string | undefined;

  private constructor(shape: Shape, dtype: DType, storage: Storage) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    this.storage = storage;
    scopes[scopes.length - 1]?.add(this);
  }

  /** A new tensor with uninitialised storage from the pool (kernels write it). */
  static empty(shape: Shape, dtype: DType = 'f32', label = 'tensor'): Tensor {
    checkShape(shape, label);
    device().checkAlive(label);
    const buf = pool.acquire(sizeOf(shape) * 4, label);
    return new Tensor(shape, dtype, new Storage(buf));
  }

  /** A tensor sharing this one's storage, with another shape of the same size (no copy). */
  view(shape: Shape): Tensor {
    const s = this.live('view');
    if (sizeOf(shape) !== this.size) throw new Error(`view: cannot view ${shapeStr(this.shape)} as ${shapeStr(shape)} (sizes ${this.size} and ${sizeOf(shape)})`);
    s.refs++;
    return new Tensor(shape, this.dtype, s);
  }

  private live(what: string): Storage {
    if (!this.storage) throw new Error(`${what}: tensor${this.name ? ` '${this.name}'` : ''} ${shapeStr(this.shape)} was used after dispose()`);
    return this.storage;
  }

  get disposed(): boolean {
    return this.storage === undefined;
  }

  buffer(): GPUBuffer {
    return this.live('buffer').buffer;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Release the GPU storage (the buffer returns to the pool when no view uses it). Idempotent. */
  dispose(): void {
    const s = this.storage;
    if (!s) return;
    this.storage = undefined;
    this.node = undefined;
    if (--s.refs === 0) pool.release(s.buffer);
    for (const sc of scopes) sc.delete(this);
  }

  /** Copy the values back to the CPU. Submits pending work, waits, and throws any WebGPU error. */
  async data(): Promise<Float32Array | Int32Array | Uint32Array> {
    const s = this.live('data');
    const bytes = Math.max(4, this.size * 4);
    const d = device();
    const staging = d.gpu.createBuffer({ size: bytes, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */, label: 'read-back' });
    scheduler.copy(s.buffer, 0, staging, 0, bytes);
    const pending = scheduler.dispatches;
    scheduler.flush();
    try {
      await scheduler.wait(pending, () => staging.mapAsync(1 /* GPUMapMode.READ */));
      const out = typedArray(this.dtype, staging.getMappedRange().slice(0, this.size * 4));
      staging.unmap();
      d.throwPending();
      return out;
    } catch (e) {
      d.throwPending();
      throw e;
    } finally {
      staging.destroy();
    }
  }

  /** The value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item(): tensor ${shapeStr(this.shape)} has ${this.size} elements, expected 1`);
    return (await this.data())[0]!;
  }

  toString(): string {
    return `Tensor(${shapeStr(this.shape)}, ${this.dtype}${this.name ? `, '${this.name}'` : ''}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

/** Upload values. `data` may be a typed array (its type sets the dtype unless given) or a number array. */
export function tensor(data: ArrayLike<number>, shape?: Shape, dtype?: DType): Tensor {
  const dt = dtype ?? dtypeOfArray(data);
  const shp = shape ?? [data.length];
  checkShape(shp, 'tensor');
  if (sizeOf(shp) !== data.length) throw new Error(`tensor: ${data.length} values do not fill shape ${shapeStr(shp)} (${sizeOf(shp)} elements)`);
  const arr = typedArray(dt, data.length);
  arr.set(data);
  if (dt !== 'f32') {
    for (let i = 0; i < data.length; i++) {
      if (arr[i] !== data[i]) throw new Error(`tensor: value ${data[i]} at index ${i} is not representable as ${dt}`);
    }
  }
  const t = Tensor.empty(shp, dt, 'tensor');
  if (data.length) scheduler.write(t.buffer(), 0, arr);
  return t;
}

/** Overwrite a tensor's values from the CPU (same size and dtype). Used for parameters and data loading. */
export function assignData(t: Tensor, data: ArrayLike<number>): void {
  if (data.length !== t.size) throw new Error(`assignData: ${data.length} values for ${t} (${t.size} elements)`);
  const arr = typedArray(t.dtype, data.length);
  arr.set(data);
  if (data.length) scheduler.write(t.buffer(), 0, arr);
}
