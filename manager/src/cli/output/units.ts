// Docker's human units (github.com/docker/go-units), so sizes and ages read as Docker's do:
// sizes in decimal units with three significant digits ("4.86MB", "128kB", "0B"), binary ones
// for memory ("3.84GiB"), and ages in words ("About a minute", "3 weeks").

const DECIMAL = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** Go's %.<precision>g for the numbers sizes give (no exponent below 1000). */
function goG(v: number, precision: number): string {
  return String(Number(v.toPrecision(precision)));
}

function custom(size: number, base: number, units: string[], precision: number): string {
  let i = 0;
  let v = size;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  return `${goG(v, precision)}${units[i]}`;
}

/** units.HumanSizeWithPrecision(size, 3): "4.86MB". */
export const humanSize = (bytes: number): string => custom(bytes, 1000, DECIMAL, 3);

/** units.BytesSize: "3.84GiB". */
export const bytesSize = (bytes: number): string => custom(bytes, 1024, BINARY, 4);

/** units.HumanDuration: how long, in words. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** "3 weeks ago"; "N/A" for an unknown time, as Docker shows it. */
export function ago(date: Date | undefined, now: Date = new Date()): string {
  if (!date || Number.isNaN(date.getTime())) return 'N/A';
  return `${humanDuration(Math.max(0, now.getTime() - date.getTime()))} ago`;
}

/** Docker's stringid.TruncateID: the 12 first hex digits of an id, without "sha256:". */
export const shortId = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);

/** Docker's stringutils.Ellipsis: at most max characters, the last one "…" when cut. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  if (chars.length <= max) return s;
  return chars.slice(0, max - 1).join('') + '…';
}
