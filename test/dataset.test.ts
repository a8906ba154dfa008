// The data set reader (dataset/reader.ts), label mappings, prediction files, semi-supervised splits and
// the clip sampler, on tiny data sets that each test writes into a temporary folder.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encode as pngEncode } from 'fast-png';
import { afterAll, describe, expect, test } from 'vitest';
import { decodeMask, encodePaletteMask, vocPalette, type Frame } from '../dataset/image.ts';
import { encodeJpeg } from '../dataset/jpeg-encode.ts';
import { IGNORE, labelMapping, type LabelSpec } from '../dataset/labels.ts';
import { readPrediction, writePrediction } from '../dataset/predictions.ts';
import { VideoDataset } from '../dataset/reader.ts';
import { ClipSampler, labeledEvery, labeledVideos, type VideoFrames } from '../dataset/splits.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'vss-dataset-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let dirCount = 0;

/** A frame whose pixel (x, y) is (10x, 20y, 7(x+y)) mod 256: easy to check after a lossless round trip. */
function frame(w: number, h: number): Frame {
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgb.set([(10 * x) % 256, (20 * y) % 256, (7 * (x + y)) % 256], 3 * (y * w + x));
  return { width: w, height: h, rgb };
}

const pngRgb = (f: Frame) => pngEncode({ width: f.width, height: f.height, data: f.rgb, channels: 3, depth: 8 });
const paletteMask = (w: number, h: number, values: number[]) => encodePaletteMask({ width: w, height: h, values: Uint8Array.from(values) });
const grayMask = (w: number, h: number, values: number[]) => pngEncode({ width: w, height: h, data: Uint8Array.from(values), channels: 1, depth: 8 });

interface VideoSpec {
  frames: Record<string, Uint8Array>; // file name in origin/ → bytes
  masks?: Record<string, Uint8Array>; // frame name → PNG bytes
}

/** Writes a data set in VSPW's layout and returns its root. */
function writeDataset(videos: Record<string, VideoSpec>, extra: Record<string, string> = {}): string {
  const root = path.join(tmp, `ds${dirCount++}`);
  for (const [v, spec] of Object.entries(videos)) {
    mkdirSync(path.join(root, 'data', v, 'origin'), { recursive: true });
    mkdirSync(path.join(root, 'data', v, 'mask'), { recursive: true });
    for (const [f, b] of Object.entries(spec.frames)) writeFileSync(path.join(root, 'data', v, 'origin', f), b);
    for (const [f, b] of Object.entries(spec.masks ?? {})) writeFileSync(path.join(root, 'data', v, 'mask', `${f}.png`), b);
  }
  for (const [f, text] of Object.entries(extra)) writeFileSync(path.join(root, f), text);
  return root;
}

