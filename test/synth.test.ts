// The synthetic data set (dataset/synth.ts, synth-cli.ts) and the JPEG encoder it writes frames with.
// Only a few small videos are generated, to keep the file fast.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { decodeFrame, decodeMask, type Frame } from '../dataset/image.ts';
import { encodeJpeg } from '../dataset/jpeg-encode.ts';
import { IGNORE } from '../dataset/labels.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { AERIAL_CLASSES, aerialFiles } from '../dataset/aerial.ts';
import { SHAPE_CLASSES, shapesFiles } from '../dataset/shapes.ts';
import { parseSynthArgs, writeAerial, writeShapes, writeSynth } from '../dataset/synth-write.ts';
import { COARSE_CLASSES, EMBEDDED, SYNTH_CLASSES, SYNTH_VERSION, synthFiles, synthVideo, type SynthOptions } from '../dataset/synth.ts';
import { SegMetrics } from '../eval/metrics.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'vss-synth-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SMALL: Partial<SynthOptions> = { seed: 3, videos: 3, frames: 6, width: 64, height: 48 };
const collect = (o: Partial<SynthOptions>) => new Map([...synthFiles(o)].map((f) => [f.path, f.bytes]));

function psnr(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return 10 * Math.log10((255 * 255) / (s / a.length));
}

