import { promises as fs } from 'fs';
import type { RuntimeContext } from './context';
import type { StoredState } from '../state/state';
import { pidStartTime, toOciState } from '../state/state';
import { loadBundle } from '../spec/load';
import { buildPlan, encodePlan } from '../plan/build';
import { readHostFacts } from '../plan/host-facts';
import { detectLayout, openCgroup } from '../cgroups';
import { warmMigration } from '../cgroups/prime';
import type { CgroupLayout, CgroupManager } from '../cgroups/types';
import { runHooks } from '../hooks/run';
import { withDefaultDevices } from '../plan/device-rules';
import { mark } from '../util/timing';
import type { ChildProcess } from 'child_process';
import { InitProcess, type InitSpawnOptions } from './init-process';
import type { SyncChannel } from './sync-channel';
import { writeFileAtomic } from '../util/atomic';
import { BerthError, invalidArgument, invalidConfig } from '../util/errors';

export interface CreateOptions extends InitSpawnOptions {
  id: string;
  bundle: string;
  consoleSocket?: string;
  pidFile?: string;
  noPivot?: boolean;
  /** `run` in the foreground: berth-init's stage0 stays to mirror the exit status. */
  foreground?: boolean;
}

export interface Created {
  state: StoredState;
  /** The berth-init session; for a foreground run, `exited` is the container's exit status. */
  init: InitProcess;
}

/**
 * A berth-init session someone started for us: the sync channel, with the plan already
 * written to it, and stage0 if it is our child (it is not when berth-shim started it).
 */
export interface Launched {
  channel: SyncChannel;
  stage0?: ChildProcess;
}

/**
 * Starts berth-init with `planText` and returns its sync channel. The default spawns
 * berth-init ourselves (InitProcess); berthd asks berth-shim to start it instead, and accepts
 * the connection the shim hands berth-init as fd 3.
 */
export type Launch = (planText: string) => Promise<Launched>;

/**
 * The create half of the handshake with berth-init started by `launch`: everything
 * createContainer does (validate, plan, cgroup, id maps, hooks, state record), without
 * spawning berth-init. The channel is closed once the child is ready (it then blocks on the
 * exec fifo); on failure nothing is left behind (the child is killed, stage0 reaped if ours).
 */
export async function createContainerWith(ctx: RuntimeContext, opts: Omit<CreateOptions, 'foreground' | keyof InitSpawnOptions>, launch: Launch): Promise<{ state: StoredState }> {
  const box: { launched?: Launched } = {};
  const { state } = await createSteps(
    ctx,
    opts,
    async (planText) => (box.launched = await launch(planText)).channel,
    () => (box.launched?.stage0 ? { stage0: box.launched.stage0 } : undefined),
  );
  box.launched?.channel.close();
  return { state };
}

/**
 * The create half of the handshake (ARCHITECTURE.md): validate, plan, clone through
 * berth-init, set up the cgroup and user mappings while the child waits, and record the
 * state once the child blocks on the exec fifo. On any failure nothing is left behind.
 */
export async function createContainer(ctx: RuntimeContext, opts: CreateOptions): Promise<Created> {
  let init: InitProcess | undefined;
  const { state } = await createSteps(ctx, opts, async (planText) => {
    init = InitProcess.spawn(planText, opts);
    return init.channel;
  }, () => init);
  return { state, init: init! };
}

