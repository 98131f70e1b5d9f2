// The files berthd keeps beside a berth container's record and bind-mounts into it, as Docker
// keeps them in /var/lib/docker/containers/<id>/: /etc/hostname, /etc/hosts, /etc/resolv.conf.
// Under <root>/containers/<namespace>/<id>/ (persistent: a stopped container started again
// after a reboot still has them); the client's spec names them through the path berthd
// exports (plugin berth-containers, export `containers_root`).
//
// Written when the container is created (from its spec's hostname and its run config's
// ExtraHosts/Dns), removed when it is deleted. The network issue rewrites hosts and
// resolv.conf once containers have addresses.

import { promises as fs, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const HOSTNAME_FILE = 'hostname';
export const HOSTS_FILE = 'hosts';
export const RESOLV_FILE = 'resolv.conf';

export interface EtcInput {
  hostname: string;
  /** Docker's --add-host values, "name:ip" (ip may be IPv6, so split at the first colon). */
  extraHosts?: string[];
  /** --dns servers; none: the host's (without loopback ones, which mean nothing inside). */
  dns?: string[];
}

/** Docker's when the host's resolv.conf has no usable nameserver. */
const FALLBACK_DNS = ['8.8.8.8', '8.8.4.4'];

export function hostsContent(input: EtcInput): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const entry of input.extraHosts ?? []) {
    const colon = entry.indexOf(':');
    if (colon <= 0) continue;
    lines.push(`${entry.slice(colon + 1)}\t${entry.slice(0, colon)}`);
  }
  return lines.join('\n') + '\n';
}

const isLoopback = (ip: string): boolean => ip.startsWith('127.') || ip === '::1';

export function resolvContent(hostResolv: string, dns: string[] | undefined): string {
  const kept: string[] = [];
  const servers: string[] = [];
  for (const line of hostResolv.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) {
      if (!isLoopback(m[1]!)) servers.push(m[1]!);
    } else if (/^\s*(search|domain|options)\s/.test(line)) {
      kept.push(line.trim());
    }
  }
  const use = dns && dns.length > 0 ? dns : servers.length > 0 ? servers : FALLBACK_DNS;
  return [...kept, ...use.map((s) => `nameserver ${s}`)].join('\n') + '\n';
}

export class ContainerFiles {
  constructor(
    /** <root>/containers */
    readonly root: string,
    private readonly hostResolvConf = '/etc/resolv.conf',
  ) {}

  dir(ns: string, id: string): string {
    return join(this.root, ns, id);
  }

  /**
   * Synchronous on purpose: called from the /containers/create event, which the exchange
   * delivers before Containers.Create answers, so the files exist before any task of the
   * container can be created. Three small files.
   */
  writeSync(ns: string, id: string, input: EtcInput): void {
    const dir = this.dir(ns, id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let hostResolv = '';
    try {
      hostResolv = readFileSync(this.hostResolvConf, 'utf8');
    } catch {
      // no resolv.conf on the host: the fallback servers
    }
    writeFileSync(join(dir, HOSTNAME_FILE), `${input.hostname}\n`, { mode: 0o644 });
    writeFileSync(join(dir, HOSTS_FILE), hostsContent(input), { mode: 0o644 });
    writeFileSync(join(dir, RESOLV_FILE), resolvContent(hostResolv, input.dns), { mode: 0o644 });
  }

  async remove(ns: string, id: string): Promise<void> {
    await fs.rm(this.dir(ns, id), { recursive: true, force: true });
  }
}
