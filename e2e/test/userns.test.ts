import { spawnSync } from 'child_process';
import { openSync, closeSync, copyFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync, existsSync, symlinkSync, readdirSync, chownSync } from 'fs';
import { join } from 'path';
import { Sandbox, requireRoot, probeOutput, leakSnapshot, BIN, PROBE } from './support/env';

// User namespaces: a root-made container with an id mapping, and a rootless container run by
// a real unprivileged user that this test creates (and removes).

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

const MAP = { containerID: 0, hostID: 100000, size: 65536 };

/** A bundle for a mapped container: its rootfs belongs to the mapped root, as containerd
 *  prepares snapshots for user namespaces, and the sandbox must be traversable by it. */
function mappedBundle(adjust: (s: any) => void = () => undefined): string {
  const bundle = sb.bundle((s) => {
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = [MAP];
    s.linux.gidMappings = [MAP];
    adjust(s);
  });
  chmodSync(sb.dir, 0o755);
  const r = spawnSync('chown', ['-R', `${MAP.hostID}:${MAP.hostID}`, join(bundle, 'rootfs')]);
  if (r.status !== 0) throw new Error('chown of the rootfs failed');
  return bundle;
}

describe('user namespace made by root', () => {
  it('maps the container root to an unprivileged host uid', async () => {
    const id = sb.id();
    const bundle = mappedBundle((s) => (s.process.args = ['sh', '-c', 'sleep 30']));
    expect((await sb.run(['run', '-d', '--bundle', bundle, id])).code).toBe(0);
    const { pid } = JSON.parse((await sb.run(['state', id])).stdout);
    // Seen from the host, the container's root is uid 100000.
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)![1]).toBe('100000');
    expect(readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    expect((await sb.run(['delete', '--force', id])).code).toBe(0);
  });

  it('reads root inside, and devices come from the host by bind mount', async () => {
    const r = await sb.run(['run', '--bundle', mappedBundle(), sb.id()]);
    expect(r.code).toBe(0);
    const p = probeOutput(r.stdout);
    expect(p).toMatchObject({ uid: 0, gid: 0, pid: 1 });
    expect(p.mounts.find((m: any) => m.mountpoint === '/dev/null')).toBeDefined();
  });

  it('refuses mappings without a user namespace, naming the field', async () => {
    const r = await sb.run(['create', '--bundle', sb.bundle((s) => (s.linux.uidMappings = [MAP])), sb.id()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/linux.uidMappings requires a user namespace/);
  });
});

