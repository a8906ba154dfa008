// A plain float64 n-d array for reference implementations: small, slow and obviously right.
export interface Nd {
  shape: number[];
  data: Float64Array;
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function nd(shape: readonly number[], data?: ArrayLike<number> | ((i: number) => number)): Nd {
  const n = size(shape);
  const out = new Float64Array(n);
  if (typeof data === 'function') for (let i = 0; i < n; i++) out[i] = data(i);
  else if (data) {
    if (data.length !== n) throw new Error(`nd: ${data.length} values for shape [${shape}]`);
    out.set(data);
  }
  return { shape: [...shape], data: out };
}

export function strides(shape: readonly number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** Multi-index of flat index i. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d]! + idx[d]!;
  return i;
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error('reference: shapes do not broadcast');
    out.push(Math.max(x, y) === 1 ? 1 : x === 1 ? y : x);
  }
  return out;
}

/** Value of `x` at output multi-index `idx` of a broadcast result. */
export function at(x: Nd, idx: readonly number[]): number {
  const off = idx.length - x.shape.length;
  let i = 0;
  for (let d = 0; d < x.shape.length; d++) i = i * x.shape[d]! + (x.shape[d] === 1 ? 0 : idx[d + off]!);
  return x.data[i]!;
}

/** Elementwise map with broadcasting over any number of inputs. */
export function mapNd(xs: readonly Nd[], f: (...v: number[]) => number): Nd {
  const shape = xs.reduce<number[]>((s, x) => broadcastShape(s, x.shape), []);
  return nd(shape, (i) => {
    const idx = unravel(i, shape);
    return f(...xs.map((x) => at(x, idx)));
  });
}

/** Reduce over `axes` (sorted, non-negative) with `f` over the list of reduced values. */
export function reduceNd(x: Nd, axes: readonly number[], f: (vals: number[]) => number, keepdims = false): Nd {
  const outShape = x.shape.map((n, d) => (axes.includes(d) ? 1 : n));
  const groups = new Map<number, number[]>();
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape).map((v, d) => (axes.includes(d) ? 0 : v));
    const k = ravel(idx, outShape);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(x.data[i]!);
  }
  const out = nd(outShape, (k) => f(groups.get(k) ?? []));
  return keepdims ? out : { shape: x.shape.filter((_, d) => !axes.includes(d)), data: out.data };
}
