// The host's network state as the networking tests see it, to prove a teardown exact and to
// put the host back as it was: interfaces, iptables rules (iptables-save without counters),
// and the CNI plugins' own chains (CNI-FORWARD, CNI-HOSTPORT-*, …), which the plugins create on
// first use and never remove — a test that made them removes them, nothing else.

import { spawnSync } from 'child_process';
import { randomBytes } from 'crypto';
import { readFileSync } from 'fs';

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Every interface name on the host. */
export function links(): string[] {
  return sh('ip', ['-o', 'link', 'show'])
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((x): x is string => !!x)
    .sort();
}

/** Interfaces enslaved to `bridge` (a container's host-side veth). */
export function bridgePorts(bridge: string): string[] {
  const r = spawnSync('ip', ['-o', 'link', 'show', 'master', bridge], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout.split('\n').map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]).filter((x): x is string => !!x);
}

/** iptables-save without comments and counters: equal text, equal rules. */
export function iptablesRules(): string {
  return sh('iptables-save', [])
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
    .join('\n');
}

/** Chains by table ("nat:CNI-HOSTPORT-DNAT"). */
export function iptablesChains(): Set<string> {
  const out = new Set<string>();
  let table = '';
  for (const l of sh('iptables-save', []).split('\n')) {
    if (l.startsWith('*')) table = l.slice(1);
    const m = /^:(\S+)/.exec(l);
    if (m) out.add(`${table}:${m[1]}`);
  }
  return out;
}

/** The chains the CNI plugins make once and share among all their users. */
const SHARED_CNI_CHAINS = new Set(['CNI-ADMIN', 'CNI-FORWARD', 'CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK']);

/** Whether some container (anyone's: other berthds, podman) still has CNI rules on the host. */
function cniInUse(): boolean {
  const rules = sh('iptables-save', []).split('\n');
  if (rules.some((l) => /^:CNI-/.test(l) && !SHARED_CNI_CHAINS.has(l.slice(1).split(' ')[0]!))) return true;
  return rules.some((l) => /^-A CNI-FORWARD /.test(l) && !l.includes('-j CNI-ADMIN')) || rules.some((l) => /^-A CNI-HOSTPORT-DNAT /.test(l));
}

/**
 * Removes the chains not in `before` (with the rules that jump to them) — unless some container
 * still uses the plugins' shared chains: another user made them meanwhile then, and keeps them.
 */
export function removeNewChains(before: Set<string>): void {
  if (cniInUse()) return;
  const fresh = [...iptablesChains()].filter((c) => !before.has(c));
  for (const tc of fresh) {
    const [table, chain] = tc.split(':') as [string, string];
    for (const rule of sh('iptables', ['-t', table, '-S']).split('\n')) {
      if (!rule.startsWith('-A ') || !new RegExp(`-j ${chain}(\\s|$)`).test(rule)) continue;
      spawnSync('sh', ['-c', `iptables -t ${table} ${rule.replace(/^-A /, '-D ')}`]);
    }
  }
  for (const tc of fresh) {
    const [table, chain] = tc.split(':') as [string, string];
    spawnSync('iptables', ['-t', table, '-F', chain]);
  }
  for (const tc of fresh) {
    const [table, chain] = tc.split(':') as [string, string];
    spawnSync('iptables', ['-t', table, '-X', chain]);
  }
}

/** Deletes an interface (a test network's bridge); a missing one is fine. */
export function deleteLink(name: string): void {
  spawnSync('ip', ['link', 'delete', name]);
}

/** A /24 in 10.128.0.0/9 that no host route overlaps, and a bridge name, both unique enough for one test run. */
export function freshSubnet(): { subnet: string; gateway: string; prefix: string } {
  const routes = readFileSync('/proc/net/route', 'utf8');
  for (;;) {
    const b = randomBytes(2);
    const second = 128 + (b[0]! & 127);
    const third = b[1]!;
    const hex = ((third << 16) | (second << 8) | 10).toString(16).toUpperCase().padStart(6, '0');
    if (routes.includes(hex)) continue; // crude: some route mentions this /24 (or a wider one starting there)
    const prefix = `10.${second}.${third}`;
    return { subnet: `${prefix}.0/24`, gateway: `${prefix}.1`, prefix };
  }
}

export function freshBridgeName(tag: string): string {
  return `${tag}${randomBytes(4).toString('hex')}`.slice(0, 15);
}

/** The value of net.ipv4.ip_forward (the bridge plugin turns it on). */
export function ipForward(): string {
  return readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
}