async function createSteps(
  ctx: RuntimeContext,
  opts: CreateOptions,
  start: (planText: string) => Promise<SyncChannel>,
  spawned: () => { stage0: ChildProcess } | undefined = () => undefined,
): Promise<{ state: StoredState }> {
  // The process joins its cgroup in a moment: have that migration skip the kernel's RCU wait.
  const releaseWarm = warmMigration(ctx.host);
  const stateDir = await ctx.store.reserve(opts.id);
  let cgroup: CgroupManager | undefined;
  let pid = 0;
  let channel: SyncChannel | undefined;
  try {
    const bundle = await loadBundle(ctx.host, opts.bundle);
    const { spec } = bundle;
    if (spec.process?.terminal && !opts.consoleSocket && !opts.foreground) {
      // The pty master has to go somewhere: to a console socket, or, in the foreground, to
      // stage0, which stays and relays it to our stdio. A detached container has neither.
      throw invalidArgument('process.terminal is true: a --console-socket is required to receive the pty (or run in the foreground)');
    }
    const [facts, layout] = await Promise.all([readHostFacts(ctx.host), detectLayout(ctx.host)]);
    cgroup = await openCgroup(ctx.host, layout, spec.linux?.cgroupsPath, opts.id);
    const execFifo = ctx.store.execFifo(opts.id);
    const plan = buildPlan(spec, {
      bundle: bundle.dir,
      rootfs: bundle.rootfs,
      cgroupMounts: cgroupMounts(layout, cgroup),
      facts,
      execFifo,
      consoleSocket: opts.consoleSocket,
      noPivot: opts.noPivot,
      preserveFds: opts.preserveFds,
      wait: opts.foreground,
    });
    plan.warnings.forEach(ctx.warn);
    const planText = encodePlan(plan);
    ctx.debug(`init plan:\n${planText}`);

    mark('bundle validated, plan built');
    // The cgroup needs no pid until the process joins it: make it and apply the resources
    // while berth-init starts and clones (tens of cgroupfs writes vs a fork, an exec and the
    // plan exchange).
    const cg = cgroup;
    const cgroupReady = cg.create().then(() => cg.apply(withDefaultDevices(spec.linux?.resources, spec.linux?.devices)));
    // Awaited below; until then a failure must not count as an unhandled rejection (which
    // would end the process mid-create, with nothing undone).
    cgroupReady.catch(() => undefined);
    try {
      channel = await start(planText);
      pid = Number((await channel.expect('pid'))[1]);
    } finally {
      // Settled before undoCreate removes the cgroup, whichever way the launch went.
      await cgroupReady.catch(() => undefined);
    }
    mark('berth-init cloned the container process');

    // The child waits for "go": this is the window to put it in its cgroup (before it can
    // fork), map its users, and run the hooks that must see the namespaces but no process.
    await cgroupReady;
    await cgroup.addProcess(pid);
    releaseWarm();
    mark('cgroup created, resources applied, process joined');
    await writeIdMaps(pid, spec.linux?.uidMappings, spec.linux?.gidMappings);
    const state: StoredState = {
      ociVersion: spec.ociVersion,
      id: opts.id,
      pid,
      pidStartTime: (await pidStartTime(pid)) ?? '',
      bundle: bundle.dir,
      rootfs: bundle.rootfs,
      created: new Date().toISOString(),
      owner: '',
      annotations: spec.annotations,
      resources: spec.linux?.resources,
      cgroupVersion: cgroup.version,
      cgroupPaths: cgroup.paths,
      hooks: { poststart: spec.hooks?.poststart, poststop: spec.hooks?.poststop },
    };
    if (!state.pidStartTime) throw new BerthError('ERR_INIT', `container process ${pid} exited during create`);
    const creating = JSON.stringify(toOciState(state, 'creating'));
    await runHooks('prestart', spec.hooks?.prestart, creating);
    await runHooks('createRuntime', spec.hooks?.createRuntime, creating);
    channel.send(['go', JSON.stringify(toOciState(state, 'created'))]);
    await channel.expect('ready');
    mark('container set up, waiting on the exec fifo');

    await ctx.store.write(state);
    if (opts.pidFile) await writeFileAtomic(opts.pidFile, String(pid), 0o644);
    return { state };
  } catch (err) {
    releaseWarm();
    await undoCreate(ctx, pid, cgroup, stateDir, channel, spawned());
    throw err;
  }
}

async function undoCreate(
  ctx: RuntimeContext,
  pid: number,
  cgroup: CgroupManager | undefined,
  stateDir: string,
  channel: SyncChannel | undefined,
  init: { stage0: ChildProcess } | undefined,
): Promise<void> {
  if (pid > 0) {
    const started = await pidStartTime(pid);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    // Its cgroup cannot be removed until it has left, and a caller checking for leaks
    // right after a failed create must not see it.
    for (let i = 0; i < 500 && started !== undefined && (await pidStartTime(pid)) === started; i++) await new Promise((r) => setTimeout(r, 2));
  }
  channel?.close();
  if (init) await reap(init.stage0);
  if (cgroup) await cgroup.destroy().catch((e: Error) => ctx.warn(`cleanup: ${e.message}`));
  await fs.rm(stateDir, { recursive: true, force: true });
}

/** Kills stage0 (our child) and waits until it is reaped. */
export async function reap(stage0: ChildProcess): Promise<void> {
  // Keep stage0 referenced until it is reaped: an unref'd child would let Node exit here.
  const exited = stage0.exitCode !== null || stage0.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => stage0.once('exit', () => r()));
  stage0.kill('SIGKILL');
  await exited;
}

async function writeIdMaps(pid: number, uid?: { containerID: number; hostID: number; size: number }[], gid?: typeof uid): Promise<void> {
  const text = (m: NonNullable<typeof uid>) => m.map((e) => `${e.containerID} ${e.hostID} ${e.size}`).join('\n') + '\n';
  const write = async (file: string, data: string, field: string) => {
    try {
      await fs.writeFile(`/proc/${pid}/${file}`, data);
    } catch (err) {
      throw invalidConfig(`${field}: write /proc/${pid}/${file}: ${(err as Error).message}`);
    }
  };
  if (uid?.length) await write('uid_map', text(uid), 'linux.uidMappings');
  if (gid?.length) {
    // Without CAP_SETGID over the parent namespace the kernel takes a gid map only once
    // setgroups(2) is denied in the child's namespace (a rootless container).
    if (process.geteuid?.() !== 0) await write('setgroups', 'deny', 'linux.gidMappings');
    await write('gid_map', text(gid), 'linux.gidMappings');
  }
}

/** For each hierarchy the container has a directory in: the mount point it sits under. */
function cgroupMounts(layout: CgroupLayout, cgroup: CgroupManager) {
  const mountPoints = [...new Set(Object.values(layout.v1Mounts))];
  if (layout.unifiedMount) mountPoints.push(layout.unifiedMount);
  const out: { mountPoint: string; hostDir: string; fstype: 'cgroup' | 'cgroup2' }[] = [];
  for (const dir of new Set(Object.values(cgroup.paths))) {
    const mp = mountPoints.filter((m) => dir === m || dir.startsWith(m + '/')).sort((a, b) => b.length - a.length)[0];
    if (mp && !out.some((o) => o.mountPoint === mp)) out.push({ mountPoint: mp, hostDir: dir, fstype: mp === layout.unifiedMount ? 'cgroup2' : 'cgroup' });
  }
  return out;
}
