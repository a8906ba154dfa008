// Multimodal class correction (MVC post-processing, docs/METHODS.md §7): a vision-language model settles
// which of a group of confusable stuff classes (say grass / field / ground) a video's region really is,
// and every pixel the segmenter gave to any class of the group is relabelled to the VLM's answer, in
// every frame of the video, so the video stays consistent.
//
// What is sent: one request per group present in a video (its classes cover ≥ minPixels pixels over
// all frames) to an OpenAI-compatible endpoint, POST {url}/chat/completions (url may be the base, e.g.
// http://host:8000/v1, or already end with /chat/completions), body
//   {model, messages: [{role: 'user', content: [{type: 'text', text: QUESTION},
//                                               {type: 'image_url', image_url: {url: 'data:image/png;base64,…'}}]}],
//    temperature: 0}
// with QUESTION the seed's words, `Is the ${label} in the image a ${classes}? Please give me the only answer.`,
// the class names (as the data set spells them) joined "a, b or c" (two: "a or b"; no Oxford comma).
// The answer (choices[0].message.content) must name exactly one class of the group (case-insensitive,
// whole words; `_`, `-` and runs of spaces all count as one space; a match inside a longer match, like
// "field" in "playing field", does not count).
//
// On failure — timeout (timeoutMs, covering the whole exchange), unreachable endpoint, HTTP error status,
// malformed JSON, or an answer naming no class or several — the masks are left as they were and the
// report says why. Endpoint problems never throw; inconsistent inputs (frames vs. predictions) do.
//
// Deviations from the seed, which does not say what image is shown: the image is a crop of one frame,
// the one where the group covers the most pixels (ties: the earliest), around the bounding box of the
// group's pixels there, padded by 10% of its side (at least 4 px) and grown to at least 32 px a side
// (within the frame). One question per group per video, not per segment or frame.
//
// Predictions are relabelled in place (the caller's Int32Arrays change).
import { encode as pngEncode } from 'fast-png';
import type { Frame } from '../dataset/image.ts';

export interface VlmGroup {
  /** The {stuff} word of the question ("region" when the spec gives none). */
  label: string;
  /** Class ids, at least two. */
  classes: number[];
}

export interface VlmOptions {
  /** Endpoint: the API base (…/v1) or the full …/chat/completions address. */
  url: string;
  model: string;
  /** Milliseconds for the whole request, response body included (default 30000). */
  timeoutMs?: number;
  classNames: string[];
  /** A group is asked about only if its classes cover at least this many pixels of the video (default 64). */
  minPixels?: number;
  /** For tests; the global fetch by default. */
  fetch?: typeof fetch;
}

