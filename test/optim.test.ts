// Optimisers, clipping and EMA against float64 references of PyTorch's update rules (reference/optim.ts).
//
// Random cases: 1–3 parameters of random shapes (sizes from 1 to several hundred, not multiples of the
// 256-lane workgroups), random values, several steps with random gradients, random learning rates per
// step, and random gaps (a parameter with no gradient at some step is skipped, and for AdamW its step
// count does not advance). Values come from a seeded generator and are rounded to f32, so the GPU and
// the reference start from the same numbers.
//
// Tolerance: FWD (|err| ≤ 1e-5·max(1, max|want|) + 1e-4·|want|): a few f32 steps of a handful of
// flops each stay far inside it.
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../engine/index.ts';
import { compiledSoFar } from '../engine/kernel.ts';
import { FWD, close, shapeArb } from './gradcheck.ts';
import { adamwRef, clipRef, emaRef, sgdRef } from './reference/optim.ts';
import { makeRng } from '../dataset/rng.ts';
import { gpu } from './setup.ts';

beforeAll(gpu);

const rng = (seed: number): (() => number) => makeRng(seed).float;

/** n f32-representable values in [-2, 2). */
function randomF32(r: () => number, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => Math.fround(r() * 4 - 2));
}

const sizeOf = (s: number[]) => s.reduce((a, b) => a * b, 1);

interface Case<H> {
  shapes: number[][];
  hyper: H;
  /** per step: learning rate, and which parameters get a gradient */
  steps: { lr: number; has: boolean[] }[];
  seed: number;
}

function caseArb<H>(hyper: fc.Arbitrary<H>, lr: fc.Arbitrary<number>): fc.Arbitrary<Case<H>> {
  return fc.array(shapeArb(1, 3, 9), { minLength: 1, maxLength: 3 }).chain((shapes) =>
    fc.record({
      shapes: fc.constant(shapes),
      hyper,
      steps: fc.array(fc.record({ lr, has: fc.array(fc.boolean(), { minLength: shapes.length, maxLength: shapes.length }) }), { minLength: 1, maxLength: 4 }),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    }),
  );
}

/** Run `c` on the GPU with optimiser `make`, and in float64 with `refStep`; compare parameters and state. */
async function runCase<H, O extends { step(lr?: number): void; dispose(): void; state(): { tensors: Record<string, E.Tensor> } }>(
  c: Case<H>,
  make: (params: E.Tensor[], h: H) => O,
  refInit: (p: Float64Array) => Record<string, Float64Array | undefined>,
  refStep: (p: Float64Array, g: Float64Array, s: Record<string, Float64Array | undefined>, lr: number, t: number, h: H) => void,
): Promise<void> {
  const r = rng(c.seed);
  const ref = c.shapes.map((s) => randomF32(r, sizeOf(s)));
  const params = c.shapes.map((s, i) => E.requireGrad(E.tensor(Float32Array.from(ref[i]!), s)));
  const refState = ref.map(refInit);
  const steps = c.shapes.map(() => 0);
  const opt = make(params, c.hyper);
  try {
    for (const st of c.steps) {
      params.forEach((p, i) => {
        p.grad?.dispose();
        p.grad = undefined;
        if (!st.has[i]) return;
        const g = randomF32(r, p.size);
        p.grad = E.keep(E.tensor(Float32Array.from(g), p.shape));
        refStep(ref[i]!, g, refState[i]!, st.lr, ++steps[i]!, c.hyper);
      });
      E.tidy(() => opt.step(st.lr));
    }
    for (let i = 0; i < params.length; i++) {
      close(await params[i]!.data(), ref[i]!, FWD, `parameter ${i} ${JSON.stringify(c.shapes[i])}`);
      for (const [k, want] of Object.entries(refState[i]!)) {
        const got = opt.state().tensors[`${i}.${k}`];
        expect(got, `state ${i}.${k}`).toBeDefined();
        // A state PyTorch has not created yet (no step with a gradient) is zero here.
        close(await got!.data(), want ?? new Float64Array(params[i]!.size), FWD, `state ${i}.${k}`);
      }
    }
  } finally {
    opt.dispose();
    for (const p of params) {
      p.grad?.dispose();
      p.dispose();
    }
  }
}

