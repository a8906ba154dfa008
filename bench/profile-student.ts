// Profiles the default student's inference on one frame (default 480×360), the work behind the
// bench's frames-per-second figure: one warm-up frame, then N profiled frames; prints the table.
// Run: npx vite-node bench/profile-student.ts [N] [WxH]
import { beginProfiledStep, describeDevice, endProfiledStep, formatProfile, startProfiling, stopProfiling } from '../engine/index.ts';
import { initNode } from '../engine/node.ts';
import { predictFrames } from '../eval/predict.ts';
import { Student, defaultStudentConfig } from '../models/student.ts';
import { benchFrame } from './engine.ts';

const n = Number(process.argv[2] ?? 2);
const [width, height] = (process.argv[3] ?? '480x360').split('x').map(Number) as [number, number];
console.log(`device: ${describeDevice(await initNode())}\ndefault student, one ${width}×${height} frame per step`);
const model = new Student(defaultStudentConfig(10), 0);
const frame = benchFrame(width, height);
startProfiling();
await predictFrames(model, [frame]); // compiles
for (let i = 0; i < n; i++) {
  beginProfiledStep();
  await predictFrames(model, [frame]);
  await endProfiledStep();
}
console.log(formatProfile(await stopProfiling(), 20));
model.ps.dispose();
