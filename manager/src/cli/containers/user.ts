// `-u name[:group]` (and an image's User) as uid/gid, as Docker resolves it: numbers are taken
// as they are; names are looked up in the image's /etc/passwd and /etc/group. The files are
// read from the image's layers (the container's writable layer is empty at create), top layer
// first, through the content store — nothing is mounted on the client's side.

import type { Daemon } from '../daemon';
import { CliError } from '../errors';
import { readBlobStream } from '../images/content';
import { decompress } from '../../core/diff/compression';
import { readTar } from '../../core/diff/tar';
import type { Descriptor } from '../../core/images';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

const WANTED = new Set(['etc/passwd', 'etc/group']);
const normalize = (name: string): string => name.replace(/^\.?\/+/, '').replace(/\/+$/, '');

/** /etc/passwd and /etc/group as the image has them (the topmost layer that has each, or deletes it). */
async function readEtcFiles(d: Daemon, layers: Descriptor[]): Promise<{ passwd?: string; group?: string }> {
  const found: { passwd?: string; group?: string } = {};
  const settled = new Set<string>();
  for (const layer of [...layers].reverse()) {
    for await (const entry of readTar(decompress(readBlobStream(d, layer), layer.mediaType))) {
      const name = normalize(entry.header.name);
      const base = name.slice(name.lastIndexOf('/') + 1);
      const dir = name.slice(0, name.lastIndexOf('/') + 1);
      if (base.startsWith('.wh.') && WANTED.has(dir + base.slice(4))) {
        settled.add(dir + base.slice(4));
        continue;
      }
      if (!WANTED.has(name) || settled.has(name)) continue;
      settled.add(name);
      if (entry.header.type !== 'file') continue;
      const chunks: Buffer[] = [];
      for await (const c of entry.body) chunks.push(c);
      found[name === 'etc/passwd' ? 'passwd' : 'group'] = Buffer.concat(chunks).toString('utf8');
    }
    if (settled.size === WANTED.size) break;
  }
  return found;
}

const isNumber = (s: string): boolean => /^\d+$/.test(s);

export async function resolveUser(d: Daemon, user: string, layers: Descriptor[]): Promise<ResolvedUser> {
  const [u = '', g] = user.split(':', 2);
  if ((u === '' || isNumber(u)) && (g === undefined || isNumber(g))) {
    const uid = u === '' ? 0 : Number(u);
    // A numeric user still gets its primary group from passwd in Docker; without a name lookup, gid = the given or 0.
    if (g !== undefined || uid === 0) return { uid, gid: g === undefined ? 0 : Number(g), additionalGids: [] };
  }
  const files = await readEtcFiles(d, layers);
  const passwd = (files.passwd ?? '').split('\n').map((l) => l.split(':')).filter((f) => f.length >= 7);
  const groups = (files.group ?? '').split('\n').map((l) => l.split(':')).filter((f) => f.length >= 4);
  let uid: number;
  let gid: number;
  let userName: string | undefined;
  if (u === '') {
    uid = 0;
    gid = 0;
  } else {
    const entry = passwd.find((f) => (isNumber(u) ? f[2] === u : f[0] === u));
    if (!entry && !isNumber(u)) throw new CliError(`unable to find user ${u}: no matching entries in passwd file`);
    uid = isNumber(u) ? Number(u) : Number(entry![2]);
    gid = entry ? Number(entry[3]) : 0;
    userName = entry?.[0];
  }
  if (g !== undefined) {
    const entry = groups.find((f) => (isNumber(g) ? f[2] === g : f[0] === g));
    if (!entry && !isNumber(g)) throw new CliError(`unable to find group ${g}: no matching entries in group file`);
    gid = isNumber(g) ? Number(g) : Number(entry![2]);
  }
  const additionalGids = userName === undefined ? [] : groups.filter((f) => f[3]!.split(',').includes(userName!)).map((f) => Number(f[2])).filter((n) => n !== gid);
  return { uid, gid, additionalGids };
}
