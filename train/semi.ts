// One training step's losses, supervised and semi-supervised (docs/METHODS.md §1-3), composed:
//
//   L = CE(labeled) + λu·CE(reliable pseudo-labels) + λc·contrast      (U2PL, --u2pl)
//       + w·q·CE(student(masked frames), teacher(frames))              (MVC,  --mvc)
//       + ramp(t)·(1e-2·IFR(labeled pair) + 1e-3·IFR(unlabeled pair))  (IFR,  --ifr; --ifr-strong adds
//         the same ×0.1 with prototypes from photometrically distorted references)
//
// A step has two phases. `prepare` draws the batches and runs the teacher; its pseudo-labels are read
// back to the CPU, where the reliable/unreliable partition, CutMix of labels and the contrastive
// pixel selection are plain loops (they are data-dependent selections, not tensor arithmetic). Then
// `losses` runs the student once on [labeled | unlabeled | IFR frames] (and, for MVC on clips of a
// temporal student, once more on the masked clips), inside the caller's tidy scope, and returns the
// total for backward.
//
// MVC with U2PL on a per-frame student shares U2PL's frames: the last --mvc-share of U2PL's unlabeled
// batch (half by default) is masked (after colour jitter and blur, as MIC) and trained by MVC's loss against the
// teacher's argmax of the same frames unmasked, the others by U2PL's unsupervised loss; both
// parts give contrastive anchors. One teacher pass and one student pass serve both methods, which
// keeps `--method full` within the hour on two CPU cores (a separate MVC batch made a full step 3.9 s
// against U2PL + IFR's 3.1).
import { add, argmax, concat, mul, permute, reshape, resizeCrossEntropy, resizeSoftmaxStats, slice, softmax, tensor, tidy, type Tensor } from '../engine/index.ts';
import { IGNORE } from '../dataset/labels.ts';
import type { Rng } from '../dataset/rng.ts';
import { classIdsAt } from '../eval/predict.ts';
import type { Student } from '../models/student.ts';
import type { Batches, LabeledBatch } from './batches.ts';
import { pixelWeights } from './class-weights.ts';
import { ohemWeight } from './ohem.ts';
import { methodsOf, supStepsOf, type TrainOptions } from './config.ts';
import { cutmixBoxes, cutmixImages, cutmixPixels } from './cutmix.ts';
import { ifrLoss, ifrRamp } from './ifr.ts';
import { photometric, type AugmentOptions } from './images.ts';
import { blockMask, maskImages, qualityWeight } from './mvc.ts';
import { ClassQueues } from './queue.ts';
import type { MeanTeacher } from './teacher.ts';
import { alphaT, contrastiveLoss, dropUnreliable, entropyMasks, labeledMasks, selectContrast, toPixelMajor, unsupScale } from './u2pl.ts';

/** IFR's loss weights (jfzhuang/IFR's config; `strong` multiplies both for the distorted-reference variant). */
const IFR_WEIGHT = { labeled: 1e-2, unlabeled: 1e-3, strong: 0.1 };
/** CutMix is applied to half of the unlabeled batches (U2PL). */
const CUTMIX_P = 0.5;

/** What `prepare` made: batches on the GPU, CPU-side selections. `dispose` frees the tensors. */
interface Prepared {
  labeled: LabeledBatch;
  u2pl?: {
    images: Tensor; // the strong (mixed) view; its last `masked` frames are MVC's
    target: Int32Array; // reliable pseudo-labels, IGNORE elsewhere, for the unmasked frames [(Bu−masked)·H·W]
    masked: number;
    teacherRep: Tensor; // [N, R] over labeled then unlabeled pixels at 1/4 resolution
    selection: ReturnType<typeof selectContrast>;
  };
  /** MVC's target and quality weight; its images are its own clips, or (no images) U2PL's masked frames. */
  mvc?: { images?: Tensor; target: Tensor; q: number; clip: number };
  ifr?: { images: Tensor };
  dispose(): void;
}

/** Nearest-neighbour downsampling of per-pixel CPU arrays [B, H, W] → [B, H/f, W/f] (PyTorch's 'nearest'). */
function downsample<T extends Int32Array | Uint8Array>(src: T, b: number, h: number, w: number, f: number): T {
  const hh = h / f;
  const ww = w / f;
  const out = new (src.constructor as new (n: number) => T)(b * hh * ww);
  for (let i = 0; i < b; i++) for (let y = 0; y < hh; y++) for (let x = 0; x < ww; x++) out[(i * hh + y) * ww + x] = src[(i * h + y * f) * w + x * f]!;
  return out;
}

/** [B, R, h, w] → [B·h·w, R]: one row per pixel. */
const rows = (x: Tensor): Tensor => {
  const [b, r, h, w] = x.shape as [number, number, number, number];
  return reshape(permute(x, [0, 2, 3, 1]), [b * h * w, r]);
};

