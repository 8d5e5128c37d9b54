import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { completeFrame, decodeFrame, encodeFrame } from '../../../model/packet/codec.js';
import { frameArb } from './arbitraries.js';

describe('codec properties', () => {
  it('decode(encode(f)) equals f with its unset fields filled in', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        const bytes = encodeFrame(f);
        expect(decodeFrame(bytes)).toEqual(completeFrame(f));
      }),
      { numRuns: 1500 },
    );
  });

  it('a fully specified frame round-trips exactly: decode(encode(f)) equals f', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        const full = completeFrame(f);
        expect(decodeFrame(encodeFrame(full))).toEqual(full);
      }),
      { numRuns: 500 },
    );
  });

  it('decoding never throws and loses nothing: encode(decode(b)) gives b back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        expect(encodeFrame(decodeFrame(b))).toEqual(b);
      }),
      { numRuns: 3000 },
    );
  });

  it('any corruption or truncation of a valid frame still decodes losslessly', () => {
    fc.assert(
      fc.property(frameArb, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (f, cut, at, val, mode) => {
        let b = encodeFrame(f);
        if (mode % 3 !== 1 && b.length > 0) {
          b = b.slice();
          b[at % b.length] = val;
        }
        if (mode % 3 !== 0) b = b.slice(0, cut % (b.length + 1));
        expect(encodeFrame(decodeFrame(b))).toEqual(b);
      }),
      { numRuns: 3000 },
    );
  });
});
