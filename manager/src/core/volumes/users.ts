// Which containers use which volumes: read from the containers' berth run config (its Mounts,
// written by the client at create), inside the metadata transaction that acts on the answer,
// so a container created meanwhile is either seen or created after the change.

import type { Txn } from '../metadata/db';
import { keys, type ContainerRecord } from '../metadata/schema';
import { RUN_CONFIG_EXTENSION, RUN_CONFIG_TYPE_URL, type RunConfig } from '../containers/run-config';

/** The volume names a run config's mounts name (each once). */
export function volumesOf(run: Pick<RunConfig, 'Mounts'> | undefined): string[] {
  const names = new Set<string>();
  for (const m of run?.Mounts ?? []) if (m.Type === 'volume' && m.Name) names.add(m.Name);
  return [...names];
}

function storedRunConfig(rec: ContainerRecord): RunConfig | undefined {
  const ext = rec.extensions?.[RUN_CONFIG_EXTENSION];
  if (!ext || ext.typeUrl !== RUN_CONFIG_TYPE_URL) return undefined;
  try {
    return JSON.parse(Buffer.from(ext.value, 'base64').toString('utf8')) as RunConfig;
  } catch {
    return undefined;
  }
}

/** Volume name → ids of the namespace's containers that use it. */
export function volumeUsers(txn: Txn, ns: string): Map<string, string[]> {
  const users = new Map<string, string[]>();
  for (const { key, value } of txn.range<ContainerRecord>(keys.containers(ns), 1)) {
    const id = key[key.length - 1]!;
    for (const name of volumesOf(storedRunConfig(value))) users.set(name, [...(users.get(name) ?? []), id]);
  }
  return users;
}
