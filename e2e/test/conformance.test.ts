import { spawn } from 'child_process';
import { readFileSync, writeFileSync, existsSync, mkdirSync, chmodSync, copyFileSync } from 'fs';
import { join } from 'path';
import { Sandbox, requireRoot, probeOutput, leakSnapshot, sleep } from './support/env';

// OCI runtime-spec MUSTs (runtime.md, config.md, config-linux.md) that the other suites do
// not already pin. Each test names the rule it checks.

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

const sh = (script: string) => (s: any) => (s.process.args = ['sh', '-c', script]);

describe('runtime.md: operations', () => {
  it('state MUST include the annotations; unknown annotation keys MUST NOT be an error', async () => {
    const id = sb.id();
    const annotations = { 'org.example.unknown': 'x', 'com.acme/team': 'runtime' };
    expect((await sb.run(['create', '--bundle', sb.bundle((s) => (s.annotations = annotations)), id])).code).toBe(0);
    expect(JSON.parse((await sb.run(['state', id])).stdout).annotations).toEqual(annotations);
    expect(JSON.parse((await sb.run(['list', '--format', 'json'])).stdout)[0].annotations).toEqual(annotations);
  });

  it('changes to config.json after create MUST NOT affect the container', async () => {
    const id = sb.id();
    const bundle = sb.bundle(sh('echo original'));
    const out = join(sb.dir, 'out');
    const { openSync, closeSync } = await import('fs');
    const fd = openSync(out, 'w');
    // The container keeps create's stdout: give it a file, not a pipe we would wait on.
    const created = await sb.run(['create', '--bundle', bundle, id], { stdio: ['ignore', fd, 'pipe'] });
    closeSync(fd);
    expect(created.code).toBe(0);
    const cfg = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    cfg.process.args = ['sh', '-c', 'echo changed'];
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(cfg));
    expect((await sb.run(['start', id])).code).toBe(0);
    await sb.waitStatus(id, 'stopped');
    expect(readFileSync(out, 'utf8')).toBe('original\n');
  });

  it('start of a stopped container MUST be an error', async () => {
    const id = sb.id();
    expect((await sb.run(['run', '--keep', '--bundle', sb.bundle(sh('true')), id])).code).toBe(0);
    const r = await sb.run(['start', id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot start a container that is stopped/);
  });

  it('operations on an unknown id MUST be errors', async () => {
    for (const op of [['state'], ['start'], ['kill'], ['delete'], ['pause'], ['resume'], ['ps']]) {
      const r = await sb.run([...op, 'no-such-container']);
      expect([op[0], r.code]).toEqual([op[0], 1]);
      expect(r.stderr).toMatch(/no-such-container does not exist/);
    }
  });

  it('delete MUST delete the resources create made, even when the process is already gone', async () => {
    const before = leakSnapshot();
    const id = sb.id();
    expect((await sb.run(['run', '-d', '--bundle', sb.bundle(sh('exit 0')), id])).code).toBe(0);
    await sb.waitStatus(id, 'stopped');
    expect((await sb.run(['delete', id])).code).toBe(0);
    expect(existsSync(join(sb.root, id))).toBe(false);
    expect(leakSnapshot()).toEqual(before);
  });
});

