/**
 * A second synthetic world, unlike the embedded one: small shapes moving over textured backgrounds.
 *
 * It exists to check that what trains on the embedded set (dataset/synth.ts: outdoor scenes, large
 * stuff regions, things of 4–40 px) also works on other data: here the background is one class
 * covering ~95% of every frame, and the things are small (6–22 px), told apart by shape alone. Each
 * video has its own background (two to three colours of layered value noise, like a blurry photo)
 * and 2–5 shapes in random colours moving in straight lines and bouncing off the borders; a shape's
 * colour is never its class.
 *
 * Classes: background, disc, square, triangle, ring, cross. Masks are in VSPW's values (dataset.json
 * `labels: "vspw"`): class k is k + 1, 0 is "others" (here: a thin outline around every shape, the
 * anti-aliased edge whose class is unclear), 255 void (unused). Frames are JPEG (quality 90).
 */
import type { Frame } from './image.ts';
import { makeRng, mixSeed } from './rng.ts';
import { checkSize, checkSplit, hsv, splitFiles, textFile, videoFiles, videoName, vnoise, type SynthFile } from './synth.ts';

export const SHAPE_CLASSES = ['background', 'disc', 'square', 'triangle', 'ring', 'cross'];

export interface ShapesOptions {
  seed: number;
  videos: number;
  valVideos: number;
  frames: number;
  width: number;
  height: number;
}

export const SHAPES_DEFAULTS: ShapesOptions = { seed: 0, videos: 120, valVideos: 20, frames: 12, width: 160, height: 120 };

/** Is (u, v), in units of the shape's half size about its centre, inside a shape of class `cls`? */
function inside(cls: number, u: number, v: number): boolean {
  const r = Math.hypot(u, v);
  switch (cls) {
    case 1: return r <= 1;
    case 2: return Math.abs(u) <= 0.85 && Math.abs(v) <= 0.85;
    case 3: return v <= 0.8 && v >= 1.7 * Math.abs(u) - 0.9; // apex up
    case 4: return r <= 1 && r >= 0.55;
    default: return Math.min(Math.abs(u), Math.abs(v)) <= 0.28 && Math.max(Math.abs(u), Math.abs(v)) <= 1;
  }
}

export function shapesVideo(seed: number, index: number, length: number, W: number, H: number): { name: string; frames: Frame[]; masks: Uint8Array[] } {
  const rng = makeRng(mixSeed(seed, index, 7));
  const nseed = mixSeed(seed, index, 8);
  const colours = Array.from({ length: 3 }, () => hsv(rng.float(), rng.range(0.1, 0.7), rng.range(0.25, 0.95)));
  const scale = rng.range(0.03, 0.09);
  const n = 2 + rng.int(4);
  const things = Array.from({ length: n }, (_, k) => ({
    cls: 1 + ((index + k * 2) % 5), // every class appears in the set; neighbouring videos differ
    size: rng.range(3, 11), // half size: 6–22 px across
    x: rng.range(12, W - 12), y: rng.range(12, H - 12),
    vx: rng.range(-2.5, 2.5), vy: rng.range(-2, 2),
    colour: hsv(rng.float(), rng.range(0.3, 1), rng.range(0.3, 1)),
  }));
  const frames: Frame[] = [];
  const masks: Uint8Array[] = [];
  for (let t = 0; t < length; t++) {
    const rgb = new Uint8Array(W * H * 3);
    const mask = new Uint8Array(W * H).fill(1); // background: class 0 → value 1
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const a = vnoise(x * scale + t * 0.05, y * scale, nseed), b = vnoise(x * scale * 3, y * scale * 3 + 9, nseed);
        const w0 = a * 0.8 + b * 0.2;
        for (let c = 0; c < 3; c++) rgb[(y * W + x) * 3 + c] = 255 * Math.min(1, (colours[0]![c]! * w0 + colours[1]![c]! * (1 - w0)) * 0.85 + colours[2]![c]! * 0.15 * b);
      }
    }
    for (const s of things) {
      for (let y = Math.max(0, Math.floor(s.y - s.size - 2)); y <= Math.min(H - 1, s.y + s.size + 2); y++) {
        for (let x = Math.max(0, Math.floor(s.x - s.size - 2)); x <= Math.min(W - 1, s.x + s.size + 2); x++) {
          const u = (x + 0.5 - s.x) / s.size, v = (y + 0.5 - s.y) / s.size;
          const i = y * W + x;
          if (inside(s.cls, u, v)) {
            mask[i] = s.cls + 1;
            for (let c = 0; c < 3; c++) rgb[i * 3 + c] = 255 * s.colour[c]!;
          } else if (mask[i] === 1 && inside(s.cls, u * (1 - 1.2 / s.size), v * (1 - 1.2 / s.size))) mask[i] = 0; // the edge: "others"
        }
      }
      s.x += s.vx; s.y += s.vy;
      if (s.x < s.size || s.x > W - s.size) s.vx = -s.vx;
      if (s.y < s.size || s.y > H - s.size) s.vy = -s.vy;
    }
    // Sensor noise, so that a flat colour is never a class cue.
    const nr = makeRng(mixSeed(nseed, t));
    for (let i = 0; i < rgb.length; i++) rgb[i] = Math.max(0, Math.min(255, rgb[i]! + nr.int(17) - 8));
    frames.push({ width: W, height: H, rgb });
    masks.push(mask);
  }
  return { name: videoName(index), frames, masks };
}

/** Every file of the shapes set in VSPW's layout, in a fixed order. */
export function* shapesFiles(options: Partial<ShapesOptions> = {}): Generator<SynthFile> {
  const o = { ...SHAPES_DEFAULTS, ...options };
  checkSplit('shapes', o.videos, o.valVideos);
  checkSize('shapes', o.width, o.height);
  yield textFile('dataset.json', JSON.stringify({ labels: 'vspw', numClasses: SHAPE_CLASSES.length }));
  yield textFile('classes.json', JSON.stringify(SHAPE_CLASSES));
  yield* splitFiles(o.videos, o.valVideos);
  for (let i = 0; i < o.videos; i++) {
    const v = shapesVideo(o.seed, i, o.frames, o.width, o.height);
    yield* videoFiles(v.name, v.frames, v.masks);
  }
}
