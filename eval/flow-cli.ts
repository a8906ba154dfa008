// `node eval/flow.js A.png B.png --out F.flo [--viz F.png] [options]`: Farneback optical flow from frame
// A to frame B (eval/flow.ts) written as a Middlebury .flo file, and optionally its colour-wheel picture.
// The frames (JPEG or PNG) are checked before the GPU starts, so bad input fails fast.
import { encode as pngEncode } from 'fast-png';
import { decodeFrame, type Frame } from '../dataset/image.ts';
import { readRegularFile, writeFileAtomic } from '../engine/checkpoint-node.ts';
import { describeDevice } from '../engine/index.ts';
import { initNode } from '../engine/node.ts';
import { flowToColor, writeFlo } from './flo.ts';
import { FARNEBACK_DEFAULTS, checkFarnebackOptions, farneback, toGray, type FarnebackOptions } from './flow.ts';
import { overlaps } from './outputs.ts';

const D = FARNEBACK_DEFAULTS;
const USAGE = `usage: node eval/flow.js A.png B.png --out F.flo [--viz F.png] [options]

Dense optical flow from A to B (Farneback, as OpenCV's calcOpticalFlowFarneback):
A(y, x) ≈ B(y + fy, x + fx). Frames are JPEG or PNG of the same size, converted to gray as OpenCV's
cvtColor(RGB2GRAY).

  --out F.flo         the flow, Middlebury .flo (required)
  --viz F.png         the flow as a Middlebury colour-wheel picture
  --levels N          pyramid levels above the full image (default ${D.levels})
  --pyr-scale S       scale between levels, in (0, 1) (default ${D.pyrScale})
  --winsize N         averaging window (default ${D.winsize})
  --iterations N      iterations per level (default ${D.iterations})
  --poly-n N          polynomial expansion neighbourhood (default ${D.polyN})
  --poly-sigma S      σ of the expansion's applicability (default ${D.polySigma})
  --gaussian          Gaussian window instead of the box
  --help              this text`;

const NUMERIC: Record<string, keyof FarnebackOptions> = {
  '--levels': 'levels',
  '--pyr-scale': 'pyrScale',
  '--winsize': 'winsize',
  '--iterations': 'iterations',
  '--poly-n': 'polyN',
  '--poly-sigma': 'polySigma',
};

interface Args {
  a: string;
  b: string;
  out: string;
  viz?: string;
  opts: FarnebackOptions;
}

function parse(argv: string[]): Args | undefined {
  const files: string[] = [];
  const opts: Record<string, number | boolean> = {};
  let out: string | undefined;
  let viz: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return undefined;
    if (a === '--gaussian') {
      opts.gaussian = true;
      continue;
    }
    if (!a.startsWith('--')) {
      files.push(a);
      continue;
    }
    const v = argv[++i];
    if (v === undefined || v.startsWith('--')) throw new Error(`option ${a} needs a value`);
    if (a === '--out') out = v;
    else if (a === '--viz') viz = v;
    else if (a in NUMERIC) {
      if (v.trim() === '' || !Number.isFinite(Number(v))) throw new Error(`${a} takes a number, got '${v}'`);
      opts[NUMERIC[a]!] = Number(v);
    } else throw new Error(`unknown option '${a}' (see --help)`);
  }
  if (files.length !== 2) throw new Error(`expected two frames A and B, got ${files.length} (see --help)`);
  if (!out) throw new Error('--out F.flo is required (see --help)');
  // An output that is an input (or the other output) would destroy it.
  const taken: [string, string][] = [['A', files[0]!], ['B', files[1]!]];
  for (const [option, file] of [['--out', out], ...(viz ? [['--viz', viz]] : [])] as [string, string][]) {
    const same = taken.find(([, f]) => overlaps(f, file));
    if (same) throw new Error(`${option} ${file}: the same file as ${same[0]} ${same[1]}; an output may not replace an input or the other output`);
    taken.push([option, file]);
  }
  checkFarnebackOptions(opts); // before any frame is read or the GPU starts
  return { a: files[0]!, b: files[1]!, out, ...(viz ? { viz } : {}), opts };
}

const readFrame = (path: string): Frame => decodeFrame(readRegularFile(path), path);

async function main(argv: string[]): Promise<void> {
  const args = parse(argv);
  if (!args) {
    console.log(USAGE);
    return;
  }
  const a = readFrame(args.a);
  const b = readFrame(args.b);
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`the frames differ in size: ${args.a} is ${a.width}×${a.height}, ${args.b} is ${b.width}×${b.height}`);
  }
  console.log(`device: ${describeDevice(await initNode())}`);
  const t0 = performance.now();
  const flow = farneback(toGray(a), toGray(b), args.opts);
  const data = (await flow.data()) as Float32Array;
  const ms = performance.now() - t0;
  const field = { width: a.width, height: a.height, data };
  await writeFileAtomic(args.out, writeFlo(field));
  if (args.viz) await writeFileAtomic(args.viz, pngEncode({ width: a.width, height: a.height, data: flowToColor(field), channels: 3, depth: 8 }));
  let sum = 0, max = 0;
  for (let i = 0; i < data.length; i += 2) {
    const r = Math.hypot(data[i]!, data[i + 1]!);
    sum += r;
    max = Math.max(max, r);
  }
  const n = data.length / 2;
  console.log(`flow ${a.width}×${a.height} in ${ms.toFixed(0)} ms: mean length ${(sum / n).toFixed(3)} px, max ${max.toFixed(3)} px → ${args.out}${args.viz ? `, ${args.viz}` : ''}`);
}

// Dawn keeps the process alive, hence the explicit exit, once stdout has been flushed into a pipe.
main(process.argv.slice(2)).then(
  () => process.stdout.write('', () => process.exit(0)),
  (e: Error) => {
    console.error(`flow: ${e.message}`);
    process.exit(1);
  },
);
