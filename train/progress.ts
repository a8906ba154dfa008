// A live progress line: step, loss, learning rate, steps/s and ETA. Redraws in place on a terminal,
// prints a line every `every` steps otherwise (CI logs, pipes).
export class Progress {
  private readonly t0 = performance.now();
  private readonly tty: boolean;
  constructor(
    private readonly total: number,
    private readonly start: number,
    private readonly every = 25,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  update(step: number, fields: Record<string, string>): void {
    const done = step - this.start;
    const secs = (performance.now() - this.t0) / 1000;
    const rate = done / Math.max(secs, 1e-9);
    const eta = (this.total - step) / Math.max(rate, 1e-9);
    const line = `step ${String(step).padStart(String(this.total).length)}/${this.total}  ${Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join('  ')}  ${rate.toFixed(2)} steps/s  ETA ${formatTime(eta)}`;
    if (this.tty) this.out.write(`\r\x1b[K${line}`);
    else if (step % this.every === 0 || step === this.total) this.out.write(`${line}\n`);
  }

  /** A line of its own (ending the in-place line first). */
  note(text: string): void {
    this.break();
    this.out.write(`${text}\n`);
  }

  /** End the in-place line before other output. */
  break(): void {
    if (this.tty) this.out.write('\n');
  }
}

export function formatTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}
