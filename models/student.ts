// The segmentation student: a small ViT encoder with a convolutional decoder.
//
//   image [B,3,H,W] ──conv s2, conv s2──▶ stem features [B,S,H/4,W/4] ───────────────┐ (skip: detail)
//        └──patch conv (k = stride = P)──▶ tokens [B,N,C] + position embedding       │
//             └──N pre-norm transformer blocks, each frame on its own                │
//             └──[temporal] 1 block over clips [B/T,T·N,C] (+ frame embedding)       │
//             └──LN ──▶ map [B,C,H/P,W/P]                                            │
//                  └──1×1 conv, bilinear up to H/4──▶ concat ◀───────────────────────┘
//                       └──3×3 conv, ReLU, 3×3 conv, ReLU──▶ decoder features F [B,D,H/4,W/4]
//                            ├──1×1 classifier──▶ class scores [B,K,H/4,W/4] (logitsLow)
//                            └──representation head (3×3 conv, ReLU, 1×1)──▶ [B,R,H/4,W/4]
//
// The position embedding is learned on the training grid and resized bilinearly when the input size
// changes (multi-scale inference). The representation head feeds U2PL's contrastive loss; F feeds
// IFR's prototypes. Sizes come from StudentConfig; the default trains in minutes on lavapipe.
//
// The class scores stay at 1/4 resolution: the losses and the pseudo-labels read them bilinearly
// upsampled to the frame on the fly (resizeCrossEntropy, resizeSoftmaxStats, resizeArgmax), so
// [B,K,H,W] is never stored: at 480×480 with VSPW's 124 classes it is 114 MB a frame.
//
// Every 3×3 conv of the stem and the decoder is conv → GroupNorm → ReLU (config.norm 'group'): without
// it the conv path started badly scaled (stem features' std 0.14 against 0.52 for the tokens, the
// decoder's output 0.05) and the student found no small object. GroupNorm rather than BatchNorm: it
// does not depend on the batch (1-4 frames here), so there are no running statistics to keep, average
// into the EMA teacher or store, and training and inference compute the same function.
//
// The temporal block (config.temporal) lets a frame's tokens attend to those of the other frames of
// its clip (MVC's masked video consistency: a patch masked in one frame is filled from its
// neighbours). Clips are T consecutive frames of the batch (forward's `clip`); a learned embedding
// per frame position tells the attention which frame a token came from. Everything else, the
// decoder included, stays per frame.
import { add, concat, conv2d, detach, groupNorm, layerNorm, permute, relu, reshape, resizeBilinear, slice, type Tensor } from '../engine/index.ts';
import { Block } from './layers.ts';
import { ParamStore } from './params.ts';

export interface StudentConfig {
  numClasses: number;
  /** Patch size P: H and W must be multiples of it. */
  patch: number;
  /** Token width C, transformer depth, heads, MLP ratio. */
  width: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  /** Training image size [H, W]: the position embedding's grid is [H/P, W/P]. */
  imageSize: [number, number];
  /** Channels of the stem (skip) features, the decoder and the representation head. */
  stemDim: number;
  decoderDim: number;
  reprDim: number;
  /** One extra transformer block across the frames of a clip (absent in older checkpoints: false). */
  temporal: boolean;
  /**
   * Normalisation after the stem's and the decoder's 3×3 convs, before their ReLU: 'group' (GroupNorm,
   * groupsOf(channels) groups) or 'none' (older checkpoints, which lack the field).
   */
  norm: 'group' | 'none';
  /**
   * The shorter side, in pixels, that frames are resized to before the model sees them: in training
   * (then randomly rescaled and cropped to imageSize) and in inference, so a step and a prediction cost
   * the same whatever the data's resolution. 0 (older checkpoints, which lack the field): frames as they are.
   */
  baseSize: number;
}

/** The most frames a clip may have (rows of the frame-position embedding). */
export const MAX_CLIP = 4;

/**
 * `c` checked field by field (type, range, consistency) before any memory is taken: configs come
 * from files (checkpoint metadata, checkpoint.json, --config), and an unchecked one (depth 1e9) grew
 * to gigabytes and crashed. The bounds are far above any model this project trains (ViT-L is width
 * 1024, depth 24). `where` starts every message: the file, or "student".
 */
