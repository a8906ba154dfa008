// Matching tensors by name: checkpoints into a model, optimiser state, a saved teacher, --init.
// One rule for what counts as a mismatch, so every loader lists the same problems in the same words,
// all of them in one error, before anything is written.
import type { DType } from './dtype.ts';
import { sameShape, shapeStr, type Tensor } from './tensor.ts';

/** What a loaded entry must agree on: a file's TensorData or another tensor. */
export interface Shaped {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export interface MatchOptions {
  /** `given` names are prefix + own name (e.g. 'teacher.'); with `strict`, only names under it count. */
  prefix?: string;
  /** A name missing from `given` is not a problem: it is listed in `missing` (its tensor keeps its values). */
  allowMissing?: boolean;
  /** Names in `given` that match no tensor of `own` are problems. */
  strict?: boolean;
}

/** Pairs each of `own` with its entry in `given`, and lists every problem (see MatchOptions). */
export function matchByName<T extends Shaped>(
  own: Iterable<[string, Tensor]>,
  given: Record<string, T>,
  o: MatchOptions = {},
): { pairs: [Tensor, T][]; missing: string[]; problems: string[] } {
  const prefix = o.prefix ?? '';
  const pairs: [Tensor, T][] = [];
  const missing: string[] = [];
  const problems: string[] = [];
  const wanted = new Set<string>();
  for (const [name, t] of own) {
    const key = prefix + name;
    wanted.add(key);
    const g = Object.hasOwn(given, key) ? given[key] : undefined;
    if (!g) {
      if (o.allowMissing) missing.push(name);
      else problems.push(`missing '${key}' (expected ${shapeStr(t.shape)} ${t.dtype})`);
    } else if (!sameShape(g.shape, t.shape) || g.dtype !== t.dtype) {
      problems.push(`'${key}': expected ${shapeStr(t.shape)} ${t.dtype}, got ${shapeStr(g.shape)} ${g.dtype}`);
    } else pairs.push([t, g]);
  }
  if (o.strict) {
    for (const [key, g] of Object.entries(given)) if (key.startsWith(prefix) && !wanted.has(key)) problems.push(`unexpected '${key}' ${shapeStr(g.shape)} ${g.dtype}`);
  }
  return { pairs, missing, problems };
}

/** `what: header (n problems):` and one indented line per problem. */
export function problemsError(what: string, problems: string[]): Error {
  return new Error(`${what} (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n  ${problems.join('\n  ')}`);
}
