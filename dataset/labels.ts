// Label mappings: from a data set's own mask values to the class ids the models and metrics use.
//
// A data set declares its mapping (ROOT/dataset.json or an explicit override); nothing is guessed
// from the masks. After mapping, every pixel is a class id 0..C-1 or IGNORE (255).
//   "vspw":     VSPW's own values: 0 ("others") and 255 (void) are ignored, v = 1..C becomes v-1
//               (C = 124 for VSPW). This is the devkit's map: 0→255, subtract 1, 254→255.
//   "identity": values 0..C-1 are the class ids; the declared `ignore` value is ignored.
// Any other value is an error (a mask that does not fit its declaration is bad data, not noise).

import type { RawMask } from './image.ts';

/** The class id of ignored pixels after mapping. */
export const IGNORE = 255;

export interface LabelSpec {
  labels: 'vspw' | 'identity';
  /** Number of classes C; class ids are 0..C-1. */
  numClasses: number;
  /** identity only: the raw value that marks ignored pixels (VSPW's are fixed: 0 and 255). */
  ignore?: number;
}

export const VSPW_SPEC: LabelSpec = { labels: 'vspw', numClasses: 124 };

export interface LabelMapping {
  readonly spec: LabelSpec;
  readonly numClasses: number;
  /** raw value (0..255) → class id, IGNORE, or -1 for a value the declaration does not allow. */
  readonly toClass: Int32Array;
  /** class id (or IGNORE) → the data set's own value: the inverse map used to write predictions. */
  toRaw(cls: number): number;
  /** A sentence describing the declaration, for error messages. */
  describe(): string;
}

/** Checks a declaration (as read from dataset.json or given by a caller) and builds its lookup table. */
export function labelMapping(spec: LabelSpec, where = 'label spec'): LabelMapping {
  const C = spec.numClasses;
  if (spec.labels === 'vspw') {
    if (!Number.isInteger(C) || C < 1 || C > 254) throw new Error(`${where}: vspw labels need numClasses in 1..254, got ${C}`);
    if (spec.ignore !== undefined && spec.ignore !== 255 && spec.ignore !== 0)
      throw new Error(`${where}: vspw labels always ignore 0 and 255; "ignore": ${spec.ignore} is not allowed`);
    const toClass = new Int32Array(256).fill(-1);
    toClass[0] = IGNORE;
    toClass[255] = IGNORE;
    for (let v = 1; v <= C; v++) toClass[v] = v - 1;
    return {
      spec,
      numClasses: C,
      toClass,
      toRaw: (c) => (c === IGNORE ? 255 : checkClass(c, C) + 1),
      describe: () => `vspw labels: values 1..${C} are classes 0..${C - 1}, 0 and 255 are ignored`,
    };
  }
  if (spec.labels === 'identity') {
    const ig = spec.ignore ?? IGNORE;
    if (!Number.isInteger(C) || C < 1 || C > 255) throw new Error(`${where}: identity labels need numClasses in 1..255, got ${C}`);
    if (!Number.isInteger(ig) || ig < C || ig > 255)
      throw new Error(`${where}: identity labels need an ignore value in ${C}..255 (outside the classes 0..${C - 1}), got ${ig}`);
    const toClass = new Int32Array(256).fill(-1);
    for (let v = 0; v < C; v++) toClass[v] = v;
    toClass[ig] = IGNORE;
    return {
      spec,
      numClasses: C,
      toClass,
      toRaw: (c) => (c === IGNORE ? ig : checkClass(c, C)),
      describe: () => `identity labels: values 0..${C - 1} are classes, ${ig} is ignored`,
    };
  }
  throw new Error(`${where}: "labels" must be "vspw" or "identity", got ${JSON.stringify((spec as { labels: unknown }).labels)}`);
}

function checkClass(c: number, C: number): number {
  if (!Number.isInteger(c) || c < 0 || c >= C) throw new Error(`class id ${c} is outside 0..${C - 1} (and is not IGNORE = ${IGNORE})`);
  return c;
}

/** Mapped labels: one class id (0..C-1) or IGNORE (255) per pixel, row-major. */
export interface LabelMap {
  width: number;
  height: number;
  labels: Int32Array;
}

/** Applies a label mapping to a decoded mask; `name` is used in the error for a value outside the declaration. */
export function mapMask(mask: RawMask, mapping: LabelMapping, name: string): LabelMap {
  const { width, height, values } = mask;
  const labels = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const c = mapping.toClass[values[i]!]!;
    if (c < 0)
      throw new Error(
        `${name}: value ${values[i]} at pixel (${i % width}, ${Math.floor(i / width)}) is outside the declared classes (${mapping.describe()})`,
      );
    labels[i] = c;
  }
  return { width, height, labels };
}
