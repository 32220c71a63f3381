// The progress line of `zquic client` on a terminal (stderr): a bar when the total is known
// (echo), the bytes so far when it is not (downloads). Nothing when stderr is not a TTY.

const MB = 1e6;

export interface ProgressOutput {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export class Progress {
  private last = 0;
  private shown = false;
  private readonly on: boolean;

  /** `total` bytes (a bar), or undefined (a running count); `minimum`: stay silent below it. */
  constructor(
    private readonly total: number | undefined,
    minimum = 0,
    private readonly out: ProgressOutput = process.stderr,
  ) {
    this.on = out.isTTY === true && (total === undefined || total >= minimum);
  }

  update(done: number): void {
    if (!this.on) return;
    const now = Date.now();
    if (now - this.last < 100 && (this.total === undefined || done < this.total)) return;
    this.last = now;
    this.shown = true;
    if (this.total === undefined) {
      this.out.write(`\r${(done / MB).toFixed(1)} MB received`);
      return;
    }
    const width = 30;
    const frac = Math.min(1, done / this.total);
    const bar = '='.repeat(Math.round(frac * width)).padEnd(width, ' ');
    this.out.write(
      `\r[${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${(done / MB).toFixed(1)}/${(this.total / MB).toFixed(1)} MB`,
    );
  }

  /** Erases the line (before the summary is printed). */
  clear(): void {
    if (this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }
}
