import { spawnSync } from 'child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'fs';
import { join } from 'path';
import { sleep, type Result } from './support/env';
import { PrivateBerthd, usePrivateBerthd } from './support/berthd';
import { BERTH, berthOk, berthRun, berthSh, until } from './support/berth-cli';
import type { Image } from './support/image';

// The last gaps of the berth client (issue 5), each seen where it takes effect: `cp` through a
// container's bind mounts (the host directory, both ways, running and stopped; read-only
// refused), `events --since/--until` replaying berthd's recent events, `ps -s` / `inspect -s`
// sizes, `--privileged` giving the host's device nodes, `--ulimit nofile=-1` clamped to what
// berthd can give, `exec -u` setting HOME, and `exec -d` records deleted once they exit.

let d: PrivateBerthd;
let image: Image;
let out: string;

usePrivateBerthd({ importImage: true }, (it) => ({ d, image } = it));
beforeAll(() => {
  out = join(d.dir, 'out');
  mkdirSync(out);
});

const berth = (args: string[], timeoutMs = 30_000): Promise<Result> => berthRun(d, args, { timeoutMs });
const sh = (script: string): Promise<Result> => berthSh(d, script);

const ok = (args: string[]): Promise<string> => berthOk(d, args);

/** A fresh host directory under the test's scratch dir, writable by anyone. */
function hostDir(name: string): string {
  const p = join(out, name);
  mkdirSync(p, { recursive: true });
  chmodSync(p, 0o777);
  return p;
}

