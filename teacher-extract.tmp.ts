// Temporary (not committed): a run's EMA teacher as a model.safetensors of its own.
import { readFileSync, writeFileSync } from 'node:fs';
import { decodeSafetensors, encodeSafetensors } from './engine/index.ts';
const [run, out] = process.argv.slice(2) as [string, string];
const model = decodeSafetensors(new Uint8Array(readFileSync(`${run}/model.safetensors`)));
const semi = decodeSafetensors(new Uint8Array(readFileSync(`${run}/semi.safetensors`)));
const t: Record<string, (typeof model.tensors)[string]> = {};
for (const name of Object.keys(model.tensors)) t[name] = semi.tensors[`teacher.${name}`] ?? (console.log('missing', name), model.tensors[name]!);
writeFileSync(out, encodeSafetensors(t, model.metadata));
console.log('wrote', out, Object.keys(t).length, 'tensors');
