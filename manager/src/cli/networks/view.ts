// berth.networks.v1 messages as Docker shows them: `network inspect`'s NetworkResource, `network
// ls`'s rows and filters, a container's NetworkSettings (inspect), its ports (port, ps), and
// berthd's errors as the user reads them.

import { CliError, isGrpcError } from '../errors';
import { dateOf } from '../../api';
import { portsSummary, type PortMapping, type Protocol } from '../../core/networks/ports';

export interface NetworkMessage {
  id: string;
  name: string;
  driver: string;
  scope: string;
  created: { seconds: number; nanos: number } | null;
  internal: boolean;
  labels: Record<string, string>;
  subnet: string;
  gateway: string;
  ipRange: string;
  bridge: string;
  builtin: boolean;
  containers: Record<string, { name: string; endpointId: string; macAddress: string; ipv4Address: string }>;
}

export interface EndpointMessage {
  network: string;
  networkId: string;
  endpointId: string;
  interface: string;
  ipAddress: string;
  ipPrefixLen: number;
  gateway: string;
  macAddress: string;
  aliases: string[];
}

export interface ContainerNetworkMessage {
  containerId: string;
  sandboxKey: string;
  endpoints: EndpointMessage[];
  ports: { hostIp: string; hostPort: number; containerPort: number; protocol: string }[];
}

const SUFFIX = /: (not found|already exists|invalid argument|failed precondition|conflict|not implemented|unavailable|aborted|unknown)$/;

/** berthd's answer as one line for the user (exit 1); an unreachable berthd is left to main. */
export function networkError(err: unknown, exitCode = 1): unknown {
  if (!isGrpcError(err) || err.code === 14 || err.code === 4) return err;
  return new CliError((err.details || err.message).replace(SUFFIX, ''), exitCode);
}

/** Go's time format as Docker prints it (RFC 3339 with nanoseconds). */
function created(m: NetworkMessage): string {
  return (dateOf(m.created) ?? new Date(0)).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/** Docker's NetworkResource (`docker network inspect`). */
export function inspectDoc(m: NetworkMessage): object {
  const config = m.subnet ? [{ Subnet: m.subnet, ...(m.ipRange ? { IPRange: m.ipRange } : {}), Gateway: m.gateway }] : [];
  const containers: Record<string, object> = {};
  for (const [id, c] of Object.entries(m.containers ?? {})) {
    containers[id] = { Name: c.name, EndpointID: c.endpointId, MacAddress: c.macAddress, IPv4Address: c.ipv4Address, IPv6Address: '' };
  }
  return {
    Name: m.name,
    Id: m.id,
    Created: created(m),
    Scope: m.scope,
    Driver: m.driver,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: config },
    Internal: m.internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: m.bridge ? { 'com.docker.network.bridge.name': m.bridge, 'com.docker.network.bridge.enable_ip_masquerade': String(!m.internal) } : {},
    Labels: m.labels ?? {},
  };
}

/** A `network ls` row (Docker's field names for --format). */
export function rowOf(m: NetworkMessage, noTrunc: boolean): Record<string, unknown> {
  return {
    ID: noTrunc ? m.id : m.id.slice(0, 12),
    Name: m.name,
    Driver: m.driver,
    Scope: m.scope,
    IPv6: 'false',
    Internal: String(m.internal),
    Labels: Object.entries(m.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
    CreatedAt: (dateOf(m.created) ?? new Date(0)).toISOString(),
  };
}

/** Docker's `network ls -f`: name= (substring), id= (prefix), driver=, label=K[=V], type=custom|builtin; same key ORs, keys AND. */
export function matchesFilters(m: NetworkMessage, filters: string[]): boolean {
  const byKey = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new CliError(`bad format of filter (expected name=value): ${f}`, 125);
    const key = f.slice(0, eq);
    if (!['name', 'id', 'driver', 'label', 'type', 'scope'].includes(key)) throw new CliError(`invalid filter '${key}'`, 125);
    byKey.set(key, [...(byKey.get(key) ?? []), f.slice(eq + 1)]);
  }
  for (const [key, values] of byKey) {
    const ok = values.some((v) => {
      switch (key) {
        case 'name':
          return m.name.includes(v);
        case 'id':
          return m.id.startsWith(v);
        case 'driver':
          return m.driver === v;
        case 'scope':
          return m.scope === v;
        case 'type':
          if (v !== 'custom' && v !== 'builtin') throw new CliError(`invalid filter: 'type'='${v}'`, 125);
          return v === 'builtin' ? m.builtin : !m.builtin;
        case 'label': {
          const e = v.indexOf('=');
          return e < 0 ? v in (m.labels ?? {}) : m.labels?.[v.slice(0, e)] === v.slice(e + 1);
        }
      }
      return false;
    });
    if (!ok) return false;
  }
  return true;
}

export function mappingsOf(s: ContainerNetworkMessage | undefined): PortMapping[] {
  return (s?.ports ?? []).map((p) => ({ hostIP: p.hostIp, hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol as Protocol }));
}

/** `ps`'s PORTS text: published mappings, then exposed ports nobody published. */
export function psPorts(s: ContainerNetworkMessage | undefined, exposed: string[]): string {
  return portsSummary(mappingsOf(s), exposed);
}

/**
 * Docker's NetworkSettings for inspect: Ports ("80/tcp" → [{HostIp, HostPort}] or null for an
 * exposed port not published), the first network's address at the top level (Docker's legacy
 * fields, set for the default network), and Networks by name.
 */
export function networkSettings(s: ContainerNetworkMessage | undefined, mode: string, exposed: string[], links: string[]): Record<string, unknown> {
  const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const k of exposed) ports[k] = null;
  for (const p of s?.ports ?? []) (ports[`${p.containerPort}/${p.protocol}`] ??= [])!.push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
  const networks: Record<string, object> = {};
  for (const e of s?.endpoints ?? []) {
    networks[e.network] = {
      IPAMConfig: null,
      Links: e.network === 'bridge' && links.length ? links : null,
      Aliases: e.aliases.length ? e.aliases : null,
      MacAddress: e.macAddress,
      NetworkID: e.networkId,
      EndpointID: e.endpointId,
      Gateway: e.gateway,
      IPAddress: e.ipAddress,
      IPPrefixLen: e.ipPrefixLen,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      DNSNames: null,
    };
  }
  if (mode === 'host' || mode === 'none') networks[mode] = { IPAMConfig: null, Links: null, Aliases: null, MacAddress: '', NetworkID: '', EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DNSNames: null };
  const first = s?.endpoints[0];
  return {
    Bridge: '',
    SandboxID: s ? s.containerId : '',
    SandboxKey: s?.sandboxKey ?? '',
    Ports: ports,
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: first?.endpointId ?? '',
    Gateway: first?.gateway ?? '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: first?.ipAddress ?? '',
    IPPrefixLen: first?.ipPrefixLen ?? 0,
    IPv6Gateway: '',
    MacAddress: first?.macAddress ?? '',
    Networks: networks,
  };
}
