/**
 * The embedded synthetic video segmentation set: training works with no download.
 *
 * The world. Each video is a side view of an outdoor scene seen by a moving camera:
 *   - stuff: sky (gradient + drifting clouds), buildings (blocks with window grids on the skyline),
 *     and ground bands below a hilly horizon: grass (grainy), road (asphalt grain + lane dashes),
 *     water (animated ripples and glints that reflect the sky's colour);
 *   - things standing on the ground, drawn far to near so nearer ones occlude farther ones: trees
 *     (trunk + swaying crown of blobs), people (head, torso, swinging arms and legs), cars (body, cabin,
 *     windows, wheels), bouncing and rolling striped balls, and signs (pole + round, triangular,
 *     octagonal or diamond plate with border and symbol);
 *   - a few unlabelled flying specks, marked ignore (255), like VSPW's "others".
 * The camera pans, shakes and zooms; sky and skyline move with parallax. People, cars and balls move
 * on their own, enter and leave the frame, and grow or shrink (approach or recede).
 *
 * Why it is not easy. Colour alone does not tell the classes apart: every video draws its own colours
 * (sky may be blue, grey or orange; grass green, brown or teal; trees green or autumn-red), things take
 * their colours from one shared per-video paint palette (a car, a ball, a shirt and a sign can be the
 * same red), water mirrors the sky, and each video has its own lighting (gain, colour cast, a light
 * gradient, flicker), sensor noise and sometimes blur; frames are then JPEG-compressed. What separates
 * the classes is texture, shape, position and motion.
 *
 * Classes (identity labels, ignore 255): 0 sky, 1 building, 2 road, 3 grass, 4 water, 5 tree,
 * 6 person, 7 car, 8 ball, 9 sign. Video v uses ground layout v mod 5 and always has things of classes
 * THINGS[v mod 5] and THINGS[(v+2) mod 5] on screen at its first frame, and every even video has
 * buildings, so any 3 consecutive videos show all 10 classes.
 *
 * Layout (VSPW's): data/<video>/origin/<frame>.jpg (JPEG quality 90), data/<video>/mask/<frame>.png
 * (palette PNG, index = class), train.txt / val.txt (val: the last of the `videos`), dataset.json,
 * classes.json, and synth.json (the generator's version and options).
 * Defaults: 40 videos of 24–32 frames at 128×96, 10 of them val; the embedded set (EMBEDDED) adds 1000
 * training videos of 4–6 frames. Same options → byte-identical files.
 * This module is pure (no file access; it also runs in a browser); synth-write.ts writes the files and
 * synth-cli.ts is the command line.
 */

import { encodePaletteMask, vocPalette, type Frame } from './image.ts';
import { encodeJpeg } from './jpeg-encode.ts';
import { IGNORE } from './labels.ts';
import { makeRng, mixSeed, type Rng } from './rng.ts';

export const SYNTH_CLASSES = ['sky', 'building', 'road', 'grass', 'water', 'tree', 'person', 'car', 'ball', 'sign'];
const SKY = 0, BUILDING = 1, ROAD = 2, GRASS = 3, WATER = 4, TREE = 5, PERSON = 6, CAR = 7, BALL = 8, SIGN = 9;
const THINGS = [TREE, PERSON, CAR, BALL, SIGN];

/**
 * A coarse taxonomy of the same classes (SynthOptions.taxonomy): a world labeled with it teaches what
 * sky, ground, structures and things look like, not which ground, structure or thing. Weights pretrained
 * on it stand in for a backbone that has never seen the target classes (issue 17's label-scarce regime).
 */
export const COARSE_CLASSES = ['sky', 'ground', 'structure', 'thing'];
const COARSE_OF = [0, 2, 1, 1, 1, 2, 3, 3, 3, 3]; // fine class id → coarse class id

/** The class names a world of this taxonomy is labeled with (its classes.json). */
export function taxonomyClasses(taxonomy: string): string[] {
  if (taxonomy === 'fine') return SYNTH_CLASSES;
  if (taxonomy === 'coarse') return COARSE_CLASSES;
  throw new Error(`synth: taxonomy must be 'fine' or 'coarse', got ${JSON.stringify(taxonomy)}`);
}
/** Ground bands below the horizon, top to bottom, with the fraction of the ground each takes (last: the rest). */
const LAYOUTS: [number, number][][] = [
  [[WATER, 0.4], [GRASS, 1]],
  [[GRASS, 0.25], [ROAD, 0.4], [GRASS, 1]],
  [[ROAD, 0.55], [GRASS, 1]],
  [[GRASS, 0.3], [WATER, 0.35], [GRASS, 1]],
  [[WATER, 0.25], [GRASS, 0.3], [ROAD, 0.3], [GRASS, 1]],
];

