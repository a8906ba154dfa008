// Image codecs for the data sets: frames (JPEG or PNG → 8-bit RGB) and masks (palette or 8-bit grayscale
// PNG → one value per pixel), and the palette-PNG encoder the synthetic set and the prediction writer
// use (the JPEG encoder is jpeg-encode.ts).
//
// Decoding is left to well-kept pure-JS packages (jpeg-js, fast-png); this file only converts their
// outputs to the two layouts the project uses and turns every failure into an error naming the file.
// No file system access here: callers pass bytes and a name for messages.

import { decode as pngDecode, encode as pngEncode, type DecodedPng } from 'fast-png';
import jpeg from 'jpeg-js';

/** A video frame: 8-bit RGB, row-major, channels last (HWC): pixel (x, y) is rgb[3(yW + x) .. +3]. */
export interface Frame {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** A mask's own values (before any label mapping), one byte per pixel, row-major. */
export interface RawMask {
  width: number;
  height: number;
  values: Uint8Array;
}

export type Palette = number[][];

/**
 * The largest frame or mask decoded, in pixels: 100 megapixels (jpeg-js's own default, 12× an 8K
 * frame). A PNG's size is read from its header before anything is inflated: a 1 MB PNG can declare
 * 20000×20000 pixels (1.2 GB as RGB).
 */
export const MAX_PIXELS = 100_000_000;

const isPng = (b: Uint8Array) => b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
const isJpeg = (b: Uint8Array) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

/** Decodes a JPEG or PNG frame (recognised by its signature, not its name) to 8-bit RGB. */
export function decodeFrame(bytes: Uint8Array, name: string): Frame {
  if (isJpeg(bytes)) {
    let img: { width: number; height: number; data: Uint8Array };
    try {
      // tolerantDecoding off: a truncated file must fail, not come back half grey.
      img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxResolutionInMP: MAX_PIXELS / 1e6 });
    } catch (e) {
      throw new Error(`${name}: cannot decode JPEG (${errText(e)})`);
    }
    if (img.data.length !== img.width * img.height * 3) throw new Error(`${name}: JPEG decoded to an unexpected size`);
    return { width: img.width, height: img.height, rgb: img.data };
  }
  if (isPng(bytes)) return pngToRgb(readPng(bytes, name), name);
  throw new Error(`${name}: not a JPEG or PNG file (${bytes.length} bytes, unknown signature)`);
}

/** Decodes a mask: a palette PNG (the palette index is the value) or an 8-bit grayscale PNG. */
export function decodeMask(bytes: Uint8Array, name: string): RawMask {
  if (!isPng(bytes)) throw new Error(`${name}: masks must be PNG files; this one has no PNG signature`);
  const png = readPng(bytes, name);
  const { width, height } = png;
  if (png.channels !== 1)
    throw new Error(`${name}: masks must be single-channel (palette or grayscale) PNGs; this one has ${png.channels} channels`);
  if (png.palette) return { width, height, values: samples(png) };
  if (png.depth !== 8) throw new Error(`${name}: grayscale masks must be 8-bit; this one is ${png.depth}-bit`);
  return { width, height, values: png.data as Uint8Array };
}

/** An 8-bit palette PNG whose indices are the mask values (as VSPW stores its masks). */
export function encodePaletteMask(mask: RawMask, palette: Palette = vocPalette()): Uint8Array {
  if (mask.values.length !== mask.width * mask.height)
    throw new Error(`encodePaletteMask: ${mask.values.length} values for a ${mask.width}×${mask.height} mask`);
  return pngEncode({ width: mask.width, height: mask.height, data: mask.values, channels: 1, depth: 8, palette });
}

/** The PASCAL VOC colour map (bit-interleaved index): 256 distinct colours, index 0 black. */
export function vocPalette(): Palette {
  const pal: Palette = [];
  for (let i = 0; i < 256; i++) {
    let r = 0, g = 0, b = 0, c = i;
    for (let j = 7; j >= 0; j--, c >>= 3) {
      r |= (c & 1) << j;
      g |= ((c >> 1) & 1) << j;
      b |= ((c >> 2) & 1) << j;
    }
    pal.push([r, g, b]);
  }
  return pal;
}

function readPng(bytes: Uint8Array, name: string): DecodedPng {
  // The IHDR chunk comes first: length (4 bytes), 'IHDR', width and height (big-endian u32).
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 24 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') throw new Error(`${name}: cannot decode PNG (no IHDR header at its start)`);
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  if (width * height > MAX_PIXELS) {
    throw new Error(`${name}: PNG of ${width}×${height} pixels (${((width * height) / 1e6).toFixed(0)} megapixels), over the limit of ${MAX_PIXELS / 1e6} megapixels; not decoded`);
  }
  try {
    return pngDecode(bytes);
  } catch (e) {
    throw new Error(`${name}: cannot decode PNG (${errText(e)})`);
  }
}

/** One value per sample (palette index or grey level), unpacking 1/2/4-bit rows; 16-bit keeps the high byte. */
function samples(png: DecodedPng): Uint8Array {
  const { width, height, depth, channels, data } = png;
  if (depth === 8) return data as Uint8Array;
  if (depth === 16) return Uint8Array.from(data as Uint16Array, (v) => v >> 8);
  const out = new Uint8Array(width * height * channels);
  const rowBytes = Math.ceil((width * channels * depth) / 8);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width * channels; x++) {
      const bit = x * depth;
      out[y * width * channels + x] = (data[y * rowBytes + (bit >> 3)]! >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

function pngToRgb(png: DecodedPng, name: string): Frame {
  const { width, height, channels, palette, depth } = png;
  const s = samples(png);
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  if (palette) {
    for (let i = 0; i < n; i++) {
      const c = palette[s[i]!];
      if (!c) throw new Error(`${name}: palette index ${s[i]} beyond the ${palette.length}-entry palette`);
      rgb[3 * i] = c[0]!;
      rgb[3 * i + 1] = c[1]!;
      rgb[3 * i + 2] = c[2]!;
    }
    return { width, height, rgb };
  }
  // Grey levels below 8 bits are scaled to 0..255; colour samples are copied, alpha dropped.
  const scale = depth < 8 ? 255 / ((1 << depth) - 1) : 1;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) rgb[3 * i + k] = channels < 3 ? Math.round(s[i * channels]! * scale) : s[i * channels + k]!;
  }
  return { width, height, rgb };
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));
