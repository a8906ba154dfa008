// The browser page (web/index.html): open a student checkpoint and frames or a video, play the
// segmentation overlaid on the frames, fine-tune on labeled frames. It runs the same engine code as
// Node: the GPU comes from navigator.gpu (engine/device.ts), checkpoints load with
// models/checkpoint.ts, inference is eval/predict.ts (eval/tta.ts with test-time augmentation), frames
// decode with dataset/image.ts. Image frames are segmented at their own size, as `node eval/run.js`
// does; video frames are grabbed at the model's training height.
//
// URL parameters (all optional), opened in this order:
//   checkpoint=URL                 a model.safetensors written by train/run.js
//   labels=identity|vspw           how mask values map to classes (the "Mask values" menu)
//   frames=URL[,URL…]              images; a URL ending in '/' is a folder on the page's server
//   masks=URL[,URL…]               mask PNGs, paired with frames by name
//   video=URL                      a video file
//
// Test hook: window.vss (test/web.test.ts drives the page through it):
//   ready: Promise<void>          settles once WebGPU is up, the URL's inputs are open and the first
//                                 frame is shown; rejects with the message the page shows
//   labels(): Promise<number[][]> class ids of every opened image frame (row-major), computed as
//                                 playback computes them (frame t with frame t−1 as context)
//   logits(): Promise<number[][]> the logits [K, H, W] of every opened image frame, flattened
//   losses(): number[]            the losses of the last fine-tune run's steps so far
import { describeDevice, initDevice, noGrad, tidy } from '../engine/index.ts';
import type { Frame } from '../dataset/image.ts';
import { labelMapping, type LabelMapping } from '../dataset/labels.ts';
import { logitsAt, modelInput, perFrame, predictFrames } from '../eval/predict.ts';
import { TTA_DEFAULTS, predictFramesTta } from '../eval/tta.ts';
import { studentFromCheckpoint, type LoadedStudent } from '../models/checkpoint.ts';
import { FINE_TUNE_DEFAULTS, fineTune, type LabeledFrame } from './finetune.ts';
import { drawLossCurve } from './loss-curve.ts';
import { classColour, overlayPixels } from './overlay.ts';
import { fetchBytes, fromFiles, fromUrls, grabFrame, openClip, type Clip, type Input } from './sources.ts';

export interface VssHook {
  ready: Promise<void>;
  labels(): Promise<number[][]>;
  logits(): Promise<number[][]>;
  losses(): number[];
}

declare global {
  interface Window {
    vss: VssHook;
  }
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no element #${id}`);
  return el as T;
};
const ui = {
  error: $<HTMLDivElement>('error'),
  device: $<HTMLParagraphElement>('device'),
  ckptFile: $<HTMLInputElement>('ckpt-file'),
  ckptUrl: $<HTMLInputElement>('ckpt-url'),
  ckptOpen: $<HTMLButtonElement>('ckpt-open'),
  modelInfo: $<HTMLSpanElement>('model-info'),
  frameFiles: $<HTMLInputElement>('frame-files'),
  frameDir: $<HTMLInputElement>('frame-dir'),
  maskFiles: $<HTMLInputElement>('mask-files'),
  maskValues: $<HTMLSelectElement>('mask-values'),
  videoFile: $<HTMLInputElement>('video-file'),
  clipInfo: $<HTMLSpanElement>('clip-info'),
  view: $<HTMLCanvasElement>('view'),
  legend: $<HTMLUListElement>('legend'),
  play: $<HTMLButtonElement>('play'),
  opacity: $<HTMLInputElement>('opacity'),
  opacityValue: $<HTMLOutputElement>('opacity-value'),
  tta: $<HTMLInputElement>('tta'),
  fps: $<HTMLSpanElement>('fps'),
  frameInfo: $<HTMLSpanElement>('frame-info'),
  finetune: $<HTMLButtonElement>('finetune'),
  ftSteps: $<HTMLInputElement>('ft-steps'),
  ftLr: $<HTMLInputElement>('ft-lr'),
  ftStatus: $<HTMLSpanElement>('ft-status'),
  lossCurve: $<HTMLCanvasElement>('loss-curve'),
  ftLosses: $<HTMLOListElement>('ft-losses'),
  video: $<HTMLVideoElement>('video'),
};

