// Writes the synthetic data set (dataset/synth.ts) to a folder in VSPW's layout.
//
//   synth-cli --out DIR [--seed S] [--videos N] [--frames F | --frames MIN-MAX] [--size WxH] [--val V]
//   synth-cli --world shapes --out DIR [...]   (the second world, dataset/shapes.ts)
//   synth-cli --world aerial --out DIR [...]   (countryside from above, dataset/aerial.ts)
//   synth-cli --world vspw --out DIR [--sizes WxH,...]   (VSPW's values and layout, frames of several sizes)
//
// Defaults: seed 0, 40 videos of 24-32 frames at 128x96, val = the last quarter of the videos. The same
// options always write byte-identical files; files already in DIR with the same names are overwritten.
// The default set (about 1100 frames, 15 MB) takes about 8 s on one core of the development machine.

import { SYNTH_USAGE, parseSynthArgs, writeAerial, writeShapes, writeSynth, writeVspwLike } from './synth-write.ts';

try {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(SYNTH_USAGE);
    process.exit(0);
  }
  const { out, options, shapes, aerial, vspw } = parseSynthArgs(process.argv.slice(2));
  const t0 = Date.now();
  const n = vspw ? writeVspwLike(out, vspw) : shapes ? writeShapes(out, shapes) : aerial ? writeAerial(out, aerial) : writeSynth(out, options);
  console.log(`wrote ${n} files to ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
} catch (e) {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
}
