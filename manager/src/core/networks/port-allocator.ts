// Host ports for published container ports. portmap publishes with DNAT rules, which hold no
// socket, so berthd itself makes sure a host port is free before handing it out: not
// published by another berth container on an overlapping address (Docker's "port is already
// allocated"), and bindable right now (nothing on the host listens there). A port left open
// (`-p 80`, `-P`) or given as a range (`-p 8000-8010:80`) is the first such port from the
// kernel's ephemeral range (ip_local_port_range, Docker's choice too) or from the range,
// starting after the one handed out last so that a freed port is not reused at once.

import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import { conflict, invalidArgument } from '../errors';
import { parsePortKey, type PortBinding, type PortMapping, type Protocol } from './ports';

export function ephemeralRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): [number, number] {
  try {
    const [a, b] = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    if (a && b && a <= b) return [a, b];
  } catch {
    // not Linux, or no procfs: Docker's defaults
  }
  return [32768, 60999];
}

/** Whether two published ports would catch the same packets. */
function clash(a: PortMapping, b: { hostIP: string; hostPort: number; protocol: Protocol }): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIP === b.hostIP || a.hostIP === '' || b.hostIP === '');
}

/** Whether a socket can be bound on ip:port right now (then closed at once): true, or why not (an errno code). */
export function bindable(hostIP: string, port: number, protocol: Protocol): Promise<true | string> {
  const host = hostIP || '0.0.0.0';
  const why = (err: NodeJS.ErrnoException) => err.code ?? 'EADDRINUSE';
  if (protocol === 'udp') {
    return new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', (err) => {
        s.close();
        resolve(why(err));
      });
      s.bind({ address: host, port, exclusive: true }, () => s.close(() => resolve(true)));
    });
  }
  // tcp (and sctp, which Node cannot bind: a TCP probe is the best guess there)
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (err) => resolve(why(err)));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export class PortAllocator {
  private cursor: number;

  constructor(
    private readonly range: [number, number] = ephemeralRange(),
    private readonly probe: typeof bindable = bindable,
  ) {
    this.cursor = range[0] + Math.floor(Math.random() * (range[1] - range[0] + 1));
  }

  /**
   * Host ports for `wanted` ("80/tcp" + Docker's PortBinding), given what is published already
   * (`inUse`). Conflict when an explicit port is taken, InvalidArgument for a bad binding.
   */
  async allocate(wanted: { key: string; binding: PortBinding }[], inUse: PortMapping[]): Promise<PortMapping[]> {
    const taken = [...inUse];
    const out: PortMapping[] = [];
    for (const { key, binding } of wanted) {
      const k = parsePortKey(key);
      if (!k) throw invalidArgument(`invalid port ${JSON.stringify(key)} (want PORT/PROTO)`);
      const hostIP = binding.HostIp === '0.0.0.0' ? '' : binding.HostIp;
      const m = /^(\d+)(?:-(\d+))?$/.exec(binding.HostPort);
      if (binding.HostPort !== '' && !m) throw invalidArgument(`invalid host port ${JSON.stringify(binding.HostPort)} for ${key}`);
      let hostPort: number;
      if (m && m[2] === undefined) {
        hostPort = Number(m[1]);
        const shown = `${hostIP || '0.0.0.0'}:${hostPort}`;
        if (taken.some((t) => clash(t, { hostIP, hostPort, protocol: k.protocol }))) throw conflict(`Bind for ${shown} failed: port is already allocated`);
        const probe = await this.probe(hostIP, hostPort, k.protocol);
        if (probe === 'EADDRNOTAVAIL') throw invalidArgument(`Bind for ${shown} failed: cannot assign requested address (${hostIP} is not an address of this host)`);
        if (probe !== true) throw conflict(`Bind for ${shown} failed: address already in use (something on the host listens there)`);
      } else {
        const [lo, hi] = m ? [Number(m[1]), Number(m[2])] : this.range;
        hostPort = await this.free(hostIP, k.protocol, lo, hi, taken, !m);
      }
      const mapping: PortMapping = { hostIP, hostPort, containerPort: k.port, protocol: k.protocol };
      taken.push(mapping);
      out.push(mapping);
    }
    return out;
  }

  private async free(hostIP: string, protocol: Protocol, lo: number, hi: number, taken: PortMapping[], rotate: boolean): Promise<number> {
    const n = hi - lo + 1;
    const start = rotate ? this.cursor : lo;
    for (let i = 0; i < n; i++) {
      const port = lo + ((start - lo + i) % n);
      if (taken.some((t) => clash(t, { hostIP, hostPort: port, protocol }))) continue;
      const probe = await this.probe(hostIP, port, protocol);
      if (probe === 'EADDRNOTAVAIL') throw invalidArgument(`Bind for ${hostIP}:${port} failed: cannot assign requested address (${hostIP} is not an address of this host)`);
      if (probe !== true) continue;
      if (rotate) this.cursor = port + 1 > hi ? lo : port + 1;
      return port;
    }
    throw conflict(`no free host port for ${protocol} in ${lo}-${hi} on ${hostIP || '0.0.0.0'}`);
  }
}
