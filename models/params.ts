// Named parameters: each model registers its weights here under a dotted name
// ("blocks.0.attn.qkv.weight"), which is also its name in checkpoints.
import { clamp, keep, randNormal, randUniform, requireGrad, fill, type Shape, type Tensor } from '../engine/index.ts';

export type Init = { zeros: true } | { ones: true } | { normal: number } | { uniform: number } | { truncNormal: number };

export class ParamStore {
  readonly tensors = new Map<string, Tensor>();
  private count = 0;
  constructor(readonly seed = 0) {}

  /** Create, initialise and register a trainable parameter. Each gets its own RNG stream. */
  create(name: string, shape: Shape, init: Init): Tensor {
    if (this.tensors.has(name)) throw new Error(`parameter '${name}' is defined twice`);
    const seed = this.seed * 1000003 + ++this.count;
    let t: Tensor;
    if ('zeros' in init) t = fill(shape, 0);
    else if ('ones' in init) t = fill(shape, 1);
    else if ('normal' in init) t = randNormal(shape, seed, 0, init.normal);
    else if ('uniform' in init) t = randUniform(shape, seed, -init.uniform, init.uniform);
    else {
      // ViT's truncated normal (±2σ), approximated by clamping a normal draw: the 4.6% of draws
      // beyond 2σ land on the bounds instead of being redrawn. Harmless for initialisation.
      const n = randNormal(shape, seed, 0, init.truncNormal);
      t = clamp(n, -2 * init.truncNormal, 2 * init.truncNormal);
      n.dispose();
    }
    t.name = name;
    keep(requireGrad(t));
    this.tensors.set(name, t);
    return t;
  }

  get(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`no parameter named '${name}'`);
    return t;
  }

  list(): Tensor[] {
    return [...this.tensors.values()];
  }

  /** Number of scalar parameters. */
  size(): number {
    return this.list().reduce((n, t) => n + t.size, 0);
  }

  dispose(): void {
    for (const t of this.tensors.values()) {
      t.grad?.dispose();
      t.dispose();
    }
    this.tensors.clear();
  }
}
