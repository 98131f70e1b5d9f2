// --link NAME[:ALIAS] on the default network (Docker's legacy links): the linked container must
// be running; the new container gets Docker's environment variables for it (ALIAS_NAME,
// ALIAS_PORT, ALIAS_PORT_<port>_<PROTO>[_ADDR|_PORT|_PROTO], _START/_END for runs of ports,
// ALIAS_ENV_<VAR> for the target's own environment) and, written by berthd
// once addresses are known, an /etc/hosts line "ip alias hostname name". The links are kept as
// Docker keeps them, "/<target>:/<self>/<alias>" (HostConfig.Links), which berthd reads.

import type { Daemon } from '../daemon';
import { CliError, grpcCode, NOT_FOUND } from '../errors';
import { resolveContainer, runConfigOf } from '../containers/resolve';
import { parsePortKey, type Protocol } from '../../core/networks/ports';


export interface ResolvedLinks {
  env: string[];
  /** Docker's HostConfig.Links. */
  links: string[];
}

/** Docker's link environment for one target (links.ToEnv). */
export function linkEnv(name: string, ip: string, exposed: string[], targetEnv: string[]): string[] {
  const alias = (name.split('/').pop() ?? name).toUpperCase().replace(/-/g, '_');
  const ports = exposed
    .map(parsePortKey)
    .filter((p): p is { port: number; protocol: Protocol } => !!p)
    // tcp first, then by number (Docker's withTCPPriority)
    .sort((a, b) => (a.protocol === b.protocol ? a.port - b.port : a.protocol === 'tcp' ? -1 : b.protocol === 'tcp' ? 1 : a.protocol.localeCompare(b.protocol)));
  const env: string[] = [];
  let start = ports[0];
  let end = ports[0];
  ports.forEach((p, i) => {
    if (i === 0) env.push(`${alias}_PORT=${p.protocol}://${ip}:${p.port}`);
    const prefix = `${alias}_PORT_${p.port}_${p.protocol.toUpperCase()}`;
    env.push(`${prefix}=${p.protocol}://${ip}:${p.port}`, `${prefix}_ADDR=${ip}`, `${prefix}_PORT=${p.port}`, `${prefix}_PROTO=${p.protocol}`);
    if (i > 0 && p.port === end!.port + 1 && p.protocol === start!.protocol) {
      end = p;
      if (i < ports.length - 1) return;
    }
    if (end !== start) {
      const sp = `${alias}_PORT_${start!.port}_${start!.protocol.toUpperCase()}`;
      env.push(`${sp}_START=${start!.protocol}://${ip}:${start!.port}`, `${sp}_PORT_START=${start!.port}`, `${sp}_END=${end!.protocol}://${ip}:${end!.port}`, `${sp}_PORT_END=${end!.port}`);
    }
    start = p;
    end = p;
  });
  env.push(`${alias}_NAME=${name}`);
  for (const v of targetEnv) {
    const eq = v.indexOf('=');
    if (eq <= 0) continue;
    const key = v.slice(0, eq);
    // Docker leaves out HOME and PATH; HOSTNAME and TERM are never in its Config.Env (the
    // runtime adds them), but are in berth's recorded environment: left out too.
    if (key === 'HOME' || key === 'PATH' || key === 'HOSTNAME' || key === 'TERM') continue;
    env.push(`${alias}_ENV_${key}=${v.slice(eq + 1)}`);
  }
  return env;
}

/**
 * Resolves --link targets for a container to be named `selfName` (a name berth generates is not
 * known before the record exists: the id's prefix stands in for it in ALIAS_NAME then).
 */
export async function resolveLinks(d: Daemon, links: { name: string; alias: string }[], selfName: string): Promise<ResolvedLinks> {
  const out: ResolvedLinks = { env: [], links: [] };
  for (const l of links) {
    const target = await resolveContainer(d, l.name).catch(() => {
      throw new CliError(`could not get container for ${l.name}`, 125);
    });
    const task = await d.tasks.Get({ containerId: target.id }).catch((err: unknown) => {
      if (grpcCode(err) === NOT_FOUND) return undefined;
      throw err;
    });
    if (task?.process?.status !== 'RUNNING') throw new CliError(`Cannot link to a non running container: /${target.name} AS /${selfName}/${l.alias}`, 125);
    const settings = await d.networks.ContainerSettings({ containerId: target.id }).catch(() => undefined);
    const ip = settings?.endpoints[0]?.ipAddress;
    if (!ip) throw new CliError(`Cannot link to /${target.name}: it has no address on a network of berth's (its network mode is host, none or container:)`, 125);
    const run = runConfigOf(target);
    out.env.push(...linkEnv(`/${selfName}/${l.alias}`, ip, Object.keys(run?.ExposedPorts ?? {}), run?.Env ?? []));
    out.links.push(`/${target.name}:/${selfName}/${l.alias}`);
  }
  return out;
}
