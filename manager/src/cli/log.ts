// berth's own diagnostics on stderr, filtered by --log-level (-D is --log-level debug).
// Commands print their results on stdout; this is for what happened on the way.

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  readonly level: LogLevel;
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const at = (l: LogLevel) => (msg: string) => {
    if (LOG_LEVELS.indexOf(l) >= min) write(`berth: ${l}: ${msg}\n`);
  };
  return { level, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const isLogLevel = (s: string): s is LogLevel => (LOG_LEVELS as readonly string[]).includes(s);
