// Where the page's frames come from: image files (picked one by one or as a folder) or URLs, decoded by
// dataset/image.ts, the same pure-JS decoders Node uses, so a frame is bit-identical in both; masks
// mapped to class ids with the data set's label declaration; and frames grabbed from a <video>
// through a canvas.
//
// A picked folder in VSPW's layout (origin/ and mask/) gives frames and their masks; masks can also be
// picked or listed separately, and are matched to frames by file name without extension. A URL ending
// in '/' is a folder on the page's server (web/server.ts answers a JSON list of its entries).
import { decodeFrame, decodeMask, type Frame } from '../dataset/image.ts';
import { mapMask, type LabelMap, type LabelMapping } from '../dataset/labels.ts';

/** Image frames in name order, each with its mapped mask when one was given. */
export interface Clip {
  names: string[];
  frames: Frame[];
  masks: (LabelMap | undefined)[];
}

/** A file or URL to read later. */
export interface Input {
  name: string;
  read(): Promise<Uint8Array>;
}

const IMAGE = /\.(jpe?g|png)$/i;
const stem = (name: string) => name.replace(/^.*\//, '').replace(/\.[^.]*$/, '');
const byName = (a: Input, b: Input) => a.name.localeCompare(b.name, undefined, { numeric: true });

/** Picked files: images under a folder named 'mask' are masks, the other images frames. */
export function fromFiles(files: ArrayLike<File>): { frames: Input[]; masks: Input[] } {
  const frames: Input[] = [];
  const masks: Input[] = [];
  for (const f of Array.from(files)) {
    const name = f.webkitRelativePath || f.name;
    if (!IMAGE.test(name)) continue;
    const input = { name, read: async () => new Uint8Array(await f.arrayBuffer()) };
    (/(^|\/)mask\//.test(name) ? masks : frames).push(input);
  }
  return { frames, masks };
}

/** The bytes at `url`, or an error naming it and the HTTP status. */
export async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${r.statusText}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** Comma-separated URLs; one ending in '/' is a folder on the page's server and stands for its images. */
export async function fromUrls(list: string): Promise<Input[]> {
  const out: Input[] = [];
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const url = new URL(raw, location.href).href;
    if (!url.endsWith('/')) {
      out.push({ name: raw, read: () => fetchBytes(url) });
      continue;
    }
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${raw}: HTTP ${r.status} ${r.statusText}`);
    let entries: unknown;
    try {
      entries = await r.json();
    } catch {
      throw new Error(`${raw}: not a folder listing (the page's own server, npm run web, lists folders as JSON)`);
    }
    if (!Array.isArray(entries)) throw new Error(`${raw}: not a folder listing`);
    for (const e of entries) if (typeof e === 'string' && IMAGE.test(e)) out.push({ name: raw + e, read: () => fetchBytes(url + encodeURIComponent(e)) });
  }
  return out;
}

/**
 * Decode frames (sorted by name) and masks, pairing them by name; every mismatch is an error naming the
 * file. `mapping` (mask values → class ids) is asked for only when there are masks.
 */
export async function openClip(frameInputs: Input[], maskInputs: Input[], mapping: () => LabelMapping): Promise<Clip> {
  if (!frameInputs.length) throw new Error('no frames: pick JPEG or PNG images (or a folder of them)');
  const sorted = [...frameInputs].sort(byName);
  const frames: Frame[] = [];
  for (const f of sorted) frames.push(decodeFrame(await f.read(), f.name));
  const index = new Map(sorted.map((f, i) => [stem(f.name), i]));
  const masks: (LabelMap | undefined)[] = sorted.map(() => undefined);
  const map = maskInputs.length ? mapping() : undefined;
  for (const m of maskInputs) {
    const i = index.get(stem(m.name));
    if (i === undefined) throw new Error(`mask ${m.name} matches no frame (masks pair with frames of the same name, e.g. mask/0001.png with origin/0001.jpg)`);
    const labels = mapMask(decodeMask(await m.read(), m.name), map!, m.name);
    const f = frames[i]!;
    if (labels.width !== f.width || labels.height !== f.height) throw new Error(`mask ${m.name} is ${labels.width}×${labels.height}, its frame ${sorted[i]!.name} ${f.width}×${f.height}`);
    masks[i] = labels;
  }
  const sizes = new Set(frames.map((f) => `${f.width}×${f.height}`));
  if (sizes.size > 1) throw new Error(`the frames have different sizes (${[...sizes].join(', ')}): open the frames of one video`);
  return { names: sorted.map((f) => f.name), frames, masks };
}

/** The video's current picture as a frame `height` pixels high (the model's training height), aspect kept. */
export function grabFrame(video: HTMLVideoElement, height: number, canvas: HTMLCanvasElement): Frame {
  const h = height;
  const w = Math.max(1, Math.round((h * video.videoWidth) / video.videoHeight));
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(video, 0, 0, w, h);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i]!;
    rgb[j + 1] = rgba[i + 1]!;
    rgb[j + 2] = rgba[i + 2]!;
  }
  return { width: w, height: h, rgb };
}
