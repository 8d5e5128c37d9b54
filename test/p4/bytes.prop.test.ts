import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bigIntToWidth, decodeValue, encodeValue, formatValue, isCanonical } from '../../p4/bytes.js';

/** A bitwidth and a value that fits it. */
const widthAndValue = fc.integer({ min: 1, max: 160 }).chain((w) => fc.tuple(fc.constant(w), fc.bigInt({ min: 0n, max: (1n << BigInt(w)) - 1n })));

describe('bytestrings (properties)', () => {
  it('decode(encode(v)) = v and the encoding is canonical and minimal', () => {
    fc.assert(
      fc.property(widthAndValue, ([w, v]) => {
        const b = encodeValue(v, w);
        expect(decodeValue(b, w)).toBe(v);
        expect(isCanonical(b)).toBe(true);
        expect(b.length).toBe(v === 0n ? 1 : Math.ceil(v.toString(2).length / 8));
      }),
    );
  });

  it('every input form of the same value encodes to the same bytes', () => {
    fc.assert(
      fc.property(widthAndValue, ([w, v]) => {
        const b = encodeValue(v, w);
        expect(encodeValue(`0x${v.toString(16)}`, w)).toEqual(b);
        expect(encodeValue(v.toString(), w)).toEqual(b);
        expect(encodeValue(bigIntToWidth(v, w), w)).toEqual(b);
        if (v <= BigInt(Number.MAX_SAFE_INTEGER)) expect(encodeValue(Number(v), w)).toEqual(b);
        if (w === 32 || w === 48) expect(encodeValue(formatValue(v, w), w)).toEqual(b);
      }),
    );
  });

  it('values of W+1 significant bits or more are rejected with CTO_P4_VALUE', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 128 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (w, extra) => {
        const v = (1n << BigInt(w)) + extra;
        expect(() => encodeValue(v, w, 'f')).toThrow(expect.objectContaining({ code: 'CTO_P4_VALUE' }));
      }),
    );
  });

  it('IPv6 text round-trips through the 128-bit value', () => {
    fc.assert(
      fc.property(fc.ipV6(), (s) => {
        const b = encodeValue(s, 128);
        // WHATWG URL normalises IPv6 independently of our parser (compressed, lower case).
        const norm = new URL(`http://[${s}]`).hostname.slice(1, -1);
        expect(encodeValue(norm, 128)).toEqual(b);
        const words = Buffer.from(bigIntToWidth(decodeValue(b), 128)).toString('hex').match(/.{4}/g)!;
        expect(encodeValue(words.join(':'), 128)).toEqual(b);
      }),
    );
  });
});
