// Per-class FIFO memory queues of teacher features for U2PL's contrastive loss (docs/METHODS.md §1).
//
// Each class c holds one GPU tensor [length, dim], newest rows first, at most size(c) rows: a push
// builds the new queue as concat([keys, old]) cut to size(c), the same order as U2PL's
// dequeue_and_enqueue. Queue tensors are keep()-ed (they outlive the training step's tidy scope) and
// the replaced tensor is disposed at once, so GPU memory stays flat over a long run. Features are
// stored as given (not normalised): the loss normalises at use, as U2PL's cosine similarity does.
import { Tensor, concat, keep, noGrad, slice, tidy } from '../engine/index.ts';

const PREFIX = 'queue.';

export class ClassQueues {
  private readonly queues: (Tensor | undefined)[];
  private readonly sizes: number[];

  /** `sizes`: the most rows each class keeps (one number for all, or per class; U2PL: 30 000). */
  constructor(
    readonly numClasses: number,
    readonly dim: number,
    sizes: number | ((c: number) => number),
  ) {
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`ClassQueues: numClasses must be a positive integer, got ${numClasses}`);
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`ClassQueues: dim must be a positive integer, got ${dim}`);
    this.sizes = Array.from({ length: numClasses }, (_, c) => (typeof sizes === 'number' ? sizes : sizes(c)));
    this.sizes.forEach((s, c) => {
      if (!Number.isInteger(s) || s < 1) throw new Error(`ClassQueues: the size of class ${c} must be a positive integer, got ${s}`);
    });
    this.queues = new Array<Tensor | undefined>(numClasses).fill(undefined);
  }

  private check(c: number, what: string): void {
    if (!Number.isInteger(c) || c < 0 || c >= this.numClasses) throw new Error(`ClassQueues.${what}: class ${c} is outside [0, ${this.numClasses})`);
  }

  /** The most rows class c keeps. */
  size(c: number): number {
    this.check(c, 'size');
    return this.sizes[c]!;
  }

  /** Rows held now for class c. */
  length(c: number): number {
    this.check(c, 'length');
    return this.queues[c]?.shape[0] ?? 0;
  }

  /** Class c's queue [length(c), dim], newest first, or undefined while it is empty. Owned by the queue: do not dispose. */
  get(c: number): Tensor | undefined {
    this.check(c, 'get');
    return this.queues[c];
  }

  /** Put `keys` [m, dim] (copied, no gradient) at the front of class c's queue; the oldest rows past size(c) fall off. */
  push(c: number, keys: Tensor): void {
    this.check(c, 'push');
    if (keys.dtype !== 'f32' || keys.rank !== 2 || keys.shape[1] !== this.dim) {
      throw new Error(`ClassQueues.push: keys for class ${c} must be f32 [m, ${this.dim}], got ${keys}`);
    }
    if (keys.shape[0] === 0) return;
    const old = this.queues[c];
    const next = noGrad(() =>
      tidy(() => {
        const all = old ? concat([keys, old], 0) : keys;
        return slice(all, [0], [Math.min(all.shape[0]!, this.sizes[c]!)]);
      }),
    );
    this.queues[c] = keep(next);
    old?.dispose();
  }

  /** The queues as named tensors (`queue.<class>`, non-empty classes only) for a checkpoint. Owned by the queue. */
  state(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    this.queues.forEach((q, c) => {
      if (q) out[`${PREFIX}${c}`] = q;
    });
    return out;
  }

  /**
   * Replace every queue by the entries named `queue.<class>` in `state` (copied; classes without an
   * entry become empty). Other names are ignored, so a whole checkpoint's tensors may be passed.
   */
  load(state: Record<string, Tensor>): void {
    const incoming = new Array<Tensor | undefined>(this.numClasses).fill(undefined);
    for (const [name, t] of Object.entries(state)) {
      if (!name.startsWith(PREFIX)) continue;
      const c = Number(name.slice(PREFIX.length));
      if (!Number.isInteger(c) || c < 0 || c >= this.numClasses) throw new Error(`ClassQueues.load: '${name}' names no class in [0, ${this.numClasses})`);
      if (t.dtype !== 'f32' || t.rank !== 2 || t.shape[1] !== this.dim || t.shape[0]! > this.sizes[c]!) {
        throw new Error(`ClassQueues.load: '${name}' is ${t}, expected f32 [m ≤ ${this.sizes[c]}, ${this.dim}]`);
      }
      incoming[c] = t;
    }
    incoming.forEach((t, c) => {
      const old = this.queues[c];
      this.queues[c] = t && t.shape[0]! > 0 ? keep(noGrad(() => slice(t, [0], [t.shape[0]!]))) : undefined;
      old?.dispose();
    });
  }

  /** Release every queue; the object is empty afterwards. */
  dispose(): void {
    this.queues.forEach((q, c) => {
      q?.dispose();
      this.queues[c] = undefined;
    });
  }
}

