// Reductions over any set of axes: sum, mean, max, argmax.
//
// One kernel (shaders/reduce.wgsl) serves all of them: each invocation owns one output element and
// walks the reduced elements through two stride tables (kept axes, reduced axes), so no transpose is
// needed whatever the axes. Sums use Kahan compensation, so a sum over many elements keeps f32 accuracy.

import reduceWgsl from '../../shaders/reduce.wgsl?raw';
import { record } from '../autograd.ts';
import { dispatch, kernel } from '../kernel.ts';
import { collapseDims, normAxes, normAxis, offsetCode, pad8, stridesOf } from '../shape.ts';
import { Tensor, shapeStr } from '../tensor.ts';
import { mapBinary, mapUnary } from './elementwise.ts';
import { broadcastTo } from './movement.ts';

type Axes = number | readonly number[] | undefined;

const KINDS = {
  sum: { INIT: '0.0', STEP: 'let yk = v - comp; let tk = acc + yk; comp = (tk - acc) - yk; acc = tk;', RESULT: 'acc', O_T: 'f32' },
  // max/argmax start from the first reduced element (WGSL cannot spell -inf as a constant).
  max: { INIT: 'A[base]', STEP: 'acc = max(acc, v);', RESULT: 'acc', O_T: 'f32' },
  argmax: { INIT: 'A[base]', STEP: 'if (v > acc) { acc = v; best = j; }', RESULT: 'i32(best)', O_T: 'i32' },
} as const;

function reduceRaw(kind: keyof typeof KINDS, x: Tensor, axes: number[], keepdims: boolean): Tensor {
  if (x.dtype !== 'f32') throw new Error(`${kind}: expected an f32 tensor, got ${x}`);
  const strides = stridesOf(x.shape);
  const kept = x.shape.map((_, d) => d).filter((d) => !axes.includes(d));
  const outShape = keepdims ? x.shape.map((n, d) => (axes.includes(d) ? 1 : n)) : kept.map((d) => x.shape[d]!);
  const k = KINDS[kind];
  const out = Tensor.empty(outShape, k.O_T, kind);
  const r = axes.reduce((acc, d) => acc * x.shape[d]!, 1);
  if (r === 0 && kind !== 'sum') throw new Error(`${kind}: cannot reduce ${shapeStr(x.shape)} over an empty axis`);
  const src = kind === 'sum' ? reduceWgsl.replace('var best = 0u;', 'var best = 0u;\n  var comp = 0.0;') : reduceWgsl;
  const kc = collapseDims(kept.map((d) => x.shape[d]!), [kept.map((d) => strides[d]!)]);
  const rc = collapseDims(axes.map((d) => x.shape[d]!), [axes.map((d) => strides[d]!)]);
  const kern = kernel(`reduce_${kind}`, src, {
    O_T: k.O_T,
    INIT: k.INIT,
    STEP: k.STEP,
    RESULT: k.RESULT,
    KEPT: offsetCode(kc.shape.length, 'i', 'p.kshape', { k: 'p.ks' }),
    REDUCED: offsetCode(rc.shape.length, 'j', 'p.rshape', { r: 'p.rs' }),
  });
  dispatch(
    kern,
    [x, out],
    { n: out.size, r, kshape: pad8(kc.shape), ks: pad8(kc.strides[0]!), rshape: pad8(rc.shape), rs: pad8(rc.strides[0]!) },
    out.size,
    `${kind} ${shapeStr(x.shape)} axes [${axes.join(',')}]`,
  );
  return out;
}

/** Shape of the reduced tensor with the reduced axes kept as size 1 (to broadcast gradients back). */
function keptShape(x: Tensor, axes: number[]): number[] {
  return x.shape.map((n, d) => (axes.includes(d) ? 1 : n));
}

/** Sum over `axes` (all when undefined). */
export function sum(x: Tensor, axes?: Axes, keepdims = false): Tensor {
  const ax = normAxes(axes, x.rank, 'sum');
  const y = reduceRaw('sum', x, ax, keepdims);
  const shape = x.shape;
  return record(y, 'sum', [x], (g) => {
    const gk = g.view(keptShape(x, ax));
    const out = broadcastTo(gk, shape);
    gk.dispose();
    return [out];
  });
}

/** Mean over `axes` (all when undefined). */
export function mean(x: Tensor, axes?: Axes, keepdims = false): Tensor {
  const ax = normAxes(axes, x.rank, 'mean');
  const n = ax.reduce((acc, d) => acc * x.shape[d]!, 1);
  const s = reduceRaw('sum', x, ax, keepdims);
  const y = mapUnary('scale', s, 'a * p.alpha', { alpha: 1 / n });
  s.dispose();
  const shape = x.shape;
  return record(y, 'mean', [x], (g) => {
    const gk = mapUnary('scale', g, 'a * p.alpha', { alpha: 1 / n });
    const out = broadcastTo(gk.view(keptShape(x, ax)), shape);
    gk.dispose();
    return [out];
  });
}

/** Maximum over `axes`. The gradient is shared equally among tied maxima. */
export function max(x: Tensor, axes?: Axes, keepdims = false): Tensor {
  const ax = normAxes(axes, x.rank, 'max');
  const y = reduceRaw('max', x, ax, keepdims);
  return record(y, 'max', [x], (g) => {
    const yk = y.view(keptShape(x, ax));
    const hit = mapBinary('is_max', x, yk, 'select(0.0, 1.0, a == b)');
    const count = reduceRaw('sum', hit, ax, true);
    const gk = g.view(keptShape(x, ax));
    const share = mapBinary('div', gk, count, 'a / b');
    const out = mapBinary('mul', hit, share, 'a * b');
    for (const t of [yk, hit, count, gk, share]) t.dispose();
    return [out];
  });
}

/** Index of the maximum along `axis` (first one at ties), as i32. Not differentiable. */
export function argmax(x: Tensor, axis: number, keepdims = false): Tensor {
  return reduceRaw('argmax', x, [normAxis(axis, x.rank, 'argmax')], keepdims);
}
