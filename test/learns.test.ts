// The default recipe learns: a small task, trained in seconds with DEFAULTS (optimiser, schedule,
// augmentation, class weights, OHEM), must find every foreground class, not only lower the loss.
//
// The task: 64×48 frames of smooth two-colour noise (a new pair of colours per video) with three
// objects of 12–20 px, one of each class, moving and bouncing. The classes differ by texture only
// (horizontal stripes, vertical stripes, checks; period 8 px), each object in its own two random
// colours, so colour is never the cue and the background covers ~85% of every frame: a recipe that
// lets the background swallow small objects fails here. The student is the tests' tiny one from
// scratch (the pretrained weights are the default size and already know the embedded world), the
// only departures from DEFAULTS besides the run's length and frame size.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { encodePaletteMask, vocPalette } from '../dataset/image.ts';
import { encodeJpeg } from '../dataset/jpeg-encode.ts';
import { makeRng, mixSeed } from '../dataset/rng.ts';
import { frameName, hsv, videoName, vnoise } from '../dataset/synth.ts';
import { DEFAULTS } from '../train/config.ts';
import { train } from '../train/train.ts';
import { TINY_MODEL } from './fixtures.ts';
import { gpu } from './setup.ts';

const W = 64, H = 48, FRAMES = 4, TRAIN_VIDEOS = 24, VAL_VIDEOS = 6;
const CLASSES = ['background', 'stripes', 'columns', 'checks'];

/** Is pixel (x, y) of a textured object of class `cls` in its first colour? */
const onTexture = (cls: number, x: number, y: number) =>
  (cls === 1 ? y >> 2 : cls === 2 ? x >> 2 : (x >> 2) + (y >> 2)) & 1;

function texturesVideo(seed: number): { rgb: Uint8Array; mask: Uint8Array }[] {
  const rng = makeRng(mixSeed(seed, 11));
  const bg = [0, 1].map(() => hsv(rng.float(), rng.range(0.1, 0.6), rng.range(0.3, 0.9)));
  const things = [1, 2, 3].map((cls) => ({
    cls, r: rng.range(6, 10), disc: rng.float() < 0.5,
    x: rng.range(10, W - 10), y: rng.range(10, H - 10), vx: rng.range(-2, 2), vy: rng.range(-2, 2),
    light: hsv(rng.float(), rng.range(0.3, 1), rng.range(0.7, 1)), dark: hsv(rng.float(), rng.range(0.3, 1), rng.range(0.05, 0.35)),
  }));
  return Array.from({ length: FRAMES }, (_, t) => {
    const rgb = new Uint8Array(W * H * 3), mask = new Uint8Array(W * H).fill(1); // VSPW values: class k is k + 1
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const w = vnoise(x * 0.08, y * 0.08 + t * 0.1, seed);
        for (let c = 0; c < 3; c++) rgb[(y * W + x) * 3 + c] = 255 * (bg[0]![c]! * w + bg[1]![c]! * (1 - w));
      }
    }
    for (const s of things) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const u = x + 0.5 - s.x, v = y + 0.5 - s.y;
          if ((s.disc ? Math.hypot(u, v) : Math.max(Math.abs(u), Math.abs(v))) > s.r) continue;
          const i = y * W + x, colour = onTexture(s.cls, x, y) ? s.light : s.dark;
          mask[i] = s.cls + 1;
          for (let c = 0; c < 3; c++) rgb[i * 3 + c] = 255 * colour[c]!;
        }
      }
      s.x += s.vx; s.y += s.vy;
      if (s.x < 8 || s.x > W - 8) s.vx = -s.vx;
      if (s.y < 8 || s.y > H - 8) s.vy = -s.vy;
    }
    const noise = makeRng(mixSeed(seed, t, 12)); // sensor noise
    for (let i = 0; i < rgb.length; i++) rgb[i] = Math.max(0, Math.min(255, rgb[i]! + noise.int(17) - 8));
    return { rgb, mask };
  });
}

const root = mkdtempSync(path.join(tmpdir(), 'vss-learns-'));
const data = path.join(root, 'data');

beforeAll(async () => {
  await gpu();
  const names = Array.from({ length: TRAIN_VIDEOS + VAL_VIDEOS }, (_, i) => videoName(i));
  mkdirSync(data, { recursive: true });
  writeFileSync(path.join(data, 'dataset.json'), JSON.stringify({ labels: 'vspw', numClasses: CLASSES.length }));
  writeFileSync(path.join(data, 'classes.json'), JSON.stringify(CLASSES));
  writeFileSync(path.join(data, 'train.txt'), names.slice(0, TRAIN_VIDEOS).join('\n') + '\n');
  writeFileSync(path.join(data, 'val.txt'), names.slice(TRAIN_VIDEOS).join('\n') + '\n');
  names.forEach((name, v) => {
    const dir = path.join(data, 'data', name);
    mkdirSync(path.join(dir, 'origin'), { recursive: true });
    mkdirSync(path.join(dir, 'mask'), { recursive: true });
    texturesVideo(v + 1).forEach(({ rgb, mask }, t) => {
      writeFileSync(path.join(dir, 'origin', `${frameName(t)}.jpg`), encodeJpeg({ width: W, height: H, rgb }, 90));
      writeFileSync(path.join(dir, 'mask', `${frameName(t)}.png`), encodePaletteMask({ width: W, height: H, values: mask }, vocPalette()));
    });
  });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

test('the default recipe finds every class of a small textures task in 300 steps', async () => {
  const run = await train({
    ...DEFAULTS, data, out: path.join(root, 'run'), steps: 300, labeledEvery: 1, evalEvery: 0,
    evalVideos: VAL_VIDEOS, model: TINY_MODEL, init: '', crop: `${W}x${H}`,
  });
  const iou = run!.result.perClassIoU;
  console.log(`val IoU: ${CLASSES.map((c, k) => `${c} ${(100 * iou[k]!).toFixed(1)}`).join(', ')}`);
  // Measured over seeds 0–2: background 0.93, each texture 0.60–0.74. After 100 steps the same run
  // scores 0.38–0.49 on the textures: the bar fails a recipe that learns three times slower.
  expect(iou[0]).toBeGreaterThan(0.85);
  for (let k = 1; k < CLASSES.length; k++) expect(iou[k], CLASSES[k]).toBeGreaterThan(0.5);
});
