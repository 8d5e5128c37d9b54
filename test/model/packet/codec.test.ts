import { describe, expect, it } from 'vitest';
import { PacketBuildError } from '../../../model/errors.js';
import { buildFrame, ipPacketOf } from '../../../model/packet/build.js';
import { type Frame, type Layer, completeFrame, decodeFrame, encodeFrame, findLayer } from '../../../model/packet/codec.js';
import { decodeTcpOptions } from '../../../model/packet/tcpopts.js';
import { CT_OK, PacketView } from '../../../model/packet/view.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!.map((h) => parseInt(h, 16)));
const kinds = (f: Frame): string[] => f.layers.map((l) => l.kind);

describe('decodeFrame per header (scapy 2.5.0 vectors, see build.test.ts)', () => {
  it('Ethernet, 802.1Q, IPv4, TCP with options', () => {
    const f = decodeFrame(hex('0000000000020000000000018100606408004500003c00000000400666ba0a0000010a0000029c4001bb0000000100000000a00272101df70000020405b40402080a000000010000000003030700'));
    expect(kinds(f)).toEqual(['eth', 'vlan', 'ipv4', 'tcp']);
    expect(f.layers[0]).toEqual({ kind: 'eth', dst: '00:00:00:00:00:02', src: '00:00:00:00:00:01', type: 0x8100 });
    expect(f.layers[1]).toEqual({ kind: 'vlan', pcp: 3, dei: false, vid: 100, type: 0x0800 });
    expect(f.layers[2]).toEqual({
      kind: 'ipv4', version: 4, ihl: 5, tos: 0, totalLength: 60, id: 0, reserved: false, df: false, mf: false, frag: 0, ttl: 64, proto: 6,
      checksum: 0x66ba, src: '10.0.0.1', dst: '10.0.0.2', options: new Uint8Array(0),
    });
    expect(f.layers[3]).toEqual({
      kind: 'tcp', sport: 40000, dport: 443, seq: 1, ack: 0, dataOffset: 10, flags: 0x002, window: 29200, checksum: 0x1df7, urgPtr: 0,
      options: [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }, { kind: 'timestamp', tsval: 1, tsecr: 0 }, { kind: 'wscale', shift: 7 }, { kind: 'eol' }],
    });
  });

  it('IPv6, hop-by-hop, fragment header, UDP, payload', () => {
    const f = decodeFrame(hex('00000000000200000000000186dd60000000001b0001fe800000000000000000000000000001ff0200000000000000000000000000012c00010400000000110000010000000500050006000b3de5616263'));
    expect(kinds(f)).toEqual(['eth', 'ipv6', 'ipv6-hbh', 'ipv6-frag', 'udp', 'raw']);
    expect(f.layers[1]).toEqual({ kind: 'ipv6', version: 6, tc: 0, flowLabel: 0, payloadLength: 27, nextHeader: 0, hopLimit: 1, src: 'fe80::1', dst: 'ff02::1' });
    expect(f.layers[2]).toEqual({ kind: 'ipv6-hbh', nextHeader: 44, hdrExtLen: 0, data: hex('010400000000') });
    expect(f.layers[3]).toEqual({ kind: 'ipv6-frag', nextHeader: 17, reserved: 0, offset: 0, res: 0, m: true, id: 5 });
    expect(f.layers[4]).toEqual({ kind: 'udp', sport: 5, dport: 6, length: 11, checksum: 0x3de5 });
    expect(f.layers[5]).toEqual({ kind: 'raw', data: new TextEncoder().encode('abc') });
  });

  it('ICMPv6 echo', () => {
    const f = decodeFrame(hex('00000000000200000000000186dd60000000000c3a4020010db800000000000000000000000120010db8000000000000000000000002800033361234000970696e67'));
    expect(f.layers[2]).toEqual({ kind: 'icmpv6', type: 128, code: 0, checksum: 0x3336, id: 0x1234, seq: 9 });
    expect(kinds(f)).toEqual(['eth', 'ipv6', 'icmpv6', 'raw']);
  });

  it('ICMP error: the embedded IPv4 and UDP headers are decoded', () => {
    const f = decodeFrame(hex('00000000000200000000000108004500003800000000400166c30a0000020a0000010303821a000000004500001d00000000401166ce0a0000010a000002045700350009764d'));
    expect(kinds(f)).toEqual(['eth', 'ipv4', 'icmp', 'ipv4', 'udp']);
    expect(f.layers[2]).toEqual({ kind: 'icmp', type: 3, code: 3, checksum: 0x821a, rest: 0 });
    expect(findLayer(f, 'ipv4', 2)).toMatchObject({ src: '10.0.0.1', dst: '10.0.0.2', totalLength: 29, proto: 17 });
    expect(f.layers[4]).toEqual({ kind: 'udp', sport: 1111, dport: 53, length: 9, checksum: 0x764d });
  });
});