describe('synthetic data set', () => {
  test('deterministic: the same seed gives byte-identical files, another seed different frames', () => {
    const a = collect(SMALL), b = collect(SMALL), c = collect({ ...SMALL, seed: 4 });
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [p, bytes] of a) expect(Buffer.compare(bytes, b.get(p)!), p).toBe(0);
    expect([...c.keys()]).toEqual([...a.keys()]);
    const frames = [...a.keys()].filter((p) => p.endsWith('.jpg'));
    const differing = frames.filter((p) => Buffer.compare(a.get(p)!, c.get(p)!) !== 0);
    expect(differing.length).toBe(frames.length);
    expect(new TextDecoder().decode(a.get('dataset.json'))).toBe('{"labels":"identity","numClasses":10,"ignore":255}\n');
  });

  test('extra short training videos: listed in train.txt after the core ones; the core videos and val are unchanged', () => {
    const plain = collect(SMALL);
    const more = collect({ ...SMALL, extraVideos: 3, extraFrames: [2, 3] });
    for (const [p, bytes] of plain) if (p !== 'train.txt' && p !== 'synth.json') expect(Buffer.compare(bytes, more.get(p)!), p).toBe(0);
    const text = (m: Map<string, Uint8Array>, p: string) => new TextDecoder().decode(m.get(p));
    expect(text(more, 'train.txt')).toBe('video_000\nvideo_001\nvideo_003\nvideo_004\nvideo_005\n');
    expect(text(more, 'val.txt')).toBe(text(plain, 'val.txt'));
    for (const v of ['video_003', 'video_004', 'video_005']) {
      const n = [...more.keys()].filter((p) => p.startsWith(`data/${v}/origin/`)).length;
      expect(n >= 2 && n <= 3, `${v}: ${n} frames`).toBe(true);
    }
    expect(JSON.parse(text(more, 'synth.json'))).toMatchObject({ version: SYNTH_VERSION, options: { extraVideos: 3, extraFrames: [2, 3], valVideos: 1 } });
  });

  test('the coarse taxonomy: same frames, each mask pixel its class merged into sky / ground / structure / thing', () => {
    const fine = collect(SMALL), coarse = collect({ ...SMALL, taxonomy: 'coarse' });
    const text = (m: Map<string, Uint8Array>, p: string) => new TextDecoder().decode(m.get(p));
    expect(JSON.parse(text(coarse, 'classes.json'))).toEqual(COARSE_CLASSES);
    expect(JSON.parse(text(coarse, 'dataset.json'))).toEqual({ labels: 'identity', numClasses: 4, ignore: 255 });
    // Written out here by hand from the class names, not from synth.ts's table.
    const group: Record<string, string> = { sky: 'sky', road: 'ground', grass: 'ground', water: 'ground', building: 'structure', tree: 'structure', person: 'thing', car: 'thing', ball: 'thing', sign: 'thing' };
    const expected = SYNTH_CLASSES.map((n) => COARSE_CLASSES.indexOf(group[n]!));
    const seen = new Set<number>();
    for (const [p, bytes] of fine) {
      if (p.endsWith('.jpg')) expect(Buffer.compare(bytes, coarse.get(p)!), p).toBe(0);
      if (!p.endsWith('.png')) continue;
      const f = decodeMask(bytes, p).values, c = decodeMask(coarse.get(p)!, p).values;
      for (let i = 0; i < f.length; i++) {
        expect(c[i]).toBe(f[i] === IGNORE ? IGNORE : expected[f[i]!]);
        seen.add(c[i]!);
      }
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, IGNORE]);
    expect(() => [...synthFiles({ ...SMALL, taxonomy: 'medium' as 'fine' })]).toThrow(/taxonomy must be 'fine' or 'coarse'/);
  });

  test('written in VSPW layout and read back: splits, shapes, every class present, masks that match', () => {
    const root = path.join(tmp, 'set');
    const n = writeSynth(root, SMALL);
    expect(n).toBe(5 + 3 * 6 * 2); // dataset.json, classes.json, synth.json, train.txt, val.txt
    const ds = VideoDataset.open(root);
    expect(ds.mapping.spec).toEqual({ labels: 'identity', numClasses: 10, ignore: 255 });
    expect(ds.classNames).toEqual(SYNTH_CLASSES);
    // valVideos defaults to max(1, round(3/4)) = 1: the last video.
    expect(ds.split('train')).toEqual(['video_000', 'video_001']);
    expect(ds.split('val')).toEqual(['video_002']);
    const seen = new Set<number>();
    for (const v of ['video_000', 'video_001', 'video_002']) {
      expect(ds.frames(v)).toEqual(['00000000', '00000001', '00000002', '00000003', '00000004', '00000005']);
      let prev: Frame | undefined;
      let prevMask: Int32Array | undefined;
      let masksChange = false;
      for (const f of ds.frames(v)) {
        const s = ds.readSample(v, f); // also checks mask size = frame size
        expect([s.frame.width, s.frame.height]).toEqual([64, 48]);
        for (const c of s.labels.labels) {
          expect(c < 10 || c === IGNORE).toBe(true);
          seen.add(c);
        }
        if (prev) expect(Buffer.compare(prev.rgb, s.frame.rgb)).not.toBe(0);
        if (prevMask && prevMask.some((c, i) => c !== s.labels.labels[i])) masksChange = true;
        prev = s.frame;
        prevMask = s.labels.labels;
      }
      expect(masksChange, `${v}: objects or camera move`).toBe(true);
    }
    // Any 3 consecutive videos show all 10 classes (see the layout rule in synth.ts).
    for (let c = 0; c < 10; c++) expect(seen.has(c), SYNTH_CLASSES[c]).toBe(true);
  });

  test('frame-count ranges and sizes', () => {
    const lengths = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const files = [...synthFiles({ seed: i, videos: 2, frames: [2, 4], width: 32, height: 24 })];
      for (const v of ['video_000', 'video_001']) {
        const n = files.filter((f) => f.path.startsWith(`data/${v}/origin/`)).length;
        expect(n).toBeGreaterThanOrEqual(2);
        expect(n).toBeLessThanOrEqual(4);
        lengths.add(n);
      }
    }
    expect(lengths.size).toBeGreaterThan(1);
    const v = synthVideo(0, 0, 2, 40, 30);
    expect([v.frames[0]!.width, v.frames[0]!.height, v.frames[0]!.rgb.length, v.masks[0]!.length]).toEqual([40, 30, 40 * 30 * 3, 40 * 30]);
    expect(() => [...synthFiles({ videos: 1 })]).toThrow(/synth: need videos ≥ 2 .*, got 1 and 1/);
    expect(() => [...synthFiles({ videos: 4, valVideos: 4 })]).toThrow(/need videos ≥ 2 and 1 ≤ valVideos < videos, got 4 and 4/);
    expect(() => [...synthFiles({ frames: [5, 3] })]).toThrow(/bad frame count \[5,3\]/);
    expect(() => [...synthFiles({ width: 8 })]).toThrow(/at least 16×16/);
  });

  test('colour alone does not separate the classes', () => {
    // The best colour-only classifier learnt on 4 videos (a 16³-bin RGB histogram per class, each bin
    // predicting its most frequent class) scores poorly on 2 others. The full default set gives mIoU
    // ≈ 0.16 on val with it; a threshold of 0.35 leaves room and still fails a set whose classes have
    // fixed colours (that would score near 1).
    const W = 96, H = 72, C = 10;
    const bin = (rgb: Uint8Array, i: number) => ((rgb[3 * i]! >> 4) << 8) | ((rgb[3 * i + 1]! >> 4) << 4) | (rgb[3 * i + 2]! >> 4);
    const hist = new Float64Array(4096 * C);
    const videos = Array.from({ length: 6 }, (_, i) => synthVideo(11, i, 3, W, H));
    for (const v of videos.slice(0, 4)) {
      v.frames.forEach((f, t) => v.masks[t]!.forEach((c, i) => c !== IGNORE && hist[bin(f.rgb, i) * C + c]++));
    }
    const m = new SegMetrics(C);
    for (const v of videos.slice(4)) {
      v.frames.forEach((f, t) => {
        const pred = Array.from({ length: W * H }, (_, i) => {
          let best = 0;
          for (let c = 1; c < C; c++) if (hist[bin(f.rgb, i) * C + c]! > hist[bin(f.rgb, i) * C + best]!) best = c;
          return best;
        });
        m.addFrame(pred, v.masks[t]!);
      });
    }
    expect(m.result().mIoU).toBeLessThan(0.35);
  });

  test('the shapes world: VSPW values (class + 1, 0 others), every class, small things on a dominant background, deterministic', () => {
    const o = { seed: 2, videos: 6, valVideos: 1, frames: 3, width: 80, height: 60 };
    const root = path.join(tmp, 'shapes');
    expect(writeShapes(root, o)).toBe(4 + 6 * 3 * 2); // dataset.json, classes.json, train.txt, val.txt
    const ds = VideoDataset.open(root);
    expect(ds.mapping.spec).toMatchObject({ labels: 'vspw', numClasses: 6 });
    expect(ds.classNames).toEqual(SHAPE_CLASSES);
    expect(ds.split('val')).toEqual(['video_005']);
    const pixels = new Array<number>(6).fill(0);
    let others = 0;
    for (const v of [...ds.split('train'), ...ds.split('val')]) {
      for (const f of ds.frames(v)) {
        const raw = ds.readRawMask(v, f);
        for (const x of raw.values) {
          expect(x <= 6, `${v}/${f}: mask value ${x}`).toBe(true);
          if (x === 0) others++;
          else pixels[x - 1]!++;
        }
      }
    }
    const total = pixels.reduce((a, b) => a + b, 0) + others;
    pixels.forEach((n, c) => expect(n, SHAPE_CLASSES[c]).toBeGreaterThan(0));
    expect(pixels[0]! / total).toBeGreaterThan(0.85); // the background dominates
    expect(others).toBeGreaterThan(0); // outlines are "others" (ignored)
    const bytes = (s: number) => [...shapesFiles({ ...o, seed: s, videos: 2 })].map((f) => Buffer.from(f.bytes).toString('base64')).join();
    expect(bytes(2)).toBe(bytes(2));
    expect(bytes(3)).not.toBe(bytes(2));
  });

  test('the aerial world: VSPW values, every class, hedges as others, cars on the road and boats in the water, deterministic', () => {
    const o = { seed: 1, videos: 6, valVideos: 2, frames: 3, extraVideos: 3, extraFrames: 2, width: 128, height: 96 };
    const root = path.join(tmp, 'aerial');
    expect(writeAerial(root, o)).toBe(4 + (6 * 3 + 3 * 2) * 2); // dataset.json, classes.json, train.txt, val.txt
    const ds = VideoDataset.open(root);
    expect(ds.mapping.spec).toMatchObject({ labels: 'vspw', numClasses: 8 });
    expect(ds.classNames).toEqual(AERIAL_CLASSES);
    expect(ds.split('train')).toEqual(['video_000', 'video_001', 'video_002', 'video_003', 'video_006', 'video_007', 'video_008']);
    expect(ds.split('val')).toEqual(['video_004', 'video_005']);
    const pixels = new Array<number>(9).fill(0); // by mask value: 0 others, class k at k + 1
    const [road, water, car, boat] = ['road', 'water', 'car', 'boat'].map((c) => AERIAL_CLASSES.indexOf(c) + 1) as [number, number, number, number];
    const beside = { [car]: new Map<number, number>(), [boat]: new Map<number, number>() };
    for (const v of [...ds.split('train'), ...ds.split('val')]) {
      for (const f of ds.frames(v)) {
        const { width: W, height: H, values } = ds.readRawMask(v, f);
        for (let y = 0; y < H; y++) {
          for (let x = 0; x < W; x++) {
            const m = values[y * W + x]!;
            expect(m <= 8, `${v}/${f}: mask value ${m}`).toBe(true);
            pixels[m]!++;
            if (m !== car && m !== boat) continue;
            // What borders a car or a boat: its 4-neighbours of another class.
            for (const [nx, ny] of [[x - 1, y], [x + 1, y], [x, y - 1], [x, y + 1]] as const) {
              const n = nx >= 0 && ny >= 0 && nx < W && ny < H ? values[ny * W + nx]! : m;
              if (n !== m) beside[m]!.set(n, (beside[m]!.get(n) ?? 0) + 1);
            }
          }
        }
      }
    }
    const total = pixels.reduce((a, b) => a + b, 0);
    AERIAL_CLASSES.forEach((c, k) => expect(pixels[k + 1], c).toBeGreaterThan(0));
    expect(pixels[0]! / total).toBeGreaterThan(0.005); // hedges: "others"
    expect(pixels[0]! / total).toBeLessThan(0.1);
    const share = (m: Map<number, number>, ok: number[]) => ok.reduce((a, k) => a + (m.get(k) ?? 0), 0) / [...m.values()].reduce((a, b) => a + b, 0);
    expect(share(beside[car]!, [road])).toBeGreaterThan(0.95); // cars drive on the road
    expect(share(beside[boat]!, [water, road])).toBeGreaterThan(0.95); // boats sail on the river (or under a bridge)
    const bytes = (s: number) => [...aerialFiles({ ...o, seed: s, videos: 2, valVideos: 1, extraVideos: 0 })].map((f) => Buffer.from(f.bytes).toString('base64')).join();
    expect(bytes(1)).toBe(bytes(1));
    expect(bytes(2)).not.toBe(bytes(1));
  });

  test('command line', () => {
    expect(parseSynthArgs(['--world', 'shapes', '--out', 'd', '--videos', '8', '--frames', '5', '--size', '64x48']).shapes).toEqual({ videos: 8, frames: 5, width: 64, height: 48 });
    expect(() => parseSynthArgs(['--world', 'moon', '--out', 'd'])).toThrow(/--world must be street .*, shapes, aerial or vspw/);
    expect(parseSynthArgs(['--world', 'aerial', '--out', 'd', '--videos', '8', '--frames', '5-7', '--size', '64x48', '--extra', '2']).aerial).toEqual({ videos: 8, frames: [5, 7], width: 64, height: 48, extraVideos: 2 });
    expect(parseSynthArgs(['--world', 'aerial', '--out', 'd']).aerial).toEqual({}); // its own defaults: the embedded set's shape
    expect(parseSynthArgs(['--world', 'vspw', '--out', 'd', '--sizes', '854x480,250x190', '--frames', '2']).vspw).toEqual({ frames: 2, sizes: [[854, 480], [250, 190]] });
    expect(() => parseSynthArgs(['--world', 'vspw', '--out', 'd', '--sizes', '854x'])).toThrow(/--sizes must be WxH,WxH,..., got "854x"/);
    expect(() => parseSynthArgs(['--out', 'd', '--sizes', '854x480'])).toThrow(/--sizes is an option of --world vspw/);
    expect(() => parseSynthArgs(['--world', 'shapes', '--out', 'd', '--extra', '3'])).toThrow(/options of the street world/);
    expect(parseSynthArgs(['--out', 'd', '--seed', '3', '--videos', '10', '--frames', '24-32', '--size', '64x48', '--val', '2'])).toEqual({
      out: 'd',
      options: { seed: 3, videos: 10, frames: [24, 32], width: 64, height: 48, valVideos: 2, extraVideos: EMBEDDED.extraVideos, extraFrames: EMBEDDED.extraFrames },
    });
    expect(parseSynthArgs(['--out', 'd', '--frames', '28', '--extra', '0']).options).toEqual({ frames: 28, extraVideos: 0, extraFrames: EMBEDDED.extraFrames });
    expect(parseSynthArgs(['--out', 'd']).options).toEqual({ extraVideos: EMBEDDED.extraVideos, extraFrames: EMBEDDED.extraFrames }); // the embedded set
    expect(parseSynthArgs(['--out', 'd', '--extra-frames', '3-5']).options.extraFrames).toEqual([3, 5]);
    expect(() => parseSynthArgs([])).toThrow(/--out is required/);
    expect(() => parseSynthArgs(['--out', 'd', '--size', '64'])).toThrow(/--size must be WxH/);
    expect(() => parseSynthArgs(['--out', 'd', '--seed', '1.5'])).toThrow(/--seed must be a non-negative integer/);
  });
});