describe('SGD', () => {
  const hyper = fc
    .record({
      momentum: fc.oneof(fc.constant(0), fc.double({ min: 0.1, max: 0.99, noNaN: true })),
      weightDecay: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.1, noNaN: true })),
      nesterov: fc.boolean(),
    })
    .map((h) => ({ ...h, nesterov: h.nesterov && h.momentum > 0 }));

  test('matches torch.optim.SGD (momentum, nesterov, weight decay) over several steps', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb(hyper, fc.double({ min: 1e-3, max: 0.5, noNaN: true })), (c) =>
        runCase(
          c,
          (ps, h) => new E.SGD(ps, { lr: 0.1, ...h }),
          () => (c.hyper.momentum > 0 ? { momentum_buffer: undefined } : {}),
          (p, g, s, lr, _t, h) => {
            const buf = sgdRef(p, g, s.momentum_buffer, { lr, ...h });
            if (h.momentum > 0) s.momentum_buffer = buf;
          },
        ),
      ),
      { numRuns: 30 },
    );
  });

  test('rejects nesterov without momentum and negative hyper-parameters', () => {
    const p = E.tensor([1, 2]);
    expect(() => new E.SGD([p], { lr: 0.1, momentum: 0, nesterov: true })).toThrow(/SGD: nesterov momentum needs momentum > 0/);
    expect(() => new E.SGD([p], { lr: -1 })).toThrow(/SGD: lr must be a finite number >= 0, got -1/);
    p.dispose();
  });
});

describe('AdamW', () => {
  const hyper = fc.record({
    beta1: fc.double({ min: 0, max: 0.99, noNaN: true }),
    beta2: fc.double({ min: 0.9, max: 0.9999, noNaN: true }),
    eps: fc.constantFrom(1e-8, 1e-6),
    weightDecay: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.2, noNaN: true })),
  });

  test('matches torch.optim.AdamW (bias correction, decoupled decay, per-parameter step counts)', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb(hyper, fc.double({ min: 1e-4, max: 0.1, noNaN: true })), (c) =>
        runCase(
          c,
          (ps, h) => new E.AdamW(ps, { lr: 1e-3, ...h }),
          (p) => ({ exp_avg: new Float64Array(p.length), exp_avg_sq: new Float64Array(p.length) }),
          (p, g, s, lr, t, h) => adamwRef(p, g, s.exp_avg!, s.exp_avg_sq!, t, { lr, ...h }),
        ),
      ),
      { numRuns: 30 },
    );
  });

  test('changing lr every step compiles nothing new', () => {
    const p = E.requireGrad(E.tensor([1, 2, 3]));
    p.grad = E.keep(E.tensor([0.1, -0.2, 0.3]));
    const opt = new E.AdamW([p], { lr: 0.1 });
    opt.step(0.1);
    const before = compiledSoFar().count;
    for (let k = 0; k < 5; k++) opt.step(0.1 / (k + 2));
    expect(compiledSoFar().count).toBe(before);
    opt.dispose();
    p.grad.dispose();
    p.dispose();
  });

  test('bad hyper-parameters and gradients are named', () => {
    const p = E.requireGrad(E.tensor([1, 2, 3]));
    expect(() => new E.AdamW([p], { lr: 0.1, beta2: 1 })).toThrow(/AdamW: beta2 must be in \[0, 1\), got 1/);
    expect(() => new E.AdamW([E.tensor([1], [1], 'i32')], { lr: 0.1 })).toThrow(/AdamW: parameter 0 .* is i32/);
    const opt = new E.AdamW([p], { lr: 0.1 });
    p.grad = E.keep(E.tensor([1, 2]));
    expect(() => opt.step()).toThrow(/AdamW.step: gradient Tensor\(\[2\], f32\) does not match parameter 0 Tensor\(\[3\], f32/);
    opt.dispose();
    p.grad.dispose();
    p.dispose();
  });
});

