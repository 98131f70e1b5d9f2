// berth cp, the work: both directions over berth.files.v1 (berthd reads and writes the
// container's rootfs, core/files); the host side here. Tars are streamed, never held whole.
//   from a container: Stat (and, with -L, the link's target), CopyFrom's tar rebased by
//     plan.ts and extracted confined to the chosen directory — owned by the caller, or with
//     -a by the owners in the container; modes and times as they were; "-" writes the tar.
//   to a container: the host path packed (core/files/pack.ts), rebased by plan.ts against
//     the container's Stat of the destination, sent to CopyTo — owned by root in the
//     container, or with -a by the container's user, as Docker does; "-" sends stdin's tar
//     (which must be one) into a directory.

import { lstat, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Daemon } from '../daemon';
import { CliError, grpcCode, NOT_FOUND } from '../errors';
import { baseOf, planCopy, type CopyDestination, type CopySource } from './plan';
import { applyLayer } from '../../core/diff';
import { cleanName } from '../../core/diff/paths';
import { isGoDir, isGoSymlink, packPath, rebaseName, rewriteTar } from '../../core/files';

const INVALID_ARGUMENT = 3;
const FAILED_PRECONDITION = 9;
const MESSAGE_BYTES = 1 << 20;

export interface ContainerRef {
  id: string;
  /** As the user named it, for messages. */
  name: string;
}

interface RemoteStat {
  mode: number;
  linkTarget: string;
  size: number;
}

async function remoteStat(d: Daemon, c: ContainerRef, path: string): Promise<RemoteStat | undefined> {
  try {
    const { stat: s } = await d.files.Stat({ containerId: c.id, path });
    return s ? { mode: s.mode, linkTarget: s.linkTarget, size: s.size } : undefined;
  } catch (err) {
    if (grpcCode(err) === NOT_FOUND) return undefined;
    throw err;
  }
}

async function* remoteTar(d: Daemon, c: ContainerRef, path: string): AsyncGenerator<Buffer> {
  const stream = d.files.CopyFrom({ containerId: c.id, path });
  try {
    for await (const msg of stream as AsyncIterable<{ data: Buffer }>) yield msg.data;
  } finally {
    stream.cancel();
  }
}

/** Counts what passes (for "Successfully copied …"). */
function counting(source: AsyncIterable<Buffer>, counter: { bytes: number }): AsyncGenerator<Buffer> {
  return (async function* () {
    for await (const b of source) {
      counter.bytes += b.length;
      yield b;
    }
  })();
}

export interface CopyOptions {
  followLink: boolean;
  archive: boolean;
}

/** Copies CONTAINER:src to the host's dst ("-": the tar to `out`). Returns the bytes copied. */
export async function copyFromContainer(d: Daemon, c: ContainerRef, srcPath: string, dstPath: string, opts: CopyOptions, out: NodeJS.WritableStream): Promise<number> {
  let path = srcPath;
  let rebase: string | undefined;
  let st = await remoteStat(d, c, path);
  if (!st) throw new CliError(`Could not find the file ${srcPath} in container ${c.name}`);
  if (opts.followLink && isGoSymlink(st.mode)) {
    path = st.linkTarget;
    if (baseOf(path) !== baseOf(srcPath)) rebase = baseOf(srcPath);
    st = await remoteStat(d, c, path);
    if (!st) throw new CliError(`Could not find the file ${path} in container ${c.name} (the target of ${srcPath})`);
  }
  const counter = { bytes: 0 };
  const tar = counting(remoteTar(d, c, path), counter);
  if (dstPath === '-') {
    for await (const b of tar) if (!out.write(b)) await new Promise((r) => out.once('drain', r));
    return counter.bytes;
  }
  // the source is a directory when the stat says so, or it is a link "dir/" follows to one
  const srcIsDir = isGoDir(st.mode) || (isGoSymlink(st.mode) && /\/\.?$/.test(srcPath));
  const src: CopySource = { base: baseOf(path), isDir: srcIsDir, ...(rebase ? { rebaseName: rebase } : {}) };
  const dst = await localDestination(dstPath);
  const plan = planCopy(src, dst);
  const owner = opts.archive ? undefined : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const rewritten = rewriteTar(tar, (h) => {
    const name = rebaseName(h.name.replace(/\/$/, ''), plan.from, plan.to);
    if (cleanName(name).length === 0) return null; // the extraction point itself stays as it is
    return {
      ...h,
      name,
      ...(h.type === 'link' ? { linkname: rebaseName(h.linkname, plan.from, plan.to) } : {}),
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    };
  });
  const dir = await realpath(plan.extractDir).catch(() => {
    throw new CliError(`no such directory: ${plan.extractDir}`);
  });
  await applyLayer(rewritten, dir, { overlay: false });
  return counter.bytes;
}

