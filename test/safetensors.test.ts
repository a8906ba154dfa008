// safetensors: the byte format against a file written by hand from the spec, round trips of random
// contents, damaged files (clear errors, never a crash), parameter save/load through the GPU, and the
// atomic checkpoint writer.
//
// Python's `safetensors` cannot be installed here, so the hand-made bytes below are the format check:
// they were written from the format description (huggingface/safetensors README), not produced by our
// encoder.
import fc from 'fast-check';
import { mkdtemp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import * as E from '../engine/index.ts';
import { loadCheckpoint, saveCheckpoint, writeFileAtomic } from '../engine/checkpoint-node.ts';
import { decodeSafetensors, encodeSafetensors, type TensorData } from '../engine/safetensors.ts';
import { gpu } from './setup.ts';

// Failure injection for the atomic writer: a write that stops half-way, or a rename that fails.
const failures = vi.hoisted(() => ({ write: false, rename: false }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...fs,
    open: async (...args: Parameters<typeof fs.open>) => {
      const fh = await fs.open(...args);
      if (failures.write) {
        fh.writeFile = async (data) => {
          await fs.appendFile(args[0], (data as Uint8Array).subarray(0, 3));
          throw Object.assign(new Error('ENOSPC: no space left on device (simulated)'), { code: 'ENOSPC' });
        };
      }
      return fh;
    },
    rename: async (...args: Parameters<typeof fs.rename>) => {
      if (failures.rename) throw new Error('EIO: rename failed (simulated)');
      return fs.rename(...args);
    },
  };
});

beforeAll(gpu);

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

// Four tensors: the writer orders them F32 ("10" before "a", by bytes), then U32, then I32, each
// starting where the previous ended; "c" is empty (0 bytes) and "b" is a scalar (shape []).
const HEADER =
  '{"__metadata__":{"k":"v"},' +
  '"10":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},' +
  '"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},' +
  '"c":{"dtype":"U32","shape":[0],"data_offsets":[12,12]},' +
  '"b":{"dtype":"I32","shape":[],"data_offsets":[12,16]}}';
// HEADER is 245 bytes, padded with 3 spaces to 248 = 0xf8, a multiple of 8.
const FIXTURE = Uint8Array.from([
  0xf8, 0, 0, 0, 0, 0, 0, 0, // N, u64 little-endian
  ...ascii(HEADER),
  0x20, 0x20, 0x20,
  0x00, 0x00, 0x00, 0x3f, // "10": 0.5f = 0x3f000000
  0x00, 0x00, 0x80, 0x3f, // "a": 1.0f = 0x3f800000
  0x00, 0x00, 0x00, 0xc0, //      -2.0f = 0xc0000000
  0x07, 0x00, 0x00, 0x00, // "b": 7
]);
const FIXTURE_TENSORS: Record<string, TensorData> = {
  b: { dtype: 'i32', shape: [], data: Int32Array.of(7) },
  a: { dtype: 'f32', shape: [2], data: Float32Array.of(1, -2) },
  c: { dtype: 'u32', shape: [0], data: new Uint32Array(0) },
  '10': { dtype: 'f32', shape: [1, 1], data: Float32Array.of(0.5) },
};

/** A file with the given header text (padded to 8 bytes) and data bytes. */
function file(header: string, data: number[] = []): Uint8Array {
  const h = new TextEncoder().encode(header);
  const n = Math.ceil(h.length / 8) * 8;
  const out = new Uint8Array(8 + n + data.length).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(h, 8);
  out.set(data, 8 + n);
  return out;
}

const entry = (dtype: string, shape: number[], offs: number[]) => `{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offs)}}`;

function bytesOf(t: TensorData): number[] {
  return [...new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)];
}

