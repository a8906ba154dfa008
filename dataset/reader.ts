// Reader for video segmentation data sets in VSPW's layout (Node only: it reads files).
//
//   ROOT/data/<video>/origin/<frame>.jpg|.jpeg|.png   frames, in sorted name order (other files are skipped)
//   ROOT/data/<video>/mask/<frame>.png                masks: palette PNG (index = value) or 8-bit grayscale
//   ROOT/<split>.txt                                  train.txt, val.txt, ...: one video name a line
//   ROOT/dataset.json   optional  { "labels": "vspw" | "identity", "numClasses": C, "ignore": 255 }
//   ROOT/classes.json   optional  ["name of class 0", ...]: C names
//
// Without dataset.json the mapping is VSPW's own (124 classes); a caller can override it. Labels come
// back mapped (dataset/labels.ts): class ids 0..C-1 and IGNORE = 255. A frame may lack a mask (unlabelled
// data); hasMask tells. Every bad-data error names the file it is about.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { readRegularFile } from '../engine/checkpoint-node.ts';
import { decodeFrame, decodeMask, type Frame, type RawMask } from './image.ts';
import { labelMapping, mapMask, VSPW_SPEC, type LabelMap, type LabelMapping, type LabelSpec } from './labels.ts';
import type { FrameRef, VideoFrames } from './splits.ts';

export interface Sample {
  frame: Frame;
  labels: LabelMap;
  /** The mask's own values (VC compares these). */
  raw: RawMask;
}

export interface DatasetOptions {
  /** Replaces ROOT/dataset.json's declaration (or VSPW's default when there is none). */
  labels?: LabelSpec;
}

const FRAME_EXT = /\.(jpe?g|png)$/i;

export class VideoDataset {
  readonly mapping: LabelMapping;
  readonly classNames: string[];
  private readonly frameLists = new Map<string, string[]>();
  private readonly frameFiles = new Map<string, string>();

  /** Nothing declared the labels (no dataset.json, no override): VSPW's mapping of 124 classes was assumed. */
  readonly assumedVspw: boolean;

  private constructor(readonly root: string, opts: DatasetOptions) {
    if (!isDir(path.join(root, 'data'))) throw new Error(`${root}: not a data set in VSPW's layout (no data/ folder)`);
    this.mapping = opts.labels ? labelMapping(opts.labels, 'labels option') : readSpec(root);
    this.assumedVspw = !opts.labels && !existsSync(path.join(root, 'dataset.json'));
    this.classNames = readClassNames(root, this.mapping.numClasses, this.assumedVspw);
  }

  /** A line for logs that says how mask values were read, when nothing declared it. */
  get assumption(): string | undefined {
    return this.assumedVspw
      ? `${this.root}: no dataset.json, so VSPW's label mapping is assumed (124 classes, mask value = class + 1, 0 and 255 ignored); for other data write ${path.join(this.root, 'dataset.json')}, e.g. {"labels": "identity", "numClasses": 10, "ignore": 255}`
      : undefined;
  }

  static open(root: string, opts: DatasetOptions = {}): VideoDataset {
    return new VideoDataset(root, opts);
  }

  get numClasses(): number {
    return this.mapping.numClasses;
  }

  /** The videos listed in ROOT/<name>.txt, in file order; each must exist and the list must not be empty. */
  split(name: string): string[] {
    const file = path.join(this.root, `${name}.txt`);
    if (!existsSync(file)) throw new Error(`${file}: no such split file`);
    const videos: string[] = [];
    readFileSync(file, 'utf8')
      .split(/\r?\n/)
      .forEach((line, i) => {
        const v = line.trim();
        if (!v) return;
        if (!isDir(this.videoDir(v, 'origin')))
          throw new Error(`${file}: video "${v}" (line ${i + 1}) does not exist: no folder ${this.videoDir(v, 'origin')}`);
        if (videos.includes(v)) throw new Error(`${file}: video "${v}" is listed twice (line ${i + 1})`);
        videos.push(v);
      });
    if (videos.length === 0) throw new Error(`${file}: the split is empty`);
    return videos;
  }

  /** The frame lists of a split's videos: the input of the semi-supervised splits and the clip sampler. */
  videoFrames(split: string): VideoFrames[] {
    return this.split(split).map((video) => ({ video, frames: this.frames(video) }));
  }

  /** Throws, naming the file, unless every frame given (e.g. a split's labelled ones) has a mask. */
  checkMasks(refs: FrameRef[]): void {
    for (const { video, frame } of refs) {
      if (!this.hasMask(video, frame)) throw new Error(`${this.maskPath(video, frame)}: labelled frame has no mask`);
    }
  }

