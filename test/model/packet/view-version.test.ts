/**
 * PacketView and the IP version nibble: OVS 3.1's userspace path never checks it, neither in
 * miniflow_extract's ipv4/ipv6_sanity_check nor in conntrack's extract_l3_ipv4/ipv6 for an
 * ICMP error's embedded header. Observed with ovs-vswitchd 3.1 (dummy datapath, §9.3 policy):
 * IPv4 with version 6 and a good checksum → new|trk; IPv6 with version 4 → new|trk; ICMP
 * errors whose embedded header has the other version → rel|rpl|trk for the tracked flow.
 */
import { describe, expect, it } from 'vitest';
import { buildFrame, ipPacketOf } from '../../../model/packet/build.js';
import { finishChecksum, sum16 } from '../../../model/packet/checksum.js';
import { CT_L3_BAD_CSUM, CT_OK, ICMP_ERROR, L3_IPV4, L3_IPV6, PacketView } from '../../../model/packet/view.js';

const v = new PacketView();

function setIpv4Version(f: Uint8Array, version: number, fixChecksum: boolean): Uint8Array {
  f[14] = (version << 4) | (f[14]! & 0x0f);
  if (fixChecksum) {
    f[24] = 0;
    f[25] = 0;
    const c = finishChecksum(sum16(f, 14, 20));
    f[24] = c >> 8;
    f[25] = c & 0xff;
  }
  return f;
}

describe('PacketView ignores the IP version nibble, as OVS 3.1 does', () => {
  it('outer IPv4 header: trackable with a good checksum, a checksum failure otherwise', () => {
    const udp = (): Uint8Array => buildFrame({ ip: { src: '10.0.0.1', dst: '192.0.2.1' }, udp: { sport: 1000, dport: 53 }, payload: 'x' });
    v.parse(setIpv4Version(udp(), 6, true));
    expect([v.ctStatus, v.l3, v.sport, v.dport]).toEqual([CT_OK, L3_IPV4, 1000, 53]);
    expect(v.parse(setIpv4Version(udp(), 6, false)).ctStatus).toBe(CT_L3_BAD_CSUM);
  });

  it('outer IPv6 header', () => {
    const f = buildFrame({ ip: { src: 'fd00::1', dst: '2001:db8::1' }, udp: { sport: 1000, dport: 53 }, payload: 'x' });
    f[14] = (f[14]! & 0x0f) | 0x40;
    v.parse(f);
    expect([v.ctStatus, v.l3, v.sport]).toEqual([CT_OK, L3_IPV6, 1000]);
  });

  it('embedded header of an ICMP / ICMPv6 error', () => {
    const req4 = buildFrame({ ip: { src: '10.0.0.1', dst: '192.0.2.1' }, udp: { sport: 1000, dport: 53 }, payload: 'x' });
    const in4 = ipPacketOf(req4).slice(0, 28);
    in4[0] = 0x65;
    v.parse(buildFrame({ ip: { src: '192.0.2.1', dst: '10.0.0.1' }, icmpError: { type: 3, code: 3, inner: in4 } }));
    expect([v.ctStatus, v.icmpClass, v.innerSport, v.innerDport]).toEqual([CT_OK, ICMP_ERROR, 1000, 53]);
    const req6 = buildFrame({ ip: { src: 'fd00::1', dst: '2001:db8::1' }, udp: { sport: 1000, dport: 53 }, payload: 'x' });
    const in6 = ipPacketOf(req6).slice(0, 48);
    in6[0] = (in6[0]! & 0x0f) | 0x40;
    v.parse(buildFrame({ ip: { src: '2001:db8::1', dst: 'fd00::1' }, icmpError: { type: 1, code: 4, inner: in6 } }));
    expect([v.ctStatus, v.icmpClass, v.innerSport, v.innerDport]).toEqual([CT_OK, ICMP_ERROR, 1000, 53]);
  });
});
