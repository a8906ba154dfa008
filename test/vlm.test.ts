// Multimodal class correction (eval/vlm.ts) against a local OpenAI-compatible stub server: the request
// (model, exact question, the PNG crop), relabelling on a valid answer, every failure leaving the masks
// alone (nonsense, two classes, HTTP 500, timeout, unreachable), skipped groups, the --vlm-classes
// parser, answer matching, and a property over random prediction maps (with an in-process fetch).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { decode as pngDecode } from 'fast-png';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Frame } from '../dataset/image.ts';
import { correctVideo, formatVlmReport, parseAnswer, parseVlmGroups, vlmQuestion, type VlmGroup } from '../eval/vlm.ts';

const NAMES = ['sky', 'building', 'road', 'grass', 'water', 'Playing Field'];
const SKY = 0, ROAD = 2, GRASS = 3, WATER = 4;
const GROUP: VlmGroup = { label: 'ground', classes: [GRASS, ROAD, WATER] };
const QUESTION = 'Is the ground in the image a grass, road or water? Please give me the only answer.';
const W = 64, H = 48;

type Handler = (body: string, res: ServerResponse) => void;
let handler: Handler;
const bodies: string[] = [];
let server: Server;
let url: string;

const reply = (content: string): Handler => (_body, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content } }] }));
};

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      handler(body, res);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((ok) => server.close(ok));
});

/** 3 frames of random colours; sky above row 20, then road/grass/water patches of growing size. */
function makeVideo() {
  let s = 7;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 255;
  const frames: Frame[] = [0, 1, 2].map(() => ({ width: W, height: H, rgb: Uint8Array.from({ length: W * H * 3 }, rand) }));
  const preds = [0, 1, 2].map((t) => {
    const p = new Int32Array(W * H).fill(SKY);
    for (let y = 20; y < 20 + 4 * t + 4; y++) for (let x = 10; x < 30 + 5 * t; x++) p[y * W + x] = x < 20 ? ROAD : y % 2 ? GRASS : WATER;
    p[0] = 255; // an ignored pixel stays as it is
    return p;
  });
  return { name: 'vid', frames, preds };
}

const groupPixels = (preds: Int32Array[]) => preds.reduce((n, p) => n + p.filter((v) => GROUP.classes.includes(v)).length, 0);

async function run(h: Handler, extra: { timeoutMs?: number; url?: string } = {}) {
  handler = h;
  bodies.length = 0;
  const video = makeVideo();
  const before = video.preds.map((p) => p.slice());
  const [r] = await correctVideo(video, [GROUP], { url, model: 'test-vlm', classNames: NAMES, ...extra });
  return { r: r!, video, before };
}

test('a valid answer relabels the whole group in every frame; the request carries the crop', async () => {
  const { r, video, before } = await run(reply(' Grass.\n'));
  expect(r).toMatchObject({ status: 'relabelled', chosen: 'grass', answer: 'Grass.', group: 'ground', classes: ['grass', 'road', 'water'] });
  expect(r.pixels).toBe(groupPixels(before));
  let changed = 0;
  video.preds.forEach((p, t) =>
    p.forEach((v, i) => {
      const was = before[t]![i]!;
      expect(v).toBe(GROUP.classes.includes(was) ? GRASS : was);
      if (v !== was) changed++;
    }),
  );
  expect(r.changedPixels).toBe(changed);
  expect(formatVlmReport(r)).toContain('relabelled');

  expect(bodies).toHaveLength(1);
  const body = JSON.parse(bodies[0]!);
  expect(body.model).toBe('test-vlm');
  expect(body.temperature).toBe(0);
  const [text, image] = body.messages[0].content;
  expect(text).toEqual({ type: 'text', text: QUESTION });
  expect(image.type).toBe('image_url');
  const prefix = 'data:image/png;base64,';
  expect(image.image_url.url.startsWith(prefix)).toBe(true);
  const png = pngDecode(Uint8Array.from(atob(image.image_url.url.slice(prefix.length)), (c) => c.charCodeAt(0)));

  // Frame 2 has the largest patch: x 10..39, y 20..31; the crop holds it with a margin and ≥ 32 px a side.
  const c = r.crop!;
  expect(c.frame).toBe(2);
  expect(c.x).toBeLessThan(10);
  expect(c.y).toBeLessThan(20);
  expect(c.x + c.width).toBeGreaterThan(40);
  expect(c.y + c.height).toBeGreaterThan(32);
  expect(Math.min(c.width, c.height)).toBeGreaterThanOrEqual(32);
  expect(c.x + c.width <= W && c.y + c.height <= H).toBe(true);
  expect([png.width, png.height, png.channels]).toEqual([c.width, c.height, 3]);
  const frame = video.frames[2]!;
  const expected = new Uint8Array(c.width * c.height * 3);
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width * 3; x++) expected[y * c.width * 3 + x] = frame.rgb[((c.y + y) * W + c.x) * 3 + x]!;
  expect(Buffer.from(png.data).equals(Buffer.from(expected))).toBe(true);
});

