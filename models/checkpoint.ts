// A student from checkpoint bytes (browser-safe: no file access). The safetensors metadata carries
// the model's config and class names (written by train/run-state.ts), so a checkpoint file is
// self-describing.
import { decodeSafetensors, loadParams } from '../engine/index.ts';
import { Student, type StudentConfig } from './student.ts';

export interface LoadedStudent {
  model: Student;
  classNames: string[];
  step: number;
}

export function studentFromCheckpoint(bytes: Uint8Array, source = 'checkpoint'): LoadedStudent {
  const { metadata } = decodeSafetensors(bytes, source);
  if (!metadata.config) throw new Error(`${source}: no 'config' in the safetensors metadata: not a student checkpoint written by train/run.js`);
  let config: StudentConfig;
  let classNames: string[];
  try {
    config = JSON.parse(metadata.config) as StudentConfig;
    classNames = metadata.classes ? (JSON.parse(metadata.classes) as string[]) : [];
  } catch (e) {
    throw new Error(`${source}: unreadable config in the metadata (${(e as Error).message})`);
  }
  const model = new Student(config);
  try {
    loadParams(model.ps.tensors, bytes, source);
  } catch (e) {
    model.ps.dispose();
    throw e;
  }
  return { model, classNames, step: Number(metadata.step ?? 0) };
}
