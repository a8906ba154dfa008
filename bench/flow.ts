// Farneback on a 640×480 pair, the engine (eval/flow.ts) beside OpenCV's own implementation (opencv.js,
// WebAssembly, single-threaded) in the same process; part of `npm run bench` (bench/run.ts).
//
// The pair is a textured frame and its copy translated by (2.3, −1.4) px (bench/opencv-flow.ts);
// both run with OpenCV's defaults. Each side gets one warm-up run (pipeline compilation, WebAssembly
// start-up), then RUNS timed runs, alternating; the engine's time includes reading the flow back, as
// OpenCV's result is on the CPU. Also returns the mean end-point difference between the two flows.
import { tensor } from '../engine/index.ts';
import { FARNEBACK_DEFAULTS, farneback } from '../eval/flow.ts';
import { cvFarneback, meanEpe, motionPair, openCV } from './opencv-flow.ts';
import { median } from './stats.ts';

export const [W, H] = [640, 480];
const RUNS = 5;

export interface FlowBench {
  engine_ms: number;
  opencv_ms: number;
  /** Mean end-point difference between the engine's and OpenCV's flows (px). */
  epe: number;
}

/** Medians of RUNS runs each; the engine must be initialised. */
export async function benchFarneback(): Promise<FlowBench> {
  const cv = await openCV();
  const pair = motionPair(W, H, { kind: 'translate', dx: 2.3, dy: -1.4 }, 1);
  const a = tensor(Float32Array.from(pair.a), [H, W]);
  const b = tensor(Float32Array.from(pair.b), [H, W]);
  const o = FARNEBACK_DEFAULTS;

  const engine = async () => {
    const f = farneback(a, b, o);
    const d = (await f.data()) as Float32Array;
    f.dispose();
    return d;
  };
  const opencv = async () => cvFarneback(cv, W, H, pair.a, pair.b, o);
  const ours = await engine();
  const theirs = await opencv();

  const times = { engine: [] as number[], opencv: [] as number[] };
  for (let r = 0; r < RUNS; r++) {
    for (const [name, run] of [['engine', engine], ['opencv', opencv]] as const) {
      const t0 = performance.now();
      await run();
      times[name].push(performance.now() - t0);
    }
  }
  const ms = { engine: median(times.engine), opencv: median(times.opencv) };
  a.dispose();
  b.dispose();
  return { engine_ms: ms.engine, opencv_ms: ms.opencv, epe: meanEpe(ours, theirs, W, H) };
}
