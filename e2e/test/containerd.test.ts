import { existsSync, readFileSync } from 'fs';
import { hostname } from 'os';
import { join } from 'path';
import { requireRoot, sleep, type Result } from './support/env';
import { buildImage, type Image } from './support/image';
import { Containerd, alive, both, cgroupOf, mountsUnder, ptyRun, readCalls, verbOf, type Leftovers, type RuntimeUnderTest } from './support/containerd';

// berth-runtime as a drop-in for runc under Debian's containerd 1.6: a private containerd,
// Debian's `ctr`, the runc v2 shim with BinaryName set by `ctr run --runc-binary`. Every
// scenario runs under runc first and then under berth-runtime, and the two transcripts
// (normalised for ids, pids and times) must be the same. A wrapper in front of each runtime
// records its argv, which proves which runtime ran and lets us compare what the shim asked.

jest.setTimeout(180_000);

let d: Containerd;
let image: Image;
let leftovers: Leftovers | undefined;

beforeAll(async () => {
  requireRoot();
  image = buildImage();
  d = await Containerd.start();
  const r = await d.ctr(['images', 'import', image.tar]);
  if (r.code !== 0) throw new Error(`ctr images import: ${r.stderr}`);
});

afterAll(async () => {
  try {
    leftovers = await d?.stop();
  } finally {
    image?.cleanup();
  }
  // Nothing the scenarios made may survive them: no mount under containerd's dirs, no shim,
  // no container cgroup.
  expect(leftovers).toEqual({ mounts: [], processes: [], cgroups: [], state: [] });
});

interface Step {
  step: string;
  code: number;
  out: string;
}

/** Makes a transcript comparable across runtimes: ids, pids, times, table padding. */
function normalise(text: string, id: string, pids: number[] = []): string {
  let t = text
    // ctr's own race: it resizes the pty of a process that may already have exited.
    .split('\n').filter((l) => !l.includes('resize pty')).join('\n')
    .replace(/time="[^"]*"/g, 'time=T')
    .replace(/\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?( \+0000 UTC|Z)?/g, 'T')
    .split(id).join('<id>');
  for (const p of [...pids].sort((a, b) => b - a)) t = t.replace(new RegExp(`\\b${p}\\b`, 'g'), '<pid>');
  return t.replace(/[ \t]+/g, ' ').replace(/ +\n/g, '\n');
}

function step(name: string, r: Result, id: string, pids: number[] = []): Step {
  return { step: name, code: r.code, out: normalise(r.stdout + r.stderr, id, pids) };
}

/** The runtime verbs the shim ran for container `id`, in order. */
function verbsFor(rt: RuntimeUnderTest, id: string): string[] {
  return readCalls(d.callsLog(rt)).filter((a) => a.includes(id)).map(verbOf);
}

/** ctr task ls, as {status, pid} of `id`. */
async function taskOf(id: string): Promise<{ status: string; pid: number } | undefined> {
  const r = await d.ctr(['task', 'ls']);
  const line = r.stdout.split('\n').find((l) => l.split(/\s+/)[0] === id);
  if (!line) return undefined;
  const [, pid, status] = line.trim().split(/\s+/);
  return { status: status!, pid: Number(pid) };
}

async function waitTaskStatus(id: string, status: string): Promise<string> {
  let last = '';
  for (let i = 0; i < 250; i++) {
    last = (await taskOf(id))?.status ?? 'absent';
    if (last === status) break;
    await sleep(20);
  }
  return last;
}

/** The container's cgroup directory in one v1 hierarchy, from /proc/PID/cgroup. */


const IMG = () => image.ref;