export interface SynthOptions {
  seed: number;
  videos: number;
  /** Frames per video: a fixed count or an inclusive range drawn per video. */
  frames: number | [number, number];
  width: number;
  height: number;
  /** Videos in val.txt (the last ones); default max(1, round(videos / 4)). */
  valVideos?: number;
  /**
   * Shorter training videos added after those (video_<videos> on), listed in train.txt: variety of
   * scenes is what a small training set lacks (frames of one video are near-duplicates), and short
   * videos give it at few frames. Default 0.
   */
  extraVideos?: number;
  /** Frames per extra video (default EXTRA_FRAMES). */
  extraFrames?: number | [number, number];
  /** 'fine' (default): SYNTH_CLASSES; 'coarse': masks carry COARSE_CLASSES instead. */
  taxonomy?: 'fine' | 'coarse';
}

/** Frames per extra training video unless told otherwise: short, so that scenes are many and frames few. */
export const EXTRA_FRAMES: [number, number] = [4, 6];

export const SYNTH_DEFAULTS: SynthOptions = { seed: 0, videos: 40, frames: [24, 32], width: 128, height: 96 };

/**
 * The embedded data set (train/run.js's default data): the 40 videos of SYNTH_DEFAULTS (30 train, 10
 * val, as before this option existed, so val results stay comparable) plus 1000 short training videos:
 * with 120 of 8–12 frames the fine-tuned student forgot what the pretrained weights had learned from
 * 1000 scenes (grass 74.7 → 64.6 val IoU); with the scenes as many as in pretraining it keeps it.
 */
export const EMBEDDED: SynthOptions = { ...SYNTH_DEFAULTS, extraVideos: 1000, extraFrames: EXTRA_FRAMES };

/** Written into synth.json with the options: a set made by an older generator is told apart from the current one. */
export const SYNTH_VERSION = 3;

export interface SynthVideo {
  name: string;
  frames: Frame[];
  /** Class id or IGNORE per pixel, row-major. */
  masks: Uint8Array[];
}

export interface SynthFile {
  /** Path relative to the data set root, with '/' separators. */
  path: string;
  bytes: Uint8Array;
}

export type RGB = [number, number, number];

export const videoName = (i: number) => `video_${String(i).padStart(3, '0')}`;
export const frameName = (t: number) => String(t).padStart(8, '0');

/** Every file of the data set, in a fixed order. */
export function* synthFiles(options: Partial<SynthOptions> = {}): Generator<SynthFile> {
  const o = { ...SYNTH_DEFAULTS, ...options };
  const val = o.valVideos ?? Math.max(1, Math.round(o.videos / 4));
  const extra = o.extraVideos ?? 0;
  checkSplit('synth', o.videos, val, extra);
  checkSize('synth', o.width, o.height);
  const frames = frameRange('synth', o.frames);
  const extraFrames = frameRange('synth', o.extraFrames ?? EXTRA_FRAMES);
  const taxonomy = o.taxonomy ?? 'fine';
  const classes = taxonomyClasses(taxonomy);
  const relabel = (m: Uint8Array) => (taxonomy === 'coarse' ? m.map((c) => (c === IGNORE ? c : COARSE_OF[c]!)) : m);
  yield textFile('dataset.json', JSON.stringify({ labels: 'identity', numClasses: classes.length, ignore: IGNORE }));
  yield textFile('synth.json', JSON.stringify({ version: SYNTH_VERSION, options: { ...o, valVideos: val, extraVideos: extra, extraFrames } }));
  yield textFile('classes.json', JSON.stringify(classes));
  yield* splitFiles(o.videos, val, extra);
  for (let i = 0; i < o.videos + extra; i++) {
    const [fMin, fMax] = i < o.videos ? frames : extraFrames;
    const length = fMin + makeRng(mixSeed(o.seed, i, 1)).int(fMax - fMin + 1);
    const v = synthVideo(o.seed, i, length, o.width, o.height);
    yield* videoFiles(v.name, v.frames, v.masks.map(relabel));
  }
}

// ---------------------------------------------------------------------------------------------------
// What every world's files share (the shapes, aerial and VSPW-like worlds use these too).

/** A text file of a world: the text and a final newline. */
export const textFile = (path: string, text: string): SynthFile => ({ path, bytes: new TextEncoder().encode(text + '\n') });

