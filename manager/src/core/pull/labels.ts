// containerd's distribution-source label: every blob a pull stores says where it came from,
// `containerd.io/distribution.source.<registry host>=<repository>[,<repository>…]`, so a later
// push to that registry can mount it from one of those repositories instead of uploading it.
// Like containerd, the key has the registry's host name without its port.

import { isKind } from '../errors';
import type { ContentStore } from '../content';
import { hostName } from '../registry/hosts';

export { hostName };

export const LABEL_DISTRIBUTION_SOURCE = 'containerd.io/distribution.source';

export const sourceLabelKey = (registryHost: string): string => `${LABEL_DISTRIBUTION_SOURCE}.${hostName(registryHost)}`;

/** containerd's appendDistributionSourceLabel: the repositories as a sorted, duplicate-free list. */
export function appendSource(existing: string | undefined, repository: string): string {
  const repos = new Set((existing ?? '').split(',').filter(Boolean));
  repos.add(repository);
  return [...repos].sort().join(',');
}

/** The repositories of `registryHost` a blob's labels name as its sources. */
export function sourcesOf(labels: Record<string, string>, registryHost: string): string[] {
  return (labels[sourceLabelKey(registryHost)] ?? '').split(',').filter(Boolean);
}

/** Adds the source label to a stored blob (read, merge, write one label). */
export async function recordSource(content: ContentStore, digest: string, registryHost: string, repository: string): Promise<void> {
  const key = sourceLabelKey(registryHost);
  try {
    const info = await content.info(digest);
    const value = appendSource(info.labels[key], repository);
    if (value !== info.labels[key]) await content.update({ digest, labels: { [key]: value } }, [`labels.${key}`]);
  } catch (err) {
    if (!isKind(err, 'NotFound')) throw err;
  }
}

/** Sets labels on a stored blob, leaving its other labels as they are. */
export async function setLabels(content: ContentStore, digest: string, labels: Record<string, string>): Promise<void> {
  const keys = Object.keys(labels);
  if (keys.length) await content.update({ digest, labels }, keys.map((k) => `labels.${k}`));
}
