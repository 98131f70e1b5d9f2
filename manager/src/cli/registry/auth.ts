// The credentials a pull or push sends: those `berth login` stored for the reference's
// registry host, read from the client's config file (config-file.ts) on each command.
// berthd keeps none; without an entry the request goes anonymous and the registry decides.

import type { berth } from '../../api';
import { CliError } from '../errors';
import { parseReference } from '../../core/images';
import { configPath, findCredentials, readConfig } from './config-file';

type Auth = berth.images.v1.IAuth;

/** The registry host of a reference as the user typed it ("busybox" → "docker.io"). */
export function referenceHost(reference: string): string {
  try {
    return parseReference(reference).domain;
  } catch (err) {
    throw new CliError(`invalid reference format: ${(err as Error).message}`);
  }
}

/** The stored credentials for `host` as the API's Auth, or undefined (anonymous). */
export async function authForHost(env: Record<string, string | undefined>, host: string): Promise<Auth | undefined> {
  const file = configPath(env);
  const creds = findCredentials(await readConfig(file), host, file);
  if (!creds) return undefined;
  if (creds.identityToken) return { username: creds.username, identityToken: creds.identityToken };
  return { username: creds.username, password: creds.password };
}

export const authForReference = (env: Record<string, string | undefined>, reference: string): Promise<Auth | undefined> =>
  authForHost(env, referenceHost(reference));
