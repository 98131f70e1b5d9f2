// The networking part of a container's run config (core/containers/run-config.ts), which berthd
// reads to set the container up and `inspect` shows: Docker's HostConfig.NetworkMode,
// PortBindings, PublishAllPorts, Links, DnsSearch, DnsOptions, Config.ExposedPorts (the image's
// EXPOSE and --expose) and the first endpoint's aliases and address.

import type { RunConfig } from '../../core/containers/run-config';
import type { NetworkOptions } from './run-flags';

export function withNetworking(run: RunConfig, net: NetworkOptions, mode: string, links: string[], imageExposed: Record<string, unknown> | null | undefined): RunConfig {
  const exposed: Record<string, Record<string, never>> = {};
  // sorted, as Docker's JSON of a Go map is
  for (const k of [...Object.keys(imageExposed ?? {}), ...net.expose, ...Object.keys(net.portBindings)].map((k) => (k.includes('/') ? k : `${k}/tcp`)).sort()) exposed[k] = {};
  return {
    ...run,
    ...(Object.keys(exposed).length ? { ExposedPorts: exposed } : {}),
    Networking: { Aliases: net.networkAliases, IPv4Address: net.ip },
    Host: {
      ...run.Host,
      NetworkMode: mode,
      PortBindings: net.portBindings,
      PublishAllPorts: net.publishAll,
      Links: links,
      DnsSearch: net.dnsSearch,
      DnsOptions: net.dnsOptions,
    },
  };
}
