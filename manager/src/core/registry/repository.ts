// A repository as the fetcher, pusher and resolve see it: the parsed reference, the hosts to
// try (mirrors first), the client, and "try each host in order" with containerd's rule for
// which failure to report.

import { isKind, ManagerError } from '../errors';
import { parseNormalized, repositoryOf, type Reference } from '../images/reference';
import { isIndexType, isManifestType, MEDIA_TYPES } from '../images/mediatypes';
import { hostsWith, type Capability, type RegistryHost } from './hosts';
import type { RegistryClient } from './client';

/** Every manifest type berth reads, as an Accept header (Docker's schema 1 is not among them). */
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.dockerManifest];

export const isManifestOrIndex = (mediaType: string): boolean => isIndexType(mediaType) || isManifestType(mediaType);

export interface Repository {
  ref: Reference;
  /** "127.0.0.1:5000/app" */
  name: string;
  client: RegistryClient;
  hosts: () => Promise<RegistryHost[]>;
}

export function repository(reference: string, client: RegistryClient, hostsOf: (registry: string) => Promise<RegistryHost[]>): Repository {
  const ref = parseNormalized(reference);
  return { ref, name: repositoryOf(ref), client, hosts: () => hostsOf(ref.domain) };
}

/** The query a mirror gets so it knows which upstream is meant (containerd's ?ns=). */
export const mirrorQuery = (repo: Repository, host: RegistryHost): Record<string, string> => (host.mirror ? { ns: repo.ref.domain } : {});

/**
 * Runs `attempt` against each host with `cap`, in order, until one succeeds. When all fail:
 * NotFound if every host said so, else the error of the last host that did not say NotFound
 * (the server's, usually: a mirror that is down should not hide the server's answer).
 */
export async function tryHosts<T>(repo: Repository, cap: Capability, attempt: (host: RegistryHost) => Promise<T>): Promise<T> {
  const hosts = hostsWith(await repo.hosts(), cap);
  if (hosts.length === 0) throw new ManagerError('FailedPrecondition', `${repo.ref.domain}: no host in its hosts.toml has the ${cap} capability`);
  const errors: Array<{ host: RegistryHost; err: Error }> = [];
  for (const host of hosts) {
    try {
      return await attempt(host);
    } catch (err) {
      if ((err as Error)?.name === 'AbortError') throw err;
      errors.push({ host, err: err as Error });
    }
  }
  const notNotFound = errors.filter((e) => !isKind(e.err, 'NotFound'));
  const chosen = notNotFound.length > 0 ? notNotFound[notNotFound.length - 1]! : errors[errors.length - 1]!;
  if (errors.length === 1 || !(chosen.err instanceof ManagerError)) throw chosen.err;
  // Say what the other hosts answered: a mirror's "not found" matters when the server is unreachable.
  const others = errors.filter((e) => e !== chosen).map((e) => `${e.host.host}: ${e.err.message}`);
  throw new ManagerError(chosen.err.kind, `${chosen.err.message} (also tried ${others.join('; ')})`);
}