export class SemiStep {
  readonly methods: ReturnType<typeof methodsOf>;
  readonly supSteps: number;
  readonly queues: ClassQueues | undefined;
  private readonly unlabeledBatch: number;
  /** U2PL frames per step that MVC masks (0: MVC draws clips of its own). */
  private readonly mvcShared: number;

  constructor(
    private readonly model: Student,
    private readonly o: TrainOptions,
    private readonly batches: Batches,
    private readonly aug: AugmentOptions,
    /** Per-class weights [C] of the supervised cross-entropy (--class-weight), or none. */
    private readonly classWeights?: Tensor,
  ) {
    this.methods = methodsOf(o);
    this.supSteps = supStepsOf(o);
    this.unlabeledBatch = o.unlabeledBatch || o.batch;
    const bu = this.unlabeledBatch;
    const sharesFrames = this.methods.mvc && this.methods.u2pl && !model.config.temporal;
    if (this.methods.mvc && !sharesFrames && o.mvcTarget !== 'all') {
      throw new Error(`--mvc-target ${o.mvcTarget} needs MVC on U2PL's frames (--u2pl, no temporal block)`);
    }
    if (sharesFrames && bu < 2) throw new Error(`--mvc with --u2pl needs at least 2 unlabeled frames a step (one each), got --unlabeled-batch ${bu}`);
    // At least one frame for each method: with 4 unlabeled frames, a share of 0.25 masks one.
    this.mvcShared = sharesFrames ? Math.min(bu - 1, Math.max(1, Math.round(bu * o.mvcShare))) : 0;
    this.queues = this.methods.u2pl ? new ClassQueues(model.config.numClasses, model.config.reprDim, o.queueSize) : undefined;
  }

  /** Is `step` (1-based) past the supervised warm-up? */
  isSemi(step: number): boolean {
    return this.methods.any && step > this.supSteps;
  }

  /** Share of the semi-supervised schedule done at `step` (U2PL's e/E, IFR's ramp). */
  private progress(step: number): number {
    return Math.min(1, Math.max(0, (step - this.supSteps - 1) / Math.max(1, this.o.steps - this.supSteps)));
  }

