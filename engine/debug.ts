// Debugging helpers: finding NaN/inf without reading whole tensors back.
import { mapUnary } from './ops/elementwise.ts';
import { sum } from './ops/reduce.ts';
import { noGrad } from './autograd.ts';
import { tidy, type Tensor } from './tensor.ts';

/**
 * Count the non-finite values of `t` on the GPU (by bit pattern: WGSL compilers may assume no NaN,
 * so `x != x` is not reliable) and throw an error naming `what` if there are any.
 */
export async function checkFinite(t: Tensor, what = t.name ?? 'tensor'): Promise<void> {
  if (t.dtype !== 'f32') return;
  const count = noGrad(() => tidy(() => sum(mapUnary('nonfinite', t, 'select(0.0, 1.0, (bitcast<u32>(a) & 0x7f800000u) == 0x7f800000u)'))));
  const n = await count.item();
  count.dispose();
  if (n > 0) throw new Error(`${what}: ${n} of ${t.size} values are NaN or infinite (shape [${t.shape.join(',')}])`);
}
