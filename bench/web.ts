// The default student's inference speed in the browser page: headless Debian Chromium
// (--enable-unsafe-webgpu: SwiftShader, Chrome's CPU WebGPU) opens a freshly initialised student's
// checkpoint and one frame from a local server, as a user would with ?checkpoint=…&frames=…, and the
// page's own segmentation (window.vss.labels(), the code its playback runs) is timed.
// Needs dist/web (npm run build) and /usr/bin/chromium (scripts/setup.sh).
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { saveCheckpoint } from '../engine/checkpoint-node.ts';
import { encodeJpeg } from '../dataset/jpeg-encode.ts';
import { studentMetadata } from '../models/checkpoint.ts';
import { Student, defaultStudentConfig } from '../models/student.ts';
import { startServer } from '../web/server.ts';
import { benchFrame } from './engine.ts';
import { median } from './stats.ts';

const CHROMIUM = '/usr/bin/chromium';

/** Frames per second of the page on a width × height frame (median of `frames` after one warm-up), and the page's adapter. */
export async function browserStudentFps(width = 854, height = 480, frames = 3): Promise<{ fps: number; adapter: string }> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`bash scripts/setup.sh\` (it installs Debian's Chromium)`);
  if (!existsSync('dist/web/app.js')) throw new Error('dist/web/app.js is missing: run `npm run build` first');
  const dir = mkdtempSync(path.join(tmpdir(), 'vss-bench-web-'));
  const config = defaultStudentConfig(10);
  const model = new Student(config, 0);
  const classes = Array.from({ length: 10 }, (_, i) => `class ${i}`);
  await saveCheckpoint(path.join(dir, 'model.safetensors'), model.ps.tensors, studentMetadata(config, classes, { labels: 'identity', numClasses: 10 }));
  model.ps.dispose();
  mkdirSync(path.join(dir, 'frames'));
  writeFileSync(path.join(dir, 'frames', '000.jpg'), encodeJpeg(benchFrame(width, height)));
  const server = await startServer({ port: 0, mounts: { '/': 'dist/web', '/bench': dir } });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--enable-unsafe-webgpu'] });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}?checkpoint=/bench/model.safetensors&frames=/bench/frames/`);
    await page.evaluate(() => window.vss.ready);
    const adapter = (await page.textContent('#device')) ?? '';
    const times: number[] = [];
    for (let i = 0; i <= frames; i++) {
      const ms = await page.evaluate(async () => {
        const t0 = performance.now();
        await window.vss.labels();
        return performance.now() - t0;
      });
      if (i > 0) times.push(ms); // the first compiles the pipelines
    }
    return { fps: 1000 / median(times), adapter: adapter.trim() };
  } finally {
    await browser.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
