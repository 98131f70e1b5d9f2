import { spawn } from 'child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { requireRoot, type Result } from './support/env';
import { PrivateBerthd } from './support/berthd';
import { run } from './support/containerd';
import { BERTH, berthOk, berthRun } from './support/berth-cli';
import { buildImage, type Image } from './support/image';

// bin/berth's container lifecycle against a private berthd, as a Docker user types it: run -d,
// ps, inspect -f, stop, start, kill, wait, rm, rename; names (generated, unique, accepted
// wherever an id is) and id prefixes; berthd's state labels and --rm removal; and each run
// flag's effect seen from inside the container (berth-probe's report written to a bind mount)
// or on the host (the container's cgroup files). The scratch dir avoids the word "berth".

const IMG = 'berth-e2e/busybox';
/** Docker's default capability set as /proc/self/status shows it. */
const DOCKER_CAPS = '00000000a80425fb';
const CAP_SYS_ADMIN = 1n << 21n;
const CAP_CHOWN = 1n << 0n;

let d: PrivateBerthd;
let image: Image;
let out: string;

const berth = (args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Result> =>
  berthRun(d, args, { timeoutMs: opts.timeoutMs ?? 30000, ...(opts.env ? { env: opts.env } : {}) });

const ok = async (args: string[]): Promise<string> => (await berthOk(d, args)).trim();

let n = 0;
/** Runs `script` detached with `flags` and /out bound to a fresh host dir; waits; returns the exit code and the dir. */
async function runIn(flags: string[], script: string): Promise<{ code: number; dir: string; id: string }> {
  const dir = join(out, `r${n++}`);
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  const id = await ok(['run', '-d', '-v', `${dir}:/out`, ...flags, IMG, 'sh', '-c', script]);
  const code = Number(await ok(['wait', id]));
  await ok(['rm', id]);
  return { code, dir, id };
}

/** berth-probe's report (probe > /out/p.json) of a container run with `flags`. */
async function probe(flags: string[]): Promise<any> {
  const { code, dir } = await runIn(flags, 'probe > /out/p.json');
  expect(code).toBe(0);
  return JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8'));
}

const cgroupFile = (controller: string, id: string, file: string): string => readFileSync(`/sys/fs/cgroup/${controller}/berth/${id}/${file}`, 'utf8').trim();

async function until(what: string, check: () => Promise<boolean>, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  requireRoot();
  d = new PrivateBerthd();
  out = mkdtempSync(join(tmpdir(), 'bc-out-'));
  image = buildImage();
  await d.start();
  const r = await berth(['load', '-i', image.tar]);
  expect(r.code).toBe(0);
}, 60000);

afterAll(async () => {
  await d?.cleanup();
  image?.cleanup();
  if (out) rmSync(out, { recursive: true, force: true });
}, 60000);