describe('runtime.md: lifecycle and hooks', () => {
  it('a failing startContainer hook MUST be an error, and the program MUST NOT run', async () => {
    const id = sb.id();
    const marker = join(sb.dir, 'ran');
    const bundle = sb.bundle((s) => {
      s.process.args = ['sh', '-c', 'touch /data/ran'];
      s.mounts.push({ destination: '/data', source: sb.dir, options: ['rbind'] });
      s.hooks = { startContainer: [{ path: '/bin/false' }] };
    });
    expect((await sb.run(['create', '--bundle', bundle, id])).code).toBe(0);
    const r = await sb.run(['start', id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/startContainer hook "\/bin\/false": exited with status 1/);
    expect(existsSync(marker)).toBe(false);
    await sb.waitStatus(id, 'stopped');
    expect((await sb.run(['delete', id])).code).toBe(0);
  });

  it('a failing startContainer hook fails run too and leaves nothing behind', async () => {
    const before = leakSnapshot();
    const r = await sb.run(['run', '--bundle', sb.bundle((s) => (s.hooks = { startContainer: [{ path: '/bin/false' }] })), sb.id()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/startContainer hook "\/bin\/false"/);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toMatch(sb.dir);
    expect(leakSnapshot()).toEqual(before);
  });

  it('the user program MUST NOT run before start (created holds it)', async () => {
    const id = sb.id();
    const marker = join(sb.dir, 'early');
    const bundle = sb.bundle((s) => {
      s.process.args = ['sh', '-c', 'touch /data/early'];
      s.mounts.push({ destination: '/data', source: sb.dir, options: ['rbind'] });
    });
    expect((await sb.run(['create', '--bundle', bundle, id])).code).toBe(0);
    await sleep(300);
    expect(existsSync(marker)).toBe(false);
    expect(JSON.parse((await sb.run(['state', id])).stdout).status).toBe('created');
  });
});

describe('config.md', () => {
  it('mounts MUST be made in the listed order (a later mount may sit inside an earlier one)', async () => {
    const r = await sb.run(['run', '--bundle', sb.bundle((s) => {
      s.process.args = ['sh', '-c', 'grep -E " /outer(/inner)? " /proc/self/mountinfo | cut -d" " -f5'];
      s.mounts.push({ destination: '/outer', type: 'tmpfs', source: 'tmpfs' }, { destination: '/outer/inner', type: 'tmpfs', source: 'tmpfs' });
    }), sb.id()]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['/outer', '/outer/inner']);
  });

  it('process.env MUST be the environment (plus HOME when it has none, as runc adds); args[0] is looked up in its PATH', async () => {
    const bundle = sb.bundle((s) => {
      s.process.env = ['PATH=/opt/tools', 'ONLY=this'];
      s.process.args = ['mytool'];
    });
    mkdirSync(join(bundle, 'rootfs', 'opt', 'tools'), { recursive: true });
    copyFileSync(join(bundle, 'rootfs', 'bin', 'probe'), join(bundle, 'rootfs', 'opt', 'tools', 'mytool'));
    chmodSync(join(bundle, 'rootfs', 'opt', 'tools', 'mytool'), 0o755);
    const r = await sb.run(['run', '--bundle', bundle, sb.id()]);
    expect(r.stderr).toBe('');
    const p = probeOutput(r.stdout);
    // runc's rule: no HOME in env → the user's home from the container's /etc/passwd
    expect(p.env).toEqual(['PATH=/opt/tools', 'ONLY=this', 'HOME=/root']);
    expect(p.args).toEqual(['mytool']);
  });
});

describe('config-linux.md', () => {
  it('a namespace path of the wrong type MUST be an error', async () => {
    const holder = spawn('sleep', ['30']);
    try {
      const r = await sb.run(['create', '--bundle', sb.bundle((s) => {
        s.linux.namespaces = s.linux.namespaces.map((n: any) => (n.type === 'uts' ? { type: 'uts', path: `/proc/${holder.pid}/ns/net` } : n));
      }), sb.id()]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/uts/);
      expect((await sb.run(['list', '-q'])).stdout).toBe('');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('without a new pid namespace the container MUST see the host\'s pids', async () => {
    const r = await sb.run(['run', '--bundle', sb.bundle((s) => (s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'pid'))), sb.id()]);
    expect(r.code).toBe(0);
    expect(probeOutput(r.stdout).pid).toBeGreaterThan(1);
  });

  it('the cgroup namespace MUST root /proc/self/cgroup at the container\'s cgroup', async () => {
    const r = await sb.run(['run', '--bundle', sb.bundle(sh('cat /proc/self/cgroup')), sb.id()]);
    expect(r.code).toBe(0);
    for (const line of r.stdout.split('\n').filter(Boolean)) expect(line.split(':')[2]).toBe('/');
  });

  it('readonlyPaths MUST be read-only, maskedPaths MUST be unreadable as data', async () => {
    const r = await sb.run(['run', '--bundle', sb.bundle((s) => {
      s.root.readonly = false;
      s.linux.readonlyPaths = ['/etc'];
      s.linux.maskedPaths = ['/etc/passwd'];
      s.process.args = ['sh', '-c', 'cat /etc/passwd | wc -c; touch /etc/x 2>&1'];
    }), sb.id()]);
    const [size, touch] = r.stdout.trim().split('\n');
    expect(size!.trim()).toBe('0');
    expect(touch).toMatch(/Read-only file system/);
  });

  it('a time namespace MUST apply linux.timeOffsets (boottime and monotonic)', async () => {
    const day = 86400;
    const r = await sb.run(['run', '--bundle', sb.bundle((s) => {
      s.linux.namespaces.push({ type: 'time' });
      s.linux.timeOffsets = { boottime: { secs: day, nanosecs: 0 }, monotonic: { secs: 2 * day, nanosecs: 0 } };
      s.process.args = ['sh', '-c', 'cat /proc/uptime /proc/self/timens_offsets'];
    }), sb.id()]);
    expect(r.stderr).toBe('');
    const [uptime, ...offsets] = r.stdout.trim().split('\n');
    const hostUptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    expect(Number(uptime!.split(' ')[0]) - hostUptime).toBeGreaterThan(day - 60);
    expect(offsets.map((l) => l.trim().split(/\s+/))).toEqual([['monotonic', String(2 * day), '0'], ['boottime', String(day), '0']]);
  });
});
