// The pure parts of core/networks: IPv4 subnets and pools, -p/--expose parsing, PORTS text,
// the conflist, the CNI stdin of each plugin, DNS messages; the port allocator with a fake probe.

import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { conflistOf } from '../src/core/networks/conflist';
import { netconfOf } from '../src/core/networks/cni';
import { TYPE_A, TYPE_AAAA, TYPE_PTR, buildQuery, buildReply, parseQuery, parseReply, reverseName } from '../src/core/networks/dns-message';
import { formatCidr, hostRoutes, ipamOf, overlaps, parseCidr, parseIPv4, pickSubnet, rangeBounds } from '../src/core/networks/ipv4';
import { addressOf } from '../src/core/networks/manager';
import { PortAllocator } from '../src/core/networks/port-allocator';
import { addPublished, parseExpose, parsePublish, portsSummary, wantedBindings } from '../src/core/networks/ports';

describe('ipv4', () => {
  it('parses addresses and refuses what is not dotted-quad IPv4', () => {
    expect(parseIPv4('10.1.2.3')).toBe(0x0a010203);
    for (const bad of ['10.1.2', '256.1.1.1', '01.2.3.4', '::1', 'a.b.c.d', '1.2.3.4.5']) expect(parseIPv4(bad)).toBeUndefined();
  });

  it('subnets: host bits must be zero, errors name the field', () => {
    expect(formatCidr(parseCidr('172.20.0.0/16', 'subnet'))).toBe('172.20.0.0/16');
    expect(() => parseCidr('172.20.0.1/16', 'subnet')).toThrow('subnet: invalid subnet 172.20.0.1/16: it should be 172.20.0.0/16');
    expect(() => parseCidr('172.20.0.0', 'subnet')).toThrow(/^subnet: invalid CIDR address/);
    expect(() => parseCidr('1.2.3.0/33', 'ip-range')).toThrow(/^ip-range: invalid CIDR/);
  });

  it('gateway and ip-range are checked against the subnet; the range skips network and broadcast', () => {
    const s = parseCidr('10.9.0.0/24', 'subnet');
    expect(ipamOf(s).gateway).toBe(parseIPv4('10.9.0.1'));
    expect(() => ipamOf(s, '10.9.1.1')).toThrow('gateway: 10.9.1.1 is not a usable address of subnet 10.9.0.0/24');
    expect(() => ipamOf(s, '10.9.0.255')).toThrow(/not a usable address/);
    expect(() => ipamOf(s, undefined, '10.9.1.0/28')).toThrow('ip-range: 10.9.1.0/28 is not inside subnet 10.9.0.0/24');
    const r = rangeBounds(ipamOf(s, '10.9.0.254', '10.9.0.128/25'));
    expect([r.start, r.end]).toEqual([parseIPv4('10.9.0.128'), parseIPv4('10.9.0.254')]);
    const all = rangeBounds(ipamOf(s));
    expect([all.start, all.end]).toEqual([parseIPv4('10.9.0.1'), parseIPv4('10.9.0.254')]);
  });

  it('picks the first pool subnet that overlaps nothing taken (host routes included)', () => {
    const taken = [parseCidr('172.16.0.0/16', 'x'), parseCidr('172.17.0.0/16', 'x')];
    expect(formatCidr(pickSubnet([{ base: '172.16.0.0/12', size: 16 }], taken)!)).toBe('172.18.0.0/16');
    expect(() => pickSubnet([{ base: '172.17.0.0/12', size: 16 }], [])).toThrow(/it should be 172.16.0.0\/12/);
    expect(pickSubnet([{ base: '10.0.0.0/30', size: 30 }], [parseCidr('10.0.0.0/8', 'x')])).toBeUndefined();
    expect(overlaps(parseCidr('10.0.0.0/8', 'x'), parseCidr('10.5.0.0/16', 'x'))).toBe(true);
  });

  it('reads /proc/net/route (little-endian hex), leaving out default routes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'routes-'));
    const f = join(dir, 'route');
    writeFileSync(
      f,
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
        'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n' +
        'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n' +
        'br0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n',
    );
    expect(hostRoutes(f).map(formatCidr)).toEqual(['192.0.2.0/24', '172.17.0.0/16']);
    rmSync(dir, { recursive: true });
  });
});

