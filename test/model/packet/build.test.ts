/**
 * buildFrame against byte vectors made by scapy 2.5.0 (Debian python3-scapy), with this script:
 *
 *   E = lambda: Ether(dst='00:00:00:00:00:02', src='00:00:00:00:00:01')
 *   udp4     = E()/IP(src='192.168.0.1', dst='192.168.0.199', ttl=64, flags='DF', id=0x1c46)/UDP(sport=1234, dport=53)/b'hello'
 *   tcp4vlan = E()/Dot1Q(vlan=100, prio=3)/IP(src='10.0.0.1', dst='10.0.0.2', ttl=64, id=0)/TCP(sport=40000, dport=443, seq=1,
 *              flags='S', window=29200, options=[('MSS',1460),('SAckOK',b''),('Timestamp',(1,0)),('WScale',7)])
 *   echo6    = E()/IPv6(src='2001:db8::1', dst='2001:db8::2', hlim=64)/ICMPv6EchoRequest(id=0x1234, seq=9)/b'ping'
 *   ext6     = E()/IPv6(src='fe80::1', dst='ff02::1', hlim=1)/IPv6ExtHdrHopByHop()/IPv6ExtHdrFragment(id=5, m=1)/UDP(sport=5, dport=6)/b'abc'
 *   inner    = bytes(IP(src='10.0.0.1', dst='10.0.0.2', id=0, ttl=64)/UDP(sport=1111, dport=53)/b'q')
 *   err4     = E()/IP(src='10.0.0.2', dst='10.0.0.1', id=0, ttl=64)/ICMP(type=3, code=3)/Raw(inner[:28])
 */
import { describe, expect, it } from 'vitest';
import { type FrameSpec, buildFrame, corruptChecksum, formatTcpFlags, ipPacketOf, parseTcpFlags } from '../../../model/packet/build.js';
import { checksumOk, pseudoSum4 } from '../../../model/packet/checksum.js';
import { CT_OK, PacketView } from '../../../model/packet/view.js';
import { PacketBuildError } from '../../../model/errors.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g)!.map((h) => parseInt(h, 16)));
const udp4Bytes = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1111, dport: 53 }, payload: 'q' });

const VECTORS: [string, FrameSpec, string][] = [
  ['udp4', { ip: { src: '192.168.0.1', dst: '192.168.0.199', dontFragment: true, id: 0x1c46 }, udp: { sport: 1234, dport: 53 }, payload: 'hello' },
    '0000000000020000000000010800450000211c46400040119c6dc0a80001c0a800c704d20035000d34e268656c6c6f'],
  ['tcp4vlan', { vlan: { vid: 100, pcp: 3 }, ip: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { sport: 40000, dport: 443, seq: 1, flags: 'S', win: 29200, options: { mss: 1460, sackOk: true, timestamp: [1, 0], wscale: 7 } } },
    '0000000000020000000000018100606408004500003c00000000400666ba0a0000010a0000029c4001bb0000000100000000a00272101df70000020405b40402080a000000010000000003030700'],
  ['echo6', { ip: { src: '2001:db8::1', dst: '2001:db8::2' }, icmp: { type: 128, id: 0x1234, seq: 9 }, payload: 'ping' },
    '00000000000200000000000186dd60000000000c3a4020010db800000000000000000000000120010db8000000000000000000000002800033361234000970696e67'],
  ['ext6', { ip: { src: 'fe80::1', dst: 'ff02::1', ttl: 1, ext: [{ type: 'hbh' }, { type: 'fragment', id: 5, more: true }] }, udp: { sport: 5, dport: 6 }, payload: 'abc' },
    '00000000000200000000000186dd60000000001b0001fe800000000000000000000000000001ff0200000000000000000000000000012c00010400000000110000010000000500050006000b3de5616263'],
  ['err4', { ip: { src: '10.0.0.2', dst: '10.0.0.1' }, icmpError: { type: 3, code: 3, inner: ipPacketOf(udp4Bytes).slice(0, 28) } },
    '00000000000200000000000108004500003800000000400166c30a0000020a0000010303821a000000004500001d00000000401166ce0a0000010a000002045700350009764d'],
];