describe('lifecycle', () => {
  test('run -d, ps, inspect, stop, start, kill, wait, rename, rm; names and id prefixes', async () => {
    const id = await ok(['run', '-d', '--name', 'web', IMG, 'sleep', '1000']);
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    const ps = (await ok(['ps'])).split('\n');
    expect(ps[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(ps[1]).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+${IMG}\\s+"sleep 1000"\\s+.* ago\\s+Up .*\\s+web$`));
    expect((await ok(['ps', '-q'])).split('\n')).toContain(id.slice(0, 12));
    expect(await ok(['ps', '--format', '{{.Names}} {{.State}}'])).toBe('web running');

    // name, full id and a unique prefix all name it
    const pid = Number(await ok(['inspect', '-f', '{{.State.Pid}}', 'web']));
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    expect(await ok(['inspect', '-f', '{{.Id}} {{.Name}} {{.State.Status}} {{.Config.Hostname}}', id.slice(0, 6)])).toBe(`${id} /web running ${id.slice(0, 12)}`);
    // the default network gave it an address (berthd's networks plugin)
    expect(await ok(['inspect', '-f', '{{json .Config.Cmd}}|{{.NetworkSettings.IPAddress}}|{{.HostConfig.RestartPolicy.Name}}', id])).toMatch(/^\["sleep","1000"\]\|\d+\.\d+\.\d+\.\d+\|no$/);
    const doc = JSON.parse(await ok(['inspect', 'web']));
    expect(doc).toHaveLength(1);
    expect(doc[0].State.Running).toBe(true);
    expect(doc[0].Config.Image).toBe(IMG);
    expect(doc[0].Image).toBe(image.configDigest);
    const missing = await berth(['inspect', 'nosuch']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No such object: nosuch');

    // names are unique per namespace, checked by berthd
    const dup = await berth(['run', '-d', '--name', 'web', IMG, 'true']);
    expect(dup.code).toBe(125);
    expect(dup.stderr).toContain(`Conflict. The container name "/web" is already in use by container "${id}"`);

    // rm of a running container needs -f
    const rmRunning = await berth(['rm', 'web']);
    expect(rmRunning.code).toBe(1);
    expect(rmRunning.stderr).toContain('stop the container before removing or force remove');

    // stop: sleep as pid 1 ignores SIGTERM, so -t 1 ends in SIGKILL after one second
    const t0 = Date.now();
    expect(await ok(['stop', '-t', '1', 'web'])).toBe('web');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await ok(['ps', '-q'])).toBe('');
    expect(await ok(['ps', '-a', '--format', '{{.Names}}\t{{.Status}}'])).toMatch(/^web\tExited \(137\) .* ago$/);
    const stopped = JSON.parse(await ok(['inspect', 'web']))[0].State;
    expect(stopped).toMatchObject({ Status: 'exited', Running: false, ExitCode: 137, Pid: 0 });
    expect(Date.parse(stopped.FinishedAt)).toBeGreaterThanOrEqual(Date.parse(stopped.StartedAt));

    // start again: a new StartedAt, running
    expect(await ok(['start', 'web'])).toBe('web');
    const restarted = JSON.parse(await ok(['inspect', 'web']))[0].State;
    expect(restarted.Running).toBe(true);
    expect(Date.parse(restarted.StartedAt)).toBeGreaterThan(Date.parse(stopped.StartedAt));

    // rename: the new name works, the old one is free
    await ok(['rename', 'web', 'web2']);
    expect(await ok(['inspect', '-f', '{{.Name}}', 'web2'])).toBe('/web2');
    expect((await berth(['inspect', '--type', 'container', 'web'])).code).toBe(1);

    // kill (SIGKILL by default) and wait
    expect(await ok(['kill', 'web2'])).toBe('web2');
    expect(await ok(['wait', 'web2'])).toBe('137');
    const killAgain = await berth(['kill', 'web2']);
    expect(killAgain.code).toBe(1);
    expect(killAgain.stderr).toContain('is not running');

    // rm: the record, the snapshot and berthd's files go
    expect(await ok(['rm', 'web2'])).toBe('web2');
    expect(await ok(['ps', '-a', '-q'])).toBe('');
    expect((await d.ctr(['snapshots', 'ls'])).stdout).not.toContain(id);
    expect(existsSync(join(d.root, 'containers', 'default', id))).toBe(false);
  }, 60000);

  test('generated names, ps -a/-n/-l/--no-trunc/-f, wait codes, rm -f', async () => {
    const a = await ok(['run', '-d', IMG, 'sh', '-c', 'exit 3']);
    const b = await ok(['run', '-d', '-l', 'tier=db', IMG, 'sleep', '1000']);
    const nameA = await ok(['inspect', '-f', '{{.Name}}', a]);
    expect(nameA).toMatch(/^\/[a-z]+_[a-z]+$/);
    expect(await ok(['wait', a.slice(0, 10)])).toBe('3');
    expect(await ok(['ps', '-q'])).toBe(b.slice(0, 12));
    expect(await ok(['ps', '-a', '-q', '--no-trunc'])).toBe(`${b}\n${a}`);
    expect(await ok(['ps', '-l', '-q'])).toBe(b.slice(0, 12));
    expect(await ok(['ps', '-n', '2', '-q'])).toBe(`${b.slice(0, 12)}\n${a.slice(0, 12)}`);
    expect(await ok(['ps', '-a', '-q', '-f', 'status=exited'])).toBe(a.slice(0, 12));
    expect(await ok(['ps', '-a', '-q', '-f', 'exited=3'])).toBe(a.slice(0, 12));
    expect(await ok(['ps', '-a', '-q', '-f', 'label=tier=db'])).toBe(b.slice(0, 12));
    expect(await ok(['ps', '-a', '-q', '-f', `name=${nameA.slice(1)}`])).toBe(a.slice(0, 12));
    expect(JSON.parse(await ok(['ps', '--format', 'json'])).ID).toBe(b.slice(0, 12));
    expect(await ok(['rm', '-f', b, a])).toBe(`${b}\n${a}`);
    expect(await ok(['ps', '-a', '-q'])).toBe('');
  }, 60000);

  test('--rm: berthd removes the container after it exits, with no client waiting', async () => {
    const id = await ok(['run', '-d', '--rm', IMG, 'sh', '-c', 'sleep 0.3; exit 4']);
    await until('auto-removal', async () => !(await d.ctr(['containers', 'ls', '-q'])).stdout.includes(id));
    await until('the snapshot to go', async () => !(await d.ctr(['snapshots', 'ls'])).stdout.includes(id));
    expect(existsSync(join(d.root, 'containers', 'default', id))).toBe(false);
    expect(d.log()).toContain('auto-removed container');
  }, 30000);

  test('attached run returns the exit status; -a, -i, --sig-proxy; 127 and 126 when the command cannot run', async () => {
    const r = await berth(['run', '--rm', IMG, 'sh', '-c', 'echo out; exit 6']);
    expect(r.code).toBe(6);
    expect(r.stdout).toBe('out\n');
    expect(await ok(['ps', '-a', '-q'])).toBe('');
    const notFound = await berth(['run', '--rm', IMG, 'no-such-command']);
    expect(notFound.code).toBe(127);
    const notExec = await berth(['run', '--rm', IMG, '/etc']);
    expect(notExec.code).toBe(126);
    // -a: only the streams asked for; -i: our stdin is the container's
    const onlyOut = await berth(['run', '--rm', '-a', 'stdout', IMG, 'sh', '-c', 'echo o; echo e >&2']);
    expect([onlyOut.code, onlyOut.stdout, onlyOut.stderr]).toEqual([0, 'o\n', '']);
    const piped = await run(BERTH, ['-H', `unix://${d.address}`, 'run', '--rm', '-i', IMG, 'sh', '-c', 'read x; echo "got $x"'], { input: 'hello\n' });
    expect([piped.code, piped.stdout]).toEqual([0, 'got hello\n']);
    // --sig-proxy (default): a SIGTERM to berth reaches the container's shell
    const child = spawn(BERTH, ['-H', `unix://${d.address}`, 'run', '--rm', IMG, 'sh', '-c', 'trap "exit 9" TERM; echo ready; sleep 100 & wait'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve) => child.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve()));
    child.kill('SIGTERM');
    expect(await new Promise((resolve) => child.on('exit', (code: number) => resolve(code)))).toBe(9);
    // --pull never: without it berth would try Docker Hub, and tests reach only loopback
    const noImage = await berth(['run', '--pull', 'never', 'no-such-image']);
    expect(noImage.code).toBe(125);
    expect(noImage.stderr).toContain('no-such-image');
    expect(await ok(['ps', '-a', '-q'])).toBe('');
  }, 30000);

  test('--sig-proxy=false keeps signals to berth away from the container; -v …:ro refuses writes', async () => {
    const child = spawn(BERTH, ['-H', `unix://${d.address}`, 'run', '--name', 'nosig', '--sig-proxy=false', IMG, 'sh', '-c', 'trap "exit 9" TERM; echo ready; sleep 100 & wait'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve) => child.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve()));
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('exit', resolve));
    // berth itself went away; the container did not get the signal and runs on
    expect(await ok(['inspect', '-f', '{{.State.Running}}', 'nosig'])).toBe('true');
    await ok(['rm', '-f', 'nosig']);

    const ro = join(out, 'ro');
    mkdirSync(ro);
    const { code, dir } = await runIn(['-v', `${ro}:/ro:ro`], 'echo x > /ro/f; echo $? > /out/rc; echo y > /out/rw-ok');
    expect(code).toBe(0);
    expect(readFileSync(join(dir, 'rc'), 'utf8').trim()).not.toBe('0');
    expect(existsSync(join(ro, 'f'))).toBe(false);
    expect(readFileSync(join(dir, 'rw-ok'), 'utf8')).toBe('y\n'); // the same run's rw bind still writes
  }, 30000);

  test('create, then start; --cidfile; stop-signal and stop-timeout', async () => {
    const cid = join(out, 'cid');
    const id = await ok(['create', '--cidfile', cid, '--name', 'made', IMG, 'sleep', '1000']);
    expect(readFileSync(cid, 'utf8')).toBe(id);
    expect(await ok(['ps', '-a', '--format', '{{.Names}} {{.Status}}'])).toBe('made Created');
    expect(await ok(['inspect', '-f', '{{.State.Status}} {{.HostConfig.ContainerIDFile}}', 'made'])).toBe(`created ${cid}`);
    const again = await berth(['create', '--cidfile', cid, IMG, 'true']);
    expect(again.code).toBe(125);
    expect(again.stderr).toContain('Container ID file found');
    await ok(['start', 'made']);
    expect(await ok(['inspect', '-f', '{{.State.Running}}', 'made'])).toBe('true');
    await ok(['rm', '-f', 'made']);

    // --stop-signal: the shell (pid 1: only signals it handles reach it) exits on SIGQUIT, not on SIGTERM
    const q = await ok(['run', '-d', '--stop-signal', 'SIGQUIT', IMG, 'sh', '-c', 'trap "exit 7" QUIT; trap "" TERM; sleep 1000 & wait']);
    await new Promise((r) => setTimeout(r, 300)); // the traps are set
    const t0 = Date.now();
    await ok(['stop', q]);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(await ok(['inspect', '-f', '{{.State.ExitCode}} {{.Config.StopSignal}}', q])).toBe('7 SIGQUIT');
    await ok(['rm', q]);
    // --stop-timeout: the SIGKILL comes after 1 s instead of 10
    const t = await ok(['run', '-d', '--stop-timeout', '1', IMG, 'sleep', '1000']);
    const t1 = Date.now();
    await ok(['stop', t]);
    const took = Date.now() - t1;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(5000);
    expect(await ok(['inspect', '-f', '{{.State.ExitCode}}', t])).toBe('137');
    await ok(['rm', t]);
  }, 60000);
});