describe('ports', () => {
  it('-p forms as Docker parses them', () => {
    expect(parsePublish('80')).toEqual([{ key: '80/tcp', binding: { HostIp: '', HostPort: '' } }]);
    expect(parsePublish('8080:80')).toEqual([{ key: '80/tcp', binding: { HostIp: '', HostPort: '8080' } }]);
    expect(parsePublish('127.0.0.1:18080:80')).toEqual([{ key: '80/tcp', binding: { HostIp: '127.0.0.1', HostPort: '18080' } }]);
    expect(parsePublish('127.0.0.1::53/udp')).toEqual([{ key: '53/udp', binding: { HostIp: '127.0.0.1', HostPort: '' } }]);
    expect(parsePublish('8000-8001:80-81/tcp').map((p) => [p.key, p.binding.HostPort])).toEqual([['80/tcp', '8000'], ['81/tcp', '8001']]);
    expect(parsePublish('9000-9010:80')).toEqual([{ key: '80/tcp', binding: { HostIp: '', HostPort: '9000-9010' } }]);
    expect(parsePublish('7000-7001').map((p) => p.key)).toEqual(['7000/tcp', '7001/tcp']);
  });

  it('bad -p values: Docker\'s messages', () => {
    expect(() => parsePublish('80/icmp')).toThrow('invalid proto: icmp');
    expect(() => parsePublish('x:80')).toThrow('invalid hostPort: x');
    expect(() => parsePublish('8080:0')).toThrow('invalid containerPort: 0');
    expect(() => parsePublish('1.2.3:8080:80')).toThrow('invalid IP address: 1.2.3');
    expect(() => parsePublish('8000-8002:80-81')).toThrow('invalid ranges specified for container and host ports: 80-81 and 8000-8002');
    expect(() => parsePublish('[::1]:80:80')).toThrow(/IPv6/);
  });

  it('--expose, -P over the exposed ports, and the PORTS column', () => {
    expect(parseExpose('7000-7002/udp')).toEqual(['7000/udp', '7001/udp', '7002/udp']);
    expect(() => parseExpose('x')).toThrow(/invalid range format/);
    const b = addPublished({}, ['8080:80']);
    expect(wantedBindings(b, ['80/tcp', '443/tcp'], true)).toEqual([
      { key: '80/tcp', binding: { HostIp: '', HostPort: '8080' } },
      { key: '443/tcp', binding: { HostIp: '', HostPort: '' } },
    ]);
    expect(wantedBindings(b, ['443/tcp'], false)).toHaveLength(1);
    expect(
      portsSummary(
        [
          { hostIP: '', hostPort: 8000, containerPort: 80, protocol: 'tcp' },
          { hostIP: '', hostPort: 8001, containerPort: 81, protocol: 'tcp' },
          { hostIP: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' },
        ],
        ['80/tcp', '9000/tcp'],
      ),
    ).toBe('127.0.0.1:5353->53/udp, 0.0.0.0:8000-8001->80-81/tcp, 9000/tcp');
  });

  it('the allocator: explicit ports checked, open ones from the range, no two alike', async () => {
    const busy = new Set([40001]);
    const a = new PortAllocator([40000, 40003], async (ip, port) => (ip === '192.0.2.77' ? 'EADDRNOTAVAIL' : busy.has(port) ? 'EADDRINUSE' : true));
    const got = await a.allocate(
      [
        { key: '80/tcp', binding: { HostIp: '', HostPort: '' } },
        { key: '81/tcp', binding: { HostIp: '', HostPort: '' } },
        { key: '82/tcp', binding: { HostIp: '127.0.0.1', HostPort: '9000' } },
      ],
      [{ hostIP: '', hostPort: 40000, containerPort: 1, protocol: 'tcp' }],
    );
    expect(got.map((m) => m.hostPort).slice(0, 2).sort()).toEqual([40002, 40003]);
    expect(got[2]).toEqual({ hostIP: '127.0.0.1', hostPort: 9000, containerPort: 82, protocol: 'tcp' });
    await expect(a.allocate([{ key: '80/tcp', binding: { HostIp: '127.0.0.1', HostPort: '9000' } }], got)).rejects.toThrow('Bind for 127.0.0.1:9000 failed: port is already allocated');
    await expect(a.allocate([{ key: '80/tcp', binding: { HostIp: '', HostPort: '40001' } }], [])).rejects.toThrow(/address already in use/);
    await expect(a.allocate([{ key: '80/tcp', binding: { HostIp: '192.0.2.77', HostPort: '8080' } }], [])).rejects.toThrow('Bind for 192.0.2.77:8080 failed: cannot assign requested address (192.0.2.77 is not an address of this host)');
    // udp and tcp do not clash; a range gives its first free port
    expect((await a.allocate([{ key: '53/udp', binding: { HostIp: '', HostPort: '9000' } }], got))[0]!.hostPort).toBe(9000);
    expect((await a.allocate([{ key: '80/tcp', binding: { HostIp: '', HostPort: '40000-40003' } }], got))[0]!.hostPort).toBe(40000);
  });
});

describe('conflist and CNI stdin', () => {
  const net = { name: 'n1', bridge: 'br-x', internal: false, ipam: ipamOf(parseCidr('10.7.0.0/24', 's'), undefined, '10.7.0.128/25') };

  it('bridge + portmap + firewall; internal: no masquerade, no default route', () => {
    const list = conflistOf(net, '/r/ipam');
    expect(list.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap', 'firewall']);
    expect(list.plugins[0]).toMatchObject({
      bridge: 'br-x',
      isGateway: true,
      ipMasq: true,
      ipam: { type: 'host-local', dataDir: '/r/ipam', routes: [{ dst: '0.0.0.0/0' }], ranges: [[{ subnet: '10.7.0.0/24', gateway: '10.7.0.1', rangeStart: '10.7.0.128', rangeEnd: '10.7.0.254' }]] },
    });
    const internal = conflistOf({ ...net, internal: true }, '/r/ipam');
    expect(internal.plugins[0]).toMatchObject({ ipMasq: false, ipam: { routes: [] } });
  });

  it('each plugin gets name, cniVersion, prevResult and only the runtimeConfig of its capabilities', () => {
    const list = conflistOf(net, '/r/ipam');
    const prev = { cniVersion: '1.0.0', ips: [{ address: '10.7.0.130/24' }] };
    const caps = { portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp', hostIP: '' }] };
    const first = netconfOf(list, list.plugins[0]!, undefined, caps);
    expect(first).toMatchObject({ type: 'bridge', name: 'n1', cniVersion: '1.0.0' });
    expect(first).not.toHaveProperty('prevResult');
    expect(first).not.toHaveProperty('runtimeConfig');
    const pm = netconfOf(list, list.plugins[1]!, prev, caps);
    expect(pm).toMatchObject({ type: 'portmap', prevResult: prev, runtimeConfig: caps });
  });

  it('reads the container side of a result', () => {
    const r = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'br0', mac: 'aa' }, { name: 'veth1', mac: 'bb' }, { name: 'eth0', mac: 'cc', sandbox: '/ns' }],
      ips: [{ address: '10.7.0.130/24', gateway: '10.7.0.1', interface: 2 }],
    };
    expect(addressOf(r, 'eth0')).toEqual({ ip: '10.7.0.130', prefixLen: 24, gateway: '10.7.0.1', mac: 'cc' });
  });
});

