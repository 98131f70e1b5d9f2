// The client's side of networking, pure: run/create's network flags and their conflicts, the run
// config they become, Docker's link environment, inspect's NetworkSettings, network ls filters,
// and the /etc files berthd writes from addresses, links and DNS options.

import { parseArgs } from '../src/cli/options';
import { CREATE_OPTIONS, RUN_ONLY_OPTIONS, parseRunOptions } from '../src/cli/containers/run-options';
import { linkEnv } from '../src/cli/networks/links';
import { withNetworking } from '../src/cli/networks/run-config';
import { inspectDoc, matchesFilters, networkSettings, type NetworkMessage } from '../src/cli/networks/view';
import { etcInputOf, hostsContent, resolvContent } from '../src/core/containers/files';
import type { RunConfig } from '../src/core/containers/run-config';
import { networkOf } from '../src/plugins/networks';

const PATH = 'berth run';
const parse = (argv: string[]) => parseRunOptions(parseArgs(argv, [...CREATE_OPTIONS, ...RUN_ONLY_OPTIONS], { commandPath: PATH, stopAtFirstArgument: true }), PATH, {}, { run: true });

describe('run flags', () => {
  it('defaults: the bridge network, nothing published', async () => {
    const o = await parse(['img']);
    expect(o.net).toEqual({ network: 'bridge', portBindings: {}, publishAll: false, expose: [], ip: '', networkAliases: [], links: [], dnsSearch: [], dnsOptions: [] });
  });

  it('-p, -P, --expose, --ip, --network-alias, --link, --dns-search, --dns-option', async () => {
    const o = await parse(['--network', 'front', '-p', '127.0.0.1:8080:80', '-p', '53:53/udp', '-P', '--expose', '9000-9001', '--ip', '10.1.0.9', '--network-alias', 'www', '--dns-search', 'a.test', '--dns-option', 'ndots:2', 'img']);
    expect(o.net).toEqual({
      network: 'front',
      portBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '53/udp': [{ HostIp: '', HostPort: '53' }] },
      publishAll: true,
      expose: ['9000/tcp', '9001/tcp'],
      ip: '10.1.0.9',
      networkAliases: ['www'],
      links: [],
      dnsSearch: ['a.test'],
      dnsOptions: ['ndots:2'],
    });
    expect((await parse(['--link', 'db', '--link', '/cache:c', 'img'])).net.links).toEqual([{ name: 'db', alias: 'db' }, { name: 'cache', alias: 'c' }]);
  });

  it('refuses what Docker refuses, naming the flag', async () => {
    await expect(parse(['-p', 'x:80', 'img'])).rejects.toThrow('invalid argument for "-p, --publish" flag: invalid hostPort: x');
    await expect(parse(['--ip', '10.1.0.9', 'img'])).rejects.toThrow(/user specified IP address is supported on user defined networks only/);
    await expect(parse(['--ip', '300.1.1.1', '--network', 'n', 'img'])).rejects.toThrow('invalid argument "300.1.1.1" for "--ip" flag');
    await expect(parse(['--network-alias', 'a', 'img'])).rejects.toThrow(/network-scoped alias is supported only/);
    await expect(parse(['--network', 'container:x', '-p', '80', 'img'])).rejects.toThrow('conflicting options: port publishing and the container type network mode');
    await expect(parse(['--network', 'container:x', '-h', 'h', 'img'])).rejects.toThrow('conflicting options: hostname and the network mode');
    await expect(parse(['--network', 'container:x', '--dns', '1.1.1.1', 'img'])).rejects.toThrow('conflicting options: dns and the network mode');
    await expect(parse(['--network', 'container:', 'img'])).rejects.toThrow(/container: needs a container name or id/);
    await expect(parse(['--network', 'none', '--link', 'db', 'img'])).rejects.toThrow('conflicting options: --link and --network none');
    await expect(parse(['--network', 'front', '--link', 'db', 'img'])).rejects.toThrow(/--link is supported on the default bridge network only/);
    await expect(parse(['--link', 'a:b:c', 'img'])).rejects.toThrow('invalid argument "a:b:c" for "--link" flag');
  });

  it('--network host drops published ports (Docker warns and discards them)', async () => {
    expect((await parse(['--network', 'host', '-p', '80:80', 'img'])).net.portBindings).toEqual({});
  });

  it('the run config: HostConfig fields, sorted ExposedPorts from the image, --expose and -p; berthd reads the network back', async () => {
    const o = await parse(['-p', '8080:80', '--expose', '53/udp', 'img']);
    const base = { Host: { Dns: [] } } as unknown as RunConfig;
    const run = withNetworking(base, o.net, 'bridge', ['/db:/me/db'], { '443/tcp': {} });
    expect(run.ExposedPorts).toEqual({ '443/tcp': {}, '53/udp': {}, '80/tcp': {} });
    expect(Object.keys(run.ExposedPorts!)).toEqual(['443/tcp', '53/udp', '80/tcp']);
    expect(run.Host).toMatchObject({ NetworkMode: 'bridge', PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] }, PublishAllPorts: false, Links: ['/db:/me/db'] });
    expect(networkOf(run)).toBe('bridge');
    expect(networkOf({ ...run, Host: { ...run.Host, NetworkMode: 'front' } })).toBe('front');
    for (const m of ['host', 'none', 'container:abc']) expect(networkOf({ ...run, Host: { ...run.Host, NetworkMode: m } })).toBeUndefined();
    // records from before networks: no NetworkMode, which was none
    expect(networkOf(base)).toBeUndefined();
  });
});

