// Kernels: WGSL text (from shaders/, with {{NAME}} placeholders filled in) → a cached compute pipeline
// whose bindings are read from the shader itself by wgsl_reflect.
//
// Conventions every shader in shaders/ follows:
// - binding 0 of group 0 is `var<uniform> p: Params` (omit it if the kernel takes no parameters);
// - the storage bindings follow, in the order the caller lists its tensors;
// - the entry point is `main`; 1-D kernels find their flat index as `flatIndex(gid, nwg, WG)`, so that
//   more than 65535 workgroups can be spread over two dimensions (`grid1d`; the function is appended
//   to every shader that calls it, so the folding is written once, here).
//
// Reflection lets dispatch check, before WebGPU does, what a caller binds: the number of tensors, their
// element types, read-only vs writable, writable aliasing, and the names and types of every uniform
// parameter, which are then packed at the offsets WGSL's layout rules give. A mismatch is a JS error
// naming the kernel and the binding, not a validation message at submit time.

// The package's "main" is a CommonJS file under "type": "module", which Node refuses; its ES module build works everywhere.
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { device } from './device.ts';
import { bufferId } from './memory.ts';
import { profiler } from './profiler.ts';
import { scheduler } from './scheduler.ts';
import type { DType } from './dtype.ts';

interface Member {
  name: string;
  offset: number;
  scalar: 'f32' | 'i32' | 'u32';
  count: number; // scalars in total, laid out densely (vec4 → 4, array<vec4<u32>,2> → 8)
}

interface StorageBinding {
  name: string;
  binding: number;
  writable: boolean;
  elem: string; // 'f32' | 'i32' | 'u32' (vecN of these counts as its scalar)
}

export interface Kernel {
  /** Unique per compiled kernel (names repeat across variants). */
  id: number;
  name: string;
  code: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  workgroupSize: [number, number, number];
  params: { binding: number; size: number; members: Member[] } | undefined;
  storage: StorageBinding[];
}

/** What a dispatch binds: a tensor or anything with a buffer, a dtype and a byte size. */
export interface Bindable {
  readonly dtype: DType;
  readonly size: number;
  buffer(): GPUBuffer;
}

/** Compiled kernels by their text with placeholders filled (before FLAT_INDEX is appended). */
const cache = new Map<string, Kernel>();
let compiled = { count: 0, ms: 0 };

/** Pipelines compiled so far in this process, and the milliseconds spent (reflection + compilation). */
export function compiledSoFar(): { count: number; ms: number } {
  return { ...compiled };
}

function scalarOf(t: any): Member['scalar'] {
  const n: string = t.format?.format?.name ?? t.format?.name ?? t.name;
  if (n === 'f32' || n === 'i32' || n === 'u32') return n;
  throw new Error(`unsupported uniform type ${t.name}`);
}

function memberOf(m: any): Member {
  const t = m.type;
  if (t.name === 'array') {
    const inner = t.format;
    // Uniform arrays need a 16-byte element stride, so we only support arrays of vec4 (packed densely).
    if (inner.name !== 'vec4') throw new Error(`uniform member ${m.name}: use array<vec4<T>, N> in uniforms`);
    return { name: m.name, offset: m.offset, scalar: scalarOf(t), count: t.count * 4 };
  }
  if (t.name.startsWith('vec')) return { name: m.name, offset: m.offset, scalar: scalarOf(t), count: Number(t.name[3]) };
  return { name: m.name, offset: m.offset, scalar: scalarOf(t), count: 1 };
}

/** Fill `{{KEY}}` placeholders. Every placeholder must be given, every given key must be used. */
export function fillPlaceholders(name: string, source: string, defines: Record<string, string | number>): string {
  const used = new Set<string>();
  const code = source.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    if (!(k in defines)) throw new Error(`kernel ${name}: placeholder {{${k}}} has no value`);
    used.add(k);
    return String(defines[k]);
  });
  for (const k of Object.keys(defines)) if (!used.has(k)) throw new Error(`kernel ${name}: define ${k} is not used by the shader`);
  return code;
}

/**
 * The flat index of an invocation of a 1-D grid that `grid1d` folded into x and y. Appended (after the
 * shader's own text, so its line numbers stay) to every shader that calls it.
 */
const FLAT_INDEX = `
fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 { return gid.x + gid.y * nwg.x * wg; }
`;

