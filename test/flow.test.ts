// eval/flow.ts, eval/flo.ts and the flow CLI:
// - polyExpansion against its definition (test/reference/flow.ts: a float64 weighted least-squares fit
//   per pixel) on random small images, n and σ;
// - farneback against OpenCV's own implementation (opencv.js) and against the true motion on textured
//   pairs with known translation, zoom and rotation, for the defaults and for other parameters (Gaussian
//   window, poly_n 7, another pyramid scale, an even window, odd frame sizes);
// - warpImage / warpLabels against the float64 warps on random shapes and flows, in and out of frame;
// - .flo round trip and errors, the Middlebury colours, OpenCV's gray conversion;
// - bad input, and the CLI end to end.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { encode as pngEncode } from 'fast-png';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeFrame } from '../dataset/image.ts';
import * as E from '../engine/index.ts';
import { flowToColor, readFlo, writeFlo } from '../eval/flo.ts';
import { FARNEBACK_DEFAULTS, farneback, polyExpansion, toGray, warpImage, warpLabels, type FarnebackOptions } from '../eval/flow.ts';
import { FWD, close, values } from './gradcheck.ts';
import { nd } from './reference/nd.ts';
import { cvFarneback, cvGray, meanEpe, motionPair, openCV, type Motion } from '../bench/opencv-flow.ts';
import { polyExpansionRef, warpBilinearRef, warpNearestRef } from './reference/flow.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

const gray = (v: Uint8Array, h: number, w: number) => E.tensor(Float32Array.from(v), [h, w]);

describe('polynomial expansion', () => {
  test('matches the weighted least-squares fit, random sizes, n and σ', async () => {
    // Tolerance: FWD relative to the largest coefficient or pixel value. The kernel applies the closed-form
    // inverse of the normal matrix to f32 sums, the reference solves the 6×6 system in float64; the f32
    // rounding grows with the pixel values even where every coefficient is ~0 (a 1×1 image of 229 gave
    // 3e-5 for a coefficient of 6e-14).
    const cases = fc
      .tuple(fc.integer({ min: 1, max: 11 }), fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 7 }), fc.double({ min: 0.6, max: 2, noNaN: true }))
      .chain(([h, w, n, s]) => values(h * w, 0, 255).map((v) => ({ h, w, n, s, v })));
    await fc.assert(
      fc.asyncProperty(cases, async ({ h, w, n, s, v }) => {
        const r = polyExpansion(E.tensor(v, [h, w]), n, s);
        const want = polyExpansionRef(nd([h, w], v), n, s).data;
        const scale = Math.max(1, ...Array.from(want, Math.abs)); // close()'s own scale
        const atol = FWD.atol * Math.max(1, Math.max(...Array.from(v, Math.abs)) / scale);
        close(await r.data(), want, { ...FWD, atol }, `polyExpansion ${h}x${w} n ${n} σ ${s}`);
        r.dispose();
      }),
      { numRuns: 25, examples: [[{ h: 1, w: 1, n: 1, s: 0.6, v: [228.9705352783203] }]] }, // once a failure: a 1×1 image
    );
  });
});

