import { appendFileSync } from 'fs';
import { writeStderr } from './stderr';

// The CLI's log: messages go to stderr for a person, and to --log in runc's shapes
// (--log-format json: {"level","msg","time"}; text: logrus's key=value line), because
// containerd reads the last error from that file when a runtime command fails.

export type Level = 'debug' | 'info' | 'warning' | 'error';

export interface CliLog {
  file?: string;
  format: 'text' | 'json';
  debug: boolean;
}

export const cliLog: CliLog = { format: 'text', debug: false };

export function log(level: Level, msg: string): void {
  if (level === 'debug' && !cliLog.debug) return;
  const time = new Date().toISOString();
  if (cliLog.file) {
    const line = cliLog.format === 'json' ? JSON.stringify({ level, msg, time }) : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
    try {
      appendFileSync(cliLog.file, line + '\n');
    } catch {
      /* a broken log file must not hide the message on stderr */
    }
  }
  // With --log set, containerd-style callers read the file; a person still sees errors.
  if (!cliLog.file || level === 'error' || cliLog.debug) writeStderr(`berth-runtime: ${level === 'error' ? '' : level + ': '}${msg}\n`);
}