/** Compile (once, cached by the filled-in text) the kernel `name` from WGSL `source` with placeholders filled. */
export function kernel(name: string, source: string, defines: Record<string, string | number> = {}): Kernel {
  const filled = fillPlaceholders(name, source, defines);
  const hit = cache.get(filled);
  if (hit) return hit;
  // Only on a miss: ops call kernel() at every dispatch, and a hit should cost one lookup.
  const code = /\bflatIndex\(/.test(filled) ? filled + FLAT_INDEX : filled;
  const t0 = performance.now();
  const r = new WgslReflect(code);
  const entry = r.entry.compute.find((e: any) => e.name === 'main');
  if (!entry) throw new Error(`kernel ${name}: no @compute entry point named main`);
  const ws = entry.workgroupSize as unknown as number[] | undefined;
  const workgroupSize: [number, number, number] = [ws?.[0] ?? 1, ws?.[1] ?? 1, ws?.[2] ?? 1];
  let params: Kernel['params'];
  const entries: GPUBindGroupLayoutEntry[] = [];
  for (const u of r.uniforms) {
    if (u.group !== 0 || u.binding !== 0) throw new Error(`kernel ${name}: the uniform must be @group(0) @binding(0)`);
    params = { binding: 0, size: u.type.size, members: ((u.type as any).members ?? []).map(memberOf) };
    // A dynamic offset: the bind group then names only the arena buffer, not this dispatch's slot in
    // it, so one bind group serves every dispatch over the same tensors (see bindGroup).
    entries.push({ binding: 0, visibility: 4 /* COMPUTE */, buffer: { type: 'uniform', hasDynamicOffset: true } });
  }
  const storage: StorageBinding[] = r.storage
    .map((s: any) => ({
      name: s.name,
      binding: s.binding,
      writable: s.access === 'read_write',
      elem: (s.type.format?.format?.name ?? s.type.format?.name ?? s.type.name) as string,
    }))
    .sort((a, b) => a.binding - b.binding);
  for (const s of storage) entries.push({ binding: s.binding, visibility: 4, buffer: { type: s.writable ? 'storage' : 'read-only-storage' } });
  const d = device();
  const max = d.info.limits.maxStorageBuffersPerShaderStage ?? 8;
  if (storage.length > max) throw new Error(`kernel ${name}: ${storage.length} storage buffers, over this device's limit of ${max} per stage`);
  const { pipeline, layout } = d.scoped(`compiling kernel ${name}`, () => {
    const layout = d.gpu.createBindGroupLayout({ entries, label: name });
    const module = d.gpu.createShaderModule({ code, label: name });
    const pipeline = d.gpu.createComputePipeline({
      layout: d.gpu.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
      label: name,
    });
    return { pipeline, layout };
  });
  // Dawn compiles createComputePipeline synchronously, so this is reflection + compilation time.
  const ms = performance.now() - t0;
  compiled = { count: compiled.count + 1, ms: compiled.ms + ms };
  if (profiler.tracking) profiler.compiled(name, ms);
  const k: Kernel = { id: cache.size, name, code, pipeline, layout, workgroupSize, params, storage };
  cache.set(filled, k);
  return k;
}

/**
 * Workgroup counts for `threads` invocations of a 1-D kernel of `wg` lanes, folded into 2-D past the
 * 65535 limit. A 1-D shader declares `const WG = …u;`, `@workgroup_size(WG)` and finds its flat index as
 * `flatIndex(gid, nwg, WG)` (FLAT_INDEX); dispatch() given a thread count calls this with the reflected WG.
 */
export function grid1d(threads: number, wg: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(threads / wg));
  if (groups <= 65535) return [groups, 1, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y, 1];
}

function pack(k: Kernel, params: Record<string, number | readonly number[]>, view: DataView): void {
  const spec = k.params!;
  const seen = new Set<string>();
  for (const m of spec.members) {
    const v = params[m.name];
    if (v === undefined) throw new Error(`kernel ${k.name}: uniform parameter '${m.name}' was not given`);
    seen.add(m.name);
    const vals = typeof v === 'number' ? [v] : v;
    if (vals.length > m.count) throw new Error(`kernel ${k.name}: parameter '${m.name}' takes ${m.count} value(s), got ${vals.length}`);
    for (let j = 0; j < vals.length; j++) {
      const at = m.offset + j * 4;
      const x = vals[j]!;
      if (m.scalar === 'f32') view.setFloat32(at, x, true);
      else if (m.scalar === 'i32') view.setInt32(at, x, true);
      else {
        if (x < 0 || !Number.isInteger(x)) throw new Error(`kernel ${k.name}: parameter '${m.name}' is u32, got ${x}`);
        view.setUint32(at, x, true);
      }
    }
  }
  for (const key of Object.keys(params)) if (!seen.has(key)) throw new Error(`kernel ${k.name}: unknown uniform parameter '${key}'`);
}

/**
 * Record one dispatch of `k` over `tensors` (in the shader's storage binding order) with uniform
 * `params`. `label` names the op and its shapes for error messages.
 */
let largest = { bytes: 0, what: '' };
/**
 * The most bytes an op that can split its work gives one intermediate tensor: the device's binding
 * limit (WebGPU's default is 128 MiB), and at most 64 MiB so that such intermediates stay a small part
 * of memory. Attention without a backward pass computes its weights in blocks of query rows within it;
 * conv2d builds its im2col matrix in bands of output rows within it.
 */
export function bindingBudget(): number {
  return Math.min(device().info.limits.maxStorageBufferBindingSize ?? Infinity, 64 * 2 ** 20, budgetOverride ?? Infinity);
}

let budgetOverride: number | undefined;
/** Tests: a smaller budget than the device's (undefined restores it), to exercise the split paths on small inputs. */
export function setBindingBudget(bytes: number | undefined): void {
  budgetOverride = bytes;
}

