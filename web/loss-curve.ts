// The fine-tune loss as a small line chart on a canvas: one point per step, the y range from the
// smallest to the largest loss so far, labelled with both.
export function drawLossCurve(canvas: HTMLCanvasElement, losses: readonly number[]): void {
  const ctx = canvas.getContext('2d')!;
  const { width: w, height: h } = canvas;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#bbb';
  ctx.strokeRect(0.5, 0.5, w - 1, h - 1);
  if (!losses.length) return;
  const lo = Math.min(...losses);
  const hi = Math.max(...losses);
  const pad = { l: 44, r: 8, t: 8, b: 18 };
  const x = (i: number) => pad.l + (losses.length > 1 ? (i / (losses.length - 1)) * (w - pad.l - pad.r) : 0);
  const y = (v: number) => pad.t + (hi > lo ? ((hi - v) / (hi - lo)) * (h - pad.t - pad.b) : (h - pad.t - pad.b) / 2);
  ctx.fillStyle = '#555';
  ctx.font = '11px sans-serif';
  ctx.textBaseline = 'middle';
  ctx.fillText(hi.toFixed(3), 4, y(hi));
  if (hi > lo) ctx.fillText(lo.toFixed(3), 4, y(lo));
  ctx.textBaseline = 'bottom';
  ctx.fillText(`step ${losses.length}`, w - pad.r - 44, h - 2);
  ctx.strokeStyle = '#1f77b4';
  ctx.fillStyle = '#1f77b4';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  losses.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
  ctx.stroke();
  losses.forEach((v, i) => ctx.fillRect(x(i) - 2, y(v) - 2, 4, 4));
}