describe('berth cp through bind mounts', () => {
  let data: string;
  let ro: string;
  let local: string;
  beforeAll(async () => {
    data = hostDir('data');
    ro = hostDir('ro');
    local = hostDir('local');
    writeFileSync(join(ro, 'kept'), 'read-only source\n');
    writeFileSync(join(local, 'in.txt'), 'from the host\n');
    chmodSync(join(local, 'in.txt'), 0o640);
    await ok(['run', '-d', '--name', 'vols', '-v', `${data}:/data`, '-v', `${ro}:/ro:ro`, image.ref, 'sleep', '1000']);
  });

  it('into a running container: the file is in the host directory and the container sees it', async () => {
    expect(await berth(['cp', join(local, 'in.txt'), 'vols:/data/'])).toMatchObject({ code: 0, stderr: '' });
    expect(readFileSync(join(data, 'in.txt'), 'utf8')).toBe('from the host\n');
    expect((await ok(['exec', 'vols', 'sh', '-c', 'cat /data/in.txt; stat -c "%a %u" /data/in.txt']))).toBe('from the host\n640 0\n');
    // a new name in the mount, and a directory with contents
    mkdirSync(join(local, 'tree', 'sub'), { recursive: true });
    writeFileSync(join(local, 'tree', 'sub', 'leaf'), 'leaf\n');
    await ok(['cp', join(local, 'in.txt'), 'vols:/data/renamed.txt']);
    await ok(['cp', join(local, 'tree'), 'vols:/data/tree']);
    expect(readFileSync(join(data, 'renamed.txt'), 'utf8')).toBe('from the host\n');
    expect(readFileSync(join(data, 'tree', 'sub', 'leaf'), 'utf8')).toBe('leaf\n');
    expect(await ok(['exec', 'vols', 'cat', '/data/tree/sub/leaf'])).toBe('leaf\n');
  });

  it('out of a running container: what the container wrote in the mount, and a copy of "/" holding it', async () => {
    await ok(['exec', 'vols', 'sh', '-c', 'echo written inside > /data/from-inside']);
    const dest = hostDir('got');
    await ok(['cp', 'vols:/data/from-inside', join(dest, 'f')]);
    expect(readFileSync(join(dest, 'f'), 'utf8')).toBe('written inside\n');
    await ok(['cp', 'vols:/data', join(dest, 'data-copy')]);
    expect(readFileSync(join(dest, 'data-copy', 'tree', 'sub', 'leaf'), 'utf8')).toBe('leaf\n');
    // /etc/hostname is berthd's file bind-mounted in: cp reads what the container reads
    const hostname = (await ok(['exec', 'vols', 'cat', '/etc/hostname']));
    const tar = await sh(`${BERTH} cp vols:/etc/hostname - | tar -xOf -`);
    expect(tar).toMatchObject({ code: 0, stdout: hostname });
    const listing = await sh(`${BERTH} cp vols:/ - | tar -tf - | grep -E '^\\./(data|ro)/' | sort`);
    expect(listing.stdout.split('\n')).toEqual(expect.arrayContaining(['./data/from-inside', './data/in.txt', './ro/kept']));
  });

  it('a read-only mount refuses a copy in, with Docker\'s message; nothing is written', async () => {
    const r = await berth(['cp', join(local, 'in.txt'), 'vols:/ro/']);
    expect(r).toMatchObject({ code: 1, stderr: 'berth: mounted volume is marked read-only\n' });
    expect(readdirSync(ro)).toEqual(['kept']);
    expect(await ok(['exec', 'vols', 'ls', '/ro'])).toBe('kept\n');
    // reading from it is fine
    const got = hostDir('from-ro');
    await ok(['cp', 'vols:/ro/kept', got]);
    expect(readFileSync(join(got, 'kept'), 'utf8')).toBe('read-only source\n');
  });

  it('a stopped container: its mounts are still the host directories; --read-only refuses its rootfs', async () => {
    await ok(['stop', '-t', '1', 'vols']);
    writeFileSync(join(local, 'later.txt'), 'while stopped\n');
    await ok(['cp', join(local, 'later.txt'), 'vols:/data/']);
    expect(readFileSync(join(data, 'later.txt'), 'utf8')).toBe('while stopped\n');
    const got = hostDir('stopped-out');
    await ok(['cp', 'vols:/data/from-inside', got]);
    expect(readFileSync(join(got, 'from-inside'), 'utf8')).toBe('written inside\n');
    expect((await berth(['cp', join(local, 'in.txt'), 'vols:/ro/'])).stderr).toBe('berth: mounted volume is marked read-only\n');
    await ok(['rm', 'vols']);

    await ok(['run', '-d', '--name', 'rofs', '--read-only', '-v', `${data}:/data`, image.ref, 'sleep', '1000']);
    expect(await berth(['cp', join(local, 'in.txt'), 'rofs:/tmp/'])).toMatchObject({ code: 1, stderr: 'berth: container rootfs is marked read-only\n' });
    await ok(['cp', join(local, 'in.txt'), 'rofs:/data/again.txt']);
    expect(readFileSync(join(data, 'again.txt'), 'utf8')).toBe('from the host\n');
    await ok(['rm', '-f', 'rofs']);
  });
});

