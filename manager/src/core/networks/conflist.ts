// A berth network as a CNI configuration list. Every network is Docker's "bridge" driver made
// of Debian's standard plugins, in this order:
//
//   bridge     the Linux bridge (created on the first attachment), a veth per container,
//              the gateway address on the bridge (isGateway), outbound NAT (ipMasq) unless
//              internal, hairpin so a container reaches its own published ports; IPAM by
//              host-local over the network's subnet/range, its leases under berthd's root;
//              the default route only when not internal (an internal network has no way out)
//   portmap    published ports (runtimeConfig.portMappings, capability "portMappings"), with
//              SNAT so they answer on 127.0.0.1 and from containers on the same bridge
//   firewall   lets the container's traffic through the FORWARD chain (CNI-FORWARD) even on
//              hosts whose FORWARD policy drops
//
// Pure: the record in, the conflist out.

import type { NetConfList } from './cni';
import { CNI_VERSION } from './cni';
import { formatCidr, formatIPv4, rangeBounds, type Ipam } from './ipv4';

export interface BridgeNetwork {
  name: string;
  bridge: string;
  ipam: Ipam;
  internal: boolean;
}

export function conflistOf(net: BridgeNetwork, ipamDataDir: string): NetConfList {
  const { start, end } = rangeBounds(net.ipam);
  return {
    cniVersion: CNI_VERSION,
    name: net.name,
    plugins: [
      {
        type: 'bridge',
        bridge: net.bridge,
        isGateway: true,
        ipMasq: !net.internal,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: formatCidr(net.ipam.subnet), gateway: formatIPv4(net.ipam.gateway), rangeStart: formatIPv4(start), rangeEnd: formatIPv4(end) }]],
          routes: net.internal ? [] : [{ dst: '0.0.0.0/0' }],
          dataDir: ipamDataDir,
        },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      { type: 'firewall', backend: 'iptables' },
    ],
  };
}
