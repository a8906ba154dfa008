// `npm run web`: serves the built page (dist/web/) at http://localhost:PORT/ with the repository's runs/
// and data/ folders read-only under /runs/ and /data/ (web/server.ts). Node only.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startServer } from './server.ts';

const USAGE = `usage: npm run web [-- --port N] [--host ADDR] [--runs DIR] [--data DIR]

  --port N      port to listen on (default 8080; 0 picks a free one)
  --host ADDR   address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for the network).
                Requests must name this machine (localhost, its address or ADDR) as their Host
  --runs DIR    folder served under /runs/ (default runs)
  --data DIR    folder served under /data/ (default data); serve a data set kept elsewhere this way:
                symbolic links that lead out of a served folder are refused`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      runs: { type: 'string', default: 'runs' },
      data: { type: 'string', default: 'data' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) throw new Error(`--port ${values.port}: not a port number (0..65535)`);
  if (!existsSync('dist/web/index.html')) throw new Error('dist/web/index.html is missing: run `npm run build` first (npm run web does)');
  const server = await startServer({ port, host: values.host, mounts: { '/': 'dist/web', '/runs': values.runs, '/data': values.data } }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EADDRINUSE') throw new Error(`port ${port} on ${values.host} is in use: choose another with --port N (0 picks a free one)`);
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') throw new Error(`--host ${values.host}: not an address of this machine`);
    if (e.code === 'EACCES') throw new Error(`port ${port}: not allowed for this user (ports below 1024 need privileges)`);
    throw e;
  });
  console.log(`serving the page at ${server.url} (${values.runs}/ and ${values.data}/ read-only under /runs/ and /data/)`);
  console.log(`  e.g. ${server.url}?checkpoint=/runs/default/model.safetensors&frames=/data/synth/data/video_000/origin/&masks=/data/synth/data/video_000/mask/`);
  console.log('  needs a browser with WebGPU: Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu (Linux: a Vulkan driver). Ctrl-C stops.');
}

main().catch((e: Error) => {
  // parseArgs's own errors (an unknown flag, a missing value) are user errors too: no stack trace.
  const usage = (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') ? `\n${USAGE}` : '';
  console.error(`web: ${e.message}${usage}`);
  process.exit(2);
});