const WEBGPU_HELP =
  'The page runs the model with WebGPU. Use a recent Chrome or Edge (113+), or Chromium started with ' +
  '--enable-unsafe-webgpu (or chrome://flags/#enable-unsafe-webgpu set to Enabled); on Linux, Chrome needs a ' +
  'Vulkan driver (e.g. Mesa) and --enable-features=Vulkan for a real GPU, and a headless Chromium without a GPU ' +
  'still gets one from SwiftShader with --enable-unsafe-webgpu. Firefox: set dom.webgpu.enabled in about:config ' +
  'where it is not on by default.';

const gpuReady = startGpu().then(
  (d) => void (ui.device.textContent = `WebGPU: ${d}`),
  (e: unknown) => {
    ui.device.textContent = 'WebGPU: not available (see the message above)';
    throw e;
  },
);

// ---- state -----------------------------------------------------------------------------------------

let loaded: LoadedStudent | undefined;
/** The image frames, or undefined when the source is the video (or nothing is open). */
let clip: Clip | undefined;
/** What the frames and masks were last opened from (read again when the masks, their mapping or the model change). */
let opened: { frames: Input[]; masks: Input[] } = { frames: [], masks: [] };
let videoOn = false;
let videoUrl: string | undefined;
/** The image frame shown, and the last frame grabbed from the video (a temporal model's context). */
let index = 0;
let lastGrab: Frame | undefined;
let shown: { frame: Frame; labels: Int32Array | undefined } | undefined;
let playing = false;
let loop: Promise<void> | undefined;
const losses: number[] = [];
const grabCanvas = document.createElement('canvas');

// ---- errors and actions ------------------------------------------------------------------------------

function showError(e: unknown): void {
  console.error(e);
  ui.error.textContent = e instanceof Error ? e.message : String(e);
  ui.error.hidden = false;
}

/** Actions run one at a time, in order, once WebGPU is up; an action's error is shown on the page. */
let queue: Promise<void> = Promise.resolve();
function act(fn: () => Promise<void>): Promise<void> {
  const run = queue.then(async () => {
    await gpuReady;
    ui.error.hidden = true;
    await fn();
  });
  queue = run.catch(showError);
  return run;
}

async function startGpu(): Promise<string> {
  if (!window.isSecureContext) {
    throw new Error(`WebGPU needs a secure context: open the page at http://localhost:PORT/ (as \`npm run web\` prints) or over https, not at ${location.origin}.`);
  }
  if (!navigator.gpu) throw new Error(`This browser has no WebGPU (navigator.gpu is missing). ${WEBGPU_HELP}`);
  if (!(await navigator.gpu.requestAdapter())) throw new Error(`WebGPU is present but found no adapter (navigator.gpu.requestAdapter() gave null): it is disabled or blocklisted here. ${WEBGPU_HELP}`);
  return describeDevice(await initDevice());
}

function updateButtons(): void {
  ui.play.disabled = !(clip || videoOn);
  ui.finetune.disabled = !(loaded && clip?.masks.some(Boolean));
  if (ui.finetune.disabled) ui.ftStatus.textContent = 'needs a checkpoint and frames with masks (PNGs of the data set\'s label values)';
}

// ---- the model -----------------------------------------------------------------------------------------

function renderLegend(): void {
  if (!loaded) return;
  const k = loaded.model.config.numClasses;
  ui.legend.replaceChildren(
    ...Array.from({ length: k }, (_, c) => {
      const li = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = `rgb(${classColour(c).join(',')})`;
      li.append(swatch, `${c} ${loaded!.classNames[c] ?? `class ${c}`}`);
      return li;
    }),
  );
}

