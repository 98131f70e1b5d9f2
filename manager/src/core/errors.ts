// The manager's error classes: containerd's small set. Core code throws these; only the gRPC
// server edge (services/) turns them into status codes, with grpcCode().

export type ManagerErrorKind =
  | 'NotFound'
  | 'AlreadyExists'
  | 'InvalidArgument'
  | 'FailedPrecondition'
  | 'Conflict'
  | 'NotImplemented'
  | 'Unavailable'
  | 'Aborted'
  | 'PermissionDenied'
  | 'Internal';

export class ManagerError extends Error {
  constructor(
    readonly kind: ManagerErrorKind,
    message: string,
  ) {
    super(message);
    this.name = `${kind}Error`;
  }
}

export const notFound = (msg: string) => new ManagerError('NotFound', msg);
export const alreadyExists = (msg: string) => new ManagerError('AlreadyExists', msg);
export const invalidArgument = (msg: string) => new ManagerError('InvalidArgument', msg);
export const failedPrecondition = (msg: string) => new ManagerError('FailedPrecondition', msg);
export const conflict = (msg: string) => new ManagerError('Conflict', msg);
export const notImplemented = (msg: string) => new ManagerError('NotImplemented', msg);
export const unavailable = (msg: string) => new ManagerError('Unavailable', msg);
export const aborted = (msg: string) => new ManagerError('Aborted', msg);
/** A registry refused the credentials (or their absence): 401/403. */
export const permissionDenied = (msg: string) => new ManagerError('PermissionDenied', msg);

export const isKind = (err: unknown, kind: ManagerErrorKind): boolean => err instanceof ManagerError && err.kind === kind;

// grpc status codes (grpc/status.proto), the same mapping containerd's errdefs uses.
const GRPC_CODES: Record<ManagerErrorKind, number> = {
  InvalidArgument: 3,
  NotFound: 5,
  AlreadyExists: 6,
  FailedPrecondition: 9,
  Conflict: 9,
  Aborted: 10,
  PermissionDenied: 7,
  NotImplemented: 12,
  Internal: 13,
  Unavailable: 14,
};

/** The gRPC status code for an error; anything that is not a ManagerError is Unknown (2). */
export function grpcCode(err: unknown): number {
  return err instanceof ManagerError ? GRPC_CODES[err.kind] : 2;
}
