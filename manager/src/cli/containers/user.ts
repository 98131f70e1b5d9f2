// `-u name[:group]` (and an image's User) as uid/gid, as Docker resolves it: numbers are taken
// as they are; names are looked up in /etc/passwd and /etc/group. The client has no access to
// a container's files, so they come from berthd: for `run`/`create`, the image's layers (the
// container's writable layer is empty at create), top layer first, through the content store;
// for `exec`, the running container's own files through berth.files.v1 (a user added since
// its start is found). Nothing is mounted on the client's side.

import type { Daemon } from '../daemon';
import { CliError, grpcCode, NOT_FOUND } from '../errors';
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

/** The two files a name is looked up in; absent when the filesystem has no such file. */
export interface EtcFiles {
  passwd?: string;
  group?: string;
}

/** Reads the files only when a name must be looked up (numbers alone need none). */
export type EtcFilesReader = () => Promise<EtcFiles>;

/** /etc/passwd and /etc/group as the image has them (the topmost layer that has each, or deletes it). */
export const imageEtcFiles = (d: Daemon, layers: Descriptor[]): EtcFilesReader => () => readEtcFiles(d, layers);

async function readEtcFiles(d: Daemon, layers: Descriptor[]): Promise<EtcFiles> {
  const found: EtcFiles = {};
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


/** One file of a container as it is now (berth.files.v1 CopyFrom's tar); undefined when absent. */
async function containerFile(d: Daemon, containerId: string, path: string): Promise<string | undefined> {
  const stream = d.files.CopyFrom({ containerId, path });
  try {
    for await (const entry of readTar((async function* () {
      for await (const msg of stream as AsyncIterable<{ data: Buffer }>) yield msg.data;
    })())) {
      if (entry.header.type !== 'file') continue;
      const chunks: Buffer[] = [];
      for await (const c of entry.body) chunks.push(c);
      return Buffer.concat(chunks).toString('utf8');
    }
    return undefined;
  } catch (err) {
    if (grpcCode(err) === NOT_FOUND) return undefined;
    throw err;
  } finally {
    stream.cancel();
  }
}

/** A container's /etc/passwd and /etc/group as its processes see them now (for exec). */
export const containerEtcFiles = (d: Daemon, containerId: string): EtcFilesReader => async () => {
  const [passwd, group] = await Promise.all([containerFile(d, containerId, '/etc/passwd'), containerFile(d, containerId, '/etc/group')]);
  return { ...(passwd !== undefined ? { passwd } : {}), ...(group !== undefined ? { group } : {}) };
};

const isNumber = (s: string): boolean => /^\d+$/.test(s);

/**
 * A user's home directory in a passwd file, looked up by name or by uid (the first entry with
 * it), as runc does to set HOME; "/" when there is no such entry (runc's default).
 */
export function passwdHome(passwd: string | undefined, who: { name: string } | { uid: number }): string {
  const entries = (passwd ?? '').split('\n').map((l) => l.split(':')).filter((f) => f.length >= 7);
  const entry = entries.find((f) => ('name' in who ? f[0] === who.name : f[2] === String(who.uid)));
  return entry?.[5] || '/';
}

export async function resolveUser(user: string, readFiles: EtcFilesReader): Promise<ResolvedUser> {
  const [u = '', g] = user.split(':', 2);
  if ((u === '' || isNumber(u)) && (g === undefined || isNumber(g))) {
    const uid = u === '' ? 0 : Number(u);
    // A numeric user still gets its primary group from passwd in Docker; without a name lookup, gid = the given or 0.
    if (g !== undefined || uid === 0) return { uid, gid: g === undefined ? 0 : Number(g), additionalGids: [] };
  }
  const files = await readFiles();
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
