// The browser page end to end, in headless Chromium driven by playwright-core: a student trained here
// (train/train.ts, a few steps on a tiny synthetic set) is opened by the page from the test's server
// by URL together with a video's frames and masks; the page's label maps must equal Node's on the same
// frames, its overlay must show in a screenshot, and its fine-tune button must lower the loss. The
// server's read-only and path rules and the page's error messages are checked too.
//
// Chromium flags: Debian's Chromium 156 headless gives a WebGPU adapter (google / swiftshader, a CPU
// implementation) with --enable-unsafe-webgpu alone, on a secure origin (http://localhost; about:blank
// has no navigator.gpu). Without the flag requestAdapter() returns null; --enable-features=Vulkan,
// --use-angle=swiftshader and --use-webgpu-adapter=swiftshader change nothing, and the ANGLE-on-Vulkan
// set (--use-angle=vulkan --use-vulkan=native ...) loses the adapter.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decode } from 'fast-png';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeSafetensors, encodeSafetensors, noGrad, tidy } from '../engine/index.ts';
import { decodeFrame, type Frame } from '../dataset/image.ts';
import { writeSynth, writeVspwLike } from '../dataset/synth-write.ts';
import { logitsAt, modelInput, perFrame, predictFrames } from '../eval/predict.ts';
import { studentFromCheckpoint } from '../models/checkpoint.ts';
import { train } from '../train/train.ts';
import { classColour } from '../web/overlay.ts';
import { startServer, type RunningServer } from '../web/server.ts';
import { tinyRun } from './fixtures.ts';
import { gpu } from './setup.ts';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--enable-unsafe-webgpu'];
/**
 * Logits of the page (SwiftShader, 'tiled' matmul) and of Node (lavapipe, 'unrolled' matmul) are the same
 * f32 arithmetic summed in different orders by different drivers: they agree to ~3e-6 here; 1e-3 leaves
 * room for other drivers. A pixel's label may then differ only where Node's two best logits are within
 * 2·TOL of each other (a near-tie that the rounding can flip).
 */
const TOL = 1e-3;
const W = 64;
const H = 48;

