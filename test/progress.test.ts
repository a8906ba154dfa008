// The progress line in logs (not a terminal): one line each time a multiple of `every` is passed, even
// when the work advances by several units at once (pseudo-labelling counts frames in chunks), and the last.
import { expect, test } from 'vitest';
import { Progress, formatTime } from '../eval/progress.ts';

function logged(): { out: NodeJS.WriteStream; lines: string[] } {
  const lines: string[] = [];
  const out = { isTTY: false, write: (s: string) => (lines.push(...s.split('\n').filter(Boolean)), true) } as unknown as NodeJS.WriteStream;
  return { out, lines };
}

test('a line per multiple of `every` passed, and the last, named by the unit', () => {
  const { out, lines } = logged();
  const p = new Progress(30, 0, 10, out, { one: 'frame', many: 'frames' });
  for (const done of [4, 8, 12, 16, 20, 24, 28, 30]) p.update(done, {});
  expect(lines.map((l) => l.replace(/ {2}[\d.]+ frames\/s.*$/, ''))).toEqual(['frame 12/30', 'frame 20/30', 'frame 30/30']);
  expect(lines[0]).toMatch(/^frame 12\/30  [\d.]+ frames\/s  ETA \d+m\d\ds$/);
});

test('training steps from a resumed step print at the same multiples as an uninterrupted run', () => {
  const { out, lines } = logged();
  const p = new Progress(100, 40, 25, out);
  for (let s = 41; s <= 100; s++) p.update(s, { loss: '1.0' });
  expect(lines.map((l) => l.replace(/ {2}[\d.]+ steps\/s.*$/, ''))).toEqual(['step  50/100  loss 1.0', 'step  75/100  loss 1.0', 'step 100/100  loss 1.0']);
  expect(formatTime(3725)).toBe('1h02m');
});

test('after restart(at), the rate counts only the work since then', async () => {
  const { out, lines } = logged();
  const p = new Progress(20, 0, 5, out);
  p.update(5, {}); // 5 steps at once
  await new Promise((r) => setTimeout(r, 300)); // a pause for other work
  p.restart(5);
  p.update(10, {});
  const rate = (line: string) => Number(/ ([\d.]+) steps\/s/.exec(line)![1]);
  // Without the restart the 300 ms pause would be counted: 10 steps in > 0.3 s, under 34 steps/s.
  expect(rate(lines[1]!)).toBeGreaterThan(100);
});