/**
 * The largest storage binding dispatched since the last call with reset (bytes, and which op and
 * binding): what a browser's 128 MiB default maxStorageBufferBindingSize must hold.
 */
export function largestBinding(reset = false): { bytes: number; what: string } {
  const out = largest;
  if (reset) largest = { bytes: 0, what: '' };
  return out;
}

/**
 * Run kernel `k` over `tensors` (its storage bindings, in binding order) with uniform `params`. `grid`
 * is the workgroup counts [x, y, z], or for a 1-D kernel the number of threads, from which the counts
 * follow by the kernel's own workgroup size (grid1d).
 */
export function dispatch(
  k: Kernel,
  tensors: readonly Bindable[],
  params: Record<string, number | readonly number[]> | undefined,
  grid: [number, number, number] | number,
  label: string,
): void {
  const d = device();
  d.checkAlive(label);
  if (typeof grid === 'number' && (k.workgroupSize[1] !== 1 || k.workgroupSize[2] !== 1)) {
    throw new Error(`${label}: kernel ${k.name} has a ${k.workgroupSize.join('×')} workgroup; give workgroup counts, not a thread count`);
  }
  const workgroups = typeof grid === 'number' ? grid1d(grid, k.workgroupSize[0]) : grid;
  if (tensors.length !== k.storage.length) {
    throw new Error(`${label}: kernel ${k.name} binds ${k.storage.length} storage buffers (${k.storage.map((s) => s.name).join(', ')}), got ${tensors.length}`);
  }
  const maxBinding = d.info.limits.maxStorageBufferBindingSize ?? Infinity;
  const entries: GPUBindGroupEntry[] = [];
  const buffers: GPUBuffer[] = [];
  const writable = new Set<GPUBuffer>();
  let bound = 0;
  for (let j = 0; j < tensors.length; j++) {
    const t = tensors[j]!;
    const s = k.storage[j]!;
    if (s.elem !== t.dtype) throw new Error(`${label}: kernel ${k.name} binding '${s.name}' holds ${s.elem}, got a ${t.dtype} tensor`);
    const buf = t.buffer();
    const bytes = Math.max(4, t.size * 4);
    if (bytes > maxBinding) throw new Error(`${label}: binding '${s.name}' is ${bytes} bytes, over this device's maxStorageBufferBindingSize (${maxBinding})`);
    if (bytes > largest.bytes) largest = { bytes, what: `${label}: '${s.name}'` };
    if (s.writable) writable.add(buf);
    bound += bytes;
    buffers.push(buf);
    entries.push({ binding: s.binding, resource: { buffer: buf, offset: 0, size: bytes } });
  }
  for (let j = 0; j < buffers.length; j++) {
    const b = buffers[j]!;
    if (writable.has(b) && buffers.indexOf(b) !== j) {
      throw new Error(`${label}: kernel ${k.name} binds one buffer twice with write access ('${k.storage[j]!.name}'); WebGPU forbids writable aliasing`);
    }
  }
  const maxWG = d.info.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  if (workgroups.some((w) => w > maxWG || w < 0 || !Number.isInteger(w))) {
    throw new Error(`${label}: workgroup counts ${workgroups.join('x')} outside 0..${maxWG}`);
  }
  let offsets: number[] = [];
  if (k.params) {
    const slot = scheduler.uniformSlot(k.params.size);
    pack(k, params ?? {}, slot.view);
    entries.push({ binding: 0, resource: { buffer: slot.buffer, offset: 0, size: k.params.size } });
    offsets = [slot.offset];
  } else if (params && Object.keys(params).length) {
    throw new Error(`${label}: kernel ${k.name} takes no uniform parameters`);
  }
  if (workgroups[0] * workgroups[1] * workgroups[2] === 0) return;
  scheduler.dispatch(k.pipeline, bindGroup(k, entries), offsets, workgroups, label, buffers, k.name, bound);
}

// Bind groups, reused: a training step repeats the same dispatches over the same pooled buffers, so
// most bind groups of a step were made in the one before (memory.ts hands out buffers so that it
// does). Keyed by kernel and every bound buffer and size; least recently used ones are dropped past
// BIND_GROUPS (those of destroyed buffers age out).
const BIND_GROUPS = 8192;
const bindGroups = new Map<string, GPUBindGroup>();
export const bindGroupStats = { made: 0, reused: 0 };

function bindGroup(k: Kernel, entries: GPUBindGroupEntry[]): GPUBindGroup {
  let key = String(k.id);
  for (const e of entries) {
    const r = e.resource as GPUBufferBinding;
    key += `|${bufferId(r.buffer)}:${r.size}`;
  }
  const hit = bindGroups.get(key);
  if (hit) {
    bindGroups.delete(key); // re-insert: Map order is the recency order
    bindGroups.set(key, hit);
    bindGroupStats.reused++;
    return hit;
  }
  const bg = device().gpu.createBindGroup({ layout: k.layout, entries, label: k.name });
  bindGroups.set(key, bg);
  bindGroupStats.made++;
  if (profiler.enabled) profiler.counts.bindGroupsMade++;
  if (bindGroups.size > BIND_GROUPS) bindGroups.delete(bindGroups.keys().next().value!);
  return bg;
}
