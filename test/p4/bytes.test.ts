import { describe, expect, it } from 'vitest';
import {
  bigIntToWidth,
  decodeValue,
  encodeValue,
  formatValue,
  isCanonical,
  parseIPv6,
  prefixMask,
  toBigInt,
} from '../../p4/bytes.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('encodeValue (spec §8.3 canonical bytestrings)', () => {
  it('follows the spec examples', () => {
    expect(hex(encodeValue(99, 16))).toBe('63');
    expect(hex(encodeValue(99, 12))).toBe('63');
    expect(hex(encodeValue(0x3064, 16))).toBe('3064');
    expect(hex(encodeValue(0, 32))).toBe('00');
  });

  it('reads IPv4, IPv6, MAC, hex, binary and decimal strings', () => {
    expect(hex(encodeValue('10.0.0.1', 32))).toBe('0a000001');
    expect(hex(encodeValue('0.0.0.7', 32))).toBe('07');
    expect(hex(encodeValue('00:00:00:00:00:03', 48))).toBe('03');
    expect(hex(encodeValue('aa-bb-cc-dd-ee-ff', 48))).toBe('aabbccddeeff');
    expect(hex(encodeValue('fe80::1', 128))).toBe('fe800000000000000000000000000001');
    expect(hex(encodeValue('::ffff:10.0.0.1', 128))).toBe('ffff0a000001');
    expect(hex(encodeValue('::', 128))).toBe('00');
    expect(hex(encodeValue('0x0abc', 16))).toBe('0abc');
    expect(hex(encodeValue('0b101', 3))).toBe('05');
    expect(hex(encodeValue('65535', 16))).toBe('ffff');
    expect(hex(encodeValue(Uint8Array.of(0, 0, 5), 9))).toBe('05');
    expect(hex(encodeValue((1n << 128n) - 1n, 128))).toBe('ff'.repeat(16));
  });

  it('rejects values that do not fit, naming the field', () => {
    const where = "table 'ct_table', field 'meta.zone'";
    expect(() => encodeValue(0x10000, 16, where)).toThrow(/ct_table.*meta\.zone.*does not fit in bit<16>/);
    try {
      encodeValue(512, 9, where);
      expect.unreachable();
    } catch (e) {
      expect((e as { code: string }).code).toBe('CTO_P4_VALUE');
      expect((e as { where: string }).where).toBe(where);
    }
    expect(() => encodeValue('10.0.0.1', 16)).toThrow(/does not fit/);
    expect(() => encodeValue(Uint8Array.of(1, 0), 8)).toThrow(/does not fit/);
  });

  it('rejects malformed input', () => {
    expect(() => encodeValue(-1, 8)).toThrow(/non-negative/);
    expect(() => encodeValue(-1n, 8)).toThrow(/negative/);
    expect(() => encodeValue(1.5, 8)).toThrow(/safe integer/);
    expect(() => encodeValue(2 ** 60, 64)).toThrow(/safe integer/);
    expect(() => encodeValue('', 8)).toThrow(/empty/);
    expect(() => encodeValue(new Uint8Array(0), 8)).toThrow(/empty bytestring/);
    expect(() => encodeValue('10.0.0.256', 32)).toThrow(/bad IPv4/);
    expect(() => encodeValue('1:2:3', 128)).toThrow(/bad IPv6/);
    expect(() => encodeValue('1::2::3', 128)).toThrow(/bad IPv6/);
    expect(() => encodeValue('hello', 8)).toThrow(/cannot read 'hello'/);
    expect(() => encodeValue(1, 0)).toThrow(/invalid bitwidth/);
  });
});

describe('decodeValue', () => {
  it('accepts leading zero bytes but checks the width', () => {
    expect(decodeValue(Uint8Array.of(0, 0, 2), 9)).toBe(2n);
    expect(() => decodeValue(Uint8Array.of(2, 0), 9)).toThrow(/does not fit in bit<9>/);
    expect(() => decodeValue(new Uint8Array(0), 9)).toThrow(/empty/);
  });
});

describe('helpers', () => {
  it('canonical check, masks, widths, display', () => {
    expect(isCanonical(Uint8Array.of(0))).toBe(true);
    expect(isCanonical(Uint8Array.of(0, 1))).toBe(false);
    expect(isCanonical(new Uint8Array(0))).toBe(false);
    expect(prefixMask(24, 32)).toBe(0xffffff00n);
    expect(prefixMask(32, 32)).toBe(0xffffffffn);
    expect(hex(bigIntToWidth(3n, 48))).toBe('000000000003');
    expect(formatValue(Uint8Array.of(3), 48)).toBe('00:00:00:00:00:03');
    expect(formatValue(0x0a000001n, 32)).toBe('10.0.0.1');
    expect(parseIPv6('1:2:3:4:5:6:7:8')).toBe(0x00010002000300040005000600070008n);
    expect(toBigInt('0XFF')).toBe(255n);
  });
});
