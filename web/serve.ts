// `npm run web`: serves the built page (dist/web/) at http://localhost:PORT/ with the repository's runs/
// and data/ folders read-only under /runs/ and /data/ (web/server.ts). Node only.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startServer } from './server.ts';

const USAGE = 'usage: npm run web [-- --port N]   (default port 8080)';

const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port ${values.port}: not a port number (0..65535)\n${USAGE}`);
  process.exit(2);
}
if (!existsSync('dist/web/index.html')) {
  console.error('dist/web/index.html is missing: run `npm run build` first (npm run web does)');
  process.exit(1);
}
const server = await startServer({ port, mounts: { '/': 'dist/web', '/runs': 'runs', '/data': 'data' } });
console.log(`serving the page at ${server.url} (runs/ and data/ read-only under /runs/ and /data/)`);
console.log(`  e.g. ${server.url}?checkpoint=/runs/default/model.safetensors&frames=/data/synth/data/video_000/origin/&masks=/data/synth/data/video_000/mask/`);
console.log('  needs a browser with WebGPU: Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu (Linux: a Vulkan driver). Ctrl-C stops.');