describe('farneback against OpenCV and the true motion', () => {
  // Tolerances. Against OpenCV (same 8-bit frames, same parameters): mean end-point difference
  // ≤ 1e-3 px and ≤ 0.02 px at every pixel; the two differ only by f32 against OpenCV's double window
  // sums and solve (measured: mean ≤ 6e-7 px, max ≤ 8e-6 px on these pairs). Against the true motion,
  // over pixels 8 or more from the edges (the window sees replicated borders there): ≤ 0.2 px, and
  // within 1e-3 px of OpenCV's own error (measured 0.02-0.04 px for the translations, 0.05-0.11 px for
  // the zooms and rotations, the same as OpenCV's to 4 decimals).
  const cases: { name: string; w: number; h: number; motion: Motion; opts?: FarnebackOptions }[] = [
    { name: 'translate (2.3, -1.4), defaults', w: 128, h: 96, motion: { kind: 'translate', dx: 2.3, dy: -1.4 } },
    { name: 'zoom 1.04, defaults', w: 128, h: 96, motion: { kind: 'zoom', s: 1.04 } },
    { name: 'rotate 3°, defaults', w: 128, h: 96, motion: { kind: 'rotate', deg: 3 } },
    { name: 'translate, Gaussian window', w: 128, h: 96, motion: { kind: 'translate', dx: -1.7, dy: 0.6 }, opts: { gaussian: true } },
    { name: 'rotate, poly_n 7 σ 1.5, odd size 97×75', w: 97, h: 75, motion: { kind: 'rotate', deg: -2.5 }, opts: { polyN: 7, polySigma: 1.5 } },
    { name: 'zoom, pyr_scale 0.7, even winsize 8, 4 iterations', w: 96, h: 80, motion: { kind: 'zoom', s: 0.97 }, opts: { pyrScale: 0.7, levels: 3, winsize: 8, iterations: 4 } },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const cv = await openCV();
      const p = motionPair(c.w, c.h, c.motion, 7);
      const o = { ...FARNEBACK_DEFAULTS, ...c.opts };
      const f = farneback(gray(p.a, c.h, c.w), gray(p.b, c.h, c.w), o);
      expect(f.shape).toEqual([c.h, c.w, 2]);
      const ours = await f.data();
      const ref = cvFarneback(cv, c.w, c.h, p.a, p.b, o);
      const vsCv = meanEpe(ours, ref, c.w, c.h);
      let worst = 0;
      for (let i = 0; i < ours.length; i += 2) worst = Math.max(worst, Math.hypot(ours[i]! - ref[i]!, ours[i + 1]! - ref[i + 1]!));
      const vsTruth = meanEpe(ours, p.truth, c.w, c.h, 8);
      const cvTruth = meanEpe(ref, p.truth, c.w, c.h, 8);
      console.log(`${c.name}: EPE vs OpenCV ${vsCv.toExponential(2)} (max ${worst.toExponential(2)}), vs truth ${vsTruth.toFixed(4)} (OpenCV ${cvTruth.toFixed(4)})`);
      expect(vsCv).toBeLessThanOrEqual(1e-3);
      expect(worst).toBeLessThanOrEqual(0.02);
      expect(vsTruth).toBeLessThanOrEqual(0.2);
      expect(Math.abs(vsTruth - cvTruth)).toBeLessThanOrEqual(1e-3);
      f.dispose();
    });
  }

  test('warping the second frame by the flow gives back the first', async () => {
    const [w, h] = [128, 96];
    const p = motionPair(w, h, { kind: 'rotate', deg: 2 }, 11);
    const f = farneback(gray(p.a, h, w), gray(p.b, h, w));
    const warped = await warpImage(gray(p.b, h, w).view([1, h, w]), f).data();
    let err = 0, n = 0;
    for (let y = 8; y < h - 8; y++) for (let x = 8; x < w - 8; x++, n++) err += Math.abs(warped[y * w + x]! - p.a[y * w + x]!);
    // The texture spans about 0-255 with gradients up to ~20 levels/px: 0.1 px of flow error is ~2 levels.
    expect(err / n).toBeLessThan(2);
  });
});

describe('warping', () => {
  const flowArb = (h: number, w: number) => values(h * w * 2, -4, 4);
  const shapes = fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 11 }));

  test('warpImage: bilinear, replicate or constant outside, against the float64 warp', async () => {
    const cases = shapes.chain(([b, c, h, w]) => fc.tuple(fc.constant([b, c, h, w]), values(b * c * h * w), flowArb(h, w), fc.option(fc.constantFrom(0, -1.5)), fc.boolean()));
    await fc.assert(
      fc.asyncProperty(cases, async ([[b, c, h, w], v, fl, fill, batched]) => {
        const shape = batched ? [b, c, h, w] : [c, h, w];
        const x = E.tensor(v.slice(0, shape.reduce((s, d) => s * d, 1)), shape);
        const y = warpImage(x, E.tensor(fl, [h, w, 2]), fill ?? undefined);
        expect(y.shape).toEqual(shape);
        close(await y.data(), warpBilinearRef(nd(shape, await x.data()), nd([h, w, 2], fl), fill ?? undefined).data, FWD, `warpImage [${shape}]`);
      }),
      { numRuns: 30 },
    );
  });

  test('warpLabels: nearest, replicate or fill outside, exactly as the reference', async () => {
    const cases = shapes.chain(([n, , h, w]) => fc.tuple(fc.constant([n, h, w]), fc.array(fc.integer({ min: -1, max: 200 }), { minLength: n * h * w, maxLength: n * h * w }), flowArb(h, w), fc.option(fc.constantFrom(255, -1)), fc.boolean()));
    await fc.assert(
      fc.asyncProperty(cases, async ([[n, h, w], v, fl, fill, batched]) => {
        const shape = batched ? [n, h, w] : [h, w];
        const labels = v.slice(0, shape.reduce((s, d) => s * d, 1));
        const y = warpLabels(E.tensor(labels, shape, 'i32'), E.tensor(fl, [h, w, 2]), fill ?? undefined);
        expect(y.dtype).toBe('i32');
        expect([...(await y.data())]).toEqual([...warpNearestRef(nd(shape, labels), nd([h, w, 2], fl), fill ?? undefined).data]);
      }),
      { numRuns: 30 },
    );
  });

  test('a whole-pixel shift moves labels and images exactly; out of frame takes the fill', async () => {
    const labels = E.tensor([1, 2, 3, 4, 5, 6], [2, 3], 'i32');
    const right = E.tensor([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0], [2, 3, 2]); // sample one pixel to the right
    expect([...(await warpLabels(labels, right).data())]).toEqual([2, 3, 3, 5, 6, 6]);
    expect([...(await warpLabels(labels, right, 255).data())]).toEqual([2, 3, 255, 5, 6, 255]);
    const img = E.tensor([1, 2, 3, 4, 5, 6], [1, 2, 3]);
    expect([...(await warpImage(img, right).data())]).toEqual([2, 3, 3, 5, 6, 6]);
    expect([...(await warpImage(img, right, 0).data())]).toEqual([2, 3, 0, 5, 6, 0]);
  });
});

