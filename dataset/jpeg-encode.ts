// A minimal baseline JPEG encoder (JFIF, YCbCr 4:4:4, the standard tables of ITU T.81 Annex K).
//
// Why not jpeg-js's encoder: it rebuilds all its tables on every call (~20 ms, mostly garbage
// collection), so the ~1000 frames of the synthetic set took ~25 s to encode; this one builds them once
// and encodes a 128×96 frame in one to two milliseconds. It only writes our own frames; reading JPEGs
// (anyone's) stays with jpeg-js's decoder, and test/synth.test.ts checks this encoder's files with it.
// Output is deterministic: same pixels and quality → same bytes.

import type { Frame } from './image.ts';

const ZIGZAG = Int32Array.from([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);
// Annex K.1 quantisation tables (natural order) and K.3 Huffman tables (code counts per length 1..16, symbols).
const Q_LUMA = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const Q_CHROMA = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
  ...new Array<number>(32).fill(99),
];
const AC_LUMA_VALUES = [
  0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08,
  0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
  0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
  0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
  0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
  0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
  0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
];
const AC_CHROMA_VALUES = [
  0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91,
  0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
  0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
  0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
  0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
  0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
  0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
];
const DC_VALUES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const TABLES = {
  dcLuma: { counts: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], values: DC_VALUES },
  acLuma: { counts: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d], values: AC_LUMA_VALUES },
  dcChroma: { counts: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], values: DC_VALUES },
  acChroma: { counts: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77], values: AC_CHROMA_VALUES },
};

interface Huffman {
  code: Int32Array; // by symbol
  length: Int32Array;
}

/** Canonical Huffman codes from the code counts per length (T.81 Annex C). */
function huffman(t: { counts: number[]; values: number[] }): Huffman {
  const code = new Int32Array(256), length = new Int32Array(256);
  let c = 0, k = 0;
  for (let len = 1; len <= 16; len++, c <<= 1) {
    for (let i = 0; i < t.counts[len - 1]!; i++, c++, k++) {
      code[t.values[k]!] = c;
      length[t.values[k]!] = len;
    }
  }
  return { code, length };
}

const HUFF = { dcLuma: huffman(TABLES.dcLuma), acLuma: huffman(TABLES.acLuma), dcChroma: huffman(TABLES.dcChroma), acChroma: huffman(TABLES.acChroma) };
// The fast DCT below (AAN) leaves coefficient (u, v) scaled by 8·AAN[u]·AAN[v]; the divisors fold that in.
const AAN = Array.from({ length: 8 }, (_, k) => (k === 0 ? 1 : Math.cos((k * Math.PI) / 16) * Math.SQRT2));

/** IJG's quality scaling of a base table (quality 1..100). */
function scaledTable(base: number[], quality: number): Int32Array {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const sf = q < 50 ? Math.floor(5000 / q) : 200 - 2 * q;
  return Int32Array.from(base, (b) => Math.min(255, Math.max(1, Math.floor((b * sf + 50) / 100))));
}

class BitWriter {
  private buf = new Uint8Array(4096);
  length = 0;
  private acc = 0;
  private bits = 0;

  byte(b: number): void {
    if (this.length === this.buf.length) {
      const bigger = new Uint8Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.length++] = b;
  }
  bytes(bs: number[]): void {
    for (const b of bs) this.byte(b);
  }
  /** Appends n ≤ 16 bits of v, most significant first, stuffing a 0 after every 0xFF byte. */
  put(v: number, n: number): void {
    this.acc = (this.acc << n) | (v & ((1 << n) - 1));
    this.bits += n;
    while (this.bits >= 8) {
      const b = (this.acc >> (this.bits - 8)) & 0xff;
      this.byte(b);
      if (b === 0xff) this.byte(0);
      this.bits -= 8;
    }
    this.acc &= (1 << this.bits) - 1;
  }
  /** Pads the last byte with 1 bits. */
  flush(): void {
    if (this.bits > 0) this.put(0x7f, 8 - this.bits);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const segment = (marker: number, body: number[]) => [0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body];

/** Encodes an RGB frame as a baseline JPEG. */
export function encodeJpeg(frame: Frame, quality = 90): Uint8Array {
  const { width: W, height: H, rgb } = frame;
  if (!(W > 0 && H > 0 && W < 65536 && H < 65536) || rgb.length !== W * H * 3) throw new Error(`encodeJpeg: bad frame ${W}×${H} with ${rgb.length} bytes`);
  const qt = [scaledTable(Q_LUMA, quality), scaledTable(Q_CHROMA, quality)];
  // Multipliers in zigzag order: 1 / (quantiser × the AAN output scale).
  const mul = qt.map((t) => Float64Array.from(ZIGZAG, (z) => 1 / (t[z]! * AAN[z >> 3]! * AAN[z & 7]! * 8)));
  const out = new BitWriter();
  out.bytes([0xff, 0xd8]);
  out.bytes(segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]));
  out.bytes(segment(0xdb, [0, ...Array.from(ZIGZAG, (z) => qt[0]![z]!), 1, ...Array.from(ZIGZAG, (z) => qt[1]![z]!)]));
  out.bytes(segment(0xc0, [8, H >> 8, H & 0xff, W >> 8, W & 0xff, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1]));
  const dht = (cls: number, t: { counts: number[]; values: number[] }) => [cls, ...t.counts, ...t.values];
  out.bytes(segment(0xc4, [...dht(0x00, TABLES.dcLuma), ...dht(0x10, TABLES.acLuma), ...dht(0x01, TABLES.dcChroma), ...dht(0x11, TABLES.acChroma)]));
  out.bytes(segment(0xda, [3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]));

