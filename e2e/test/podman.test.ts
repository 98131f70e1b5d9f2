import { existsSync, readFileSync } from 'fs';
import { join } from 'path';
import { requireRoot, sleep, type Result } from './support/env';
import { buildImage, type Image } from './support/image';
import { RUNTIMES, alive, both, cgroupOf, mountsUnder, ptyRun, readCalls, verbOf, type Leftovers, type RuntimeUnderTest } from './support/containerd';
import { Podman } from './support/podman';

// berth-runtime as a drop-in for runc under Debian's podman 4 (conmon, cgroupfs): a private
// podman (support/podman.ts) with `--runtime` set to a wrapper that records argv. Every
// scenario runs under runc first, then under berth-runtime, and the normalised transcripts
// must be the same.

jest.setTimeout(180_000);

let pm: Podman;
let image: Image;
let leftovers: Leftovers | undefined;

beforeAll(async () => {
  requireRoot();
  image = buildImage();
  pm = new Podman();
  const r = await pm.podman(['load', '-i', image.tar]);
  if (r.code !== 0) throw new Error(`podman load: ${r.stderr}`);
});

afterAll(async () => {
  try {
    leftovers = await pm?.cleanup(RUNTIMES);
  } finally {
    image?.cleanup();
  }
  // No overlay or shm mount under podman's dirs, no conmon, no container cgroup survives.
  expect(leftovers).toEqual({ mounts: [], processes: [], cgroups: [], state: [] });
});

interface Step {
  step: string;
  code: number;
  out: string;
}

/** Makes a transcript comparable across runtimes: names, container ids, pids, table padding. */
function normalise(text: string, names: string[], pids: number[] = []): string {
  let t = text;
  for (const n of names.filter(Boolean).sort((a, b) => b.length - a.length)) t = t.split(n).join('<id>');
  for (const p of [...pids].sort((a, b) => b - a)) t = t.replace(new RegExp(`\\b${p}\\b`, 'g'), '<pid>');
  return t.replace(/[ \t]+/g, ' ').replace(/ +\n/g, '\n');
}

function step(name: string, r: Result, names: string[], pids: number[] = []): Step {
  return { step: name, code: r.code, out: normalise(r.stdout + r.stderr, names, pids) };
}

/** The runtime verbs podman and conmon ran for the container, in order. */
function verbsFor(rt: RuntimeUnderTest, cid: string): string[] {
  return readCalls(pm.callsLog(rt)).filter((a) => cid !== '' && a.some((x) => x.includes(cid))).map(verbOf);
}

async function inspect(name: string, format: string, rt?: RuntimeUnderTest): Promise<string> {
  return (await pm.podman(['inspect', '-f', format, name], rt)).stdout.trim();
}



const IMG = () => image.ref;

