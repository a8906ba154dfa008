// Training batches: which frames a step draws and how they are augmented, on the engine.
//
// Every draw takes the step's rng, so a step's data depend only on (seed, step) and a resumed run sees
// what an uninterrupted one would. Frames that must share a geometry (the frames of a clip, the two
// frames of an IFR pair) are augmented with one seed each, so they get the same crop and flip.
//
// Labeled frames get the whole augmentation (geometry, colour jitter, blur). Frames for the teacher
// (U2PL's weak view, MVC's clips, IFR's pairs) get the geometry only, as in the methods' code: U2PL's
// weak view has no photometric change, MIC's teacher sees the clean image, IFR's references are clean.
// The students' strong views add the photometric part themselves (train/semi.ts).
import { tidy, type Tensor } from '../engine/index.ts';
import type { LabelMap } from '../dataset/labels.ts';
import type { Sample, VideoDataset } from '../dataset/reader.ts';
import { makeRng, type Rng } from '../dataset/rng.ts';
import type { FrameRef, VideoFrames } from '../dataset/splits.ts';
import { frameTensor } from '../models/input.ts';
import { augment, labelTensor, stackBatch, type AugmentOptions } from './images.ts';

export interface LabeledBatch {
  images: Tensor;
  /** [B, H, W] i32, IGNORE where unlabeled. */
  labels: Tensor;
  refs: FrameRef[];
  /** Each frame's augmentation seed (to give a partner frame the same geometry). */
  seeds: number[];
}

/** IFR's frames: the reference of the labeled pair, then the unlabeled pair (target, reference). */
export interface IfrFrames {
  images: Tensor;
}

/** The most bytes of decoded frames and labels Batches keeps. */
export const CACHE_BYTES = 2 * 2 ** 30;
const sampleBytes = (s: Sample) => s.frame.rgb.byteLength + s.labels.labels.byteLength + s.raw.values.byteLength;

export class Batches {
  private readonly cache = new Map<string, Sample>();
  private cachedBytes = 0;
  /** Bytes of decoded samples kept (CACHE_BYTES; tests lower it). */
  cacheLimit = CACHE_BYTES;
  /** Samples and bytes in the cache now. */
  get cached(): { samples: number; bytes: number } {
    return { samples: this.cache.size, bytes: this.cachedBytes };
  }
  private readonly videos: Map<string, VideoFrames>;
  /** The geometric part of `aug` alone: the teacher's views. */
  private readonly geometric: AugmentOptions;
  /** Frames with ground truth, and frames with pseudo-labels (a retraining round), drawn in turn. */
  private readonly truth: FrameRef[];
  private readonly pseudo: FrameRef[];

  constructor(
    private readonly ds: VideoDataset,
    labeled: FrameRef[],
    readonly unlabeled: FrameRef[],
    private readonly aug: AugmentOptions,
    /** Labels of frames without ground truth (pseudo-labels of a retraining round). */
    private readonly extraLabels: Map<string, () => LabelMap> = new Map(),
  ) {
    this.videos = new Map(ds.videoFrames('train').map((v) => [v.video, v]));
    // p = 0 still draws the same numbers from the rng: a step's draws do not depend on this.
    this.geometric = { ...aug, jitter: { ...aug.jitter, p: 0 }, blurP: 0 };
    const isPseudo = (r: FrameRef) => extraLabels.has(`${r.video}/${r.frame}`);
    this.truth = labeled.filter((r) => !isPseudo(r));
    this.pseudo = labeled.filter(isPseudo);
  }