describe('run flags, seen from inside the container', () => {
  test('defaults: Docker capabilities, seccomp, hostname = id, /etc files, env, cwd, mounts', async () => {
    const { code, dir, id } = await runIn([], 'probe > /out/p.json; cat /etc/hostname /etc/hosts > /out/etc; grep Seccomp: /proc/self/status > /out/seccomp');
    expect(code).toBe(0);
    const p = JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8'));
    expect(p.caps.bounding).toBe(DOCKER_CAPS);
    expect(p.caps.effective).toBe(DOCKER_CAPS);
    expect(p.no_new_privs).toBe(false);
    expect(p.uid).toBe(0);
    expect(p.hostname).toBe(id.slice(0, 12));
    expect(p.cwd).toBe('/');
    expect(p.env).toEqual(expect.arrayContaining([`HOSTNAME=${id.slice(0, 12)}`, 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']));
    expect(p.env.some((e: string) => e.startsWith('TERM='))).toBe(false);
    const mounts = new Map<string, any>(p.mounts.map((m: any) => [m.mountpoint, m]));
    expect(mounts.get('/dev/shm').fstype).toBe('tmpfs');
    expect(mounts.get('/dev/mqueue').fstype).toBe('mqueue');
    expect(mounts.get('/sys').options).toMatch(/(^|,)ro(,|$)/);
    expect(readFileSync(join(dir, 'etc'), 'utf8')).toMatch(new RegExp(`^${id.slice(0, 12)}\n127\\.0\\.0\\.1\tlocalhost\n`));
    expect(readFileSync(join(dir, 'seccomp'), 'utf8').trim()).toBe('Seccomp:\t2');
  }, 30000);

  test('-e, --env-file, -w, -u, -h, --add-host, --dns, --entrypoint, -l, --label-file', async () => {
    const envFile = join(out, 'env.list');
    writeFileSync(envFile, '# comment\nFROM_FILE=1\nFROM_HOST\n\n');
    const labelFile = join(out, 'labels.list');
    writeFileSync(labelFile, 'from.file=yes\n');
    process.env.FROM_HOST = 'host-value'; // -e FROM_HOST and a bare line in --env-file take berth's own
    const dir = join(out, 'flags');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const id = await ok([
      'run', '-d', '-v', `${dir}:/out`, '-e', 'FOO=bar', '-e', 'FROM_HOST', '--env-file', envFile, '-w', '/tmp', '-u', 'nobody',
      '-h', 'myhost', '--add-host', 'db:10.1.2.3', '--dns', '9.9.9.9', '-l', 'a=b', '--label-file', labelFile,
      '--entrypoint', '/bin/sh', IMG, '-c', 'probe > /out/p.json; cat /etc/hosts > /out/hosts; cat /etc/resolv.conf > /out/resolv',
    ]);
    expect(await ok(['wait', id])).toBe('0');
    const p = JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8'));
    expect(p.env).toEqual(expect.arrayContaining(['FOO=bar', 'FROM_FILE=1', 'FROM_HOST=host-value', 'HOSTNAME=myhost']));
    expect(p.cwd).toBe('/tmp');
    expect([p.uid, p.gid]).toEqual([65534, 65534]);
    expect(p.hostname).toBe('myhost');
    expect(readFileSync(join(dir, 'hosts'), 'utf8')).toContain('10.1.2.3\tdb\n');
    expect(readFileSync(join(dir, 'resolv'), 'utf8')).toMatch(/^nameserver 9\.9\.9\.9$/m);
    expect(readFileSync(join(dir, 'resolv'), 'utf8')).not.toMatch(/^nameserver (?!9\.9\.9\.9)/m);
    const cfg = JSON.parse(await ok(['inspect', '-f', '{{json .Config}}', id]));
    expect(cfg.Entrypoint).toEqual(['/bin/sh']);
    expect(cfg.Labels).toEqual({ a: 'b', 'from.file': 'yes' });
    expect(await ok(['ps', '-a', '-q', '-f', 'label=from.file=yes'])).toBe(id.slice(0, 12));
    await ok(['rm', id]);
  }, 30000);

  test('--privileged, --cap-add/--cap-drop, --security-opt, --ulimit, --read-only, --tmpfs, --shm-size, --device, --init', async () => {
    // every capability this host's root has (its bounding set may be reduced when it is itself a container)
    const priv = await probe(['--privileged']);
    const hostBounding = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1];
    expect(priv.caps.bounding).toBe(hostBounding);
    expect(BigInt(`0x${priv.caps.bounding}`) & CAP_SYS_ADMIN).toBe(CAP_SYS_ADMIN);
    const privMounts = new Map<string, any>(priv.mounts.map((m: any) => [m.mountpoint, m]));
    expect(privMounts.get('/sys').options).toMatch(/(^|,)rw(,|$)/);

    const capped = await probe(['--cap-add', 'SYS_ADMIN', '--cap-drop', 'CHOWN']);
    const caps = BigInt(`0x${capped.caps.bounding}`);
    expect(caps & CAP_SYS_ADMIN).toBe(CAP_SYS_ADMIN);
    expect(caps & CAP_CHOWN).toBe(0n);

    expect((await probe(['--security-opt', 'no-new-privileges'])).no_new_privs).toBe(true);
    const unconfined = await runIn(['--security-opt', 'seccomp=unconfined'], 'grep Seccomp: /proc/self/status > /out/s');
    expect(readFileSync(join(unconfined.dir, 's'), 'utf8').trim()).toBe('Seccomp:\t0');
    // a profile file in Docker's format: everything allowed but mkdir
    const profile = join(out, 'profile.json');
    writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }));
    const custom = await runIn(['--security-opt', `seccomp=${profile}`], 'mkdir /tmp/x 2> /out/err; echo $? > /out/rc');
    expect(readFileSync(join(custom.dir, 'rc'), 'utf8').trim()).not.toBe('0');
    expect(readFileSync(join(custom.dir, 'err'), 'utf8')).toContain('Operation not permitted');

    expect((await probe(['--ulimit', 'nofile=1000:2000'])).rlimits.nofile).toEqual({ soft: 1000, hard: 2000 });

    const ro = await runIn(['--read-only', '--tmpfs', '/scratch:size=1m', '--shm-size', '2m'], 'touch /x 2>/out/root-err; touch /scratch/y && echo ok > /out/tmpfs; probe > /out/p.json');
    expect(ro.code).toBe(0);
    expect(readFileSync(join(ro.dir, 'root-err'), 'utf8')).toContain('Read-only file system');
    expect(readFileSync(join(ro.dir, 'tmpfs'), 'utf8')).toBe('ok\n');
    const roMounts = new Map<string, any>(JSON.parse(readFileSync(join(ro.dir, 'p.json'), 'utf8')).mounts.map((m: any) => [m.mountpoint, m]));
    expect(roMounts.get('/scratch').fstype).toBe('tmpfs');
    expect(roMounts.get('/scratch').options).toContain('noexec');
    expect(roMounts.get('/').options).toMatch(/(^|,)ro(,|$)/);

    const shm = await runIn(['--shm-size', '2m'], "df -k /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2 > /out/size 2>&1 || stat -f -c '%b %S' /dev/shm > /out/size");
    expect(shm.code).toBe(0);
    const size = readFileSync(join(shm.dir, 'size'), 'utf8').trim().split(' ');
    expect(size.length === 1 ? Number(size[0]) : (Number(size[0]) * Number(size[1])) / 1024).toBe(2048);

    const dev = await runIn(['--device', '/dev/null:/dev/mynull'], 'test -c /dev/mynull && echo hi > /dev/mynull && echo ok > /out/dev');
    expect(readFileSync(join(dev.dir, 'dev'), 'utf8')).toBe('ok\n');

    const init = await runIn(['--init'], 'cat /proc/1/cmdline | tr "\\0" " " > /out/init; echo $$ > /out/pid');
    expect(readFileSync(join(init.dir, 'init'), 'utf8')).toMatch(/^\/sbin\/docker-init -- sh -c /);
    expect(Number(readFileSync(join(init.dir, 'pid'), 'utf8'))).toBeGreaterThan(1);
  }, 90000);

  test('resources: -m, --memory-swap, --cpus, -c, --cpu-period/--cpu-quota, --cpuset-cpus/-mems, --pids-limit, --oom-kill-disable', async () => {
    const id = await ok([
      'run', '-d', '-m', '64m', '--memory-swap', '128m', '--cpus', '0.5', '-c', '512', '--cpuset-cpus', '0', '--cpuset-mems', '0',
      '--pids-limit', '50', '--oom-kill-disable', IMG, 'sleep', '1000',
    ]);
    expect(cgroupFile('memory', id, 'memory.limit_in_bytes')).toBe(String(64 * 1024 * 1024));
    expect(cgroupFile('memory', id, 'memory.memsw.limit_in_bytes')).toBe(String(128 * 1024 * 1024));
    expect(cgroupFile('memory', id, 'memory.oom_control')).toContain('oom_kill_disable 1');
    expect(cgroupFile('cpu', id, 'cpu.cfs_quota_us')).toBe('50000');
    expect(cgroupFile('cpu', id, 'cpu.cfs_period_us')).toBe('100000');
    expect(cgroupFile('cpu', id, 'cpu.shares')).toBe('512');
    expect(cgroupFile('cpuset', id, 'cpuset.cpus')).toBe('0');
    expect(cgroupFile('cpuset', id, 'cpuset.mems')).toBe('0');
    expect(cgroupFile('pids', id, 'pids.max')).toBe('50');
    const host = JSON.parse(await ok(['inspect', '-f', '{{json .HostConfig}}', id]));
    expect(host).toMatchObject({ Memory: 67108864, MemorySwap: 134217728, NanoCpus: 500000000, CpuShares: 512, PidsLimit: 50, OomKillDisable: true });
    await ok(['rm', '-f', id]);

    const q = await ok(['run', '-d', '--cpu-period', '50000', '--cpu-quota', '25000', '-m', '32m', IMG, 'sleep', '1000']);
    expect(cgroupFile('cpu', q, 'cpu.cfs_period_us')).toBe('50000');
    expect(cgroupFile('cpu', q, 'cpu.cfs_quota_us')).toBe('25000');
    // without --memory-swap Docker allows as much swap as memory
    expect(cgroupFile('memory', q, 'memory.memsw.limit_in_bytes')).toBe(String(64 * 1024 * 1024));
    await ok(['rm', '-f', q]);

    const conflict = await berth(['run', '-d', '--cpus', '1', '--cpu-quota', '1000', IMG, 'true']);
    expect(conflict.code).toBe(125);
  }, 60000);

  test('--restart is recorded for berthd; --rm with --restart is refused', async () => {
    const id = await ok(['create', '--restart', 'on-failure:3', IMG, 'true']);
    expect(await ok(['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}', id])).toBe('on-failure:3');
    expect((await d.ctr(['containers', 'info', id])).stdout).toContain('"containerd.io/restart.policy": "on-failure:3"');
    await ok(['rm', id]);
    const before = readdirSync(join(d.root, 'containers', 'default'));
    const both = await berth(['run', '--rm', '--restart', 'always', IMG, 'true']);
    expect(both.code).toBe(125);
    expect(both.stderr).toContain('Conflicting options: --restart and --rm');
    expect(readdirSync(join(d.root, 'containers', 'default'))).toEqual(before);
  }, 30000);
});
