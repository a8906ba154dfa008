// Bundles the TypeScript sources with esbuild: Node programs into dist/*.js (run by the small
// launchers train/run.js, eval/run.js, ...), and the browser page into dist/web/ (app.js, with
// web/index.html and web/style.css copied next to it; `npm run web` serves it with dist/serve.js).
// WGSL files are imported as text with a `?raw` suffix (vite, which vitest uses, understands the
// same suffix), so the shaders stay plain .wgsl files in shaders/.
import { build } from 'esbuild';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const rawText = {
  name: 'raw-text',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({ path: path.resolve(args.resolveDir, args.path.slice(0, -4)), namespace: 'raw' }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, (args) => ({ contents: readFileSync(args.path, 'utf8'), loader: 'text' }));
  },
};

// name → TypeScript entry; only the ones that exist are built.
const nodeEntries = {
  train: 'train/main.ts',
  ablation: 'train/ablation.ts',
  'ifr-probe': 'train/ifr-probe-cli.ts',
  'mvc-probe': 'train/mvc-probe-cli.ts',
  pretrain: 'train/pretrain.ts',
  eval: 'eval/main.ts',
  flow: 'eval/flow-cli.ts',
  synth: 'dataset/synth-cli.ts',
  bench: 'bench/run.ts',
  'bench-tfjs': 'bench/tfjs-peers.ts',
  serve: 'web/serve.ts',
};
const webEntries = { app: 'web/app.ts' };

const pick = (m) => Object.fromEntries(Object.entries(m).filter(([, f]) => existsSync(f)));
const common = { bundle: true, format: 'esm', sourcemap: true, logLevel: 'warning', plugins: [rawText], target: 'es2022' };

const node = pick(nodeEntries);
if (Object.keys(node).length) {
  await build({
    ...common,
    entryPoints: node,
    outdir: 'dist',
    platform: 'node',
    // Native and heavy packages stay in node_modules.
    external: ['webgpu', '@tensorflow/*', 'playwright-core', '@techstark/opencv-js'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
}
const web = pick(webEntries);
if (Object.keys(web).length) {
  await build({ ...common, entryPoints: web, outdir: 'dist/web', platform: 'browser' });
  for (const f of ['index.html', 'style.css']) copyFileSync(`web/${f}`, `dist/web/${f}`);
}
console.log(`built ${[...Object.keys(node), ...Object.keys(web).map((k) => `web/${k}`)].join(', ') || 'nothing'} into dist/`);
