// Element types. Every dtype is 4 bytes, so a tensor's byte size is always 4 × its element count.
// f32 for values, i32 for labels (ignore index may be negative or 255), u32 for indices and bit masks.

export type DType = 'f32' | 'i32' | 'u32';

export type TypedArrayOf<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;

export function typedArray(dtype: DType, n: number | ArrayBuffer): Float32Array | Int32Array | Uint32Array {
  if (dtype === 'f32') return typeof n === 'number' ? new Float32Array(n) : new Float32Array(n);
  if (dtype === 'i32') return typeof n === 'number' ? new Int32Array(n) : new Int32Array(n);
  if (dtype === 'u32') return typeof n === 'number' ? new Uint32Array(n) : new Uint32Array(n);
  throw new Error(`unknown dtype '${dtype as string}': expected f32, i32 or u32`);
}

export function dtypeOfArray(a: ArrayLike<number>): DType {
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Uint32Array) return 'u32';
  return 'f32';
}
