import { spawn } from 'child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { requireRoot, type Result } from './support/env';
import { PrivateBerthd, alive } from './support/berthd';
import { BERTH, berthOk, berthRun, untilValue as until } from './support/berth-cli';
import { buildImage, type Image } from './support/image';
import { ptySession, shellSteps } from './support/pty';

// Docker's getting-started flow as a person types it, with bin/berth against a private berthd:
// a web server run detached and looked at with ps, exec, logs -f, top and inspect, stopped,
// started again and removed; an interactive shell under a real terminal (`run -it --rm`);
// piped stdin (`echo hi | run -i … cat`); inspect's LogPath; exec -u with a user name. There
// is no network set-up yet: the server is reached from inside its own network namespace, whose
// `lo` berth-init brings up as runc does. The scratch dir avoids the word "berth".

const IMG = 'berth-e2e/busybox';

let d: PrivateBerthd;
let image: Image;
let scratch: string;

const berth = (args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Result> =>
  berthRun(d, args, { timeoutMs: opts.timeoutMs ?? 30_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });

const ok = async (args: string[]): Promise<string> => (await berthOk(d, args)).trim();

/** The page, fetched inside the container (busybox wget), once httpd answers. */
const fetchPage = (name: string, path: string) =>
  until(`httpd in ${name} to answer`, async () => {
    const r = await berth(['exec', name, 'wget', '-qO-', `localhost:8080${path}`]);
    return r.code === 0 ? r.stdout : undefined;
  });

/** `berth logs -f` running beside the test; resolves when it ends by itself. */
function follow(name: string): Promise<Result & { ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(BERTH, ['-H', `unix://${d.address}`, 'logs', '-f', name], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** The host's pids in the container's cgroup (cgroup v1 pids controller; berth's /berth/<id>). */
const cgroupPids = (id: string): number[] => readFileSync(`/sys/fs/cgroup/pids/berth/${id}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);

const hostCommand = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
};

beforeAll(async () => {
  requireRoot();
  d = new PrivateBerthd();
  scratch = mkdtempSync(join(tmpdir(), 'tut-'));
  image = buildImage();
  await d.start();
  expect((await berth(['load', '-i', image.tar])).code).toBe(0);
}, 60_000);

afterAll(async () => {
  await d?.cleanup();
  image?.cleanup();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}, 60_000);

describe("Docker's getting started, typed into berth", () => {
  test('run -d a web server; ps, exec, logs -f, top, inspect; stop → Exited (137); start → Up; rm -f → gone', async () => {
    const www = join(scratch, 'www');
    mkdirSync(www);
    writeFileSync(join(www, 'index.html'), '<h1>hello from berth</h1>\n');

    const id = await ok(['run', '-d', '--name', 'web', '-v', `${www}:/www:ro`, IMG, 'httpd', '-f', '-vv', '-p', '8080', '-h', '/www']);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const ps = (await ok(['ps'])).split('\n');
    expect(ps).toHaveLength(2);
    expect(ps[1]).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+${IMG}\\s+"httpd -f -vv -p 808…"\\s+.* ago\\s+Up .*\\s+web$`));

    // The page, from inside: wget through the container's own loopback.
    const logs = follow('web');
    expect(await fetchPage('web', '/index.html')).toBe('<h1>hello from berth</h1>\n');
    expect((await berth(['exec', 'web', 'wget', '-qO-', 'localhost:8080/missing.html'])).code).not.toBe(0);

    // inspect's pid is the host's pid of the server: in the container's cgroup, running httpd.
    const pid = Number(await ok(['inspect', '-f', '{{.State.Pid}}', 'web']));
    expect(cgroupPids(id)).toContain(pid);
    expect(hostCommand(pid)).toBe('httpd -f -vv -p 8080 -h /www');
    expect(await ok(['inspect', '-f', '{{.State.Status}} {{.State.Running}} {{.Name}}', 'web'])).toBe('running true /web');

    // top: ps on the host, the container's processes only, host pids.
    const top = (await ok(['top', 'web'])).split('\n');
    expect(top[0]).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    expect(top).toHaveLength(2);
    expect(top[1]).toMatch(new RegExp(`^root\\s+${pid}\\s+\\d+\\s+.*httpd -f -vv -p 8080 -h /www$`));

    // stop: httpd as pid 1 has no SIGTERM handler, so Docker's 10 s pass and SIGKILL ends it.
    const t0 = Date.now();
    expect(await ok(['stop', 'web'])).toBe('web');
    const stopMs = Date.now() - t0;
    expect(stopMs).toBeGreaterThanOrEqual(9_500);
    expect(stopMs).toBeLessThan(20_000);
    expect(await ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}', 'web'])).toBe('exited 137 0');
    expect((await ok(['ps', '-a'])).split('\n')[1]).toMatch(/\s+Exited \(137\) .* ago\s+web$/);
    expect(await ok(['ps', '-q'])).toBe('');

    // logs -f ended by itself when the server stopped, with what httpd logged (on stderr).
    const followed = await logs;
    expect(followed.code).toBe(0);
    expect(followed.stdout).toBe('');
    expect(followed.stderr).toMatch(/url:\/index\.html\n.*response:200\n/);
    expect(followed.stderr).toMatch(/url:\/missing\.html\n.*response:404\n/);
    expect(followed.ms).toBeGreaterThanOrEqual(stopMs);

    // start: the same container Up again, a new process, serving again.
    expect(await ok(['start', 'web'])).toBe('web');
    expect((await ok(['ps'])).split('\n')[1]).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+.*\\s+Up .*\\s+web$`));
    const pid2 = Number(await ok(['inspect', '-f', '{{.State.Pid}}', 'web']));
    expect(pid2).not.toBe(pid);
    expect(cgroupPids(id)).toContain(pid2);
    expect(await fetchPage('web', '/')).toBe('<h1>hello from berth</h1>\n');
    // The log goes on across the restart: both runs' requests.
    const both = await until('the second run logged', async () => {
      const r = await berth(['logs', 'web']);
      expect(r.stdout).toBe('');
      return (r.stderr.match(/response:200/g) ?? []).length >= 2 ? r.stderr : undefined;
    });
    expect(both).toMatch(/url:\/index\.html[\s\S]*url:\/\n/);

    // rm -f: killed and gone, record, process, cgroup and log alike.
    const logPath = await ok(['inspect', '-f', '{{.LogPath}}', 'web']);
    expect(existsSync(logPath)).toBe(true);
    expect(await ok(['rm', '-f', 'web'])).toBe('web');
    expect(await ok(['ps', '-a', '-q'])).toBe('');
    const gone = await berth(['inspect', 'web']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('berth: No such object: web\n');
    await until('the server process to be gone', async () => (alive(pid2) && hostCommand(pid2).startsWith('httpd') ? undefined : true));
    expect(existsSync(`/sys/fs/cgroup/pids/berth/${id}`)).toBe(false);
    await until('the log to be removed', async () => (existsSync(logPath) ? undefined : true));
    expect((await d.ctr(['containers', 'ls', '-q'])).stdout).toBe('');
  }, 90_000);
});

describe('interactive containers', () => {
  test('run -it --rm sh under a terminal: prompt, tty, stty size and a resize, ctrl-c, exit 3 → 3 and removed', async () => {
    const steps = shellSteps(3, { ctrlC: true, checkRaw: true });
    const t0 = Date.now();
    const s = await ptySession([BERTH, '-H', `unix://${d.address}`, 'run', '-it', '--rm', '--name', 'shell', IMG, 'sh'], steps);
    expect({ failedStep: s.failedStep, eof: s.eof }).toEqual({ failedStep: null, eof: true });
    expect(s.raw.attached).toBe(true);
    expect(s.code).toBe(3);
    // ctrl-c did not wait for sleep's 100 s.
    expect(Date.now() - t0).toBeLessThan(30_000);
    // --rm: run returned after berthd removed it.
    expect(await ok(['ps', '-a', '-q'])).toBe('');
    expect((await berth(['inspect', 'shell'])).code).toBe(1);
    expect((await d.ctr(['containers', 'ls', '-q'])).stdout).toBe('');
  }, 60_000);

  test('echo hi | run -i IMAGE cat prints hi; without -i stdin is not the container\'s', async () => {
    const piped = await berth(['run', '-i', '--name', 'cat-i', IMG, 'cat'], { input: 'hi\n' });
    expect(piped).toMatchObject({ code: 0, stdout: 'hi\n', stderr: '' });
    expect(await ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.Config.OpenStdin}}', 'cat-i'])).toBe('exited 0 true');
    const notAttached = await berth(['run', '--rm', IMG, 'cat'], { input: 'ignored\n' });
    expect(notAttached).toMatchObject({ code: 0, stdout: '' });
    expect(await ok(['rm', 'cat-i'])).toBe('cat-i');
  }, 60_000);
});

