// What MVC's loss asks of a model (`node dist/mvc-probe.js`, docs/EXPERIMENTS.md session 17): on
// unlabeled frames (U2PL's weak view: geometric augmentation only), the model's own argmax on the clean
// frame is the target, as the teacher's is in training; the model then sees the frame clean, colour
// jittered and blurred, block-masked, and both, and the probe reports its cross-entropy against the
// target and its agreement with it, separately over the pixels a mask hides and the pixels it leaves
// visible. The masked regions show what the student is asked to fill from context; the visible ones
// show how much the masking of their surroundings alone changes the model's answer there.
import { argmax, tidy, type Tensor } from '../engine/index.ts';
import type { Rng } from '../dataset/rng.ts';
import type { Student } from '../models/student.ts';
import type { Batches } from './batches.ts';
import { photometric, type AugmentOptions } from './images.ts';
import { blockMask, maskImages, type MaskOptions } from './mvc.ts';

export const PROBE_VIEWS = ['clean', 'jittered', 'masked', 'masked + jittered'] as const;
export type ProbeView = (typeof PROBE_VIEWS)[number];

/** Mean CE and agreement with the clean argmax over one region of one view. */
export interface RegionScore {
  ce: number;
  agree: number;
  pixels: number;
}

export type MvcProbe = Record<ProbeView, { hidden: RegionScore; visible: RegionScore }>;

/** Per pixel of `logits` [B,K,H,W] (host values): CE against `target` and whether the argmax is it. */
function scorePixels(logits: Float32Array, target: Int32Array, b: number, k: number, hw: number, mask: Float32Array, into: { hidden: number[]; visible: number[] }): void {
  for (let f = 0; f < b; f++) {
    for (let p = 0; p < hw; p++) {
      let mx = -Infinity;
      let am = 0;
      for (let c = 0; c < k; c++) {
        const v = logits[(f * k + c) * hw + p]!;
        if (v > mx) [mx, am] = [v, c];
      }
      let sum = 0;
      for (let c = 0; c < k; c++) sum += Math.exp(logits[(f * k + c) * hw + p]! - mx);
      const y = target[f * hw + p]!;
      const ce = Math.log(sum) - (logits[(f * k + y) * hw + p]! - mx);
      const acc = mask[f * hw + p]! > 0 ? into.visible : into.hidden;
      acc[0]! += ce;
      acc[1]! += Number(am === y);
      acc[2]!++;
    }
  }
}

/** The probe over `batches` batches of `batch` unlabeled frames, masks and jitter drawn from `rng`. */
export async function probeMvc(model: Student, source: Batches, aug: AugmentOptions, mask: MaskOptions, rng: Rng, batches: number, batch = 4): Promise<MvcProbe> {
  const [h, w] = model.config.imageSize;
  const k = model.config.numClasses;
  const sums = Object.fromEntries(PROBE_VIEWS.map((v) => [v, { hidden: [0, 0, 0], visible: [0, 0, 0] }])) as Record<ProbeView, { hidden: number[]; visible: number[] }>;
  const logitsOf = async (x: Tensor) => {
    const t = tidy(() => model.logits(x));
    const out = (await t.data()) as Float32Array;
    t.dispose();
    return out;
  };
  for (let i = 0; i < batches; i++) {
    const clean = source.unlabeledBatch(batch, rng);
    const out = tidy(() => {
      const l = model.logits(clean);
      return { l, y: argmax(l, 1) };
    });
    const logits = (await out.l.data()) as Float32Array;
    const target = (await out.y.data()) as Int32Array;
    out.l.dispose();
    out.y.dispose();
    const m = blockMask(batch, h, w, mask, rng);
    const jittered = photometric(clean, rng, aug);
    const views: Record<ProbeView, Tensor> = {
      clean,
      jittered,
      masked: tidy(() => maskImages(clean, m)),
      'masked + jittered': tidy(() => maskImages(jittered, m)),
    };
    for (const v of PROBE_VIEWS) scorePixels(v === 'clean' ? logits : await logitsOf(views[v]), target, batch, k, h * w, m, sums[v]);
    for (const t of new Set(Object.values(views))) t.dispose();
  }
  const score = (s: number[]): RegionScore => ({ ce: s[0]! / s[2]!, agree: s[1]! / s[2]!, pixels: s[2]! });
  return Object.fromEntries(PROBE_VIEWS.map((v) => [v, { hidden: score(sums[v].hidden), visible: score(sums[v].visible) }])) as MvcProbe;
}

/** The probe as a table. */
export function formatMvcProbe(p: MvcProbe): string {
  const cell = (r: RegionScore) => `${r.ce.toFixed(3)} / ${(100 * r.agree).toFixed(1)}%`;
  return [
    "view of the frame | CE / agreement with the clean argmax: pixels the mask hides | pixels it leaves visible",
    ...PROBE_VIEWS.map((v) => `${v.padEnd(17)} | ${cell(p[v].hidden).padEnd(16)} | ${cell(p[v].visible)}`),
    `(${p.clean.hidden.pixels} hidden and ${p.clean.visible.pixels} visible pixels)`,
  ].join('\n');
}