describe('containerd 1.6 (ctr) with runc and with berth-runtime', () => {
  it('ctr run --rm: stdout, exit codes, a death by signal, env, security settings and a missing binary: the same under both', async () => {
    const [runc, berth] = await both(async (rt) => {
      const steps: Step[] = [];
      const ids = { echo: `echo-${rt.tag}`, exit: `exit-${rt.tag}`, sig: `sig-${rt.tag}`, env: `env-${rt.tag}`, sec: `sec-${rt.tag}`, ro: `ro-${rt.tag}`, missing: `missing-${rt.tag}` };
      steps.push(step('echo', await d.ctr(['run', '--rm', ...d.runFlags(rt), IMG(), ids.echo, 'echo', 'hi']), ids.echo));
      steps.push(step('exit 3', await d.ctr(['run', '--rm', ...d.runFlags(rt), IMG(), ids.exit, 'sh', '-c', 'echo out; echo err >&2; exit 3']), ids.exit));
      // Killed from outside while `ctr run` waits in the foreground: 128 + 9.
      const fg = d.ctr(['run', '--rm', ...d.runFlags(rt), IMG(), ids.sig, 'sleep', '1000']);
      const running = await waitTaskStatus(ids.sig, 'RUNNING');
      const kill = await d.ctr(['task', 'kill', '-s', 'SIGKILL', ids.sig]);
      steps.push({ ...step('killed from outside', await fg, ids.sig), out: `${running} ${kill.code}` });
      // The image's Env and ctr's flags reach the process; ctr sets no hostname: the host's.
      steps.push(step('env, cwd', await d.ctr(['run', '--rm', ...d.runFlags(rt), '--cwd', '/tmp', '--env', 'FOO=bar', IMG(), ids.env, 'sh', '-c', 'echo $FOO $PATH; pwd; id -u; hostname']), ids.env));
      // What the spec containerd generates asks for: capabilities, no_new_privs, seccomp
      // (ctr's --seccomp is containerd's default profile), a read-only rootfs.
      const status = 'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; touch /x 2>&1; echo $?';
      steps.push(step('security', await d.ctr(['run', '--rm', ...d.runFlags(rt), IMG(), ids.sec, 'sh', '-c', status]), ids.sec));
      steps.push(step('--seccomp --read-only', await d.ctr(['run', '--rm', ...d.runFlags(rt), '--seccomp', '--read-only', IMG(), ids.ro, 'sh', '-c', status]), ids.ro));
      // No --uidmap here: ctr 1.6 then replaces the task's runtime options with its own (IoUid,
      // IoGid), so the shim runs the default runc whatever --runc-binary says. podman.test.ts
      // covers user namespaces.
      // A command that is not in the image: create fails, ctr says so and exits 1.
      const missing = await d.ctr(['run', '--rm', ...d.runFlags(rt), IMG(), ids.missing, '/no/such/binary']);
      steps.push({ step: 'missing binary', code: missing.code, out: /no such file or directory/i.test(missing.stderr) ? 'no such file' : missing.stderr });
      const verbs = Object.values(ids).map((id) => verbsFor(rt, id));
      const stateLeft = Object.values(ids).filter((id) => existsSync(join(d.runcRoot, Containerd.NAMESPACE, id)));
      const containers = (await d.ctr(['containers', 'ls', '-q'])).stdout.split('\n').filter((l) => Object.values(ids).includes(l));
      return { steps, verbs, stateLeft, containers };
    });
    // The scenario itself, as runc shows it.
    expect(runc.steps).toEqual([
      { step: 'echo', code: 0, out: 'hi\n' },
      { step: 'exit 3', code: 3, out: 'out\nerr\n' },
      { step: 'killed from outside', code: 137, out: 'RUNNING 0' },
      { step: 'env, cwd', code: 0, out: `bar /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/tmp\n0\n${hostname()}\n` },
      { step: 'security', code: 0, out: 'CapEff: 00000000a80425fb\nCapBnd: 00000000a80425fb\nNoNewPrivs: 1\nSeccomp: 0\n0\n' },
      { step: '--seccomp --read-only', code: 0, out: 'CapEff: 00000000a80425fb\nCapBnd: 00000000a80425fb\nNoNewPrivs: 1\nSeccomp: 2\ntouch: /x: Read-only file system\n1\n' },
      { step: 'missing binary', code: 1, out: 'no such file' },
    ]);
    const plain = ['create', 'start', 'delete', 'delete'];
    expect(runc.verbs).toEqual([plain, plain, ['create', 'start', 'kill', 'delete', 'delete'], plain, plain, plain, ['create', 'delete']]);
    expect(runc.stateLeft).toEqual([]);
    expect(runc.containers).toEqual([]);
    // berth-runtime really ran (its wrapper saw the same calls) and did the same.
    expect(berth).toEqual(runc);
  });

  it('run -d, task ls/exec/ps/pause/resume/metrics/kill/rm, c rm: the same under both', async () => {
    const [runc, berth] = await both(async (rt) => {
      const id = `life-${rt.tag}`;
      const steps: Step[] = [];
      const facts: Record<string, unknown> = {};
      // The init execs the last sleep; the first stays its child: two processes.
      steps.push(step('run -d', await d.ctr(['run', '-d', ...d.runFlags(rt), '--memory-limit', '67108864', '--cpu-shares', '512', IMG(), id, 'sh', '-c', 'sleep 1000 & exec sleep 1001']), id));
      await sleep(200);
      const task = await taskOf(id);
      const pid = task?.pid ?? -1;
      facts.initIsSleep = pid > 0 && readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\x001001\x00';
      const pids = [pid];
      steps.push(step('task ls', await d.ctr(['task', 'ls']), id, pids));
      steps.push(step('exec echo', await d.ctr(['task', 'exec', ...d.execFlags(), '--exec-id', 'e1', id, 'echo', 'from-exec']), id));
      steps.push(step('exec exit 4', await d.ctr(['task', 'exec', ...d.execFlags(), '--exec-id', 'e2', id, 'sh', '-c', 'exit 4']), id));
      steps.push(step('exec cwd, user', await d.ctr(['task', 'exec', ...d.execFlags(), '--exec-id', 'e3', '--cwd', '/tmp', '--user', '65534', id, 'sh', '-c', 'pwd; id -u; echo $PATH']), id));
      // An exec's process must join the container: its pid namespace (pid 1 is the init).
      steps.push(step('exec sees init', await d.ctr(['task', 'exec', ...d.execFlags(), '--exec-id', 'e4', id, 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; cat /proc/[0-9]*/cmdline | tr "\\0" " " | grep -o "sleep 100[01]" | sort | tr "\\n" " "']), id));
      const tty = await ptyRun(d.ctrArgv(['task', 'exec', ...d.execFlags(), '--tty', '--exec-id', 'e5', id, 'sh', '-c', 'tty; test -t 0 && echo stdin-tty; exit 6']), []);
      steps.push({ step: 'exec --tty', code: tty.code, out: normalise(tty.out, id) });
      // A second container joining this one's pid namespace (config.json namespace paths).
      const joinId = `join-${rt.tag}`;
      steps.push(step('run --with-ns pid', await d.ctr(['run', '--rm', ...d.runFlags(rt), '--with-ns', `pid:/proc/${pid}/ns/pid`, IMG(), joinId, 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "']), joinId));
      facts.joinedVerbs = verbsFor(rt, joinId);

      const ps = await d.ctr(['task', 'ps', id]);
      const listed = ps.stdout.split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0])).filter((n) => n > 0).sort();
      const inCgroup = pid > 0 ? readFileSync(join(cgroupOf(pid, 'pids'), 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number).sort() : [];
      facts.psListsTheCgroup = listed.length === 2 && JSON.stringify(listed) === JSON.stringify(inCgroup);
      steps.push(step('task ps', ps, id, inCgroup));

      // ctr's resource flags reached the cgroup.
      facts.memoryLimit = pid > 0 ? readFileSync(join(cgroupOf(pid, 'memory'), 'memory.limit_in_bytes'), 'utf8').trim() : '';
      facts.cpuShares = pid > 0 ? readFileSync(join(cgroupOf(pid, 'cpu'), 'cpu.shares'), 'utf8').trim() : '';
      const freezer = pid > 0 ? join(cgroupOf(pid, 'freezer'), 'freezer.state') : '/nonexistent';
      steps.push(step('pause', await d.ctr(['task', 'pause', id]), id));
      facts.pausedStatus = await waitTaskStatus(id, 'PAUSED');
      facts.frozen = existsSync(freezer) ? readFileSync(freezer, 'utf8').trim() : 'no freezer';
      steps.push(step('resume', await d.ctr(['task', 'resume', id]), id));
      facts.resumedStatus = await waitTaskStatus(id, 'RUNNING');
      facts.thawed = existsSync(freezer) ? readFileSync(freezer, 'utf8').trim() : 'no freezer';

      const metrics = await d.ctr(['task', 'metrics', id]);
      const rows = Object.fromEntries(metrics.stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter((c) => c.length >= 2 && /^[a-z]+\.[a-z_]+$/.test(c[0]!)).map((c) => [c[0], c.slice(1).join(' ')]));
      facts.metricsCode = metrics.code;
      facts.metricNames = Object.keys(rows).sort();
      facts.memoryUsage = Number(rows['memory.usage_in_bytes']) > 0;
      facts.pidsCurrent = rows['pids.current'];

      steps.push(step('kill --all -s SIGKILL', await d.ctr(['task', 'kill', '--all', '-s', 'SIGKILL', id]), id));
      facts.stoppedStatus = await waitTaskStatus(id, 'STOPPED');
      facts.initGone = !alive(pid);
      steps.push(step('task rm', await d.ctr(['task', 'rm', id]), id));
      steps.push(step('c rm', await d.ctr(['containers', 'rm', id]), id));
      facts.stateLeft = existsSync(join(d.runcRoot, Containerd.NAMESPACE, id));
      facts.cgroupLeft = existsSync(freezer);
      facts.rootfsMounted = mountsUnder(d.dir).filter((m) => m.includes(`/${id}/`)).length;
      // task rm -f of a running task: the shim's `delete --force`.
      const forceId = `force-${rt.tag}`;
      steps.push(step('run -d (2)', await d.ctr(['run', '-d', ...d.runFlags(rt), IMG(), forceId, 'sleep', '1000']), forceId));
      const forcePid = (await taskOf(forceId))?.pid ?? -1;
      steps.push(step('task rm -f', await d.ctr(['task', 'rm', '-f', forceId]), forceId));
      steps.push(step('c rm (2)', await d.ctr(['containers', 'rm', forceId]), forceId));
      facts.forcedGone = forcePid > 0 && !alive(forcePid);
      facts.forcedVerbs = readCalls(d.callsLog(rt)).filter((a) => a.includes(forceId)).map((a) => [verbOf(a), ...a.slice(a.indexOf(verbOf(a))).filter((x) => x.startsWith('--'))].join(' '));
      return { steps, facts, verbs: verbsFor(rt, id) };
    });

    expect(runc.facts).toEqual({
      initIsSleep: true,
      memoryLimit: '67108864',
      cpuShares: '512',
      psListsTheCgroup: true,
      pausedStatus: 'PAUSED',
      frozen: 'FROZEN',
      resumedStatus: 'RUNNING',
      thawed: 'THAWED',
      metricsCode: 0,
      metricNames: expect.arrayContaining(['memory.usage_in_bytes', 'pids.current']),
      memoryUsage: true,
      pidsCurrent: '2',
      stoppedStatus: 'STOPPED',
      initGone: true,
      stateLeft: false,
      cgroupLeft: false,
      rootfsMounted: 0,
      // Without a pid namespace of its own, the shim kills what is left with `kill --all`.
      joinedVerbs: ['create', 'start', 'kill', 'delete', 'delete'],
      forcedGone: true,
      // The shim kills every process, deletes, and deletes again with --force.
      forcedVerbs: ['create --bundle --pid-file', 'start', 'kill --all', 'delete', 'delete --force'],
    });
    expect(runc.steps.map((s) => [s.step, s.code])).toEqual([
      ['run -d', 0], ['task ls', 0], ['exec echo', 0], ['exec exit 4', 4], ['exec cwd, user', 0], ['exec sees init', 0],
      ['exec --tty', 6], ['run --with-ns pid', 0], ['task ps', 0], ['pause', 0], ['resume', 0], ['kill --all -s SIGKILL', 0], ['task rm', 0], ['c rm', 0],
      ['run -d (2)', 0], ['task rm -f', 0], ['c rm (2)', 0],
    ]);
    expect(runc.steps.find((s) => s.step === 'exec cwd, user')!.out).toBe('/tmp\n65534\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n');
    expect(runc.steps.find((s) => s.step === 'exec sees init')!.out).toBe('sleep 1001\nsleep 1000 sleep 1001 ');
    expect(runc.steps.find((s) => s.step === 'exec --tty')!.out).toBe('/dev/pts/0\nstdin-tty\n');
    expect(runc.steps.find((s) => s.step === 'run --with-ns pid')!.out).toBe('sleep 1001 ');
    expect(runc.verbs).toEqual(expect.arrayContaining(['create', 'start', 'exec', 'ps', 'pause', 'resume', 'kill', 'delete']));

    // One comparison, so a failure shows every difference at once.
    expect(berth).toEqual(runc);
  });

  it('ctr run --tty: the pty, typed input and the exit code are the same under both', async () => {
    const [runc, berth] = await both(async (rt) => {
      const id = `tty-${rt.tag}`;
      const script = 'echo ready; read x; echo got:$x; tty; test -t 0 && echo stdin-tty; test -t 1 && echo stdout-tty; stat -c "%F %t" /dev/console; exit 5';
      const r = await ptyRun(d.ctrArgv(['run', '--tty', '--rm', ...d.runFlags(rt), IMG(), id, 'sh', '-c', script]), [['ready', 'hello\r']]);
      return { code: r.code, timedOut: r.timedOut, out: normalise(r.out, id), verbs: verbsFor(rt, id), createFlags: readCalls(d.callsLog(rt)).find((a) => a.includes(id) && verbOf(a) === 'create')?.filter((a) => a.startsWith('--')) };
    });
    expect(runc).toEqual({
      code: 5,
      timedOut: false,
      // The pty echoes what was typed; /dev/console is the pty (major 136 = 0x88).
      out: 'ready\nhello\ngot:hello\n/dev/pts/0\nstdin-tty\nstdout-tty\ncharacter special file 88\n',
      verbs: ['create', 'start', 'delete', 'delete'],
      createFlags: ['--root', '--log', '--log-format', '--bundle', '--pid-file', '--console-socket'],
    });
    expect(berth).toEqual(runc);
  });
});