describe('safetensors format', () => {
  test('the encoder writes the hand-made file byte for byte, and the decoder reads it', () => {
    expect([...encodeSafetensors(FIXTURE_TENSORS, { k: 'v' })]).toEqual([...FIXTURE]);
    const { tensors, metadata } = decodeSafetensors(FIXTURE, 'fixture');
    expect({ ...metadata }).toEqual({ k: 'v' });
    expect(Object.keys(tensors).sort()).toEqual(['10', 'a', 'b', 'c']);
    for (const [name, t] of Object.entries(FIXTURE_TENSORS)) {
      expect(tensors[name]!.dtype).toBe(t.dtype);
      expect(tensors[name]!.shape).toEqual(t.shape);
      expect(tensors[name]!.data).toEqual(t.data);
    }
  });

  test('a Node Buffer (a view into a shared pool) decodes to independent copies', () => {
    const buf = Buffer.concat([Buffer.from('padding'), Buffer.from(FIXTURE)]).subarray(7);
    const { tensors } = decodeSafetensors(buf);
    expect([...tensors.a!.data]).toEqual([1, -2]);
    expect(tensors.a!.data.buffer.byteLength).toBe(8);
  });

  test('no metadata, no tensors: {} padded to 8 bytes', () => {
    expect([...encodeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, ...ascii('{}      ')]);
    expect(Object.keys(decodeSafetensors(encodeSafetensors({})).tensors)).toEqual([]);
  });

  test('a file in any tensor order, unpadded, with unknown fields, is read', () => {
    const h = `{"b":${entry('I32', [1], [4, 8])},"a":${entry('F32', [1], [0, 4])}}`;
    const bytes = new Uint8Array([...new Uint8Array(new BigUint64Array([BigInt(h.length)]).buffer), ...ascii(h), 0, 0, 0x80, 0x3f, 9, 0, 0, 0]);
    const { tensors } = decodeSafetensors(bytes);
    expect([...tensors.a!.data]).toEqual([1]);
    expect([...tensors.b!.data]).toEqual([9]);
  });

  test('random names, shapes, dtypes, values and metadata round-trip exactly', () => {
    const tensorArb = fc.constantFrom('f32', 'i32', 'u32').chain((dtype) =>
      fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }).chain((shape) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const vals = fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: n, maxLength: n }); // any bit pattern, NaNs included
        return vals.map((v): TensorData => {
          const data = new { f32: Float32Array, i32: Int32Array, u32: Uint32Array }[dtype as 'f32'](n);
          new Uint32Array(data.buffer).set(v);
          return { dtype: dtype as 'f32', shape, data };
        });
      }),
    );
    const nameArb = fc.string({ unit: 'binary', maxLength: 10 }).filter((s) => s !== '__metadata__');
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(nameArb, tensorArb), { maxLength: 6, selector: ([n]) => n }),
        fc.option(fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 12 }))),
        (entries, meta) => {
          const bytes = encodeSafetensors(new Map(entries), meta ?? undefined);
          const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
          expect(n % 8).toBe(0);
          expect(bytes.length).toBe(8 + n + entries.reduce((a, [, t]) => a + t.data.byteLength, 0));
          const { tensors, metadata } = decodeSafetensors(bytes, 'round trip');
          expect(Object.keys(tensors).sort()).toEqual(entries.map(([k]) => k).sort());
          for (const [name, t] of entries) {
            const got = tensors[name]!;
            expect(got.dtype).toBe(t.dtype);
            expect(got.shape).toEqual(t.shape);
            expect(bytesOf(got)).toEqual(bytesOf(t));
          }
          expect({ ...metadata }).toEqual({ ...(meta ?? {}) });
        },
      ),
      { numRuns: 200 },
    );
  });

  test('the encoder refuses bad input, naming the tensor', () => {
    expect(() => encodeSafetensors({ x: { dtype: 'f32', shape: [3], data: new Float32Array(2) } })).toThrow(/encodeSafetensors: tensor 'x': 2 values for shape \[3\]/);
    expect(() => encodeSafetensors({ x: { dtype: 'i32', shape: [2], data: new Float32Array(2) } })).toThrow(/tensor 'x': dtype i32 needs a Int32Array, got Float32Array/);
    expect(() => encodeSafetensors({ __metadata__: { dtype: 'f32', shape: [], data: new Float32Array(1) } })).toThrow(/'__metadata__' is reserved/);
    expect(() => encodeSafetensors({}, { k: 3 as unknown as string })).toThrow(/metadata 'k' must be a string, got number/);
  });
});