/** Checks a world's split: at least 2 videos, 1 ≤ valVideos < videos, and extraVideos ≥ 0 short training videos after them. */
export function checkSplit(world: string, videos: number, valVideos: number, extraVideos = 0): void {
  if (!(Number.isInteger(videos) && videos >= 2 && Number.isInteger(valVideos) && valVideos >= 1 && valVideos < videos)) {
    throw new Error(`${world}: need videos ≥ 2 and 1 ≤ valVideos < videos, got ${videos} and ${valVideos}`);
  }
  if (!Number.isInteger(extraVideos) || extraVideos < 0) throw new Error(`${world}: extraVideos must be a non-negative integer, got ${extraVideos}`);
}

/** Checks a world's frame size: at least 16×16. */
export function checkSize(world: string, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 16 || height < 16) throw new Error(`${world}: frames must be at least 16×16, got ${width}×${height}`);
}

/**
 * train.txt and val.txt of a world of `videos` videos (the last valVideos of them val) and extraVideos
 * short training videos numbered after them.
 */
export function* splitFiles(videos: number, valVideos: number, extraVideos = 0): Generator<SynthFile> {
  const names = Array.from({ length: videos + extraVideos }, (_, i) => videoName(i));
  yield textFile('train.txt', [...names.slice(0, videos - valVideos), ...names.slice(videos)].join('\n'));
  yield textFile('val.txt', names.slice(videos - valVideos, videos).join('\n'));
}

/** A frame count or an inclusive range of them, as [min, max]. */
export function frameRange(world: string, f: number | [number, number]): [number, number] {
  const [lo, hi] = typeof f === 'number' ? [f, f] : f;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi < lo) throw new Error(`${world}: bad frame count ${JSON.stringify(f)}`);
  return [lo, hi];
}

const PALETTE = vocPalette();

/** One video's files in VSPW's layout: JPEG frames (quality 90) and palette-PNG masks (index = value). */
export function* videoFiles(name: string, frames: Frame[], masks: Uint8Array[]): Generator<SynthFile> {
  for (let t = 0; t < frames.length; t++) {
    const { width, height } = frames[t]!;
    yield { path: `data/${name}/origin/${frameName(t)}.jpg`, bytes: encodeJpeg(frames[t]!, 90) };
    yield { path: `data/${name}/mask/${frameName(t)}.png`, bytes: encodePaletteMask({ width, height, values: masks[t]! }, PALETTE) };
  }
}

// ---------------------------------------------------------------------------------------------------
// Noise and colour helpers.

/** Hash of two integers and a seed to 32 bits (unsigned). */
function ihash(ix: number, iy: number, seed: number): number {
  let h = Math.imul(ix | 0, 0x27d4eb2d) ^ Math.imul(iy | 0, 0x165667b1) ^ seed;
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Hash of two integers and a seed to [0, 1). */
export const hash = (ix: number, iy: number, seed: number) => ihash(ix, iy, seed) / 2 ** 32;

/** Smooth value noise in [0, 1) at lattice spacing 1. */
export function vnoise(x: number, y: number, seed: number): number {
  const ix = Math.floor(x), iy = Math.floor(y);
  const fx = x - ix, fy = y - iy;
  const sx = fx * fx * (3 - 2 * fx), sy = fy * fy * (3 - 2 * fy);
  const a = hash(ix, iy, seed), b = hash(ix + 1, iy, seed), c = hash(ix, iy + 1, seed), d = hash(ix + 1, iy + 1, seed);
  return a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * sx * sy;
}

export function hsv(h: number, s: number, v: number): RGB {
  const f = (n: number) => {
    const k = (n + h * 6) % 6;
    return v - v * s * Math.max(0, Math.min(k, 4 - k, 1));
  };
  return [f(5), f(3), f(1)];
}

export const mix = (a: RGB, b: RGB, w: number): RGB => [a[0] + (b[0] - a[0]) * w, a[1] + (b[1] - a[1]) * w, a[2] + (b[2] - a[2]) * w];
export const scale = (a: RGB, k: number): RGB => [a[0] * k, a[1] * k, a[2] * k];
export const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);

/** Distance from (x, y) to the segment (ax, ay)–(bx, by). */
function segDist(x: number, y: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax, dy = by - ay;
  const t = clamp01(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy || 1));
  return Math.hypot(x - ax - t * dx, y - ay - t * dy);
}

// ---------------------------------------------------------------------------------------------------
// Things: shapes in local units (feet at v = 0, up is negative v, height 1), painted per pixel.

interface Thing {
  cls: number;
  /** World position of the feet at t = 0, velocity in px/frame. */
  x: number;
  y: number;
  vx: number;
  vy: number;
  /** Height in pixels at t = 0 and zoom 1; log growth per frame. */
  size: number;
  grow: number;
  /** Local bounding box: u in [u0, u1], v in [v0, 0]. */
  u0: number;
  u1: number;
  v0: number;
  /** Pixels to lift the feet by at frame t (the ball's bounce). */
  lift(t: number): number;
  paint(u: number, v: number, t: number): RGB | null;
}

