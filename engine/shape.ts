// Shape arithmetic shared by the ops: broadcasting, strides, axis normalisation.
import { shapeStr, type Shape } from './tensor.ts';

export const MAX_RANK = 8;

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** NumPy broadcasting of two shapes; the error names both. */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const r = Math.max(a.length, b.length);
  const out = new Array<number>(r);
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      throw new Error(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} cannot be broadcast together (dimension ${i - r}: ${x} vs ${y})`);
    }
    out[i] = x === 1 ? y : x;
  }
  return out;
}

/** Strides to read an input of shape `inp` as if it had shape `out` (0 on broadcast dims). */
export function broadcastStrides(inp: Shape, out: Shape): number[] {
  const s = stridesOf(inp);
  const off = out.length - inp.length;
  return out.map((_, d) => (d < off || inp[d - off] === 1 ? 0 : s[d - off]!));
}

/** Pad a per-dimension list to MAX_RANK entries for a `array<vec4<u32>, 2>` uniform. */
export function pad8(v: readonly number[], what = 'shape'): number[] {
  if (v.length > MAX_RANK) throw new Error(`${what}: rank ${v.length} is over the engine's maximum of ${MAX_RANK}`);
  const out = [...v];
  while (out.length < MAX_RANK) out.push(1);
  return out;
}

/** Normalise `axes` (negative counts from the end; undefined = all) into sorted unique non-negative axes. */
export function normAxes(axes: number | readonly number[] | undefined, rank: number, op: string): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = new Set<number>();
  for (const a of list) {
    if (!Number.isInteger(a) || a < -rank || a >= rank) throw new Error(`${op}: axis ${a} is out of range for rank ${rank}`);
    out.add(a < 0 ? a + rank : a);
  }
  return [...out].sort((x, y) => x - y);
}

export function normAxis(axis: number, rank: number, op: string): number {
  return normAxes(axis, rank, op)[0]!;
}

/**
 * Simplify an iteration over `shape` that reads/writes through several stride lists: drop size-1
 * dimensions and merge neighbours that every list walks contiguously (s[d-1] = s[d]·n[d]).
 * Broadcasting bias over [B,T,C] becomes a 2-D walk, a same-shape elementwise op a 1-D one.
 */
export function collapseDims(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, j) => outStrides[j]![last] === s[d]! * n)) {
      outShape[last]! *= n;
      strides.forEach((s, j) => (outStrides[j]![last] = s[d]!));
    } else {
      outShape.push(n);
      strides.forEach((s, j) => outStrides[j]!.push(s[d]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * WGSL statements that turn flat index `idx` into offsets `off_<name>` = Σ k_d·<strides>[d] for each
 * stride uniform, for a fixed rank. The rank is baked in and every vector component is named, because
 * lavapipe made dynamic indexing into uniform vectors (shape[d / 4][d % 4]) ~10× slower.
 */
export function offsetCode(rank: number, idx: string, shapeVar: string, strideVars: Record<string, string>, type: 'u32' | 'i32' = 'u32'): string {
  const comp = (d: number) => `[${d >> 2}].${'xyzw'[d & 3]}`;
  const names = Object.keys(strideVars);
  const rem = `rem_${idx}`;
  const lines = [`var ${rem} = ${idx};`, ...names.map((n) => `var off_${n} = ${type}(0);`)];
  for (let d = rank - 1; d >= 0; d--) {
    lines.push(`{ let n_ = ${shapeVar}${comp(d)}; let k_ = ${type}(${rem} % n_); ${rem} = ${rem} / n_;`);
    for (const n of names) lines.push(`  off_${n} += k_ * ${strideVars[n]}${comp(d)};`);
    lines.push('}');
  }
  return lines.join('\n  ');
}
