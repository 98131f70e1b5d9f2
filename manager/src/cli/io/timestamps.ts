// Docker's --since/--until values (and the -t output): absolute times as RFC 3339 (with or
// without a zone: without one it is local time), a date, or Unix seconds with an optional
// fraction; or a Go duration ("10m", "1h30m", "2.5s") meaning that long before now.
// Times are nanoseconds since the epoch (bigint): the log has nanoseconds.

import { UsageError } from '../errors';

const UNITS: Record<string, bigint> = { ns: 1n, us: 1000n, 'µs': 1000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

function durationNanos(v: string): bigint | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) return undefined;
  let total = 0n;
  for (const m of v.matchAll(/(\d+)(?:\.(\d+))?(ns|us|µs|ms|s|m|h)/g)) {
    const unit = UNITS[m[3]!]!;
    const frac = m[2] ?? '';
    total += BigInt(m[1]!) * unit + (frac ? (BigInt(frac) * unit) / 10n ** BigInt(frac.length) : 0n);
  }
  return total;
}

/** A --since/--until value as nanoseconds since the epoch; UsageError naming the flag otherwise. */
export function parseTimeArg(value: string, flag: string, commandPath: string, now: Date = new Date()): bigint {
  const v = value.trim();
  const dur = durationNanos(v);
  if (dur !== undefined) return BigInt(now.getTime()) * 1_000_000n - dur;
  const unix = /^(\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (unix) return BigInt(unix[1]!) * 1_000_000_000n + BigInt((unix[2] ?? '').padEnd(9, '0'));
  const m = /^(\d{4}-\d\d-\d\d)(?:[T ](\d\d:\d\d(?::\d\d)?)(?:\.(\d{1,9}))?)?(Z|[+-]\d\d:?\d\d)?$/i.exec(v);
  if (m) {
    const time = m[2] ? (m[2].length === 5 ? `${m[2]}:00` : m[2]) : '00:00:00';
    const zone = m[4] ? (m[4].toUpperCase() === 'Z' ? 'Z' : m[4].includes(':') ? m[4] : `${m[4].slice(0, 3)}:${m[4].slice(3)}`) : '';
    const ms = Date.parse(`${m[1]}T${time}${zone}`); // no zone: local time, as Docker reads it
    if (!Number.isNaN(ms)) return BigInt(ms) * 1_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
  }
  throw new UsageError(`invalid value for ${flag}: ${JSON.stringify(value)} is not a time (RFC 3339, a date, Unix seconds) or a duration (10m, 1h30m)`, commandPath);
}

/** Go's RFC3339Nano, as `docker logs -t` prints it: UTC, fraction without trailing zeros. */
export function rfc3339Nano(time: string): string {
  return time.replace(/\.(\d*?)0+Z$/, (_m, d: string) => (d ? `.${d}Z` : 'Z'));
}
