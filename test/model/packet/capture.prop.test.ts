import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CaptureFormatError } from '../../../model/errors.js';
import { type CaptureRecord, readCapture, writePcap, writePcapng } from '../../../model/packet/capture.js';

const recordArb: fc.Arbitrary<CaptureRecord> = fc
  .record({
    timeNs: fc.bigInt({ min: 0n, max: 2n ** 32n * 1_000_000_000n - 1n }),
    port: fc.integer({ min: 0, max: 70000 }),
    data: fc.uint8Array({ maxLength: 80 }),
    extra: fc.nat({ max: 1500 }),
    comment: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
  })
  .map(({ extra, comment, ...r }) => {
    const rec: CaptureRecord = { ...r, origLen: r.data.length + extra };
    if (comment !== undefined) rec.comment = comment;
    return rec;
  });
const recordsArb = fc.array(recordArb, { maxLength: 8 });

/** Either a parse whose records are a prefix of `want`, or a CaptureFormatError — never another exception. */
function prefixOrFormatError(b: Uint8Array, want: CaptureRecord[], opts?: { port: number }): void {
  let got: CaptureRecord[];
  try {
    got = readCapture(b, 'p.cap', opts);
  } catch (e) {
    expect(e).toBeInstanceOf(CaptureFormatError);
    expect((e as CaptureFormatError).offset).toBeGreaterThanOrEqual(0);
    expect((e as CaptureFormatError).offset).toBeLessThanOrEqual(b.length);
    return;
  }
  expect(got).toEqual(want.slice(0, got.length));
}

const viaPcap = (rs: CaptureRecord[], port: number): CaptureRecord[] => rs.map(({ comment: _c, ...r }) => ({ ...r, port }));

describe('capture properties', () => {
  it('pcapng: read(write(records)) equals records', () => {
    fc.assert(fc.property(recordsArb, (rs) => {
      expect(readCapture(writePcapng(rs), 'p')).toEqual(rs);
    }), { numRuns: 300 });
  });

  it('pcap (ns): read(write(records)) equals records without comments, on the given port', () => {
    fc.assert(
      fc.property(recordsArb, fc.nat({ max: 100 }), (rs, port) => {
        expect(readCapture(writePcap(rs, { nanos: true }), 'p', { port })).toEqual(viaPcap(rs, port));
      }),
      { numRuns: 300 },
    );
  });

  it('any truncation of a valid file parses a prefix or throws CaptureFormatError', () => {
    fc.assert(
      fc.property(recordsArb, fc.boolean(), fc.nat(), (rs, ng, cut) => {
        const b = ng ? writePcapng(rs) : writePcap(rs, { nanos: true });
        prefixOrFormatError(b.slice(0, cut % (b.length + 1)), ng ? rs : viaPcap(rs, 1), { port: 1 });
      }),
      { numRuns: 1000 },
    );
  });

  it('any single corrupted byte gives records or a CaptureFormatError, never another exception', () => {
    fc.assert(
      fc.property(recordsArb, fc.boolean(), fc.nat(), fc.integer({ min: 0, max: 255 }), (rs, ng, at, val) => {
        const b = (ng ? writePcapng(rs) : writePcap(rs)).slice();
        b[at % b.length] = val;
        try {
          readCapture(b, 'p.cap');
        } catch (e) {
          expect(e).toBeInstanceOf(CaptureFormatError);
        }
      }),
      { numRuns: 1500 },
    );
  });
});