const root = mkdtempSync(path.join(tmpdir(), 'vss-web-'));
const data = path.join(root, 'data');
const runs = path.join(root, 'runs');
const vspw = path.join(root, 'vspw');
const video = path.join(data, 'data', 'video_000');
let server: RunningServer;
let browser: Browser;
let page: Page;
let frames: Frame[];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's Chromium; run \`bash scripts/setup.sh\``);
  await gpu();
  writeSynth(data, { seed: 4, videos: 2, frames: 4, width: W, height: H, valVideos: 1 });
  await train(tinyRun(data, path.join(runs, 'tiny'), { steps: 30, lr: 3e-3, warmup: 3, labeledEvery: 1, checkpointEvery: 30, crop: `${W}x${H}` }));
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'pipe' }); // dist/web/: app.js, index.html, style.css
  frames = readdirSync(path.join(video, 'origin'))
    .sort()
    .map((f) => decodeFrame(new Uint8Array(readFileSync(path.join(video, 'origin', f))), f));
  writeVspwLike(vspw, { seed: 3, videos: 2, frames: 2, sizes: [[854, 480]], valVideos: 1 });
  server = await startServer({ port: 0, mounts: { '/': 'dist/web', '/runs': runs, '/data': data, '/vspw': vspw } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  page = await browser.newPage();
  const url = `${server.url}?checkpoint=/runs/tiny/model.safetensors&frames=/data/data/video_000/origin/&masks=/data/data/video_000/mask/`;
  await page.goto(url);
  await page.evaluate(() => window.vss.ready);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

/** Node's logits [K, H, W] per frame (frame t with t−1 as context, as the page computes them). */
async function nodeLogits(model: Parameters<typeof logitsAt>[0]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let t = 0; t < frames.length; t++) {
    const l = noGrad(() =>
      tidy(() => {
        const { images, clip } = modelInput(model, [frames[t]!], frames[t - 1]);
        return perFrame(logitsAt(model, images, 1, clip), clip);
      }),
    );
    out.push((await l.data()) as Float32Array);
    l.dispose();
  }
  return out;
}

describe('the browser page', () => {
  test('predicts the label maps Node predicts, with logits within 1e-3', async () => {
    const { model, classNames } = studentFromCheckpoint(new Uint8Array(readFileSync(path.join(runs, 'tiny', 'model.safetensors'))), 'model.safetensors');
    const k = model.config.numClasses;
    const nodeLabels = await predictFrames(model, frames);
    const nodeL = await nodeLogits(model);
    model.ps.dispose();
    const pageLabels = await page.evaluate(() => window.vss.labels());
    const pageL = await page.evaluate(() => window.vss.logits());

    expect(pageL.length).toBe(frames.length);
    let maxDiff = 0;
    pageL.forEach((l, t) => {
      expect(l.length).toBe(k * H * W);
      l.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - nodeL[t]![i]!))));
    });
    expect(maxDiff).toBeLessThanOrEqual(TOL);

    let differing = 0;
    const classes = new Set<number>();
    pageLabels.forEach((labels, t) => {
      labels.forEach((c, p) => {
        classes.add(c);
        const n = nodeLabels[t]![p]!;
        if (c === n) return;
        differing++;
        const gap = Math.abs(nodeL[t]![c * H * W + p]! - nodeL[t]![n * H * W + p]!);
        expect(gap, `frame ${t} pixel ${p}: page says ${c}, Node ${n}, not a near-tie`).toBeLessThanOrEqual(2 * TOL);
      });
    });
    console.log(`page vs Node: max |Δlogit| ${maxDiff.toExponential(2)}, ${differing} of ${frames.length * H * W} labels differ (near-ties); page predicts classes ${[...classes].sort().join(',')}`);
    expect(classes.size).toBeGreaterThan(1); // the trained model does not predict one class everywhere

    // The legend names the checkpoint's classes.
    const legend = await page.locator('#legend li').allTextContents();
    expect(legend).toEqual(classNames.map((n, c) => `${c} ${n}`));
  });

  // VSPW's 480p frames: the page predicts at the frame's size, as Node does (labels may differ only at
  // near-ties, where SwiftShader's and lavapipe's roundings of the same sums pick different classes).
  test('an 854×480 frame: the page predicts at its size the labels Node predicts', async () => {
    const dir = path.join(vspw, 'data', 'video_000', 'origin');
    const big = readdirSync(dir).sort().map((f) => decodeFrame(new Uint8Array(readFileSync(path.join(dir, f))), f));
    const { model } = studentFromCheckpoint(new Uint8Array(readFileSync(path.join(runs, 'tiny', 'model.safetensors'))), 'model.safetensors');
    const nodeLabels = await predictFrames(model, big);
    model.ps.dispose();
    const p = await browser.newPage();
    try {
      await p.goto(`${server.url}?checkpoint=/runs/tiny/model.safetensors&frames=/vspw/data/video_000/origin/`);
      await p.evaluate(() => window.vss.ready);
      const pageLabels = await p.evaluate(() => window.vss.labels());
      expect(pageLabels.map((l) => l.length)).toEqual([854 * 480, 854 * 480]);
      const differing = pageLabels.reduce((n, l, t) => n + l.filter((c, i) => c !== nodeLabels[t]![i]).length, 0);
      console.log(`854×480: ${differing} of ${2 * 854 * 480} labels differ between the page and Node`);
      expect(differing).toBeLessThan(0.001 * 2 * 854 * 480);
    } finally {
      await p.close();
    }
  });

  test('the overlay canvas shows the class colours blended over the frame', async () => {
    const labels = (await page.evaluate(() => window.vss.labels()))[0]!; // the page shows frame 0 on opening
    const shot = async (opacity: string) => {
      await page.fill('#opacity', opacity);
      return decode(await page.locator('#view').screenshot());
    };
    const plain = await shot('0');
    const over = await shot('0.6');
    // The canvas is magnified by a whole number s, pixelated: frame pixel (x, y) is an s × s block,
    // sampled at its centre (the element's box may sit at a fractional position: ±1 screenshot pixel).
    const s = Math.round(plain.width / W);
    expect(s).toBeGreaterThanOrEqual(2);
    expect(Math.abs(plain.width - W * s) + Math.abs(plain.height - H * s)).toBeLessThanOrEqual(2);
    const px = (img: typeof plain, x: number, y: number) => {
      const i = ((y * s + (s >> 1)) * img.width + x * s + (s >> 1)) * img.channels;
      return [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
    };
    let changed = 0;
    let coloured = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const p = y * W + x;
        const rgb = [...frames[0]!.rgb.subarray(p * 3, p * 3 + 3)];
        const col = classColour(labels[p]!);
        const a = px(plain, x, y);
        const b = px(over, x, y);
        // Opacity 0 is the frame itself; 0.6 is the blend (every class is drawn: the synthetic set has no background class).
        a.forEach((v, k) => expect(Math.abs(v - rgb[k]!)).toBeLessThanOrEqual(2));
        b.forEach((v, k) => expect(Math.abs(v - Math.round(0.4 * rgb[k]! + 0.6 * col[k]!))).toBeLessThanOrEqual(2));
        if (col.some((v, k) => Math.abs(v - rgb[k]!) >= 10)) {
          coloured++;
          if (b.some((v, k) => v !== a[k])) changed++;
        }
      }
    }
    expect(coloured).toBeGreaterThan(0.5 * W * H);
    expect(changed).toBe(coloured);
  });

  test('fine-tuning on the labeled frames lowers the loss', async () => {
    await page.fill('#ft-steps', '6');
    await page.fill('#ft-lr', '1e-3');
    await page.click('#finetune');
    await page.waitForFunction(() => window.vss.losses().length === 6, undefined, { timeout: 500_000 });
    const losses = await page.evaluate(() => window.vss.losses());
    console.log(`page fine-tune losses: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    expect(await page.locator('#ft-losses li').count()).toBe(6);
    await expect.poll(() => page.locator('#ft-status').textContent()).toMatch(/^done: 6 steps on 4 labeled frames/);
  }, 600_000);

  test("the Mask values menu follows the checkpoint's label declaration; ?labels= overrides it", async () => {
    const trained = new Uint8Array(readFileSync(path.join(runs, 'tiny', 'model.safetensors')));
    expect(studentFromCheckpoint(trained).labels?.labels).toBe('identity'); // the synthetic set's declaration
    // The same weights, declared as trained on VSPW-valued masks.
    const { tensors, metadata } = decodeSafetensors(trained);
    const numClasses = (JSON.parse(metadata.config!) as { numClasses: number }).numClasses;
    writeFileSync(path.join(runs, 'tiny', 'vspw.safetensors'), encodeSafetensors(tensors, { ...metadata, labels: JSON.stringify({ labels: 'vspw', numClasses }) }));
    const p = await browser.newPage();
    try {
      for (const [query, want] of [['', 'vspw'], ['&labels=identity', 'identity']] as const) {
        await p.goto(`${server.url}?checkpoint=/runs/tiny/vspw.safetensors${query}`);
        await p.evaluate(() => window.vss.ready);
        expect(await p.inputValue('#mask-values')).toBe(want);
      }
    } finally {
      await p.close();
    }
  });

  test('errors are shown on the page: a bad checkpoint, and a browser without WebGPU', async () => {
    const p = await browser.newPage();
    await p.goto(`${server.url}?checkpoint=/data/classes.json`);
    await expect(p.evaluate(() => window.vss.ready)).rejects.toThrow(/classes\.json/);
    expect(await p.locator('#error').textContent()).toMatch(/\/data\/classes\.json/);
    await p.close();

    const plain = await chromium.launch({ executablePath: CHROMIUM });
    try {
      const q = await plain.newPage();
      await q.goto(server.url);
      await expect(q.evaluate(() => window.vss.ready)).rejects.toThrow(/WebGPU/);
      expect(await q.locator('#error').textContent()).toMatch(/--enable-unsafe-webgpu/);
    } finally {
      await plain.close();
    }
  });

  test('the server is read-only, lists folders, and keeps requests inside its folders', async () => {
    const get = (p: string, init?: RequestInit) => fetch(server.url + p, init);
    expect(await (await get('data/data/video_000/mask/')).json()).toEqual(['00000000.png', '00000001.png', '00000002.png', '00000003.png']);
    expect((await get('data/..%2f..%2fpackage.json')).status).toBe(403);
    expect((await get('runs/tiny/model.safetensors', { method: 'DELETE' })).status).toBe(405);
    expect((await get('nothing-here')).status).toBe(404);
    const part = await get('runs/tiny/model.safetensors', { headers: { range: 'bytes=0-7' } });
    expect(part.status).toBe(206);
    expect((await part.arrayBuffer()).byteLength).toBe(8);
  });
});
