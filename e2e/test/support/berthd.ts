import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { BIN, sleep, type Result } from './env';
import { run } from './containerd';
import { requireRoot } from './env';
import { buildImage, type Image } from './image';
import { deleteLink, freshBridgeName, freshSubnet } from './host-net';

// A private berthd for the e2e tests: its own root, state and socket under one temp dir,
// started from bin/berthd, stopped by pid, and driven with Debian's containerd `ctr`.
// The temp dir avoids the word "berth" (the leak snapshots of other e2e files match it).

export const BERTHD = join(BIN, 'berthd');
export const CTR = '/usr/bin/ctr';
/** Deepest first: what ctr creates on the host for its FIFOs. */
const CTR_DIRS = ['/run/containerd/fifo', '/run/containerd'];

export function alive(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export class PrivateBerthd {
  readonly dir = mkdtempSync(join(tmpdir(), 'bd-e2e-'));
  /** Top-level cgroup dirs before we ran: ctr's /<namespace>/<id> cgroups leave new parents. */
  private readonly cgroupsBefore = new Set(topLevelCgroups());
  /** ctr makes its FIFOs under /run/containerd/fifo and leaves the directories behind. */
  private readonly ctrDirsBefore = CTR_DIRS.filter((p) => existsSync(p));
  /** ctr run -d's FIFO directories outlive a task deleted by anyone but that ctr: ours are the new ones. */
  private readonly fifoDirsBefore = new Set(existsSync(CTR_DIRS[0]!) ? readdirSync(CTR_DIRS[0]!) : []);
  readonly root = join(this.dir, 'root');
  readonly state = join(this.dir, 'state');
  readonly address = join(this.dir, 'state', 'd.sock');
  readonly logFile = join(this.dir, 'berthd.log');
  /** Where berth containers' CRI logs go (the tasks plugin's log_root), not /var/log/berth. */
  readonly logRoot = join(this.dir, 'logs');
  /** The default network's bridge and subnet: this berthd's own, never berth0's or another's. */
  readonly bridge = freshBridgeName('bd');
  readonly subnet = freshSubnet().subnet;
  /** The networks plugin's section: own bridge and subnet; names the networks' name servers do
   *  not know go to a closed loopback port, never to the machine's resolvers. */
  readonly networksConfig = { default_bridge: this.bridge, default_subnet: this.subnet, dns_upstreams: ['127.0.0.1:9'] };
  child?: ChildProcess;
  /** Resolves with the exit code (or 128+signal) of the current child. */
  exited?: Promise<number>;

  /** Starts bin/berthd (extra flags after ours) and waits until ctr can reach it. */
  async start(extra: string[] = []): Promise<void> {
    const log = openSync(this.logFile, 'a');
    // A test's own config file (-c) replaces this one; it then says where logs go itself.
    const config: string[] = [];
    if (!extra.some((a) => a === '-c' || a === '--config' || a.startsWith('--config='))) {
      const file = join(this.dir, 'berthd.json');
      writeFileSync(file, JSON.stringify({ plugins: { 'io.containerd.grpc.v1.tasks': { log_root: this.logRoot }, 'io.containerd.internal.v1.networks': this.networksConfig } }));
      config.push('--config', file);
    }
    const child = spawn(BERTHD, ['--root', this.root, '--state', this.state, '--address', this.address, ...config, ...extra], { stdio: ['ignore', log, log] });
    closeSync(log);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15))));
    for (let i = 0; i < 250; i++) {
      if (child.exitCode !== null) break;
      if (existsSync(this.address) && (await this.ctr(['version'])).code === 0) return;
      await sleep(40);
    }
    throw new Error(`berthd did not come up: ${this.log().slice(-2000)}`);
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  ctr(args: string[], opts: { namespace?: string; timeoutMs?: number } = {}): Promise<Result> {
    return run(CTR, ['--address', this.address, ...(opts.namespace ? ['--namespace', opts.namespace] : []), ...args], { timeoutMs: opts.timeoutMs ?? 20000 });
  }

  /** Sends `signal` and waits for the exit; SIGKILL after 10 s. Returns the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    const child = this.child;
    if (!child?.pid || !this.exited) return 0;
    if (alive(child.pid)) process.kill(child.pid, signal);
    const timer = setTimeout(() => alive(child.pid!) && process.kill(child.pid!, 'SIGKILL'), 10000);
    const code = await this.exited;
    clearTimeout(timer);
    this.child = undefined;
    return code;
  }

  /**
   * Deletes every task and container it still has (berthd leaves containers running when it
   * stops, by design), stops it, then removes whatever is left of ours: shims by pid, mounts
   * and the temp dir. Run by every test file's afterAll, pass or fail.
   */
  async cleanup(): Promise<void> {
    if (this.child && alive(this.child.pid!)) {
      const namespaces = (await this.ctr(['namespaces', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
      for (const namespace of namespaces) {
        // Nothing may come back while we kill: berthd's restart monitor restarts a container
        // whose wanted status is "running" (containerd's restart label).
        for (const id of (await this.ctr(['containers', 'ls', '-q'], { namespace })).stdout.split('\n').filter(Boolean)) {
          await this.ctr(['containers', 'label', id, 'containerd.io/restart.status=stopped'], { namespace });
        }
        for (const id of (await this.ctr(['task', 'ls', '-q'], { namespace })).stdout.split('\n').filter(Boolean)) {
          await this.ctr(['task', 'kill', '-s', 'SIGKILL', id], { namespace });
          await this.ctr(['task', 'delete', '--force', id], { namespace });
        }
        for (const id of (await this.ctr(['containers', 'ls', '-q'], { namespace })).stdout.split('\n').filter(Boolean)) {
          await this.ctr(['containers', 'rm', id], { namespace });
        }
      }
    }
    // SIGTERM: berthd finishes the network teardowns the removals above started (veths,
    // iptables rules, leases), then exits
    await this.stop('SIGTERM');
    for (const pid of pidsMentioning(this.dir)) process.kill(pid, 'SIGKILL');
    // the bridges of its networks (no CNI plugin removes a bridge)
    for (const b of networkBridges(join(this.root, 'networks'))) deleteLink(b);
    for (const mnt of mountsUnder(this.dir).reverse()) spawnSync('umount', ['-l', mnt]);
    for (const dir of topLevelCgroups()) {
      if (this.cgroupsBefore.has(dir)) continue;
      try {
        rmdirSync(dir);
      } catch {
        // not empty: something else of ours leaked into it, and the leak checks will say so
      }
    }
    if (existsSync(CTR_DIRS[0]!)) {
      for (const e of readdirSync(CTR_DIRS[0]!)) if (!this.fifoDirsBefore.has(e)) rmSync(join(CTR_DIRS[0]!, e), { recursive: true, force: true });
    }
    for (const dir of CTR_DIRS) {
      if (this.ctrDirsBefore.includes(dir)) continue;
      try {
        rmdirSync(dir);
      } catch {
        // not empty or already gone: a FIFO left inside is a leak the checks will report
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The bridges of the networks a berthd root records (default network included). */
function networkBridges(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    try {
      const bridge = (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { bridge?: string }).bridge;
      if (bridge) out.push(bridge);
    } catch {
      // not a network record
    }
  }
  return out;
}

/** Processes whose command line names a path under `dir` (our shims), by pid. */
function pidsMentioning(dir: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir)) pids.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return pids.filter((p) => p !== process.pid);
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(dir + '/'));
}

function topLevelCgroups(): string[] {
  const out: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    try {
      for (const d of readdirSync(join('/sys/fs/cgroup', h), { withFileTypes: true })) if (d.isDirectory()) out.push(join('/sys/fs/cgroup', h, d.name));
    } catch {
      // not a hierarchy
    }
  }
  return out;
}


/**
 * A private berthd and the test image for a whole test file: made in beforeAll (the image
 * imported with ctr when `importImage`), removed in afterAll. `set` hands them to the file's
 * variables as soon as they exist.
 */
export function usePrivateBerthd(opts: { importImage?: boolean }, set: (it: { d: PrivateBerthd; image: Image }) => void): void {
  let d: PrivateBerthd | undefined;
  let image: Image | undefined;
  beforeAll(async () => {
    requireRoot();
    image = buildImage();
    d = new PrivateBerthd();
    set({ d, image });
    await d.start();
    if (opts.importImage) {
      const r = await d.ctr(['images', 'import', image.tar]);
      if (r.code !== 0) throw new Error(`import: ${r.stderr}`);
    }
  }, 60_000);
  afterAll(async () => {
    try {
      await d?.cleanup();
    } finally {
      image?.cleanup();
    }
  });
}
