// Volume names and the labels berth gives volumes, as Docker has them.

import { randomBytes } from 'node:crypto';
import { invalidArgument } from '../errors';

/** The only driver: data in a directory berthd owns, optionally a filesystem mounted there. */
export const LOCAL_DRIVER = 'local';

/** Docker 23+'s label on volumes a container made for itself (`-v /path`, an image VOLUME):
 *  `volume prune` removes only these unless -a, `rm -v` and `run --rm` remove them. */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

/** Docker's RestrictedNamePattern: the name is a directory under the volumes root, so it
 *  cannot hold a "/" nor start with "." (or "_", kept free for berth's own directories). */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** A directory entry's limit, less nothing: the name is one path component. */
const MAX_NAME = 255;

export function validateVolumeName(name: string): void {
  if (!NAME.test(name) || name.length > MAX_NAME) {
    throw invalidArgument(
      `create ${name}: ${JSON.stringify(name)} includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

/** What Docker names a volume nobody named: 64 random hex digits. */
export const randomVolumeName = (): string => randomBytes(32).toString('hex');

export const isAnonymous = (labels: Record<string, string>): boolean => Object.prototype.hasOwnProperty.call(labels, ANONYMOUS_LABEL);

export function validateDriver(driver: string): string {
  if (driver !== '' && driver !== LOCAL_DRIVER) {
    throw invalidArgument(`create: volume driver ${JSON.stringify(driver)} is not supported (only "${LOCAL_DRIVER}")`);
  }
  return LOCAL_DRIVER;
}