describe('optimiser state through a safetensors checkpoint', () => {
  for (const kind of ['AdamW', 'SGD'] as const) {
    test(`${kind}: a restored optimiser continues exactly like the original`, async () => {
      const r = rng(7);
      const make = (ps: E.Tensor[]) => (kind === 'AdamW' ? new E.AdamW(ps, { lr: 0.01 }) : new E.SGD(ps, { lr: 0.01, nesterov: true, weightDecay: 1e-3 }));
      const shapes = [[3, 5], [7]];
      const init = shapes.map((s) => Float32Array.from(randomF32(r, sizeOf(s))));
      const a = shapes.map((s, i) => E.requireGrad(E.tensor(init[i]!, s)));
      const optA = make(a);
      const setGrads = (ps: E.Tensor[], gs: Float32Array[]) =>
        ps.forEach((p, i) => {
          p.grad?.dispose();
          p.grad = E.keep(E.tensor(gs[i]!, p.shape));
        });
      for (let k = 0; k < 3; k++) {
        setGrads(a, shapes.map((s) => Float32Array.from(randomF32(r, sizeOf(s)))));
        optA.step(0.01 * (k + 1));
      }
      const params = await E.saveParams({ w: a[0]!, b: a[1]! });
      const state = await E.saveParams(optA.state().tensors);
      const meta = JSON.parse(JSON.stringify(optA.state().meta));

      const b = shapes.map((s) => E.requireGrad(E.zeros(s)));
      const optB = make(b);
      E.loadParams({ w: b[0]!, b: b[1]! }, params);
      E.loadParams(optB.state().tensors, state);
      optB.loadState({ meta } as never); // optB is AdamW | SGD; meta came from the same kind
      // and a third copy whose state is copied on the GPU from the live optimiser
      const c = shapes.map((s) => E.requireGrad(E.zeros(s)));
      const optC = make(c);
      E.loadParams({ w: c[0]!, b: c[1]! }, params);
      optC.loadState(optA.state() as never);
      const g = shapes.map((s) => Float32Array.from(randomF32(r, sizeOf(s))));
      for (const ps of [a, b, c]) setGrads(ps, g);
      for (const o of [optA, optB, optC]) o.step();
      for (let i = 0; i < 2; i++) {
        const want = [...(await a[i]!.data())];
        expect([...(await b[i]!.data())]).toEqual(want);
        expect([...(await c[i]!.data())]).toEqual(want);
      }
      for (const o of [optA, optB, optC]) o.dispose();
      for (const p of [...a, ...b, ...c]) {
        p.grad?.dispose();
        p.dispose();
      }
    });
  }

  test('loadState lists every mismatching state tensor, and refuses another optimiser type', () => {
    const p = E.requireGrad(E.tensor([1, 2, 3]));
    const opt = new E.AdamW([p], { lr: 0.1 });
    const wrong = E.tensor([1, 2]);
    expect(() => opt.loadState({ tensors: { '0.exp_avg': wrong, extra: wrong }, meta: opt.state().meta })).toThrow(
      /AdamW.loadState: the state tensors do not match this optimiser \(3 problems\):\n {2}'0.exp_avg': expected \[3\] f32, got \[2\] f32\n {2}missing '0.exp_avg_sq' \(expected \[3\] f32\)\n {2}unexpected 'extra' \[2\] f32/,
    );
    const sgd = new E.SGD([p], { lr: 0.1 });
    expect(() => opt.loadState(sgd.state() as never)).toThrow(/AdamW.loadState: the state is for 'SGD', not AdamW/);
    for (const t of [wrong, p]) t.dispose();
    opt.dispose();
    sgd.dispose();
  });
});