describe('decodeFrame: partial and undecodable input', () => {
  it('an ICMP error cut inside the embedded header keeps the fields present (decoded as far as present)', () => {
    const inner = ipPacketOf(buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { sport: 1234, dport: 80, seq: 77, flags: 'S' } }));
    for (const [cut, fields] of [[28, ['sport', 'dport', 'seq']], [31, ['sport', 'dport', 'seq']], [33, ['sport', 'dport', 'seq', 'ack']], [34, ['sport', 'dport', 'seq', 'ack', 'dataOffset', 'flags']]] as const) {
      const b = buildFrame({ ip: { src: '10.0.0.2', dst: '10.0.0.1' }, icmpError: { type: 3, inner: inner.slice(0, cut) } });
      const f = decodeFrame(b);
      expect(kinds(f).slice(0, 5)).toEqual(['eth', 'ipv4', 'icmp', 'ipv4', 'tcp']);
      const tcp = f.layers[4] as unknown as Record<string, unknown>;
      expect(tcp.truncated).toBe(true);
      expect(Object.keys(tcp).filter((k) => k !== 'kind' && k !== 'truncated')).toEqual(fields);
      expect(tcp.sport).toBe(1234);
      const tail = f.layers[5];
      if (cut === 28 || cut === 34) expect(tail).toBeUndefined();
      else expect(tail).toMatchObject({ kind: 'raw', note: expect.stringMatching(/TCP header embedded in an ICMP error is cut short/) });
      expect(encodeFrame(f)).toEqual(b);
    }
  });

  it('an outer header that does not fit becomes raw data with a note naming it and the offset', () => {
    const b = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { sport: 1, dport: 2 }, truncate: 40 });
    const f = decodeFrame(b);
    expect(kinds(f)).toEqual(['eth', 'ipv4', 'raw']);
    expect((f.layers[2] as { note: string }).note).toBe('TCP header at byte 34 does not fit in the remaining 6 bytes');
    expect(decodeFrame(new Uint8Array(5)).layers).toEqual([{ kind: 'raw', data: new Uint8Array(5), note: 'Ethernet header at byte 0 does not fit in the remaining 5 bytes' }]);
    expect(decodeFrame(new Uint8Array(0)).layers).toEqual([]);
  });

  it('IHL below 5 and TCP data offset below 5 cannot be decoded', () => {
    const f = completeFrame(decodeFrame(buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 } })));
    (f.layers[1] as { ihl?: number }).ihl = 4;
    expect(kinds(decodeFrame(encodeFrame(f)))).toEqual(['eth', 'raw']);
    const t = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { sport: 1, dport: 2, dataOffset: 3 } });
    expect(kinds(decodeFrame(t))).toEqual(['eth', 'ipv4', 'raw']);
  });

  it('a later IPv4 fragment keeps its payload raw with a note; the first fragment decodes L4', () => {
    const later = decodeFrame(buildFrame({ ip: { src: '1.1.1.1', dst: '2.2.2.2', fragOffset: 16, proto: 17 }, payload: 'abcdefgh' }));
    expect(later.layers[2]).toMatchObject({ kind: 'raw', note: 'IPv4 fragment at offset 16: payload not decoded' });
    const first = decodeFrame(buildFrame({ ip: { src: '1.1.1.1', dst: '2.2.2.2', moreFragments: true }, udp: { sport: 1, dport: 2 }, payload: 'x' }));
    expect(kinds(first)).toEqual(['eth', 'ipv4', 'udp', 'raw']);
    expect(first.layers[1]).toMatchObject({ mf: true, frag: 0 });
    const later6 = decodeFrame(buildFrame({ ip: { src: '::1', dst: '::2', proto: 6, ext: [{ type: 'fragment', fragOffset: 8 }] }, payload: 'abcdefgh' }));
    expect(later6.layers.at(-1)).toMatchObject({ kind: 'raw', note: 'IPv6 fragment at offset 8: payload not decoded' });
  });

  it('Ethernet padding after the IP datagram is a padding layer, kept out of computed lengths', () => {
    const b = buildFrame({ ip: { src: '1.1.1.1', dst: '2.2.2.2' }, udp: { sport: 1, dport: 2 } });
    const padded = new Uint8Array(60);
    padded.set(b);
    const f = decodeFrame(padded);
    expect(kinds(f)).toEqual(['eth', 'ipv4', 'udp', 'padding']);
    expect((f.layers[3] as { data: Uint8Array }).data.length).toBe(60 - b.length);
    const unset = f.layers.map((l) => (l.kind === 'ipv4' ? { ...l, totalLength: undefined, checksum: undefined } : l.kind === 'udp' ? { ...l, length: undefined, checksum: undefined } : l)) as Layer[];
    expect(encodeFrame({ layers: unset })).toEqual(padded);
  });

  it('unknown EtherTypes and IP protocols stay raw without a note', () => {
    expect(decodeFrame(buildFrame({ ethType: 0x0806, payload: 'arp' })).layers[1]).toEqual({ kind: 'raw', data: new TextEncoder().encode('arp') });
    expect(decodeFrame(buildFrame({ ip: { src: '::1', dst: '::2', proto: 50 }, payload: 'esp' })).layers[2]).toEqual({ kind: 'raw', data: new TextEncoder().encode('esp') });
  });
});