  /** Frame names (file names without extension) of a video, sorted. */
  frames(video: string): string[] {
    const cached = this.frameLists.get(video);
    if (cached) return cached;
    const dir = this.videoDir(video, 'origin');
    if (!isDir(dir)) throw new Error(`${dir}: no such video folder`);
    const names: string[] = [];
    for (const f of readdirSync(dir).sort()) {
      if (!FRAME_EXT.test(f)) continue;
      const stem = f.replace(FRAME_EXT, '');
      const key = `${video}/${stem}`;
      if (this.frameFiles.has(key)) throw new Error(`${dir}: frame "${stem}" has two files (${this.frameFiles.get(key)}, ${f})`);
      this.frameFiles.set(key, f);
      names.push(stem);
    }
    if (names.length === 0) throw new Error(`${dir}: video has no .jpg or .png frames`);
    names.sort();
    this.frameLists.set(video, names);
    return names;
  }

  framePath(video: string, frame: string): string {
    this.frames(video);
    const f = this.frameFiles.get(`${video}/${frame}`);
    if (!f) throw new Error(`${this.videoDir(video, 'origin')}: no frame "${frame}"`);
    return path.join(this.videoDir(video, 'origin'), f);
  }

  maskPath(video: string, frame: string): string {
    return path.join(this.videoDir(video, 'mask'), `${frame}.png`);
  }

  hasMask(video: string, frame: string): boolean {
    return existsSync(this.maskPath(video, frame));
  }

  readFrame(video: string, frame: string): Frame {
    const file = this.framePath(video, frame);
    return decodeFrame(readRegularFile(file), file);
  }

  /** The mask's own values, before mapping (VC compares these, as the VSPW devkit does). */
  readRawMask(video: string, frame: string): RawMask {
    const file = this.maskPath(video, frame);
    return decodeMask(readRegularFile(file), file);
  }

  /** Mapped labels; throws on a value the declaration does not allow, naming the file and the pixel. */
  readLabels(video: string, frame: string): LabelMap {
    return mapMask(this.readRawMask(video, frame), this.mapping, this.maskPath(video, frame));
  }

  /** A frame with its labels and raw mask (read once); throws if their sizes differ. */
  readSample(video: string, frame: string): Sample {
    const f = this.readFrame(video, frame);
    const raw = this.readRawMask(video, frame);
    const labels = mapMask(raw, this.mapping, this.maskPath(video, frame));
    if (labels.width !== f.width || labels.height !== f.height)
      throw new Error(
        `${this.maskPath(video, frame)}: mask is ${labels.width}×${labels.height} but its frame ` +
          `${this.framePath(video, frame)} is ${f.width}×${f.height}`,
      );
    return { frame: f, labels, raw };
  }

  private videoDir(video: string, kind: 'origin' | 'mask'): string {
    return path.join(this.root, 'data', video, kind);
  }
}

function readSpec(root: string): LabelMapping {
  const file = path.join(root, 'dataset.json');
  if (!existsSync(file)) return labelMapping(VSPW_SPEC, 'default (VSPW) labels');
  const json = readJson(file);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${file}: must hold a JSON object`);
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['labels', 'numClasses', 'ignore'].includes(k)) throw new Error(`${file}: unknown field "${k}" (allowed: labels, numClasses, ignore)`);
  }
  if (o.labels !== 'vspw' && o.labels !== 'identity') throw new Error(`${file}: "labels" must be "vspw" or "identity", got ${JSON.stringify(o.labels)}`);
  if (o.labels === 'identity' && o.numClasses === undefined) throw new Error(`${file}: identity labels need "numClasses"`);
  for (const k of ['numClasses', 'ignore'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'number') throw new Error(`${file}: "${k}" must be a number, got ${JSON.stringify(o[k])}`);
  }
  const spec: LabelSpec = { labels: o.labels, numClasses: (o.numClasses as number | undefined) ?? VSPW_SPEC.numClasses };
  if (o.ignore !== undefined) spec.ignore = o.ignore as number;
  return labelMapping(spec, file);
}

/** `assumedVspw`: nothing declared the labels, so VSPW's mapping was taken (the error then says so). */
function readClassNames(root: string, numClasses: number, assumedVspw: boolean): string[] {
  const file = path.join(root, 'classes.json');
  if (!existsSync(file)) return Array.from({ length: numClasses }, (_, i) => `class ${i}`);
  const names = readJson(file);
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string'))
    throw new Error(`${file}: must hold a JSON array of class names (strings)`);
  if (names.length !== numClasses) {
    const why = assumedVspw
      ? `: without a dataset.json, VSPW's label mapping is assumed (124 classes, mask value = class + 1, 0 and 255 ignored); for other data write ${path.join(root, 'dataset.json')}, e.g. {"labels": "identity", "numClasses": ${names.length}, "ignore": 255}`
      : '';
    throw new Error(`${file}: ${names.length} class names for ${numClasses} declared classes${why}`);
  }
  return names as string[];
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}
