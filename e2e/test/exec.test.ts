import { spawn } from 'child_process';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'fs';
import { join } from 'path';
import { RUNTIME, Sandbox, probeOutput, requireRoot, sleep } from './support/env';

// `exec`: another process in a running container — its namespaces, its cgroup, the process
// settings of config.json with exec's overrides, and the exit status back to the caller.

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

const NS = ['pid', 'net', 'ipc', 'uts', 'mnt', 'cgroup'];

/** A detached container whose init sleeps; returns its id and host pid. */
async function running(adjust: (spec: any) => void = () => undefined): Promise<{ id: string; pid: number }> {
  const id = sb.id();
  const bundle = sb.bundle((s) => {
    s.process.args = ['sleep', '300'];
    adjust(s);
  });
  const r = await sb.run(['run', '-d', '--bundle', bundle, id]);
  if (r.code !== 0) throw new Error(`run -d failed: ${r.stderr}`);
  return { id, pid: JSON.parse((await sb.run(['state', id])).stdout).pid };
}

const stateJson = (id: string) => JSON.parse(readFileSync(join(sb.root, id, 'state.json'), 'utf8'));
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

describe('exec joins the container', () => {
  it("enters every one of its namespaces: same hostname, its pid 1, the same /proc/*/ns", async () => {
    const { id, pid } = await running((s) => (s.hostname = 'exec-host'));
    const probe = await sb.run(['exec', id, 'probe']);
    expect(probe).toMatchObject({ code: 0, stderr: '' });
    const seen = probeOutput(probe.stdout);
    expect(seen.hostname).toBe('exec-host');
    expect(seen.pid).toBeGreaterThan(1);

    const ps = await sb.run(['exec', id, 'ps', '-o', 'pid,args']);
    expect(ps.code).toBe(0);
    expect(ps.stdout).toMatch(/^\s*1\s+sleep 300$/m);

    const links = await sb.run(['exec', id, 'sh', '-c', NS.map((n) => `readlink /proc/self/ns/${n}`).join('; ')]);
    expect(links.stdout.trim().split('\n')).toEqual(NS.map((n) => readlinkSync(`/proc/${pid}/ns/${n}`)));
    // ...and none of them is ours.
    for (const n of NS) expect(readlinkSync(`/proc/${pid}/ns/${n}`)).not.toBe(readlinkSync(`/proc/self/ns/${n}`));
  });

  it("puts the process in the container's cgroup, in every hierarchy", async () => {
    const { id } = await running();
    const pidFile = join(sb.dir, 'exec.pid');
    expect(await sb.run(['exec', '-d', '--pid-file', pidFile, id, 'sleep', '300'])).toMatchObject({ code: 0, stdout: '' });
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const paths: Record<string, string> = stateJson(id).cgroupPaths;
    expect(Object.keys(paths).length).toBeGreaterThan(0);
    for (const dir of new Set(Object.values(paths))) {
      expect([dir, readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').map(Number)]).toEqual([dir, expect.arrayContaining([pid])]);
    }
    // Inside, the cgroup namespace is rooted at the container's cgroup.
    const cg = await sb.run(['exec', id, 'cat', '/proc/self/cgroup']);
    expect(cg.stdout.trim().split('\n').every((l) => l.endsWith(':/'))).toBe(true);
  });

  it('joins a user namespace container and runs as its root, mapped on the host', async () => {
    // The container's root is an unprivileged host uid: it must be able to reach the rootfs.
    chmodSync(sb.dir, 0o755);
    const { id, pid } = await running((s) => {
      s.linux.namespaces.push({ type: 'user' });
      s.linux.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      s.linux.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    });
    const pidFile = join(sb.dir, 'exec.pid');
    expect((await sb.run(['exec', '-d', '--pid-file', pidFile, id, 'sleep', '300'])).code).toBe(0);
    const execPid = Number(readFileSync(pidFile, 'utf8'));
    expect(readlinkSync(`/proc/${execPid}/ns/user`)).toBe(readlinkSync(`/proc/${pid}/ns/user`));
    expect(readFileSync(`/proc/${execPid}/status`, 'utf8')).toMatch(/^Uid:\s+200000\s+200000\s+200000\s+200000$/m);
    const seen = probeOutput((await sb.run(['exec', '-u', '1000:1000', id, 'probe'])).stdout);
    expect(seen).toMatchObject({ uid: 1000, gid: 1000 });
  });
});

describe('exec process settings', () => {
  it('starts from config.json and applies --env, --cwd, --user and --additional-gids', async () => {
    const { id } = await running((s) => (s.process.env = ['PATH=/bin', 'TERM=xterm', 'KEEP=1']));
    const r = await sb.run(['exec', '-e', 'TERM=dumb', '--env', 'NEW=x y', '--cwd', '/tmp', '-u', '1000:1001', '-g', '5', '--additional-gids', '6', id, 'probe', 'a b']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const seen = probeOutput(r.stdout);
    // uid 1000 has no /etc/passwd entry: HOME=/ (runc's rule when env has no HOME)
    expect(seen.env).toEqual(['PATH=/bin', 'TERM=dumb', 'KEEP=1', 'NEW=x y', 'HOME=/']);
    expect(seen).toMatchObject({ cwd: '/tmp', uid: 1000, gid: 1001, euid: 1000, groups: [5, 6], args: ['probe', 'a b'] });
    // config.json's user without -u.
    expect(probeOutput((await sb.run(['exec', id, 'probe'])).stdout)).toMatchObject({ uid: 0, gid: 0, cwd: '/' });
  });

  it('inherits rlimits and capabilities from config.json; --cap adds to bounding, effective, permitted', async () => {
    const { id } = await running((s) => (s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 500, hard: 600 }]));
    const plain = probeOutput((await sb.run(['exec', id, 'probe'])).stdout);
    expect(plain.rlimits.nofile).toEqual({ soft: 500, hard: 600 });
    // runc spec's caps: AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10).
    expect(plain.caps).toMatchObject({ effective: '0000000020000420', bounding: '0000000020000420', inheritable: '0000000000000000' });

    const more = probeOutput((await sb.run(['exec', '--cap', 'CAP_SYS_ADMIN', '-c', 'CAP_NET_RAW', id, 'probe'])).stdout);
    const sysAdminNetRaw = (1n << 21n) | (1n << 13n);
    for (const set of ['effective', 'permitted', 'bounding']) {
      expect([set, BigInt('0x' + more.caps[set])]).toEqual([set, 0x20000420n | sysAdminNetRaw]);
    }
    expect(more.caps).toMatchObject({ inheritable: '0000000000000000', ambient: '0000000000000000' });
  });

  it('keeps no_new_privs off when config.json does, and --no-new-privs sets it', async () => {
    const { id } = await running((s) => (s.process.noNewPrivileges = false));
    expect(probeOutput((await sb.run(['exec', id, 'probe'])).stdout).no_new_privs).toBe(false);
    expect(probeOutput((await sb.run(['exec', '--no-new-privs', id, 'probe'])).stdout).no_new_privs).toBe(true);
  });

  it('takes the whole process from --process, validated like config.json', async () => {
    const { id } = await running();
    const file = join(sb.dir, 'process.json');
    writeFileSync(file, JSON.stringify({
      terminal: false,
      // root, or the kernel clears the effective set at execve.
      user: { uid: 0, gid: 8, additionalGids: [9] },
      args: ['probe', 'from-file'],
      env: ['ONLY=this'],
      cwd: '/etc',
      capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] },
      noNewPrivileges: true,
    }));
    const r = await sb.run(['exec', '--process', file, id]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(probeOutput(r.stdout)).toMatchObject({
      uid: 0, gid: 8, groups: [9], args: ['probe', 'from-file'], env: ['ONLY=this', 'HOME=/root'], cwd: '/etc', no_new_privs: true,
      caps: { effective: '0000000000000020', bounding: '0000000000000020' },
    });

    writeFileSync(file, JSON.stringify({ user: { uid: 0, gid: 0 }, args: ['probe'], cwd: 'relative' }));
    const bad = await sb.run(['exec', '-p', file, id]);
    expect(bad).toMatchObject({ code: 255, stdout: '' });
    expect(bad.stderr).toMatch(/process\.cwd must be an absolute path/);
    const both = await sb.run(['exec', '-p', file, '--cwd', '/tmp', id]);
    expect(both.stderr).toMatch(/--cwd cannot be used with --process/);
  });

  it('passes no fd but stdio, and exactly N more with --preserve-fds N', async () => {
    const { id } = await running();
    expect(probeOutput((await sb.run(['exec', id, 'probe'])).stdout).fds).toEqual([0, 1, 2]);

    const out = join(sb.dir, 'fd3.txt');
    const fd3 = openSync(out, 'w');
    const fd4 = openSync('/dev/null', 'r');
    try {
      const stdio: any = ['pipe', 'pipe', 'pipe', fd3, fd4];
      const r = await sb.run(['exec', '--preserve-fds', '2', id, 'sh', '-c', 'echo via-fd3 >&3; probe'], { stdio });
      expect(r.code).toBe(0);
      expect(probeOutput(r.stdout).fds).toEqual([0, 1, 2, 3, 4]);
      // Without the flag, the same fds stay outside.
      const r2 = await sb.run(['exec', id, 'probe'], { stdio });
      expect(probeOutput(r2.stdout).fds).toEqual([0, 1, 2]);
    } finally {
      closeSync(fd3);
      closeSync(fd4);
    }
    expect(readFileSync(out, 'utf8')).toBe('via-fd3\n');
  });
});

