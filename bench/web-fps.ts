// The browser page's inference rate alone (bench/web.ts, as `npm run bench` measures it), without
// the rest of the benchmarks. Run `npm run build` first, then:
//   npx vite-node bench/web-fps.ts [WIDTHxHEIGHT] [FRAMES]   (default 854x480, 1 frame after the warm-up)
import { initNode } from '../engine/node.ts';
import { browserStudentFps } from './web.ts';

await initNode(); // the student's checkpoint is made in this process
const [w, h] = (process.argv[2] ?? '854x480').split('x').map(Number) as [number, number];
const t0 = performance.now();
const r = await browserStudentFps(w, h, Number(process.argv[3] ?? 1));
console.log(`${w}x${h}: ${r.fps.toFixed(4)} frames/s (${(1 / r.fps).toFixed(1)} s a frame), ${((performance.now() - t0) / 1000).toFixed(0)} s in all; ${r.adapter}`);
process.exit(0);
