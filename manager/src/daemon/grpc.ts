// The server edge: how services turn core's errors into gRPC statuses, and read the
// namespace of a call. Only services/ and the daemon use this; core/ never sees gRPC.

import * as grpc from '@grpc/grpc-js';
import { performance } from 'perf_hooks';
import { namespaceOf } from '../api';
import { ManagerError, failedPrecondition, grpcCode } from '../core/errors';
import { validateNamespace } from '../core/metadata/identifiers';

// containerd's errdefs suffixes: ctr and the Go client print "lease "x": not found".
const SUFFIX: Partial<Record<ManagerError['kind'], string>> = {
  NotFound: 'not found',
  AlreadyExists: 'already exists',
  InvalidArgument: 'invalid argument',
  FailedPrecondition: 'failed precondition',
  Conflict: 'conflict',
  NotImplemented: 'not implemented',
  Unavailable: 'unavailable',
  Aborted: 'aborted',
};

/** A grpc-js status error for anything thrown: ManagerErrors by kind, the rest Unknown. */
export function toStatus(err: unknown): grpc.ServiceError {
  if (isStatus(err)) return err;
  let message = err instanceof Error ? err.message : String(err);
  const code = err instanceof ManagerError ? grpcCode(err) : grpc.status.UNKNOWN;
  const suffix = err instanceof ManagerError ? SUFFIX[err.kind] : undefined;
  if (suffix && !message.endsWith(suffix)) message = `${message}: ${suffix}`;
  return Object.assign(new Error(message), { code, details: message, metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

const isStatus = (err: unknown): err is grpc.ServiceError =>
  err instanceof Error && !(err instanceof ManagerError) && typeof (err as grpc.ServiceError).code === 'number' && (err as grpc.ServiceError).metadata instanceof grpc.Metadata;

/**
 * The namespace of a call. Without one: FailedPrecondition "namespace is required", which is
 * what containerd 1.6 answers (namespaces.NamespaceRequired); an invalid one: InvalidArgument.
 */
export function requireNamespace(call: { metadata: grpc.Metadata }): string {
  const ns = namespaceOf(call);
  if (!ns) throw failedPrecondition('namespace is required');
  validateNamespace(ns);
  return ns;
}

/** A unary handler from an async function; whatever it throws becomes a gRPC status. */
export function unary<Req, Res>(fn: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res): grpc.handleUnaryCall<Req, Res> {
  return (call, cb) => {
    const t0 = TIMING ? performance.now() : 0;
    Promise.resolve()
      .then(() => fn(call))
      .then(
        (res) => cb(null, res),
        (err) => cb(toStatus(err)),
      )
      .finally(() => TIMING && timing(call.getPath(), t0));
  };
}

// BERTH_TIMING=1 (as for berth-runtime): each call's start and duration on stderr, the answer
// to "where does the time of `ctr run` go?".
const TIMING = process.env.BERTH_TIMING === '1';
function timing(path: string, t0: number): void {
  process.stderr.write(`berth-timing ${t0.toFixed(1).padStart(8)} ms +${(performance.now() - t0).toFixed(1).padStart(6)} ms  ${path}\n`);
}