interface Style {
  rng: Rng;
  /** The video's shared paint palette: things of every class draw their colours from it. */
  paints: RGB[];
  seed: number;
}

const paint = (s: Style) => s.rng.pick(s.paints);

function makeTree(s: Style): Partial<Thing> {
  const { rng } = s;
  const crown: RGB = rng.float() < 0.6 ? hsv(rng.range(0.2, 0.4), rng.range(0.4, 0.9), rng.range(0.25, 0.7)) : rng.float() < 0.5 ? hsv(rng.range(0, 0.12), 0.8, rng.range(0.5, 0.9)) : paint(s);
  const trunk = hsv(rng.range(0.03, 0.1), rng.range(0.2, 0.6), rng.range(0.2, 0.45));
  const blobs = Array.from({ length: 3 + rng.int(3) }, () => [rng.range(-0.2, 0.2), rng.range(-0.85, -0.55), rng.range(0.2, 0.3)] as const);
  const sway = rng.range(0.005, 0.03), phase = rng.range(0, 6.28), seed = s.seed + rng.int(1e6);
  return {
    u0: -0.55, u1: 0.55, v0: -1.15, vx: 0,
    paint: (u, v, t) => {
      const cu = u - sway * Math.sin(t * 0.3 + phase) * -v;
      for (const [bx, by, r] of blobs) {
        if ((cu - bx) ** 2 + (v - by) ** 2 < r * r) {
          const leaf = 0.7 + 0.5 * hash(Math.floor(cu * 30), Math.floor(v * 30), seed);
          return scale(crown, leaf * (1.1 - 0.4 * (v - by + r) / (2 * r)));
        }
      }
      const half = 0.05 + 0.04 * Math.max(0, v + 0.1) / 0.1;
      return Math.abs(u) < half && v > -0.6 ? scale(trunk, 0.8 + 0.3 * hash(Math.floor(u * 60), Math.floor(v * 15), seed)) : null;
    },
  };
}

function makePerson(s: Style): Partial<Thing> {
  const { rng } = s;
  const skin = hsv(rng.range(0.03, 0.1), rng.range(0.3, 0.7), rng.range(0.3, 0.95));
  const shirt = paint(s), legs = rng.float() < 0.5 ? paint(s) : hsv(rng.range(0, 1), 0.3, 0.25);
  const hair = hsv(rng.range(0, 0.12), rng.range(0.2, 0.8), rng.range(0.05, 0.5));
  const striped = rng.float() < 0.4, phase = rng.range(0, 6.28);
  const vx = (rng.float() < 0.5 ? -1 : 1) * rng.range(0.3, 0.9);
  const step = 0.5 + Math.abs(vx) * 0.4;
  return {
    u0: -0.3, u1: 0.3, v0: -1, vx,
    paint: (u, v, t) => {
      const sw = Math.sin(t * step + phase);
      if (u * u + (v + 0.9) ** 2 < 0.01) return v < -0.93 ? hair : skin;
      if (Math.abs(u) < 0.13 && v > -0.8 && v < -0.42) return striped && Math.floor(v * 25) % 2 ? scale(shirt, 0.6) : shirt;
      for (const side of [-1, 1]) {
        if (segDist(u, v, side * 0.15, -0.77, side * 0.17 + 0.12 * sw * side, -0.48) < 0.04) return shirt;
        if (segDist(u, v, side * 0.06, -0.44, side * 0.06 + 0.13 * sw * side, 0) < 0.05) return legs;
      }
      return null;
    },
  };
}

function makeCar(s: Style): Partial<Thing> {
  const { rng } = s;
  const body = paint(s), glass = hsv(rng.range(0.5, 0.7), rng.range(0, 0.5), rng.range(0.1, 0.35));
  const vx = (rng.float() < 0.5 ? -1 : 1) * rng.range(1, 3);
  const dir = Math.sign(vx);
  return {
    u0: -1.05, u1: 1.05, v0: -1, vx,
    paint: (u, v) => {
      const f = u * dir; // forward is +f
      for (const wx of [-0.6, 0.6]) {
        const d = Math.hypot(u - wx, v + 0.2);
        if (d < 0.2) return d < 0.08 ? [0.55, 0.55, 0.55] : [0.06, 0.06, 0.07];
      }
      if (Math.abs(u) < 1 && v > -0.62 && v < -0.18 && !(Math.abs(u) > 0.92 && v < -0.55)) {
        if (f > 0.9 && v > -0.52 && v < -0.42) return [1, 0.95, 0.6];
        return scale(body, v > -0.32 ? 0.75 : 1);
      }
      const k = (-0.62 - v) / 0.38; // 0 at the cabin's foot, 1 at its roof
      if (v >= -1 && v <= -0.62 && f > -0.65 + 0.2 * k && f < 0.45 - 0.25 * k) {
        const inWindow = v > -0.94 && v < -0.66 && f > -0.58 + 0.2 * k && f < 0.38 - 0.25 * k && Math.abs(f + 0.08) > 0.04;
        return inWindow ? glass : body;
      }
      return null;
    },
  };
}

