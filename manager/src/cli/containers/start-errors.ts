// Docker's exit statuses for a container whose process could not be started: 127 when the
// command is not found, 126 when it cannot be invoked (not executable, a directory), 125
// for anything else berth could not do. berthd's message (from berth-init's exec) names why.

import { isGrpcError } from '../errors';

export function startFailureStatus(err: unknown): number {
  const text = isGrpcError(err) ? err.details : err instanceof Error ? err.message : String(err);
  if (/no such file or directory|not found|ENOENT/i.test(text)) return 127;
  if (/permission denied|EACCES|is a directory|EISDIR|exec format error|ENOEXEC/i.test(text)) return 126;
  return 125;
}