  async prepare(step: number, rng: Rng, teacher: MeanTeacher | undefined): Promise<Prepared> {
    const owned: Tensor[] = [];
    const own = <T extends Tensor>(t: T): T => (owned.push(t), t);
    const labeled = this.batches.labeledBatch(this.o.batch, rng);
    owned.push(labeled.images, labeled.labels);
    const p: Prepared = { labeled, dispose: () => owned.forEach((t) => t.dispose()) };
    if (!this.isSemi(step) || !teacher) return p;
    const [, , h, w] = labeled.images.shape as [number, number, number, number];
    const k = this.model.config.numClasses;

    if (this.methods.u2pl) {
      const bl = this.o.batch;
      const bu = this.unlabeledBatch;
      const weak = this.batches.unlabeledBatch(bu, rng);
      const boxes = rng.float() < CUTMIX_P ? cutmixBoxes(bu, h, w, rng) : undefined;
      // With CutMix the pseudo-labels come from the unmixed frames (a teacher pass of their own) and are
      // mixed as the images are.
      const unmixed = boxes ? tidy(() => classIdsAt(teacher.forward(weak).logitsLow, [h, w])) : undefined;
      const view = boxes ? cutmixImages(weak, boxes) : weak;
      if (boxes) weak.dispose();
      // The teacher on the student's view (before MVC's masking): entropies for the partition, features
      // for the contrast. Without CutMix that is the weak view itself, so this pass gives the
      // pseudo-labels too (the model treats the frames of a batch independently).
      const t2 = tidy(() => {
        const out = teacher.forward(concat([labeled.images, view], 0), { repr: true });
        const stats = resizeSoftmaxStats(slice(out.logitsLow, [bl], [bl + bu]), [h, w]);
        return { ...stats, probsLow: softmax(out.logitsLow, 1), rep: rows(out.repr!) };
      });
      if (unmixed) t2.ids.dispose();
      const labelsT = unmixed ?? t2.ids;
      const raw = (await labelsT.data()) as Int32Array;
      labelsT.dispose();
      const labelsU = boxes ? cutmixPixels(raw, bu, h, w, boxes) : raw;
      const teacherRep = own(t2.rep);
      const f = h / t2.probsLow.shape[2]!;
      const [entropy, maxProb] = [(await t2.entropy.data()) as Float32Array, (await t2.maxProb.data()) as Float32Array];
      const lowProbs = (await t2.probsLow.data()) as Float32Array;
      const labelsL = (await labeled.labels.data()) as Int32Array;
      [t2.entropy, t2.maxProb, t2.probsLow].forEach((t) => t.dispose());

      const progress = this.progress(step);
      const alpha = alphaT(progress);
      const reliable = dropUnreliable(labelsU, entropy, alphaT(progress, this.o.unsupDrop));

      // MVC's frames: the teacher saw these frames clean; the student sees them jittered, blurred, masked.
      const m = this.mvcShared;
      const kept = bu - m;
      let images = view;
      if (m) {
        const mask = blockMask(m, h, w, { block: this.o.maskBlock, ratio: this.o.maskRatio }, rng);
        images = tidy(() => concat([slice(view, [0], [kept]), maskImages(photometric(slice(view, [kept], [bu]), rng, this.aug), mask)], 0));
        view.dispose();
        const hw = h * w;
        const mvcTarget = (this.o.mvcTarget === 'reliable' ? reliable : labelsU).slice(kept * hw);
        if (this.o.mvcTarget === 'visible') mask.forEach((v, i) => v === 0 && (mvcTarget[i] = IGNORE));
        p.mvc = { target: own(tensor(mvcTarget, [m, h, w], 'i32')), q: qualityWeight(maxProb.subarray(kept * hw)), clip: 1 };
      }
      own(images);

      const target = reliable.slice(0, kept * h * w);
      const masksU = entropyMasks(labelsU, entropy, alpha);
      const masksL = labeledMasks(labelsL);
      const n = bl + bu;
      const cat8 = (a: Uint8Array, b: Uint8Array) => Uint8Array.from([...a, ...b]);
      const small = <T extends Int32Array | Uint8Array>(a: T, b: number) => downsample(a, b, h, w, f);
      const selection = selectContrast({
        n: (n * h * w) / (f * f),
        k,
        labels: Int32Array.from([...small(labelsL, bl), ...small(labelsU, bu)]),
        labeled: Uint8Array.from({ length: (n * h * w) / (f * f) }, (_, i) => (i < (bl * h * w) / (f * f) ? 1 : 0)),
        teacherProb: toPixelMajor(lowProbs, n, k, h / f, w / f),
        low: cat8(small(masksL.low, bl), small(masksU.low, bu)),
        high: cat8(small(masksL.high, bl), small(masksU.high, bu)),
      });
      p.u2pl = { images, target, teacherRep, selection, masked: m };
    }

    if (this.methods.mvc && !this.mvcShared) {
      const clip = this.o.mvcClip;
      const nClips = Math.max(1, Math.round(this.o.batch / clip));
      const frames = this.batches.clips(nClips, clip, rng);
      const t = tidy(() => resizeSoftmaxStats(teacher.forward(frames, { clip }).logitsLow, [h, w]));
      const q = qualityWeight((await t.maxProb.data()) as Float32Array);
      t.maxProb.dispose();
      t.entropy.dispose();
      // The strong view: colour jitter and blur, then blocks masked independently in every frame.
      const mask = blockMask(nClips * clip, h, w, { block: this.o.maskBlock, ratio: this.o.maskRatio }, rng);
      const images = tidy(() => maskImages(photometric(frames, rng, this.aug), mask));
      frames.dispose();
      p.mvc = { images: own(images), target: own(t.ids), q, clip };
    }

    if (this.methods.ifr) {
      // [labeled ref, unlabeled target, unlabeled ref], then with --ifr-strong both references
      // photometrically distorted (their features give the prototypes; the classes stay the clean ones').
      const frames = this.batches.ifrFrames(labeled.refs[0]!, labeled.seeds[0]!, rng).images;
      if (this.o.ifrStrong) {
        const images = tidy(() => concat([frames, photometric(concat([slice(frames, [0], [1]), slice(frames, [2], [3])], 0), rng, this.aug)], 0));
        frames.dispose();
        p.ifr = { images: own(images) };
      } else p.ifr = { images: own(frames) };
    }
    return p;
  }

  /** The supervised loss's per-pixel weights for `labels` given the class scores `logitsLow`: class weights (--class-weight), kept by OHEM (--ohem); or none. */
  private pixelWeight(logitsLow: Tensor, labels: Tensor): Tensor | undefined {
    const classWeight = this.classWeights ? pixelWeights(this.classWeights, labels) : undefined;
    return this.o.ohem ? ohemWeight(logitsLow, labels, classWeight) : classWeight;
  }

