// report.html for a run: loss and mIoU curves (inline SVG) and a few validation frames with the
// ground truth and the prediction overlaid, written as PNG files beside the report.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encode } from 'fast-png';
import { vocPalette, type Frame } from '../dataset/image.ts';
import { IGNORE } from '../dataset/labels.ts';
import type { VideoDataset } from '../dataset/reader.ts';
import type { VideoPrediction } from '../eval/evaluate.ts';
import type { SegResult } from '../eval/metrics.ts';

export interface ReportInput {
  history: Record<string, number>[];
  result: SegResult;
  classNames: string[];
  predictions: VideoPrediction[];
  ds: VideoDataset;
}

/** A polyline chart of (x, y) points. */
function chart(title: string, pts: [number, number][], yLabel: string): string {
  const W = 520;
  const H = 220;
  const m = { l: 50, r: 10, t: 24, b: 30 };
  if (!pts.length) return `<p>${title}: no data yet</p>`;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  const [y0, y1] = [Math.min(0, ...ys), Math.max(...ys, 1e-9)];
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const line = pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
  const dots = pts.length < 40 ? pts.map(([x, y]) => `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3"/>`).join('') : '';
  return `<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">
<text x="${m.l}" y="14" font-size="13">${title}</text>
<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#888"/><line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#888"/>
<text x="${m.l - 4}" y="${sy(y1) + 4}" text-anchor="end">${y1.toPrecision(3)}</text><text x="${m.l - 4}" y="${sy(y0)}" text-anchor="end">${y0.toPrecision(3)}</text>
<text x="${m.l}" y="${H - 10}">step ${x0}</text><text x="${W - m.r}" y="${H - 10}" text-anchor="end">${x1}</text>
<text x="12" y="${(H - m.b + m.t) / 2}" transform="rotate(-90 12 ${(H - m.b + m.t) / 2})" text-anchor="middle">${yLabel}</text>
<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${line}"/><g fill="#1f77b4">${dots}</g></svg>`;
}

/** The frame with class colours blended in (ignore pixels left as they are). */
export function overlay(frame: Frame, labels: ArrayLike<number>, alpha = 0.55): Uint8Array {
  const pal = vocPalette();
  const out = new Uint8Array(frame.rgb.length);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    const col = c === IGNORE ? undefined : pal[c + 1]; // palette entry 0 is black: start at 1
    for (let k = 0; k < 3; k++) out[i * 3 + k] = col ? Math.round((1 - alpha) * frame.rgb[i * 3 + k]! + alpha * col[k]!) : frame.rgb[i * 3 + k]!;
  }
  return out;
}

function png(file: string, width: number, height: number, rgb: Uint8Array): void {
  writeFileSync(file, encode({ width, height, data: rgb, channels: 3 }));
}

/** Writes report.html (and report/*.png) into `dir`; returns the report's path. */
export function writeReport(dir: string, r: ReportInput): string {
  const imgDir = path.join(dir, 'report');
  mkdirSync(imgDir, { recursive: true });
  const loss = r.history.filter((h) => h.loss !== undefined).map((h) => [h.step!, h.loss!] as [number, number]);
  const miou = r.history.filter((h) => h.mIoU !== undefined).map((h) => [h.step!, 100 * h.mIoU!] as [number, number]);
  const rows: string[] = [];
  for (const p of r.predictions.slice(0, 4)) {
    const t = Math.floor(p.frames.length / 2);
    const name = p.frames[t]!;
    const { frame, labels } = r.ds.readSample(p.video, name);
    const base = `${p.video}_${name}`;
    png(path.join(imgDir, `${base}_frame.png`), frame.width, frame.height, frame.rgb);
    png(path.join(imgDir, `${base}_gt.png`), frame.width, frame.height, overlay(frame, labels.labels));
    png(path.join(imgDir, `${base}_pred.png`), frame.width, frame.height, overlay(frame, p.preds[t]!));
    rows.push(`<tr><td>${p.video}/${name}</td>${['frame', 'gt', 'pred'].map((k) => `<td><img src="report/${base}_${k}.png" width="${frame.width * 2}"></td>`).join('')}</tr>`);
  }
  const pal = vocPalette();
  const legend = r.classNames.map((n, c) => `<span style="display:inline-block;margin-right:12px"><span style="display:inline-block;width:12px;height:12px;background:rgb(${pal[c + 1]!.join(',')})"></span> ${n}</span>`).join('');
  const pct = (x: number) => (Number.isNaN(x) ? '—' : (100 * x).toFixed(1));
  const iou = r.result.perClassIoU.map((v, c) => `<tr><td>${r.classNames[c] ?? c}</td><td>${pct(v)}</td></tr>`).join('');
  const html = `<!doctype html><meta charset="utf-8"><title>Training report</title>
<style>body{font-family:sans-serif;margin:24px}td{padding:2px 8px}img{image-rendering:pixelated}</style>
<h1>Training report</h1>
<p>Validation: mIoU <b>${pct(r.result.mIoU)}</b>, mVC8 <b>${pct(r.result.mVC8)}</b>, mVC16 <b>${pct(r.result.mVC16)}</b></p>
${chart('training loss', loss, 'loss')}
${chart('validation mIoU (%)', miou, 'mIoU %')}
<h2>Validation frames</h2><p>${legend}</p>
<table><tr><th>frame</th><th>input</th><th>ground truth</th><th>prediction</th></tr>${rows.join('\n')}</table>
<h2>Per-class IoU (%)</h2><table>${iou}</table>`;
  const file = path.join(dir, 'report.html');
  writeFileSync(file, html);
  return file;
}
