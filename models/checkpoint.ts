// A student from checkpoint bytes (browser-safe: no file access). The safetensors metadata carries
// the model's config, class names and the data set's label declaration (studentMetadata, written by
// train/run-state.ts), so a checkpoint file is self-describing.
import { labelMapping, type LabelSpec } from '../dataset/labels.ts';
import { decodeSafetensors, loadParams } from '../engine/index.ts';
import { Student, type StudentConfig } from './student.ts';

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

export function studentFromCheckpoint(bytes: Uint8Array, source = 'checkpoint'): LoadedStudent {
  const { metadata } = decodeSafetensors(bytes, source);
  if (!metadata.config) throw new Error(`${source}: no 'config' in the safetensors metadata: not a student checkpoint written by train/run.js`);
  let config: StudentConfig;
  let classNames: string[];
  let labels: LabelSpec | undefined;
  try {
    config = JSON.parse(metadata.config) as StudentConfig;
    classNames = metadata.classes ? (JSON.parse(metadata.classes) as string[]) : [];
    labels = metadata.labels ? (JSON.parse(metadata.labels) as LabelSpec) : undefined;
  } catch (e) {
    throw new Error(`${source}: unreadable config in the metadata (${(e as Error).message})`);
  }
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