test('the url may already end with /chat/completions', async () => {
  const { r } = await run(reply('water'), { url: `${url}/chat/completions/` });
  expect(r).toMatchObject({ status: 'relabelled', chosen: 'water' });
});

describe('failures leave the masks unchanged', () => {
  const unchanged = (o: Awaited<ReturnType<typeof run>>) => {
    expect(o.r.status).toBe('unchanged');
    expect(o.r.changedPixels).toBe(0);
    expect(o.video.preds).toEqual(o.before);
    expect(formatVlmReport(o.r)).toContain(o.r.reason);
    return o.r.reason;
  };

  test('nonsense answer', async () => {
    expect(unchanged(await run(reply('I cannot tell')))).toMatch(/none of the classes/);
  });
  test('two classes named', async () => {
    expect(unchanged(await run(reply('Either grass or water.')))).toMatch(/several classes \(grass, water\)/);
  });
  test('HTTP 500', async () => {
    const reason = unchanged(await run((_b, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('model crashed')));
    expect(reason).toMatch(/HTTP 500.*model crashed/);
  });
  test('malformed JSON', async () => {
    expect(unchanged(await run((_b, res) => res.writeHead(200).end('{"choices": [')))).toMatch(/malformed JSON/);
  });
  test('timeout: returns promptly', async () => {
    const t0 = performance.now();
    const reason = unchanged(await run(() => {}, { timeoutMs: 200 }));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(reason).toMatch(/timed out after 200 ms/);
  });
  test('unreachable endpoint', async () => {
    const closed = createServer();
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((ok) => closed.close(ok));
    expect(unchanged(await run(reply('grass'), { url: `http://127.0.0.1:${port}/v1` }))).toMatch(/request failed/);
  });
});

describe('a hostile or broken endpoint', () => {
  test('a redirect to another origin is not followed: the image never reaches it; one within the origin is', async () => {
    const other: string[] = [];
    const elsewhere = createServer((req, res) => {
      req.on('data', (c: Buffer) => other.push(c.toString()));
      req.on('end', () => reply('water')('', res));
    });
    await new Promise<void>((ok) => elsewhere.listen(0, '127.0.0.1', ok));
    try {
      const target = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/v1/chat/completions`;
      const away = await run((_b, res) => res.writeHead(307, { location: target }).end());
      expect(away.r.status).toBe('unchanged');
      expect(away.r.reason).toMatch(/redirected to another origin \(http:\/\/127\.0\.0\.1:\d+\); not followed/);
      expect(other).toEqual([]);
      expect(away.video.preds).toEqual(away.before);
      // Within the same origin a 307 keeps the method and body, and is followed.
      let hops = 0;
      const near = await run((_b, res) => (hops++ === 0 ? res.writeHead(307, { location: '/v2/chat/completions' }).end() : reply('grass')('', res)));
      expect(near.r).toMatchObject({ status: 'relabelled', chosen: 'grass' });
      expect(bodies).toHaveLength(2);
      expect(bodies[1]).toBe(bodies[0]); // the same request, image included
    } finally {
      await new Promise((ok) => elsewhere.close(ok));
    }
  });

  test('a response body over 1 MiB is not buffered', async () => {
    const { r } = await run((_b, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1 << 16, 32);
      let sent = 0;
      const more = () => {
        while (sent < 64 && res.write(chunk)) sent++; // 4 MiB in all, unless the client stops reading
        if (sent < 64) res.once('drain', more);
        else res.end();
      };
      res.on('close', () => (sent = 64));
      more();
    });
    expect(r.status).toBe('unchanged');
    expect(r.reason).toBe('the response is over 1 MiB; not read');
  });

  test('control characters in an answer never reach the terminal', async () => {
    const { r } = await run(reply('\u001b]0;owned\u0007\u001b[2J\nGrass\u009b31m'));
    expect(r).toMatchObject({ status: 'relabelled', chosen: 'grass' });
    const line = formatVlmReport(r);
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(r.answer).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    const failed = await run((_b, res) => res.writeHead(500).end('\u001b[31mboom'));
    expect(formatVlmReport(failed.r)).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});

test('a group absent from the video (or too small) is skipped without a request', async () => {
  handler = reply('grass');
  bodies.length = 0;
  const video = makeVideo();
  const absent: VlmGroup = { label: 'field', classes: [1, 5] };
  const reports = await correctVideo(video, [absent], { url, model: 'm', classNames: NAMES });
  expect(reports).toEqual([expect.objectContaining({ status: 'skipped', pixels: 0, changedPixels: 0, classes: ['building', 'Playing Field'] })]);
  const small = await correctVideo(video, [GROUP], { url, model: 'm', classNames: NAMES, minPixels: 1e6 });
  expect(small[0]).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/< 1000000/) });
  expect(bodies).toHaveLength(0);
});

test('inconsistent inputs throw, naming the video', async () => {
  const video = makeVideo();
  const opts = { url, model: 'm', classNames: NAMES };
  await expect(correctVideo({ ...video, preds: video.preds.slice(1) }, [GROUP], opts)).rejects.toThrow(/video vid has 3 frames but 2/);
  await expect(correctVideo({ ...video, preds: [new Int32Array(5), ...video.preds.slice(1)] }, [GROUP], opts)).rejects.toThrow(/video vid frame 0/);
});

describe('parseVlmGroups', () => {
  test('good specs', () => {
    expect(parseVlmGroups('grass,road', NAMES)).toEqual([{ label: 'region', classes: [GRASS, ROAD] }]);
    expect(parseVlmGroups(' ground : Grass , ROAD,water ; sky,building', NAMES)).toEqual([
      { label: 'ground', classes: [GRASS, ROAD, WATER] },
      { label: 'region', classes: [SKY, 1] },
    ]);
    expect(parseVlmGroups('playing field,grass', NAMES)).toEqual([{ label: 'region', classes: [5, GRASS] }]);
    expect(parseVlmGroups('a,A', ['a', 'A'])).toEqual([{ label: 'region', classes: [0, 1] }]);
  });
  test('errors', () => {
    expect(() => parseVlmGroups('grass,mud', NAMES)).toThrow(/--vlm-classes.*group 1.*unknown class "mud".*known classes: sky, building/);
    expect(() => parseVlmGroups('grass', NAMES)).toThrow(/--vlm-classes.*at least two/);
    expect(() => parseVlmGroups('grass,road;water,Grass', NAMES)).toThrow(/group 2.*"grass" is already in group 1/);
    expect(() => parseVlmGroups('grass,grass', NAMES)).toThrow(/already in group 1/);
    expect(() => parseVlmGroups('  ', NAMES)).toThrow(/--vlm-classes.*at least one group/);
    expect(() => parseVlmGroups('grass,road;', NAMES)).toThrow(/group 2/);
    expect(() => parseVlmGroups(':grass,road', NAMES)).toThrow(/empty label/);
    expect(() => parseVlmGroups('sky,b', ['Sky', 'SKY', 'b'])).toThrow(/"sky" matches several classes/);
  });
});

test('question and answer matching', () => {
  expect(vlmQuestion('region', ['a', 'b'])).toBe('Is the region in the image a a or b? Please give me the only answer.');
  expect(vlmQuestion('ground', ['grass', 'road', 'water'])).toBe(QUESTION);
  const classes = ['field', 'playing_field', 'grass'];
  expect(parseAnswer('A playing field.', classes)).toBe(1);
  expect(parseAnswer('FIELD', classes)).toBe(0);
  expect(parseAnswer('Grasses', classes)).toMatch(/none/);
  expect(parseAnswer('field or grass', classes)).toMatch(/several/);
  expect(parseAnswer('the playing-field, a field', classes)).toMatch(/several/);
});

test('property: a valid answer leaves only the answer among group classes and nothing else changes', async () => {
  const classNames = ['a', 'b', 'c', 'd', 'e'];
  const group: VlmGroup = { label: 'x', classes: [1, 2, 3] };
  const arb = fc.record({
    w: fc.integer({ min: 1, max: 6 }),
    h: fc.integer({ min: 1, max: 6 }),
    t: fc.integer({ min: 1, max: 3 }),
    answer: fc.constantFrom(1, 2, 3),
    seed: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 108, maxLength: 108 }),
  });
  await fc.assert(
    fc.asyncProperty(arb, async ({ w, h, t, answer, seed }) => {
      const preds = Array.from({ length: t }, (_, f) => Int32Array.from({ length: w * h }, (_, i) => seed[f * 36 + i]!));
      const frames = preds.map(() => ({ width: w, height: h, rgb: new Uint8Array(w * h * 3) }));
      const before = preds.map((p) => p.slice());
      const fetchStub = (async () => Response.json({ choices: [{ message: { content: `${classNames[answer]}!` } }] })) as typeof fetch;
      const [r] = await correctVideo({ name: 'p', frames, preds }, [group], { url: 'http://stub', model: 'm', classNames, minPixels: 1, fetch: fetchStub });
      let expectedChanged = 0;
      preds.forEach((p, f) =>
        p.forEach((v, i) => {
          const was = before[f]![i]!;
          const inGroup = group.classes.includes(was);
          if (inGroup && was !== answer) expectedChanged++;
          expect(v).toBe(inGroup ? answer : was);
        }),
      );
      expect(r!.changedPixels).toBe(expectedChanged);
    }),
    { numRuns: 200 },
  );
});
