// A student from checkpoint bytes (browser-safe: no file access). The safetensors metadata carries
// the model's config, class names and the data set's label declaration (studentMetadata, written by
// train/run-state.ts), so a checkpoint file is self-describing.
import { labelMapping, type LabelSpec } from '../dataset/labels.ts';
import { decodeSafetensors, loadParams } from '../engine/index.ts';
import { MAX_CLIP, Student, checkStudentConfig, type StudentConfig } from './student.ts';

export interface LoadedStudent {
  model: Student;
  classNames: string[];
  /** How the training data's mask values map to the classes; absent in checkpoints from before it was recorded. */
  labels?: LabelSpec;
  step: number;
}

/** The safetensors metadata of a student checkpoint (all values are strings, as the format wants). */
export function studentMetadata(config: StudentConfig, classNames: string[], labels: LabelSpec): Record<string, string> {
  return { format: 'webgpu-vss student', config: JSON.stringify(config), classes: JSON.stringify(classNames), labels: JSON.stringify(labels) };
}

export function studentFromCheckpoint(bytes: Uint8Array, source = 'checkpoint', use: { baseSize?: number } = {}): LoadedStudent {
  const { metadata, tensors } = decodeSafetensors(bytes, source);
  // `use`: how to run it (the scale frames are seen at), which does not change its weights.
  const config = { ...studentConfigOf(metadata, tensors, source), ...use };
  let classNames: string[];
  let labels: LabelSpec | undefined;
  try {
    classNames = metadata.classes ? (JSON.parse(metadata.classes) as string[]) : [];
    labels = metadata.labels ? (JSON.parse(metadata.labels) as LabelSpec) : undefined;
  } catch (e) {
    throw new Error(`${source}: unreadable class names or labels in the metadata (${(e as Error).message})`);
  }
  if (!Array.isArray(classNames) || !classNames.every((n) => typeof n === 'string')) throw new Error(`${source}: 'classes' in the metadata is not a list of names`);
  if (classNames.length && classNames.length !== config.numClasses) throw new Error(`${source}: ${classNames.length} class names in the metadata for a model of ${config.numClasses} classes`);
  if (labels) {
    labelMapping(labels, `${source}: the 'labels' declaration in its metadata`); // throws, naming what is wrong
    if (labels.numClasses !== config.numClasses) throw new Error(`${source}: its 'labels' declaration has ${labels.numClasses} classes, the model ${config.numClasses}`);
  }
  const model = new Student(config);
  try {
    loadParams(model.ps.tensors, bytes, source);
  } catch (e) {
    model.ps.dispose();
    throw e;
  }
  return { model, classNames, ...(labels ? { labels } : {}), step: Number(metadata.step ?? 0) };
}

/** The student config in a checkpoint's metadata, checked (checkStudentConfig) and against its tensors. */
export function studentConfigOf(metadata: Record<string, string>, tensors: Record<string, { shape: number[] }>, source: string): StudentConfig {
  if (!metadata.config) throw new Error(`${source}: no 'config' in the safetensors metadata: not a student checkpoint written by train/run.js`);
  let raw: unknown;
  try {
    raw = JSON.parse(metadata.config);
  } catch (e) {
    throw new Error(`${source}: the 'config' in its metadata is not valid JSON (${(e as Error).message})`);
  }
  const config = checkStudentConfig(raw, source);
  checkConfigFitsTensors(config, tensors, source);
  return config;
}

/**
 * Every size in `config` must be the size of a tensor in the file, so that a config that disagrees
 * with its weights stops here, before the model takes any memory (loadParams then checks every tensor).
 */
export function checkConfigFitsTensors(c: StudentConfig, tensors: Record<string, { shape: number[] }>, source: string): void {
  const [h, w] = c.imageSize;
  const want: [string, number[]][] = [
    ['patch_embed.weight', [c.width, 3, c.patch, c.patch]],
    ['pos_embed', [1, c.width, h / c.patch, w / c.patch]],
    [`blocks.${c.depth - 1}.mlp.fc1.weight`, [c.width * c.mlpRatio, c.width]],
    ['stem.0.weight', [c.stemDim, 3, 3, 3]],
    ['decoder.classifier.weight', [c.numClasses, c.decoderDim, 1, 1]],
    ['repr.1.weight', [c.reprDim, c.decoderDim, 1, 1]],
  ];
  if (c.temporal) want.push(['temporal.frame_embed', [MAX_CLIP, c.width]]);
  if (c.norm === 'group') want.push(['stem.0.norm.weight', [c.stemDim]]);
  for (const [name, shape] of want) {
    const t = tensors[name];
    if (!t) throw new Error(`${source}: its config does not fit its tensors: no tensor '${name}'`);
    if (t.shape.join(',') !== shape.join(',')) throw new Error(`${source}: its config does not fit its tensors: '${name}' is [${t.shape}], the config implies [${shape}]`);
  }
  if (tensors[`blocks.${c.depth}.mlp.fc1.weight`]) throw new Error(`${source}: its config does not fit its tensors: depth ${c.depth}, but the file has more blocks`);
  if (!c.temporal && tensors['temporal.frame_embed']) throw new Error(`${source}: its config does not fit its tensors: temporal is off, but the file has a temporal block`);
  if (c.norm === 'none' && tensors['stem.0.norm.weight']) throw new Error(`${source}: its config does not fit its tensors: norm is 'none', but the file has GroupNorm weights`);
}
