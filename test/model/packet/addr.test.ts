import { describe, expect, it } from 'vitest';
import { PacketBuildError } from '../../../model/errors.js';
import { formatIpv4, formatIpv6, formatMac, parseIp, parseIpv4, parseIpv6, parseMac } from '../../../model/packet/addr.js';

describe('addresses', () => {
  it('IPv6 text forms (RFC 4291 2.2) parse to the same bytes', () => {
    const full = Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
    for (const s of ['2001:db8::1', '2001:DB8:0:0:0:0:0:1', '2001:0db8:0000::0001']) expect(parseIpv6(s)).toEqual(full);
    expect(parseIpv6('::')).toEqual(new Uint8Array(16));
    expect(parseIpv6('::ffff:10.1.2.3').subarray(10)).toEqual(Uint8Array.of(0xff, 0xff, 10, 1, 2, 3));
    expect(parseIpv6('1:2:3:4:5:6:1.2.3.4').subarray(12)).toEqual(Uint8Array.of(1, 2, 3, 4));
  });

  it('IPv6 output follows RFC 5952 (lower case, longest zero run, first on a tie, no single-group ::)', () => {
    const f = (s: string): string => formatIpv6(parseIpv6(s));
    expect(f('2001:DB8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(f('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(f('0:0:0:0:0:0:0:0')).toBe('::');
    expect(f('0:0:1:0:0:0:2:0')).toBe('0:0:1::2:0');
    expect(f('1::')).toBe('1::');
  });

  it('rejects malformed text naming the field', () => {
    for (const s of ['1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3', 'g::1', '12345::', '1:2:3:4:5:6:7::8']) {
      expect(() => parseIpv6(s, 'x.src')).toThrow(/x\.src: bad IPv6 address/);
    }
    for (const s of ['1.2.3', '1.2.3.256', '01.2.3.4.5', 'a.b.c.d']) expect(() => parseIpv4(s)).toThrow(PacketBuildError);
    expect(() => parseMac('00:11:22:33:44')).toThrow(/bad MAC/);
  });

  it('IPv4 and MAC round trips; parseIp picks the version', () => {
    expect(formatIpv4(parseIpv4('192.168.0.255'))).toBe('192.168.0.255');
    expect(formatMac(parseMac('AA-bb-cc-dd-ee-0f'))).toBe('aa:bb:cc:dd:ee:0f');
    expect(parseIp('::1').length).toBe(16);
    expect(parseIp('1.2.3.4').length).toBe(4);
  });
});
