// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors), readable by
// PyTorch, JAX and friends. Browser-safe: no Node imports (the file writer is checkpoint-node.ts).
//
// Layout: 8 bytes N (u64, little-endian) | N bytes of UTF-8 JSON header | the data buffer. The header
// maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end)}, offsets relative to the
// start of the data buffer; the optional "__metadata__" key holds a string → string map. Values are
// little-endian and row-major.
//
// The writer does what the reference (Rust/Python) writer does: tensors ordered by dtype alignment,
// descending, then by name (byte order); compact JSON with "__metadata__" first; the header padded
// with spaces to a multiple of 8 bytes so the data starts aligned. The reader accepts any order, and
// checks everything a hostile or damaged file could get wrong before touching the data: the header
// length, UTF-8, JSON, dtypes, shapes, offsets inside the buffer, no overlaps and no holes, and that the
// tensors cover the data buffer exactly (the reference reader's rules).

import { matchByName, problemsError } from './named.ts';
import { assignData, shapeStr, type Tensor } from './tensor.ts';
import type { DType } from './dtype.ts';

type TypedArray = Float32Array | Int32Array | Uint32Array;

export interface TensorData {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

/** Our dtypes and their safetensors names, in the reference writer's order (descending alignment rank). */
const NAMES: Record<DType, string> = { f32: 'F32', u32: 'U32', i32: 'I32' };
const RANK: Record<DType, number> = { f32: 2, u32: 1, i32: 0 };
const FROM_NAME = new Map(Object.entries(NAMES).map(([d, n]) => [n, d as DType]));
const ARRAY = { f32: Float32Array, i32: Int32Array, u32: Uint32Array } as const;
const MAX_HEADER = 100_000_000; // the reference reader's limit
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

function hostCheck(what: string): void {
  if (!LITTLE_ENDIAN) throw new Error(`${what}: safetensors data is little-endian and this host is big-endian`);
}

function utf8Compare(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

function elements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ---- encode -----------------------------------------------------------------------------------------

/** Serialise tensors (and optional string metadata) to safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, TensorData> | Map<string, TensorData>, metadata?: Record<string, string>): Uint8Array {
  const op = 'encodeSafetensors';
  hostCheck(op);
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new Error(`${op}: '__metadata__' is reserved and cannot name a tensor`);
    if (!(t.dtype in NAMES)) throw new Error(`${op}: tensor '${name}': unknown dtype '${t.dtype}' (expected f32, i32 or u32)`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`${op}: tensor '${name}': invalid shape ${shapeStr(t.shape)}`);
    if (!(t.data instanceof ARRAY[t.dtype])) throw new Error(`${op}: tensor '${name}': dtype ${t.dtype} needs a ${ARRAY[t.dtype].name}, got ${t.data?.constructor?.name}`);
    if (t.data.length !== elements(t.shape)) throw new Error(`${op}: tensor '${name}': ${t.data.length} values for shape ${shapeStr(t.shape)}`);
  }
  entries.sort(([na, a], [nb, b]) => RANK[b.dtype] - RANK[a.dtype] || utf8Compare(na, nb));

  // The JSON is assembled by hand: JSON.stringify of an object would move integer-like names first.
  const parts: string[] = [];
  if (metadata) {
    const kv = Object.entries(metadata).map(([k, v]) => {
      if (typeof v !== 'string') throw new Error(`${op}: metadata '${k}' must be a string, got ${typeof v}`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"__metadata__":{${kv.join(',')}}`);
  }
  let offset = 0;
  for (const [name, t] of entries) {
    const end = offset + t.data.byteLength;
    parts.push(`${JSON.stringify(name)}:{"dtype":"${NAMES[t.dtype]}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let at = 8 + n;
  for (const [, t] of entries) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

// ---- decode -----------------------------------------------------------------------------------------

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parse safetensors bytes, validating the whole file; errors name `source` (e.g. the file path) and
 * the problem. Returns copies of the tensor values (aligned, independent of `bytes`).
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'checkpoint'): { tensors: Record<string, TensorData>; metadata: Record<string, string> } {
  hostCheck(source);
  const fail = (what: string): never => {
    throw new Error(`${source}: not a valid safetensors file: ${what}`);
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, fewer than the 8-byte header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail(`header length ${n64} bytes is over the ${MAX_HEADER}-byte limit (truncated or not a safetensors file)`);
  const n = Number(n64);
  if (8 + n > bytes.length) fail(`header length ${n} bytes runs past the end of the file (${bytes.length} bytes): truncated`);
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail('the header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(`the header does not start with '{' (starts with ${JSON.stringify(text.slice(0, 16))})`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('the header is not a JSON object');
  const dataLength = bytes.length - 8 - n;

  const metadata: Record<string, string> = Object.create(null);
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(info as object)) {
        if (typeof v !== 'string') fail(`__metadata__ '${k}' is not a string (${JSON.stringify(v)})`);
        metadata[k] = v as string;
      }
      continue;
    }
    const t = `tensor '${name}'`;
    if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(`${t}: its entry is not an object`);
    const { dtype, shape, data_offsets: offs } = info as Record<string, unknown>;
    const dt = typeof dtype === 'string' ? FROM_NAME.get(dtype) : undefined;
    if (!dt) fail(`${t}: dtype ${JSON.stringify(dtype)} is not one this engine reads (F32, I32, U32)`);
    const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`${t}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isCount) || offs[0] > offs[1]) {
      fail(`${t}: data_offsets ${JSON.stringify(offs)} is not [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = offs as [number, number];
    const sh = shape as number[];
    if (end > dataLength) fail(`${t}: data_offsets [${begin}, ${end}] run past the end of the data buffer (${dataLength} bytes): truncated`);
    if (elements(sh) * 4 !== end - begin) fail(`${t}: shape ${shapeStr(sh)} × 4 bytes = ${elements(sh) * 4} bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    entries.push({ name, dtype: dt!, shape: sh, begin, end });
  }

  // The tensors must tile the data buffer: sorted by offset, each starts where the previous ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev: Entry | undefined;
  for (const e of sorted) {
    if (e.begin > at) fail(`bytes [${at}, ${e.begin}) of the data buffer belong to no tensor`);
    if (e.begin < at) fail(`tensor '${e.name}' [${e.begin}, ${e.end}) overlaps tensor '${prev!.name}' [${prev!.begin}, ${prev!.end})`);
    at = e.end;
    prev = e;
  }
  if (at !== dataLength) fail(`the data buffer has ${dataLength} bytes but the tensors cover only ${at}`);

  const tensors: Record<string, TensorData> = Object.create(null);
  const start = 8 + n;
  for (const e of entries) {
    // A fresh, aligned buffer (not bytes.slice: on a Node Buffer that is a view into shared memory).
    const copy = new Uint8Array(bytes.subarray(start + e.begin, start + e.end));
    tensors[e.name] = { dtype: e.dtype, shape: e.shape, data: new ARRAY[e.dtype](copy.buffer) };
  }
  return { tensors, metadata };
}

// ---- parameters on the GPU --------------------------------------------------------------------------------

type Named = Map<string, Tensor> | Record<string, Tensor>;

const entriesOf = (named: Named): [string, Tensor][] => (named instanceof Map ? [...named] : Object.entries(named));

/** Read the tensors back from the GPU and encode them as safetensors bytes. */
export async function saveParams(named: Named, metadata?: Record<string, string>): Promise<Uint8Array> {
  const entries = entriesOf(named);
  const values = await Promise.all(entries.map(([, t]) => t.data()));
  const tensors = new Map<string, TensorData>(entries.map(([name, t], i) => [name, { dtype: t.dtype, shape: [...t.shape], data: values[i]! }]));
  return encodeSafetensors(tensors, metadata);
}

/**
 * Upload a safetensors file into existing tensors, matched by name. Every mismatch (missing from the
 * file, unexpected in the file, wrong shape or dtype) is listed in one error before anything is
 * written. Returns the file's metadata.
 */
export function loadParams(named: Named, bytes: Uint8Array, source = 'checkpoint'): Record<string, string> {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const { pairs, problems } = matchByName(entriesOf(named), tensors, { strict: true });
  if (problems.length) throw problemsError(`${source}: the checkpoint does not match the model`, problems);
  for (const [t, f] of pairs) assignData(t, f.data);
  return metadata;
}
