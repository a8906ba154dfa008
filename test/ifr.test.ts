// IFR loss pieces (train/ifr.ts): the ramp by hand; prototypes and the attention/reconstruction on
// hand-made cases; the whole loss against the float64 reference (test/reference/ifr.ts) on fixed random
// features; and a fast-check property over random sizes, classes and labels comparing the loss with the
// reference and its gradient (target, reference, classifier weight and bias) with central differences
// of the reference (the classes are fixed per case, so the loss is smooth). Bad arguments throw.
// The probe (train/ifr-probe.ts) is checked against a forward pass of each target alone.
//
// Case values: features in [0.1, 2], as after the decoder's ReLU and away from 0 so that a class mean
// never nears the zero vector, where the cosine is ill-conditioned; classifier weights in [−0.1, 0.1],
// about the student's initial scale, so that logits / 0.01 stay O(10) and the cross-entropy is not
// saturated everywhere.
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { makeRng } from '../dataset/rng.ts';
import * as E from '../engine/index.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { writeSynth } from '../dataset/synth-write.ts';
import { frameTensor } from '../models/input.ts';
import { Student, defaultStudentConfig } from '../models/student.ts';
import { ifrAttention, ifrLoss, ifrRamp, prototypes, reconstruct } from '../train/ifr.ts';
import { formatProbe, framePairs, probeIfr } from '../train/ifr-probe.ts';
import { TINY_MODEL } from './fixtures.ts';
import { FWD, checkOpWith, close, values } from './gradcheck.ts';
import { ifrLossRef, prototypesRef, type IfrRefCase } from './reference/ifr.ts';
import { nd, type Nd } from './reference/nd.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

// Forward tolerance of the loss: the 1/0.01 logit scale makes logits of up to ~100 in magnitude, and
// the f32 cross-entropy lse − x_label of such logits carries ~1e-5 of absolute rounding, more than the
// default FWD's 1e-5·max(1, |loss|) allows for losses under 1; 1e-4 absolute (scaled) and relative.
const LOSS_TOL = { atol: 1e-4, rtol: 1e-4 };

const read = async (t: E.Tensor) => [...(await t.data())];

/** The GPU loss for a reference case, with the classifier as a 1×1 convolution. */
function gpuLoss(c: IfrRefCase, target: E.Tensor, reference: E.Tensor, weight: E.Tensor, bias: E.Tensor): E.Tensor {
  const [k, d] = c.weight.shape as [number, number];
  const [hr, wr] = reference.shape.slice(2) as [number, number];
  const classify = (f: E.Tensor) => E.conv2d(f, E.reshape(weight, [k, d, 1, 1]), bias);
  const refClasses = E.tensor(Int32Array.from(c.refClasses), [1, hr, wr]);
  const labels = E.tensor(Int32Array.from(c.labels), [1, ...c.size]);
  return ifrLoss(classify, target, reference, refClasses, labels, k, { temperature: c.temperature, logitTemperature: c.logitTemperature, ignoreIndex: c.ignoreIndex });
}

