/**
 * PacketView against frames from buildFrame / encodeFrame: fields equal the spec, and the OVS
 * invalid cases of docs/conntrack-semantics.md §3.1-§3.3 and §5.3 give the expected non-zero ctStatus.
 */
import { describe, expect, it } from 'vitest';
import {
  CT_FRAGMENT, CT_ICMP_BAD_CODE, CT_ICMP_BAD_INNER, CT_ICMP_BAD_TYPE, CT_ICMP_INNER_SRC, CT_L3_BAD_CSUM, CT_L3_BAD_HEADER,
  CT_L3_TRUNCATED, CT_L4_BAD_CSUM, CT_L4_TRUNCATED, CT_L4_ZERO_PORT, CT_NOT_IP, CT_OK, CT_STATUS_NAMES, FRAG_FIRST, FRAG_LATER,
  FRAG_NONE, ICMP_ERROR, ICMP_QUERY, L3_IPV4, L3_IPV6, PacketView, TCP_ACK, TCP_SYN, ipv4ToString,
} from '../../../model/packet/view.js';
import { type FrameSpec, buildFrame, ipPacketOf } from '../../../model/packet/build.js';
import { type Layer, completeFrame, decodeFrame, encodeFrame } from '../../../model/packet/codec.js';
import { parseIp } from '../../../model/packet/addr.js';

const view = new PacketView();
const parse = (f: Uint8Array): PacketView => view.parse(f);
const status = (f: Uint8Array): string => CT_STATUS_NAMES[parse(f).ctStatus]!;
const words = (ip: string): number[] => {
  const b = parseIp(ip);
  const w = [0, 0, 0, 0];
  for (let i = 0; i < b.length; i += 4) w[i / 4] = ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
  return w;
};

const A4 = { src: '10.0.0.1', dst: '10.0.0.2' };
const A6 = { src: '2001:db8::1', dst: '2001:db8::2' };
const B4 = { src: A4.dst, dst: A4.src };
const B6 = { src: A6.dst, dst: A6.src };

/** Frame from codec layers with some fields overridden (for headers buildFrame will not make). */
function frameWith(spec: FrameSpec, patch: (layers: Layer[]) => void): Uint8Array {
  const f = completeFrame(decodeFrame(buildFrame(spec)));
  patch(f.layers);
  return encodeFrame(f);
}

