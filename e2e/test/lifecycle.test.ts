import { existsSync, readFileSync } from 'fs';
import { join } from 'path';
import { Sandbox, requireRoot, sleep } from './support/env';

// The create/start split, state, kill, delete and run, driven through the CLI as runc's
// callers drive it.

let sb: Sandbox;
beforeAll(requireRoot);
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

const sh = (script: string) => (spec: any) => (spec.process.args = ['sh', '-c', script]);

describe('create / start / state / delete', () => {
  it('holds the process at created until start, then runs it', async () => {
    const out = join(sb.dir, 'out');
    const bundle = sb.bundle((s) => {
      s.process.args = ['sh', '-c', 'echo started > /data/out; sleep 30'];
      s.mounts.push({ destination: '/data', source: sb.dir, options: ['rbind'] });
    });
    const id = sb.id();
    const pidFile = join(sb.dir, 'pid');
    const created = await sb.run(['create', '--bundle', bundle, '--pid-file', pidFile, id]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    const state = JSON.parse((await sb.run(['state', id])).stdout);
    expect(state).toMatchObject({ ociVersion: '1.1.0', id, status: 'created', bundle, rootfs: join(bundle, 'rootfs'), owner: '' });
    expect(Object.keys(state).slice(0, 8)).toEqual(['ociVersion', 'id', 'pid', 'status', 'bundle', 'rootfs', 'created', 'owner']);
    expect(Number(readFileSync(pidFile, 'utf8'))).toBe(state.pid);
    expect(new Date(state.created).getTime()).toBeGreaterThan(Date.now() - 60_000);
    await sleep(200);
    expect(existsSync(out)).toBe(false); // the user's process has not run yet

    expect((await sb.run(['start', id])).code).toBe(0);
    for (let i = 0; i < 100 && !existsSync(out); i++) await sleep(20);
    expect(readFileSync(out, 'utf8')).toBe('started\n');
    expect(JSON.parse((await sb.run(['state', id])).stdout).status).toBe('running');

    const again = await sb.run(['start', id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/cannot start a container that is running/);

    const refused = await sb.run(['delete', id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`berth-runtime: cannot delete container ${id} that is not stopped: running\n`);

    expect((await sb.run(['kill', id, 'KILL'])).code).toBe(0);
    await sb.waitStatus(id, 'stopped');
    const stopped = JSON.parse((await sb.run(['state', id])).stdout);
    expect(stopped.pid).toBe(0);
    expect((await sb.run(['delete', id])).code).toBe(0);
    expect(existsSync(join(sb.root, id))).toBe(false);
    const gone = await sb.run(['state', id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(`container ${id} does not exist`);
  });

  it('kills a created container and reports it stopped', async () => {
    const id = sb.id();
    expect((await sb.run(['create', '--bundle', sb.bundle(sh('sleep 30')), id])).code).toBe(0);
    expect((await sb.run(['kill', id, '9'])).code).toBe(0);
    await sb.waitStatus(id, 'stopped');
    expect((await sb.run(['delete', id])).code).toBe(0);
  });

  it('deletes a running container with --force, and a missing one quietly', async () => {
    const id = sb.id();
    expect((await sb.run(['run', '-d', '--bundle', sb.bundle(sh('sleep 30')), id])).code).toBe(0);
    const { pid } = JSON.parse((await sb.run(['state', id])).stdout);
    expect((await sb.run(['delete', '--force', id])).code).toBe(0);
    expect(existsSync(`/proc/${pid}/status`) && !readFileSync(`/proc/${pid}/status`, 'utf8').includes('State:\tZ')).toBe(false);
    expect((await sb.run(['delete', '--force', id])).code).toBe(0);
    expect((await sb.run(['delete', id])).code).toBe(1);
  });

  it('lists containers as a table, as JSON and quietly', async () => {
    const a = sb.id('a');
    const b = sb.id('b');
    await sb.run(['create', '--bundle', sb.bundle(sh('sleep 30')), a]);
    await sb.run(['run', '--detach', '--bundle', sb.bundle(sh('sleep 30')), b]);
    const table = (await sb.run(['list'])).stdout.split('\n');
    expect(table[0]).toMatch(/^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/);
    expect(table.find((l) => l.startsWith(a))).toMatch(/\screated\s/);
    expect(table.find((l) => l.startsWith(b))).toMatch(/\srunning\s/);
    const json = JSON.parse((await sb.run(['list', '--format', 'json'])).stdout);
    expect(json.map((s: any) => [s.id, s.status])).toEqual([[a, 'created'], [b, 'running']]);
    expect((await sb.run(['list', '-q'])).stdout).toBe(`${a}\n${b}\n`);
    expect((await sb.run(['list', '--format', 'yaml'])).stderr).toMatch(/invalid format option: yaml/);
  });
});

describe('run', () => {
  it('propagates the exit status and output, and removes the container', async () => {
    const id = sb.id();
    const r = await sb.run(['run', '--bundle', sb.bundle(sh('echo out; echo err >&2; exit 7')), id]);
    expect(r).toEqual({ code: 7, stdout: 'out\n', stderr: 'err\n' });
    expect((await sb.run(['list', '-q'])).stdout).toBe('');
  });

  it('reports death by signal as 128+signal', async () => {
    // The init of a pid namespace ignores SIGKILL sent from inside it: kill it from outside.
    const id = sb.id();
    const running = sb.run(['run', '--bundle', sb.bundle(sh('echo up; sleep 30')), id]);
    await sb.waitStatus(id, 'running');
    expect((await sb.run(['kill', id, 'KILL'])).code).toBe(0);
    expect((await running).code).toBe(137);
  });

  it('keeps the stopped container with --keep', async () => {
    const id = sb.id();
    expect((await sb.run(['run', '--keep', '--bundle', sb.bundle(sh('exit 0')), id])).code).toBe(0);
    expect(JSON.parse((await sb.run(['state', id])).stdout).status).toBe('stopped');
  });

  it('passes stdin through', async () => {
    const r = await sb.run(['run', '--bundle', sb.bundle(sh('cat')), sb.id()], { input: 'piped in\n' });
    expect(r.stdout).toBe('piped in\n');
  });

  it('forwards a signal it receives to the container', async () => {
    const bundle = sb.bundle(sh('trap "echo got TERM; exit 3" TERM; echo ready; while :; do sleep 0.05; done'));
    const { spawn } = await import('child_process');
    const { RUNTIME } = await import('./support/env');
    const child = spawn(RUNTIME, ['--root', sb.root, 'run', '--bundle', bundle, sb.id()], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    for (let i = 0; i < 200 && !out.includes('ready'); i++) await sleep(20);
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('close', r));
    expect(out).toBe('ready\ngot TERM\n');
    expect(code).toBe(3);
  });
});

describe('kill', () => {
  it.each([['TERM'], ['SIGTERM'], ['15']])('accepts the signal as %s', async (sig) => {
    const id = sb.id();
    await sb.run(['run', '-d', '--bundle', sb.bundle(sh('trap "exit 0" TERM; while :; do sleep 0.05; done')), id]);
    expect((await sb.run(['kill', id, sig])).code).toBe(0);
    await sb.waitStatus(id, 'stopped');
  });

  it('defaults to SIGTERM and kills every process with --all', async () => {
    const id = sb.id();
    await sb.run(['run', '-d', '--bundle', sb.bundle(sh('sleep 30 & sleep 30 & wait')), id]);
    await sleep(200);
    expect((await sb.run(['kill', '--all', id])).code).toBe(0);
    await sb.waitStatus(id, 'stopped');
  });

  it('rejects an unknown signal and a stopped container', async () => {
    const id = sb.id();
    await sb.run(['run', '-d', '--bundle', sb.bundle(sh('sleep 30')), id]);
    expect((await sb.run(['kill', id, 'NOPE'])).stderr).toMatch(/unknown signal: NOPE/);
    await sb.run(['kill', id, 'KILL']);
    await sb.waitStatus(id, 'stopped');
    expect((await sb.run(['kill', id])).stderr).toMatch(`container ${id} is not running`);
  });
});

describe('--log', () => {
  // containerd passes --log FILE --log-format json and reads the last error from the file.
  it('writes errors to the log file in runc\'s JSON shape', async () => {
    const log = join(sb.dir, 'runtime.log');
    const r = await sb.run(['--log', log, '--log-format', 'json', 'state', 'nope']);
    expect(r.code).toBe(1);
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', msg: 'container nope does not exist' });
    expect(new Date(lines[0].time).getTime()).toBeGreaterThan(Date.now() - 60_000);
  });
  it('writes logrus-style text lines by default, and rejects an unknown format', async () => {
    const log = join(sb.dir, 'text.log');
    await sb.run(['--log', log, 'kill', 'nope']);
    expect(readFileSync(log, 'utf8')).toMatch(/^time="[^"]+" level=error msg="container nope does not exist"\n$/);
    expect((await sb.run(['--log-format', 'xml', 'list'])).stderr).toMatch(/invalid log-format: xml/);
  });
});

