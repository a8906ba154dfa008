// What IFR's loss asks of a model (train/ifr.ts), measured on pairs of frames of the labeled videos:
//
//   node dist/ifr-probe.js --model M.safetensors [--data DIR] [--labeled-videos F] [--seed S] [--pairs N] [--temperature T]
//   (ifr-probe-cli.ts; the labeled videos are those training picks with the same --labeled-videos and --seed)
//
// For each pair (target t, reference r, two frames of one labeled video), per class of t's ground truth:
//   absent         share of t's pixels whose class r's own argmax does not contain (no prototype to rebuild them);
//   plain          recall of the model's prediction on t;
//   reconstructed  recall of the class of t's features rebuilt from r's prototypes, as IFR's loss classifies it.
// Where `reconstructed` is far below `plain`, IFR's sharpened CE (logits / 0.01) is large and pulls the
// classifier towards what a mixture of prototypes looks like (docs/EXPERIMENTS.md, session 12).
import { argmax, concat, keep, noGrad, reshape, resizeBilinear, slice, tidy } from '../engine/index.ts';
import { makeRng } from '../dataset/rng.ts';
import { VideoDataset } from '../dataset/reader.ts';
import type { FrameRef } from '../dataset/splits.ts';
import { frameTensor } from '../models/input.ts';
import type { Student } from '../models/student.ts';
import { DEFAULTS } from './config.ts';
import { prototypes, reconstruct } from './ifr.ts';

export interface ProbeRow {
  /** Ground-truth pixels of the class in the targets. */
  pixels: number;
  /** Of them: where the reference's argmax lacks the class; predicted right plainly; predicted right from the reconstruction. */
  absent: number;
  plain: number;
  reconstructed: number;
}

/** Per class (of the model's), the counts above over `pairs` of [target, reference] frames; `temperature`: IFR's attention's (training's default). */
export async function probeIfr(model: Student, ds: VideoDataset, pairs: [FrameRef, FrameRef][], temperature = DEFAULTS.ifrTemperature): Promise<ProbeRow[]> {
  const K = model.config.numClasses;
  const rows: ProbeRow[] = Array.from({ length: K }, () => ({ pixels: 0, absent: 0, plain: 0, reconstructed: 0 }));
  for (const [t, r] of pairs) {
    const target = ds.readSample(t.video, t.frame);
    const [H, W] = [target.frame.height, target.frame.width];
    const out = noGrad(() =>
      tidy(() => {
        const o = model.forward(concat([frameTensor(target.frame), frameTensor(ds.readFrame(r.video, r.frame))], 0), {});
        const [, D, h, w] = o.features.shape as [number, number, number, number];
        const feat = (i: number) => reshape(slice(o.features, [i], [i + 1]), [D, h * w]);
        const refClasses = reshape(argmax(slice(o.logitsLow, [1], [2]), 1), [h * w]);
        const { protos, present } = prototypes(feat(1), refClasses, K);
        const rebuilt = reshape(reconstruct(feat(0), protos, present, temperature), [1, D, h, w]);
        return [
          keep(argmax(resizeBilinear(slice(o.logitsLow, [0], [1]), [H, W]), 1)),
          keep(argmax(resizeBilinear(model.classify(rebuilt), [H, W]), 1)), // as the loss upsamples its logits
          keep(refClasses),
        ];
      }),
    );
    const [plain, rebuilt, refClasses] = (await Promise.all(out.map((x) => x.data()))) as Int32Array[];
    out.forEach((x) => x.dispose());
    const inRef = new Set(refClasses);
    target.labels.labels.forEach((c, i) => {
      if (c < 0 || c >= K) return; // ignored pixels
      const row = rows[c]!;
      row.pixels++;
      if (!inRef.has(c)) row.absent++;
      if (plain![i] === c) row.plain++;
      if (rebuilt![i] === c) row.reconstructed++;
    });
  }
  return rows;
}

/** `n` pairs of distinct frames of one video each, over the videos of `refs`, drawn by `seed`. */
export function framePairs(refs: FrameRef[], n: number, seed: number): [FrameRef, FrameRef][] {
  const byVideo = new Map<string, FrameRef[]>();
  for (const r of refs) byVideo.set(r.video, [...(byVideo.get(r.video) ?? []), r]);
  const videos = [...byVideo.values()].filter((f) => f.length > 1);
  if (!videos.length) throw new Error('framePairs: no video has two frames to pair');
  const rng = makeRng(seed);
  return Array.from({ length: n }, () => {
    const frames = rng.pick(videos);
    const a = rng.int(frames.length);
    const b = (a + 1 + rng.int(frames.length - 1)) % frames.length;
    return [frames[a]!, frames[b]!];
  });
}

export function formatProbe(rows: ProbeRow[], classNames: string[]): string {
  const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(0)}%` : '—').padStart(5);
  const lines = ['class        pixels  absent   plain  reconstructed'];
  rows.forEach((r, c) => lines.push(`${(classNames[c] ?? String(c)).padEnd(10)} ${String(r.pixels).padStart(8)}  ${pct(r.absent, r.pixels)}   ${pct(r.plain, r.pixels)}  ${pct(r.reconstructed, r.pixels)}`));
  return lines.join('\n');
}
