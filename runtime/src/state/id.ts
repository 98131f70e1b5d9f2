import { invalidArgument } from '../util/errors';

// A container id names a directory under --root and a cgroup, so it must be one safe path
// component (the same alphabet runc accepts) and fit in a file name.
const ID_PATTERN = /^[\w+.-]+$/;
export const MAX_ID_LENGTH = 250;

export function validateId(id: string | undefined): string {
  if (id === undefined || id === '') throw invalidArgument('container id cannot be empty');
  if (id.length > MAX_ID_LENGTH) throw invalidArgument(`container id is too long (${id.length} > ${MAX_ID_LENGTH} characters)`);
  if (!ID_PATTERN.test(id) || id === '.' || id === '..') throw invalidArgument(`invalid container id format: ${JSON.stringify(id)}`);
  return id;
}