describe('berth events --since/--until: berthd\'s recent events replayed', () => {
  const lifeOf = (text: string, name: string) => text.split('\n').filter((l) => l.endsWith(` name=${name})`) || l.includes(` name=${name},`)).map((l) => l.split(' ')[2]);

  it('a past window prints the kept events and ends, also for a container gone since', async () => {
    const t0 = Date.now();
    expect((await berth(['run', '--rm', '--name', 'shortlived', image.ref, 'sh', '-c', 'exit 3'])).code).toBe(3);
    await ok(['run', '-d', '--name', 'renamed-a', image.ref, 'sleep', '1000']);
    await ok(['rename', 'renamed-a', 'renamed-b']);
    await sleep(1100);
    const started = Date.now();
    const r = await berth(['events', '--since', '1m', '--until', '0s']);
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(lifeOf(r.stdout, 'shortlived')).toEqual(['create', 'start', 'die', 'destroy']);
    expect(r.stdout).toMatch(/ container die [0-9a-f]{64} \(exitCode=3, image=\S+, name=shortlived\)\n/);
    expect(r.stdout).toMatch(/ container rename [0-9a-f]{64} \(image=\S+, name=renamed-b, oldName=\/renamed-a\)\n/);
    // Docker's time forms: Unix seconds, RFC 3339; filters apply to the replay
    const unix = await ok(['events', '--since', (t0 / 1000).toFixed(3), '--until', String(Math.floor(Date.now() / 1000)), '-f', 'event=die', '--format', '{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}']);
    expect(unix).toBe('shortlived 3\n');
    const rfc = await ok(['events', '--since', new Date(t0 - 1000).toISOString(), '--until', new Date().toISOString(), '-f', 'container=shortlived', '--format', '{{.Action}}']);
    expect(rfc).toBe('create\nstart\ndie\ndestroy\n');
    // --until alone: everything kept up to then; a window before all of it: nothing
    expect(lifeOf(await ok(['events', '--until', '0s']), 'shortlived')).toEqual(['create', 'start', 'die', 'destroy']);
    expect(await ok(['events', '--since', String(Math.floor(t0 / 1000) - 3600), '--until', String(Math.floor(t0 / 1000) - 1800)])).toBe('');
    expect((await berth(['events', '--since', '1m', '--until', '2m'])).stderr).toMatch(/--until .* is before --since/);
    await ok(['rm', '-f', 'renamed-b']);
  });

  it('--since with a future --until: the replay, then live events, then the end', async () => {
    const t0 = Date.now();
    await ok(['run', '--rm', '--name', 'before-call', image.ref, 'true']);
    const call = berth(['events', '--since', String(t0 / 1000), '--until', String(Math.floor(Date.now() / 1000) + 3), '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
    await sleep(800);
    await ok(['run', '--rm', '--name', 'during-call', image.ref, 'true']);
    const r = await call;
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.filter((l) => l.endsWith(' before-call'))).toEqual(['create before-call', 'start before-call', 'die before-call', 'destroy before-call']);
    expect(lines.filter((l) => l.endsWith(' during-call'))).toEqual(['create during-call', 'start during-call', 'die during-call', 'destroy during-call']);
    expect(lines.indexOf('destroy before-call')).toBeLessThan(lines.indexOf('create during-call'));
  }, 30_000);
});

describe('berth ps -s and inspect -s', () => {
  it('the writable layer and the image under it, as Docker shows them', async () => {
    await ok(['run', '-d', '--name', 'sized', image.ref, 'sleep', '1000']);
    const before = (await ok(['inspect', '-s', '-f', '{{.SizeRw}} {{.SizeRootFs}}', 'sized'])).trim().split(' ').map(Number);
    await ok(['exec', 'sized', 'dd', 'if=/dev/zero', 'of=/big', 'bs=1024', 'count=300']);
    const [rw, rootFs] = (await ok(['inspect', '-s', '-f', '{{.SizeRw}} {{.SizeRootFs}}', 'sized'])).trim().split(' ').map(Number);
    expect(rw! - before[0]!).toBeGreaterThanOrEqual(300 * 1024);
    // the image's layers are the same before and after: only the writable layer grew
    expect(rootFs! - rw!).toBe(before[1]! - before[0]!);
    expect(rootFs! - rw!).toBeGreaterThan(1_000_000); // busybox-static and the probe
    const table = (await ok(['ps', '-s', '-f', 'name=sized'])).trimEnd().split('\n');
    expect(table[0]).toMatch(/ NAMES +SIZE$/);
    const human = (n: number) => `${Number((n / 1000).toPrecision(3))}kB`;
    expect(table[1]).toMatch(new RegExp(` sized +${human(rw!).replace('.', '\\.')} \\(virtual [0-9.]+MB\\)$`));
    expect(await ok(['ps', '--format', '{{.Names}}: {{.Size}}', '-f', 'name=sized'])).toMatch(/^sized: \d[\d.]*kB \(virtual [\d.]+MB\)\n$/);
    expect(await ok(['ps', '--format', '{{.Size}}', '--size=false', '-f', 'name=sized'])).toBe('0B\n');
    const doc = JSON.parse(await ok(['inspect', '-s', 'sized']))[0];
    expect(Object.keys(doc).slice(Object.keys(doc).indexOf('GraphDriver'), Object.keys(doc).indexOf('GraphDriver') + 3)).toEqual(['GraphDriver', 'SizeRw', 'SizeRootFs']);
    expect(JSON.parse(await ok(['inspect', 'sized']))[0].SizeRw).toBeUndefined();
    await ok(['rm', '-f', 'sized']);
  });
});

describe('--privileged and --ulimit -1', () => {
  /** A device node of this host that a container has only with --privileged. */
  function hostOnlyDevice(): string {
    const candidates = ['loop0', 'loop-control', 'kmsg', 'tty1', 'vda', 'sda', 'kvm', 'fuse'];
    const found = candidates.find((n) => existsSync(`/dev/${n}`));
    if (!found) throw new Error(`this host has none of /dev/{${candidates.join(',')}}`);
    return `/dev/${found}`;
  }

  it("--privileged: the host's device nodes, same numbers; without it, not there", async () => {
    const dev = hostOnlyDevice();
    const hostNumbers = spawnSync('stat', ['-c', '%t:%T', dev], { encoding: 'utf8' }).stdout;
    expect(hostNumbers).toMatch(/^[0-9a-f]+:[0-9a-f]+\n$/);
    const priv = await berth(['run', '--rm', '--privileged', image.ref, 'sh', '-c', `ls /dev; stat -c %t:%T ${dev}`]);
    expect(priv.code).toBe(0);
    const listed = priv.stdout.split('\n');
    expect(listed).toContain(dev.slice('/dev/'.length));
    expect(priv.stdout.endsWith(hostNumbers)).toBe(true);
    // what Docker leaves out: the host's console and ptmx (the container's is a link to its own devpts)
    expect((await ok(['run', '--rm', '--privileged', image.ref, 'sh', '-c', 'readlink /dev/ptmx; test -e /dev/console && echo console || echo no-console']))).toBe('pts/ptmx\nno-console\n');
    const plain = await ok(['run', '--rm', image.ref, 'ls', '/dev']);
    expect(plain.split('\n')).not.toContain(dev.slice('/dev/'.length));
  });

  it('--ulimit nofile=-1: unlimited asked, berthd\'s own hard limit given (a warning, not a failure)', async () => {
    const limits = readFileSync(`/proc/${d.child!.pid}/limits`, 'utf8');
    const hard = (label: string) => new RegExp(`^${label}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits)![1]!;
    const nofile = hard('Max open files');
    const r = await berth(['run', '--rm', '--ulimit', 'nofile=-1', image.ref, 'sh', '-c', 'ulimit -Sn; ulimit -Hn']);
    expect(r).toMatchObject({ code: 0, stdout: `${nofile}\n${nofile}\n` });
    expect(await ok(['run', '--rm', '--ulimit', 'nofile=-1:-1', image.ref, 'sh', '-c', 'ulimit -Hn'])).toBe(`${nofile}\n`);
    expect(await ok(['run', '--rm', '--ulimit', 'nofile=100:-1', image.ref, 'sh', '-c', 'ulimit -Sn; ulimit -Hn'])).toBe(`100\n${nofile}\n`);
    if (nofile !== 'unlimited') expect(readFileSync(d.logFile, 'utf8')).toContain(`RLIMIT_NOFILE hard limit unlimited lowered to ${nofile}`);
    // a limit berthd's own hard limit allows is given as asked
    const core = hard('Max core file size');
    expect(await ok(['run', '--rm', '--ulimit', 'core=-1', image.ref, 'sh', '-c', 'ulimit -Hc'])).toBe(`${core}\n`);
    expect((await berth(['run', '--rm', '--ulimit', 'nofile=-1:10', image.ref, 'true'])).code).toBe(125);
    expect((await berth(['run', '--rm', '--ulimit', 'nofile=-5', image.ref, 'true'])).stderr).toMatch(/-1 for unlimited/);
  });
});

describe('berth exec: HOME for -u, detached records', () => {
  let taskJson: string;
  beforeAll(async () => {
    const id = (await ok(['run', '-d', '--name', 'ex', image.ref, 'sh', '-c', 'echo "app:x:1000:1000:app:/home/app:/bin/sh" >> /etc/passwd; exec sleep 1000'])).trim();
    taskJson = join(d.state, 'tasks', 'default', id, 'task.json');
    await until('the user in /etc/passwd', async () => (await berth(['exec', 'ex', 'grep', '-q', '^app:', '/etc/passwd'])).code === 0);
  });

  it("-u NAME or UID: the user's HOME from the container's /etc/passwd, PATH kept; -e HOME wins", async () => {
    const show = 'echo "$HOME $(id -u) $PATH"';
    const path = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
    expect(await ok(['exec', '-u', 'app', 'ex', 'sh', '-c', show])).toBe(`/home/app 1000 ${path}\n`);
    expect(await ok(['exec', '-u', '1000', 'ex', 'sh', '-c', show])).toBe(`/home/app 1000 ${path}\n`);
    expect(await ok(['exec', '-u', 'root', 'ex', 'sh', '-c', show])).toBe(`/root 0 ${path}\n`);
    expect(await ok(['exec', '-u', '4321', 'ex', 'sh', '-c', show])).toBe(`/ 4321 ${path}\n`);
    expect(await ok(['exec', '-u', 'app', '-e', 'HOME=/custom', 'ex', 'sh', '-c', show])).toBe(`/custom 1000 ${path}\n`);
  });

  it('without -u too: HOME from /etc/passwd as runc sets it (run and exec), "/" for a user without an entry', async () => {
    expect(await ok(['exec', 'ex', 'sh', '-c', 'echo $HOME'])).toBe('/root\n');
    expect(await ok(['run', '--rm', image.ref, 'sh', '-c', 'echo $HOME'])).toBe('/root\n');
    expect(await ok(['run', '--rm', '-u', '4321', image.ref, 'sh', '-c', 'echo $HOME'])).toBe('/\n');
    expect(await ok(['run', '--rm', '-e', 'HOME=/x', image.ref, 'sh', '-c', 'echo $HOME'])).toBe('/x\n');
  });

  it('-d: each exec\'s record is deleted by berthd once it exits; a live one stays; a waited exec still reports its status', async () => {
    for (let i = 0; i < 5; i++) expect(await berth(['exec', '-d', 'ex', 'sh', '-c', 'sleep 0.1'])).toMatchObject({ code: 0, stdout: '' });
    await berth(['exec', '-d', 'ex', 'sleep', '1000']);
    const execs = () => Object.keys(JSON.parse(readFileSync(taskJson, 'utf8')).execs);
    await until('the exited execs gone from the task', () => execs().length === 1);
    await sleep(300);
    expect(execs()).toHaveLength(1);
    expect(execs()[0]).toMatch(/^detached-[0-9a-f]{32}$/);
    // the shim keeps no exit status for them either
    const shimDir = JSON.parse(readFileSync(taskJson, 'utf8')).shimDir as string;
    expect(readdirSync(shimDir).filter((f) => f.startsWith('exec-'))).toEqual([]);
    // the events still tell their story
    const dies = await ok(['events', '--since', '1m', '--until', '0s', '-f', 'event=exec_die', '-f', 'container=ex', '--format', '{{.Actor.Attributes.execID}} {{.Actor.Attributes.exitCode}}']);
    expect(dies.trimEnd().split('\n').filter((l) => /^detached-[0-9a-f]{32} 0$/.test(l)).length).toBeGreaterThanOrEqual(5);
    expect((await berth(['exec', 'ex', 'sh', '-c', 'exit 3'])).code).toBe(3);
    expect(execs()).toHaveLength(1);
  });

  it('-d across a berthd restart: an exec that exited while berthd was away is deleted when it is back', async () => {
    const execs = () => Object.keys(JSON.parse(readFileSync(taskJson, 'utf8')).execs);
    await ok(['exec', '-d', 'ex', 'sleep', '1']);
    expect(execs()).toHaveLength(2);
    await d.stop('SIGKILL');
    await sleep(1500); // the exec exits meanwhile; its shim keeps the status
    await d.start();
    await until('the exec that exited during the outage gone', () => execs().length === 1);
    expect(execs()[0]).toMatch(/^detached-/);
    expect((await berth(['exec', 'ex', 'true'])).code).toBe(0);
  }, 30_000);
});