export function checkStudentConfig(c: unknown, where: string): StudentConfig {
  const fail = (what: string): never => {
    throw new Error(`${where}: invalid student config: ${what}`);
  };
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return fail(`expected an object, got ${JSON.stringify(c)}`);
  const o = c as Record<string, unknown>;
  const int = (k: string, lo: number, hi: number) => {
    const v = o[k];
    if (!(Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi)) fail(`${k} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    return v as number;
  };
  int('numClasses', 1, 256); // masks are 8-bit PNGs
  const patch = int('patch', 1, 64);
  const width = int('width', 1, 4096);
  int('depth', 1, 64);
  const heads = int('heads', 1, 256);
  if (width % heads) fail(`width ${width} is not a multiple of heads ${heads}`);
  const r = o.mlpRatio;
  if (!(typeof r === 'number' && r > 0 && r <= 16 && Number.isInteger(width * r))) fail(`mlpRatio must be a number in (0, 16] with width × mlpRatio an integer, got ${JSON.stringify(r)}`);
  const size = o.imageSize;
  if (!(Array.isArray(size) && size.length === 2 && size.every((v) => Number.isInteger(v) && v >= patch && v <= 8192 && v % patch === 0))) {
    fail(`imageSize must be [H, W], integers in [patch, 8192] that are multiples of the patch size ${patch}, got ${JSON.stringify(size)}`);
  }
  for (const k of ['stemDim', 'decoderDim', 'reprDim']) int(k, 1, 4096);
  if (o.temporal !== undefined && typeof o.temporal !== 'boolean') fail(`temporal must be true or false, got ${JSON.stringify(o.temporal)}`);
  if (o.norm !== undefined && o.norm !== 'group' && o.norm !== 'none') fail(`norm must be 'group' or 'none', got ${JSON.stringify(o.norm)}`);
  if (o.baseSize !== undefined) int('baseSize', 0, 8192);
  const known = new Set(['numClasses', 'patch', 'width', 'depth', 'heads', 'mlpRatio', 'imageSize', 'stemDim', 'decoderDim', 'reprDim', 'temporal', 'norm', 'baseSize']);
  const unknown = Object.keys(o).filter((k) => !known.has(k));
  if (unknown.length) fail(`unknown field(s) ${unknown.join(', ')}`);
  return { ...(o as unknown as StudentConfig), temporal: Boolean(o.temporal), norm: (o.norm as StudentConfig['norm'] | undefined) ?? 'none', baseSize: (o.baseSize as number | undefined) ?? 0 };
}

export const defaultStudentConfig = (numClasses: number, imageSize: [number, number] = [96, 128]): StudentConfig => ({
  numClasses,
  patch: 8,
  width: 128,
  depth: 4,
  heads: 4,
  mlpRatio: 2,
  imageSize,
  stemDim: 32,
  decoderDim: 64,
  reprDim: 64,
  temporal: false,
  norm: 'group',
  baseSize: Math.min(...imageSize),
});

/** GroupNorm's groups for c channels: 8 when they divide c (GN's paper finds 8-32 alike), else the largest divisor below 8. */
export function groupsOf(c: number): number {
  let g = Math.min(8, c);
  while (c % g) g--;
  return g;
}

export interface StudentOutput {
  /** Decoder features at 1/4 resolution [B, D, H/4, W/4]. */
  features: Tensor;
  /** Representation-head embedding at 1/4 resolution [B, R, H/4, W/4] (not normalised), when asked for. */
  repr: Tensor | undefined;
  /** Class scores at 1/4 resolution [B, K, H/4, W/4]; upsampled bilinearly, the frame's. */
  logitsLow: Tensor;
}

/**
 * A 2-D convolution with PyTorch's default (Kaiming-uniform) initial scale; with `norm`, followed by
 * GroupNorm (and then without a bias, which the normalisation would cancel).
 */
class Conv {
  readonly w: Tensor;
  readonly b: Tensor | undefined;
  private readonly norm: { gamma: Tensor; beta: Tensor; groups: number } | undefined;
  constructor(ps: ParamStore, name: string, cin: number, cout: number, k: number, readonly stride = 1, norm = false) {
    const bound = 1 / Math.sqrt(cin * k * k);
    this.w = ps.create(`${name}.weight`, [cout, cin, k, k], { uniform: bound });
    this.b = norm ? undefined : ps.create(`${name}.bias`, [cout], { uniform: bound });
    this.norm = norm
      ? { gamma: ps.create(`${name}.norm.weight`, [cout], { ones: true }), beta: ps.create(`${name}.norm.bias`, [cout], { zeros: true }), groups: groupsOf(cout) }
      : undefined;
  }
  /** `frozen`: the weights take no gradient from this use (the input still does). `relu`: then a ReLU (fused into the GroupNorm's kernel). */
  forward(x: Tensor, opts: { frozen?: boolean; relu?: boolean } = {}): Tensor {
    const k = this.w.shape[2]!;
    const use = (p: Tensor) => (opts.frozen ? detach(p) : p);
    const y = conv2d(x, use(this.w), this.b && use(this.b), { stride: this.stride, padding: this.stride === k ? 0 : (k - 1) / 2 });
    if (this.norm) return groupNorm(y, use(this.norm.gamma), use(this.norm.beta), this.norm.groups, opts.relu ? { activation: 'relu' } : {});
    return opts.relu ? relu(y) : y;
  }
}

export class Student {
  readonly ps: ParamStore;
  private readonly stem1: Conv;
  private readonly stem2: Conv;
  private readonly patchEmbed: Conv;
  private readonly pos: Tensor;
  private readonly blocks: Block[];
  private readonly normG: Tensor;
  private readonly normB: Tensor;
  private readonly reduce: Conv;
  private readonly fuse1: Conv;
  private readonly fuse2: Conv;
  private readonly classifier: Conv;
  private readonly repr1: Conv;
  private readonly repr2: Conv;
  private readonly temporal: { framePos: Tensor; block: Block } | undefined;
  readonly config: StudentConfig;

  constructor(config: StudentConfig, seed = 0) {
    const c = (this.config = checkStudentConfig(config, 'student'));
    const [h, w] = c.imageSize;
    const ps = (this.ps = new ParamStore(seed));
    const norm = c.norm === 'group';
    this.stem1 = new Conv(ps, 'stem.0', 3, c.stemDim, 3, 2, norm);
    this.stem2 = new Conv(ps, 'stem.1', c.stemDim, c.stemDim, 3, 2, norm);
    this.patchEmbed = new Conv(ps, 'patch_embed', 3, c.width, c.patch, c.patch);
    this.pos = ps.create('pos_embed', [1, c.width, h / c.patch, w / c.patch], { truncNormal: 0.02 });
    this.blocks = Array.from({ length: c.depth }, (_, i) => new Block(ps, `blocks.${i}`, c.width, c.heads, c.mlpRatio));
    this.normG = ps.create('norm.weight', [c.width], { ones: true });
    this.normB = ps.create('norm.bias', [c.width], { zeros: true });
    this.reduce = new Conv(ps, 'decoder.reduce', c.width, c.decoderDim, 1);
    this.fuse1 = new Conv(ps, 'decoder.fuse.0', c.decoderDim + c.stemDim, c.decoderDim, 3, 1, norm);
    this.fuse2 = new Conv(ps, 'decoder.fuse.1', c.decoderDim, c.decoderDim, 3, 1, norm);
    this.classifier = new Conv(ps, 'decoder.classifier', c.decoderDim, c.numClasses, 1);
    this.repr1 = new Conv(ps, 'repr.0', c.decoderDim, c.decoderDim, 3);
    this.repr2 = new Conv(ps, 'repr.1', c.decoderDim, c.reprDim, 1);
    // Created last so that the other parameters draw the same initial values either way; zero frame
    // embedding and an identity block, so that a model given the block after training (--mvc from a
    // checkpoint without it) starts from the same predictions.
    this.temporal = c.temporal
      ? { framePos: ps.create('temporal.frame_embed', [MAX_CLIP, c.width], { zeros: true }), block: new Block(ps, 'temporal.block', c.width, c.heads, c.mlpRatio, true) }
      : undefined;
  }

  /** The transformer's token map for `image` [B,3,H,W]: [B, C, H/P, W/P]; `clip` as in `forward`. */
  encode(image: Tensor, clip = 1): Tensor {
    const c = this.config;
    const [b, , h, w] = image.shape as [number, number, number, number];
    if (image.rank !== 4 || image.shape[1] !== 3) throw new Error(`student: expected an image batch [B,3,H,W], got [${image.shape}]`);
    if (!Number.isInteger(clip) || clip < 1 || clip > MAX_CLIP) throw new Error(`student: clip = ${clip} must be an integer in [1, ${MAX_CLIP}]`);
    if (b % clip) throw new Error(`student: a batch of ${b} frames [${image.shape}] is not a whole number of clips of ${clip} frames`);
    if (h % c.patch || w % c.patch) throw new Error(`student: input ${h}×${w} is not a multiple of the patch size ${c.patch}`);
    const gh = h / c.patch;
    const gw = w / c.patch;
    const pos = gh === this.pos.shape[2] && gw === this.pos.shape[3] ? this.pos : resizeBilinear(this.pos, [gh, gw]);
    const grid = add(this.patchEmbed.forward(image), pos); // [B, C, gh, gw]
    let x = permute(reshape(grid, [b, c.width, gh * gw]), [0, 2, 1]); // [B, N, C]
    for (const blk of this.blocks) x = blk.forward(x);
    if (this.temporal) x = this.acrossFrames(x, clip);
    x = layerNorm(x, this.normG, this.normB, 1e-6);
    return reshape(permute(x, [0, 2, 1]), [b, c.width, gh, gw]);
  }

  /** The temporal block on tokens [B, N, C] grouped into clips of T consecutive frames. */
  private acrossFrames(x: Tensor, t: number): Tensor {
    const { framePos, block } = this.temporal!;
    const [b, n, c] = x.shape as [number, number, number];
    const pos = reshape(slice(framePos, [0], [t]), [1, t, 1, c]);
    const clips = reshape(add(reshape(x, [b / t, t, n, c]), pos), [b / t, t * n, c]);
    return reshape(block.forward(clips), [b, n, c]);
  }

  /** Decoder features [B, D, H/4, W/4] from the token map and the stem's detail features. */
  decode(tokens: Tensor, image: Tensor): Tensor {
    const stem = this.stem2.forward(this.stem1.forward(image, { relu: true }), { relu: true });
    const size: [number, number] = [stem.shape[2]!, stem.shape[3]!];
    const up = resizeBilinear(this.reduce.forward(tokens), size);
    const fused = this.fuse1.forward(concat([up, stem], 1), { relu: true });
    return this.fuse2.forward(fused, { relu: true });
  }

  /** Class scores at the features' resolution; `frozen`: gradients reach the features, not the classifier. */
  classify(features: Tensor, frozen = false): Tensor {
    return this.classifier.forward(features, { frozen });
  }

  /** Projection for the contrastive loss. */
  represent(features: Tensor): Tensor {
    return this.repr2.forward(this.repr1.forward(features, { relu: true }));
  }

  /**
   * Class scores at 1/4 resolution [B, K, H/4, W/4] only: inference reduces them (resizeArgmax) before
   * they reach a frame's size, where [B, K, H, W] may not fit a binding. `clip` as in `forward`.
   */
  lowLogits(image: Tensor, clip = 1): Tensor {
    return this.classify(this.decode(this.encode(image, clip), image));
  }

  /**
   * `clip` = T groups each T consecutive frames of the batch into one clip (default 1); it must
   * divide the batch and be at most MAX_CLIP. Without the temporal block it has no effect.
   */
  forward(image: Tensor, opts: { repr?: boolean; clip?: number } = {}): StudentOutput {
    const features = this.decode(this.encode(image, opts.clip), image);
    return { features, logitsLow: this.classify(features), repr: opts.repr ? this.represent(features) : undefined };
  }

  /** Class scores at the input's size [B, K, H, W], stored: for small frames (tests, probes). */
  logits(image: Tensor, opts: { clip?: number } = {}): Tensor {
    return resizeBilinear(this.forward(image, opts).logitsLow, [image.shape[2]!, image.shape[3]!]);
  }
}
