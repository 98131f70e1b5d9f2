// berthd's answers to volume calls as the user reads them: the message berthd wrote, without
// the gRPC status suffix (": not found", ": failed precondition", …) the server edge adds;
// exit status 1, as Docker's volume commands fail with a daemon error.

import { CliError, isGrpcError, NOT_FOUND } from '../errors';

const SUFFIX = /: (not found|already exists|invalid argument|failed precondition|conflict|not implemented|unavailable|aborted)$/;

export { NOT_FOUND };
export const FAILED_PRECONDITION = 9;

/** The user's line for an error berthd answered a volume call with; other errors unchanged. */
export function volumeError(err: unknown, exitCode = 1): unknown {
  if (!isGrpcError(err) || err.code === 14 || err.code === 4) return err; // unreachable berthd: main's message
  return new CliError((err.details || err.message).replace(SUFFIX, ''), exitCode);
}