describe('reader', () => {
  // 3×2 frames. VSPW masks: raw 0 and 255 are ignored, v → v−1.
  const W = 3, H = 2;
  const vspwRaw = [0, 1, 5, 124, 255, 2];
  const vspwWant = [IGNORE, 0, 4, 123, IGNORE, 1];

  test('VSPW layout with VSPW labels (default): png and jpg frames, palette and grayscale masks, sorted frames', () => {
    const root = writeDataset(
      {
        vidA: {
          frames: { '10.png': pngRgb(frame(W, H)), '2.jpg': encodeJpeg(frame(W, H)), '00001.png': pngRgb(frame(W, H)), 'notes.txt': new Uint8Array([1]) },
          masks: { '10': paletteMask(W, H, vspwRaw), '2': grayMask(W, H, vspwRaw) },
        },
        vidB: { frames: { 'a.jpeg': encodeJpeg(frame(W, H)) } },
      },
      { 'train.txt': 'vidA\n\nvidB\n', 'val.txt': 'vidB\r\n' },
    );
    const ds = VideoDataset.open(root);
    expect(ds.numClasses).toBe(124);
    expect(ds.classNames[3]).toBe('class 3');
    expect(ds.split('train')).toEqual(['vidA', 'vidB']);
    expect(ds.split('val')).toEqual(['vidB']);
    // String order, extension dropped, non-image files skipped.
    expect(ds.frames('vidA')).toEqual(['00001', '10', '2']);
    expect(ds.videoFrames('train')).toEqual([
      { video: 'vidA', frames: ['00001', '10', '2'] },
      { video: 'vidB', frames: ['a'] },
    ]);
    // PNG frames are lossless; the JPEG is close (a smooth 3×2 image at quality 90).
    expect(ds.readFrame('vidA', '10')).toEqual(frame(W, H));
    const jpg = ds.readFrame('vidA', '2');
    expect([jpg.width, jpg.height]).toEqual([W, H]);
    const want = frame(W, H).rgb;
    for (let i = 0; i < want.length; i++) expect(Math.abs(jpg.rgb[i]! - want[i]!)).toBeLessThanOrEqual(12);
    // Palette index and grey level are the value; both map the same way.
    expect(Array.from(ds.readRawMask('vidA', '10').values)).toEqual(vspwRaw);
    expect(Array.from(ds.readLabels('vidA', '10').labels)).toEqual(vspwWant);
    expect(Array.from(ds.readSample('vidA', '2').labels.labels)).toEqual(vspwWant);
    expect(ds.hasMask('vidA', '00001')).toBe(false);
    expect(() => ds.checkMasks([{ video: 'vidA', frame: '00001', index: 0 }])).toThrow(/00001\.png: labelled frame has no mask/);
  });

  test('identity labels declared in dataset.json, class names from classes.json, 4-bit palette masks', () => {
    // A 4-bit palette PNG 3×2: rows are packed two pixels a byte, each row padded to whole bytes.
    const packed = new Uint8Array([0x01, 0x20, 0x9f, 0x00]); // row 0: 0 1 2, row 1: 9 15 0
    const mask4 = pngEncode({ width: 3, height: 2, data: packed, channels: 1, depth: 4, palette: vocPalette().slice(0, 16) });
    const root = writeDataset(
      { v: { frames: { 'f.png': pngRgb(frame(3, 2)) }, masks: { f: mask4 } } },
      {
        'dataset.json': JSON.stringify({ labels: 'identity', numClasses: 3, ignore: 9 }),
        'classes.json': JSON.stringify(['sky', 'road', 'car']),
        'train.txt': 'v\n',
      },
    );
    const ds = VideoDataset.open(root);
    expect(ds.classNames).toEqual(['sky', 'road', 'car']);
    expect(Array.from(ds.readRawMask('v', 'f').values)).toEqual([0, 1, 2, 9, 15, 0]);
    // 15 is neither a class (0..2) nor the ignore value 9.
    expect(() => ds.readLabels('v', 'f')).toThrow(/mask[/\\]f\.png: value 15 at pixel \(1, 1\) is outside the declared classes \(identity labels: values 0\.\.2 are classes, 9 is ignored\)/);
    // An explicit declaration replaces dataset.json's (and must agree with classes.json).
    const wide = { labels: { labels: 'identity', numClasses: 16, ignore: 255 } } as const;
    expect(() => VideoDataset.open(root, wide)).toThrow(/classes\.json: 3 class names for 16 declared classes/);
    // Without dataset.json VSPW's mapping is assumed, and the error says so and what to write.
    const declaration = readFileSync(path.join(root, 'dataset.json'));
    rmSync(path.join(root, 'dataset.json'));
    expect(() => VideoDataset.open(root)).toThrow(
      /classes\.json: 3 class names for 124 declared classes: without a dataset\.json, VSPW's label mapping is assumed .*e\.g\. \{"labels": "identity", "numClasses": 3, "ignore": 255\}/,
    );
    writeFileSync(path.join(root, 'dataset.json'), declaration);
    rmSync(path.join(root, 'classes.json'));
    expect(Array.from(VideoDataset.open(root, wide).readLabels('v', 'f').labels)).toEqual([0, 1, 2, 9, 15, 0]);
  });

  test('label mappings and their inverse', () => {
    const v = labelMapping({ labels: 'vspw', numClasses: 124 });
    expect([0, 1, 124, 125, 254, 255].map((r) => v.toClass[r])).toEqual([IGNORE, 0, 123, -1, -1, IGNORE]);
    expect([0, 123, IGNORE].map((c) => v.toRaw(c))).toEqual([1, 124, 255]);
    const id = labelMapping({ labels: 'identity', numClasses: 10, ignore: 200 });
    expect([0, 9, 10, 200, 255].map((r) => id.toClass[r])).toEqual([0, 9, -1, IGNORE, -1]);
    expect([0, 9, IGNORE].map((c) => id.toRaw(c))).toEqual([0, 9, 200]);
    expect(() => id.toRaw(10)).toThrow(/class id 10 is outside 0\.\.9/);
    expect(() => labelMapping({ labels: 'identity', numClasses: 10, ignore: 5 })).toThrow(/ignore value in 10\.\.255/);
    expect(() => labelMapping({ labels: 'vspw', numClasses: 255 })).toThrow(/numClasses in 1\.\.254/);
    expect(() => labelMapping({ labels: 'rgb' } as unknown as LabelSpec)).toThrow(/"labels" must be "vspw" or "identity", got "rgb"/);
  });

  test('predicted masks: written as palette PNGs in class ids or the data set values, read back', () => {
    const pred = { width: 3, height: 2, labels: Int32Array.from([0, 1, 4, 123, IGNORE, 2]) };
    const vspw = labelMapping({ labels: 'vspw', numClasses: 124 });
    const dir = path.join(tmp, 'pred');
    const file = writePrediction(dir, 'vid', '0007', pred, vspw);
    expect(file).toBe(path.join(dir, 'vid', '0007.png'));
    const png = decodeMask(readFileSync(file), file);
    expect(Array.from(png.values)).toEqual([0, 1, 4, 123, 255, 2]); // class ids (the devkit's convention)
    expect(readPrediction(dir, 'vid', '0007', vspw)).toEqual(pred);
    writePrediction(dir, 'vid', '0008', pred, vspw, { values: 'dataset' });
    expect(Array.from(decodeMask(readFileSync(path.join(dir, 'vid', '0008.png')), '').values)).toEqual([1, 2, 5, 124, 255, 3]);
    expect(readPrediction(dir, 'vid', '0008', vspw, 'dataset')).toEqual(pred);
    expect(() => writePrediction(dir, 'vid', 'x', { ...pred, labels: Int32Array.from([0, 0, 0, 0, 0, 124]) }, vspw)).toThrow(/class id 124 at pixel 5 is outside 0\.\.123/);
    expect(() => readPrediction(dir, 'vid', 'missing', vspw)).toThrow(/missing\.png: cannot read predicted mask \(ENOENT\)/);
  });
});

