// One error base class with stable codes. Messages are lower-case, have no trailing period,
// and name the field, argument or path at fault.

export type ErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_INVALID_CONFIG'
  | 'ERR_NOT_FOUND'
  | 'ERR_ALREADY_EXISTS'
  | 'ERR_FAILED_PRECONDITION'
  | 'ERR_NOT_IMPLEMENTED'
  | 'ERR_INIT'
  | 'ERR_HOOK'
  | 'ERR_INTERNAL';

export class BerthError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BerthError';
  }
}

export const invalidArgument = (msg: string) => new BerthError('ERR_INVALID_ARGUMENT', msg);
export const invalidConfig = (msg: string) => new BerthError('ERR_INVALID_CONFIG', msg);
export const notFound = (msg: string) => new BerthError('ERR_NOT_FOUND', msg);
export const alreadyExists = (msg: string) => new BerthError('ERR_ALREADY_EXISTS', msg);
export const failedPrecondition = (msg: string) => new BerthError('ERR_FAILED_PRECONDITION', msg);

/** The errno name of a Node fs error ('ENOENT'…), or undefined. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
