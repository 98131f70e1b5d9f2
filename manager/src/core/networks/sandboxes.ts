// What berthd knows about a container's networking (Docker's NetworkSettings, and what it needs
// to undo it): its network namespace, its endpoints (one per network, eth0 first) with the
// addresses CNI gave, the ports it publishes. One JSON file per container under
// <root>/networks/containers/<namespace>/<id>.json, kept on the persistent root: after a
// reboot the namespaces are gone but host-local's leases are not, and this record (with the
// CNI result cache) is how they are given back or the container set up again.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { PortBinding, PortMapping } from './ports';

export interface EndpointRecord {
  network: string;
  networkId: string;
  /** Docker's EndpointID: 64 random hex digits. */
  endpointId: string;
  ifname: string;
  aliases: string[];
  /** --ip / `network connect --ip` ('' when host-local chose). */
  requestedIp: string;
  /** From the CNI result ('' until ADD answered). */
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
}

export interface SandboxRecord {
  namespace: string;
  containerId: string;
  /** The container's name and hostname (DNS names, /etc/hosts). */
  name: string;
  hostname: string;
  /** The bind-mounted network namespace (Docker's SandboxKey). */
  netns: string;
  /** --dns: where the network's name server forwards this container's other queries. */
  dns: string[];
  /** What -p/-P asked for, kept to publish the same again after a reboot. */
  wanted: { key: string; binding: PortBinding }[];
  /** What is published (through the first endpoint). */
  ports: PortMapping[];
  endpoints: EndpointRecord[];
}

export class SandboxStore {
  constructor(
    /** <root>/networks/containers */
    readonly dir: string,
  ) {}

  private path(ns: string, id: string): string {
    return join(this.dir, ns, `${id}.json`);
  }

  async loadAll(): Promise<SandboxRecord[]> {
    const out: SandboxRecord[] = [];
    let namespaces: string[];
    try {
      namespaces = await fs.readdir(this.dir);
    } catch {
      return out;
    }
    for (const ns of namespaces) {
      let files: string[];
      try {
        files = await fs.readdir(join(this.dir, ns));
      } catch {
        continue;
      }
      for (const f of files.filter((x) => x.endsWith('.json'))) {
        try {
          out.push(JSON.parse(await fs.readFile(join(this.dir, ns, f), 'utf8')) as SandboxRecord);
        } catch {
          // a torn write cannot happen (rename), so this is not ours: leave it
        }
      }
    }
    return out;
  }

  async write(rec: SandboxRecord): Promise<void> {
    const path = this.path(rec.namespace, rec.containerId);
    await fs.mkdir(join(this.dir, rec.namespace), { recursive: true, mode: 0o700 });
    await fs.writeFile(`${path}.tmp`, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
    await fs.rename(`${path}.tmp`, path);
  }

  async remove(ns: string, id: string): Promise<void> {
    // The namespace's directory stays: removing it when empty would race with another
    // container's write between its mkdir and its file.
    await fs.rm(this.path(ns, id), { force: true });
  }
}
