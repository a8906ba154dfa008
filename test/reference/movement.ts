// float64 references for engine/ops/movement.ts. Each is written as "output element at multi-index o
// comes from input element at ...", the plainest statement of the op.
import { nd, ravel, unravel, type Nd } from './nd.ts';

/** An Nd of `shape` whose element at multi-index o is f(o). */
function build(shape: readonly number[], f: (o: number[]) => number): Nd {
  return nd(shape, (i) => f(unravel(i, shape)));
}

/** x at multi-index idx. */
function get(x: Nd, idx: readonly number[]): number {
  return x.data[ravel(idx, x.shape)]!;
}

export function reshapeRef(x: Nd, shape: readonly number[]): Nd {
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  return nd(
    shape.map((d) => (d === -1 ? x.data.length / known : d)),
    x.data,
  );
}

/** Output axis k is input axis axes[k] (axes non-negative). */
export function permuteRef(x: Nd, axes: readonly number[]): Nd {
  return build(
    axes.map((a) => x.shape[a]!),
    (o) => {
      const idx = new Array<number>(o.length);
      axes.forEach((a, k) => (idx[a] = o[k]!));
      return get(x, idx);
    },
  );
}

export function broadcastToRef(x: Nd, shape: readonly number[]): Nd {
  const off = shape.length - x.shape.length;
  return build(shape, (o) => get(x, x.shape.map((n, d) => (n === 1 ? 0 : o[d + off]!))));
}

/** The positions Python's range(n)[start:end:step] picks (step ≥ 1). */
export function slicePositions(n: number, start: number, end: number, step: number): number[] {
  const norm = (v: number) => Math.min(n, Math.max(0, v < 0 ? v + n : v));
  const out: number[] = [];
  for (let i = norm(start); i < norm(end); i += step) out.push(i);
  return out;
}

export function sliceRef(x: Nd, starts: readonly number[], ends: readonly number[], steps?: readonly number[]): Nd {
  const pos = x.shape.map((n, d) => (d < starts.length ? slicePositions(n, starts[d]!, ends[d]!, steps?.[d] ?? 1) : [...Array(n).keys()]));
  return build(
    pos.map((p) => p.length),
    (o) => get(x, o.map((k, d) => pos[d]![k]!)),
  );
}

export function concatRef(xs: readonly Nd[], axis: number): Nd {
  const shape = [...xs[0]!.shape];
  shape[axis] = xs.reduce((a, x) => a + x.shape[axis]!, 0);
  return build(shape, (o) => {
    let k = o[axis]!;
    for (const x of xs) {
      if (k < x.shape[axis]!) return get(x, o.map((v, d) => (d === axis ? k : v)));
      k -= x.shape[axis]!;
    }
    throw new Error('concatRef: index past the end');
  });
}

export function stackRef(xs: readonly Nd[], axis: number): Nd {
  return concatRef(
    xs.map((x) => nd([...x.shape.slice(0, axis), 1, ...x.shape.slice(axis)], x.data)),
    axis,
  );
}

export function padRef(x: Nd, pads: readonly (readonly [number, number])[], value: number): Nd {
  return build(
    x.shape.map((n, d) => n + pads[d]![0] + pads[d]![1]),
    (o) => {
      const idx = o.map((v, d) => v - pads[d]![0]);
      return idx.every((v, d) => v >= 0 && v < x.shape[d]!) ? get(x, idx) : value;
    },
  );
}

export function flipRef(x: Nd, axes: readonly number[]): Nd {
  return build(x.shape, (o) => get(x, o.map((v, d) => (axes.includes(d) ? x.shape[d]! - 1 - v : v))));
}

/** torch.index_select; positions outside [0, n) give 0. */
export function indexSelectRef(x: Nd, axis: number, idx: readonly number[]): Nd {
  return build(
    x.shape.map((n, d) => (d === axis ? idx.length : n)),
    (o) => {
      const k = idx[o[axis]!]!;
      return k >= 0 && k < x.shape[axis]! ? get(x, o.map((v, d) => (d === axis ? k : v))) : 0;
    },
  );
}

/** numpy.take_along_axis (idx has x's shape except along axis); positions outside [0, n) give 0. */
export function takeAlongAxisRef(x: Nd, idx: Nd, axis: number): Nd {
  return build(idx.shape, (o) => {
    const k = get(idx, o);
    return k >= 0 && k < x.shape[axis]! ? get(x, o.map((v, d) => (d === axis ? k : v))) : 0;
  });
}
