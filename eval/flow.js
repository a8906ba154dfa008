#!/usr/bin/env node
// Launcher for the optical flow CLI (eval/flow-cli.ts): the TypeScript sources are bundled into dist/
// by `npm run build` (scripts/setup.sh runs it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/flow.js', import.meta.url));
if (!existsSync(bundle)) {
  console.error('flow: dist/flow.js is missing: run `bash scripts/setup.sh` (or `npm run build`) first.');
  process.exit(1);
}
await import(bundle);
