// Published ports: Docker's `-p [ip:][hostPort:]containerPort[/proto]` (with ranges), `--expose`
// and the image's EXPOSE, as data. Pure: the client parses with these, berthd reads the same
// shapes back from the container's run config (HostConfig.PortBindings, Config.ExposedPorts)
// and turns them into the portmap plugin's `portMappings` (port-allocator.ts picks host ports
// left open).

import { formatIPv4, parseIPv4 } from './ipv4';

export type Protocol = 'tcp' | 'udp' | 'sctp';
export const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'sctp'];

/** Docker's PortBinding: HostIp '' means every address; HostPort '' means "choose one", "A-B" one of a range. */
export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

/** Docker's HostConfig.PortBindings: "80/tcp" → bindings. */
export type PortBindings = Record<string, PortBinding[]>;

/** A mapping as published: what the portmap plugin is given and `berth port` shows. */
export interface PortMapping {
  hostIP: string;
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
}

/** "80/tcp" → { port, protocol }; undefined when malformed. */
export function parsePortKey(key: string): { port: number; protocol: Protocol } | undefined {
  const m = /^(\d{1,5})(?:\/([a-z]+))?$/.exec(key);
  if (!m) return undefined;
  const port = Number(m[1]);
  const protocol = (m[2] ?? 'tcp') as Protocol;
  if (port < 1 || port > 65535 || !PROTOCOLS.includes(protocol)) return undefined;
  return { port, protocol };
}

export const portKey = (port: number, protocol: Protocol): string => `${port}/${protocol}`;

function parseRange(s: string): [number, number] | undefined {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 1 || b > 65535 || b < a) return undefined;
  return [a, b];
}

/**
 * One `-p` value → PortBindings entries (Docker's nat.ParsePortSpec). Throws Error with
 * Docker's wording: "invalid containerPort: x", "invalid hostPort: x", "invalid IP address: x",
 * "invalid proto: x", ranges of different lengths.
 */
export function parsePublish(spec: string): { key: string; binding: PortBinding }[] {
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash !== -1) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
  }
  if (!PROTOCOLS.includes(proto as Protocol)) throw new Error(`invalid proto: ${proto}`);
  if (rest.startsWith('[')) throw new Error(`invalid IP address: ${rest.slice(0, rest.indexOf(']') + 1)}: IPv6 is not supported by berth's networks yet`);
  const parts = rest.split(':');
  if (parts.length > 3) throw new Error(`invalid port format: ${spec} (want [ip:][hostPort:]containerPort[/proto])`);
  const containerPart = parts.at(-1)!;
  const hostPart = parts.length >= 2 ? parts.at(-2)! : '';
  const ip = parts.length === 3 ? parts[0]! : '';
  if (ip !== '' && parseIPv4(ip) === undefined) throw new Error(`invalid IP address: ${ip}`);
  const container = parseRange(containerPart);
  if (!container) throw new Error(`invalid containerPort: ${containerPart}`);
  let host: [number, number] | undefined;
  if (hostPart !== '') {
    host = parseRange(hostPart);
    if (!host) throw new Error(`invalid hostPort: ${hostPart}`);
  }
  const count = container[1] - container[0] + 1;
  const hostCount = host ? host[1] - host[0] + 1 : 0;
  // A host range with one container port: any one port of the range (Docker's rule).
  if (host && hostCount !== count && count !== 1) {
    throw new Error(`invalid ranges specified for container and host ports: ${containerPart} and ${hostPart}`);
  }
  const hostIp = ip === '' ? '' : formatIPv4(parseIPv4(ip)!);
  const out: { key: string; binding: PortBinding }[] = [];
  for (let i = 0; i < count; i++) {
    let hostPort = '';
    if (host) hostPort = count === 1 && hostCount > 1 ? `${host[0]}-${host[1]}` : String(host[0] + i);
    out.push({ key: portKey(container[0] + i, proto as Protocol), binding: { HostIp: hostIp, HostPort: hostPort } });
  }
  return out;
}

/** `--expose 80`, `--expose 7000-7002/udp` → "80/tcp" keys. */
export function parseExpose(spec: string): string[] {
  const [portPart, proto = 'tcp'] = spec.split('/') as [string, string?];
  if (!PROTOCOLS.includes(proto.toLowerCase() as Protocol)) throw new Error(`invalid proto: ${proto}`);
  const r = parseRange(portPart);
  if (!r) throw new Error(`invalid range format for --expose: ${spec}`);
  const out: string[] = [];
  for (let p = r[0]; p <= r[1]; p++) out.push(portKey(p, proto.toLowerCase() as Protocol));
  return out;
}

/** Adds `-p` values to a PortBindings map, in order (several bindings of one port are kept). */
export function addPublished(bindings: PortBindings, specs: string[]): PortBindings {
  for (const s of specs) {
    for (const { key, binding } of parsePublish(s)) (bindings[key] ??= []).push(binding);
  }
  return bindings;
}

/** What is to be published: -p's bindings, and with -P every exposed port not bound already. */
export function wantedBindings(bindings: PortBindings | undefined, exposed: string[] | undefined, publishAll: boolean): { key: string; binding: PortBinding }[] {
  const out: { key: string; binding: PortBinding }[] = [];
  for (const [key, list] of Object.entries(bindings ?? {})) for (const b of list) out.push({ key, binding: b });
  if (publishAll) {
    for (const key of exposed ?? []) if (!bindings?.[key]?.length) out.push({ key, binding: { HostIp: '', HostPort: '' } });
  }
  return out;
}

/** Docker's `ps` PORTS text: "0.0.0.0:8080->80/tcp, 53/udp" (unpublished exposed ports bare; consecutive runs joined). */
export function portsSummary(mappings: PortMapping[], exposed: string[] = []): string {
  const items: { text: string; key: string; sort: number }[] = [];
  const published = new Set(mappings.map((m) => portKey(m.containerPort, m.protocol)));
  // Ranges: consecutive container ports mapped to consecutive host ports on one address.
  const sorted = [...mappings].sort((a, b) => a.hostIP.localeCompare(b.hostIP) || a.protocol.localeCompare(b.protocol) || a.containerPort - b.containerPort);
  for (let i = 0; i < sorted.length; ) {
    const first = sorted[i]!;
    let j = i;
    while (
      j + 1 < sorted.length &&
      sorted[j + 1]!.hostIP === first.hostIP &&
      sorted[j + 1]!.protocol === first.protocol &&
      sorted[j + 1]!.containerPort === sorted[j]!.containerPort + 1 &&
      sorted[j + 1]!.hostPort === sorted[j]!.hostPort + 1
    )
      j++;
    const lastM = sorted[j]!;
    const ip = first.hostIP || '0.0.0.0';
    const host = j > i ? `${first.hostPort}-${lastM.hostPort}` : `${first.hostPort}`;
    const ctr = j > i ? `${first.containerPort}-${lastM.containerPort}` : `${first.containerPort}`;
    items.push({ text: `${ip}:${host}->${ctr}/${first.protocol}`, key: first.protocol, sort: first.containerPort });
    i = j + 1;
  }
  for (const key of exposed) {
    if (published.has(key)) continue;
    const k = parsePortKey(key);
    if (k) items.push({ text: `${k.port}/${k.protocol}`, key: k.protocol, sort: k.port });
  }
  return items
    .sort((a, b) => a.sort - b.sort || a.key.localeCompare(b.key))
    .map((i) => i.text)
    .join(', ');
}