describe('ifr', () => {
  test('ramp: exp(−5(1 − min(t,T)/T)²), 1 when T = 0', () => {
    expect(ifrRamp(0, 4000)).toBeCloseTo(Math.exp(-5), 12);
    expect(ifrRamp(2000, 4000)).toBeCloseTo(Math.exp(-1.25), 12);
    expect(ifrRamp(4000, 4000)).toBe(1);
    expect(ifrRamp(9000, 4000)).toBe(1);
    expect(ifrRamp(-5, 4000)).toBeCloseTo(Math.exp(-5), 12);
    expect(ifrRamp(0, 0)).toBe(1);
    expect(() => ifrRamp(1, -1)).toThrow(/ifrRamp.*T -1/);
    expect(() => ifrRamp(NaN, 10)).toThrow(/ifrRamp/);
  });

  test('prototypes: class means, 0 rows and present 0 for absent classes', async () => {
    // D = 2, n = 5; class 0 at pixels 0, 2, 4; class 1 at 1, 3; class 2 absent; 7 joins no class.
    const f = E.tensor([1, 2, 3, 4, 5, 10, 20, 30, 40, 50], [2, 5]);
    const cls = E.tensor(Int32Array.from([0, 1, 0, 1, 7]), [5]);
    const { protos, present } = prototypes(f, cls, 3);
    expect(protos.shape).toEqual([3, 2]);
    expect(await read(protos)).toEqual([2, 20, 3, 30, 0, 0]);
    expect(await read(present)).toEqual([1, 1, 0]);
  });

  test('attention: a feature along one prototype weighs it most; absent classes get exactly 0', async () => {
    // P0 = (1, 0), P1 = (0, 2), P2 = (5, 5) marked absent. Pixel 0 = (3, 0) is along P0: weights
    // e^{1/0.5} : e^{0/0.5} = e² : 1 on P0 : P1. Pixel 1 = (1, 1) is at 45° to both: equal weights.
    const f = E.tensor([3, 1, 0, 1], [2, 2]);
    const protos = E.tensor([1, 0, 0, 2, 5, 5], [3, 2]);
    const present = E.tensor([1, 1, 0], [3]);
    const a = await read(ifrAttention(f, protos, present));
    const e2 = Math.exp(2);
    close(a, [e2 / (e2 + 1), 0.5, 1 / (e2 + 1), 0.5, 0, 0], FWD, 'attention');
    expect(a[4]).toBe(0);
    expect(a[5]).toBe(0);
    const r = await read(reconstruct(f, protos, present));
    close(r, [e2 / (e2 + 1), 0.5, 2 / (e2 + 1), 1], FWD, 'reconstruct');
    // With no class present every weight is equal and prototypes()'s zero rows reconstruct 0 (no NaN).
    const none = await read(reconstruct(f, E.zeros([3, 2]), E.zeros([3])));
    expect(none).toEqual([0, 0, 0, 0]);
  });

  test('loss against the float64 reference on fixed random features (frames of different sizes)', async () => {
    const rng = makeRng(7);
    const [k, d, h, w, hr, wr, H, W] = [5, 8, 4, 5, 3, 6, 13, 17];
    const rand = (shape: number[], lo: number, hi: number) => nd(shape, () => Math.fround(rng.range(lo, hi)));
    const c: IfrRefCase = {
      weight: rand([k, d], -0.1, 0.1),
      bias: rand([k], -0.1, 0.1),
      refClasses: Array.from({ length: hr * wr }, () => rng.int(k - 1)), // class k−1 is absent
      labels: Array.from({ length: H * W }, () => (rng.float() < 0.2 ? 255 : rng.int(k))),
      size: [H, W],
      temperature: 0.5,
      logitTemperature: 0.01,
      ignoreIndex: 255,
    };
    // Each pixel is its class's centre plus noise, so that the prototypes differ and the attention
    // is far from uniform (means of uniform noise would all be near the global mean).
    const centres = rand([k, d], 0.1, 2);
    const around = (cls: number[], hh: number, ww: number) =>
      nd([1, d, hh, ww], (i) => Math.fround(Math.max(0.1, centres.data[cls[i % (hh * ww)]! * d + Math.floor(i / (hh * ww))]! + rng.range(-0.3, 0.3))));
    const t = around(Array.from({ length: h * w }, () => rng.int(k)), h, w);
    const r = around([...c.refClasses], hr, wr);
    const up = (x: Nd) => E.tensor(Float32Array.from(x.data), x.shape);
    const loss = gpuLoss(c, up(t), up(r), up(c.weight), up(c.bias));
    expect(loss.shape).toEqual([]);
    const want = ifrLossRef(t, r, c).data[0]!;
    expect(want).toBeGreaterThan(0.1); // a loss that is not trivially 0
    close([await loss.item()], [want], LOSS_TOL, 'ifrLoss');
    // The reference's prototypes are the GPU's too.
    const { protos } = prototypes(E.reshape(up(r), [d, hr * wr]), E.tensor(Int32Array.from(c.refClasses)), k);
    close(await read(protos), prototypesRef(nd([d, hr * wr], r.data), c.refClasses, k).protos.data, FWD, 'prototypes');
  });

  test('random sizes, classes and labels: forward and gradient (target, reference, classifier)', async () => {
    const dims = fc.record({
      k: fc.integer({ min: 1, max: 4 }),
      d: fc.integer({ min: 1, max: 6 }),
      h: fc.integer({ min: 1, max: 4 }),
      w: fc.integer({ min: 1, max: 4 }),
      hr: fc.integer({ min: 1, max: 4 }),
      wr: fc.integer({ min: 1, max: 4 }),
      H: fc.integer({ min: 1, max: 9 }),
      W: fc.integer({ min: 1, max: 9 }),
    });
    const cases = dims.chain((s) =>
      fc
        .tuple(
          values(s.d * s.h * s.w, 0.1, 2),
          values(s.d * s.hr * s.wr, 0.1, 2),
          values(s.k * s.d, -0.1, 0.1),
          values(s.k, -0.1, 0.1),
          fc.array(fc.integer({ min: 0, max: s.k - 1 }), { minLength: s.hr * s.wr, maxLength: s.hr * s.wr }),
          fc.array(fc.oneof(fc.integer({ min: 0, max: s.k - 1 }), fc.constant(255)), { minLength: s.H * s.W, maxLength: s.H * s.W }),
          fc.constantFrom(0.5, 0.2),
        )
        .map(([t, r, wt, b, refClasses, labels, temperature]): [Nd[], IfrRefCase] => {
          const weight = nd([s.k, s.d], wt);
          const bias = nd([s.k], b);
          const c = { weight, bias, refClasses, labels, size: [s.H, s.W] as [number, number], temperature, logitTemperature: 0.01, ignoreIndex: 255 };
          return [[nd([1, s.d, s.h, s.w], t), nd([1, s.d, s.hr, s.wr], r), weight, bias], c];
        }),
    );
    await checkOpWith('ifrLoss', {
      cases,
      op: (c, t, r, wt, b) => gpuLoss(c, t!, r!, wt!, b!),
      ref: (c, t, r, wt, b) => ifrLossRef(t!, r!, { ...c, weight: wt!, bias: b! }),
      fwd: LOSS_TOL,
      runs: 100,
    });
  });

  test("the student's classifier frozen (--ifr-classifier frozen): the same loss, a gradient for the features and none for the classifier", async () => {
    const model = new Student({ ...defaultStudentConfig(3, [32, 48]), ...TINY_MODEL }, 4);
    const image = E.randUniform([2, 3, 32, 48], 9, -1, 1);
    const labels = E.tensor(Int32Array.from({ length: 32 * 48 }, (_, i) => i % 3), [1, 32, 48], 'i32');
    const params = model.ps.list();
    const classifier = ['decoder.classifier.weight', 'decoder.classifier.bias'].map((n) => model.ps.get(n));
    const feature = model.ps.get('decoder.fuse.1.weight');
    const run = async (frozen: boolean) => {
      const loss = E.tidy(() => {
        const out = model.forward(image, {});
        const f = (i: number) => E.slice(out.features, [i], [i + 1]);
        const [h, w] = out.features.shape.slice(2) as [number, number];
        const refClasses = E.reshape(E.argmax(E.slice(out.logitsLow, [1], [2]), 1), [h * w]);
        const l = ifrLoss((x) => model.classify(x, frozen), f(0), f(1), refClasses, labels, 3, { temperature: 0.1 });
        E.backward(l);
        return l;
      });
      const grads = { loss: await loss.item(), classifier: classifier.map((p) => p.grad), feature: feature.grad ? await read(feature.grad) : [] };
      loss.dispose();
      return grads;
    };
    const trained = await run(false);
    expect(trained.classifier.every((g) => g !== undefined)).toBe(true);
    const trainedFeature = trained.feature;
    E.zeroGrad(params);
    const frozen = await run(true);
    expect(frozen.loss).toBe(trained.loss);
    for (const g of frozen.classifier) if (g) expect(Math.max(...(await read(g)).map(Math.abs))).toBe(0);
    close(frozen.feature, trainedFeature, { atol: 1e-6, rtol: 1e-4 }, "the features' gradient");
    expect(Math.max(...frozen.feature.map(Math.abs))).toBeGreaterThan(0);
    E.zeroGrad(params);
    for (const t of [image, labels]) t.dispose();
    model.ps.dispose();
  });

  test('bad arguments name the op and the shapes', () => {
    const f = E.zeros([2, 5]);
    expect(() => prototypes(E.zeros([1, 2, 5]), E.zeros([5], 'i32'), 3)).toThrow(/prototypes: features must be f32 \[D, n\], got Tensor\(\[1,2,5\]/);
    expect(() => prototypes(f, E.zeros([4], 'i32'), 3)).toThrow(/prototypes: classes must be i32 \[5\].*\[4\]/);
    expect(() => prototypes(f, E.zeros([5]), 3)).toThrow(/prototypes: classes must be i32/);
    expect(() => prototypes(f, E.zeros([5], 'i32'), 0)).toThrow(/prototypes: numClasses must be a positive integer, got 0/);
    expect(() => reconstruct(f, E.zeros([3, 4]), E.zeros([3]))).toThrow(/ifrAttention: protos must be f32 \[K, 2\].*\[3,4\]/);
    expect(() => reconstruct(f, E.zeros([3, 2]), E.zeros([2]))).toThrow(/ifrAttention: present must be f32 \[3\]/);
    expect(() => reconstruct(f, E.zeros([3, 2]), E.zeros([3]), 0)).toThrow(/ifrAttention: temperature must be positive, got 0/);

    const t = E.zeros([1, 2, 3, 4]);
    const cls = E.zeros([12], 'i32');
    const labels = E.zeros([1, 6, 8], 'i32');
    const id = (x: E.Tensor) => x;
    expect(() => ifrLoss(id, E.zeros([2, 3, 4]), t, cls, labels, 2)).toThrow(/ifrLoss: target features must be f32 \[1, D, h, w\], got Tensor\(\[2,3,4\]/);
    expect(() => ifrLoss(id, t, E.zeros([1, 3, 3, 4]), cls, labels, 2)).toThrow(/ifrLoss: target \[1,2,3,4\] and reference \[1,3,3,4\] have different feature sizes/);
    expect(() => ifrLoss(id, t, t, E.zeros([11], 'i32'), labels, 2)).toThrow(/ifrLoss: refClasses must be i32 \[12\] or \[1, 3, 4\]/);
    expect(() => ifrLoss(id, t, t, cls, E.zeros([6, 8], 'i32'), 2)).toThrow(/ifrLoss: labels must be i32 \[1, H, W\], got Tensor\(\[6,8\]/);
    // The identity "classifier" gives D = 2 channels, not K = 3.
    expect(() => ifrLoss(id, t, t, cls, labels, 3)).toThrow(/ifrLoss: classify gave \[1,2,3,4\] for features \[1,2,3,4\], expected \[1, 3, 3, 4\]/);
  });
});

describe('ifr-probe: what IFR asks of a model, on pairs of frames', () => {
  test('counts each target pixel once per class; plain hits match a forward pass of the target alone; pairs share a video', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vss-ifr-probe-'));
    try {
      writeSynth(dir, { seed: 5, videos: 3, frames: 4, width: 48, height: 32, valVideos: 1 });
      const ds = VideoDataset.open(dir);
      const refs = ds.videoFrames('train').flatMap((v) => v.frames.map((frame, index) => ({ video: v.video, frame, index })));
      const pairs = framePairs(refs, 5, 2);
      for (const [t, r] of pairs) {
        expect(t.video).toBe(r.video);
        expect(t.frame).not.toBe(r.frame);
      }
      expect(() => framePairs(refs.slice(0, 1), 1, 0)).toThrow(/no video has two frames/);
      const model = new Student({ ...defaultStudentConfig(ds.numClasses, [32, 48]), ...TINY_MODEL }, 3);
      const rows = await probeIfr(model, ds, pairs);
      expect(rows).toHaveLength(ds.numClasses);
      const pixels = new Array<number>(ds.numClasses).fill(0), hits = new Array<number>(ds.numClasses).fill(0);
      for (const [t] of pairs) {
        const { frame, labels } = ds.readSample(t.video, t.frame);
        const pred = E.noGrad(() => E.tidy(() => E.keep(E.argmax(model.logits(frameTensor(frame)), 1))));
        const p = (await pred.data()) as Int32Array;
        pred.dispose();
        labels.labels.forEach((c, i) => {
          if (c < 0 || c >= ds.numClasses) return;
          pixels[c]!++;
          if (p[i] === c) hits[c]!++;
        });
      }
      expect(rows.map((r) => r.pixels)).toEqual(pixels);
      expect(rows.map((r) => r.plain)).toEqual(hits);
      for (const r of rows) {
        expect(r.absent).toBeLessThanOrEqual(r.pixels);
        expect(r.reconstructed).toBeLessThanOrEqual(r.pixels);
      }
      expect(formatProbe(rows, ds.classNames).split('\n')).toHaveLength(ds.numClasses + 1);
      model.ps.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