describe('PacketView on buildFrame frames: fields equal the spec', () => {
  for (const [name, ip] of [['IPv4', A4], ['IPv6', A6]] as const) {
    it(`${name} TCP SYN with options and a VLAN tag`, () => {
      const f = buildFrame({
        vlan: { vid: 100, pcp: 3 }, ip, payload: 'hello',
        tcp: { sport: 40000, dport: 443, seq: 0xfffffff0, ack: 0, flags: 'S', win: 29200, options: { mss: 1460, sackOk: true, timestamp: [1, 0], wscale: 7 } },
      });
      const v = parse(f);
      expect(v.ctStatus).toBe(CT_OK);
      expect(v.vlanTci).toBe((3 << 13) | 100);
      expect(v.l3).toBe(name === 'IPv4' ? L3_IPV4 : L3_IPV6);
      expect([...v.src]).toEqual(words(ip.src));
      expect([...v.dst]).toEqual(words(ip.dst));
      expect([v.ipProto, v.sport, v.dport, v.seq, v.ack, v.tcpFlags, v.win, v.wscale]).toEqual([6, 40000, 443, 0xfffffff0, 0, TCP_SYN, 29200, 7]);
      expect(new TextDecoder().decode(f.subarray(v.payloadOff, v.payloadOff + v.payloadLen))).toBe('hello');
      expect([v.flowL3, v.flowL4, v.frag]).toEqual([true, true, FRAG_NONE]);
    });
    it(`${name} UDP, ICMP echo, and an ICMP error about the UDP packet`, () => {
      const u = buildFrame({ ip: { ...ip, ttl: 7, tos: 0x10 }, udp: { sport: 5353, dport: 53 }, payload: new Uint8Array(33) });
      let v = parse(u);
      expect([v.ctStatus, v.ipProto, v.sport, v.dport, v.payloadLen, v.ttl, v.tos]).toEqual([CT_OK, 17, 5353, 53, 33, 7, 0x10]);
      const echo = buildFrame({ ip, icmp: { type: name === 'IPv4' ? 8 : 128, id: 0x1234, seq: 9 }, payload: 'ping' });
      v = parse(echo);
      expect([v.ctStatus, v.icmpClass, v.icmpType, v.icmpCode, v.icmpId, v.payloadLen]).toEqual([CT_OK, ICMP_QUERY, name === 'IPv4' ? 8 : 128, 0, 0x1234, 4]);
      const err = buildFrame({ ip: name === 'IPv4' ? B4 : B6, icmpError: { type: name === 'IPv4' ? 3 : 1, code: 3, inner: ipPacketOf(u) } });
      v = parse(err);
      expect([v.ctStatus, v.icmpClass, v.innerL3, v.innerProto, v.innerSport, v.innerDport]).toEqual([CT_OK, ICMP_ERROR, v.l3, 17, 5353, 53]);
      expect([...v.innerSrc]).toEqual(words(ip.src));
      expect([...v.innerDst]).toEqual(words(ip.dst));
    });
  }

  it('flag letters map to the 12-bit field', () => {
    const flags = (s: string | number): number => parse(buildFrame({ ip: A4, tcp: { sport: 1, dport: 2, flags: s } })).tcpFlags;
    expect(flags('SA')).toBe(TCP_SYN | TCP_ACK);
    expect(flags('FSRPAUECN')).toBe(0x1ff);
    expect(flags(0xfff)).toBe(0xfff);
  });

  it('window scale above 14 is capped as tcp_get_wscale does; absent is -1', () => {
    expect(parse(buildFrame({ ip: A4, tcp: { sport: 1, dport: 2, flags: 'S', options: { wscale: 15 } } })).wscale).toBe(14);
    expect(parse(buildFrame({ ip: A4, tcp: { sport: 1, dport: 2, flags: 'S', options: { mss: 536 } } })).wscale).toBe(-1);
  });

  it('window scale as OVS tcp_get_wscale reads it: the last option wins, its length byte is not checked', () => {
    const ws = (raw: number[]): number => parse(buildFrame({ ip: A4, tcp: { sport: 1, dport: 2, flags: 'S', options: { raw: Uint8Array.from(raw) } } })).wscale;
    expect(ws([3, 3, 2, 1, 3, 3, 9, 0])).toBe(9);
    expect(ws([3, 4, 5, 0])).toBe(5);
    expect(ws([1, 1, 0, 3, 3, 4, 0, 0])).toBe(-1); // EOL ends the walk
    expect(ws([2, 4, 5, 0xb4, 3, 3, 6, 1])).toBe(6);
    expect(ws([1, 1, 3, 3])).toBe(-1); // fewer than 3 bytes left at the option
  });

  it('IPv6 fragment fields do not leak into the next packet parsed with the same view', () => {
    const frag = buildFrame({ ip: { ...A6, proto: 6, ext: [{ type: 'fragment', id: 9, fragOffset: 8, more: true }] }, payload: new Uint8Array(8) });
    const plain = buildFrame({ ip: A6, udp: { sport: 1, dport: 2 } });
    expect(parse(frag).ipId).toBe(9);
    const v = parse(plain);
    expect([v.ctStatus, v.frag, v.fragOffset, v.moreFragments, v.ipId]).toEqual([CT_OK, FRAG_NONE, 0, false, 0]);
  });

  it('IPv4 options and IPv6 HBH/routing/dstopt chains are accepted', () => {
    expect(status(buildFrame({ ip: { ...A4, options: Uint8Array.of(0x94, 4, 0, 0) }, udp: { sport: 1, dport: 2 } }))).toBe('ok');
    const v = parse(buildFrame({ ip: { ...A6, ext: [{ type: 'hbh' }, { type: 'routing' }, { type: 'dstopt' }] }, tcp: { sport: 1, dport: 2, flags: 'S' } }));
    expect([v.ctStatus, v.ipProto, v.sport]).toEqual([CT_OK, 6, 1]);
  });

  it('Ethernet padding after the IP datagram is ignored (3.1)', () => {
    const f = buildFrame({ ip: A4, udp: { sport: 1, dport: 2 } });
    const padded = new Uint8Array(60);
    padded.set(f);
    padded.fill(0xee, f.length);
    const v = parse(padded);
    expect([v.ctStatus, v.l3End, v.payloadLen]).toEqual([CT_OK, f.length, 0]);
  });

  it('ICMP error codes are not checked (5.3, obs code 99)', () => {
    const u = buildFrame({ ip: A4, udp: { sport: 1, dport: 2 } });
    expect(status(buildFrame({ ip: B4, icmpError: { type: 11, code: 99, inner: ipPacketOf(u) } }))).toBe('ok');
  });

  it('an IPv4 zero UDP checksum means none (3.3)', () => {
    expect(status(buildFrame({ ip: A4, udp: { sport: 1, dport: 2, checksum: 'none' }, payload: 'x' }))).toBe('ok');
  });

  it('a UDP length smaller than the IP payload is accepted (3.3)', () => {
    expect(status(buildFrame({ ip: A4, udp: { sport: 1, dport: 2, length: 8 }, payload: 'abcd' }))).toBe('ok');
  });
});

