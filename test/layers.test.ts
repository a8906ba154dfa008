// The folders form a one-way chain: engine (with shaders) → dataset → models → eval → train → web → bench.
// A file imports from its own folder or from folders before it; nothing imports test code; outside
// engine/, the engine is used through its public surface (engine/index.ts, plus the Node-only entry
// points node.ts and checkpoint-node.ts). This reads every import and names each back-edge.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';

const CHAIN = ['engine', 'dataset', 'models', 'eval', 'train', 'web', 'bench'];
const RANK = new Map<string, number>([...CHAIN.map((d, i) => [d, i] as const), ['shaders', 0]]);
const ENGINE_SURFACE = new Set(['engine/index.ts', 'engine/node.ts', 'engine/checkpoint-node.ts']);
const root = path.resolve(import.meta.dirname, '..');

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) yield* sources(rel);
    else if (/\.ts$/.test(e.name)) yield rel;
  }
}

/** The repository-relative targets of a file's relative imports and re-exports (static and dynamic). */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => m[1]!);
  return specs.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s.replace(/\?raw$/, ''))));
}

/** What is wrong with `file` importing `target` (both repository-relative), or undefined. */
function problem(file: string, target: string): string | undefined {
  const [from, to] = [file.split('/')[0]!, target.split('/')[0]!];
  if (to === 'test') return `${file} imports test code (${target})`;
  if (!RANK.has(to)) return `${file} imports ${target}, outside the chain`;
  if (RANK.get(to)! > RANK.get(from)!) return `${file} (${from}) imports ${target} (${to}, later in the chain)`;
  if (to === 'engine' && from !== 'engine' && !ENGINE_SURFACE.has(target)) return `${file} reaches into the engine: ${target} (use engine/index.ts)`;
  return undefined;
}

test('imports follow engine → dataset → models → eval → train → web → bench, and use the engine through its surface', () => {
  const problems: string[] = [];
  let checked = 0;
  for (const dir of CHAIN) {
    for (const file of sources(dir)) {
      for (const target of importsOf(file)) {
        checked++;
        const p = problem(file, target);
        if (p) problems.push(p);
      }
    }
  }
  expect(checked).toBeGreaterThan(300); // the scan did find the imports
  expect(problems).toEqual([]);
});

test('the rules name the back-edges this layout once had', () => {
  expect(importsOf('eval/predict.ts')).toContain('models/input.ts'); // relative paths resolve
  expect(importsOf('eval/flow.ts')).toContain('shaders/farneback_blur.wgsl'); // ?raw shader imports too
  expect(problem('eval/predict.ts', 'train/images.ts')).toMatch(/later in the chain/);
  expect(problem('bench/flow.ts', 'test/reference/flow.ts')).toMatch(/imports test code/);
  expect(problem('train/u2pl.ts', 'engine/ops/gather.ts')).toMatch(/reaches into the engine/);
  expect(problem('engine/profiler.ts', 'engine/scheduler.ts')).toBeUndefined();
  expect(problem('bench/web.ts', 'web/server.ts')).toBeUndefined();
});

test('every section of docs/METHODS.md that the code cites exists', () => {
  const headings = new Set([...readFileSync(path.join(root, 'docs/METHODS.md'), 'utf8').matchAll(/^## (\d+)\. /gm)].map((m) => Number(m[1])));
  const cited: string[] = [];
  for (const dir of CHAIN) {
    for (const file of sources(dir)) {
      for (const m of readFileSync(path.join(root, file), 'utf8').matchAll(/docs\/METHODS\.md §(\d+)(?:-(\d+))?/g)) {
        for (let n = Number(m[1]); n <= Number(m[2] ?? m[1]); n++) cited.push(`${file} §${n}`);
      }
    }
  }
  expect(cited.length).toBeGreaterThan(10);
  expect(cited.filter((c) => !headings.has(Number(c.split('§')[1])))).toEqual([]);
});