describe('exec in the foreground and detached', () => {
  it('pipes stdin, stdout and stderr through', async () => {
    const { id } = await running();
    const r = await sb.run(['exec', id, 'sh', '-c', 'cat; echo to-stderr >&2'], { input: 'line one\nline two\n' });
    expect(r).toMatchObject({ code: 0, stdout: 'line one\nline two\n', stderr: 'to-stderr\n' });
  });

  it('returns the exit status, and 128+N for a signal', async () => {
    const { id } = await running();
    expect((await sb.run(['exec', id, 'sh', '-c', 'exit 5'])).code).toBe(5);
    expect((await sb.run(['exec', id, 'sh', '-c', 'kill -9 $$'])).code).toBe(137);
    expect((await sb.run(['exec', id, 'true'])).code).toBe(0);
  });

  it('forwards signals sent to berth-runtime to the process', async () => {
    const { id } = await running();
    const child = spawn(RUNTIME, ['--root', sb.root, 'exec', id, 'sh', '-c', 'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.05; done'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    for (let i = 0; i < 250 && !out.includes('ready'); i++) await sleep(20);
    expect(out).toBe('ready\n');
    child.kill('SIGTERM');
    expect(await exited).toBe(42);
    expect(out).toBe('ready\ngot-term\n');
  });

  it('--detach returns at once, prints nothing, writes --pid-file, and leaves the process running', async () => {
    const { id, pid: initPid } = await running();
    const pidFile = join(sb.dir, 'exec.pid');
    const started = Date.now();
    const r = await sb.run(['exec', '--detach', '--pid-file', pidFile, id, 'sh', '-c', 'sleep 300']);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(Date.now() - started).toBeLessThan(5000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(pid).toBeGreaterThan(0);
    expect(pid).not.toBe(initPid);
    expect(alive(pid)).toBe(true);
    expect(readlinkSync(`/proc/${pid}/ns/pid`)).toBe(readlinkSync(`/proc/${initPid}/ns/pid`));
    // The pid ns dies with its init, and the exec'd process with it.
    expect((await sb.run(['kill', id, 'KILL'])).code).toBe(0);
    await sb.waitStatus(id, 'stopped');
    for (let i = 0; i < 100 && alive(pid); i++) await sleep(20);
    expect(alive(pid)).toBe(false);
  });

  it('refuses -t with --detach and no --console-socket, and --console-socket without a tty', async () => {
    const { id } = await running();
    const t = await sb.run(['exec', '-t', '-d', id, 'true']);
    expect(t.code).toBe(255);
    expect(t.stderr).toMatch(/cannot allocate a tty for a detached exec without --console-socket/);
    const s = await sb.run(['exec', '--console-socket', join(sb.dir, 'x.sock'), id, 'true']);
    expect(s.code).toBe(255);
    expect(s.stderr).toMatch(/--console-socket is only for a process with a terminal/);
  });
});

describe('exec refuses', () => {
  it('a created container, a stopped one, and one that does not exist; nothing runs', async () => {
    const id = sb.id();
    const marker = join(sb.dir, 'ran');
    const bundle = sb.bundle((s) => {
      s.process.args = ['sleep', '300'];
      s.mounts.push({ destination: '/data', source: sb.dir, options: ['rbind'] });
    });
    expect((await sb.run(['create', '--bundle', bundle, id])).code).toBe(0);
    const created = await sb.run(['exec', id, 'touch', '/data/ran']);
    expect(created).toMatchObject({ code: 255, stdout: '' });
    expect(created.stderr).toBe(`berth-runtime: cannot exec in a created container (start it first): ${id}\n`);

    expect((await sb.run(['kill', id, 'KILL'])).code).toBe(0);
    await sb.waitStatus(id, 'stopped');
    const stopped = await sb.run(['exec', id, 'touch', '/data/ran']);
    expect(stopped).toMatchObject({ code: 255, stderr: `berth-runtime: cannot exec in a stopped container: ${id}\n` });
    expect(existsSync(marker)).toBe(false);

    const missing = await sb.run(['exec', 'no-such-container', 'true']);
    expect(missing.code).toBe(255);
    expect(missing.stderr).toMatch(/container no-such-container does not exist/);
  });

  it('a paused container unless --ignore-paused', async () => {
    const { id } = await running();
    const freezer = Object.entries(stateJson(id).cgroupPaths as Record<string, string>).find(([k]) => k === 'freezer')?.[1];
    expect(freezer).toBeDefined();
    writeFileSync(join(freezer!, 'freezer.state'), 'FROZEN');
    try {
      await sb.waitStatus(id, 'paused');
      const r = await sb.run(['exec', id, 'true']);
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/cannot exec in a paused container \(use --ignore-paused to override\)/);
      // With the flag it starts — frozen with the rest, until the container is thawed.
      const pidFile = join(sb.dir, 'exec.pid');
      let finished = false;
      const ignoring = sb.run(['exec', '--ignore-paused', '-d', '--pid-file', pidFile, id, 'true']).finally(() => (finished = true));
      await sleep(500);
      expect(finished).toBe(false);
      writeFileSync(join(freezer!, 'freezer.state'), 'THAWED');
      expect((await ignoring).code).toBe(0);
      expect(Number(readFileSync(pidFile, 'utf8'))).toBeGreaterThan(0);
    } finally {
      writeFileSync(join(freezer!, 'freezer.state'), 'THAWED');
    }
  });

  it('a missing command, a missing program, and bad flags, naming them; nothing is left in the cgroup', async () => {
    const { id, pid } = await running();
    const none = await sb.run(['exec', id]);
    expect(none).toMatchObject({ code: 255, stderr: 'berth-runtime: exec: a command is required (or --process FILE)\n' });
    const absent = await sb.run(['exec', id, 'no-such-program']);
    expect(absent.code).toBe(255);
    expect(absent.stderr).toMatch(/no-such-program/);
    const procs = () => readFileSync(join(Object.values(stateJson(id).cgroupPaths as Record<string, string>)[0]!, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    for (let i = 0; i < 50 && procs().length > 1; i++) await sleep(20);
    expect(procs()).toEqual([pid]);
    const user = await sb.run(['exec', '-u', 'root', id, 'true']);
    expect(user).toMatchObject({ code: 255, stderr: expect.stringMatching(/--user uid "root"/) });
    const cap = await sb.run(['exec', '--cap', 'CAP_TELEPORT', id, 'true']);
    expect(cap.stderr).toMatch(/--cap: unknown capability "CAP_TELEPORT"/);
    // The container is untouched.
    expect(JSON.parse((await sb.run(['state', id])).stdout).status).toBe('running');
  });

  it('accepts --process-label and --apparmor with a warning that they are ignored', async () => {
    const { id } = await running();
    const r = await sb.run(['exec', '--process-label', 'system_u:system_r:container_t:s0', '--apparmor', 'docker-default', id, 'true']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/--process-label is ignored/);
    expect(r.stderr).toMatch(/--apparmor is ignored/);
  });
});