async function localDestination(path: string): Promise<CopyDestination> {
  // a symlink at the destination is followed (Docker copies to what it points at)
  const st = await stat(path).catch(() => undefined);
  return { path, exists: st !== undefined, isDir: st?.isDirectory() ?? false };
}

/** Copies the host's src ("-": a tar from `input`) to CONTAINER:dst. Returns the bytes sent. */
export async function copyToContainer(d: Daemon, c: ContainerRef, srcPath: string, dstPath: string, opts: CopyOptions, input: AsyncIterable<Buffer>): Promise<number> {
  let dstInfo: CopyDestination = { path: dstPath, exists: false, isDir: false };
  let st = await remoteStat(d, c, dstPath);
  if (st && isGoSymlink(st.mode)) {
    dstInfo.path = st.linkTarget;
    st = await remoteStat(d, c, st.linkTarget);
  }
  if (st) {
    const fileOrDir = isGoDir(st.mode) || (st.mode & 0xfff00000) === 0;
    if (!fileOrDir) throw new CliError(`destination "${c.name}:${dstPath}" must be a directory or a regular file`);
    dstInfo = { ...dstInfo, exists: true, isDir: isGoDir(st.mode) };
  }
  let extractDir: string;
  let tar: AsyncIterable<Buffer>;
  if (srcPath === '-') {
    if (!dstInfo.isDir) throw new CliError(`destination "${c.name}:${dstPath}" must be a directory`);
    extractDir = dstInfo.path;
    tar = input;
  } else {
    const local = opts.followLink ? await stat(srcPath).catch(() => undefined) : await lstat(srcPath).catch(() => undefined);
    if (!local) throw new CliError(`no such file or directory: ${srcPath}`);
    const src: CopySource = { base: baseOf(srcPath), isDir: local.isDirectory() };
    const plan = planCopy(src, dstInfo);
    extractDir = plan.extractDir;
    // contents only ("dir/."): pack the directory under the name "."
    const hostPath = opts.followLink ? await realpath(srcPath) : srcPath.endsWith('/.') ? srcPath.slice(0, -2) || '/' : srcPath;
    const packed = packPath(src.base === '.' ? join(hostPath, '.') : hostPath, { name: src.base === '/' ? '.' : src.base });
    tar = plan.from === plan.to ? packed : rewriteTar(packed, (h) => ({ ...h, name: rebaseName(h.name.replace(/\/$/, ''), plan.from, plan.to), ...(h.type === 'link' ? { linkname: rebaseName(h.linkname, plan.from, plan.to) } : {}) }));
  }
  return sendTar(d, c, extractDir, tar, opts.archive);
}

async function sendTar(d: Daemon, c: ContainerRef, dir: string, tar: AsyncIterable<Buffer>, copyUidGid: boolean): Promise<number> {
  const { call, response } = d.files.CopyTo();
  let failure: unknown;
  response.catch((err: unknown) => (failure = err));
  const write = async (req: object) => {
    if (failure) throw failure;
    if (!call.write(req)) await Promise.race([new Promise((r) => call.once('drain', r)), response]);
    if (failure) throw failure;
  };
  let bytes = 0;
  try {
    await write({ containerId: c.id, path: dir, noOverwriteDirNonDir: true, copyUidGid });
    let pending: Buffer[] = [];
    let size = 0;
    for await (const b of tar) {
      pending.push(b);
      size += b.length;
      bytes += b.length;
      if (size >= MESSAGE_BYTES) {
        await write({ data: Buffer.concat(pending) });
        pending = [];
        size = 0;
      }
    }
    if (size > 0) await write({ data: Buffer.concat(pending) });
  } catch (err) {
    // berthd's answer says why, when it refused; else our side failed (a file unreadable)
    if (failure) throw refusal(failure, c, dir);
    call.cancel();
    throw err;
  }
  call.end();
  try {
    await response;
  } catch (err) {
    throw refusal(err, c, dir);
  }
  return bytes;
}

/**
 * berthd's refusal of a copy as Docker's daemon words it, exit 1: a missing directory, a
 * read-only mount or rootfs ("mounted volume is marked read-only"), a directory replaced by a
 * file. Anything else stays berthd's error (125).
 */
function refusal(err: unknown, c: ContainerRef, dir: string): unknown {
  const code = grpcCode(err);
  if (code === NOT_FOUND) return new CliError(`Could not find the file ${dir} in container ${c.name}`);
  // berthd's status text ends with containerd's kind (": failed precondition"): not Docker's words
  if (code === FAILED_PRECONDITION || code === INVALID_ARGUMENT) return new CliError((err as { details: string }).details.replace(/: (failed precondition|invalid argument)$/, ''));
  return err;
}