describe('TCP options', () => {
  it('SACK blocks, NOPs, unknown kinds, wrong lengths kept as unknown, malformed tails kept raw', () => {
    expect(decodeTcpOptions(hex('0101050a000000010000000208'))).toEqual([
      { kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[1, 2]] }, { kind: 'raw', data: hex('08') },
    ]);
    expect(decodeTcpOptions(hex('1e04abcd020501020300'))).toEqual([
      { kind: 'unknown', type: 30, data: hex('abcd') }, { kind: 'unknown', type: 2, data: hex('010203') }, { kind: 'eol' },
    ]);
    expect(decodeTcpOptions(hex('0301'))).toEqual([{ kind: 'raw', data: hex('0301') }]);
    expect(decodeTcpOptions(hex('0a0a00'))).toEqual([{ kind: 'raw', data: hex('0a0a00') }]);
  });

  it('encodeFrame pads options to 32 bits with EOL and sets the data offset', () => {
    const b = encodeFrame({ layers: [{ kind: 'eth' }, { kind: 'ipv4', src: '1.1.1.1', dst: '2.2.2.2' }, { kind: 'tcp', sport: 1, dport: 2, options: [{ kind: 'wscale', shift: 2 }] }] });
    const f = decodeFrame(b);
    expect(f.layers[2]).toMatchObject({ dataOffset: 6, options: [{ kind: 'wscale', shift: 2 }, { kind: 'eol' }] });
    expect(new PacketView().parse(b).wscale).toBe(2);
  });
});

