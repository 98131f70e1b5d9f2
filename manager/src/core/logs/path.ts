// Where a berth container's log is: <log_root>/<namespace>/<id>.log, written by its shim in the
// CRI format (shim/PROTOCOL.md "Log"); `<id>.log.1` is the previous file after a rotation.

import { join } from 'path';

export function containerLogPath(logRoot: string, namespace: string, id: string): string {
  return join(logRoot, namespace, `${id}.log`);
}

/** The file a rotation (berth-shim --log-max-size) moved the log to. */
export function rotatedLogPath(logPath: string): string {
  return `${logPath}.1`;
}