  /**
   * Decoded frames are cached, least recently used first out past CACHE_BYTES: the embedded set fits
   * whole (~0.5 GB decoded), VSPW's 250k frames of 480p (~700 GB) do not.
   */
  private sample(r: FrameRef): Sample {
    const key = `${r.video}/${r.frame}`;
    let s = this.cache.get(key);
    if (s) {
      this.cache.delete(key); // re-inserted below: Map order is recency order
    } else {
      const extra = this.extraLabels.get(key);
      if (extra) {
        const frame = this.ds.readFrame(r.video, r.frame);
        const labels = extra();
        s = { frame, labels, raw: { width: labels.width, height: labels.height, values: new Uint8Array(0) } };
      } else s = this.ds.readSample(r.video, r.frame);
      this.cachedBytes += sampleBytes(s);
      for (const [k, old] of this.cache) {
        if (this.cachedBytes <= this.cacheLimit) break;
        this.cache.delete(k);
        this.cachedBytes -= sampleBytes(old);
      }
    }
    this.cache.set(key, s);
    return s;
  }

  /** A frame with the geometric augmentation of `seed` (no colour jitter or blur). */
  private image(r: FrameRef, seed: number): Tensor {
    const s = this.sample(r);
    return tidy(() => augment(frameTensor(s.frame), undefined, makeRng(seed), this.geometric).image);
  }

  /**
   * `n` labeled frames, augmented. With pseudo-labelled frames (a retraining round), every other one
   * is pseudo-labelled and the rest have ground truth, however many more pseudo-labelled frames there are.
   */
  labeledBatch(n: number, rng: Rng): LabeledBatch {
    const refs = Array.from({ length: n }, (_, i) => rng.pick(this.pseudo.length && i % 2 ? this.pseudo : this.truth));
    const seeds = refs.map(() => rng.int(2 ** 31));
    const parts = refs.map((r, i) => {
      const s = this.sample(r);
      return tidy(() => augment(frameTensor(s.frame), labelTensor(s.labels), makeRng(seeds[i]!), this.aug));
    });
    const b = stackBatch(
      parts.map((p) => p.image),
      parts.map((p) => p.labels!),
    );
    return { images: b.images, labels: b.labels!, refs, seeds };
  }

  /** `n` unlabeled frames, geometric augmentation only (U2PL's weak view). */
  unlabeledBatch(n: number, rng: Rng): Tensor {
    const imgs = Array.from({ length: n }, () => this.image(rng.pick(this.unlabeled), rng.int(2 ** 31)));
    return stackBatch(imgs, undefined).images;
  }

  /** `n` clips of `t` consecutive frames of training videos, [n·t, 3, H, W], one geometry per clip, no photometric change. */
  clips(n: number, t: number, rng: Rng): Tensor {
    const long = [...this.videos.values()].filter((v) => v.frames.length >= t);
    const imgs: Tensor[] = [];
    for (let i = 0; i < n; i++) {
      const v = rng.pick(long);
      const start = rng.int(v.frames.length - t + 1);
      const seed = rng.int(2 ** 31);
      for (let j = 0; j < t; j++) imgs.push(this.image({ video: v.video, frame: v.frames[start + j]!, index: start + j }, seed));
    }
    return stackBatch(imgs, undefined).images;
  }

  /**
   * Another frame of r's video, any of them (r itself in a one-frame video): IFR pairs a frame with a
   * random other frame of its clip (docs/METHODS.md §2), so the pair may be far apart, which is IFR's point
   * against fitting one video's appearance; neighbours alone would be near-duplicates.
   */
  private partner(r: FrameRef, rng: Rng): FrameRef {
    const frames = this.videos.get(r.video)!.frames;
    if (frames.length === 1) return r;
    let i = rng.int(frames.length - 1);
    if (i >= r.index) i++; // skip r itself: length − 1 other frames to choose from
    return { video: r.video, frame: frames[i]!, index: i };
  }

  /**
   * IFR's extra frames [3, 3, H, W]: the reference for `target` (a labeled frame already in the batch,
   * augmented with `targetSeed`), then an unlabeled target and its reference.
   */
  ifrFrames(target: FrameRef, targetSeed: number, rng: Rng): IfrFrames {
    const refL = this.image(this.partner(target, rng), targetSeed);
    const u = rng.pick(this.unlabeled);
    const seed = rng.int(2 ** 31);
    const tU = this.image(u, seed);
    const rU = this.image(this.partner(u, rng), seed);
    return { images: stackBatch([refL, tU, rU], undefined).images };
  }
}