describe('encodeFrame', () => {
  it('fills selectors, lengths and checksums that PacketView then accepts', () => {
    for (const ip of [{ kind: 'ipv4', src: '1.1.1.1', dst: '2.2.2.2' }, { kind: 'ipv6', src: '::1', dst: '::2' }] as Layer[]) {
      const b = encodeFrame({ layers: [{ kind: 'eth' }, { kind: 'vlan', vid: 4 }, ip, { kind: 'udp', sport: 1, dport: 2 }, { kind: 'raw', data: new Uint8Array(3) }] });
      const v = new PacketView().parse(b);
      expect([v.ctStatus, v.vlanTci, v.sport, v.payloadLen]).toEqual([CT_OK, 4, 1, 3]);
    }
  });

  it('IPv4 options are padded to 32 bits and IHL follows', () => {
    const f = completeFrame({ layers: [{ kind: 'eth' }, { kind: 'ipv4', options: Uint8Array.of(7, 3, 4), proto: 253 }] });
    expect(f.layers[1]).toMatchObject({ ihl: 6, options: Uint8Array.of(7, 3, 4, 0), totalLength: 24 });
  });

  it('IPv6 extension headers are padded (PadN) and AH length follows RFC 4302', () => {
    const f = completeFrame({ layers: [{ kind: 'eth' }, { kind: 'ipv6' }, { kind: 'ipv6-dstopt', data: Uint8Array.of(1, 0) }, { kind: 'ah' }, { kind: 'udp' }] });
    expect(f.layers[2]).toMatchObject({ nextHeader: 51, hdrExtLen: 0, data: Uint8Array.of(1, 0, 1, 2, 0, 0) });
    // SPI + sequence (8 bytes) padded to 12 so the header is 16 bytes: 4 words - 2.
    expect(f.layers[3]).toMatchObject({ nextHeader: 17, payloadLen: 2, data: new Uint8Array(12) });
    expect(f.layers[1]).toMatchObject({ nextHeader: 60, payloadLength: 8 + 16 + 8 });
    expect(decodeFrame(encodeFrame(f))).toEqual(f);
  });

  it('errors name the layer, field and value', () => {
    const bad = (layers: unknown[]): string => {
      try {
        encodeFrame({ layers } as Frame);
      } catch (e) {
        expect(e).toBeInstanceOf(PacketBuildError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(bad([{ kind: 'eth' }, { kind: 'ipv4', ttl: 300, proto: 253 }])).toBe('layers[1](ipv4).ttl: 300 is not an unsigned 8-bit integer');
    expect(bad([{ kind: 'eth' }, { kind: 'raw', data: new Uint8Array(1) }])).toMatch(/layers\[0\]\(eth\)\.type: unset, and the next layer \(raw\)/);
    expect(bad([{ kind: 'eth', type: 1 }, { kind: 'gre' }])).toMatch(/layers\[1\]\(gre\)\.kind: unknown layer kind 'gre'/);
    expect(bad([{ kind: 'eth', src: 'x', type: 0x88b5 }])).toMatch(/layers\[0\]\(eth\)\.src: bad MAC address 'x'/);
    expect(bad([{ kind: 'eth', type: 0x800 }, { kind: 'ipv4', df: 1, proto: 253 }])).toMatch(/layers\[1\]\(ipv4\)\.df: 1 is not a boolean/);
    expect(bad([{ kind: 'eth', type: 0x800 }, { kind: 'ipv4', options: new Uint8Array(44), proto: 253 }])).toMatch(/options: 44 bytes exceed/);
    expect(bad([{ kind: 'eth', type: 0x800 }, { kind: 'ipv4' }, { kind: 'tcp', options: [{ kind: 'sack', blocks: [] }] }])).toMatch(/tcp\)\.options\[0\]\.blocks: 0 blocks/);
  });
});