describe('link environment', () => {
  it('Docker\'s variables: first port, each port, a run of ports, the name, the target\'s env but HOME/PATH', () => {
    expect(linkEnv('/app/db-1', '10.0.0.5', ['5433/tcp', '53/udp', '5432/tcp'], ['PATH=/bin', 'HOME=/root', 'A=1', 'HOSTNAME=x'])).toEqual([
      'DB_1_PORT=tcp://10.0.0.5:5432',
      'DB_1_PORT_5432_TCP=tcp://10.0.0.5:5432',
      'DB_1_PORT_5432_TCP_ADDR=10.0.0.5',
      'DB_1_PORT_5432_TCP_PORT=5432',
      'DB_1_PORT_5432_TCP_PROTO=tcp',
      'DB_1_PORT_5433_TCP=tcp://10.0.0.5:5433',
      'DB_1_PORT_5433_TCP_ADDR=10.0.0.5',
      'DB_1_PORT_5433_TCP_PORT=5433',
      'DB_1_PORT_5433_TCP_PROTO=tcp',
      // the run 5432-5433 is written when the next port breaks it (Docker's loop)
      'DB_1_PORT_53_UDP=udp://10.0.0.5:53',
      'DB_1_PORT_53_UDP_ADDR=10.0.0.5',
      'DB_1_PORT_53_UDP_PORT=53',
      'DB_1_PORT_53_UDP_PROTO=udp',
      'DB_1_PORT_5432_TCP_START=tcp://10.0.0.5:5432',
      'DB_1_PORT_5432_TCP_PORT_START=5432',
      'DB_1_PORT_5432_TCP_END=tcp://10.0.0.5:5433',
      'DB_1_PORT_5432_TCP_PORT_END=5433',
      'DB_1_NAME=/app/db-1',
      'DB_1_ENV_A=1',
    ]);
    expect(linkEnv('/app/x', '10.0.0.6', [], [])).toEqual(['X_NAME=/app/x']);
  });
});

