// The files berthd keeps beside a berth container's record and bind-mounts into it, as Docker
// keeps them in /var/lib/docker/containers/<id>/: /etc/hostname, /etc/hosts, /etc/resolv.conf.
// Under <root>/containers/<namespace>/<id>/ (persistent: a stopped container started again
// after a reboot still has them); the client's spec names them through the path berthd
// exports (plugin berth-containers, export `containers_root`).
//
// Written when the container is created (from its spec's hostname and its run config's
// ExtraHosts/Dns/DnsSearch/DnsOptions/NetworkMode: etcInputOf), removed when it is deleted;
// written again by berthd's networks plugin once the container has addresses (its own, its
// --link targets', and on a user network that network's name server in resolv.conf).

import { promises as fs, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunConfig } from './run-config';

export const HOSTNAME_FILE = 'hostname';
export const HOSTS_FILE = 'hosts';
export const RESOLV_FILE = 'resolv.conf';

export interface EtcInput {
  hostname: string;
  /** Docker's --add-host values, "name:ip" (ip may be IPv6, so split at the first colon). */
  extraHosts?: string[];
  /** --dns servers; none: the host's (without loopback ones, which mean nothing inside). */
  dns?: string[];
  /** --dns-search and --dns-option: replace the host's search and options lines ("." alone: no search). */
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** --network host: the host's /etc/hosts and resolv.conf as they are (its loopback servers work there). */
  hostNetwork?: boolean;
  /** The container's own addresses and its names for them (known once its network is set up). */
  addresses?: { ip: string; names: string[] }[];
  /** --link targets: an address and its names (alias, hostname, name). */
  links?: { ip: string; names: string[] }[];
  /** Name servers that replace the host's and --dns (a user network's name server, which
   *  forwards to --dns itself). */
  nameservers?: string[];
}

/** The container's hostname: its OCI spec's, else the first 12 characters of its id (Docker's). */
export function hostnameOf(c: { id: string; spec: { value: Uint8Array } }): string {
  try {
    return (JSON.parse(Buffer.from(c.spec.value).toString('utf8')) as { hostname?: string }).hostname || c.id.slice(0, 12);
  } catch {
    return c.id.slice(0, 12); // not JSON
  }
}

/** The /etc input a run config asks for (before any network set-up). */
export function etcInputOf(run: RunConfig | undefined, hostname: string): EtcInput {
  return {
    hostname,
    extraHosts: run?.Host.ExtraHosts ?? [],
    dns: run?.Host.Dns ?? [],
    dnsSearch: run?.Host.DnsSearch ?? [],
    dnsOptions: run?.Host.DnsOptions ?? [],
    hostNetwork: run?.Host.NetworkMode === 'host',
  };
}

/** Docker's when the host's resolv.conf has no usable nameserver. */
const FALLBACK_DNS = ['8.8.8.8', '8.8.4.4'];

export function hostsContent(input: EtcInput, hostHosts = ''): string {
  if (input.hostNetwork) {
    const own = hostHosts.endsWith('\n') || hostHosts === '' ? hostHosts : `${hostHosts}\n`;
    return own + extraHostLines(input).map((l) => `${l}\n`).join('');
  }
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  lines.push(...extraHostLines(input));
  for (const l of [...(input.links ?? []), ...(input.addresses ?? [])]) lines.push(`${l.ip}\t${[...new Set(l.names.filter(Boolean))].join(' ')}`);
  return lines.join('\n') + '\n';
}

function extraHostLines(input: EtcInput): string[] {
  const out: string[] = [];
  for (const entry of input.extraHosts ?? []) {
    const colon = entry.indexOf(':');
    if (colon <= 0) continue;
    out.push(`${entry.slice(colon + 1)}\t${entry.slice(0, colon)}`);
  }
  return out;
}

const isLoopback = (ip: string): boolean => ip.startsWith('127.') || ip === '::1';

export function resolvContent(hostResolv: string, dns: string[] | undefined, more: Pick<EtcInput, 'dnsSearch' | 'dnsOptions' | 'hostNetwork' | 'nameservers'> = {}): string {
  const search: string[] = [];
  const options: string[] = [];
  const servers: string[] = [];
  for (const line of hostResolv.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) {
      // the host's own network: its loopback servers answer there
      if (more.hostNetwork || !isLoopback(m[1]!)) servers.push(m[1]!);
    } else if (/^\s*(search|domain)\s/.test(line)) {
      search.push(line.trim());
    } else if (/^\s*options\s/.test(line)) {
      options.push(line.trim());
    }
  }
  const searchLines = more.dnsSearch?.length ? (more.dnsSearch.length === 1 && more.dnsSearch[0] === '.' ? [] : [`search ${more.dnsSearch.join(' ')}`]) : search;
  const optionLines = more.dnsOptions?.length ? [`options ${more.dnsOptions.join(' ')}`] : options;
  const use = more.nameservers?.length ? more.nameservers : dns && dns.length > 0 ? dns : servers.length > 0 ? servers : FALLBACK_DNS;
  return [...searchLines, ...optionLines, ...use.map((s) => `nameserver ${s}`)].join('\n') + '\n';
}

export class ContainerFiles {
  constructor(
    /** <root>/containers */
    readonly root: string,
    private readonly hostResolvConf = '/etc/resolv.conf',
    private readonly hostHostsFile = '/etc/hosts',
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
    let hostHosts = '';
    if (input.hostNetwork) {
      try {
        hostHosts = readFileSync(this.hostHostsFile, 'utf8');
      } catch {
        // no /etc/hosts on the host: the lines berth adds only
      }
    }
    // Rewritten in place (not replaced): a running container's bind mount keeps the inode, so
    // it sees the addresses its network set-up and later connects bring.
    writeFileSync(join(dir, HOSTS_FILE), hostsContent(input, hostHosts), { mode: 0o644 });
    writeFileSync(join(dir, RESOLV_FILE), resolvContent(hostResolv, input.dns, input), { mode: 0o644 });
  }

  async remove(ns: string, id: string): Promise<void> {
    await fs.rm(this.dir(ns, id), { recursive: true, force: true });
  }
}
