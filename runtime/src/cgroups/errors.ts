// The cgroup module's error type and the small fs helpers that turn a failed Host call into a
// CgroupError whose message names the file and the value.

import type { Host } from '../host/host';
import { errnoCode } from '../util/errors';

export type CgroupErrorCode =
  | 'ERR_CGROUP_READ'
  | 'ERR_CGROUP_WRITE'
  | 'ERR_CGROUP_MKDIR'
  | 'ERR_CGROUP_RMDIR'
  | 'ERR_CGROUP_LAYOUT'
  | 'ERR_CGROUP_PATH'
  | 'ERR_CGROUP_INVALID'
  | 'ERR_CGROUP_UNSUPPORTED'
  | 'ERR_CGROUP_NOT_IMPLEMENTED'
  | 'ERR_CGROUP_FREEZE';

export class CgroupError extends Error {
  constructor(
    readonly code: CgroupErrorCode,
    message: string,
    /** The errno name ('EBUSY'…) of the underlying failure, when there was one. */
    readonly errno?: string,
  ) {
    super(message);
    this.name = 'CgroupError';
  }
}

// strerror(3) texts for the errnos cgroupfs hands back; anything else falls back to the node message.
const STRERROR: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  E2BIG: 'Argument list too long',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  ERANGE: 'Numerical result out of range',
  ENOTEMPTY: 'Directory not empty',
  EOPNOTSUPP: 'Operation not supported',
  ENOTSUP: 'Operation not supported',
};

/** "Device or resource busy" for an EBUSY error; the error's own message otherwise. */
export function describeErrno(err: unknown): string {
  const code = errnoCode(err);
  if (code !== undefined && STRERROR[code] !== undefined) return STRERROR[code];
  if (err instanceof Error) return err.message;
  return String(err);
}

export { errnoCode };

export async function cgWrite(host: Host, path: string, value: string | number): Promise<void> {
  const data = String(value);
  try {
    await host.writeFile(path, data);
  } catch (err) {
    throw new CgroupError('ERR_CGROUP_WRITE', `write ${data} to ${path}: ${describeErrno(err)}`, errnoCode(err));
  }
}

export async function cgRead(host: Host, path: string): Promise<string> {
  try {
    return await host.readFile(path);
  } catch (err) {
    throw new CgroupError('ERR_CGROUP_READ', `read ${path}: ${describeErrno(err)}`, errnoCode(err));
  }
}

/** The file's content, or undefined when it does not exist (any other failure still throws). */
export async function cgReadOptional(host: Host, path: string): Promise<string | undefined> {
  try {
    return await host.readFile(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new CgroupError('ERR_CGROUP_READ', `read ${path}: ${describeErrno(err)}`, errnoCode(err));
  }
}

export async function cgMkdirp(host: Host, path: string): Promise<void> {
  try {
    await host.mkdirp(path);
  } catch (err) {
    throw new CgroupError('ERR_CGROUP_MKDIR', `mkdir ${path}: ${describeErrno(err)}`, errnoCode(err));
  }
}

export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
