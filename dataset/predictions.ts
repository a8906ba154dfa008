// Predicted masks on disk: PRED_DIR/<video>/<frame>.png, 8-bit palette PNGs (Node only).
//
// Which values go into the file is the caller's choice, and the default follows the VSPW devkit:
//   "classIds" (default): the class ids 0..C-1 themselves. The mIoU scripts used with VSPW (Tube-Link's
//       scripts/test_vspw/iou_cal.py, the PVUW challenge's iou_cal.py derived from it) map only the
//       ground truth (0→255, −1, 254→255) and compare predictions as they are, as class ids 0..123.
//   "dataset": the data set's own values (the inverse of its label mapping: VSPW class c → c+1).
// For an identity-mapped set (the synthetic one) both are the same. VC compares a prediction only with
// itself across frames, so it does not care. IGNORE (255) is written as 255 in "classIds" and as the
// data set's ignore value in "dataset".

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeMask, encodePaletteMask, type Palette } from './image.ts';
import { IGNORE, mapMask, type LabelMap, type LabelMapping } from './labels.ts';

export type PredictionValues = 'classIds' | 'dataset';

export interface PredictionOptions {
  values?: PredictionValues;
  /** Colours of the PNG palette (default: the PASCAL VOC colour map). */
  palette?: Palette;
}

export function predictionPath(predDir: string, video: string, frame: string): string {
  return path.join(predDir, video, `${frame}.png`);
}

/** Writes one predicted mask (class ids or IGNORE per pixel) and returns its path. */
export function writePrediction(predDir: string, video: string, frame: string, pred: LabelMap, mapping: LabelMapping, opts: PredictionOptions = {}): string {
  const { width, height, labels } = pred;
  const file = predictionPath(predDir, video, frame);
  if (labels.length !== width * height) throw new Error(`writePrediction ${file}: ${labels.length} labels for a ${width}×${height} mask`);
  const C = mapping.numClasses;
  const values = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    if (c !== IGNORE && !(c >= 0 && c < C)) throw new Error(`writePrediction ${file}: class id ${c} at pixel ${i} is outside 0..${C - 1} and not IGNORE`);
    values[i] = opts.values === 'dataset' ? mapping.toRaw(c) : c;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, encodePaletteMask({ width, height, values }, opts.palette));
  return file;
}

/** Reads a predicted mask written with the same `values` choice back to class ids. */
export function readPrediction(predDir: string, video: string, frame: string, mapping: LabelMapping, values: PredictionValues = 'classIds'): LabelMap {
  const file = predictionPath(predDir, video, frame);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read predicted mask (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const raw = decodeMask(bytes, file);
  if (values === 'dataset') return mapMask(raw, mapping, file);
  const C = mapping.numClasses;
  const toClass = new Int32Array(256).fill(-1);
  for (let v = 0; v < C; v++) toClass[v] = v;
  toClass[IGNORE] = IGNORE;
  const asIds: LabelMapping = { ...mapping, toClass, describe: () => `class ids 0..${C - 1}, ${IGNORE} ignored` };
  return mapMask(raw, asIds, file);
}