async function openCheckpoint(bytes: Uint8Array, name: string): Promise<void> {
  await stopPlaying();
  const next = studentFromCheckpoint(bytes, name);
  loaded?.model.ps.dispose();
  loaded = next;
  // The checkpoint says how its training masks were written (older ones do not: the menu stays).
  if (next.labels) ui.maskValues.value = next.labels.labels;
  const c = next.model.config;
  ui.modelInfo.textContent =
    `${name}: step ${next.step}, ${c.numClasses} classes, trained at ${c.imageSize[1]}×${c.imageSize[0]}, ` +
    `patch ${c.patch}, width ${c.width}, depth ${c.depth}${c.temporal ? ', temporal' : ''}`;
  renderLegend();
  updateButtons();
  // Masks map to the model's classes: frames opened with masks are read again for this model.
  if (!videoOn && opened.masks.length) await openFrames(opened.frames, opened.masks);
  else await showCurrent();
}

/** Class ids of `frame` with `previous` as a temporal model's context (TTA when ticked). */
async function segment(frame: Frame, previous: Frame | undefined): Promise<Int32Array> {
  const model = loaded!.model;
  const out = ui.tta.checked ? await predictFramesTta(model, [frame], previous, TTA_DEFAULTS) : await predictFrames(model, [frame], previous);
  return out[0]!;
}

// ---- frames and video ------------------------------------------------------------------------------------

function maskMapping(): LabelMapping {
  if (!loaded) throw new Error('masks need a checkpoint (mask values are mapped to its classes): open one, and the masks are read again');
  const labels = ui.maskValues.value as 'identity' | 'vspw';
  // The checkpoint's own declaration (its ignore value) when the menu names the same kind.
  const declared = loaded.labels?.labels === labels ? loaded.labels : { labels, numClasses: loaded.model.config.numClasses };
  return labelMapping(declared, 'mask values');
}

async function openFrames(frames: Input[], masks: Input[]): Promise<void> {
  await stopPlaying();
  opened = { frames, masks };
  const next = await openClip(frames, masks, maskMapping);
  leaveVideo();
  clip = next;
  index = 0;
  const f = next.frames[0]!;
  const labeled = next.masks.filter(Boolean).length;
  ui.clipInfo.textContent = `${next.frames.length} frames, ${f.width}×${f.height}, ${labeled} with masks`;
  updateButtons();
  await showCurrent();
}

function leaveVideo(): void {
  ui.video.pause();
  videoOn = false;
  lastGrab = undefined;
}

async function openVideo(url: string, name: string): Promise<void> {
  await stopPlaying();
  const v = ui.video;
  await new Promise<void>((resolve, reject) => {
    v.onloadeddata = () => resolve();
    v.onerror = () => reject(new Error(`${name}: this browser cannot play the video (${v.error?.message || 'unsupported format or unreachable'})`));
    v.src = url;
    v.load();
  });
  v.onerror = null;
  videoOn = true;
  clip = undefined;
  opened = { frames: [], masks: [] };
  lastGrab = undefined;
  ui.clipInfo.textContent = `${name}: ${v.videoWidth}×${v.videoHeight}, ${v.duration.toFixed(1)} s (segmented at ${grabHeight()} pixels high)`;
  updateButtons();
  await showCurrent();
}

/** Video frames are grabbed at the model's training scale (its base size; older checkpoints: its crop's height). */
const grabHeight = () => {
  const c = loaded?.model.config;
  return c ? c.baseSize || c.imageSize[0] : 96;
};