describe('.flo files, colours, gray', () => {
  test('.flo round trip and bad files', () => {
    const flow = { width: 3, height: 2, data: Float32Array.from([0, 1, -2.5, 3, 1e10, 0.125, 7, -7, 0, 0, 1.5, 2]) };
    const bytes = writeFlo(flow);
    expect(bytes.length).toBe(12 + 12 * 4);
    expect(new TextDecoder().decode(bytes.slice(0, 4))).toBe('PIEH');
    expect(readFlo(bytes, 'f.flo')).toEqual(flow);
    expect(() => readFlo(bytes.slice(0, 20), 'cut.flo')).toThrow(/cut\.flo: a 3×2 \.flo file has 60 bytes, this one 20/);
    expect(() => readFlo(new Uint8Array(60), 'zero.flo')).toThrow(/zero\.flo: not a \.flo file/);
    expect(() => writeFlo({ width: 3, height: 2, data: new Float32Array(5) })).toThrow(/writeFlo: 5 values for a 3×2 flow/);
  });

  test('Middlebury colour wheel', () => {
    // Lengths relative to the largest (2): right is red, half as long is half-saturated red, no motion
    // white, left the wheel's cyan-blue (entry 27 of 55), unknown black. Values from flow-code's
    // computeColor; with maxFlow 1 the length-2 vector is out of range and darkened to 75 %.
    const field = { width: 5, height: 1, data: Float32Array.from([2, 0, 1, 0, 0, 0, -2, 0, NaN, 0]) };
    expect([...flowToColor(field)]).toEqual([255, 0, 0, 255, 127, 127, 255, 255, 255, 0, 209, 255, 0, 0, 0]);
    expect([...flowToColor(field, 1).slice(0, 3)]).toEqual([191, 0, 0]);
  });

  test('gray exactly as cv.cvtColor(RGB2GRAY) on 8-bit frames', async () => {
    const cv = await openCV();
    const [w, h] = [61, 47];
    const rgb = Uint8Array.from({ length: 3 * w * h }, (_, i) => Math.imul(i, 2654435761) >>> 24);
    rgb.set([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]); // 76, 150, 29, 255
    expect([...(await toGray({ width: w, height: h, rgb }).data())]).toEqual([...cvGray(cv, w, h, rgb)]);
  });
});

