// The name server of a user-defined network (Docker's embedded DNS, placed differently): a UDP
// socket on the network's gateway address, port 53 — the address the bridge has on the host,
// which every container of the network reaches and which its /etc/resolv.conf names.
//
//   - A queries for a name the network knows (a container's name, its network aliases, its
//     short id) get the containers' addresses on this network; AAAA for such a name gets an
//     empty answer (IPv4 only), never a forward that could give an outside address for it;
//   - PTR queries for a container's address get its name;
//   - everything else is forwarded unchanged to the asking container's --dns servers, else the
//     host's resolvers (berthd runs on the host, so loopback ones such as systemd-resolved's
//     127.0.0.53 work too), one after another with a 2 s wait each; SERVFAIL when none answers.
//
// The lookups are the caller's (NetworkManager keeps the tables); this module is the socket
// and the protocol.

import * as dgram from 'node:dgram';
import { RCODE_FORMERR, RCODE_NOERROR, RCODE_SERVFAIL, TYPE_A, TYPE_AAAA, TYPE_PTR, buildReply, parseQuery, reverseName, type Answer } from './dns-message';

export interface DnsLookups {
  /** The addresses of `name` as the container at `source` sees them (empty: not ours). */
  addresses(name: string, source: string): string[];
  /** The name of the container with `ip`. */
  nameOf(ip: string): string | undefined;
  /** Where to forward a query from `source` that is not ours. */
  upstreams(source: string): string[];
}

export interface DnsServerOptions {
  address: string;
  port?: number;
  lookups: DnsLookups;
  /** How long to wait for one upstream server (ms). */
  forwardTimeoutMs?: number;
  log?: { debug(o: object, m: string): void; warn(o: object, m: string): void };
}

/** Docker's TTL for container names. */
const TTL = 600;

export class DnsServer {
  private socket?: dgram.Socket;

  constructor(private readonly opts: DnsServerOptions) {}

  get address(): string {
    return this.opts.address;
  }

  /** The bound port (53 unless the options said otherwise; a test may bind 0). */
  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  async start(): Promise<void> {
    const socket = dgram.createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: this.opts.address, port: this.opts.port ?? 53, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (err) => this.opts.log?.warn({ err, address: this.opts.address }, 'dns: socket error'));
    socket.on('message', (msg, rinfo) => void this.handle(msg, rinfo).catch((err: Error) => this.opts.log?.warn({ err }, 'dns: answering failed')));
    this.socket = socket;
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }

  private reply(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    this.socket?.send(buf, rinfo.port, rinfo.address);
  }

  private async handle(msg: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    const q = parseQuery(msg);
    if (!q) {
      // Answer FORMERR when there is at least an id to answer to.
      if (msg.length >= 12 && !(msg.readUInt16BE(2) & 0x8000)) {
        const h = Buffer.alloc(12);
        h.writeUInt16BE(msg.readUInt16BE(0), 0);
        h.writeUInt16BE(0x8000 | RCODE_FORMERR, 2);
        this.reply(h, rinfo);
      }
      return;
    }
    const { lookups } = this.opts;
    if (q.type === TYPE_A || q.type === TYPE_AAAA) {
      const ips = lookups.addresses(q.name, rinfo.address);
      if (ips.length) {
        const answers: Answer[] = q.type === TYPE_A ? ips.map((ip) => ({ type: TYPE_A, ttl: TTL, data: ip })) : [];
        this.reply(buildReply(msg, q, RCODE_NOERROR, answers), rinfo);
        return;
      }
    } else if (q.type === TYPE_PTR) {
      const ip = reverseName(q.name);
      const name = ip ? lookups.nameOf(ip) : undefined;
      if (name) {
        this.reply(buildReply(msg, q, RCODE_NOERROR, [{ type: TYPE_PTR, ttl: TTL, data: name }]), rinfo);
        return;
      }
    }
    const answer = await this.forward(msg, lookups.upstreams(rinfo.address));
    this.reply(answer ?? buildReply(msg, q, RCODE_SERVFAIL), rinfo);
  }

  /** The first upstream's reply to `msg`, or undefined when none answered in time. */
  private async forward(msg: Buffer, servers: string[]): Promise<Buffer | undefined> {
    const id = msg.readUInt16BE(0);
    for (const upstream of servers) {
      // "1.2.3.4" or "1.2.3.4:5353" (tests run an upstream on a high port).
      const m = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(upstream);
      const server = m ? m[1]! : upstream;
      const port = m ? Number(m[2]) : 53;
      const answer = await new Promise<Buffer | undefined>((resolve) => {
        const s = dgram.createSocket(server.includes(':') ? 'udp6' : 'udp4');
        const done = (b: Buffer | undefined) => {
          clearTimeout(timer);
          s.close();
          resolve(b);
        };
        const timer = setTimeout(() => done(undefined), this.opts.forwardTimeoutMs ?? 2000);
        s.on('error', () => done(undefined));
        s.on('message', (b) => {
          if (b.length >= 12 && b.readUInt16BE(0) === id) done(b);
        });
        s.send(msg, port, server, (err) => err && done(undefined));
      });
      if (answer) return answer;
      this.opts.log?.debug({ server: upstream }, 'dns: upstream did not answer');
    }
    return undefined;
  }
}
