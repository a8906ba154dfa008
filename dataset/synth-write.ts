// Writing the synthetic data set (dataset/synth.ts) to disk, and the command line of synth-cli.ts (Node only).

import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AERIAL_DEFAULTS, aerialFiles, type AerialOptions } from './aerial.ts';
import { SHAPES_DEFAULTS, shapesFiles, type ShapesOptions } from './shapes.ts';
import { EMBEDDED, SYNTH_DEFAULTS, synthFiles, type SynthFile, type SynthOptions } from './synth.ts';
import { VSPW_LIKE_DEFAULTS, vspwLikeFiles, type VspwLikeOptions } from './vspw-like.ts';

/** Writes every file of the set under outDir (overwriting files of the same names); returns how many. */
export function writeSynth(outDir: string, options: Partial<SynthOptions> = {}): number {
  return writeFiles(outDir, synthFiles(options));
}

/**
 * writeSynth into a temporary sibling of `dir`, renamed to `dir` when complete: an interrupted run leaves
 * no half-written set where the next run would take it for a whole one. Returns how many files.
 */
export function writeSynthWhole(dir: string, options: Partial<SynthOptions>): number {
  const tmp = `${dir}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const n = writeSynth(tmp, options);
  renameSync(tmp, dir);
  return n;
}

/** Writes the shapes world (dataset/shapes.ts) under outDir; returns how many files. */
export function writeShapes(outDir: string, options: Partial<ShapesOptions> = {}): number {
  return writeFiles(outDir, shapesFiles(options));
}

/** Writes the aerial world (dataset/aerial.ts) under outDir; returns how many files. */
export function writeAerial(outDir: string, options: Partial<AerialOptions> = {}): number {
  return writeFiles(outDir, aerialFiles(options));
}

/** Writes a VSPW-like set (dataset/vspw-like.ts: VSPW's values and layout, frames of several sizes) under outDir. */
export function writeVspwLike(outDir: string, options: Partial<VspwLikeOptions> = {}): number {
  return writeFiles(outDir, vspwLikeFiles(options));
}

function writeFiles(outDir: string, files: Iterable<SynthFile>): number {
  let n = 0;
  const made = new Set<string>();
  for (const f of files) {
    const file = path.join(outDir, ...f.path.split('/'));
    const dir = path.dirname(file);
    if (!made.has(dir)) mkdirSync(dir, { recursive: true });
    made.add(dir);
    writeFileSync(file, f.bytes);
    n++;
  }
  return n;
}

export const SYNTH_USAGE =
  'usage: synth-cli --out DIR [--seed S] [--videos N] [--frames F|MIN-MAX] [--size WxH] [--val V] [--extra N] [--extra-frames F|MIN-MAX]\n' +
  `  (no options but --out: the embedded set, 40 videos + ${EMBEDDED.extraVideos} short training videos)\n` +
  `       synth-cli --world shapes --out DIR [--seed S] [--videos N] [--frames F] [--size WxH] [--val V]\n` +
  `  (the shapes world, dataset/shapes.ts: ${SHAPES_DEFAULTS.videos} videos of ${SHAPES_DEFAULTS.frames} frames at ${SHAPES_DEFAULTS.width}x${SHAPES_DEFAULTS.height}, ${SHAPES_DEFAULTS.valVideos} of them val)\n` +
  `       synth-cli --world aerial --out DIR [--seed S] [--videos N] [--frames F|MIN-MAX] [--size WxH] [--val V] [--extra N] [--extra-frames F|MIN-MAX]\n` +
  `  (countryside seen from a drone, dataset/aerial.ts: by default shaped as the embedded set, ${AERIAL_DEFAULTS.videos} videos + ${AERIAL_DEFAULTS.extraVideos} short ones, ${AERIAL_DEFAULTS.valVideos} val)\n` +
  `       synth-cli --world vspw --out DIR [--seed S] [--videos N] [--frames F] [--sizes WxH,WxH,...] [--val V]\n` +
  `  (street scenes in VSPW's values and layout, no dataset.json, dataset/vspw-like.ts: ${VSPW_LIKE_DEFAULTS.videos} videos of ${VSPW_LIKE_DEFAULTS.frames} frames, sizes ${VSPW_LIKE_DEFAULTS.sizes.map(([w, h]) => `${w}x${h}`).join(',')})`;

/** Parses the command line into synth options and the output folder; throws with the usage line on bad input. */
export function parseSynthArgs(argv: string[]): {
  out: string;
  options: Partial<SynthOptions>;
  shapes?: Partial<ShapesOptions>;
  aerial?: Partial<AerialOptions>;
  vspw?: Partial<VspwLikeOptions>;
} {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      seed: { type: 'string' },
      videos: { type: 'string' },
      frames: { type: 'string' },
      size: { type: 'string' },
      val: { type: 'string' },
      extra: { type: 'string' },
      'extra-frames': { type: 'string' },
      world: { type: 'string' },
      sizes: { type: 'string' },
    },
  });
  if (values.world !== undefined && !['street', 'shapes', 'aerial', 'vspw'].includes(values.world)) throw new Error(`--world must be street (the embedded set's), shapes, aerial or vspw, got "${values.world}"\n${SYNTH_USAGE}`);
  if (values.sizes !== undefined && values.world !== 'vspw') throw new Error(`--sizes is an option of --world vspw\n${SYNTH_USAGE}`);
  if (!values.out) throw new Error(`--out is required\n${SYNTH_USAGE}`);
  const int = (name: string, s: string) => {
    if (!/^\d+$/.test(s)) throw new Error(`--${name} must be a non-negative integer, got "${s}"\n${SYNTH_USAGE}`);
    return Number(s);
  };
  const options: Partial<SynthOptions> = { extraVideos: EMBEDDED.extraVideos!, extraFrames: EMBEDDED.extraFrames! };
  if (values.seed !== undefined) options.seed = int('seed', values.seed);
  if (values.videos !== undefined) options.videos = int('videos', values.videos);
  if (values.val !== undefined) options.valVideos = int('val', values.val);
  if (values.extra !== undefined) options.extraVideos = int('extra', values.extra);
  const frames = (name: string, s: string): number | [number, number] => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(s);
    if (!m) throw new Error(`--${name} must be F or MIN-MAX, got "${s}"\n${SYNTH_USAGE}`);
    return m[2] ? [Number(m[1]), Number(m[2])] : Number(m[1]);
  };
  if (values.frames !== undefined) options.frames = frames('frames', values.frames);
  if (values['extra-frames'] !== undefined) options.extraFrames = frames('extra-frames', values['extra-frames']);
  if (values.size !== undefined) {
    const m = /^(\d+)x(\d+)$/.exec(values.size);
    if (!m) throw new Error(`--size must be WxH, e.g. ${SYNTH_DEFAULTS.width}x${SYNTH_DEFAULTS.height}, got "${values.size}"\n${SYNTH_USAGE}`);
    options.width = Number(m[1]);
    options.height = Number(m[2]);
  }
  if (values.world === 'vspw') {
    if (values.extra !== undefined || values['extra-frames'] !== undefined || values.size !== undefined) throw new Error(`--extra, --extra-frames and --size are not options of the vspw world (it has --sizes)\n${SYNTH_USAGE}`);
    if (Array.isArray(options.frames)) throw new Error(`--frames of the vspw world is one number\n${SYNTH_USAGE}`);
    const sizes = values.sizes?.split(',').map((t) => {
      const m = /^(\d+)x(\d+)$/.exec(t.trim());
      if (!m) throw new Error(`--sizes must be WxH,WxH,..., got "${values.sizes}"\n${SYNTH_USAGE}`);
      return [Number(m[1]), Number(m[2])] as [number, number];
    });
    const { seed, videos, valVideos, frames } = options;
    return { out: values.out, options, vspw: given<VspwLikeOptions>({ seed, videos, valVideos, frames, sizes }) };
  }
  if (values.world === 'shapes') {
    if (values.extra !== undefined || values['extra-frames'] !== undefined) throw new Error(`--extra and --extra-frames are options of the street world\n${SYNTH_USAGE}`);
    if (Array.isArray(options.frames)) throw new Error(`--frames of the shapes world is one number\n${SYNTH_USAGE}`);
    const { seed, videos, valVideos, frames, width, height } = options;
    return { out: values.out, options, shapes: given<ShapesOptions>({ seed, videos, valVideos, frames, width, height }) };
  }
  if (values.world === 'aerial') {
    const { seed, videos, valVideos, frames, width, height } = options;
    const extraVideos = values.extra !== undefined ? options.extraVideos : undefined;
    const extraFrames = values['extra-frames'] !== undefined ? options.extraFrames : undefined;
    return { out: values.out, options, aerial: given<AerialOptions>({ seed, videos, valVideos, frames, width, height, extraVideos, extraFrames }) };
  }
  return { out: values.out, options };
}

/** The options of another world that the command line gave (its own defaults fill the rest). */
function given<T>(o: Record<string, unknown>): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
