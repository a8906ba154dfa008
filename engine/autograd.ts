// Reverse-mode automatic differentiation over a tape.
//
// Each op that has an input requiring gradients records a Node on its output: the op's name, its
// inputs, and a `backward` closure mapping the output's gradient to one gradient per input (or
// undefined where an input needs none). `backward(loss)` sorts the recorded graph topologically and
// walks it in reverse (as micrograd does), summing gradients that meet at a tensor, and adds the
// results into `.grad` of leaf tensors that have `requiresGrad` (gradient accumulation: call
// `zeroGrad` between steps unless you mean to accumulate).
//
// Gradients may share storage: when an op passes its output gradient through unchanged (add), both
// inputs' `.grad` can be views of one buffer. Treat `.grad` as read-only, or scale each buffer once
// (as clipGradNorm does).
//
// Backward closures are written with the same tensor ops as the forward pass, run under `noGrad`, and
// may keep references to forward tensors ("saved tensors"): wrap a training step in `tidy` so that
// these intermediates are released once the step is done.

import { Tensor, keep, sameShape, shapeStr, tidy } from './tensor.ts';
import { add } from './ops/elementwise.ts';
import { fill } from './ops/creation.ts';

export interface Node {
  op: string;
  inputs: readonly Tensor[];
  backward: (grad: Tensor) => readonly (Tensor | undefined)[];
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run `fn` without recording anything for autograd (inference, EMA updates, optimiser steps). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Mark a leaf tensor as a parameter: it receives `.grad`. Returns it. */
export function requireGrad<T extends Tensor>(t: T, on = true): T {
  if (on && t.dtype !== 'f32') throw new Error(`requireGrad: ${t} is ${t.dtype}; only f32 tensors can have gradients`);
  if (t.node) throw new Error(`requireGrad: ${t} is the result of an op; only leaf tensors take requiresGrad (use detach() first)`);
  t.requiresGrad = on;
  return t;
}

/**
 * Attach a backward rule to `out` when gradients are being recorded and some input needs them.
 * Every op calls this once for its output. Returns `out`.
 */
export function record(out: Tensor, op: string, inputs: readonly Tensor[], backward: Node['backward']): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}

/** The same values, cut from the graph (shares storage). */
export function detach(t: Tensor): Tensor {
  return t.view(t.shape);
}

function topoOrder(root: Tensor): Tensor[] {
  // Iterative post-order DFS: deep graphs (long training graphs) must not overflow the JS stack.
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i]!;
      if (child.requiresGrad && child.disposed) {
        throw new Error(
          `backward of ${t.node!.op}: its input ${child} was disposed. Run the forward pass and backward() inside the same tidy() scope.`,
        );
      }
      if (child.requiresGrad && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order;
}

/**
 * Backpropagate from `root`. A non-scalar root needs `seed`, the gradient of the final objective with
 * respect to `root` (same shape). Leaves with requiresGrad get `.grad` (added to any existing one).
 */
export function backward(root: Tensor, seed?: Tensor): void {
  if (!root.requiresGrad) throw new Error(`backward: ${root} does not require grad (no input of the ops that made it has requiresGrad)`);
  if (!seed && root.size !== 1) {
    throw new Error(`backward: ${root} is not a scalar; pass a seed gradient of shape ${shapeStr(root.shape)}, or reduce it first (e.g. mean)`);
  }
  if (seed && (seed.size !== root.size || seed.dtype !== 'f32')) {
    throw new Error(`backward: seed ${seed} does not match ${root}`);
  }
  noGrad(() =>
    tidy(() => {
      const order = topoOrder(root);
      const grads = new Map<Tensor, Tensor>();
      grads.set(root, seed ? seed.view(root.shape) : fill(root.shape, 1));
      for (let k = order.length - 1; k >= 0; k--) {
        const t = order[k]!;
        const g = grads.get(t);
        if (!g) continue;
        grads.delete(t);
        if (!t.node) {
          // A leaf: accumulate into .grad, which outlives this scope.
          const prev = t.grad;
          t.grad = keep(prev ? add(prev, g) : g.view(t.shape));
          prev?.dispose();
          g.dispose();
          continue;
        }
        let gs: readonly (Tensor | undefined)[];
        try {
          gs = t.node.backward(g);
        } catch (e) {
          if (e instanceof Error && /used after dispose/.test(e.message)) {
            e.message = `backward of ${t.node.op}: a tensor it saved was disposed (${e.message}). Run the forward pass and backward() inside the same tidy() scope.`;
          }
          throw e;
        }
        const owned = new Set<Tensor>(); // each gradient tensor gets exactly one owner below
        t.node.inputs.forEach((x, j) => {
          let gx = gs[j];
          if (!gx || !x.requiresGrad) return;
          if (gx.size !== x.size) {
            throw new Error(`internal: backward of ${t.node!.op} gave a gradient of shape ${shapeStr(gx.shape)} for input ${shapeStr(x.shape)}`);
          }
          if (gx === g || owned.has(gx)) gx = gx.view(x.shape);
          else if (!sameShape(gx.shape, x.shape)) {
            const v = gx.view(x.shape);
            gx.dispose();
            gx = v;
          }
          owned.add(gx);
          const prev = grads.get(x);
          if (prev) {
            grads.set(x, add(prev, gx));
            prev.dispose();
            gx.dispose();
          } else grads.set(x, gx);
        });
        g.dispose();
      }
    }),
  );
}

/** Drop `.grad` of each tensor (releasing its memory). */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = undefined;
  }
}
