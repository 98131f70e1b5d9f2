// berth port CONTAINER [PRIVATE_PORT[/PROTO]]: the container's published ports, as Docker prints
// them ("80/tcp -> 0.0.0.0:32768"), from berthd's record of the container's networking; for
// one port, only its host addresses ("0.0.0.0:32768"), or Docker's error when it is not
// published (exit 1).

import type { CommandSpec } from '../command';
import { CliError, UsageError, grpcCode, NOT_FOUND } from '../errors';
import { resolveContainer } from '../containers/resolve';
import { networkError, type ContainerNetworkMessage } from '../networks/view';


export const command: CommandSpec = {
  usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]',
  summary: 'List port mappings or a specific mapping for the container',
  options: [],
  args: { min: 1, max: 2 },
  async run(ctx, parsed) {
    const [ref, port] = parsed.args as [string, string | undefined];
    let wanted: string | undefined;
    if (port !== undefined) {
      const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(port);
      if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new UsageError(`Invalid port: ${port}`, ctx.commandPath);
      wanted = `${Number(m[1])}/${m[2] ?? 'tcp'}`;
    }
    const d = await ctx.daemon();
    const c = await resolveContainer(d, ref);
    const settings = (await d.networks.ContainerSettings({ containerId: c.id }).catch((err: unknown) => {
      if (grpcCode(err) === NOT_FOUND) return undefined; // host, none, container:: nothing published
      throw networkError(err);
    })) as ContainerNetworkMessage | undefined;
    const ports = [...(settings?.ports ?? [])].sort((a, b) => a.containerPort - b.containerPort || a.protocol.localeCompare(b.protocol) || a.hostPort - b.hostPort);
    const host = (p: (typeof ports)[number]) => `${p.hostIp || '0.0.0.0'}:${p.hostPort}`;
    if (wanted) {
      const hits = ports.filter((p) => `${p.containerPort}/${p.protocol}` === wanted);
      if (!hits.length) throw new CliError(`No public port '${wanted}' published for ${ref}`);
      ctx.io.stdout.write(hits.map((p) => `${host(p)}\n`).join(''));
      return;
    }
    ctx.io.stdout.write(ports.map((p) => `${p.containerPort}/${p.protocol} -> ${host(p)}\n`).join(''));
  },
};