function makeBall(s: Style): Partial<Thing> {
  const { rng } = s;
  const base = paint(s), stripe = paint(s);
  const vx = (rng.float() < 0.5 ? -1 : 1) * rng.range(0.5, 2);
  const period = rng.range(6, 12), bounce = rng.range(0, 1.5), phase = rng.range(0, 6.28);
  return {
    u0: -0.5, u1: 0.5, v0: -1, vx,
    lift: (t) => bounce * Math.abs(Math.sin((Math.PI * t) / period + phase)),
    paint: (u, v, t) => {
      const a = u / 0.5, b = (v + 0.5) / 0.5;
      if (a * a + b * b >= 1) return null;
      const th = t * vx * 0.25, c = Math.cos(th), sn = Math.sin(th);
      const ra = c * a - sn * b, rb = sn * a + c * b;
      const shade = 1.15 - 0.45 * Math.hypot(a + 0.35, b + 0.35);
      return scale(Math.abs(rb - 0.35 * Math.sin(2.5 * ra)) < 0.22 ? stripe : base, shade);
    },
  };
}

function makeSign(s: Style): Partial<Thing> {
  const { rng } = s;
  const inner = paint(s), border: RGB = rng.float() < 0.6 ? [0.95, 0.95, 0.92] : paint(s);
  const kind = rng.int(4);
  const inside = (x: number, y: number, r: number) =>
    kind === 0 ? x * x + y * y < r * r
    : kind === 1 ? y < r * 0.6 && Math.abs(x) * 1.73 < y + r * 1.2
    : kind === 2 ? Math.abs(x) < r && Math.abs(y) < r && Math.abs(x) + Math.abs(y) < r * 1.4
    : Math.abs(x) + Math.abs(y) < r * 1.2;
  return {
    u0: -0.22, u1: 0.22, v0: -1.02, vx: 0,
    paint: (u, v) => {
      const x = u, y = v + 0.82;
      if (inside(x, y, 0.18)) {
        if (!inside(x, y, 0.14)) return border;
        return Math.abs(y) < 0.025 && Math.abs(x) < 0.08 ? border : inner;
      }
      return Math.abs(u) < 0.035 && v > -0.7 ? [0.5, 0.52, 0.55] : null;
    },
  };
}

const MAKERS: Record<number, (s: Style) => Partial<Thing>> = { [TREE]: makeTree, [PERSON]: makePerson, [CAR]: makeCar, [BALL]: makeBall, [SIGN]: makeSign };
/** Height in pixels (at 96-pixel frames) of a thing on the near edge of the ground. */
const SIZES: Record<number, number> = { [TREE]: 58, [PERSON]: 44, [CAR]: 26, [BALL]: 18, [SIGN]: 46 };

// ---------------------------------------------------------------------------------------------------
// One video.