  // Level-shifted Y, Cb, Cr planes padded to whole blocks; pixels past the edge repeat the last row/column.
  const PW = (W + 7) & ~7, PH = (H + 7) & ~7;
  const planes = [new Float32Array(PW * PH), new Float32Array(PW * PH), new Float32Array(PW * PH)] as const;
  for (let y = 0; y < PH; y++) {
    for (let x = 0; x < PW; x++) {
      const p = 3 * (Math.min(y, H - 1) * W + Math.min(x, W - 1)), i = y * PW + x;
      const r = rgb[p]!, g = rgb[p + 1]!, b = rgb[p + 2]!;
      planes[0][i] = 0.299 * r + 0.587 * g + 0.114 * b - 128;
      planes[1][i] = -0.168736 * r - 0.331264 * g + 0.5 * b;
      planes[2][i] = 0.5 * r - 0.418688 * g - 0.081312 * b;
    }
  }
  const block = new Float64Array(64), coef = new Int32Array(64);
  const prevDc = [0, 0, 0];
  for (let by = 0; by < PH; by += 8) {
    for (let bx = 0; bx < PW; bx += 8) {
      for (let comp = 0; comp < 3; comp++) {
        const plane = planes[comp]!;
        for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) block[y * 8 + x] = plane[(by + y) * PW + bx + x]!;
        fdct(block);
        const m = mul[comp === 0 ? 0 : 1]!;
        for (let i = 0; i < 64; i++) {
          // Baseline Huffman tables code AC magnitudes up to 1023 (category 10); only quality ~100 reaches it.
          const v = Math.round(block[ZIGZAG[i]!]! * m[i]!);
          coef[i] = v > 1023 ? 1023 : v < -1023 ? -1023 : v;
        }
        if (comp === 0) writeBlock(out, coef, coef[0]! - prevDc[0]!, HUFF.dcLuma, HUFF.acLuma);
        else writeBlock(out, coef, coef[0]! - prevDc[comp]!, HUFF.dcChroma, HUFF.acChroma);
        prevDc[comp] = coef[0]!;
      }
    }
  }
  out.flush();
  out.bytes([0xff, 0xd9]);
  return out.result();
}

/** 2-D DCT of an 8×8 block in place, rows then columns: the AAN algorithm as in IJG's jfdctflt.c. */
function fdct(b: Float64Array): void {
  for (let pass = 0; pass < 2; pass++) {
    const step = pass === 0 ? 1 : 8, next = pass === 0 ? 8 : 1; // along rows, then along columns
    for (let line = 0; line < 8; line++) {
      const o = line * next;
      const i0 = o, i1 = o + step, i2 = o + 2 * step, i3 = o + 3 * step, i4 = o + 4 * step, i5 = o + 5 * step, i6 = o + 6 * step, i7 = o + 7 * step;
      const t0 = b[i0]! + b[i7]!, t7 = b[i0]! - b[i7]!, t1 = b[i1]! + b[i6]!, t6 = b[i1]! - b[i6]!;
      const t2 = b[i2]! + b[i5]!, t5 = b[i2]! - b[i5]!, t3 = b[i3]! + b[i4]!, t4 = b[i3]! - b[i4]!;
      // Even part.
      const t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;
      b[i0] = t10 + t11;
      b[i4] = t10 - t11;
      const z1 = (t12 + t13) * 0.707106781;
      b[i2] = t13 + z1;
      b[i6] = t13 - z1;
      // Odd part.
      const s10 = t4 + t5, s11 = t5 + t6, s12 = t6 + t7;
      const z5 = (s10 - s12) * 0.382683433, z2 = 0.5411961 * s10 + z5, z4 = 1.306562965 * s12 + z5, z3 = s11 * 0.707106781;
      const z11 = t7 + z3, z13 = t7 - z3;
      b[i5] = z13 + z2;
      b[i3] = z13 - z2;
      b[i1] = z11 + z4;
      b[i7] = z11 - z4;
    }
  }
}

/** Size category of a coefficient: the bit length of its magnitude. */
const category = (v: number) => (v === 0 ? 0 : 32 - Math.clz32(v < 0 ? -v : v));

/** Huffman-codes one block: the DC difference, then run/size symbols for the AC coefficients (zigzag order). */
function writeBlock(out: BitWriter, coef: Int32Array, dcDiff: number, dc: Huffman, ac: Huffman): void {
  // A value's n magnitude bits: v itself, or v − 1 for negative v (put keeps the low n bits).
  const n = category(dcDiff);
  out.put(dc.code[n]!, dc.length[n]!);
  if (n > 0) out.put(dcDiff < 0 ? dcDiff - 1 : dcDiff, n);
  let last = 63;
  while (last > 0 && coef[last] === 0) last--;
  let run = 0;
  for (let i = 1; i <= last; i++) {
    const v = coef[i]!;
    if (v === 0) {
      run++;
      continue;
    }
    for (; run >= 16; run -= 16) out.put(ac.code[0xf0]!, ac.length[0xf0]!);
    const m = category(v), sym = (run << 4) | m;
    out.put(ac.code[sym]!, ac.length[sym]!);
    out.put(v < 0 ? v - 1 : v, m);
    run = 0;
  }
  if (last < 63) out.put(ac.code[0]!, ac.length[0]!);
}