describe('damaged files give clear errors naming the source', () => {
  const bad = (bytes: Uint8Array, msg: RegExp) => expect(() => decodeSafetensors(bytes, 'model.safetensors')).toThrow(msg);
  const prefix = 'model.safetensors: not a valid safetensors file: ';

  test('truncation and length problems', () => {
    bad(FIXTURE.subarray(0, 5), new RegExp(`^${prefix}truncated: 5 bytes, fewer than the 8-byte header length`));
    bad(FIXTURE.subarray(0, 108), /header length 248 bytes runs past the end of the file \(108 bytes\): truncated/);
    bad(FIXTURE.subarray(0, FIXTURE.length - 4), /tensor 'b': data_offsets \[12, 16\] run past the end of the data buffer \(12 bytes\): truncated/);
    bad(Uint8Array.from([...FIXTURE, 1, 2, 3, 4]), /the data buffer has 20 bytes but the tensors cover only 16/);
    const huge = Uint8Array.from(FIXTURE);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
    bad(huge, /header length 1099511627776 bytes is over the 100000000-byte limit/);
  });

  test('header text problems', () => {
    const t = Uint8Array.from(FIXTURE);
    t[9] = 0x21; // {"__metadata__" → {!__metadata__"
    bad(t, /the header is not valid JSON/);
    t[9] = 0xff;
    bad(t, /the header is not valid UTF-8/);
    bad(file('[1, 2]'), /the header does not start with '\{' \(starts with "\[1, 2\]/);
    bad(file('{"__metadata__": {"k": 1}}'), /__metadata__ 'k' is not a string \(1\)/);
    bad(file('{"x": 3}'), /tensor 'x': its entry is not an object/);
  });

  test('dtype, shape and offset problems', () => {
    bad(file(`{"x":${entry('F16', [2], [0, 4])}}`, [0, 0, 0, 0]), /tensor 'x': dtype "F16" is not one this engine reads \(F32, I32, U32\)/);
    bad(file(`{"x":${entry('F32', [-1], [0, 4])}}`, [0, 0, 0, 0]), /tensor 'x': shape \[-1\] is not a list of non-negative integers/);
    bad(file(`{"x":${entry('F32', [2], [8, 4])}}`, [0, 0, 0, 0]), /tensor 'x': data_offsets \[8,4\] is not \[begin, end\] with 0 <= begin <= end/);
    bad(file(`{"x":${entry('F32', [2, 3], [0, 20])}}`, new Array(20).fill(0)), /tensor 'x': shape \[2,3\] × 4 bytes = 24 bytes, but data_offsets \[0, 20\] hold 20/);
    bad(file(`{"x":${entry('F32', [2], [0, 8])},"y":${entry('F32', [2], [4, 12])}}`, new Array(12).fill(0)), /tensor 'y' \[4, 12\) overlaps tensor 'x' \[0, 8\)/);
    bad(file(`{"x":${entry('F32', [1], [0, 4])},"y":${entry('F32', [1], [8, 12])}}`, new Array(12).fill(0)), /bytes \[4, 8\) of the data buffer belong to no tensor/);
  });

  test('random truncation or corruption never crashes: it decodes or throws a named error', () => {
    fc.assert(
      fc.property(fc.nat(FIXTURE.length), fc.nat(FIXTURE.length - 1), fc.integer({ min: 0, max: 255 }), fc.boolean(), (cut, at, value, truncate) => {
        const bytes = truncate ? FIXTURE.subarray(0, cut) : Uint8Array.from(FIXTURE).fill(value, at, at + 1);
        try {
          decodeSafetensors(bytes, 'model.safetensors');
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
          expect((e as Error).message.startsWith(prefix)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('parameters on the GPU', () => {
  test('saveParams / loadParams round trip of every dtype', async () => {
    const src = { w: E.tensor(Float32Array.of(1.5, -2, 3e-8, 4), [2, 2]), idx: E.tensor(Uint32Array.of(0, 4294967295)), lab: E.tensor(Int32Array.of(-100, 3, 255), [3, 1]) };
    const bytes = await E.saveParams(src, { epoch: '3' });
    const dst = { w: E.zeros([2, 2]), idx: E.zeros([2], 'u32'), lab: E.zeros([3, 1], 'i32') };
    expect({ ...E.loadParams(dst, bytes) }).toEqual({ epoch: '3' });
    for (const k of Object.keys(src) as (keyof typeof src)[]) expect([...(await dst[k].data())]).toEqual([...(await src[k].data())]);
    for (const t of [...Object.values(src), ...Object.values(dst)]) t.dispose();
  });

  test('loadParams lists every mismatch in one error and writes nothing', async () => {
    const saved = new Map([['w', E.zeros([2, 3])], ['b', E.zeros([3])], ['extra', E.zeros([1])], ['lab', E.zeros([2], 'i32')]]);
    const bytes = await E.saveParams(saved);
    for (const t of saved.values()) t.dispose();
    const named = new Map([
      ['w', E.tensor([1, 2, 3, 4, 5, 6], [3, 2])],
      ['b', E.tensor([7, 8, 9])],
      ['missing', E.zeros([4])],
      ['lab', E.zeros([2])],
    ]);
    let message = '';
    try {
      E.loadParams(named, bytes, 'ckpt/epoch3.safetensors');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe(
      'ckpt/epoch3.safetensors: the checkpoint does not match the model (4 problems):\n' +
        "  'w': expected [3,2] f32, got [2,3] f32\n" +
        "  missing 'missing' (expected [4] f32)\n" +
        "  'lab': expected [2] f32, got [2] i32\n" +
        "  unexpected 'extra' [1] f32",
    );
    expect([...(await named.get('b')!.data())]).toEqual([7, 8, 9]); // untouched, though 'b' itself matched
    for (const t of named.values()) t.dispose();
  });
});

describe('matching tensors by name (every loader: checkpoints, optimiser state, teacher, --init)', () => {
  const own = (): [string, E.Tensor][] => [['w', E.zeros([2, 3])], ['b', E.zeros([3])]];
  const f32 = (...shape: number[]) => ({ shape, dtype: 'f32' as const });

  test('prefix, missing names allowed or not, and strict about the rest', () => {
    const o = own();
    const given = { 'teacher.w': f32(2, 3), 'teacher.b': f32(4), 'teacher.x': f32(1), 'queue.0': f32(5) };
    const r = E.matchByName(o, given, { prefix: 'teacher.', strict: true });
    expect(r.pairs.map(([t, g]) => [o.findIndex(([, u]) => u === t), g])).toEqual([[0, given['teacher.w']]]);
    expect(r.problems).toEqual(["'teacher.b': expected [3] f32, got [4] f32", "unexpected 'teacher.x' [1] f32"]); // queue.0 is outside the prefix
    expect(E.matchByName(o, { w: f32(2, 3) }, {}).problems).toEqual(["missing 'b' (expected [3] f32)"]);
    const lenient = E.matchByName(o, { w: f32(2, 3), extra: f32(1) }, { allowMissing: true });
    expect([lenient.missing, lenient.problems, lenient.pairs.length]).toEqual([['b'], [], 1]);
    expect(E.matchByName(o, { w: { shape: [2, 3], dtype: 'i32' }, b: f32(3) }).problems).toEqual(["'w': expected [2,3] f32, got [2,3] i32"]);
    expect(E.problemsError('x.safetensors: no', ['a']).message).toBe('x.safetensors: no (1 problem):\n  a');
    for (const [, t] of o) t.dispose();
  });
});

describe('checkpoint files', () => {
  test('saveCheckpoint / loadCheckpoint round trip, no temporary file left behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
    const path = join(dir, 'model.safetensors');
    const w = E.tensor([1, 2, 3]);
    await saveCheckpoint(path, { w }, { step: '10' });
    await saveCheckpoint(path, { w }, { step: '20' }); // replaces the file
    expect(await readdir(dir)).toEqual(['model.safetensors']);
    const v = E.zeros([3]);
    expect({ ...(await loadCheckpoint(path, { w: v })) }).toEqual({ step: '20' });
    expect([...(await v.data())]).toEqual([1, 2, 3]);
    await expect(loadCheckpoint(path, { other: v })).rejects.toThrow(new RegExp(`^${path}: the checkpoint does not match the model`));
    w.dispose();
    v.dispose();
  });

  test('a write that fails half-way, or a failed rename, leaves the old file intact and no temporary file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
    const path = join(dir, 'model.safetensors');
    await writeFileAtomic(path, Uint8Array.of(1, 2, 3, 4));
    for (const kind of ['write', 'rename'] as const) {
      failures[kind] = true;
      try {
        await expect(writeFileAtomic(path, Uint8Array.of(9, 9, 9, 9, 9, 9))).rejects.toThrow(/simulated/);
      } finally {
        failures[kind] = false;
      }
      expect([...(await readFile(path))]).toEqual([1, 2, 3, 4]);
      expect(await readdir(dir)).toEqual(['model.safetensors']);
    }
  });

  test('a real failure: the target is a directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
    const target = join(dir, 'taken');
    await mkdir(target);
    await writeFile(join(target, 'keep.txt'), 'x');
    await expect(writeFileAtomic(target, Uint8Array.of(1))).rejects.toThrow();
    expect((await readdir(dir)).sort()).toEqual(['taken']);
    expect(await readdir(target)).toEqual(['keep.txt']);
  });
});