describe('PacketView: OVS invalid cases (docs/conntrack-semantics.md §3.1-§3.3, §5.3)', () => {
  const tcp4 = { ip: A4, tcp: { sport: 1000, dport: 80, flags: 'S' } } satisfies FrameSpec;

  it('non-IP frames and short frames are not IP', () => {
    expect(parse(buildFrame({ ethType: 0x0806, payload: new Uint8Array(28) })).ctStatus).toBe(CT_NOT_IP);
    expect(parse(new Uint8Array(13)).ctStatus).toBe(CT_NOT_IP);
  });

  it('3.1 IPv4: truncated header, IHL 4, total length beyond the frame or below the header, bad checksum', () => {
    expect(parse(buildFrame({ ...tcp4, truncate: 14 + 19 })).ctStatus).toBe(CT_L3_TRUNCATED);
    expect(parse(frameWith(tcp4, (l) => Object.assign(l[1]!, { ihl: 4, checksum: undefined }))).ctStatus).toBe(CT_L3_BAD_HEADER);
    expect(parse(buildFrame({ ...tcp4, ip: { ...A4, totalLength: 41 } })).ctStatus).toBe(CT_L3_BAD_HEADER);
    expect(parse(buildFrame({ ...tcp4, ip: { ...A4, totalLength: 19 } })).ctStatus).toBe(CT_L3_BAD_HEADER);
    expect(parse(frameWith(tcp4, (l) => Object.assign(l[1]!, { ihl: 15, checksum: undefined }))).ctStatus).toBe(CT_L3_BAD_HEADER);
    expect(parse(buildFrame({ ...tcp4, ip: { ...A4, badChecksum: true } })).ctStatus).toBe(CT_L3_BAD_CSUM);
    // OVS 3.1 never checks the version nibble (the EtherType decides) [obs]; see view-version.test.ts.
    expect(parse(frameWith(tcp4, (l) => Object.assign(l[1]!, { version: 5, checksum: undefined }))).ctStatus).toBe(CT_OK);
  });

  it('3.1/3.4 IPv4 fragments are flagged (first and later) and not trackable', () => {
    let v = parse(buildFrame({ ...tcp4, ip: { ...A4, moreFragments: true, id: 7 } }));
    expect([v.ctStatus, v.frag, v.moreFragments, v.ipId, v.sport]).toEqual([CT_FRAGMENT, FRAG_FIRST, true, 7, 1000]);
    v = parse(buildFrame({ ip: { ...A4, fragOffset: 1480, proto: 6 }, payload: new Uint8Array(20) }));
    expect([v.ctStatus, v.frag, v.fragOffset, v.flowL4]).toEqual([CT_FRAGMENT, FRAG_LATER, 1480, false]);
  });

  it('3.2 IPv6: short header, payload length beyond the frame, truncated extension header; fragments', () => {
    const t6 = { ip: A6, tcp: { sport: 1, dport: 2, flags: 'S' } } satisfies FrameSpec;
    expect(parse(buildFrame({ ...t6, truncate: 14 + 39 })).ctStatus).toBe(CT_L3_TRUNCATED);
    expect(parse(buildFrame({ ...t6, ip: { ...A6, totalLength: 61 } })).ctStatus).toBe(CT_L3_BAD_HEADER);
    expect(parse(buildFrame({ ip: { ...A6, ext: [{ type: 'hbh' }], totalLength: 44 }, payload: '' })).ctStatus).toBe(CT_L3_TRUNCATED);
    // An atomic fragment (offset 0, M 0) is transparent (RFC 6946, obs).
    expect(parse(buildFrame({ ...t6, ip: { ...A6, ext: [{ type: 'fragment', id: 1 }] } })).ctStatus).toBe(CT_OK);
    expect(parse(buildFrame({ ...t6, ip: { ...A6, ext: [{ type: 'fragment', id: 1, more: true }] } })).ctStatus).toBe(CT_FRAGMENT);
    const later = parse(buildFrame({ ip: { ...A6, proto: 6, ext: [{ type: 'fragment', id: 9, fragOffset: 8 }] }, payload: new Uint8Array(8) }));
    expect([later.ctStatus, later.frag, later.fragOffset, later.ipId]).toEqual([CT_FRAGMENT, FRAG_LATER, 8, 9]);
  });

  it('3.3 TCP: short segment, data offset below 5 or beyond the segment, bad checksum, zero ports', () => {
    expect(parse(buildFrame({ ...tcp4, ip: { ...A4, totalLength: 20 + 19 }, truncate: 14 + 39 })).ctStatus).toBe(CT_L4_TRUNCATED);
    expect(parse(buildFrame({ ...tcp4, tcp: { ...tcp4.tcp, dataOffset: 4 } })).ctStatus).toBe(CT_L4_TRUNCATED);
    expect(parse(buildFrame({ ...tcp4, tcp: { ...tcp4.tcp, dataOffset: 6 } })).ctStatus).toBe(CT_L4_TRUNCATED);
    expect(parse(buildFrame({ ...tcp4, tcp: { ...tcp4.tcp, badChecksum: true } })).ctStatus).toBe(CT_L4_BAD_CSUM);
    expect(parse(buildFrame({ ...tcp4, tcp: { ...tcp4.tcp, sport: 0 } })).ctStatus).toBe(CT_L4_ZERO_PORT);
    expect(parse(buildFrame({ ip: A6, tcp: { sport: 5, dport: 0 } })).ctStatus).toBe(CT_L4_ZERO_PORT);
  });

  it('3.3 UDP: length below 8 or beyond the IP payload, bad checksum, zero port; IPv6 zero checksum is invalid', () => {
    const u4 = { ip: A4, udp: { sport: 1, dport: 2 }, payload: 'abcd' } satisfies FrameSpec;
    expect(parse(buildFrame({ ...u4, udp: { ...u4.udp, length: 7 } })).ctStatus).toBe(CT_L4_TRUNCATED);
    expect(parse(buildFrame({ ...u4, udp: { ...u4.udp, length: 13 } })).ctStatus).toBe(CT_L4_TRUNCATED);
    expect(parse(buildFrame({ ...u4, udp: { ...u4.udp, checksum: 0x1234 } })).ctStatus).toBe(CT_L4_BAD_CSUM);
    expect(parse(buildFrame({ ...u4, udp: { sport: 1, dport: 0 } })).ctStatus).toBe(CT_L4_ZERO_PORT);
    expect(parse(buildFrame({ ...u4, ip: A6 })).ctStatus).toBe(CT_OK);
    expect(parse(buildFrame({ ...u4, ip: A6, udp: { ...u4.udp, checksum: 'none' } })).ctStatus).toBe(CT_L4_BAD_CSUM);
    expect(parse(buildFrame({ ...u4, ip: { ...A4, totalLength: 20 + 7 }, payload: '', truncate: 14 + 27 })).ctStatus).toBe(CT_L4_TRUNCATED);
  });

  it('5.2 ICMP: query with code 1, unsupported types, short message, bad checksum', () => {
    expect(parse(buildFrame({ ip: A4, icmp: { type: 8, code: 1 } })).ctStatus).toBe(CT_ICMP_BAD_CODE);
    expect(parse(buildFrame({ ip: A6, icmp: { type: 128, code: 1 } })).ctStatus).toBe(CT_ICMP_BAD_CODE);
    for (const type of [17, 9, 42]) expect(parse(buildFrame({ ip: A4, icmp: { type } })).ctStatus).toBe(CT_ICMP_BAD_TYPE);
    for (const type of [133, 135, 143]) expect(parse(buildFrame({ ip: A6, icmp: { type } })).ctStatus).toBe(CT_ICMP_BAD_TYPE);
    expect(parse(buildFrame({ ip: { ...A4, totalLength: 27 }, icmp: { type: 8 }, truncate: 14 + 27 })).ctStatus).toBe(CT_L4_TRUNCATED);
    expect(parse(buildFrame({ ip: A4, icmp: { type: 8, badChecksum: true } })).ctStatus).toBe(CT_L4_BAD_CSUM);
    expect(parse(buildFrame({ ip: A6, icmp: { type: 128, badChecksum: true } })).ctStatus).toBe(CT_L4_BAD_CSUM);
  });

  describe('5.3 ICMP errors', () => {
    const udp4 = buildFrame({ ip: A4, udp: { sport: 1111, dport: 53 }, payload: new Uint8Array(20) });
    const tcp4f = buildFrame({ ip: A4, tcp: { sport: 1111, dport: 80, flags: 'S' } });
    const tcp6f = buildFrame({ ip: A6, tcp: { sport: 1111, dport: 80, flags: 'S' } });
    const udp6f = buildFrame({ ip: A6, udp: { sport: 1111, dport: 53 } });
    const err4 = (inner: Uint8Array, o: Partial<FrameSpec['icmpError']> = {}, ip = B4): number =>
      parse(buildFrame({ ip, icmpError: { type: 3, code: 1, inner, ...o } })).ctStatus;
    const err6 = (inner: Uint8Array, o: Partial<FrameSpec['icmpError']> = {}, ip = B6): number =>
      parse(buildFrame({ ip, icmpError: { type: 1, code: 4, inner, ...o } })).ctStatus;

    it('bad outer checksum', () => {
      expect(err4(ipPacketOf(udp4), { badChecksum: true })).toBe(CT_L4_BAD_CSUM);
      expect(err6(ipPacketOf(udp6f), { badChecksum: true })).toBe(CT_L4_BAD_CSUM);
    });
    it('inner source must be the outer destination', () => {
      expect(err4(ipPacketOf(udp4), {}, { src: A4.dst, dst: '10.9.9.9' })).toBe(CT_ICMP_INNER_SRC);
      expect(err6(ipPacketOf(udp6f), {}, { src: A6.dst, dst: '2001:db8::99' })).toBe(CT_ICMP_INNER_SRC);
    });
    it('IPv4: 8 bytes of embedded L4 suffice, 7 do not', () => {
      expect(err4(ipPacketOf(tcp4f).slice(0, 28))).toBe(CT_OK);
      expect(err4(ipPacketOf(tcp4f).slice(0, 27))).toBe(CT_ICMP_BAD_INNER);
      expect(err4(ipPacketOf(udp4).slice(0, 28))).toBe(CT_OK);
      expect(err4(ipPacketOf(udp4).slice(0, 19))).toBe(CT_ICMP_BAD_INNER);
    });
    it('IPv6: the full TCP header (20) is needed, 8 bytes are not; UDP needs 8', () => {
      expect(err6(ipPacketOf(tcp6f).slice(0, 60))).toBe(CT_OK);
      expect(err6(ipPacketOf(tcp6f).slice(0, 48))).toBe(CT_ICMP_BAD_INNER);
      expect(err6(ipPacketOf(udp6f).slice(0, 48))).toBe(CT_OK);
      expect(err6(ipPacketOf(udp6f).slice(0, 47))).toBe(CT_ICMP_BAD_INNER);
    });
    it('an embedded fragment is invalid', () => {
      const frag4 = buildFrame({ ip: { ...A4, moreFragments: true }, udp: { sport: 1111, dport: 53 } });
      expect(err4(ipPacketOf(frag4))).toBe(CT_ICMP_BAD_INNER);
      const frag6 = buildFrame({ ip: { ...A6, ext: [{ type: 'fragment', more: true }] }, udp: { sport: 1111, dport: 53 } });
      expect(err6(ipPacketOf(frag6))).toBe(CT_ICMP_BAD_INNER);
    });
    it('embedded zero port, error in an error, embedded query with a code are invalid; its checksum is not checked', () => {
      expect(err4(ipPacketOf(buildFrame({ ip: A4, udp: { sport: 0, dport: 53 } })))).toBe(CT_ICMP_BAD_INNER);
      const inner = buildFrame({ ip: A4, icmpError: { type: 3, inner: ipPacketOf(udp4).slice(0, 28) } });
      expect(err4(ipPacketOf(inner))).toBe(CT_ICMP_BAD_INNER);
      expect(err4(ipPacketOf(buildFrame({ ip: A4, icmp: { type: 8, code: 3 } })))).toBe(CT_ICMP_BAD_INNER);
      const v = parse(buildFrame({ ip: B4, icmpError: { type: 3, inner: ipPacketOf(buildFrame({ ip: A4, icmp: { type: 8, id: 77 } })) } }));
      expect([v.ctStatus, v.innerIcmpType, v.innerIcmpId]).toEqual([CT_OK, 8, 77]);
      const badInner = buildFrame({ ip: { ...A4, badChecksum: true }, udp: { sport: 1111, dport: 53, checksum: 0x4242 } });
      expect(err4(ipPacketOf(badInner))).toBe(CT_OK);
    });
  });

  it('ipv4ToString formats word 0', () => {
    expect(ipv4ToString(parse(buildFrame(tcp4)).src[0]!)).toBe('10.0.0.1');
  });
});
