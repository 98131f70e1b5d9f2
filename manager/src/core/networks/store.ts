// berth's networks on disk: for each network, <dir>/<name>.json (the record: what `network
// inspect` shows and what the conflist is made from) and <dir>/<name>.conflist (the CNI
// configuration list made from it, rewritten whenever it is missing).
//
// Files rather than LMDB (core/metadata): networks are host-wide, not per containerd
// namespace (a bridge name, a subnet and iptables rules are the host's, as Docker's and
// nerdctl's networks are), while meta.lmdb's tree is rooted in namespaces; the conflist has to
// be a file anyway (it is CNI's format: `cnitool` and an operator read it), and so are
// host-local's leases and the CNI result cache next to it — one directory holds all of a
// network's state. Writes are rare and made by the one berthd of this root (its pid lock),
// one at a time (NetworkManager's lock); a record is written beside and renamed into place,
// and created with O_EXCL so a name is never taken twice.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { invalidArgument, notFound } from '../errors';
import { conflistOf } from './conflist';
import { ipamOf, parseCidr } from './ipv4';
import type { NetConfList } from './cni';

export interface NetworkRecord {
  /** 64 hex digits. */
  id: string;
  name: string;
  driver: 'bridge';
  /** RFC 3339. */
  created: string;
  labels: Record<string, string>;
  internal: boolean;
  subnet: string;
  gateway: string;
  /** '' when addresses come from the whole subnet. */
  ipRange: string;
  /** The Linux bridge's name. */
  bridge: string;
  /** The default network ("bridge"): made by berthd, never removed. */
  builtin: boolean;
}

/** Docker's rule for network names (also a valid CNI network name). */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function validateNetworkName(name: string): void {
  if (!NAME.test(name) || name.length > 128) throw invalidArgument(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed (at most 128 characters)`);
}

/** Linux interface names: 1–15 bytes, no '/', ':' or whitespace. */
export function validateBridgeName(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw invalidArgument(`invalid bridge name "${name}": 1 to 15 characters of [A-Za-z0-9_.-]`);
}

export class NetworkStore {
  constructor(
    /** <root>/networks */
    readonly dir: string,
    /** host-local's dataDir. */
    readonly ipamDir: string,
  ) {}

  private recordPath(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  conflistPath(name: string): string {
    return join(this.dir, `${name}.conflist`);
  }

  async list(): Promise<NetworkRecord[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return [];
    }
    const out: NetworkRecord[] = [];
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(await fs.readFile(join(this.dir, n), 'utf8')) as NetworkRecord);
      } catch {
        // removed meanwhile, or a half-written temp file's leftover: not a network
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** By full id, exact name, or unique id prefix (Docker's order). NotFound otherwise. */
  async get(ref: string): Promise<NetworkRecord> {
    const all = await this.list();
    const found = all.find((n) => n.id === ref) ?? all.find((n) => n.name === ref);
    if (found) return found;
    if (/^[0-9a-f]+$/.test(ref)) {
      const byPrefix = all.filter((n) => n.id.startsWith(ref));
      if (byPrefix.length === 1) return byPrefix[0]!;
      if (byPrefix.length > 1) throw invalidArgument(`network ${ref} is ambiguous (${byPrefix.length} matches found based on ID prefix)`);
    }
    throw notFound(`network ${ref} not found`);
  }

  async find(ref: string): Promise<NetworkRecord | undefined> {
    try {
      return await this.get(ref);
    } catch {
      return undefined;
    }
  }

  /** The network's conflist (from its record). */
  conflist(rec: NetworkRecord): NetConfList {
    return conflistOf(
      { name: rec.name, bridge: rec.bridge, internal: rec.internal, ipam: ipamOf(parseCidr(rec.subnet, 'subnet'), rec.gateway, rec.ipRange || undefined) },
      this.ipamDir,
    );
  }

  /** Writes a new network (AlreadyExists-like InvalidArgument when the name is taken). */
  async create(rec: NetworkRecord): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    try {
      await fs.writeFile(this.recordPath(rec.name), JSON.stringify(rec, null, 2) + '\n', { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw invalidArgument(`network with name ${rec.name} already exists`);
      throw err;
    }
    await this.writeConflist(rec);
  }

  /** Replaces a record (the default network when berthd's config changed it). */
  async replace(rec: NetworkRecord): Promise<void> {
    const tmp = `${this.recordPath(rec.name)}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
    await fs.rename(tmp, this.recordPath(rec.name));
    await this.writeConflist(rec);
  }

  async writeConflist(rec: NetworkRecord): Promise<void> {
    const path = this.conflistPath(rec.name);
    await fs.writeFile(`${path}.tmp`, JSON.stringify(this.conflist(rec), null, 2) + '\n', { mode: 0o600 });
    await fs.rename(`${path}.tmp`, path);
  }

  /** Removes the record, its conflist and host-local's directory of the network. */
  async remove(rec: NetworkRecord): Promise<void> {
    await fs.rm(this.conflistPath(rec.name), { force: true });
    await fs.rm(this.recordPath(rec.name), { force: true });
    await fs.rm(join(this.ipamDir, rec.name), { recursive: true, force: true });
  }
}
