// Choosing the platform of a pull the way containerd's platforms package does: "os/arch[/variant]"
// parsed and normalized (x86_64 → amd64, aarch64 → arm64, armhf → arm/v7, arm64's v8 implied),
// then matched exactly after normalization, with the fallbacks containerd's Only() allows (an
// arm/v7 machine also runs arm/v6 and arm/v5 images, in that order of preference).

import { invalidArgument } from '../errors';
import { formatPlatform, hostPlatform } from '../images/platform';
import type { Descriptor, Platform } from '../images/types';

const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: 'amd64' },
  'x86-64': { architecture: 'amd64' },
  i386: { architecture: '386' },
  aarch64: { architecture: 'arm64' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v6' },
};

/** containerd's platforms.Normalize: lower case, canonical architecture and variant names. */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  const alias = ARCH_ALIASES[architecture];
  if (alias) {
    architecture = alias.architecture;
    if (alias.variant && !variant) variant = alias.variant;
  }
  if (/^[5-8]$/.test(variant)) variant = `v${variant}`;
  if (architecture === 'amd64' && variant === 'v1') variant = '';
  if (architecture === 'arm64' && variant === 'v8') variant = '';
  if (architecture === 'arm' && variant === '') variant = 'v7';
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** Parses "os/arch[/variant]" (or "arch" alone, meaning linux); names the argument in errors. */
export function parsePlatform(spec: string): Platform {
  const parts = spec.split('/');
  if (parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p)) || parts.length > 3) {
    throw invalidArgument(`platform ${JSON.stringify(spec)}: expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8`);
  }
  if (parts.length === 1) return normalizePlatform({ os: 'linux', architecture: parts[0]! });
  return normalizePlatform({ os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) });
}

export { formatPlatform };

/**
 * The platforms an image may have to run on `want`, most preferred first (containerd's
 * Only()): arm/v8 → v8, v7, v6, v5; arm/v7 → v7, v6, v5; arm/v6 → v6, v5; otherwise `want` alone.
 */
export function acceptedPlatforms(want: Platform): Platform[] {
  const p = normalizePlatform(want);
  if (p.architecture === 'arm') {
    const order = ['v8', 'v7', 'v6', 'v5'];
    const i = order.indexOf(p.variant ?? 'v7');
    if (i >= 0) return order.slice(i).map((variant) => ({ os: p.os, architecture: 'arm', variant }));
  }
  return [p];
}

/** Preference rank of `p` for `want` (0 best), or -1 when it cannot run there. */
export function platformRank(p: Platform | undefined, want: Platform): number {
  if (!p || !p.os || !p.architecture) return -1;
  const n = normalizePlatform(p);
  return acceptedPlatforms(want).findIndex((a) => a.os === n.os && a.architecture === n.architecture && (a.variant ?? '') === (n.variant ?? ''));
}

/** The manifest of an index for `want`: best rank, then the index's order. */
export function chooseManifest(manifests: Descriptor[], want: Platform): Descriptor | undefined {
  let best: Descriptor | undefined;
  let bestRank = Infinity;
  for (const m of manifests) {
    const r = platformRank(m.platform, want);
    if (r >= 0 && r < bestRank) {
      best = m;
      bestRank = r;
    }
  }
  return best;
}

/** This machine's platform, normalized. */
export const defaultPlatform = (): Platform => normalizePlatform(hostPlatform());