describe('podman 4 with runc and with berth-runtime', () => {
  it('run --rm: stdout, exit codes, env/cwd/user/hostname/ulimits, security defaults, a user namespace and a missing binary: the same under both', async () => {
    const [runc, berth] = await both(async (rt) => {
      const steps: Step[] = [];
      const names = { echo: `echo-${rt.tag}`, exit: `exit-${rt.tag}`, env: `env-${rt.tag}`, sec: `sec-${rt.tag}`, ro: `ro-${rt.tag}`, missing: `missing-${rt.tag}`, userns: `userns-${rt.tag}` };
      const cids: string[] = [];
      const runRm = async (name: string, args: string[]) => {
        // --rm removes the container: take its id from the create call the wrapper recorded.
        const r = await pm.podman(['run', '--rm', '--name', name, ...pm.runFlags(), ...args], rt);
        const create = readCalls(pm.callsLog(rt)).filter((a) => verbOf(a) === 'create').pop();
        const cid = create?.[create.length - 1] ?? '';
        cids.push(cid);
        return step(name.replace(`-${rt.tag}`, ''), r, [cid, cid.slice(0, 12), name]);
      };
      steps.push(await runRm(names.echo, [IMG(), 'echo', 'hi']));
      steps.push(await runRm(names.exit, [IMG(), 'sh', '-c', 'echo out; echo err >&2; exit 3']));
      steps.push(await runRm(names.env, ['--user', '65534:65534', '--workdir', '/tmp', '--env', 'FOO=bar', '--hostname', 'h1', IMG(), 'sh', '-c', 'echo $FOO $PATH; pwd; id -u; id -g; hostname; ulimit -n; ulimit -Hn; ulimit -u']));
      // Podman's defaults: its capability set, its seccomp profile, masked and read-only paths.
      const sec = 'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; (echo x > /proc/sys/kernel/domainname) 2>&1; touch /x 2>&1; echo $?';
      steps.push(await runRm(names.sec, [IMG(), 'sh', '-c', sec]));
      steps.push(await runRm(names.ro, ['--read-only', '--cap-drop', 'all', '--cap-add', 'net_raw', '--security-opt', 'seccomp=unconfined', IMG(), 'sh', '-c', sec]));
      // A user namespace: podman writes the mappings into config.json and chowns the layer copy.
      steps.push(await runRm(names.userns, ['--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536', IMG(), 'sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox; touch /tmp/x && echo writable']));
      // A command that is not in the image: podman turns the runtime's error into 127.
      const missing = await runRm(names.missing, [IMG(), '/no/such/binary']);
      steps.push({ ...missing, out: /no such file or directory/i.test(missing.out) ? 'no such file' : missing.out });
      const left = (await pm.podman(['ps', '-aq'])).stdout.trim();
      return { steps, verbs: cids.map((c) => verbsFor(rt, c)), left, stateLeft: cids.filter((c) => c && existsSync(join(pm.runtimeRoot(rt), c))) };
    });
    expect(runc).toEqual({
      steps: [
        { step: 'echo', code: 0, out: 'hi\n' },
        { step: 'exit', code: 3, out: 'out\nerr\n' },
        { step: 'env', code: 0, out: 'bar /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/tmp\n65534\n65534\nh1\n1024\n1024\n1024\n' },
        { step: 'sec', code: 0, out: 'CapEff: 00000000a80425fb\nCapBnd: 00000000a80425fb\nNoNewPrivs: 0\nSeccomp: 2\n0\n0\nsh: can\'t create /proc/sys/kernel/domainname: Read-only file system\n0\n' },
        { step: 'ro', code: 0, out: 'CapEff: 0000000000002000\nCapBnd: 0000000000002000\nNoNewPrivs: 0\nSeccomp: 0\n0\n0\nsh: can\'t create /proc/sys/kernel/domainname: Read-only file system\ntouch: /x: Read-only file system\n1\n' },
        { step: 'userns', code: 0, out: ' 0 100000 65536\n 0 100000 65536\n0\n0\nwritable\n' },
        { step: 'missing', code: 127, out: 'no such file' },
      ],
      verbs: [...Array(6).fill(['create', 'start', 'delete']), ['create', 'delete']],
      left: '',
      stateLeft: [],
    });
    // berth-runtime ran (its wrapper saw the calls) and did the same.
    expect(berth).toEqual(runc);
  });

  it('run -d, top, exec (-it), --pid container:, pause/unpause, stats, restart, stop, rm: the same under both', async () => {
    const [runc, berth] = await both(async (rt) => {
      const name = `life-${rt.tag}`;
      const steps: Step[] = [];
      const facts: Record<string, unknown> = {};
      // sh is pid 1 with a TERM trap, so `stop` ends it by SIGTERM with status 0.
      const started = await pm.podman(['run', '-d', '--name', name, ...pm.runFlags(), '--memory', '64m', '--pids-limit', '100', '--cpu-shares', '512', IMG(), 'sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait'], rt);
      const cid = started.stdout.trim();
      const names = [cid, cid.slice(0, 12), name];
      steps.push(step('run -d', { ...started, stdout: started.stdout.replace(cid, '') }, names));
      const pid = Number(await inspect(name, '{{.State.Pid}}'));
      const pids = [pid];
      await sleep(200);
      facts.status = await inspect(name, '{{.State.Status}}');
      steps.push(step('ps', await pm.podman(['ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Names}} {{.Command}}'], rt), names));
      // The sleep's pid in the container depends on how many pids the runtime's own set-up
      // used in the new namespace (runc: several), not on anything podman sees.
      const top = step('top', await pm.podman(['top', name, 'pid', 'ppid', 'user', 'args'], rt), names, pids);
      steps.push({ ...top, out: top.out.replace(/^\d+ 1 root sleep/m, '<n> 1 root sleep') });
      steps.push(step('exec echo', await pm.podman(['exec', name, 'echo', 'from-exec'], rt), names));
      steps.push(step('exec exit 4', await pm.podman(['exec', name, 'sh', '-c', 'exit 4'], rt), names));
      steps.push(step('exec user, workdir, env', await pm.podman(['exec', '--user', '65534', '--workdir', '/tmp', '--env', 'X=y', name, 'sh', '-c', 'id -u; pwd; echo $X; cat /proc/1/cmdline | tr "\\0" " "'], rt), names));
      const tty = await ptyRun(pm.argv(['exec', '-it', name, 'sh', '-c', 'echo ready; read x; echo got:$x; tty; exit 6'], rt), [['ready', 'typed\r']], { env: pm.env });
      steps.push({ step: 'exec -it', code: tty.code, out: normalise(tty.out, names) });
      // A second container in this one's pid and ipc namespaces (config.json namespace paths).
      steps.push(step('run --pid container:', await pm.podman(['run', '--rm', ...pm.runFlags(), '--pid', `container:${name}`, '--ipc', `container:${name}`, IMG(), 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; (readlink /proc/1/ns/ipc; readlink /proc/self/ns/ipc) | uniq | wc -l'], rt), names));

      // podman's resource flags reached the cgroup.
      const cg = (ctl: string, file: string) => (pid > 0 ? readFileSync(join(cgroupOf(pid, ctl), file), 'utf8').trim() : '');
      facts.resources = [cg('memory', 'memory.limit_in_bytes'), cg('pids', 'pids.max'), cg('cpu', 'cpu.shares')];
      const freezer = pid > 0 ? join(cgroupOf(pid, 'freezer'), 'freezer.state') : '/nonexistent';
      steps.push(step('pause', await pm.podman(['pause', name], rt), names));
      facts.paused = await inspect(name, '{{.State.Status}}');
      facts.frozen = existsSync(freezer) ? readFileSync(freezer, 'utf8').trim() : 'no freezer';
      steps.push(step('unpause', await pm.podman(['unpause', name], rt), names));
      facts.unpaused = await inspect(name, '{{.State.Status}}');
      facts.thawed = existsSync(freezer) ? readFileSync(freezer, 'utf8').trim() : 'no freezer';

      const stats = await pm.podman(['stats', '--no-stream', '--format', '{{.Name}}|{{.MemUsage}}|{{.PIDs}}', name], rt);
      const [statName, mem, statPids] = stats.stdout.trim().split('|');
      facts.stats = { code: stats.code, name: statName === name, memoryUsed: parseFloat(mem ?? '') > 0, pids: statPids };

      // restart: the runtime gets `create` again for the same id after `delete`.
      steps.push(step('restart', await pm.podman(['restart', '-t', '10', name], rt), names));
      const pid2 = Number(await inspect(name, '{{.State.Pid}}'));
      facts.restarted = [await inspect(name, '{{.State.Status}}'), pid2 > 0 && pid2 !== pid, alive(pid)];
      const t0 = Date.now();
      steps.push(step('stop', await pm.podman(['stop', '-t', '10', name], rt), names));
      facts.stopFast = Date.now() - t0 < 5000;
      facts.stopped = await inspect(name, '{{.State.Status}} {{.State.ExitCode}}');
      facts.initGone = !alive(pid) && !alive(pid2);
      steps.push(step('rm', await pm.podman(['rm', name], rt), names));
      facts.stateLeft = existsSync(join(pm.runtimeRoot(rt), cid));
      facts.cgroupLeft = existsSync(freezer);
      facts.mounts = mountsUnder(pm.dir).filter((m) => m.includes(cid)).length;
      return { steps, facts, verbs: verbsFor(rt, cid) };
    });

    expect(runc.facts).toEqual({
      status: 'running',
      resources: ['67108864', '100', '512'],
      paused: 'paused',
      frozen: 'FROZEN',
      unpaused: 'running',
      thawed: 'THAWED',
      stats: { code: 0, name: true, memoryUsed: true, pids: '2' },
      restarted: ['running', true, false],
      stopFast: true,
      stopped: 'exited 0',
      initGone: true,
      stateLeft: false,
      cgroupLeft: false,
      mounts: 0,
    });
    expect(runc.steps).toEqual([
      { step: 'run -d', code: 0, out: '\n' },
      { step: 'ps', code: 0, out: '<id> sh -c trap "exit ...\n' },
      { step: 'top', code: 0, out: 'PID PPID USER COMMAND\n1 0 root sh -c trap "exit 0" TERM; sleep 1000 & wait\n<n> 1 root sleep 1000\n' },
      { step: 'exec echo', code: 0, out: 'from-exec\n' },
      { step: 'exec exit 4', code: 4, out: '' },
      { step: 'exec user, workdir, env', code: 0, out: '65534\n/tmp\ny\nsh -c trap "exit 0" TERM; sleep 1000 & wait ' },
      { step: 'exec -it', code: 6, out: 'ready\ntyped\ngot:typed\n/dev/pts/0\n' },
      { step: 'run --pid container:', code: 0, out: 'sh -c trap "exit 0" TERM; sleep 1000 & wait 1\n' },
      { step: 'pause', code: 0, out: '<id>\n' },
      { step: 'unpause', code: 0, out: '<id>\n' },
      { step: 'restart', code: 0, out: '<id>\n' },
      { step: 'stop', code: 0, out: '<id>\n' },
      { step: 'rm', code: 0, out: '<id>\n' },
    ]);
    expect(runc.verbs).toEqual(expect.arrayContaining(['create', 'start', 'exec', 'pause', 'resume', 'kill', 'delete']));
    // One comparison, so a failure shows every difference at once.
    expect(berth).toEqual(runc);
  });

  it('run -it: the pty, typed input and the exit code are the same under both', async () => {
    const [runc, berth] = await both(async (rt) => {
      const name = `tty-${rt.tag}`;
      const script = 'echo ready; read x; echo got:$x; tty; test -t 0 && echo stdin-tty; test -t 1 && echo stdout-tty; stat -c "%F %t" /dev/console; exit 5';
      const r = await ptyRun(pm.argv(['run', '-it', '--rm', '--name', name, ...pm.runFlags(), IMG(), 'sh', '-c', script], rt), [['ready', 'hello\r']], { env: pm.env });
      const create = readCalls(pm.callsLog(rt)).filter((a) => verbOf(a) === 'create').pop() ?? [];
      const cid = create[create.length - 1] ?? '';
      return { code: r.code, timedOut: r.timedOut, out: normalise(r.out, [cid, name]), verbs: verbsFor(rt, cid), createFlags: create.slice(create.indexOf('create')).filter((a) => a.startsWith('--')) };
    });
    expect(runc).toEqual({
      code: 5,
      timedOut: false,
      out: 'ready\nhello\ngot:hello\n/dev/pts/0\nstdin-tty\nstdout-tty\ncharacter special file 88\n',
      verbs: ['create', 'start', 'delete'],
      createFlags: expect.arrayContaining(['--bundle', '--pid-file', '--console-socket']),
    });
    expect(berth).toEqual(runc);
  });
});