  /** The step's total loss and its named parts (scalars), built inside the caller's tidy scope. */
  losses(step: number, p: Prepared, rng: Rng): { total: Tensor; parts: Record<string, Tensor> } {
    const { labeled } = p;
    const bl = labeled.images.shape[0]!;
    const inputs = [labeled.images, ...(p.u2pl ? [p.u2pl.images] : []), ...(p.ifr ? [p.ifr.images] : [])];
    const out = this.model.forward(inputs.length > 1 ? concat(inputs, 0) : labeled.images);
    const part = (t: Tensor, from: number, n: number) => slice(t, [from], [from + n]);
    // Class scores at 1/4 resolution; the losses upsample them to the labels' size on the fly.
    const supLogits = part(out.logitsLow, 0, bl);
    const weight = this.pixelWeight(supLogits, labeled.labels);
    const parts: Record<string, Tensor> = { sup: resizeCrossEntropy(supLogits, labeled.labels, { ignoreIndex: IGNORE, ...(weight ? { weight } : {}) }) };
    let total = parts.sup!;
    let at = bl;
    let mvcLogits: Tensor | undefined; // MVC's masked frames among U2PL's

    if (p.u2pl) {
      const bu = p.u2pl.images.shape[0]!;
      const kept = bu - p.u2pl.masked;
      const [, , h, w] = p.u2pl.images.shape as [number, number, number, number];
      const target = tensor(p.u2pl.target, [kept, h, w], 'i32');
      const logitsU = part(out.logitsLow, at, kept);
      // --unsup-weights sup: the pseudo-labels are weighted as labels are (class weights, OHEM).
      const wU = this.o.unsupWeights === 'sup' ? this.pixelWeight(logitsU, target) : undefined;
      parts.unsup = mul(resizeCrossEntropy(logitsU, target, { ignoreIndex: IGNORE, ...(wU ? { weight: wU } : {}) }), unsupScale(p.u2pl.target));
      total = add(total, mul(parts.unsup, this.o.lambdaUnsup));
      if (p.u2pl.masked) mvcLogits = part(out.logitsLow, at + kept, p.u2pl.masked);
      // The representation head on the labeled and U2PL frames only (not IFR's, which the contrastive loss does not read).
      const studentRep = rows(this.model.represent(p.ifr ? part(out.features, 0, bl + bu) : out.features));
      const contra = contrastiveLoss(studentRep, p.u2pl.teacherRep, p.u2pl.selection, this.queues!, rng);
      if (contra) {
        parts.contra = contra;
        total = add(total, mul(contra, this.o.lambdaContra));
      }
      at += bu;
    }

    if (p.ifr) {
      // Frames: labeled target = batch frame 0; then its reference, the unlabeled target, its reference,
      // and with --ifr-strong the two references distorted (weighted ×0.1).
      const feat = (i: number) => part(out.features, i, 1);
      const hw = out.logitsLow.shape[2]! * out.logitsLow.shape[3]!;
      const classesOf = (i: number) => reshape(argmax(part(out.logitsLow, i, 1), 1), [hw]);
      const classify = (f: Tensor) => this.model.classify(f, this.o.ifrClassifier === 'frozen');
      const k = this.model.config.numClasses;
      const ifr = { temperature: this.o.ifrTemperature };
      // The clean references' classes serve their distorted copies too.
      const [refL, refU] = [classesOf(at), classesOf(at + 2)];
      const labelsL = part(labeled.labels, 0, 1);
      const pseudoU = classIdsAt(part(out.logitsLow, at + 1, 1), [labelsL.shape[1]!, labelsL.shape[2]!]);
      const lossL = ifrLoss(classify, feat(0), feat(at), refL, labelsL, k, ifr);
      const lossU = ifrLoss(classify, feat(at + 1), feat(at + 2), refU, pseudoU, k, ifr);
      const t = step - this.supSteps;
      const rampLen = this.o.ifrRampup >= 0 ? this.o.ifrRampup : Math.floor((this.o.steps - this.supSteps) / 4);
      const weighted = (l: Tensor, u: Tensor, f: number) => add(mul(l, f * IFR_WEIGHT.labeled), mul(u, f * IFR_WEIGHT.unlabeled));
      parts.ifr = weighted(lossL, lossU, 1);
      if (this.o.ifrStrong) {
        const strongL = ifrLoss(classify, feat(0), feat(at + 3), refL, labelsL, k, ifr);
        const strongU = ifrLoss(classify, feat(at + 1), feat(at + 4), refU, pseudoU, k, ifr);
        parts.ifr = add(parts.ifr, weighted(strongL, strongU, IFR_WEIGHT.strong));
      }
      total = add(total, mul(parts.ifr, ifrRamp(t, rampLen)));
    }

    if (p.mvc) {
      // Its own clips get a student pass of their own; U2PL's masked frames were in the one above.
      const logits = p.mvc.images ? this.model.forward(p.mvc.images, { clip: p.mvc.clip }).logitsLow : mvcLogits!;
      parts.mvc = resizeCrossEntropy(logits, p.mvc.target, { ignoreIndex: IGNORE });
      total = add(total, mul(parts.mvc, this.o.mvcWeight * p.mvc.q));
    }
    return { total, parts };
  }
}