export interface VlmCrop {
  frame: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface VlmReport {
  video: string;
  /** The group's label. */
  group: string;
  /** The group's class names. */
  classes: string[];
  /** Pixels of the video predicted as any class of the group (all frames). */
  pixels: number;
  /** The region sent to the VLM (absent when skipped). */
  crop?: VlmCrop;
  /** The VLM's raw answer, when one came. */
  answer?: string;
  /** The class the answer named, when it named exactly one. */
  chosen?: string;
  changedPixels: number;
  status: 'relabelled' | 'unchanged' | 'skipped';
  reason: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MIN_PIXELS = 64;
const CROP_PAD = 0.1;
const CROP_PAD_MIN = 4;
const CROP_MIN = 32;

/**
 * Groups from `--vlm-classes`: `[label:]class,class[,…]` separated by `;`, e.g.
 * `ground:grass,field,ground;water,sea`. Names match the data set's exactly, else case-insensitively.
 */
export function parseVlmGroups(spec: string, classNames: string[]): VlmGroup[] {
  const fail = (what: string): never => {
    throw new Error(`--vlm-classes ${JSON.stringify(spec)}: ${what}`);
  };
  const known = classNames.length <= 30 ? `known classes: ${classNames.join(', ')}` : `${classNames.length} classes, named as in classes.json`;
  if (spec.trim() === '') fail('expected at least one group `[label:]class,class[,…]` (groups separated by ";")');
  const owner = new Map<number, string>();
  return spec.split(';').map((text, g) => {
    const where = `group ${g + 1} (${JSON.stringify(text.trim())})`;
    const colon = text.indexOf(':');
    const label = colon < 0 ? 'region' : text.slice(0, colon).trim();
    if (label === '') fail(`${where}: empty label before ":"; expected \`label:class,class[,…]\` or \`class,class[,…]\``);
    const names = text.slice(colon + 1).split(',').map((s) => s.trim());
    if (names.length < 2 || names.some((n) => n === '')) fail(`${where}: expected at least two comma-separated class names (${known})`);
    const classes = names.map((n) => {
      const id = classId(n, classNames);
      if (id === undefined) return fail(`${where}: unknown class "${n}" (${known})`);
      if (id < 0) return fail(`${where}: "${n}" matches several classes when case is ignored; spell it exactly`);
      const other = owner.get(id);
      if (other !== undefined) fail(`${where}: class "${classNames[id]}" is already in ${other}; a class may be in one group only`);
      owner.set(id, where);
      return id;
    });
    return { label, classes };
  });
}

/** The class named `name`: exact match first, then case-insensitive; -1 if that is ambiguous. */
function classId(name: string, classNames: string[]): number | undefined {
  const exact = classNames.indexOf(name);
  if (exact >= 0) return exact;
  const ids = classNames.flatMap((c, i) => (c.toLowerCase() === name.toLowerCase() ? [i] : []));
  return ids.length === 0 ? undefined : ids.length === 1 ? ids[0] : -1;
}

/** The seed's question, classes joined "a, b or c". */
export function vlmQuestion(label: string, classes: string[]): string {
  const list = classes.length === 1 ? classes[0]! : `${classes.slice(0, -1).join(', ')} or ${classes[classes.length - 1]}`;
  return `Is the ${label} in the image a ${list}? Please give me the only answer.`;
}

/** The one class of `classes` the answer names (index), or a sentence saying why there is none. */
export function parseAnswer(answer: string, classes: string[]): number | string {
  const text = normalise(answer);
  const matches: { cls: number; start: number; end: number }[] = [];
  classes.forEach((c, cls) => {
    const re = new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(normalise(c))}(?![\\p{L}\\p{N}])`, 'gu');
    for (const m of text.matchAll(re)) matches.push({ cls, start: m.index, end: m.index + m[0].length });
  });
  const inside = (a: (typeof matches)[number]) =>
    matches.some((b) => b !== a && b.start <= a.start && a.end <= b.end && b.end - b.start > a.end - a.start);
  const named = [...new Set(matches.filter((m) => !inside(m)).map((m) => m.cls))];
  if (named.length === 1) return named[0]!;
  return named.length === 0 ? 'the answer names none of the classes' : `the answer names several classes (${named.map((i) => classes[i]).join(', ')})`;
}

const normalise = (s: string) => s.toLowerCase().replace(/[\s_-]+/g, ' ').trim();
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Asks about every group present in the video and relabels its predictions in place. */
export async function correctVideo(
  video: { name: string; frames: Frame[]; preds: Int32Array[] },
  groups: VlmGroup[],
  opts: VlmOptions,
): Promise<VlmReport[]> {
  const { name, frames, preds } = video;
  if (frames.length !== preds.length) throw new Error(`vlm: video ${name} has ${frames.length} frames but ${preds.length} predictions`);
  frames.forEach((f, t) => {
    if (f.rgb.length !== f.width * f.height * 3 || preds[t]!.length !== f.width * f.height)
      throw new Error(`vlm: video ${name} frame ${t}: a ${f.width}×${f.height} frame with ${f.rgb.length} RGB bytes and ${preds[t]!.length} predictions`);
  });
  const reports: VlmReport[] = [];
  for (const group of groups) {
    const classes = group.classes.map((id) => {
      const c = opts.classNames[id];
      if (c === undefined) throw new Error(`vlm: class id ${id} of group "${group.label}" is beyond the ${opts.classNames.length} class names`);
      return c;
    });
    const member = new Uint8Array(opts.classNames.length);
    for (const id of group.classes) member[id] = 1;
    const inGroup = (v: number) => member[v] === 1;
    const counts = preds.map((p) => p.reduce((n, v) => n + (inGroup(v) ? 1 : 0), 0));
    const pixels = counts.reduce((a, b) => a + b, 0);
    const base = { video: name, group: group.label, classes, pixels, changedPixels: 0 };
    const minPixels = opts.minPixels ?? DEFAULT_MIN_PIXELS;
    if (pixels === 0 || pixels < minPixels) {
      reports.push({ ...base, status: 'skipped', reason: pixels === 0 ? 'not predicted in this video' : `only ${pixels} px (< ${minPixels})` });
      continue;
    }
    const t = counts.indexOf(Math.max(...counts));
    const crop = cropBox(frames[t]!, preds[t]!, inGroup, t);
    const reply = await ask(vlmQuestion(group.label, classes), cropPng(frames[t]!, crop), opts);
    if ('error' in reply) {
      reports.push({ ...base, crop, status: 'unchanged', reason: reply.error });
      continue;
    }
    const parsed = parseAnswer(reply.answer, classes);
    if (typeof parsed === 'string') {
      reports.push({ ...base, crop, answer: reply.answer, status: 'unchanged', reason: parsed });
      continue;
    }
    const target = group.classes[parsed]!;
    let changed = 0;
    for (const p of preds) {
      for (let i = 0; i < p.length; i++) {
        if (inGroup(p[i]!) && p[i] !== target) {
          p[i] = target;
          changed++;
        }
      }
    }
    const chosen = classes[parsed]!;
    reports.push({ ...base, crop, answer: reply.answer, chosen, changedPixels: changed, status: 'relabelled', reason: `answered ${chosen}` });
  }
  return reports;
}

/** The group's bounding box in frame t, padded and grown to the minimum size, within the frame. */
function cropBox(frame: Frame, pred: Int32Array, inGroup: (v: number) => boolean, t: number): VlmCrop {
  const W = frame.width;
  let x0 = W, y0 = frame.height, x1 = -1, y1 = -1;
  for (let i = 0; i < pred.length; i++) {
    if (!inGroup(pred[i]!)) continue;
    const x = i % W, y = (i - x) / W;
    x0 = Math.min(x0, x), x1 = Math.max(x1, x), y0 = Math.min(y0, y), y1 = Math.max(y1, y);
  }
  const [x, width] = span(x0, x1, W);
  const [y, height] = span(y0, y1, frame.height);
  return { frame: t, x, y, width, height };
}

/** [start, length] of the padded interval around pixels lo..hi on an axis of `size` pixels. */
function span(lo: number, hi: number, size: number): [number, number] {
  const extent = hi - lo + 1;
  const pad = Math.max(CROP_PAD_MIN, Math.round(CROP_PAD * extent));
  const len = Math.min(size, Math.max(CROP_MIN, extent + 2 * pad));
  const start = Math.min(size - len, Math.max(0, Math.round((lo + hi + 1) / 2 - len / 2)));
  return [start, len];
}

function cropPng(frame: Frame, c: VlmCrop): string {
  const data = new Uint8Array(c.width * c.height * 3);
  for (let r = 0; r < c.height; r++) {
    const from = ((c.y + r) * frame.width + c.x) * 3;
    data.set(frame.rgb.subarray(from, from + c.width * 3), r * c.width * 3);
  }
  return `data:image/png;base64,${base64(pngEncode({ width: c.width, height: c.height, data, channels: 3, depth: 8 }))}`;
}

function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function endpoint(url: string): string {
  const u = url.replace(/\/+$/, '');
  return u.endsWith('/chat/completions') ? u : `${u}/chat/completions`;
}

/** One chat completion; every failure comes back as { error } rather than a throw. */
async function ask(question: string, image: string, opts: VlmOptions): Promise<{ answer: string } | { error: string }> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const body = {
    model: opts.model,
    messages: [{ role: 'user', content: [{ type: 'text', text: question }, { type: 'image_url', image_url: { url: image } }] }],
    temperature: 0,
  };
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const res = await post(endpoint(opts.url), JSON.stringify(body), abort.signal, opts.fetch ?? fetch);
    if ('error' in res) return res;
    const text = await readCapped(res, MAX_RESPONSE_BYTES);
    if (text === undefined) return { error: `the response is over ${MAX_RESPONSE_BYTES / 2 ** 20} MiB; not read` };
    if (!res.ok) return { error: `HTTP ${res.status} ${oneLine(res.statusText, 80)}: ${oneLine(text, 200)}` };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { error: `malformed JSON response: ${oneLine(text, 200)}` };
    }
    const content = (json as { choices?: { message?: { content?: unknown } }[] } | null)?.choices?.[0]?.message?.content;
    if (typeof content !== 'string') return { error: `malformed response, no choices[0].message.content: ${oneLine(text, 200)}` };
    return { answer: printable(content).trim() };
  } catch (e) {
    if (abort.signal.aborted) return { error: `timed out after ${timeoutMs} ms` };
    const cause = e instanceof Error && e.cause instanceof Error ? ` (${e.cause.message})` : '';
    return { error: `request failed: ${printable(e instanceof Error ? e.message : String(e))}${printable(cause)}` };
  } finally {
    clearTimeout(timer);
  }
}

/** An answer is a short JSON object; a larger body is refused rather than buffered (a 700 MiB one took 1.7 GB). */
const MAX_RESPONSE_BYTES = 1 << 20;
const MAX_REDIRECTS = 5;

/**
 * POST `body` to `url`, following redirects only within the same origin (scheme, host and port) and
 * only those that keep the method and body (307, 308): another host would receive the image and be
 * trusted with the answer, while the log shows the first address.
 */
async function post(url: string, body: string, signal: AbortSignal, fetchFn: typeof fetch): Promise<Response | { error: string }> {
  let at = new URL(url);
  for (let hop = 0; ; hop++) {
    const res = await fetchFn(at.href, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal, redirect: 'manual' });
    if (res.status < 300 || res.status > 399) return res;
    await res.body?.cancel();
    const location = res.headers.get('location');
    if (!location) return { error: `HTTP ${res.status} redirect without a Location` };
    const next = new URL(location, at);
    if (next.origin !== at.origin) return { error: `redirected to another origin (${oneLine(next.origin, 100)}); not followed` };
    if (res.status !== 307 && res.status !== 308) return { error: `HTTP ${res.status} redirect to ${oneLine(next.pathname, 100)} would drop the request's body; not followed` };
    if (hop >= MAX_REDIRECTS) return { error: `more than ${MAX_REDIRECTS} redirects` };
    at = next;
  }
}

/** The body as text, or undefined once it passes `max` bytes (the rest is not read). */
async function readCapped(res: Response, max: number): Promise<string | undefined> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > max) {
      await reader.cancel();
      return undefined;
    }
    parts.push(value);
  }
  const all = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  return new TextDecoder().decode(all);
}

/** Control characters (C0, DEL, C1: terminal escape sequences among them) as spaces: answers are printed. */
const printable = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');

const oneLine = (s: string, max: number) => {
  const t = printable(s).replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
};

/** One line for the CLI log. */
export function formatVlmReport(r: VlmReport): string {
  const head = `vlm ${r.video} ${r.group} {${r.classes.join(', ')}} ${r.pixels} px: ${r.status}`;
  const answer = r.answer === undefined ? '' : ` (answer "${oneLine(r.answer, 80)}")`;
  const changed = r.status === 'relabelled' ? `, ${r.changedPixels} px changed` : '';
  return `${head} — ${r.reason}${changed}${answer}`;
}
