import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import type { Result } from './env';
import { processesMatching, removeCgroupTree, requireCommands, run, stateEntries, unmountAllUnder, writeWrapper, type Leftovers, type RunOptions, type RuntimeUnderTest } from './containerd';

// Podman 4 with nothing shared with a system podman: its own containers.conf and
// storage.conf (through CONTAINERS_CONF / CONTAINERS_STORAGE_CONF), graph root, run root,
// tmpdir (libpod's state, exit files, file locks instead of the /dev/shm segment), events log,
// hooks and network config dirs, and a cgroup parent of its own. Podman is a command, not a
// daemon: each call is a process; conmon stays beside each container.
//
// The OCI runtime is a wrapper in our dir that records its argv and adds `--root` (the
// runtime's state dir, in our dir): podman passes no --root itself, and its --runtime-flag
// does not reach the `podman container cleanup` that conmon runs when a container exits.

export class Podman {
  readonly dir = mkdtempSync(join(tmpdir(), 'podman-e2e-'));
  /** Top directory of the containers' cgroups (podman's --cgroup-parent), in every hierarchy. */
  readonly cgroupParent = `podman-e2e-${process.pid}`;
  readonly env: NodeJS.ProcessEnv;
  /**
   * What podman 4.3 writes outside our dirs whatever it is told: the root blob-info cache
   * (containers/image has no setting for it that podman exposes). Removed by cleanup() if
   * they did not exist before.
   */
  private readonly systemDirs = ['/var/lib/containers', '/var/cache/containers'].filter((p) => !existsSync(p));
  /** conmon makes each console socket as <tmp>/conmon-term.XXXXXX and never removes it. */
  private readonly consoleSockets = new Set(conmonTermSockets());
  private readonly global: string[];

  constructor() {
    try {
      requireCommands(['podman', 'conmon', 'python3']);
    } catch (err) {
      rmSync(this.dir, { recursive: true, force: true });
      throw err;
    }
    const d = (s: string) => join(this.dir, s);
    for (const s of ['root', 'runroot', 'tmp', 'hooks', 'net', 'volumes', 'wrap']) mkdirSync(d(s), { recursive: true });
    writeFileSync(d('containers.conf'), [
      '[containers]',
      'netns = "none"',
      '[engine]',
      'lock_type = "file"',
      // Podman gives `--log FILE --log-format=json` (and reads errors from that file) only to
      // runtimes it knows by name: with berth-runtime listed it drives berth exactly as runc.
      'runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "berth-runtime"]',
      `tmp_dir = "${d('tmp')}"`,
      'events_logger = "file"',
      `events_logfile_path = "${d('events.log')}"`,
      'cgroup_manager = "cgroupfs"',
      `image_copy_tmp_dir = "${d('tmp')}"`,
      `hooks_dir = ["${d('hooks')}"]`,
      `volume_path = "${d('volumes')}"`,
      '[network]',
      `network_config_dir = "${d('net')}"`,
      '',
    ].join('\n'));
    writeFileSync(d('storage.conf'), ['[storage]', 'driver = "overlay"', `graphroot = "${d('root')}"`, `runroot = "${d('runroot')}"`, ''].join('\n'));
    writeFileSync(d('registries.conf'), 'unqualified-search-registries = []\n');
    this.env = {
      ...process.env,
      CONTAINERS_CONF: d('containers.conf'),
      CONTAINERS_STORAGE_CONF: d('storage.conf'),
      CONTAINERS_REGISTRIES_CONF: d('registries.conf'),
    };
    this.global = [
      '--root', d('root'), '--runroot', d('runroot'), '--tmpdir', d('tmp'), '--storage-driver', 'overlay',
      '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--network-config-dir', d('net'), '--hooks-dir', d('hooks'),
    ];
  }

  /**
   * The wrapper for a runtime. Its file name is what podman sees as the runtime's name:
   * "runc" for runc, "berth-runtime" for berth, as a user would install them.
   */
  wrapper(rt: RuntimeUnderTest): string {
    const wrapDir = join(this.dir, 'wrap', rt.tag);
    mkdirSync(wrapDir, { recursive: true });
    const name = rt.binary.split('/').pop()!;
    return writeWrapper(join(wrapDir, name), rt.binary, this.callsLog(rt), ['--root', this.runtimeRoot(rt)]);
  }

  callsLog(rt: RuntimeUnderTest): string {
    return join(this.dir, `calls-${rt.tag}.log`);
  }

  /** The runtime's --root (its state dir). */
  runtimeRoot(rt: RuntimeUnderTest): string {
    return join(this.dir, `runtime-root-${rt.tag}`);
  }

  argv(args: string[], rt?: RuntimeUnderTest): string[] {
    return ['podman', ...this.global, ...(rt ? ['--runtime', this.wrapper(rt)] : []), ...args];
  }

  /** podman GLOBALS [--runtime wrapper(rt)] ARGS */
  podman(args: string[], rt?: RuntimeUnderTest, opts: RunOptions = {}): Promise<Result> {
    const [cmd, ...rest] = this.argv(args, rt);
    return run(cmd!, rest, { env: this.env, ...opts });
  }

  /** `podman run` flags every container gets: no network, rlimits this VM can grant, our cgroup parent. */
  runFlags(): string[] {
    return ['--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--cgroup-parent', `/${this.cgroupParent}`];
  }

  /**
   * Removes every container and image (with each runtime, so its state goes too), unmounts
   * anything left under our dir, kills any conmon still running for us, removes the cgroup
   * parent and the dir. Returns what had been left behind by the scenarios. Idempotent.
   */
  async cleanup(runtimes: RuntimeUnderTest[]): Promise<Leftovers> {
    if (existsSync(this.dir)) {
      for (const rt of runtimes) await this.podman(['rm', '-af', '-t', '0'], rt, { timeoutMs: 60000 });
      await this.podman(['rmi', '-af'], undefined, { timeoutMs: 60000 });
    }
    const processes = processesMatching(this.dir);
    for (const p of processes) {
      try {
        process.kill(Number(p.split(' ')[0]), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const mounts = unmountAllUnder(this.dir);
    const cgroups = removeCgroupTree(this.cgroupParent);
    const state = stateEntries(runtimes.map((rt) => this.runtimeRoot(rt)));
    rmSync(this.dir, { recursive: true, force: true });
    for (const p of this.systemDirs) rmSync(p, { recursive: true, force: true });
    for (const p of conmonTermSockets()) if (!this.consoleSockets.has(p)) rmSync(p, { force: true });
    return { mounts, processes, cgroups, state };
  }
}

function conmonTermSockets(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith('conmon-term.')).map((n) => join(tmpdir(), n));
}