describe('inspect LogPath and exec -u NAME', () => {
  const name = 'users';
  afterAll(() => berth(['rm', '-f', name]));

  test("LogPath is berthd's log file of the container, and what it printed is there", async () => {
    const id = await ok(['run', '-d', '--name', name, IMG, 'sh', '-c', 'echo started-$((20+22)); exec sleep 300']);
    const logPath = await ok(['inspect', '-f', '{{.LogPath}}', name]);
    expect(logPath).toBe(join(d.logRoot, 'default', `${id}.log`));
    const text = await until('the first line in the log', async () => {
      const t = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
      return t.includes('started-42') ? t : undefined;
    });
    expect(text).toMatch(/^\S+ stdout F started-42\n/);
    expect(JSON.parse(await ok(['inspect', name]))[0].LogPath).toBe(logPath);
  });

  test("-u resolves names in the container's /etc/passwd and /etc/group as they are now", async () => {
    expect(await ok(['exec', '-u', 'nobody', name, 'id'])).toBe('uid=65534(nobody) gid=65534(nogroup)');
    expect(await ok(['exec', '-u', 'nobody:root', name, 'id'])).toBe('uid=65534(nobody) gid=0(root)');
    expect(await ok(['exec', '-u', '65534', name, 'id'])).toBe('uid=65534(nobody) gid=65534(nogroup)');
    expect(await ok(['exec', '-u', '4321:4321', name, 'id'])).toBe('uid=4321 gid=4321');
    // A user added to the running container (not in the image): found, with its groups.
    await ok(['exec', name, 'sh', '-c', 'echo app:x:1000:1000::/:/bin/sh >> /etc/passwd; echo app:x:1000: >> /etc/group; echo staff:x:50:app >> /etc/group']);
    expect(await ok(['exec', '-u', 'app', name, 'id'])).toBe('uid=1000(app) gid=1000(app) groups=50(staff)');
    expect(await ok(['exec', '-u', 'app:staff', name, 'sh', '-c', 'id -u; id -g'])).toBe('1000\n50');
    const missing = await berth(['exec', '-u', 'nosuch', name, 'id']);
    expect(missing).toMatchObject({ code: 126, stdout: '' });
    expect(missing.stderr).toBe('berth: OCI runtime exec failed: unable to find user nosuch: no matching entries in passwd file\n');
    const missingGroup = await berth(['exec', '-u', 'app:nosuch', name, 'id']);
    expect(missingGroup.code).toBe(126);
    expect(missingGroup.stderr).toContain('unable to find group nosuch');
  });
});
