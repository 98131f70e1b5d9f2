// Docker's transfer output (its jsonmessage display), for pull, push and later build: one line
// per item ("a3ed95caeb02: Downloading [====>     ]  1.2MB/3.4MB  5.1MB/s") and free lines
// between blocks of them ("Digest: sha256:…").
//
// On a terminal the item lines are redrawn in place: the cursor goes up to the item's line,
// clears it, writes it, and comes back down, so a block of N items stays N lines while bytes
// move. Lines are cut to the terminal's width, because a line that wraps would be two lines
// and the cursor arithmetic would go wrong. A free line ends the block (later items start a
// new one below it), as Docker's display does.
//
// Not on a terminal there is no cursor to move: an item gets a line when its status changes
// ("…: Downloading", "…: Pull complete"), never for bytes alone, so a log of a pull stays short
// and the same from one run to the next.

import type { Writable } from 'node:stream';

export interface ItemProgress {
  /** Bytes done. */
  current: number;
  /** Bytes in all; 0 or less when unknown. */
  total: number;
}

export interface ProgressOptions {
  /** Redraw in place (a terminal); otherwise one line per status change. */
  tty: boolean;
  /** The terminal's width in columns (80 when unknown). */
  columns?: number;
  /** Milliseconds; for speeds and for the redraw rate limit (tests pass a fake clock). */
  now?: () => number;
  /** Least time between two redraws of one item whose status did not change (default 100 ms). */
  redrawMs?: number;
}

interface Line {
  id: string;
  status: string;
  progress?: ItemProgress;
  /** When the current status began, and the bytes done then: the speed is measured from there. */
  since: number;
  startBytes: number;
  drawnAt: number;
}

const ESC = '\x1b[';

/** go-units HumanSizeWithPrecision(size, 4): what Docker's progress numbers look like ("15.56MB"). */
export function progressSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/**
 * Docker's JSONProgress.String: a bar of `barWidth` cells when there is room and a total,
 * the numbers "current/total" (padded to 8 as Go's %8v does), and the speed when known.
 */
export function formatProgress(p: ItemProgress, opts: { barWidth: number; bytesPerSecond?: number }): string {
  let bar = '';
  if (p.total > 0 && opts.barWidth > 0) {
    const filled = Math.min(opts.barWidth, Math.floor((p.current / p.total) * opts.barWidth));
    bar = `[${'='.repeat(filled)}>${' '.repeat(opts.barWidth - filled)}] `;
  }
  const current = progressSize(p.current).padStart(8);
  const numbers = p.total > 0 && p.current <= p.total ? `${current}/${progressSize(p.total)}` : current;
  const speed = opts.bytesPerSecond !== undefined && opts.bytesPerSecond > 0 ? `  ${progressSize(opts.bytesPerSecond)}/s` : '';
  return bar + numbers + speed;
}

export class ProgressView {
  /** The current block of item lines, top to bottom (terminal mode). */
  private block: Line[] = [];
  /** Every item seen, by id: its last status (both modes). */
  private readonly items = new Map<string, Line>();
  private readonly now: () => number;
  private readonly redrawMs: number;

  constructor(
    private readonly out: Writable,
    private readonly opts: ProgressOptions,
  ) {
    this.now = opts.now ?? (() => Date.now());
    this.redrawMs = opts.redrawMs ?? 100;
  }

  /**
   * Sets an item's status ("Downloading") and bytes. A status that did not change with only
   * new bytes redraws at most every redrawMs on a terminal and prints nothing otherwise.
   */
  update(id: string, status: string, progress?: ItemProgress): void {
    const now = this.now();
    let line = this.items.get(id);
    const changed = !line || line.status !== status;
    if (!line) {
      line = { id, status, since: now, startBytes: progress?.current ?? 0, drawnAt: -Infinity };
      this.items.set(id, line);
    } else if (changed) {
      line.status = status;
      line.since = now;
      line.startBytes = progress?.current ?? 0;
    }
    if (progress) line.progress = progress;
    else delete line.progress;

    if (!this.opts.tty) {
      if (changed) this.out.write(`${id}: ${status}\n`);
      return;
    }
    let index = this.block.indexOf(line);
    if (index === -1) {
      this.block.push(line);
      index = this.block.length - 1;
      this.out.write(`${this.render(line, now)}\n`);
      line.drawnAt = now;
      return;
    }
    if (!changed && now - line.drawnAt < this.redrawMs) return;
    const up = this.block.length - index;
    this.out.write(`${ESC}${up}A\r${ESC}2K${this.render(line, now)}\r${ESC}${up}B`);
    line.drawnAt = now;
  }

  /** A line of its own ("Digest: sha256:…"); on a terminal it ends the current block of items. */
  line(text: string): void {
    this.block = [];
    this.out.write(`${text}\n`);
  }

  /** The items' last statuses, by id (for tests and summaries). */
  statuses(): Map<string, string> {
    return new Map([...this.items].map(([id, l]) => [id, l.status]));
  }

  private render(line: Line, now: number): string {
    const columns = this.opts.columns && this.opts.columns > 0 ? this.opts.columns : 80;
    let text = `${line.id}: ${line.status}`;
    if (line.progress) {
      const elapsed = (now - line.since) / 1000;
      const moved = line.progress.current - line.startBytes;
      const bytesPerSecond = elapsed >= 0.5 && moved > 0 ? moved / elapsed : undefined;
      // Docker draws a 50-cell bar from 110 columns; narrower terminals get a shorter one.
      const barWidth = columns >= 110 ? 50 : Math.max(0, Math.min(50, columns - 60));
      text += ` ${formatProgress(line.progress, { barWidth: barWidth >= 10 ? barWidth : 0, ...(bytesPerSecond !== undefined ? { bytesPerSecond } : {}) })}`;
    }
    // one character short of the width: a line that fills it exactly wraps on some terminals
    return [...text].slice(0, columns - 1).join('');
  }
}