/** Renders video `index` of the set made with `seed`: frames (RGB) and masks (class ids, IGNORE). */
export function synthVideo(seed: number, index: number, length: number, W: number, H: number): SynthVideo {
  const rng = makeRng(mixSeed(seed, index));
  const vseed = mixSeed(seed, index, 2);
  const S = H / 96;
  const style: Style = { rng, seed: vseed, paints: Array.from({ length: 6 }, () => hsv(rng.float(), rng.range(0.3, 1), rng.range(0.35, 1))) };

  // Camera: pan, shake, zoom about the frame centre.
  const pan = rng.range(-1.5, 1.5) * S, shake = rng.range(0, 1.5) * S, shakeF = rng.range(0.3, 1), zoomRate = rng.range(-0.006, 0.006);

  // Stuff colours, drawn per video.
  const skyMode = rng.int(4);
  const skyTop: RGB =
    skyMode === 0 ? hsv(rng.range(0.55, 0.64), rng.range(0.3, 0.75), rng.range(0.65, 1))
    : skyMode === 1 ? hsv(rng.float(), rng.range(0, 0.12), rng.range(0.5, 0.9))
    : skyMode === 2 ? hsv(rng.range(0.0, 0.1), rng.range(0.4, 0.8), rng.range(0.7, 1))
    : mix(paint(style), [1, 1, 1], 0.3);
  const skyLow = mix(skyTop, [1, 1, 1], rng.range(0.1, 0.5));
  const cloud = mix(skyTop, [1, 1, 1], 0.7);
  const grass = rng.float() < 0.6 ? hsv(rng.range(0.2, 0.38), rng.range(0.35, 0.8), rng.range(0.3, 0.8)) : hsv(rng.pick([0.09, 0.13, 0.46, 0.6]), rng.range(0.1, 0.6), rng.range(0.3, 0.75));
  const road = rng.float() < 0.25 ? scale(paint(style), 0.6) : hsv(rng.float(), rng.range(0, 0.15), rng.range(0.25, 0.6));
  const lane: RGB = rng.float() < 0.5 ? [0.95, 0.95, 0.95] : [0.95, 0.8, 0.2];
  const water = mix(skyTop, hsv(rng.range(0.3, 0.65), rng.range(0.3, 0.8), rng.range(0.2, 0.6)), rng.range(0.3, 0.6));
  const glint = mix(water, [1, 1, 1], 0.5);
  const wall = rng.float() < 0.5 ? paint(style) : hsv(rng.range(0, 0.15), rng.range(0, 0.5), rng.range(0.35, 0.85));

  // Geometry in world pixels (y down). The horizon and skyline move with parallax 0.5, the sky with 0.2.
  const horizon0 = H * rng.range(0.3, 0.5), hill = rng.range(0, 6) * S, hillF = rng.range(0.01, 0.04) / S;
  const horizonAt = (x: number) => horizon0 + hill * (vnoise(x * hillF, 0.5, vseed) - 0.5) * 2;
  const layout = LAYOUTS[index % LAYOUTS.length]!.map(([cls, f]) => [cls, f + rng.range(-0.06, 0.06)] as [number, number]);
  const waves = layout.map(([cls]) => (cls === ROAD ? 0.5 : rng.range(1, 4)) * S);
  const groundDepth = H * 1.3 - horizon0; // bands reach below the frame so zooming out shows no gap
  const bands: { cls: number; bottom: (x: number) => number }[] = [];
  let acc = 0;
  layout.forEach(([cls, f], k) => {
    const last = k === layout.length - 1;
    acc += last ? 10 : f * (1 - acc);
    const top = acc, w = waves[k]!;
    bands.push({ cls, bottom: last ? () => Infinity : (x) => horizon0 + groundDepth * Math.min(top, 1) + w * (vnoise(x * 0.05 / S, k + 3.5, vseed) - 0.5) * 2 });
  });
  const buildings: { x0: number; x1: number; top: number; shade: number; win: number }[] = [];
  if (index % 2 === 0 || rng.float() < 0.35) {
    for (let x = -3 * W; x < 4 * W; ) {
      const w = rng.range(10, 30) * S;
      if (rng.float() < 0.8) buildings.push({ x0: x, x1: x + w, top: rng.range(8, 34) * S, shade: rng.range(0.8, 1.15), win: rng.range(5, 8) * S });
      x += w + (rng.float() < 0.5 ? 0 : rng.range(2, 10) * S);
    }
  }
  const glass = hsv(rng.range(0.5, 0.7), rng.range(0, 0.4), rng.range(0.1, 0.35)), lit: RGB = [1, 0.85, 0.5];

  // Things: two required classes (on screen at frame 0), the rest random; plus ignored specks.
  const wantClasses = [THINGS[index % 5]!, THINGS[(index + 2) % 5]!];
  const count = 4 + rng.int(4);
  while (wantClasses.length < count) wantClasses.push(rng.pick(THINGS));
  const groundBands = bands.filter((b) => b.cls !== WATER);
  const things: Thing[] = wantClasses.map((cls, k) => {
    const base = MAKERS[cls]!(style);
    const x = k < 2 ? rng.range(0.2, 0.8) * W : rng.range(-0.4, 1.4) * W;
    // Feet inside a non-water band (cars on the road when there is one), between its edges at x.
    const band = cls === CAR ? (bands.find((b) => b.cls === ROAD) ?? rng.pick(groundBands)) : rng.pick(groundBands);
    const bi = bands.indexOf(band);
    const top = bi === 0 ? horizonAt(x * 0.5) : bands[bi - 1]!.bottom(x);
    const bottom = Math.min(band.bottom(x), H * 1.05);
    const y = top + (bottom > top + 2 * S ? rng.range(1, bottom - top - 1) : 1);
    const near = clamp01((y - horizon0) / (H - horizon0)) * 0.9 + 0.35;
    const moving = base.vx !== 0;
    return {
      cls, x, y, vy: 0, lift: () => 0, ...base,
      vx: (base.vx ?? 0) * S,
      size: SIZES[cls]! * S * near * rng.range(0.8, 1.2),
      grow: moving ? rng.range(-0.02, 0.02) : 0,
    } as Thing;
  });
  for (let k = rng.int(3); k > 0; k--) {
    const c = hsv(rng.float(), rng.range(0, 1), rng.range(0.2, 1)), seed2 = rng.int(1e6);
    things.push({
      cls: IGNORE, x: rng.range(0, W), y: rng.range(0.1, 0.9) * H, vx: rng.range(-2, 2) * S, vy: rng.range(-0.8, 0.8) * S,
      size: rng.range(4, 10) * S, grow: 0, u0: -0.6, u1: 0.6, v0: -1, lift: () => 0,
      paint: (u, v) => (u * u * 2.5 + (v + 0.5) ** 2 < 0.2 + 0.1 * hash(Math.floor(u * 8), Math.floor(v * 8), seed2) ? c : null),
    });
  }

  // Lighting and sensor.
  const gain = rng.range(0.6, 1.25), cast = [rng.range(0.85, 1.15), rng.range(0.85, 1.15), rng.range(0.85, 1.15)];
  const lightA = rng.range(0, 6.28), lightK = rng.range(0, 0.45), flicker = rng.range(0, 0.06);
  const noise = rng.range(2, 9), blur = rng.int(3);

  const frames: Frame[] = [], masks: Uint8Array[] = [];
  const col = new Float32Array(W * H * 3);
  for (let t = 0; t < length; t++) {
    const mask = new Uint8Array(W * H);
    const camX = pan * t, camY = shake * Math.sin(t * shakeF), zoom = Math.exp(zoomRate * t);
    const put = (i: number, c: RGB, k = 1) => {
      col[3 * i] = c[0] * k;
      col[3 * i + 1] = c[1] * k;
      col[3 * i + 2] = c[2] * k;
    };
    // Stuff, column by column.
    for (let x = 0; x < W; x++) {
      const sx = (x + 0.5 - W / 2) / zoom;
      const wx = sx + camX, wxH = sx + camX * 0.5, wxS = sx + camX * 0.2;
      const hz = horizonAt(wxH);
      const b = buildings.find((q) => wxH >= q.x0 && wxH < q.x1);
      const sky = b ? hz - b.top : hz;
      const bottoms = bands.map((q) => q.bottom(wx));
      for (let y = 0; y < H; y++) {
        const wy = (y + 0.5 - H / 2) / zoom + H / 2 + camY;
        const i = y * W + x;
        if (wy < sky) {
          mask[i] = SKY;
          const g = clamp01((wy - (hz - 50 * S)) / (50 * S));
          const n = vnoise(wxS / (22 * S) + t * 0.02, wy / (9 * S), vseed + 7) * 0.65 + vnoise(wxS / (7 * S), wy / (4 * S), vseed + 8) * 0.35;
          const w = clamp01((n - 0.52) * 3);
          for (let k = 0; k < 3; k++) col[3 * i + k] = (skyTop[k]! + (skyLow[k]! - skyTop[k]!) * g) * (1 - w) + cloud[k]! * w;
        } else if (wy < hz) {
          mask[i] = BUILDING;
          const bx = wxH - b!.x0, by = hz - wy;
          const win = b!.win, fx = (bx % win) / win, fy = (by % win) / win;
          const inWin = fx > 0.35 && fx < 0.75 && fy > 0.3 && fy < 0.75 && by < b!.top - win * 0.3;
          if (inWin) put(i, hash(Math.floor(bx / win), Math.floor(by / win), vseed + Math.floor(b!.x0)) > 0.8 ? lit : glass);
          else put(i, wall, b!.shade * (0.9 + 0.2 * hash(Math.floor(wxH * 2), Math.floor(wy), vseed)));
        } else {
          let k = 0;
          while (wy >= bottoms[k]!) k++;
          const cls = bands[k]!.cls;
          mask[i] = cls;
          const grain = hash(Math.floor(wx), Math.floor(wy), vseed + 11);
          if (cls === GRASS) {
            const blade = 0.9 + 0.2 * hash(Math.floor(wx * 0.7), 0, vseed + 12);
            put(i, grass, (0.7 + 0.5 * grain) * (0.8 + 0.35 * vnoise(wx / (6 * S), wy / (6 * S), vseed + 13)) * blade);
          } else if (cls === ROAD) {
            const topY = k === 0 ? hz : bottoms[k - 1]!, mid = (topY + bottoms[k]!) / 2;
            const dash = Math.abs(wy - mid) < 0.8 * S && ((wx / (14 * S)) % 1 + 1) % 1 < 0.5;
            if (dash) put(i, lane);
            else put(i, road, 0.88 + 0.24 * grain);
          } else {
            const r = Math.sin(wy * 1.7 / S + 1.5 * Math.sin(wx * 0.15 / S + t * 0.25) + t * 0.6);
            if (r > 0.93 && grain > 0.6) put(i, glint);
            else put(i, water, 0.85 + 0.15 * r);
          }
        }
      }
    }
    // Things, far to near (the lower the feet, the nearer).
    const placed = things.map((th) => ({
      th,
      sx: (th.x + th.vx * t - camX - W / 2) * zoom + W / 2,
      sy: (th.y + th.vy * t - th.lift(t) * th.size - H / 2 - camY) * zoom + H / 2,
      s: th.size * Math.exp(th.grow * t) * zoom,
      depth: th.cls === IGNORE ? Infinity : th.y,
    }));
    placed.sort((a, b) => a.depth - b.depth);
    for (const { th, sx, sy, s } of placed) {
      const x0 = Math.max(0, Math.floor(sx + th.u0 * s)), x1 = Math.min(W - 1, Math.ceil(sx + th.u1 * s));
      const y0 = Math.max(0, Math.floor(sy + th.v0 * s)), y1 = Math.min(H - 1, Math.ceil(sy));
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          const c = th.paint((x + 0.5 - sx) / s, (y + 0.5 - sy) / s, t);
          if (!c) continue;
          mask[y * W + x] = th.cls;
          put(y * W + x, c);
        }
      }
    }
    frames.push(develop(col, W, H, { gain: gain * (1 + flicker * Math.sin(t * 0.9)), cast, lightA, lightK, noise, blur, seed: mixSeed(vseed, t) }));
    masks.push(mask);
  }
  return { name: videoName(index), frames, masks };
}