describe('JPEG encoder', () => {
  test('jpeg-js decodes its files; quality 90 is close, quality 100 closer, lower quality smaller', () => {
    const f = synthVideo(0, 1, 1, 128, 96).frames[0]!;
    const q90 = encodeJpeg(f, 90);
    const back = decodeFrame(q90, 'q90');
    expect([back.width, back.height]).toEqual([128, 96]);
    // Measured 34.0 dB (jpeg-js's own encoder at quality 90 gives the same on this frame).
    expect(psnr(f.rgb, back.rgb)).toBeGreaterThan(31);
    expect(psnr(f.rgb, decodeFrame(encodeJpeg(f, 100), 'q100').rgb)).toBeGreaterThan(40);
    expect(encodeJpeg(f, 50).length).toBeLessThan(q90.length);
    expect(Buffer.compare(encodeJpeg(f, 90), q90)).toBe(0);
  });

  test('sizes that are not multiples of 8, extreme values, and the synthetic set’s files', () => {
    for (const [w, h] of [[1, 1], [13, 7], [17, 33]] as const) {
      const rgb = new Uint8Array(w * h * 3).map((_, i) => (i * 97) % 256);
      rgb[0] = 255;
      const out = decodeFrame(encodeJpeg({ width: w, height: h, rgb }, 100), `${w}x${h}`);
      expect([out.width, out.height]).toEqual([w, h]);
      expect(psnr(rgb, out.rgb)).toBeGreaterThan(38);
    }
    // Flat black and white (the largest DC steps between blocks) survive exactly at quality 100.
    const bw = { width: 16, height: 8, rgb: new Uint8Array(16 * 8 * 3).map((_, i) => ((i / 3) % 16 < 8 ? 0 : 255)) };
    const out = decodeFrame(encodeJpeg(bw, 100), 'bw');
    for (let i = 0; i < bw.rgb.length; i++) expect(Math.abs(out.rgb[i]! - bw.rgb[i]!)).toBeLessThanOrEqual(2);
    expect(() => encodeJpeg({ width: 2, height: 2, rgb: new Uint8Array(5) })).toThrow(/bad frame 2×2 with 5 bytes/);
    const file = readFileSync(path.join(tmp, 'set', 'data', 'video_000', 'origin', '00000000.jpg'));
    expect(decodeFrame(file, 'synth').width).toBe(64);
  });
});