describe('bad data gets an error naming the file', () => {
  const good = pngRgb(frame(4, 3));
  const jpg = encodeJpeg(frame(16, 16));
  const mask = paletteMask(4, 3, new Array(12).fill(1));
  const root = writeDataset(
    {
      ok: { frames: { '0.png': good }, masks: { '0': mask } },
      bad: {
        frames: { 'trunc.jpg': jpg.slice(0, jpg.length >> 1), 'junk.png': new Uint8Array([1, 2, 3, 4]), 'size.png': good, 'value.png': good, 'rgbmask.png': good, 'truncmask.png': good },
        masks: {
          size: paletteMask(3, 3, new Array(9).fill(1)),
          value: paletteMask(4, 3, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 200]),
          rgbmask: pngRgb(frame(4, 3)),
          truncmask: mask.slice(0, mask.length - 20),
        },
      },
      empty: { frames: {} },
    },
    { 'train.txt': 'ok\nghost\n', 'val.txt': '\n  \n', 'test.txt': 'ok\nok\n' },
  );
  const ds = VideoDataset.open(root);
  const f = (name: string) => path.join(root, 'data', 'bad', 'origin', name).replace(/[\\.]/g, (c) => `\\${c}`);
  const m = (name: string) => path.join(root, 'data', 'bad', 'mask', name).replace(/[\\.]/g, (c) => `\\${c}`);

  test.each([
    ['truncated JPEG', () => ds.readFrame('bad', 'trunc'), `${f('trunc.jpg')}: cannot decode JPEG`],
    ['not an image', () => ds.readFrame('bad', 'junk'), `${f('junk.png')}: not a JPEG or PNG file`],
    ['truncated mask', () => ds.readLabels('bad', 'truncmask'), `${m('truncmask.png')}: cannot decode PNG`],
    ['RGB mask', () => ds.readLabels('bad', 'rgbmask'), `${m('rgbmask.png')}: masks must be single-channel .* 3 channels`],
    ['missing mask', () => ds.readLabels('ok', 'nothere'), `nothere\\.png: cannot read \\(ENOENT\\)`],
    ['mask size', () => ds.readSample('bad', 'size'), `${m('size.png')}: mask is 3×3 but its frame ${f('size.png')} is 4×3`],
    ['value outside the classes', () => ds.readLabels('bad', 'value'), `${m('value.png')}: value 200 at pixel \\(3, 2\\) is outside the declared classes \\(vspw labels`],
    ['unknown frame', () => ds.readFrame('ok', '1'), `origin: no frame "1"`],
    ['video without frames', () => ds.frames('empty'), `empty[/\\\\]origin: video has no \\.jpg or \\.png frames`],
    ['video missing from the data', () => ds.split('train'), `train\\.txt: video "ghost" \\(line 2\\) does not exist`],
    ['empty split', () => ds.split('val'), `val\\.txt: the split is empty`],
    ['video listed twice', () => ds.split('test'), `test\\.txt: video "ok" is listed twice \\(line 2\\)`],
    ['missing split file', () => ds.split('other'), `other\\.txt: no such split file`],
  ])('%s', (_, fn, pattern) => {
    expect(fn).toThrow(new RegExp(pattern));
  });

  test('bad declarations', () => {
    const r = (files: Record<string, string>) => writeDataset({ ok: { frames: { '0.png': good } } }, files);
    expect(() => VideoDataset.open(r({ 'dataset.json': '{"labels": "identity", "numclasses": 3}' }))).toThrow(/dataset\.json: unknown field "numclasses"/);
    expect(() => VideoDataset.open(r({ 'dataset.json': '{"labels": "identity"}' }))).toThrow(/dataset\.json: identity labels need "numClasses"/);
    expect(() => VideoDataset.open(r({ 'dataset.json': '{"labels": "identity", "numClasses": 3, "ignore": 1}' }))).toThrow(/dataset\.json: identity labels need an ignore value in 3\.\.255/);
    expect(() => VideoDataset.open(r({ 'dataset.json': '{"labels": ' }))).toThrow(/dataset\.json: not valid JSON/);
    expect(() => VideoDataset.open(r({ 'classes.json': '{"a": 1}' }))).toThrow(/classes\.json: must hold a JSON array of class names/);
    expect(() => VideoDataset.open(path.join(tmp, 'nowhere'))).toThrow(/nowhere: not a data set in VSPW's layout \(no data\/ folder\)/);
    expect(VideoDataset.open(r({ 'dataset.json': '{"labels": "vspw", "numClasses": 10}' })).numClasses).toBe(10);
  });
});

