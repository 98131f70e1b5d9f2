// How berth fails: one line on stderr, `berth: <message>`, and an exit status.
//
//   125  berth itself could not do what was asked: a bad flag or argument, berthd not
//        reachable, or an error berthd answered with (Docker's "docker: …" / daemon errors)
//   1    the operation failed for a reason of its own: an archive that is not valid, a file
//        that cannot be read, an image that does not exist
//
// (`berth run` will add the container's own exit status, 126 and 127, as Docker does.)

export const EXIT_FAILURE = 1;
export const EXIT_BERTH = 125;

/** An error whose message is meant for the user as it is. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A wrong flag or argument: the message, then where to read how the command is used. */
export class UsageError extends CliError {
  constructor(
    message: string,
    readonly commandPath: string,
  ) {
    super(`${message} (see '${commandPath} --help')`, EXIT_BERTH);
    this.name = 'UsageError';
  }
}

// grpc status codes (grpc/status.proto); numbers here so that failing does not load grpc-js.
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

interface GrpcError {
  code: number;
  details: string;
}

/** Not `instanceof Error`: errors from Node's core come from another realm under jest's vm. */
const hasMessage = (err: unknown): err is { message: string; stack?: string } => typeof (err as { message?: unknown } | null)?.message === 'string';

export function isGrpcError(err: unknown): err is GrpcError & Error {
  return hasMessage(err) && typeof (err as Partial<GrpcError>).code === 'number' && typeof (err as Partial<GrpcError>).details === 'string';
}

/** gRPC status codes the client tells apart (grpc's Status, without loading @grpc/grpc-js). */
export const NOT_FOUND = 5;
export const ALREADY_EXISTS = 6;

/** The grpc status of an error berthd answered with, or undefined. */
export const grpcCode = (err: unknown): number | undefined => (isGrpcError(err) ? err.code : undefined);

const START_HINT = "is berthd running? Start it with 'berthd' or 'systemctl start berthd'";

/** The line to print and the status to exit with, for any error. */
export function describeError(err: unknown, host: string): { message: string; exitCode: number } {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (isGrpcError(err)) {
    if (err.code === UNAVAILABLE || err.code === DEADLINE_EXCEEDED) {
      const cause = /\b(ENOENT|ECONNREFUSED|EACCES|ENOTSOCK|EPERM)\b/.exec(err.details)?.[1];
      if (cause === 'EACCES' || cause === 'EPERM') {
        return { message: `permission denied connecting to berthd at ${host}: run as root, or as a member of the socket's group`, exitCode: EXIT_BERTH };
      }
      const why = cause === 'ENOENT' ? 'no such socket' : cause === 'ECONNREFUSED' ? 'connection refused' : oneLine(err.details);
      return { message: `cannot connect to berthd at ${host} (${why}): ${START_HINT}`, exitCode: EXIT_BERTH };
    }
    return { message: `error from berthd: ${oneLine(err.details || err.message)}`, exitCode: EXIT_BERTH };
  }
  // ManagerErrors from the shared code (archives, references) and system errors name their subject
  if (hasMessage(err)) return { message: oneLine(err.message || String(err)), exitCode: EXIT_FAILURE };
  return { message: oneLine(String(err)), exitCode: EXIT_FAILURE };
}

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, '; ').trim();
