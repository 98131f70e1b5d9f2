import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'fs';
import { join } from 'path';
import { Sandbox, leakSnapshot, requireRoot, sleep } from './support/env';

// The six OCI hooks on real containers: where each runs (runtime or container namespaces), when
// (create, start, delete), what it gets on stdin, and what a failure or a timeout does.

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

const ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'];

/** A host shell script, executable, at sb.dir/<name>. */
function hostScript(name: string, body: string): string {
  const path = join(sb.dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/**
 * Appends "<kind> <pid namespace> <comm of the state's pid or -> <state JSON>" to LOG: which
 * namespaces it ran in, whether the container's process had exec'd yet, and what it was told.
 * Used on the host and (with the rootfs's busybox) inside the container.
 */
const LOGGER = (log: string) => `state=$(cat)
pid=$(printf '%s' "$state" | sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p')
comm=$(cat /proc/$pid/comm 2>/dev/null || echo -)
[ -n "$DELAY" ] && sleep "$DELAY"
printf '%s %s %s %s\\n' "$1" "$(readlink /proc/self/ns/pid)" "$comm" "$state" >> ${log}`;

interface Entry {
  kind: string;
  pidns: string;
  comm: string;
  state: any;
}

function readLog(path: string): Entry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => {
    const [kind, pidns, comm, ...json] = l.split(' ');
    return { kind: kind!, pidns: pidns!, comm: comm!, state: JSON.parse(json.join(' ')) };
  });
}


/** Nothing of a container that failed to be created may remain. */
async function expectNothingLeft(id: string, before: ReturnType<typeof leakSnapshot>): Promise<void> {
  expect((await sb.run(['list', '-q'])).stdout).toBe('');
  expect(existsSync(join(sb.root, id))).toBe(false);
  for (const ctrl of readdirSync('/sys/fs/cgroup')) expect(existsSync(`/sys/fs/cgroup/${ctrl}/berth/${id}`)).toBe(false);
  expect(leakSnapshot()).toEqual(before);
}

