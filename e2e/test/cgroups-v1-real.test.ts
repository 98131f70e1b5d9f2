// Against the real kernel: needs root on a cgroup v1 or hybrid machine. Anywhere else it fails
// on purpose (a skipped test would look like a pass); run it from the root e2e job.

import { spawn, type ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import { promises as fs } from 'fs';
import { detectLayout, openCgroup } from '../../runtime/src/cgroups';
import type { CgroupLayout, CgroupManager } from '../../runtime/src/cgroups/types';
import { realHost } from '../../runtime/src/host/real-host';

jest.setTimeout(30_000);

const MiB = 1024 * 1024;

async function requireV1Root(): Promise<CgroupLayout> {
  const uid = process.getuid?.();
  if (uid !== 0) {
    throw new Error(`cgroups-v1-real.test.ts needs root to create cgroups (running as uid ${String(uid)}); run it in the root e2e job`);
  }
  const layout = await detectLayout(realHost);
  if (layout.mode === 'v2' || layout.v1Mounts['memory'] === undefined) {
    throw new Error(
      `cgroups-v1-real.test.ts needs a cgroup v1 memory hierarchy, but this machine is mode ${layout.mode} with v1 controllers [${Object.keys(layout.v1Mounts).join(', ')}]`,
    );
  }
  return layout;
}

async function read(path: string): Promise<string> {
  return (await fs.readFile(path, 'utf8')).trim();
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function dirExists(path: string): Promise<boolean> {
  return fs.stat(path).then(
    () => true,
    () => false,
  );
}

describe('cgroup v1 on the real kernel', () => {
  it('creates, limits, joins, freezes, lists and destroys a cgroup without leaking it', async () => {
    const layout = await requireV1Root();
    const id = `test-${randomBytes(4).toString('hex')}`;
    const cg: CgroupManager = await openCgroup(realHost, layout, undefined, id);
    const dirs = [...new Set(Object.values(cg.paths))];
    expect(cg.paths['memory']).toBe(`${layout.v1Mounts['memory']}/berth/${id}`);

    let child: ChildProcess | undefined;
    try {
      await cg.create();
      for (const d of dirs) expect(await dirExists(d)).toBe(true);

      await cg.apply({
        memory: { limit: 64 * MiB, swap: 128 * MiB },
        pids: { limit: 20 },
        cpu: { shares: 512 },
      });
      const mem = cg.paths['memory']!;
      expect(await read(`${mem}/memory.limit_in_bytes`)).toBe(String(64 * MiB));
      if (await dirExists(`${mem}/memory.memsw.limit_in_bytes`)) {
        expect(await read(`${mem}/memory.memsw.limit_in_bytes`)).toBe(String(128 * MiB));
      }
      if (cg.paths['pids'] !== undefined) expect(await read(`${cg.paths['pids']}/pids.max`)).toBe('20');
      if (cg.paths['cpu'] !== undefined) expect(await read(`${cg.paths['cpu']}/cpu.shares`)).toBe('512');
      const cpusetMount = layout.v1Mounts['cpuset'];
      if (cpusetMount !== undefined) {
        const rootCpus = await read(`${cpusetMount}/cpuset.cpus`);
        expect(rootCpus).not.toBe('');
        expect(await read(`${cpusetMount}/berth/cpuset.cpus`)).toBe(rootCpus);
        expect(await read(`${cg.paths['cpuset']}/cpuset.cpus`)).toBe(rootCpus);
        expect(await read(`${cg.paths['cpuset']}/cpuset.mems`)).toBe(await read(`${cpusetMount}/cpuset.mems`));
      }

      child = spawn('sleep', ['30'], { stdio: 'ignore' });
      const pid = child.pid;
      if (pid === undefined) throw new Error('could not spawn sleep');
      await cg.addProcess(pid);
      expect(await cg.pids()).toContain(pid);
      const procCgroup = await fs.readFile(`/proc/${pid}/cgroup`, 'utf8');
      expect(procCgroup).toMatch(new RegExp(`:memory:/berth/${id}$`, 'm'));

      const stats = await cg.stats();
      expect(stats.memory?.limit).toBe(64 * MiB);
      if (cg.paths['pids'] !== undefined) expect(stats.pids).toEqual({ current: 1, limit: 20 });

      if (cg.paths['freezer'] !== undefined) {
        await cg.freeze();
        expect(await read(`${cg.paths['freezer']}/freezer.state`)).toBe('FROZEN');
        expect(await cg.freezerState()).toBe('FROZEN');
        // A frozen task sits in the refrigerator: state D (or T on older kernels), never R/S.
        const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
        expect(status).toMatch(/^State:\s+[DT]/m);
        await cg.thaw();
        expect(await cg.freezerState()).toBe('THAWED');
      }

      process.kill(pid, 'SIGKILL');
      await exited(child);
      await cg.destroy();
      for (const d of dirs) expect(await dirExists(d)).toBe(false);
    } finally {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        await cg.thaw().catch(() => undefined);
        child.kill('SIGKILL');
        await exited(child);
      }
      await cg.destroy().catch(() => undefined);
      const leaked = [];
      for (const d of dirs) if (await dirExists(d)) leaked.push(d);
      if (leaked.length > 0) throw new Error(`leaked cgroup directories: ${leaked.join(', ')}`);
    }
  });
});