describe('buildFrame', () => {
  for (const [name, spec, want] of VECTORS) {
    it(`matches scapy's bytes for ${name}`, () => {
      expect(Buffer.from(buildFrame(spec)).toString('hex')).toBe(want);
    });
  }

  it('fills checksums that an independent sum verifies', () => {
    const f = buildFrame({ ip: { src: '1.2.3.4', dst: '5.6.7.8' }, tcp: { sport: 1, dport: 2 }, payload: 'odd' });
    expect(checksumOk(f, 14, 20)).toBe(true);
    expect(checksumOk(f, 34, f.length - 34, pseudoSum4(f, 14, 6, f.length - 34))).toBe(true);
  });

  it('truncate cuts the finished frame (after checksums)', () => {
    const full = buildFrame({ ip: { src: '1.2.3.4', dst: '5.6.7.8' }, udp: { sport: 1, dport: 2 }, payload: 'abcdef' });
    expect(buildFrame({ ip: { src: '1.2.3.4', dst: '5.6.7.8' }, udp: { sport: 1, dport: 2 }, payload: 'abcdef', truncate: 40 })).toEqual(full.slice(0, 40));
    expect(buildFrame({ ip: { src: '1.2.3.4', dst: '5.6.7.8' }, udp: { sport: 1, dport: 2 }, truncate: 1000 }).length).toBe(42);
  });

  it('non-IP frames carry ethType and the raw payload; IEEE local experimental type by default', () => {
    const f = buildFrame({ ethType: 0x0806, payload: Uint8Array.of(1, 2, 3), ethSrc: 'aa:bb:cc:dd:ee:ff', ethDst: 'ff:ff:ff:ff:ff:ff' });
    expect(Buffer.from(f).toString('hex')).toBe('ffffffffffffaabbccddeeff0806010203');
    expect(buildFrame({}).subarray(12, 14)).toEqual(Uint8Array.of(0x88, 0xb5));
  });

  it('an 802.1ad outer TPID is honoured', () => {
    const f = buildFrame({ vlan: { vid: 5, tpid: 0x88a8 }, ip: { src: '1.2.3.4', dst: '5.6.7.8' }, udp: { sport: 1, dport: 2 } });
    expect(Buffer.from(f.subarray(12, 18)).toString('hex')).toBe('88a800050800');
  });

  it('ip.proto and raw payload for other protocols; flow label and traffic class for IPv6', () => {
    const v = new PacketView().parse(buildFrame({ ip: { src: '::1', dst: '::2', proto: 50, flowLabel: 0xabcde, tos: 0x2e }, payload: 'esp!' }));
    expect([v.ctStatus, v.ipProto, v.ipv6Label, v.tos, v.payloadLen]).toEqual([CT_OK, 50, 0xabcde, 0x2e, 4]);
  });

  it('ipPacketOf skips Ethernet and VLAN headers and drops padding beyond the IP length', () => {
    const f = buildFrame({ vlan: 9, ip: { src: '1.2.3.4', dst: '5.6.7.8' }, udp: { sport: 1, dport: 2 } });
    const padded = new Uint8Array(64);
    padded.set(f);
    expect(ipPacketOf(padded)).toEqual(f.slice(18));
    expect(() => ipPacketOf(buildFrame({ ethType: 0x0806 }))).toThrow(PacketBuildError);
  });

  it('TCP flag strings', () => {
    expect(['S', 'SA', 'A', 'PA', 'FA', 'R', 'RA', 'F', 'SF'].map(parseTcpFlags)).toEqual([0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01, 0x03]);
    expect(parseTcpFlags('sa')).toBe(0x12);
    expect(formatTcpFlags(0x1ff)).toBe('FSRPAUECN');
    expect(formatTcpFlags(0x12)).toBe('SA');
  });

  it('corruptChecksum never yields a verifying or a zero value', () => {
    for (const good of [0, 1, 2, 0xfffe, 0xffff, 0x1234]) {
      const bad = corruptChecksum(good);
      expect(bad).not.toBe(good);
      expect(bad).not.toBe(0);
      expect(bad === 0xffff && good === 0).toBe(false);
    }
  });

  describe('errors name the field and value', () => {
    const cases: [FrameSpec, RegExp][] = [
      [{ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { sport: 70000, dport: 1 } }, /tcp\.sport: 70000/],
      [{ ip: { src: '10.0.0.300', dst: '10.0.0.2' } }, /ip\.src: bad IPv4 address '10\.0\.0\.300'/],
      [{ ip: { src: '10.0.0.1', dst: '::1' } }, /ip\.dst: '::1' is not the same IP version/],
      [{ ip: { src: '1::2::3', dst: '::1' } }, /ip\.src: bad IPv6 address '1::2::3'/],
      [{ ethSrc: 'zz:00:00:00:00:00' }, /ethSrc: bad MAC address/],
      [{ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { sport: 1, dport: 1, flags: 'SX' } }, /tcp\.flags: unknown flag letter 'X' in 'SX'/],
      [{ ip: { src: '10.0.0.1', dst: '10.0.0.2', fragOffset: 3 } }, /ip\.fragOffset: 3 is not a multiple of 8/],
      [{ ip: { src: '10.0.0.1', dst: '10.0.0.2', options: new Uint8Array(41) } }, /ip\.options: 41 bytes exceed/],
      [{ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { sport: 1, dport: 1, options: { raw: new Uint8Array(41) } } }, /tcp\.options: 41 bytes exceed/],
      [{ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { sport: 1, dport: 1 }, udp: { sport: 1, dport: 1 } }, /more than one L4 header given \(tcp, udp\)/],
      [{ udp: { sport: 1, dport: 1 } }, /udp: needs an ip header/],
      [{ vlan: 4096 }, /vlan\.vid: 4096 does not fit in 12 bits/],
      [{ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, icmp: { type: 256 } }, /icmp\.type: 256/],
      [{ ip: { src: '::1', dst: '::2', flowLabel: 1 << 20 } }, /ip\.flowLabel/],
    ];
    for (const [spec, msg] of cases) {
      it(String(msg), () => {
        let err: unknown;
        try {
          buildFrame(spec);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(PacketBuildError);
        expect((err as PacketBuildError).code).toBe('CTO_PACKET_BUILD');
        expect((err as Error).message).toMatch(msg);
      });
    }
  });
});
