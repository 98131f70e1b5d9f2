// Creating a berth container from RunOptions (run and create): the image resolved and, if
// needed, unpacked; the id (64 random hex digits) and the name (given, or generated and
// retried while taken); the spec (spec.ts) with the user, devices and profiles the host and
// image give; the writable snapshot on the image's top layer; then the container record with
// berth's labels and the run config extension. A lease holds the snapshot until the record
// refers to it.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { Daemon } from '../daemon';
import { CliError, grpcCode, NOT_FOUND, ALREADY_EXISTS } from '../errors';
import { findImages, resolveTarget, type FoundImage } from '../images/resolve';
import { withLease } from '../images/lease';
import { DEFAULT_SNAPSHOTTER, unpack } from '../images/unpack';
import { generateName, normalizeName } from './names';
import { fromProto, type ContainerRecord } from './resolve';
import type { RunOptions } from './run-options';
import { buildSpec, capsOfMask, type HostDevice, type ImageRunConfig } from './spec';
import { containerDevices } from './host-devices';
import { imageEtcFiles, resolveUser } from './user';
import { resolveLinks } from '../networks/links';
import { planNamespace } from '../networks/namespace';
import { withNetworking } from '../networks/run-config';
import { awaitNetwork } from '../networks/wait';
import { planContainerMounts, withMounts } from '../volumes/container';
import { ociMounts, populateVolumes, prepareVolumes, removeVolumes } from '../volumes/prepare';
import { SPEC_TYPE_URL, packJsonAny } from '../../api';
import * as L from '../../core/containers/labels';
import { RUN_CONFIG_EXTENSION, RUN_CONFIG_TYPE_URL, type RunConfig } from '../../core/containers/run-config';
import { chainIds, familiarName } from '../../core/images';

/** containerd's runc v2 shim name: what ctr sends; berthd runs every container with berth-shim. */
export const RUNTIME_NAME = 'io.containerd.runc.v2';
const CONTAINERS_PLUGIN_ID = 'berth-containers';
/** Where --init's binary is looked for (Debian's tini package). */
const INIT_BINARIES = ['/usr/bin/tini-static', '/usr/bin/docker-init', '/usr/local/bin/tini-static'];

/** berthd's directory for the containers' /etc files (the berth-containers plugin's export). */
async function containersRoot(d: Daemon): Promise<string> {
  const { plugins } = await d.introspection.Plugins({ filters: [`id==${CONTAINERS_PLUGIN_ID}`] });
  const root = plugins[0]?.exports?.containers_root;
  if (!root) throw new CliError(`berthd has no ${CONTAINERS_PLUGIN_ID} plugin: it cannot run berth containers (is it an older berthd?)`);
  return root;
}

/**
 * What --privileged / --cap-add ALL can give: the bounding set of this host's root processes
 * (berthd's, on the same host: it listens on a unix socket only). A host whose own bounding set
 * is reduced (berth inside a container) cannot give more; Docker's daemon does the same.
 */
function availableCaps(): string[] | undefined {
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? capsOfMask(m[1]!) : undefined;
  } catch {
    return undefined;
  }
}

