// IPv4 addresses and subnets as numbers: parsing and checking what `network create --subnet
// --gateway --ip-range` and `run --ip` are given, overlap tests, and choosing a free subnet
// for a network created without one (Docker's default address pools, minus the host's routes
// and the subnets berth's networks already use). IPv6 is not handled: berth's networks are
// IPv4 only for now.

import { readFileSync } from 'node:fs';
import { invalidArgument } from '../errors';

/** A subnet: `base` is the network address (host bits zero), `prefix` its length. */
export interface Cidr {
  base: number;
  prefix: number;
}

/** The address as an unsigned 32-bit number, or undefined when `s` is not dotted-quad IPv4. */
export function parseIPv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255 || (m[i]!.length > 1 && m[i]!.startsWith('0'))) return undefined;
    n = n * 256 + octet;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "10.1.0.0/16" → Cidr. `field` names the option in errors; host bits must be zero, as Docker requires. */
export function parseCidr(s: string, field: string): Cidr {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim());
  const ip = m ? parseIPv4(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 0 && prefix <= 32)) throw invalidArgument(`${field}: invalid CIDR address: ${s} (want an IPv4 subnet such as 172.20.0.0/16)`);
  const base = (ip & maskOf(prefix)) >>> 0;
  if (base !== ip) throw invalidArgument(`${field}: invalid subnet ${s}: it should be ${formatIPv4(base)}/${prefix}`);
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.base)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function last(c: Cidr): number {
  return c.base + size(c) - 1;
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.base;
}

/** Whether `inner` lies wholly inside `outer`. */
export function within(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.base);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a, b.base) || contains(b, a.base);
}

/**
 * The IPv4 routes of the host's main table (/proc/net/route), without default routes (every
 * subnet "overlaps" 0.0.0.0/0; Docker ignores it the same way).
 */
export function hostRoutes(file = '/proc/net/route'): Cidr[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: Cidr[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    // Destination and Mask are hex of the address in host (little-endian) byte order.
    const dest = swap(parseInt(f[1]!, 16));
    const mask = swap(parseInt(f[7]!, 16));
    if (mask === 0) continue;
    const prefix = 32 - Math.log2(((~mask) >>> 0) + 1);
    if (!Number.isInteger(prefix)) continue;
    out.push({ base: (dest & mask) >>> 0, prefix });
  }
  return out;
}

function swap(n: number): number {
  return (((n & 255) << 24) | (((n >>> 8) & 255) << 16) | (((n >>> 16) & 255) << 8) | (n >>> 24)) >>> 0;
}

/** A pool subnets are cut from: `base` split into subnets of `size` bits of prefix. */
export interface AddressPool {
  base: string;
  size: number;
}

/** Docker's default address pools: 172.17–31.x/16, then 192.168.x.0/20. */
export const DEFAULT_POOLS: AddressPool[] = [
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/15', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/13', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
];

/** The first subnet of the pools that overlaps none of `taken`; undefined when all are. */
export function pickSubnet(pools: AddressPool[], taken: Cidr[]): Cidr | undefined {
  for (const pool of pools) {
    const p = parseCidr(pool.base, 'address pool');
    if (pool.size < p.prefix || pool.size > 30) throw invalidArgument(`address pool ${pool.base}: size ${pool.size} must be between ${p.prefix} and 30`);
    const step = 2 ** (32 - pool.size);
    for (let base = p.base; base <= last(p); base += step) {
      const c = { base, prefix: pool.size };
      if (!taken.some((t) => overlaps(t, c))) return c;
    }
  }
  return undefined;
}

/** What a network's IPAM is given: subnet, gateway, and the range addresses are taken from. */
export interface Ipam {
  subnet: Cidr;
  gateway: number;
  /** --ip-range: the part of the subnet containers' addresses come from (default: all of it). */
  range?: Cidr;
}

/**
 * Checks and completes `network create`'s --subnet/--gateway/--ip-range as Docker does: the
 * gateway defaults to the subnet's first address and must be inside it (neither the network
 * nor the broadcast address); the range must lie inside the subnet.
 */
export function ipamOf(subnet: Cidr, gateway?: string, ipRange?: string): Ipam {
  if (subnet.prefix > 30) throw invalidArgument(`subnet ${formatCidr(subnet)}: too small for containers (at most /30)`);
  let gw = subnet.base + 1;
  if (gateway) {
    const g = parseIPv4(gateway);
    if (g === undefined) throw invalidArgument(`gateway: invalid IPv4 address: ${gateway}`);
    if (!contains(subnet, g) || g === subnet.base || g === last(subnet)) throw invalidArgument(`gateway: ${gateway} is not a usable address of subnet ${formatCidr(subnet)}`);
    gw = g;
  }
  const out: Ipam = { subnet, gateway: gw };
  if (ipRange) {
    const r = parseCidr(ipRange, 'ip-range');
    if (!within(r, subnet)) throw invalidArgument(`ip-range: ${ipRange} is not inside subnet ${formatCidr(subnet)}`);
    out.range = r;
  }
  return out;
}

/**
 * host-local's range for an Ipam: the usable addresses of --ip-range (or of the subnet),
 * never the subnet's network or broadcast address. host-local skips the gateway itself.
 */
export function rangeBounds(ipam: Ipam): { start: number; end: number } {
  const r = ipam.range ?? ipam.subnet;
  const start = Math.max(r.base, ipam.subnet.base + 1);
  const end = Math.min(last(r), last(ipam.subnet) - 1);
  return { start, end };
}
