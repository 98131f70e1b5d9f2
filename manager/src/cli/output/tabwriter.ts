// Column alignment as Go's text/tabwriter does it, which is how Docker prints every table:
// cells are tab-terminated; a column's width is that of its widest cell plus padding (at
// least minWidth), computed over each run of consecutive lines that have that column; the
// last cell of a line is not a column and is never padded (so no trailing blanks).
// Widths count characters (code points), not bytes, as Go counts runes.

export interface TabwriterOptions {
  /** Smallest width of a column, padding included. */
  minWidth: number;
  /** Blanks added to the widest cell of a column. */
  padding: number;
}

/** Docker's tables: tabwriter.NewWriter(out, 10, 1, 3, ' ', 0). */
export const DOCKER_TABLE: TabwriterOptions = { minWidth: 10, padding: 3 };

const widthOf = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/** Aligns `text` (lines of tab-separated cells). A final newline is kept; none is added. */
export function tabwrite(text: string, opts: TabwriterOptions = DOCKER_TABLE): string {
  const endsWithNewline = text.endsWith('\n');
  const lines = (endsWithNewline ? text.slice(0, -1) : text).split('\n').map((l) => l.split('\t'));
  const out: string[] = [];
  const widths: number[] = [];

  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const line = lines[i]!;
      let s = '';
      line.forEach((cell, j) => {
        s += cell;
        if (j < widths.length) s += ' '.repeat(Math.max(0, widths[j]! - widthOf(cell)));
      });
      out.push(s);
    }
  };

  // Go's Writer.format: find each block of lines that have a cell in the next column, size
  // the column over that block, and recurse into the block for the columns to its right.
  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= lines[cur]!.length - 1) continue;
      writeLines(line0, cur);
      line0 = cur;
      let width = opts.minWidth;
      for (; cur < line1; cur++) {
        const line = lines[cur]!;
        if (column >= line.length - 1) break;
        width = Math.max(width, widthOf(line[column]!) + opts.padding);
      }
      widths.push(width);
      format(line0, cur);
      widths.pop();
      line0 = cur;
      cur--; // the for loop's ++ would skip the line that ended the block
    }
    writeLines(line0, line1);
  };

  format(0, lines.length);
  return out.join('\n') + (endsWithNewline ? '\n' : '');
}
