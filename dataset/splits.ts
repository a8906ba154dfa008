// Semi-supervised splits of a training set and the clip sampler for the video losses.
//
// Pure functions of the frame lists (no file access), deterministic for a seed:
//   labeledEvery(videos, k)            frames with index % k == 0 are labelled, in every video
//   labeledVideos(videos, f, seed)     round(f·N) videos (at least one), chosen by seed, are labelled whole
// Everything not labelled is returned as unlabelled, so the two lists partition the input.
// ClipSampler draws T frames of one video, `stride` apart, uniformly over all such clips.

import { makeRng, type Rng } from './rng.ts';

export interface VideoFrames {
  video: string;
  /** Frame names in temporal (sorted) order. */
  frames: string[];
}

export interface FrameRef {
  video: string;
  frame: string;
  /** Position of the frame in its video. */
  index: number;
}

export interface SemiSplit {
  labeled: FrameRef[];
  unlabeled: FrameRef[];
}

export function labeledEvery(videos: VideoFrames[], k: number): SemiSplit {
  if (!Number.isInteger(k) || k < 1) throw new Error(`labeledEvery: k must be a positive integer, got ${k}`);
  return partition(videos, (_, i) => i % k === 0);
}

export function labeledVideos(videos: VideoFrames[], fraction: number, seed: number): SemiSplit {
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`labeledVideos: fraction must be in (0, 1], got ${fraction}`);
  if (videos.length === 0) throw new Error('labeledVideos: no videos');
  const count = Math.max(1, Math.round(fraction * videos.length));
  const chosen = new Set(makeRng(seed).shuffle(videos.map((v) => v.video)).slice(0, count));
  return partition(videos, (v) => chosen.has(v));
}

function partition(videos: VideoFrames[], isLabeled: (video: string, index: number) => boolean): SemiSplit {
  const out: SemiSplit = { labeled: [], unlabeled: [] };
  for (const { video, frames } of videos) {
    frames.forEach((frame, index) => (isLabeled(video, index) ? out.labeled : out.unlabeled).push({ video, frame, index }));
  }
  return out;
}

export interface ClipOptions {
  /** Frames per clip, T ≥ 1. */
  length: number;
  /** Distance between consecutive clip frames in the video (default 1: consecutive frames). */
  stride?: number;
  seed: number;
}

export interface Clip {
  video: string;
  frames: string[];
  indices: number[];
}

export class ClipSampler {
  /** Number of distinct clips (video, start) to draw from. */
  readonly count: number;
  private readonly rng: Rng;
  private readonly span: number;
  private readonly stride: number;
  private readonly videos: VideoFrames[];
  private readonly starts: number[]; // cumulative clip counts, one per eligible video

  constructor(videos: VideoFrames[], opts: ClipOptions) {
    const { length } = opts;
    this.stride = opts.stride ?? 1;
    if (!Number.isInteger(length) || length < 1) throw new Error(`ClipSampler: length must be a positive integer, got ${length}`);
    if (!Number.isInteger(this.stride) || this.stride < 1) throw new Error(`ClipSampler: stride must be a positive integer, got ${this.stride}`);
    this.span = (length - 1) * this.stride + 1;
    this.videos = videos.filter((v) => v.frames.length >= this.span);
    if (this.videos.length === 0)
      throw new Error(`ClipSampler: no video has the ${this.span} frames a clip of ${length} with stride ${this.stride} needs (longest: ${Math.max(0, ...videos.map((v) => v.frames.length))})`);
    let total = 0;
    this.starts = this.videos.map((v) => (total += v.frames.length - this.span + 1));
    this.count = total;
    this.rng = makeRng(opts.seed);
  }

  /** The next clip; every (video, start) pair is equally likely, so longer videos give more clips. */
  next(): Clip {
    const r = this.rng.int(this.count);
    const vi = this.starts.findIndex((end) => r < end);
    const v = this.videos[vi]!;
    const start = r - (vi > 0 ? this.starts[vi - 1]! : 0);
    const indices = Array.from({ length: (this.span - 1) / this.stride + 1 }, (_, t) => start + t * this.stride);
    return { video: v.video, indices, frames: indices.map((i) => v.frames[i]!) };
  }
}