describe('semi-supervised splits', () => {
  const videos: VideoFrames[] = [
    { video: 'a', frames: ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6'] },
    { video: 'b', frames: ['b0', 'b1', 'b2'] },
    { video: 'c', frames: ['c0'] },
    { video: 'd', frames: ['d0', 'd1', 'd2', 'd3'] },
  ];
  const names = (refs: { frame: string }[]) => refs.map((r) => r.frame);

  test('labeledEvery k: frame index % k == 0 in every video; the rest unlabelled', () => {
    const s = labeledEvery(videos, 3);
    expect(names(s.labeled)).toEqual(['a0', 'a3', 'a6', 'b0', 'c0', 'd0', 'd3']);
    expect(names(s.unlabeled)).toEqual(['a1', 'a2', 'a4', 'a5', 'b1', 'b2', 'd1', 'd2']);
    expect(s.labeled[2]).toEqual({ video: 'a', frame: 'a6', index: 6 });
    expect(names(labeledEvery(videos, 1).labeled)).toHaveLength(15);
    expect(labeledEvery(videos, 1).unlabeled).toEqual([]);
    expect(() => labeledEvery(videos, 0)).toThrow(/k must be a positive integer, got 0/);
  });

  test('labeledVideos fraction: round(f·N) whole videos (at least one), deterministic by seed', () => {
    const half = labeledVideos(videos, 0.5, 7);
    const labeledVids = [...new Set(half.labeled.map((r) => r.video))];
    expect(labeledVids).toHaveLength(2);
    // Whole videos: every frame of a chosen video is labelled, every other frame is not.
    for (const v of videos) {
      const n = half.labeled.filter((r) => r.video === v.video).length;
      expect(n === 0 || n === v.frames.length).toBe(true);
    }
    expect(half.labeled.length + half.unlabeled.length).toBe(15);
    expect(labeledVideos(videos, 0.5, 7)).toEqual(half);
    // Some other seed picks another pair.
    const pairs = new Set(Array.from({ length: 20 }, (_, s) => [...new Set(labeledVideos(videos, 0.5, s).labeled.map((r) => r.video))].join()));
    expect(pairs.size).toBeGreaterThan(1);
    expect(new Set(labeledVideos(videos, 0.01, 3).labeled.map((r) => r.video)).size).toBe(1);
    expect(labeledVideos(videos, 1, 3).unlabeled).toEqual([]);
    expect(() => labeledVideos(videos, 0, 1)).toThrow(/fraction must be in \(0, 1\], got 0/);
  });

  test('clip sampler: T frames of one video, stride apart, every clip equally likely, deterministic by seed', () => {
    const s = new ClipSampler(videos, { length: 3, stride: 2, seed: 5 });
    // Span (3−1)·2+1 = 5 frames: only a (7 frames → starts 0, 1, 2) is long enough.
    expect(s.count).toBe(3);
    const starts = new Set<number>();
    for (let i = 0; i < 60; i++) {
      const c = s.next();
      expect(c.video).toBe('a');
      expect(c.indices[1]! - c.indices[0]!).toBe(2);
      expect(c.frames).toEqual(c.indices.map((k) => `a${k}`));
      starts.add(c.indices[0]!);
    }
    expect([...starts].sort()).toEqual([0, 1, 2]);

    // Consecutive frames: a gives 5 clips of 3, b 1, d 2 (c is too short): uniform over the 8.
    const u = new ClipSampler(videos, { length: 3, seed: 1 });
    expect(u.count).toBe(8);
    const counts = new Map<string, number>();
    const N = 8000;
    for (let i = 0; i < N; i++) {
      const c = u.next();
      expect(c.indices).toEqual([c.indices[0], c.indices[0]! + 1, c.indices[0]! + 2]);
      counts.set(`${c.video}${c.indices[0]}`, (counts.get(`${c.video}${c.indices[0]}`) ?? 0) + 1);
    }
    expect(counts.size).toBe(8);
    // Each count is Binomial(8000, 1/8): mean 1000, sd 29.6; 5 sd either side.
    for (const n of counts.values()) expect(Math.abs(n - 1000)).toBeLessThan(150);

    const draw = (seed: number) => Array.from({ length: 10 }, ((c) => () => c.next())(new ClipSampler(videos, { length: 2, seed })));
    expect(draw(3)).toEqual(draw(3));
    expect(draw(3)).not.toEqual(draw(4));
    expect(() => new ClipSampler(videos, { length: 8, seed: 0 })).toThrow(/no video has the 8 frames a clip of 8 with stride 1 needs \(longest: 7\)/);
    expect(() => new ClipSampler(videos, { length: 2, stride: 0, seed: 0 })).toThrow(/stride must be a positive integer/);
  });
});
