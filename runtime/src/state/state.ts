import { promises as fs } from 'fs';
import { join } from 'path';
import type { Hooks, LinuxResources } from '../spec/types';
import { writeFileAtomic } from '../util/atomic';
import { alreadyExists, notFound, errnoCode } from '../util/errors';
import { validateId } from './id';

// On disk under --root:   <root>/<id>/state.json   the record below, written atomically
//                         <root>/<id>/exec.fifo    exists from create until start
// Status is never stored: it is derived on every read from the init pid, its start time
// (so a recycled pid is not mistaken for ours), the exec fifo and the freezer.

export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface StoredState {
  ociVersion: string;
  id: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat when the container was created. */
  pidStartTime: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
  cgroupVersion: 1 | 2;
  cgroupPaths: Record<string, string>;
  /** Hooks the runtime still has to run after create (poststart, poststop). */
  hooks?: Pick<Hooks, 'poststart' | 'poststop'>;
  /** The resources as `update` last set them, so the next partial update merges onto them. */
  resources?: LinuxResources;
}

/** The OCI state as `state` prints it (runc's field names and order). */
export interface OciState {
  ociVersion: string;
  id: string;
  pid: number;
  status: Status;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

export class StateStore {
  constructor(readonly root: string) {}

  dir(id: string): string {
    return join(this.root, validateId(id));
  }

  execFifo(id: string): string {
    return join(this.dir(id), 'exec.fifo');
  }

  /** Claims the id: fails if a container with it exists. */
  async reserve(id: string): Promise<string> {
    const dir = this.dir(id);
    await fs.mkdir(this.root, { recursive: true, mode: 0o711 });
    try {
      await fs.mkdir(dir, { mode: 0o711 });
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') throw alreadyExists(`container with id ${id} already exists`);
      throw err;
    }
    return dir;
  }

  async write(state: StoredState): Promise<void> {
    await writeFileAtomic(join(this.dir(state.id), 'state.json'), JSON.stringify(state));
  }

  async read(id: string): Promise<StoredState> {
    try {
      return JSON.parse(await fs.readFile(join(this.dir(id), 'state.json'), 'utf8')) as StoredState;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw notFound(`container ${id} does not exist`);
      throw err;
    }
  }

  async remove(id: string): Promise<void> {
    await fs.rm(this.dir(id), { recursive: true, force: true });
  }

  async list(): Promise<string[]> {
    const entries = await fs.readdir(this.root, { withFileTypes: true }).catch(() => []);
    const ids: string[] = [];
    for (const e of entries) {
      if (e.isDirectory() && (await fs.access(join(this.root, e.name, 'state.json')).then(() => true, () => false))) ids.push(e.name);
    }
    return ids.sort();
  }
}

/** Start time (clock ticks since boot) of a live, non-zombie pid, or undefined. */
export async function pidStartTime(pid: number): Promise<string | undefined> {
  if (!(pid > 0)) return undefined;
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19];
}

/**
 * The container's status right now. `freezerState` is asked only for a live, started
 * container; the caller passes its cgroup's answer.
 */
export async function deriveStatus(
  state: StoredState,
  execFifo: string,
  freezerState: () => Promise<'FROZEN' | 'THAWED' | undefined>,
): Promise<Status> {
  const start = await pidStartTime(state.pid);
  if (start === undefined || start !== state.pidStartTime) return 'stopped';
  if (await fs.access(execFifo).then(() => true, () => false)) return 'created';
  return (await freezerState()) === 'FROZEN' ? 'paused' : 'running';
}

export function toOciState(state: StoredState, status: Status): OciState {
  const out: OciState = {
    ociVersion: state.ociVersion,
    id: state.id,
    pid: status === 'stopped' ? 0 : state.pid,
    status,
    bundle: state.bundle,
    rootfs: state.rootfs,
    created: state.created,
    owner: state.owner,
  };
  if (state.annotations && Object.keys(state.annotations).length) out.annotations = state.annotations;
  return out;
}
