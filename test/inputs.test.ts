// Hostile input files stop with an error naming the file, before they can take memory or hang the
// process: a checkpoint whose config disagrees with itself or its tensors (depth 1e9 once grew to
// gigabytes and crashed), a PNG declaring 20000×20000 pixels, a FIFO or /dev/zero given as a file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encode as pngEncode } from 'fast-png';
import { afterAll, describe, expect, test } from 'vitest';
import { MAX_PIXELS, decodeFrame, decodeMask } from '../dataset/image.ts';
import { readRegularFile } from '../engine/checkpoint-node.ts';
import { encodeSafetensors, type TensorData } from '../engine/safetensors.ts';
import { studentFromCheckpoint } from '../models/checkpoint.ts';
import { checkStudentConfig, defaultStudentConfig, type StudentConfig } from '../models/student.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-inputs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const zeros = (shape: number[]): TensorData => ({ dtype: 'f32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });

/** A checkpoint file's bytes: the tensors `config` implies for the named ones checked first, any metadata config. */
function checkpoint(config: unknown, tensorsOf: StudentConfig = small): Uint8Array {
  const c = tensorsOf;
  const [h, w] = c.imageSize;
  const tensors: Record<string, TensorData> = {
    'patch_embed.weight': zeros([c.width, 3, c.patch, c.patch]),
    pos_embed: zeros([1, c.width, h / c.patch, w / c.patch]),
    ...Object.fromEntries(Array.from({ length: c.depth }, (_, i) => [`blocks.${i}.mlp.fc1.weight`, zeros([c.width * c.mlpRatio, c.width])])),
    'stem.0.weight': zeros([c.stemDim, 3, 3, 3]),
    'decoder.classifier.weight': zeros([c.numClasses, c.decoderDim, 1, 1]),
    'repr.1.weight': zeros([c.reprDim, c.decoderDim, 1, 1]),
    ...(c.norm === 'group' ? { 'stem.0.norm.weight': zeros([c.stemDim]) } : {}),
  };
  return encodeSafetensors(tensors, { config: JSON.stringify(config), step: '0' });
}
const small: StudentConfig = { ...defaultStudentConfig(3, [16, 16]), width: 8, depth: 2, heads: 2, stemDim: 4, decoderDim: 4, reprDim: 4 };

describe('a checkpoint config is checked before the model takes memory', () => {
  const load = (config: unknown) => () => studentFromCheckpoint(checkpoint(config), 'ck.safetensors');
  test('bad fields, each named with the file', () => {
    const t0 = performance.now();
    expect(load({ ...small, depth: 1e9 })).toThrow(/^ck\.safetensors: invalid student config: depth must be an integer in \[1, 64\], got 1000000000$/);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(load(null)).toThrow(/^ck\.safetensors: invalid student config: expected an object, got null$/);
    expect(load({})).toThrow(/^ck\.safetensors: invalid student config: numClasses must be an integer/);
    expect(load({ ...small, patch: 0 })).toThrow(/^ck\.safetensors: invalid student config: patch must be an integer in \[1, 64\], got 0$/);
    expect(load({ ...small, heads: 3 })).toThrow(/width 8 is not a multiple of heads 3/);
    expect(load({ ...small, imageSize: [15, 16] })).toThrow(/imageSize must be \[H, W\].*got \[15,16\]/);
    expect(load({ ...small, temporal: 'yes' })).toThrow(/temporal must be true or false/);
    expect(load({ ...small, extra: 1 })).toThrow(/unknown field\(s\) extra/);
    expect(() => studentFromCheckpoint(encodeSafetensors({}, { config: '{"depth":' }), 'ck.safetensors')).toThrow(/^ck\.safetensors: the 'config' in its metadata is not valid JSON/);
  });
  test('a config in range that disagrees with the tensors', () => {
    expect(load({ ...small, depth: 64 })).toThrow(/^ck\.safetensors: its config does not fit its tensors: no tensor 'blocks\.63\.mlp\.fc1\.weight'$/);
    expect(load({ ...small, depth: 1 })).toThrow(/depth 1, but the file has more blocks/);
    expect(load({ ...small, width: 4096, heads: 2 })).toThrow(/'patch_embed\.weight' is \[8,3,8,8\], the config implies \[4096,3,8,8\]/);
    expect(load({ ...small, numClasses: 200 })).toThrow(/'decoder\.classifier\.weight' is \[3,4,1,1\], the config implies \[200,4,1,1\]/);
    expect(load({ ...small, temporal: true })).toThrow(/no tensor 'temporal\.frame_embed'/);
    expect(load({ ...small, norm: 'none' })).toThrow(/norm is 'none', but the file has GroupNorm weights/);
  });
  test('the ranges admit the default student and ViT-sized ones', () => {
    expect(checkStudentConfig(defaultStudentConfig(124, [480, 856]), 'x').numClasses).toBe(124);
    expect(() => checkStudentConfig({ ...defaultStudentConfig(124), width: 1024, depth: 24, heads: 16, mlpRatio: 4 }, 'x')).not.toThrow();
  });
});

describe('images are refused from their header when too large', () => {
  test('a PNG declaring 20000×20000 pixels is not inflated', () => {
    const png = pngEncode({ width: 4, height: 4, data: new Uint8Array(16), channels: 1, depth: 8 });
    const view = new DataView(png.buffer, png.byteOffset);
    view.setUint32(16, 20000);
    view.setUint32(20, 20000);
    const t0 = performance.now();
    expect(() => decodeFrame(png, 'huge.png')).toThrow(`huge.png: PNG of 20000×20000 pixels (400 megapixels), over the limit of ${MAX_PIXELS / 1e6} megapixels; not decoded`);
    expect(() => decodeMask(png, 'huge-mask.png')).toThrow(/^huge-mask\.png: PNG of 20000×20000 pixels/);
    expect(performance.now() - t0).toBeLessThan(100);
  });
});

describe('only regular files are read', () => {
  test('a FIFO and /dev/zero are refused at once instead of hanging or filling memory', () => {
    const fifo = path.join(root, 'model.safetensors');
    execFileSync('mkfifo', [fifo]);
    expect(() => readRegularFile(fifo, '--checkpoint')).toThrow(`--checkpoint ${fifo}: not a regular file (a FIFO, socket or device)`);
    expect(() => readRegularFile('/dev/zero', '--init')).toThrow('--init /dev/zero: not a regular file (a FIFO, socket or device)');
    expect(() => readRegularFile(root)).toThrow(`${root}: not a regular file (a folder)`);
    expect(() => readRegularFile(path.join(root, 'none'))).toThrow(/none: cannot read \(ENOENT\)/);
    writeFileSync(path.join(root, 'ok.bin'), 'abc');
    expect([...readRegularFile(path.join(root, 'ok.bin'))]).toEqual([97, 98, 99]);
  });
});
