// A live progress line: step, loss, learning rate, steps/s and ETA (or any other countable work: the
// unit names what is counted: videos evaluated, frames pseudo-labelled). Redraws in place on a terminal,
// prints a line every `every` units otherwise (CI logs, pipes). Node only (a stderr stream); it lives in
// eval/ so that evaluation and training (above it in the chain) both use it.
export class Progress {
  private t0 = performance.now();
  private readonly tty: boolean;
  /** The last count shown or passed (work may advance by more than one: a line each time a multiple of `every` is crossed). */
  private last: number;
  constructor(
    private readonly total: number,
    private start: number,
    private readonly every = 25,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly unit: { one: string; many: string } = { one: 'step', many: 'steps' },
  ) {
    this.tty = Boolean(out.isTTY);
    this.last = start;
  }

  update(step: number, fields: Record<string, string>): void {
    const done = step - this.start;
    const secs = (performance.now() - this.t0) / 1000;
    const rate = done / Math.max(secs, 1e-9);
    const eta = (this.total - step) / Math.max(rate, 1e-9);
    const line = [
      `${this.unit.one} ${String(step).padStart(String(this.total).length)}/${this.total}`,
      ...Object.entries(fields).map(([k, v]) => `${k} ${v}`),
      `${rate.toFixed(2)} ${this.unit.many}/s`,
      `ETA ${formatTime(eta)}`,
    ].join('  ');
    if (this.tty) this.out.write(`\r\x1b[K${line}`);
    else if (Math.floor(step / this.every) > Math.floor(this.last / this.every) || step === this.total) this.out.write(`${line}\n`);
    this.last = step;
  }

  /** Measure the rate from here on, from `at` done: after a pause for other work (pseudo-labelling), which the ETA should not count. */
  restart(at: number): void {
    this.t0 = performance.now();
    this.start = at;
    this.last = at;
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
