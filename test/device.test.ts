// Errors a user can meet: no adapter, bad kernels, wrong bindings, non-finite values.
import { describe, expect, test } from 'vitest';
import { initDevice, setGPU } from '../engine/device.ts';
import * as E from '../engine/index.ts';
import { bindGroupStats, dispatch, kernel } from '../engine/kernel.ts';
import { initNode } from '../engine/node.ts';
import { scheduler } from '../engine/scheduler.ts';

describe('device', () => {
  // Runs first, before any real device exists in this process (vitest runs each file in its own fork).
  test('no adapter: the error says why and how to fix it', async () => {
    setGPU({ requestAdapter: async () => null } as unknown as GPU);
    await expect(initDevice()).rejects.toThrow(/No WebGPU adapter was found.*scripts\/setup\.sh.*lavapipe/s);
  });

  test('the real device reports what it got', async () => {
    const d = await initNode();
    expect(d.info.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    expect(typeof d.info.isCPU).toBe('boolean');
    if (d.info.isLavapipe) expect(d.info.isCPU).toBe(true);
    expect(E.describeDevice(d)).toMatch(/maxStorageBuffersPerShaderStage=\d+/);
  });

  test('a shader that does not compile is reported with the kernel name', async () => {
    const bad = `@group(0) @binding(0) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(1) fn main() { O[0] = undefined_thing; }`;
    kernel('broken_kernel', bad);
    await expect(E.sync()).rejects.toThrow(/compiling kernel broken_kernel.*undefined_thing/s);
  });

  test('bindings are checked against the reflected shader', () => {
    const src = `struct Params { n: u32, alpha: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < p.n) { O[g.x] = A[g.x] * p.alpha; } }`;
    const k = kernel('scale_test', src);
    const a = E.tensor([1, 2, 3]);
    const o = E.Tensor.empty([3]);
    const labels = E.tensor(new Int32Array([1, 2, 3]));
    expect(() => dispatch(k, [a], { n: 3, alpha: 2 }, [1, 1, 1], 'test')).toThrow(/binds 2 storage buffers \(A, O\), got 1/);
    expect(() => dispatch(k, [labels, o], { n: 3, alpha: 2 }, [1, 1, 1], 'test')).toThrow(/binding 'A' holds f32, got a i32 tensor/);
    expect(() => dispatch(k, [a, o], { n: 3 }, [1, 1, 1], 'test')).toThrow(/uniform parameter 'alpha' was not given/);
    expect(() => dispatch(k, [a, o], { n: 3, alpha: 2, beta: 1 }, [1, 1, 1], 'test')).toThrow(/unknown uniform parameter 'beta'/);
    expect(() => dispatch(k, [a, o], { n: -3, alpha: 2 }, [1, 1, 1], 'test')).toThrow(/'n' is u32, got -3/);
    expect(() => dispatch(k, [o, o], { n: 3, alpha: 2 }, [1, 1, 1], 'test')).toThrow(/writable aliasing/);
  });

  test("a thread count launches a 1-D kernel by its own workgroup size; a 2-D kernel needs counts", async () => {
    // Each invocation writes its workgroup size into its slot: 130 threads of WG lanes need ⌈130 / WG⌉ groups.
    for (const wg of [16, 64]) {
      const src = `struct Params { n: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
const WG = ${wg}u;
@compute @workgroup_size(WG) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i < p.n) { O[i] = f32(nwg.x * WG); }
}`;
      const k = kernel(`lanes_test_${wg}`, src);
      expect(k.workgroupSize).toEqual([wg, 1, 1]);
      expect(k.code.startsWith(src) && /fn flatIndex\(/.test(k.code.slice(src.length))).toBe(true); // appended: line numbers stay
      const o = E.zeros([130]);
      dispatch(k, [o], { n: 130 }, 130, 'test');
      expect([...((await o.data()) as Float32Array)]).toEqual(new Array(130).fill(Math.ceil(130 / wg) * wg));
      o.dispose();
    }
    const square = kernel('square_test', `@group(0) @binding(0) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(8, 8) fn main(@builtin(global_invocation_id) g: vec3<u32>) { O[0] = 1.0; }`);
    expect(() => dispatch(square, [E.zeros([1])], undefined, 64, 'test')).toThrow(/8×8×1 workgroup; give workgroup counts/);
    expect(square.code).not.toMatch(/flatIndex/); // only shaders that call it get it
  });

  test('a bind group is reused for the same buffers, each dispatch still with its own parameters', async () => {
    const src = `struct Params { n: u32, alpha: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < p.n) { O[g.x] = O[g.x] + A[g.x] * p.alpha; } }`;
    const k = kernel('accumulate_test', src);
    const a = E.tensor([1, 2, 3]);
    const o = E.zeros([3]);
    const before = { ...bindGroupStats };
    for (const alpha of [1, 10, 100]) dispatch(k, [a, o], { n: 3, alpha }, [1, 1, 1], 'test');
    expect(bindGroupStats.made - before.made).toBe(1);
    expect(bindGroupStats.reused - before.reused).toBe(2);
    expect(Array.from((await o.data()) as Float32Array)).toEqual([111, 222, 333]);
    // Another output buffer is another bind group.
    const o2 = E.zeros([3]);
    const made = bindGroupStats.made;
    dispatch(k, [a, o2], { n: 2, alpha: 3 }, [1, 1, 1], 'test');
    expect(bindGroupStats.made - made).toBe(1);
    expect(Array.from((await o2.data()) as Float32Array)).toEqual([3, 6, 0]);
  });

  test('one slow read-back does not make the next ones sleep long', async () => {
    // scheduler.wait sleeps for most of the time batches of this size took before, then awaits the
    // work (running meanwhile, as the GPU's does); n = 5000 dispatches is a size no other test here uses.
    const timed = async (ms: number) => {
      const t0 = performance.now();
      const work = new Promise((r) => setTimeout(r, ms));
      await scheduler.wait(5000, () => work);
      return performance.now() - t0;
    };
    for (let i = 0; i < 3; i++) await timed(20);
    await timed(1000); // e.g. a pipeline compiled, or the process was stopped for a while
    // A running average with the 1000 ms wait would sleep ~250 ms before each of the next.
    expect(await timed(20)).toBeLessThan(120);
    expect(await timed(20)).toBeLessThan(120);
  });

  test('use after dispose and bad shapes are clear errors', () => {
    const a = E.tensor([1, 2, 3]);
    a.dispose();
    expect(() => E.exp(a)).toThrow(/used after dispose/);
    expect(() => E.tensor([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2,2\]/);
    expect(() => E.tensor([1.5], [1], 'i32')).toThrow(/not representable as i32/);
  });

  test('backward on a non-scalar needs a seed', () => {
    const x = E.requireGrad(E.tensor([1, 2, 3]));
    const y = E.exp(x);
    expect(() => E.backward(y)).toThrow(/not a scalar; pass a seed gradient of shape \[3\]/);
  });

  test('checkFinite finds NaN and infinity', async () => {
    await expect(E.checkFinite(E.tensor([1, 2, 3]), 'ok')).resolves.toBeUndefined();
    const bad = E.log(E.tensor([1, 0, -1, 2])); // -inf and NaN
    await expect(E.checkFinite(bad, 'loss')).rejects.toThrow(/loss: 2 of 4 values are NaN or infinite/);
  });

  test('device loss makes the next op fail clearly', async () => {
    const d = E.device();
    d.gpu.destroy();
    await new Promise((r) => setTimeout(r, 50));
    await d.gpu.lost;
    expect(() => E.tensor([1, 2])).toThrow(/WebGPU device was lost/);
  });
});

test('backward after the forward scope closed says what went wrong', async () => {
  await initNode();
  const x = E.requireGrad(E.tensor([0.5, 1, 2]));
  const y = E.tidy(() => E.sum(E.exp(E.mul(x, 2)))); // exp's output, sum's input, is disposed here
  expect(() => E.backward(y)).toThrow(/backward of sum: its input Tensor\(\[3\].*was disposed.*same tidy\(\) scope/s);
});