describe('rootless: an unprivileged user runs a container', () => {
  const user = `berth-e2e-${process.pid}`;
  let home = '';
  let uid = 0;
  let gid = 0;
  let bin = '';

  beforeAll(() => {
    const add = spawnSync('useradd', ['--create-home', '--shell', '/bin/sh', user], { encoding: 'utf8' });
    if (add.status !== 0) throw new Error(`useradd ${user}: ${add.stderr}`);
    const pw = spawnSync('getent', ['passwd', user], { encoding: 'utf8' }).stdout.split(':');
    uid = Number(pw[2]);
    gid = Number(pw[3]);
    home = pw[5]!;
    // The user may not be able to reach this checkout: give it its own copy of the binaries.
    bin = join(home, 'bin');
    mkdirSync(bin);
    for (const f of ['berth-runtime', 'berth-init']) copyFileSync(join(BIN, f), join(bin, f));
    chmodSync(join(bin, 'berth-runtime'), 0o755);
    chmodSync(join(bin, 'berth-init'), 0o755);
  });

  afterAll(() => {
    // Delete whatever the user still has, as the user, then the user and its home.
    sb = new Sandbox();
    const list = asUser(['--root', join(home, 'state'), 'list', '-q']);
    for (const id of list.stdout.split('\n').filter(Boolean)) asUser(['--root', join(home, 'state'), 'delete', '--force', id]);
    spawnSync('pkill', ['-KILL', '-U', String(uid)]);
    sb.cleanup();
    const del = spawnSync('userdel', ['--remove', user], { encoding: 'utf8' });
    if (del.status !== 0 && del.status !== 12) throw new Error(`userdel ${user}: ${del.stderr}`);
  });

  /**
   * berth-runtime as the user. Its stdio goes to files: a created container keeps the caller's
   * stdio (as with runc), and pipes would hold spawnSync until the container exits.
   */
  function asUser(args: string[], cwd = home) {
    const out = join(sb.dir, 'user.out');
    const err = join(sb.dir, 'user.err');
    const fds = [openSync(out, 'w'), openSync(err, 'w')];
    try {
      const r = spawnSync('runuser', ['-u', user, '--', join(bin, 'berth-runtime'), ...args], { cwd, stdio: ['ignore', fds[0]!, fds[1]!], timeout: 30_000 });
      return { code: r.status ?? -1, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
    } finally {
      fds.forEach((fd) => closeSync(fd));
    }
  }

  /** A bundle in the user's home, owned by the user, from `spec --rootless` run as the user. */
  function userBundle(name: string, adjust: (s: any) => void): string {
    const dir = join(home, name);
    const rootfs = join(dir, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
    chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
    for (const a of ['sh', 'cat', 'sleep', 'id']) symlinkSync('busybox', join(rootfs, 'bin', a));
    copyFileSync(PROBE, join(rootfs, 'bin', 'probe'));
    chmodSync(join(rootfs, 'bin', 'probe'), 0o755);
    spawnSync('chown', ['-R', `${uid}:${gid}`, dir]);
    const spec = asUser(['spec', '--rootless', '--bundle', dir]);
    if (spec.code !== 0) throw new Error(`spec --rootless: ${spec.stderr}`);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    cfg.process.terminal = false;
    adjust(cfg);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    chownSync(join(dir, 'config.json'), uid, gid);
    return dir;
  }

  it('writes a rootless spec mapping the user to root', () => {
    const dir = userBundle('spec-check', () => undefined);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(cfg.linux.uidMappings).toEqual([{ containerID: 0, hostID: uid, size: 1 }]);
    expect(cfg.linux.gidMappings).toEqual([{ containerID: 0, hostID: gid, size: 1 }]);
    expect(cfg.linux.namespaces.map((n: any) => n.type)).toContain('user');
    expect(cfg.linux.namespaces.map((n: any) => n.type)).not.toContain('network');
    expect(cfg.linux.resources).toBeUndefined();
  });

  it('runs it: root inside, the user outside, no cgroup, nothing left behind', () => {
    const before = leakSnapshot();
    const dir = userBundle('run', (s) => (s.process.args = ['/bin/probe', '--cat', '/proc/self/uid_map']));
    const r = asUser(['--root', join(home, 'state'), 'run', '--bundle', dir, 'rl1']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).cat.trim().split(/\s+/)).toEqual(['0', String(uid), '1']);
    const probe = asUser(['--root', join(home, 'state'), 'run', '--bundle', userBundle('run2', (s) => (s.process.args = ['/bin/probe'])), 'rl2']);
    expect(probeOutput(probe.stdout)).toMatchObject({ uid: 0, gid: 0, pid: 1, hostname: 'berth' });
    expect(readdirSync(join(home, 'state'))).toEqual([]);
    expect(leakSnapshot()).toEqual(before);
  });

  it('creates, starts, states, kills and deletes as the user', async () => {
    const dir = userBundle('lifecycle', (s) => (s.process.args = ['sleep', '30']));
    const root = join(home, 'state');
    expect(asUser(['--root', root, 'create', '--bundle', dir, 'rl3']).code).toBe(0);
    expect(JSON.parse(asUser(['--root', root, 'state', 'rl3']).stdout).status).toBe('created');
    expect(asUser(['--root', root, 'start', 'rl3']).code).toBe(0);
    const state = JSON.parse(asUser(['--root', root, 'state', 'rl3']).stdout);
    expect(state.status).toBe('running');
    expect(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${state.pid}/status`, 'utf8'))![1]).toBe(String(uid));
    expect(asUser(['--root', root, 'kill', 'rl3', 'KILL']).code).toBe(0);
    for (let i = 0; i < 100 && JSON.parse(asUser(['--root', root, 'state', 'rl3']).stdout).status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(asUser(['--root', root, 'delete', 'rl3']).code).toBe(0);
    expect(existsSync(join(root, 'rl3'))).toBe(false);
  });

  it('refuses limits it cannot enforce, naming linux.resources, and leaves nothing', () => {
    const dir = userBundle('limits', (s) => (s.linux.resources = { memory: { limit: 64 << 20 } }));
    const r = asUser(['--root', join(home, 'state'), 'create', '--bundle', dir, 'rl4']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/linux.resources: limits need a cgroup/);
    expect(readdirSync(join(home, 'state'))).toEqual([]);
  });
});
