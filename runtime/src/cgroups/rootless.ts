import type { LinuxResources } from '../spec/types';
import { CgroupError } from './errors';
import type { CgroupManager, CgroupStats } from './types';

// A user who is not root can run containers, but on cgroup v1 (and on v2 without delegation)
// owns no cgroup. As runc does, such a container simply runs in the caller's cgroups when none
// is writable and it asks for no limits; asking for limits is an error naming the field.

const DENIED = new Set(['EACCES', 'EPERM', 'EROFS']);

const isDenied = (err: unknown) => err instanceof CgroupError && err.errno !== undefined && DENIED.has(err.errno);

/** Whether a resources block asks for any limit a cgroup would have to enforce (device rules aside). */
export function asksForLimits(r: LinuxResources): boolean {
  const setValues = (o: object | undefined) => o !== undefined && Object.values(o).some((v) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0));
  return setValues(r.memory) || setValues(r.cpu) || setValues(r.pids) || setValues(r.blockIO) || (r.hugepageLimits?.length ?? 0) > 0 || setValues(r.unified);
}

export class RootlessCgroup implements CgroupManager {
  /** False once creating the cgroup was refused: then there is no cgroup at all. */
  private usable = true;

  constructor(private readonly inner: CgroupManager) {}

  get version() {
    return this.inner.version;
  }

  get paths() {
    return this.inner.paths;
  }

  async create(): Promise<void> {
    try {
      await this.inner.create();
    } catch (err) {
      if (!isDenied(err)) throw err;
      this.usable = false;
      // Whatever was made before the refusal must not stay behind.
      await this.inner.destroy().catch(() => undefined);
    }
  }

  async apply(resources: LinuxResources): Promise<void> {
    if (this.usable) return this.inner.apply(resources);
    if (asksForLimits(resources)) {
      throw new CgroupError('ERR_CGROUP_UNSUPPORTED', 'linux.resources: limits need a cgroup, and this user may not create one (rootless without a delegated cgroup)');
    }
    // Device rules are the runtime's defaults here: without a devices cgroup a user namespace
    // cannot create device nodes anyway (they are bind-mounted from the host).
  }

  async addProcess(pid: number): Promise<void> {
    if (this.usable) await this.inner.addProcess(pid);
  }

  pids(): Promise<number[]> {
    return this.inner.pids().catch((err) => (isDenied(err) || !this.usable ? [] : Promise.reject(err)));
  }

  freeze(): Promise<void> {
    return this.inner.freeze();
  }

  thaw(): Promise<void> {
    return this.inner.thaw();
  }

  freezerState() {
    return this.inner.freezerState();
  }

  stats(): Promise<CgroupStats> {
    return this.inner.stats();
  }

  destroy(): Promise<void> {
    return this.inner.destroy().catch((err) => (isDenied(err) ? undefined : Promise.reject(err)));
  }
}
