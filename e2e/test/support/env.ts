import { spawn, spawnSync, type SpawnOptions } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, mkdirSync, copyFileSync, symlinkSync, chmodSync, existsSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

// What every e2e test needs: the built binaries, a private --root, busybox bundles, and
// leak checks. Tests need root; without it they fail loudly rather than pass by skipping.

// BERTH_REPO: for this module bundled elsewhere (make image), where __dirname is not its own.
export const REPO = process.env.BERTH_REPO ?? resolve(__dirname, '..', '..', '..');
export const BIN = join(REPO, 'bin');
export const RUNTIME = join(BIN, 'berth-runtime');
export const PROBE = join(BIN, 'berth-probe');
const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'echo', 'cat', 'sleep', 'ls', 'id', 'hostname', 'true', 'false', 'touch', 'mkdir', 'ps', 'kill', 'env', 'pwd', 'grep', 'wc', 'head', 'readlink', 'stat', 'umask', 'ulimit', 'mount', 'trap'];

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('e2e tests create real containers and must run as root (sudo make e2e)');
  for (const f of [RUNTIME, join(BIN, 'berth-init'), PROBE, BUSYBOX]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run make deps build first`);
  }
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** A scratch area: a --root for the runtime, and bundles. Removed by cleanup(). */
export class Sandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'berth-e2e-'));
  readonly root = join(this.dir, 'state');
  private n = 0;

  /** A bundle whose rootfs has busybox and the probe; the spec is runtime's default, adjusted. */
  bundle(adjust: (spec: any) => void = () => undefined): string {
    const dir = join(this.dir, `bundle${this.n++}`);
    const rootfs = join(dir, 'rootfs');
    for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'data']) mkdirSync(join(rootfs, d), { recursive: true });
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
    chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
    for (const a of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a));
    copyFileSync(PROBE, join(rootfs, 'bin', 'probe'));
    chmodSync(join(rootfs, 'bin', 'probe'), 0o755);
    writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n');
    const r = runtimeSync(['spec', '--bundle', dir]);
    if (r.code !== 0) throw new Error(`spec failed: ${r.stderr}`);
    const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    spec.process.terminal = false;
    spec.process.args = ['/bin/probe'];
    adjust(spec);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec, null, 2));
    return dir;
  }

  id(prefix = 'c'): string {
    return `${prefix}-${process.pid}-${this.n++}`;
  }

  /** berth-runtime --root <ours> ARGS, waiting for it to exit. */
  run(args: string[], opts: SpawnOptions & { input?: string } = {}): Promise<Result> {
    return runtime(['--root', this.root, ...args], opts);
  }

  /** Polls `state` until the container reaches `status` (5 s at most). */
  async waitStatus(id: string, status: string): Promise<void> {
    let last = '';
    for (let i = 0; i < 250; i++) {
      const r = await this.run(['state', id]);
      last = r.code === 0 ? JSON.parse(r.stdout).status : r.stderr;
      if (last === status) return;
      await sleep(20);
    }
    throw new Error(`container ${id} is ${last}, expected ${status}`);
  }

  cleanup(): void {
    // Any container a failed test left: kill and delete it, so one failure does not leak.
    const list = runtimeSync(['--root', this.root, 'list', '-q']);
    for (const id of list.stdout.split('\n').filter(Boolean)) runtimeSync(['--root', this.root, 'delete', '--force', id]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function runtime(args: string[], opts: SpawnOptions & { input?: string } = {}): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(RUNTIME, args, { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.stdin?.end(opts.input ?? '');
    // A detached container inherits our pipes and keeps them open: do not wait for 'close'
    // past a short grace after the runtime itself exited.
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      resolvePromise({ code: code ?? 128 + (signal ? 9 : 0), stdout, stderr });
    };
    child.on('close', finish);
    child.on('exit', (code, signal) => setTimeout(() => finish(code, signal), 150));
  });
}

export function runtimeSync(args: string[]): Result {
  const r = spawnSync(RUNTIME, args, { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Parses the probe's one JSON object from a container's stdout. */
export function probeOutput(stdout: string): any {
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`no probe output in: ${stdout}`);
  return JSON.parse(line);
}

/** Everything the machine could leak, as a comparable snapshot. */
export function leakSnapshot(): { mounts: string[]; cgroups: string[]; processes: string[] } {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('berth')).map((l) => l.split(' ')[4]!);
  const find = spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '4', '-type', 'd', '-path', '*berth*'], { encoding: 'utf8' });
  const cgroups = find.stdout.split('\n').filter(Boolean).sort();
  // A zombie is already dead, waiting for its parent (pid 1 for an orphan) to reap it.
  const ps = spawnSync('ps', ['-eo', 'pid,stat,comm'], { encoding: 'utf8' });
  const processes = ps.stdout.split('\n').filter((l) => /berth:|probe/.test(l) && !/^\s*\d+\s+Z/.test(l));
  return { mounts, cgroups, processes };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
