// Optical flow files and pictures: the Middlebury .flo format (Baker et al., "A Database and Evaluation
// Methodology for Optical Flow"), read and written, and their colour-wheel visualisation (the
// Middlebury colour coding of flow-code/colorcode.cpp: hue from the direction, saturation from the
// length relative to the largest). Pure functions on bytes; callers do the file access.
//
// .flo layout, little-endian: the float 202021.25 ("PIEH"), int32 width, int32 height, then
// width·height pairs of float32 (u, v) = (fx, fy), row-major.

/** A dense flow field: (u, v) pairs per pixel, row-major (as farneback's [H, W, 2] tensor's data). */
export interface Flow {
  width: number;
  height: number;
  data: Float32Array;
}

const TAG = 202021.25;
/** Middlebury marks unknown flow with components above this (1e10 in its files). */
const UNKNOWN = 1e9;

export function writeFlo(flow: Flow): Uint8Array {
  const { width, height, data } = flow;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new Error(`writeFlo: bad size ${width}×${height}`);
  if (data.length !== width * height * 2) throw new Error(`writeFlo: ${data.length} values for a ${width}×${height} flow (need ${width * height * 2})`);
  const bytes = new Uint8Array(12 + data.length * 4);
  const v = new DataView(bytes.buffer);
  v.setFloat32(0, TAG, true);
  v.setInt32(4, width, true);
  v.setInt32(8, height, true);
  for (let i = 0; i < data.length; i++) v.setFloat32(12 + 4 * i, data[i]!, true);
  return bytes;
}

/** Parses a .flo file; `name` is used in error messages. */
export function readFlo(bytes: Uint8Array, name: string): Flow {
  if (bytes.length < 12) throw new Error(`${name}: not a .flo file (${bytes.length} bytes, shorter than the header)`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getFloat32(0, true) !== TAG) throw new Error(`${name}: not a .flo file (no PIEH tag)`);
  const width = v.getInt32(4, true);
  const height = v.getInt32(8, true);
  if (width < 1 || height < 1 || width > 1e5 || height > 1e5) throw new Error(`${name}: implausible .flo size ${width}×${height}`);
  const n = width * height * 2;
  if (bytes.length !== 12 + 4 * n) throw new Error(`${name}: a ${width}×${height} .flo file has ${12 + 4 * n} bytes, this one ${bytes.length}`);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = v.getFloat32(12 + 4 * i, true);
  return { width, height, data };
}

/** The 55 colours of the Middlebury wheel: red → yellow → green → cyan → blue → magenta → red. */
function colourWheel(): [number, number, number][] {
  const seg = (n: number, f: (t: number) => [number, number, number]) => Array.from({ length: n }, (_, i) => f(Math.floor((255 * i) / n)));
  return [
    ...seg(15, (t) => [255, t, 0]), // RY
    ...seg(6, (t) => [255 - t, 255, 0]), // YG
    ...seg(4, (t) => [0, 255, t]), // GC
    ...seg(11, (t) => [0, 255 - t, 255]), // CB
    ...seg(13, (t) => [t, 0, 255]), // BM
    ...seg(6, (t) => [255, 0, 255 - t]), // MR
  ];
}

const WHEEL = colourWheel();

/**
 * RGB bytes (H·W·3) of the Middlebury colour coding of `flow`, lengths divided by `maxFlow` (default:
 * the largest known length in the field): white is no motion, full colour a length of maxFlow,
 * longer ones are darkened to 75 %; unknown or non-finite flow is black.
 */
export function flowToColor(flow: Flow, maxFlow?: number): Uint8Array {
  const { width, height, data } = flow;
  const n = width * height;
  if (data.length !== 2 * n) throw new Error(`flowToColor: ${data.length} values for a ${width}×${height} flow`);
  const known = (u: number, v: number) => Number.isFinite(u) && Number.isFinite(v) && Math.abs(u) <= UNKNOWN && Math.abs(v) <= UNKNOWN;
  let maxRad = maxFlow ?? 0;
  if (maxFlow === undefined) {
    for (let i = 0; i < n; i++) if (known(data[2 * i]!, data[2 * i + 1]!)) maxRad = Math.max(maxRad, Math.hypot(data[2 * i]!, data[2 * i + 1]!));
  }
  if (!(maxRad > 0)) maxRad = 1; // all zero: everything is white
  const rgb = new Uint8Array(3 * n);
  const last = WHEEL.length - 1;
  for (let i = 0; i < n; i++) {
    const u = data[2 * i]!, v = data[2 * i + 1]!;
    if (!known(u, v)) continue; // black
    const fx = u / maxRad, fy = v / maxRad;
    const rad = Math.hypot(fx, fy);
    const fk = ((Math.atan2(-fy, -fx) / Math.PI + 1) / 2) * last;
    const k0 = Math.floor(fk);
    const k1 = (k0 + 1) % WHEEL.length;
    const f = fk - k0;
    for (let b = 0; b < 3; b++) {
      let col = ((1 - f) * WHEEL[k0]![b]! + f * WHEEL[k1]![b]!) / 255;
      col = rad <= 1 ? 1 - rad * (1 - col) : col * 0.75;
      rgb[3 * i + b] = Math.floor(255 * col);
    }
  }
  return rgb;
}
