// The networking options of `berth run` / `berth create` (Docker's names and rules): --network,
// -p/--publish, -P/--publish-all, --expose, --ip, --network-alias, --link, --dns-search,
// --dns-option; parsed and checked here, turned into the run config by run-config.ts and into
// the spec's namespace by namespace.ts.

import type { OptionSpec, ParsedArgs } from '../options';
import { UsageError } from '../errors';
import { parseIPv4 } from '../../core/networks/ipv4';
import { addPublished, parseExpose, type PortBindings } from '../../core/networks/ports';

export const NETWORK_OPTIONS: OptionSpec[] = [
  { long: 'dns-option', type: 'list', description: 'Set DNS options' },
  { long: 'dns-search', type: 'list', description: 'Set custom DNS search domains' },
  { long: 'expose', type: 'list', description: 'Expose a port or a range of ports' },
  { long: 'ip', type: 'string', description: 'IPv4 address (e.g., 172.30.100.104)' },
  { long: 'link', type: 'list', description: 'Add link to another container (NAME[:ALIAS])' },
  { long: 'network', type: 'string', valueName: 'network', description: 'Connect a container to a network (bridge, host, none, container:NAME|ID, or a network\'s name)', defaultText: '"bridge"' },
  { long: 'network-alias', type: 'list', description: 'Add network-scoped alias for the container' },
  { long: 'publish', short: 'p', type: 'list', description: "Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto])" },
  { long: 'publish-all', short: 'P', type: 'boolean', description: 'Publish all exposed ports to random ports' },
];

export interface NetworkOptions {
  /** "bridge", "host", "none", "container:<ref>" or a network's name. */
  network: string;
  portBindings: PortBindings;
  publishAll: boolean;
  /** --expose as "80/tcp" keys. */
  expose: string[];
  ip: string;
  networkAliases: string[];
  links: { name: string; alias: string }[];
  dnsSearch: string[];
  dnsOptions: string[];
}

/** Whether a mode is one of berth's networks (the default or a user network), where -p, --ip … apply. */
export const isNetworkMode = (mode: string): boolean => mode !== 'host' && mode !== 'none' && !mode.startsWith('container:');
export const isUserNetwork = (mode: string): boolean => isNetworkMode(mode) && mode !== 'bridge' && mode !== 'default';

/**
 * The networking options, with Docker's checks of how they combine with the mode (and with
 * --hostname, --dns, --add-host, which container:<id> takes from the other container).
 * Warnings (published ports dropped by --network host) go to `warn`.
 */
export function parseNetworkOptions(parsed: ParsedArgs, commandPath: string, warn: (m: string) => void = () => undefined): NetworkOptions {
  const fail = (m: string) => new UsageError(m, commandPath);
  let network = parsed.string('network') ?? 'bridge';
  if (network === '' || network === 'default') network = 'bridge';
  if (network.startsWith('container:') && network.length === 'container:'.length) throw fail('invalid network mode: container: needs a container name or id (container:NAME|ID)');
  const portBindings: PortBindings = {};
  try {
    addPublished(portBindings, parsed.list('publish'));
  } catch (err) {
    throw fail(`invalid argument for "-p, --publish" flag: ${(err as Error).message}`);
  }
  const expose: string[] = [];
  for (const e of parsed.list('expose')) {
    try {
      expose.push(...parseExpose(e));
    } catch (err) {
      throw fail(`invalid argument "${e}" for "--expose" flag: ${(err as Error).message}`);
    }
  }
  const ip = parsed.string('ip') ?? '';
  if (ip !== '' && parseIPv4(ip) === undefined) throw fail(`invalid argument "${ip}" for "--ip" flag: invalid IPv4 address`);
  const links = parsed.list('link').map((l) => {
    const [name = '', alias = name, extra] = l.split(':');
    if (name === '' || alias === '' || extra !== undefined) throw fail(`invalid argument "${l}" for "--link" flag: want NAME[:ALIAS]`);
    return { name: name.replace(/^\//, ''), alias };
  });
  const networkAliases = parsed.list('network-alias');
  const publishAll = parsed.bool('publish-all');
  const published = Object.keys(portBindings).length > 0 || publishAll;

  if (network === 'host' && published) {
    warn('Published ports are discarded when using host network mode');
    for (const k of Object.keys(portBindings)) delete portBindings[k];
  }
  if (network.startsWith('container:')) {
    if (published) throw fail('conflicting options: port publishing and the container type network mode');
    if (parsed.has('hostname')) throw fail('conflicting options: hostname and the network mode');
    if (parsed.list('dns').length || parsed.list('dns-search').length || parsed.list('dns-option').length) throw fail('conflicting options: dns and the network mode');
    if (parsed.list('add-host').length) throw fail('conflicting options: custom host-to-IP mapping and the network mode');
    if (expose.length) throw fail('conflicting options: exposing ports and the container type network mode');
  }
  if (!isNetworkMode(network) && links.length) throw fail(`conflicting options: --link and --network ${network}`);
  if (ip !== '' && !isUserNetwork(network)) throw fail('user specified IP address is supported on user defined networks only');
  if (networkAliases.length && !isUserNetwork(network)) throw fail('network-scoped alias is supported only for containers in user defined networks');
  if (links.length && isUserNetwork(network)) throw fail('--link is supported on the default bridge network only (on a user network, containers find each other by name)');
  return {
    network,
    portBindings,
    publishAll,
    expose,
    ip,
    networkAliases,
    links,
    dnsSearch: parsed.list('dns-search'),
    dnsOptions: parsed.list('dns-option'),
  };
}
