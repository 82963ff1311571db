/**
 * Progress on stderr: permanent lines, and on a terminal one transient status
 * line redrawn in place (`\r`, erase to end of line), never wider than the
 * terminal, cleared before any permanent line is written. Off a terminal the
 * status is dropped: callers print what matters as lines.
 */

/** What long steps report to. */
export interface Progress {
  /** A line that stays. */
  line(text: string): void;
  /** The transient status (a terminal only); absent when there is none. */
  status?: (text: string) => void;
}

const CLEAR = "\r\x1b[K";

/** A status line on `write` (a terminal's stderr). */
export class StatusLine {
  #shown = false;

  constructor(
    private readonly write: (text: string) => void,
    private readonly columns: () => number = terminalColumns,
  ) {}

  /** Show `text` as the status (truncated to the terminal's width). */
  set(text: string): void {
    const width = Math.max(20, this.columns() - 1);
    const chars = [...text.replace(/[\r\n]+/g, " ")];
    const shown = chars.length > width ? `${chars.slice(0, width - 1).join("")}…` : text;
    this.write(`${CLEAR}${shown}`);
    this.#shown = true;
  }

  /** Remove the status. */
  clear(): void {
    if (this.#shown) this.write(CLEAR);
    this.#shown = false;
  }

  /** A permanent line (the status, if any, is cleared first and not redrawn). */
  line(text: string): void {
    this.clear();
    this.write(`${text}\n`);
  }
}

function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}

/** `ms` for people: 850ms, 4.2s, 1m05s, 1h02m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const whole = Math.round(s);
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, "0")}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, "0")}m`;
}
