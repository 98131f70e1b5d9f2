// The platform this machine runs (in OCI's / Go's names) and choosing a manifest from an index.

import type { Descriptor, Platform } from './types';

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips: 'mips', mipsel: 'mipsle' };

/** linux/amd64, linux/arm64/v8, … for the running Node.js. */
export function hostPlatform(): Platform {
  const architecture = GOARCH[process.arch] ?? process.arch;
  const p: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') p.variant = `v${(process.config.variables as { arm_version?: string }).arm_version ?? '7'}`;
  return p;
}

export const formatPlatform = (p: Platform): string => [p.os, p.architecture, p.variant].filter(Boolean).join('/');

/** Whether `p` can run on `host`: same os and architecture; a variant, when given, must match (arm64's v8 is its default). */
export function platformMatches(p: Platform | undefined, host: Platform = hostPlatform()): boolean {
  if (!p) return false;
  if (p.os !== host.os || p.architecture !== host.architecture) return false;
  const variant = p.variant || (p.architecture === 'arm64' ? 'v8' : '');
  const hostVariant = host.variant || (host.architecture === 'arm64' ? 'v8' : '');
  return variant === '' || variant === hostVariant;
}

/** The first manifest of an index for `host`, preferring an exact variant match. */
export function selectManifest(manifests: Descriptor[], host: Platform = hostPlatform()): Descriptor | undefined {
  const candidates = manifests.filter((m) => platformMatches(m.platform, host));
  return candidates.find((m) => (m.platform?.variant ?? '') === (host.variant ?? '')) ?? candidates[0];
}
