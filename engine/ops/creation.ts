// Tensors made on the GPU without an upload: constants.
import fillWgsl from '../../shaders/fill.wgsl?raw';
import type { DType } from '../dtype.ts';
import { dispatch, kernel } from '../kernel.ts';
import { Tensor, shapeStr, type Shape } from '../tensor.ts';

const bits = new DataView(new ArrayBuffer(4));

/** A tensor of `shape` with every element `value`. */
export function fill(shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
  const out = Tensor.empty(shape, dtype, 'fill');
  if (dtype === 'f32') bits.setFloat32(0, value, true);
  else if (dtype === 'i32') bits.setInt32(0, value, true);
  else bits.setUint32(0, value, true);
  dispatch(kernel('fill', fillWgsl), [{ dtype: 'u32', size: out.size, buffer: () => out.buffer() }], { n: out.size, bits: bits.getUint32(0, true) }, out.size, `fill ${shapeStr(shape)}`);
  return out;
}

export const zeros = (shape: Shape, dtype: DType = 'f32'): Tensor => fill(shape, 0, dtype);
export const ones = (shape: Shape, dtype: DType = 'f32'): Tensor => fill(shape, 1, dtype);
export const zerosLike = (t: Tensor): Tensor => fill(t.shape, 0, t.dtype);
export const onesLike = (t: Tensor): Tensor => fill(t.shape, 1, t.dtype);
