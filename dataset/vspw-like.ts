/**
 * A data set laid out and valued exactly as VSPW ships it, for testing what real VSPW data asks of
 * every command: the embedded set's street scenes (dataset/synth.ts) rendered at several frame sizes
 * (VSPW's 480p release mixes sizes between videos, e.g. 854×480), masks holding VSPW's own values
 * (class + 1; 0 "others" where the scene has unlabelled specks; 255 void on a 2-pixel frame border),
 * and no dataset.json or classes.json: readers assume VSPW's mapping of 124 classes, of which these
 * scenes use the first 10.
 *
 * Layout: data/<video>/origin/<frame>.jpg, data/<video>/mask/<frame>.png (palette PNG), train.txt,
 * val.txt (the last `valVideos` videos). Video i has size sizes[i mod sizes.length]. Pure (no file
 * access): synth-write.ts writes it.
 */
import { IGNORE } from './labels.ts';
import { checkSplit, splitFiles, synthVideo, videoFiles, type SynthFile } from './synth.ts';

export interface VspwLikeOptions {
  seed: number;
  videos: number;
  frames: number;
  /** Frame sizes [width, height], cycled over the videos. */
  sizes: [number, number][];
  valVideos: number;
}

export const VSPW_LIKE_DEFAULTS: VspwLikeOptions = {
  seed: 0,
  videos: 6,
  frames: 3,
  sizes: [
    [854, 480],
    [250, 190],
    [320, 240],
  ],
  valVideos: 3,
};

/** VSPW's value for a pixel of class id `c` (or IGNORE: an unlabelled speck, VSPW's "others" = 0). */
const vspwValue = (c: number) => (c === IGNORE ? 0 : c + 1);
const VOID = 255;
const BORDER = 2;

export function* vspwLikeFiles(options: Partial<VspwLikeOptions> = {}): Generator<SynthFile> {
  const o = { ...VSPW_LIKE_DEFAULTS, ...options };
  checkSplit('vspw-like', o.videos, o.valVideos);
  if (!(Number.isInteger(o.frames) && o.frames >= 1)) throw new Error(`vspw-like: frames must be a positive integer, got ${o.frames}`);
  if (!o.sizes.length || o.sizes.some(([w, h]) => !(Number.isInteger(w) && Number.isInteger(h) && w >= 16 && h >= 16))) {
    throw new Error(`vspw-like: sizes must be [width, height] pairs of at least 16, got ${JSON.stringify(o.sizes)}`);
  }
  yield* splitFiles(o.videos, o.valVideos);
  for (let i = 0; i < o.videos; i++) {
    const [w, h] = o.sizes[i % o.sizes.length]!;
    const v = synthVideo(o.seed, i, o.frames, w, h);
    const masks = v.masks.map((m) => {
      const values = m.map(vspwValue);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) if (y < BORDER || x < BORDER || y >= h - BORDER || x >= w - BORDER) values[y * w + x] = VOID;
      }
      return values;
    });
    yield* videoFiles(v.name, v.frames, masks);
  }
}