describe('inspect and network ls', () => {
  const settings = {
    containerId: 'c1',
    sandboxKey: '/run/berth/netns/default-c1',
    endpoints: [
      { network: 'bridge', networkId: 'n0', endpointId: 'e0', interface: 'eth0', ipAddress: '172.17.0.2', ipPrefixLen: 16, gateway: '172.17.0.1', macAddress: 'aa:bb:cc:dd:ee:ff', aliases: [] },
      { network: 'front', networkId: 'n1', endpointId: 'e1', interface: 'eth1', ipAddress: '10.1.0.2', ipPrefixLen: 24, gateway: '10.1.0.1', macAddress: '11:22:33:44:55:66', aliases: ['www'] },
    ],
    ports: [{ hostIp: '', hostPort: 32768, containerPort: 80, protocol: 'tcp' }],
  };

  it('NetworkSettings: top-level fields from the first network, Ports with unpublished exposed ones as null, Networks by name', () => {
    const ns = networkSettings(settings, 'bridge', ['80/tcp', '443/tcp'], ['/db:/c/db']) as Record<string, any>;
    expect(ns).toMatchObject({ IPAddress: '172.17.0.2', Gateway: '172.17.0.1', MacAddress: 'aa:bb:cc:dd:ee:ff', IPPrefixLen: 16, SandboxKey: '/run/berth/netns/default-c1', Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '32768' }], '443/tcp': null } });
    expect(ns.Networks.bridge).toMatchObject({ NetworkID: 'n0', EndpointID: 'e0', IPAddress: '172.17.0.2', Links: ['/db:/c/db'], Aliases: null });
    expect(ns.Networks.front).toMatchObject({ NetworkID: 'n1', IPAddress: '10.1.0.2', Aliases: ['www'], Links: null });
    expect(Object.keys((networkSettings(undefined, 'host', [], []) as any).Networks)).toEqual(['host']);
  });

  const net: NetworkMessage = { id: 'abc123', name: 'front', driver: 'bridge', scope: 'local', created: { seconds: 0, nanos: 0 }, internal: true, labels: { team: 'a' }, subnet: '10.1.0.0/24', gateway: '10.1.0.1', ipRange: '', bridge: 'br-abc', builtin: false, containers: { c1: { name: 'web', endpointId: 'e1', macAddress: 'm', ipv4Address: '10.1.0.2/24' } } };

  it('network inspect: Docker\'s NetworkResource', () => {
    expect(inspectDoc(net)).toMatchObject({ Name: 'front', Id: 'abc123', Driver: 'bridge', Internal: true, IPAM: { Driver: 'default', Config: [{ Subnet: '10.1.0.0/24', Gateway: '10.1.0.1' }] }, Containers: { c1: { Name: 'web', IPv4Address: '10.1.0.2/24' } }, Labels: { team: 'a' }, Options: { 'com.docker.network.bridge.name': 'br-abc' } });
  });

  it('network ls filters: same key ORs, keys AND; bad ones refused', () => {
    expect(matchesFilters(net, ['name=fro', 'driver=bridge'])).toBe(true);
    expect(matchesFilters(net, ['name=x', 'name=front'])).toBe(true);
    expect(matchesFilters(net, ['label=team=a', 'type=custom', 'id=abc'])).toBe(true);
    expect(matchesFilters(net, ['type=builtin'])).toBe(false);
    expect(() => matchesFilters(net, ['bogus=1'])).toThrow("invalid filter 'bogus'");
    expect(() => matchesFilters(net, ['type=x'])).toThrow("invalid filter: 'type'='x'");
  });
});

describe('/etc files with networking', () => {
  it('hosts: --add-host, links, then the container\'s own addresses with its names', () => {
    const text = hostsContent({ hostname: 'h1', extraHosts: ['db.local:10.9.9.9'], links: [{ ip: '172.17.0.3', names: ['dbal', 'h3', 'db'] }], addresses: [{ ip: '172.17.0.2', names: ['h1', 'web', 'www', 'web'] }] });
    expect(text.split('\n').slice(-4)).toEqual(['10.9.9.9\tdb.local', '172.17.0.3\tdbal h3 db', '172.17.0.2\th1 web www', '']);
  });

  it('--network host: the host\'s hosts file with --add-host after it; its resolv.conf with loopback servers kept', () => {
    expect(hostsContent({ hostname: 'x', hostNetwork: true, extraHosts: ['a:1.2.3.4'] }, '127.0.0.1 localhost\n10.0.0.1 me')).toBe('127.0.0.1 localhost\n10.0.0.1 me\n1.2.3.4\ta\n');
    expect(resolvContent('nameserver 127.0.0.53\noptions edns0\n', [], { hostNetwork: true })).toBe('options edns0\nnameserver 127.0.0.53\n');
  });

  it('resolv.conf: --dns-search and --dns-option replace the host\'s lines; a network\'s name server replaces the servers', () => {
    const host = 'search corp.example\noptions ndots:5\nnameserver 10.0.0.2\n';
    expect(resolvContent(host, [], { dnsSearch: ['a.test', 'b.test'], dnsOptions: ['ndots:1', 'timeout:2'] })).toBe('search a.test b.test\noptions ndots:1 timeout:2\nnameserver 10.0.0.2\n');
    expect(resolvContent(host, ['9.9.9.9'], { dnsSearch: ['.'] })).toBe('options ndots:5\nnameserver 9.9.9.9\n');
    expect(resolvContent(host, ['9.9.9.9'], { nameservers: ['10.1.0.1'] })).toBe('search corp.example\noptions ndots:5\nnameserver 10.1.0.1\n');
  });

  it('etcInputOf reads the run config\'s DNS options and host mode', () => {
    const run = { Host: { ExtraHosts: ['a:1.1.1.1'], Dns: ['8.8.8.8'], DnsSearch: ['s'], DnsOptions: ['o'], NetworkMode: 'host' } } as unknown as RunConfig;
    expect(etcInputOf(run, 'h')).toEqual({ hostname: 'h', extraHosts: ['a:1.1.1.1'], dns: ['8.8.8.8'], dnsSearch: ['s'], dnsOptions: ['o'], hostNetwork: true });
  });
});