describe('hooks', () => {
  it('runs all six kinds in order, each where it belongs, with the state on stdin', async () => {
    const logDir = join(sb.dir, 'hooklog');
    mkdirSync(logDir);
    const log = join(logDir, 'log');
    const host = hostScript('hook.sh', LOGGER(log));
    const hook = (kind: string, extra: object = {}) => ({ path: host, args: ['hook.sh', kind], env: ENV, ...extra });
    const bundle = sb.bundle((s) => {
      s.process.args = ['sleep', '30'];
      s.mounts.push({ destination: '/hooklog', source: logDir, options: ['rbind', 'rw'] });
      s.hooks = {
        prestart: [hook('prestart')],
        createRuntime: [hook('createRuntime')],
        createContainer: [hook('createContainer')],
        // Resolved in the container, after pivot_root: the script is in the rootfs. It takes its
        // time, so a poststart that did not wait for the user's process would overtake it.
        startContainer: [{ path: '/hooks/start.sh', args: ['start.sh', 'startContainer'], env: [...ENV, 'DELAY=0.3'] }],
        poststart: [hook('poststart')],
        poststop: [hook('poststop')],
      };
    });
    const rootfs = join(bundle, 'rootfs');
    symlinkSync('busybox', join(rootfs, 'bin', 'sed'));
    mkdirSync(join(rootfs, 'hooks'));
    writeFileSync(join(rootfs, 'hooks', 'start.sh'), `#!/bin/sh\n${LOGGER('/hooklog/log')}\n`);
    chmodSync(join(rootfs, 'hooks', 'start.sh'), 0o755);

    const id = sb.id();
    const hostPidns = readlinkSync('/proc/self/ns/pid');
    expect(await sb.run(['create', '--bundle', bundle, id])).toMatchObject({ code: 0, stderr: '' });
    const { pid } = JSON.parse((await sb.run(['state', id])).stdout);
    const containerPidns = readlinkSync(`/proc/${pid}/ns/pid`);
    expect(containerPidns).not.toBe(hostPidns);
    expect(readLog(log).map((e) => e.kind)).toEqual(['prestart', 'createRuntime', 'createContainer']);

    expect(await sb.run(['start', id])).toMatchObject({ code: 0, stderr: '' });
    expect(readLog(log).map((e) => e.kind)).toEqual(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart']);

    expect((await sb.run(['kill', id, 'KILL'])).code).toBe(0);
    await sb.waitStatus(id, 'stopped');
    expect(readLog(log)).toHaveLength(5); // kill runs no hook
    expect(await sb.run(['delete', id])).toMatchObject({ code: 0, stderr: '' });

    const entries = readLog(log);
    expect(entries.map((e) => [e.kind, e.state.status])).toEqual([
      ['prestart', 'creating'],
      ['createRuntime', 'creating'],
      // The two container-side hooks get the state of berth-init's "go" message. (runc gives
      // createContainer "creating"; berth gives both hooks "created".)
      ['createContainer', 'created'],
      ['startContainer', 'created'],
      ['poststart', 'running'],
      ['poststop', 'stopped'],
    ]);
    for (const e of entries) {
      expect(e.state).toMatchObject({ ociVersion: '1.1.0', id, bundle, rootfs });
      expect(e.state.pid).toBe(e.kind === 'poststop' ? 0 : pid);
    }
    // Runtime-namespace hooks run in ours; createContainer and startContainer in the container's.
    const ns = Object.fromEntries(entries.map((e) => [e.kind, e.pidns]));
    expect(ns).toEqual({
      prestart: hostPidns,
      createRuntime: hostPidns,
      createContainer: containerPidns,
      startContainer: containerPidns,
      poststart: hostPidns,
      poststop: hostPidns,
    });
    // Before start the container process is still berth-init; poststart sees the user's program.
    const comm = Object.fromEntries(entries.map((e) => [e.kind, e.comm]));
    expect(comm.prestart).toBe('berth:init');
    expect(comm.createRuntime).toBe('berth:init');
    expect(comm.poststart).toBe('sleep');
  });

  it('fails create when a prestart hook fails, naming it, and leaves nothing behind', async () => {
    const before = leakSnapshot();
    const marker = join(sb.dir, 'ran');
    const failing = hostScript('fail.sh', 'cat > /dev/null; echo "no network for you" >&2; exit 3');
    const later = hostScript('later.sh', `touch ${marker}`);
    const bundle = sb.bundle((s) => {
      s.process.args = ['sleep', '30'];
      s.hooks = { prestart: [{ path: failing, env: ENV }], createRuntime: [{ path: later, env: ENV }], poststart: [{ path: later, env: ENV }] };
    });
    const id = sb.id();
    const r = await sb.run(['create', '--bundle', bundle, id]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`berth-runtime: prestart hook #0 (${failing}): exit status 3: no network for you\n`);
    expect(existsSync(marker)).toBe(false); // later hooks do not run
    await expectNothingLeft(id, before);
  });

  it('fails create when a createContainer hook fails inside the container', async () => {
    const before = leakSnapshot();
    const failing = hostScript('fail.sh', 'exit 4');
    const bundle = sb.bundle((s) => {
      s.process.args = ['sleep', '30'];
      s.hooks = { createContainer: [{ path: failing, env: ENV }] };
    });
    const id = sb.id();
    const r = await sb.run(['create', '--bundle', bundle, id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(`createContainer hook "${failing}": exited with status 4`);
    await expectNothingLeft(id, before);
  });

  it('only warns when a poststart hook fails: start succeeds and the container runs', async () => {
    const failing = hostScript('fail.sh', 'cat > /dev/null; exit 5');
    const bundle = sb.bundle((s) => {
      s.process.args = ['sleep', '30'];
      s.hooks = { poststart: [{ path: failing, env: ENV }] };
    });
    const id = sb.id();
    expect((await sb.run(['create', '--bundle', bundle, id])).code).toBe(0);
    const r = await sb.run(['start', id]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(`poststart hook #0 (${failing}): exit status 5`);
    expect(JSON.parse((await sb.run(['state', id])).stdout).status).toBe('running');
  });

  it('only warns when a poststop hook fails: delete succeeds', async () => {
    const failing = hostScript('fail.sh', 'cat > /dev/null; exit 6');
    const id = sb.id();
    const bundle = sb.bundle((s) => {
      s.process.args = ['true'];
      s.hooks = { poststop: [{ path: failing, env: ENV }] };
    });
    expect((await sb.run(['run', '-d', '--bundle', bundle, id])).code).toBe(0);
    await sb.waitStatus(id, 'stopped');
    const r = await sb.run(['delete', id]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(`poststop hook #0 (${failing}): exit status 6`);
    expect(existsSync(join(sb.root, id))).toBe(false);
  });

  it('kills a runtime hook that times out, with what it started, and fails create', async () => {
    const before = leakSnapshot();
    const pids = join(sb.dir, 'pids');
    const slow = hostScript('slow.sh', `sleep 60 & echo "$$ $!" > ${pids}; wait`);
    const bundle = sb.bundle((s) => {
      s.process.args = ['sleep', '30'];
      s.hooks = { createRuntime: [{ path: slow, env: ENV, timeout: 1 }] };
    });
    const id = sb.id();
    const t0 = Date.now();
    const r = await sb.run(['create', '--bundle', bundle, id]);
    const took = Date.now() - t0;
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`berth-runtime: createRuntime hook #0 (${slow}): timed out after 1s\n`);
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(5000);
    // The hook's shell and its background sleep are both gone (killed as a process group).
    const [shPid, sleepPid] = readFileSync(pids, 'utf8').trim().split(' ').map(Number);
    for (const p of [shPid!, sleepPid!]) await expectDead(p);
    await expectNothingLeft(id, before);
  });

  it('kills a container-side hook that times out, and fails create', async () => {
    const before = leakSnapshot();
    const pidFile = join(sb.dir, 'pid');
    // It runs in the container's pid namespace but sees the host's /proc (before pivot_root):
    // field 4 of cut's stat is the shell's pid as the host sees it; exec keeps that pid.
    const slow = hostScript('slow.sh', `cut -d' ' -f4 /proc/self/stat > ${pidFile}; exec sleep 60`);
    const bundle = sb.bundle((s) => {
      s.process.args = ['sleep', '30'];
      s.hooks = { createContainer: [{ path: slow, env: ENV, timeout: 1 }] };
    });
    const id = sb.id();
    const t0 = Date.now();
    const r = await sb.run(['create', '--bundle', bundle, id]);
    const took = Date.now() - t0;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(`createContainer hook "${slow}": timed out after 1 s`);
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(5000);
    await expectDead(Number(readFileSync(pidFile, 'utf8')));
    await expectNothingLeft(id, before);
  });
});

async function expectDead(pid: number): Promise<void> {
  const alive = () => {
    try {
      return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 100 && alive(); i++) await sleep(20);
  expect(`${pid} alive: ${alive()}`).toBe(`${pid} alive: false`);
}