describe('dns messages', () => {
  it('a query round-trips; replies carry the question and A/PTR answers', () => {
    const q = buildQuery(0x1234, 'Web.Example', TYPE_A);
    const parsed = parseQuery(q)!;
    expect(parsed).toMatchObject({ id: 0x1234, name: 'web.example', type: TYPE_A });
    const reply = parseReply(buildReply(q, parsed, 0, [{ type: TYPE_A, ttl: 600, data: '10.7.0.2' }, { type: TYPE_A, ttl: 600, data: '10.7.0.3' }]));
    expect(reply).toEqual({ id: 0x1234, rcode: 0, answers: [{ type: TYPE_A, data: '10.7.0.2' }, { type: TYPE_A, data: '10.7.0.3' }] });
    const ptrQ = buildQuery(7, '2.0.7.10.in-addr.arpa', TYPE_PTR);
    expect(reverseName(parseQuery(ptrQ)!.name)).toBe('10.7.0.2');
    expect(parseReply(buildReply(ptrQ, parseQuery(ptrQ)!, 0, [{ type: TYPE_PTR, ttl: 1, data: 'web.net1' }])).answers).toEqual([{ type: TYPE_PTR, data: 'web.net1' }]);
    expect(parseReply(buildReply(q, { ...parsed, type: TYPE_AAAA }, 3)).rcode).toBe(3);
  });

  it('refuses responses and truncated messages as queries', () => {
    const q = buildQuery(1, 'a', TYPE_A);
    expect(parseQuery(q.subarray(0, 14))).toBeUndefined();
    const resp = Buffer.from(q);
    resp.writeUInt16BE(0x8000, 2);
    expect(parseQuery(resp)).toBeUndefined();
  });
});
