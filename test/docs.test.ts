// The documentation stays true: every relative link in the READMEs and docs/ leads to a file that exists,
// and the README's engine example runs and prints what its comments say (checked against float64).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test, vi } from 'vitest';
import { initNode } from '../engine/node.ts';

const root = path.resolve(import.meta.dirname, '..');
const DOCS = ['README.md', ...readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  ...['engine', 'dataset', 'weights', 'test'].map((d) => `${d}/README.md`)];

test('every relative link in the READMEs and docs/ leads to a file of the repository', () => {
  const broken: string[] = [];
  let links = 0;
  for (const doc of DOCS) {
    const text = readFileSync(path.join(root, doc), 'utf8');
    for (const m of text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue; // http:, https:, mailto:
      links++;
      try {
        readFileSync(path.join(root, path.dirname(doc), target));
      } catch {
        broken.push(`${doc} → ${target}`);
      }
    }
  }
  expect(links).toBeGreaterThan(15);
  expect(broken).toEqual([]);
});

const tmp = mkdtempSync(path.join(os.tmpdir(), 'readme-example-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test("the README's engine example runs: loss = mean(gelu(x·w)) and its gradient", async () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code, 'a ```ts block in README.md').toBeDefined();
  const file = path.join(tmp, 'example.ts');
  writeFileSync(file, code!.replaceAll("'./engine/", `'${root}/engine/`));
  await initNode();
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    await import(/* @vite-ignore */ file);
    expect(log).toHaveBeenCalledTimes(1);
    const [loss, grad] = log.mock.calls[0]! as [number, Float32Array];
    // x = [1, 2, 3, 4], w = 0.1 everywhere: every x·w column is 1, loss = gelu(1), and
    // dloss/dw[i][j] = gelu'(1)·x_i / 3 (exact erf GELU, in float64).
    const phi = Math.exp(-0.5) / Math.sqrt(2 * Math.PI);
    const cdf1 = 0.8413447460685429;
    expect(loss).toBeCloseTo(cdf1, 4);
    expect(grad.length).toBe(12);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) expect(grad[i * 3 + j]!).toBeCloseTo(((cdf1 + phi) * (i + 1)) / 3, 4);
  } finally {
    log.mockRestore();
  }
});
