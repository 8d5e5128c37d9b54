/**
 * SpDecoder on arbitrary chunking: however the byte stream of a handshake plus messages is split
 * or coalesced, the decoder returns exactly the messages sent, in order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpDecoder, encodeSpFrame, spHandshake } from '../../p4/nanomsg.js';

describe('SpDecoder (property)', () => {
  it('any split of the stream decodes to the messages sent', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }),
        (msgs, cuts) => {
          const wire = Buffer.concat([spHandshake(), ...msgs.map((m) => encodeSpFrame(m))]);
          const d = new SpDecoder();
          const got: Buffer[] = [];
          let off = 0;
          for (let i = 0; off < wire.length; i++) {
            const len = cuts[i % cuts.length]!;
            got.push(...d.push(wire.subarray(off, off + len)));
            off += len;
          }
          expect(got.map((b) => Buffer.from(b).toString('hex'))).toEqual(msgs.map((m) => Buffer.from(m).toString('hex')));
          expect(d.pending).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
