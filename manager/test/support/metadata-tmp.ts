// Temporary state roots for the metadata and content tests, and an error-kind matcher.

import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { ManagerError, ManagerErrorKind } from '../../src/core/errors';

export async function makeTempRoot(prefix = 'berth-meta-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeTempRoot(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

/** Awaits `p` (or calls a sync fn) and returns the ManagerError it failed with, checking its kind. */
export async function expectKind(p: Promise<unknown> | (() => unknown), kind: ManagerErrorKind, message?: RegExp): Promise<ManagerError> {
  let err: unknown;
  try {
    if (typeof p === 'function') await p();
    else await p;
  } catch (e) {
    err = e;
  }
  if (!(err instanceof ManagerError)) {
    throw new Error(`expected a ${kind} error, got ${err === undefined ? 'success' : String(err)}`);
  }
  if (err.kind !== kind) throw new Error(`expected a ${kind} error, got ${err.kind}: ${err.message}`);
  if (message && !message.test(err.message)) throw new Error(`error message ${JSON.stringify(err.message)} does not match ${message}`);
  return err;
}