/** Segment (when a model is open) and draw the current frame: the image frame `index`, or the video's picture. */
async function showCurrent(): Promise<void> {
  let frame: Frame;
  let previous: Frame | undefined;
  if (videoOn) {
    frame = grabFrame(ui.video, grabHeight(), grabCanvas);
    previous = lastGrab?.width === frame.width && lastGrab.height === frame.height ? lastGrab : undefined;
    lastGrab = frame;
    ui.frameInfo.textContent = `video ${ui.video.currentTime.toFixed(2)} s`;
  } else if (clip) {
    frame = clip.frames[index]!;
    previous = clip.frames[index - 1];
    ui.frameInfo.textContent = `frame ${index + 1}/${clip.frames.length} ${clip.names[index]}${clip.masks[index] ? ' (has a mask)' : ''}`;
  } else return;
  shown = { frame, labels: loaded ? await segment(frame, previous) : undefined };
  draw();
}

function draw(): void {
  ui.opacityValue.value = Number(ui.opacity.value).toFixed(2);
  if (!shown) return;
  const { frame, labels } = shown;
  const v = ui.view;
  if (v.width !== frame.width || v.height !== frame.height) {
    v.width = frame.width;
    v.height = frame.height;
  }
  // Whole-number magnification (crisp pixels) when the frame is smaller than the space for it.
  const fit = Math.min(640, Math.max(200, document.body.clientWidth - 300)) / frame.width;
  const scale = fit >= 1 ? Math.floor(fit) : fit;
  v.style.width = `${frame.width * scale}px`;
  v.style.height = `${frame.height * scale}px`;
  v.getContext('2d')!.putImageData(overlayPixels(frame, labels, Number(ui.opacity.value)), 0, 0);
}

// ---- playback ---------------------------------------------------------------------------------------------

async function playLoop(): Promise<void> {
  const times: number[] = [];
  if (videoOn) await ui.video.play();
  while (playing) {
    if (!videoOn && clip) index = (index + 1) % clip.frames.length;
    await showCurrent();
    times.push(performance.now());
    if (times.length > 10) times.shift();
    if (times.length > 1) {
      const ms = (times.at(-1)! - times[0]!) / (times.length - 1);
      ui.fps.textContent = `${(1000 / ms).toFixed(1)} fps (${ms.toFixed(0)} ms a frame${loaded ? '' : ', no model'})`;
    }
    await new Promise(requestAnimationFrame); // let the page paint
  }
}

function startPlaying(): void {
  playing = true;
  ui.play.textContent = 'Pause';
  loop = playLoop().catch((e: unknown) => {
    playing = false;
    ui.play.textContent = 'Play';
    showError(e);
  });
}

async function stopPlaying(): Promise<void> {
  playing = false;
  ui.play.textContent = 'Play';
  ui.video.pause();
  await loop;
}

// ---- fine-tuning -------------------------------------------------------------------------------------------

async function runFineTune(): Promise<void> {
  await stopPlaying();
  if (!loaded || !clip) throw new Error('fine-tune: open a checkpoint and frames with masks first');
  const c = clip;
  const samples: LabeledFrame[] = c.frames.flatMap((frame, i) => (c.masks[i] ? [{ frame, previous: c.frames[i - 1], labels: c.masks[i]! }] : []));
  const o = { ...FINE_TUNE_DEFAULTS, steps: Number(ui.ftSteps.value), lr: Number(ui.ftLr.value) };
  losses.length = 0;
  ui.ftLosses.replaceChildren();
  drawLossCurve(ui.lossCurve, losses);
  ui.finetune.disabled = true;
  ui.ftStatus.textContent = `training on ${samples.length} labeled frames…`;
  const t0 = performance.now();
  try {
    await fineTune(loaded.model, samples, o, (step, loss) => {
      losses.push(loss);
      const li = document.createElement('li');
      li.textContent = loss.toFixed(4);
      ui.ftLosses.append(li);
      drawLossCurve(ui.lossCurve, losses);
      ui.ftStatus.textContent = `step ${step}/${o.steps}: loss ${loss.toFixed(4)} (${((performance.now() - t0) / step / 1000).toFixed(2)} s a step)`;
    });
    ui.ftStatus.textContent = `done: ${o.steps} steps on ${samples.length} labeled frames in ${((performance.now() - t0) / 1000).toFixed(1)} s, loss ${losses[0]!.toFixed(4)} → ${losses.at(-1)!.toFixed(4)}`;
  } finally {
    updateButtons();
  }
  await showCurrent();
}