export interface Sensor {
  gain: number;
  cast: number[];
  lightA: number;
  lightK: number;
  noise: number;
  blur: number;
  seed: number;
}

/** Lighting (gain, colour cast, a light gradient), optional blur (0 none, 1 box 3×3, 2 horizontal), noise, 8-bit. */
export function develop(col: Float32Array, W: number, H: number, p: Sensor): Frame {
  let lit: Float32Array = new Float32Array(col.length);
  const dx = Math.cos(p.lightA) * p.lightK, dy = Math.sin(p.lightA) * p.lightK;
  const [c0, c1, c2] = p.cast as [number, number, number];
  for (let y = 0, i = 0; y < H; y++) {
    for (let x = 0; x < W; x++, i += 3) {
      const l = p.gain * (1 + dx * (x / W - 0.5) + dy * (y / H - 0.5)) * 255;
      lit[i] = col[i]! * l * c0;
      lit[i + 1] = col[i + 1]! * l * c1;
      lit[i + 2] = col[i + 2]! * l * c2;
    }
  }
  if (p.blur > 0) lit = blur3(lit, W, H, 1);
  if (p.blur === 1) lit = blur3(lit, W, H, W);
  // Noise: a luminance part shared by the channels and a colour part, each a triangular variate
  // (the sum of two 16-bit uniforms, scaled to sd 1) from one hash per sample.
  // Uint8ClampedArray stores clamp to 0..255 and round: the quantisation, done natively.
  const out = new Uint8ClampedArray(col.length);
  const seed = p.seed | 0, sl = p.noise * 0.8 * 2.449 / 65536, sc = p.noise * 0.5 * 2.449 / 65536;
  for (let i = 0; i < W * H; i++) {
    let h = ihash(i, 3, seed);
    const lum = ((h & 0xffff) + (h >>> 16) - 65536) * sl;
    for (let k = 0; k < 3; k++) {
      h = ihash(i, k, seed);
      out[3 * i + k] = lit[3 * i + k]! + lum + ((h & 0xffff) + (h >>> 16) - 65536) * sc;
    }
  }
  return { width: W, height: H, rgb: new Uint8Array(out.buffer) };
}

/** 3-tap box blur of an RGB image along x (step 1) or y (step W), edges clamped. */
function blur3(src: Float32Array, W: number, H: number, step: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = y * W + x;
      const first = step === 1 ? x === 0 : y === 0, last = step === 1 ? x === W - 1 : y === H - 1;
      const a = 3 * (first ? p : p - step), b = 3 * (last ? p : p + step);
      for (let k = 0; k < 3; k++) out[3 * p + k] = (src[a + k]! + src[3 * p + k]! + src[b + k]!) / 3;
    }
  }
  return out;
}