describe('clipGradNorm', () => {
  test('matches torch.nn.utils.clip_grad_norm_ (norm over all gradients, scaled in place)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(shapeArb(1, 3, 14), fc.boolean()), { minLength: 1, maxLength: 4 }),
        fc.double({ min: 0.05, max: 2, noNaN: true }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        async (ps, ratio, seed) => {
          const r = rng(seed);
          const params = ps.map(([s]) => E.requireGrad(E.zeros(s)));
          const grads = ps.map(([s], i) => (ps[i]![1] ? randomF32(r, sizeOf(s)) : undefined));
          params.forEach((p, i) => grads[i] && (p.grad = E.keep(E.tensor(Float32Array.from(grads[i]!), p.shape))));
          const present = grads.filter((g): g is Float64Array => !!g);
          // maxNorm as a fraction of the true norm: both clipping (ratio < 1) and not clipping.
          const trueNorm = Math.sqrt(present.reduce((a, g) => a + g.reduce((b, x) => b + x * x, 0), 0));
          const maxNorm = ratio * trueNorm;
          const want = clipRef(present, maxNorm);
          const norm = E.clipGradNorm(params, maxNorm);
          close([await norm.item()], [want], FWD, 'norm');
          let j = 0;
          for (let i = 0; i < params.length; i++) {
            if (!grads[i]) expect(params[i]!.grad).toBeUndefined();
            else close(await params[i]!.grad!.data(), present[j++]!, FWD, `gradient ${i}`);
          }
          norm.dispose();
          for (const p of params) {
            p.grad?.dispose();
            p.dispose();
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  test('a large gradient (many partial sums) and no gradients at all', async () => {
    const n = 300_001; // 1172 first-stage partial sums, more than the 256 lanes of the second stage
    const g = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    const p = E.requireGrad(E.zeros([n]));
    p.grad = E.keep(E.tensor(g));
    const want = Math.sqrt(g.reduce((a, x) => a + x * x, 0));
    const norm = E.clipGradNorm([p], 1);
    expect(Math.abs((await norm.item()) - want) / want).toBeLessThan(1e-5);
    const scaled = await p.grad.data();
    expect(Math.abs((scaled[1]! * (want + 1e-6)) / g[1]! - 1)).toBeLessThan(1e-5);
    const q = E.zeros([2]);
    const none = E.clipGradNorm([q], 1);
    expect(await none.item()).toBe(0);
    for (const t of [norm, none, p.grad, p, q]) t.dispose();
  });

  test('gradients that share one buffer (both inputs of an add) are scaled once', async () => {
    const a = E.requireGrad(E.zeros([4]));
    const b = E.requireGrad(E.zeros([4]));
    const seed = E.tensor([3, 0, 0, 4]);
    E.tidy(() => E.backward(E.add(a, b), seed));
    expect(a.grad!.buffer()).toBe(b.grad!.buffer()); // the situation this test is about
    const norm = E.clipGradNorm([a, b], 1);
    const n = Math.sqrt(2) * 5; // each parameter's gradient has norm 5
    close([await norm.item()], [n], FWD, 'norm');
    close(await a.grad!.data(), [3, 0, 0, 4].map((x) => x / (n + 1e-6)), FWD, 'a.grad');
    for (const t of [norm, seed, a.grad!, b.grad!, a, b]) t.dispose();
  });
});

describe('EMA', () => {
  test('target = m·target + (1 − m)·source, in place', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(shapeArb(0, 3, 9), { minLength: 1, maxLength: 3 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (shapes, m, seed) => {
        const r = rng(seed);
        const tv = shapes.map((s) => randomF32(r, sizeOf(s)));
        const sv = shapes.map((s) => randomF32(r, sizeOf(s)));
        const target = shapes.map((s, i) => E.tensor(Float32Array.from(tv[i]!), s));
        const source = shapes.map((s, i) => E.tensor(Float32Array.from(sv[i]!), s));
        const buffers = target.map((t) => t.buffer());
        new E.EMA(target, source).update(m);
        for (let i = 0; i < shapes.length; i++) {
          emaRef(tv[i]!, sv[i]!, m);
          expect(target[i]!.buffer()).toBe(buffers[i]);
          close(await target[i]!.data(), tv[i]!, FWD, `target ${i}`);
        }
        for (const t of [...target, ...source]) t.dispose();
      }),
      { numRuns: 25 },
    );
  });

  test('emaMomentum(t) = min(1 − 1/(t + 1), 0.99)', () => {
    expect(E.emaMomentum(0)).toBe(0);
    expect(E.emaMomentum(1)).toBe(0.5);
    expect(E.emaMomentum(3)).toBe(0.75);
    expect(E.emaMomentum(99)).toBeCloseTo(0.99, 15);
    expect(E.emaMomentum(1000)).toBe(0.99);
    expect(E.emaMomentum(1000, 0.999)).toBe(0.999);
    expect(() => E.emaMomentum(-1)).toThrow(/emaMomentum: step must be a non-negative number, got -1/);
  });

  test('mismatched pairs are named', () => {
    const a = E.zeros([2, 3]);
    const b = E.zeros([3, 2]);
    expect(() => new E.EMA([a], [b])).toThrow(/EMA: pair 0 does not match: target Tensor\(\[2,3\], f32\), source Tensor\(\[3,2\], f32\)/);
    expect(() => new E.EMA([a], [])).toThrow(/EMA: 1 target tensors but 0 source tensors/);
    a.dispose();
    b.dispose();
  });
});