// ---- wiring -----------------------------------------------------------------------------------------------

ui.ckptFile.onchange = () => {
  const f = ui.ckptFile.files?.[0];
  if (f) void act(async () => openCheckpoint(new Uint8Array(await f.arrayBuffer()), f.name));
};
ui.ckptOpen.onclick = () => void act(async () => openCheckpoint(await fetchBytes(ui.ckptUrl.value.trim()), ui.ckptUrl.value.trim()));
/** Frames come from one pick (files, or a folder whose mask/ folder gives masks); picking masks afterwards replaces the masks. */
const openPicked = (files: FileList | null) => {
  const p = fromFiles(files ?? []);
  void act(() => openFrames(p.frames, p.masks));
};
ui.frameFiles.onchange = () => openPicked(ui.frameFiles.files);
ui.frameDir.onchange = () => openPicked(ui.frameDir.files);
ui.maskFiles.onchange = () => {
  const p = fromFiles(ui.maskFiles.files ?? []);
  if (opened.frames.length) void act(() => openFrames(opened.frames, [...p.frames, ...p.masks]));
};
ui.maskValues.onchange = () => {
  if (opened.masks.length) void act(() => openFrames(opened.frames, opened.masks));
};
ui.videoFile.onchange = () => {
  const f = ui.videoFile.files?.[0];
  if (!f) return;
  if (videoUrl) URL.revokeObjectURL(videoUrl);
  videoUrl = URL.createObjectURL(f);
  void act(() => openVideo(videoUrl!, f.name));
};
ui.play.onclick = () => {
  if (playing) void stopPlaying();
  else void act(async () => startPlaying());
};
ui.opacity.oninput = draw;
ui.tta.onchange = () => {
  if (!playing) void act(showCurrent);
};
ui.finetune.onclick = () => void act(runFineTune);
window.addEventListener('unhandledrejection', (e) => showError(e.reason));

async function openFromUrl(params: URLSearchParams): Promise<void> {
  const checkpoint = params.get('checkpoint');
  if (checkpoint) {
    ui.ckptUrl.value = checkpoint;
    await openCheckpoint(await fetchBytes(checkpoint), checkpoint);
  }
  const labels = params.get('labels');
  if (labels) {
    if (labels !== 'identity' && labels !== 'vspw') throw new Error(`?labels=${labels}: must be identity or vspw`);
    ui.maskValues.value = labels;
  }
  const frames = params.get('frames');
  if (frames) await openFrames(await fromUrls(frames), await fromUrls(params.get('masks') ?? ''));
  const video = params.get('video');
  if (video) await openVideo(new URL(video, location.href).href, video);
}

const ready = act(() => openFromUrl(new URLSearchParams(location.search)));

async function logitsOf(frame: Frame, previous: Frame | undefined): Promise<number[]> {
  const model = loaded!.model;
  const t = noGrad(() =>
    tidy(() => {
      const { images, clip: n } = modelInput(model, [frame], previous);
      return perFrame(logitsAt(model, images, 1, n), n);
    }),
  );
  try {
    return Array.from(await t.data());
  } finally {
    t.dispose();
  }
}

/** Run `fn` on every opened image frame with its predecessor, in order. */
async function eachFrame<T>(fn: (frame: Frame, previous: Frame | undefined) => Promise<T>): Promise<T[]> {
  if (!loaded || !clip) throw new Error('vss: open a checkpoint and image frames first');
  const out: T[] = [];
  for (let i = 0; i < clip.frames.length; i++) out.push(await fn(clip.frames[i]!, clip.frames[i - 1]));
  return out;
}

window.vss = {
  ready,
  labels: () => eachFrame(async (f, p) => Array.from(await segment(f, p))),
  logits: () => eachFrame(logitsOf),
  losses: () => [...losses],
};