function hostDevice(m: RunOptions['devices'][number]): HostDevice {
  let st;
  try {
    st = statSync(m.pathOnHost);
  } catch (err) {
    throw new CliError(`error gathering device information while adding custom device "${m.pathOnHost}": ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
  }
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (!type) throw new CliError(`error gathering device information while adding custom device "${m.pathOnHost}": not a device node`);
  const rdev = st.rdev;
  return {
    pathInContainer: m.pathInContainer,
    type,
    major: ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff),
    minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
    fileMode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    permissions: m.permissions,
  };
}

export function runConfigOf(opts: RunOptions, image: ImageRunConfig, imageId: string, cmd: { entrypoint: string[] | null; cmd: string[] | null }, env: string[], labels: Record<string, string>): RunConfig {
  const policy = opts.restart === '' ? 'no' : opts.restart;
  const [name, count] = policy.split(':');
  return {
    Image: opts.image,
    ImageID: imageId,
    Entrypoint: cmd.entrypoint,
    Cmd: cmd.cmd,
    Env: env,
    WorkingDir: opts.workdir ?? image.WorkingDir ?? '',
    User: opts.user ?? image.User ?? '',
    Labels: labels,
    Tty: opts.tty,
    OpenStdin: opts.interactive,
    AttachStdin: !opts.detach && (opts.attach.length ? opts.attach.includes('stdin') : opts.interactive),
    AttachStdout: !opts.detach && (opts.attach.length ? opts.attach.includes('stdout') : true),
    AttachStderr: !opts.detach && (opts.attach.length ? opts.attach.includes('stderr') : true),
    StopSignal: opts.stopSignal ?? image.StopSignal ?? '',
    StopTimeout: opts.stopTimeout ?? null,
    Volumes: image.Volumes ? Object.fromEntries(Object.keys(image.Volumes).map((k) => [k, {}])) : null,
    Host: {
      Binds: opts.binds.map((b) => b.spec),
      ExtraHosts: opts.addHost,
      Dns: opts.dns,
      Tmpfs: opts.tmpfs,
      Devices: opts.devices.map((d) => ({ PathOnHost: d.pathOnHost, PathInContainer: d.pathInContainer, CgroupPermissions: d.permissions })),
      CapAdd: opts.capAdd,
      CapDrop: opts.capDrop,
      SecurityOpt: opts.securityOpt,
      Privileged: opts.privileged,
      ReadonlyRootfs: opts.readOnly,
      Init: opts.init,
      AutoRemove: opts.rm,
      RestartPolicy: { Name: name!, MaximumRetryCount: Number(count ?? 0) },
      ShmSize: opts.shmSize || 64 * 1024 * 1024,
      Memory: opts.memory,
      MemorySwap: opts.memorySwap,
      NanoCpus: opts.nanoCpus,
      CpuShares: opts.cpuShares,
      CpuPeriod: opts.cpuPeriod,
      CpuQuota: opts.cpuQuota,
      CpusetCpus: opts.cpusetCpus,
      CpusetMems: opts.cpusetMems,
      PidsLimit: opts.pidsLimit ?? null,
      OomKillDisable: opts.oomKillDisable,
      Ulimits: opts.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
      ContainerIDFile: opts.cidfile ?? '',
    },
  };
}

/** `local`: the image as ensureImage found it, so it is not looked up twice; else it is looked up here. */
export async function createContainer(d: Daemon, opts: RunOptions, namespace: string, local?: FoundImage): Promise<ContainerRecord> {
  if (opts.cidfile && existsSync(opts.cidfile)) {
    throw new CliError(`Container ID file found, make sure the other container isn't running or delete ${opts.cidfile}`);
  }
  const wantedName = opts.name === undefined ? undefined : normalizeNameOrFail(opts.name);
  // Asked now, answered while the image is looked up (its failure is reported below, if the
  // image is found).
  const filesRootAnswer = containersRoot(d);
  filesRootAnswer.catch(() => undefined);
  const id = randomBytes(32).toString('hex');
  // the network namespace (berthd's, the host's, none, another container's): lookups only,
  // asked beside the image's (awaited after it, so the image's and the user's errors come first)
  const netPlanAnswer = filesRootAnswer.then((root) => planNamespace(d, opts.net.network, namespace, id, root));
  netPlanAnswer.catch(() => undefined);
  const found =
    local ??
    (
      await findImages(d, opts.image).catch((err: unknown) => {
        if (err instanceof CliError && /^no such image/.test(err.message)) throw new CliError(`No such image: ${opts.image}`);
        throw err;
      })
    )[0]!;
  const img = await resolveTarget(d, found.target, opts.image);
  const imageConfig = (img.imageConfig.config ?? {}) as ImageRunConfig;
  const topChain = chainIds(img.imageConfig.rootfs.diff_ids).at(-1);

  const [filesRoot, user, seccompProfile] = await Promise.all([
    filesRootAnswer,
    resolveUser(opts.user ?? imageConfig.User ?? '', imageEtcFiles(d, img.layers)),
    (async () => {
      const file = opts.securityOpt.map((s) => /^seccomp[=:](.*)$/.exec(s)?.[1]).find((v) => v !== undefined);
      if (file === undefined || file === 'unconfined') return undefined;
      try {
        return JSON.parse(await readFile(file, 'utf8')) as unknown;
      } catch (err) {
        throw new CliError(`opening seccomp profile (${file}) failed: ${(err as Error).message}`);
      }
    })(),
  ]);
  const netPlan = await netPlanAnswer;
  // --link's env
  const linked = opts.net.links.length ? await resolveLinks(d, opts.net.links, wantedName ?? id.slice(0, 12)) : { env: [], links: [] };
  // -v, --mount, --volumes-from and the image's VOLUMEs (cli/volumes); the volumes made here
  // are removed again when the create fails
  const mountPlan = await planContainerMounts(d, opts, imageConfig.Volumes);
  const createdVolumes = await prepareVolumes(d, mountPlan);
  const initBinary = opts.init ? INIT_BINARIES.find((p) => existsSync(p)) : undefined;
  let spec;
  try {
    spec = buildSpec({
      userMounts: ociMounts(mountPlan),
      id,
      opts,
      image: imageConfig,
      user,
      filesDir: `${filesRoot}/${namespace}/${id}`,
      ...(netPlan.spec ? { network: netPlan.spec } : {}),
      linkEnv: linked.env,
      devices: containerDevices(opts.privileged, opts.devices.map(hostDevice)),
      ...(opts.privileged || opts.capAdd.some((c) => c.toUpperCase() === 'ALL') ? { availableCaps: availableCaps() } : {}),
      ...(seccompProfile !== undefined ? { seccompProfile } : {}),
      ...(initBinary ? { initBinary } : {}),
    });
  } catch (err) {
    await removeVolumes(d, createdVolumes);
    throw new CliError((err as Error).message, 125);
  }

  const stopSignal = opts.stopSignal ?? imageConfig.StopSignal;
  const userLabels = { ...(imageConfig.Labels ?? {}), ...opts.labels };
  const labels: Record<string, string> = {
    ...userLabels,
    [L.CREATED_BY]: 'berth',
    [L.IMAGE_REF]: opts.image,
    ...(stopSignal ? { [L.STOP_SIGNAL]: stopSignal } : {}),
    ...(opts.stopTimeout !== undefined ? { [L.STOP_TIMEOUT]: String(opts.stopTimeout) } : {}),
    ...(opts.interactive ? { [L.STDIN_OPEN]: 'true' } : {}),
    ...(opts.tty ? { [L.TTY]: 'true' } : {}),
    ...(opts.rm ? { [L.AUTO_REMOVE]: 'true' } : {}),
    ...(opts.restart && opts.restart !== 'no' ? { [L.RESTART_POLICY]: opts.restart } : {}),
  };
  const entrypointGiven = opts.entrypoint !== undefined ? (opts.entrypoint === '' ? [] : [opts.entrypoint]) : (imageConfig.Entrypoint ?? null);
  const cmdGiven = opts.command.length ? opts.command : opts.entrypoint !== undefined && opts.entrypoint !== '' ? null : (imageConfig.Cmd ?? null);
  const runConfig = withNetworking(
    withMounts(runConfigOf(opts, imageConfig, img.config.digest, { entrypoint: entrypointGiven, cmd: cmdGiven }, spec.process.env, userLabels), opts, mountPlan),
    opts.net,
    netPlan.mode,
    linked.links,
    (img.imageConfig.config as { ExposedPorts?: Record<string, unknown> } | undefined)?.ExposedPorts,
  );
  const imageName = found.names[0] ?? img.config.digest;

  // Whether the image is unpacked, asked beside the lease's creation (it needs no lease: the
  // image holds its snapshots).
  const unpacked = topChain
    ? d.snapshots.Stat({ snapshotter: DEFAULT_SNAPSHOTTER, key: topChain }).then(() => true, (err: unknown) => {
        if (grpcCode(err) === NOT_FOUND) return false;
        throw err;
      })
    : undefined;
  unpacked?.catch(() => undefined);
  const record = await withLease(d, 'create', async (lease) => {
    if (topChain) {
      const exists = await unpacked;
      if (!exists) await unpack(d, { config: img.config, imageConfig: img.imageConfig, layers: img.layers }, { lease, what: familiarName(imageName) });
    }
    await d.snapshots.Prepare({ snapshotter: DEFAULT_SNAPSHOTTER, key: id, parent: topChain ?? '', labels: {} }, { lease });
    try {
      // new volumes over the image's directories get their files (Docker's copy-up)
      await populateVolumes(d, mountPlan, { snapshotter: DEFAULT_SNAPSHOTTER, key: id });
      for (let attempt = 0; ; attempt++) {
        const name = wantedName ?? generateName(attempt);
        try {
          const { container } = await d.containers.Create({
            container: {
              id,
              labels: { ...labels, [L.NAME]: name },
              image: imageName,
              runtime: { name: RUNTIME_NAME },
              spec: packJsonAny(SPEC_TYPE_URL, spec),
              snapshotter: DEFAULT_SNAPSHOTTER,
              snapshotKey: id,
              extensions: { [RUN_CONFIG_EXTENSION]: packJsonAny(RUN_CONFIG_TYPE_URL, runConfig) },
            },
          });
          return fromProto(container as never);
        } catch (err) {
          // A generated name someone has: another one (Docker retries the same way).
          if (wantedName === undefined && grpcCode(err) === ALREADY_EXISTS && attempt < 10) continue;
          throw err;
        }
      }
    } catch (err) {
      await d.snapshots.Remove({ snapshotter: DEFAULT_SNAPSHOTTER, key: id }).catch(() => undefined);
      throw err;
    }
  }).catch(async (err: unknown) => {
    await removeVolumes(d, createdVolumes);
    throw err;
  });
  // berthd set the network up when the record was made: wait for it; a failure (a port taken)
  // removes the container again, so nothing half-made stays
  if (netPlan.berthd) {
    await awaitNetwork(d, record.id).catch(async (err: unknown) => {
      await d.containers.Delete({ id: record.id }).catch(() => undefined);
      await d.snapshots.Remove({ snapshotter: DEFAULT_SNAPSHOTTER, key: id }).catch(() => undefined);
      await removeVolumes(d, createdVolumes);
      throw err;
    });
  }
  if (opts.cidfile) await writeFile(opts.cidfile, record.id, { flag: 'wx', mode: 0o644 });
  return record;
}

/** Docker's run/create fail with 125 for anything before the container exists (no such image, bad user). */
export function asDaemonError(err: unknown): never {
  if (err instanceof CliError && err.exitCode === 1) throw new CliError(err.message, 125);
  throw err;
}

function normalizeNameOrFail(name: string): string {
  try {
    return normalizeName(name);
  } catch (err) {
    throw new CliError((err as Error).message, 125);
  }
}