describe('bad input', () => {
  test('farneback', () => {
    const a = E.zeros([40, 40]);
    expect(() => farneback(a, E.zeros([40, 41]))).toThrow(/farneback: prev \[40,40\] and next \[40,41\] differ in size/);
    expect(() => farneback(E.zeros([1, 40, 40]), a)).toThrow(/farneback: prev must be an \[H, W\] f32 gray image, got Tensor\(\[1,40,40\]/);
    expect(() => farneback(a, E.zeros([40, 40], 'i32'))).toThrow(/farneback: next must be an \[H, W\] f32 gray image, got Tensor\(\[40,40\], i32/);
    expect(() => farneback(a, a, { pyrScale: 1 })).toThrow(/farneback: pyrScale must be in \(0, 1\), got 1/);
    expect(() => farneback(a, a, { winsize: 0 })).toThrow(/farneback: winsize must be an integer in \[1, 255\], got 0/);
    expect(() => farneback(a, a, { polyN: 16 })).toThrow(/farneback: polyN must be an integer in \[1, 15\], got 16/);
    expect(() => farneback(a, a, { polySigma: -1 })).toThrow(/farneback: polySigma must be in \(0, 10\], got -1/);
    expect(() => farneback(a, a, { iterations: 2.5 })).toThrow(/farneback: iterations must be an integer/);
  });

  test('warps', () => {
    const flow = E.zeros([4, 5, 2]);
    expect(() => warpImage(E.zeros([1, 4, 6]), flow)).toThrow(/warpImage \[1,4,6\] by flow \[4,5,2\]: the image is 4×6, the flow 4×5/);
    expect(() => warpImage(E.zeros([4, 5]), flow)).toThrow(/warpImage \[4,5\] by flow \[4,5,2\]: expected rank 3 or 4, got 2/);
    expect(() => warpImage(E.zeros([1, 4, 5], 'i32'), flow)).toThrow(/expected f32, got i32/);
    expect(() => warpImage(E.zeros([1, 4, 5]), E.zeros([4, 5, 3]))).toThrow(/flow must be \[H, W, 2\] f32/);
    expect(() => warpLabels(E.zeros([4, 5]), flow)).toThrow(/warpLabels \[4,5\] by flow \[4,5,2\]: expected i32, got f32/);
    expect(() => warpLabels(E.zeros([4, 5], 'i32'), flow, 0.5)).toThrow(/warpLabels: fill must be an i32 integer, got 0.5/);
  });
});

describe('CLI', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'flow-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const vite = path.resolve('node_modules/.bin/vite-node');
  const cli = (...args: string[]) => spawnSync(process.execPath, [vite, 'eval/flow-cli.ts', ...args], { encoding: 'utf8', timeout: 300_000 });
  const png = (name: string, w: number, h: number, g: Uint8Array) => {
    const file = path.join(dir, name);
    writeFileSync(file, pngEncode({ width: w, height: h, data: Uint8Array.from({ length: 3 * w * h }, (_, i) => g[Math.floor(i / 3)]!), channels: 3, depth: 8 }));
    return file;
  };

  test('writes the flow and its picture; rejects unreadable and mismatched frames', async () => {
    const [w, h] = [80, 64];
    const p = motionPair(w, h, { kind: 'translate', dx: 1.5, dy: 0.5 }, 5);
    const a = png('a.png', w, h, p.a), b = png('b.png', w, h, p.b);
    const out = path.join(dir, 'f.flo'), viz = path.join(dir, 'f.png');
    const r = cli(a, b, '--out', out, '--viz', viz, '--winsize', '9');
    expect(r.status, r.stderr).toBe(0);
    const flo = readFlo(readFileSync(out), out);
    expect([flo.width, flo.height]).toEqual([w, h]);
    // The gray frames are the PNGs' own levels, so the CLI's flow is farneback's on the same input.
    const direct = await farneback(gray(p.a, h, w), gray(p.b, h, w), { winsize: 9 }).data();
    close(flo.data, direct, { atol: 1e-6, rtol: 1e-6 }, 'CLI flow');
    const pic = decodeFrame(readFileSync(viz), viz);
    expect([pic.width, pic.height]).toEqual([w, h]);

    const missing = cli(path.join(dir, 'nope.png'), b, '--out', out);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/flow: .*nope\.png: cannot read \(ENOENT\)/);
    const small = png('small.png', 40, 32, p.a.slice(0, 40 * 32));
    const mismatch = cli(a, small, '--out', out);
    expect(mismatch.status).toBe(1);
    expect(mismatch.stderr).toMatch(/the frames differ in size: .*a\.png is 80×64, .*small\.png is 40×32/);
    // An output naming an input (here by another spelling of its path) is refused before anything is written.
    const before = readFileSync(a);
    const over = cli(a, b, '--out', path.join(dir, '.', 'a.png'));
    expect(over.status).toBe(1);
    expect(over.stderr).toMatch(/flow: --out .*a\.png: the same file as A .*a\.png; an output may not replace an input/);
    expect(cli(a, b, '--out', out, '--viz', out).stderr).toMatch(/--viz .*f\.flo: the same file as --out/);
    expect(readFileSync(a).equals(before)).toBe(true);
    // Options are bounded to what makes sense, so a typo cannot start hours of work.
    expect(cli(a, b, '--out', out, '--iterations', '1e9').stderr).toMatch(/iterations must be an integer in \[1, 100\], got 1000000000/);
    expect(cli(a, b, '--out', out, '--winsize', '1e6').stderr).toMatch(/winsize must be an integer in \[1, 255\]/);
    expect(cli(a, b, '--out', out, '--levels', '1000').stderr).toMatch(/levels must be an integer in \[0, 20\]/);
    writeFileSync(path.join(dir, 'junk.png'), 'not an image');
    const junk = cli(a, path.join(dir, 'junk.png'), '--out', out);
    expect(junk.stderr).toMatch(/junk\.png: not a JPEG or PNG file/);
  });
});
