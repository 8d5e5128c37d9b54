import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureFormatError } from '../../../model/errors.js';
import { type CaptureRecord, detectCaptureFormat, portFromIfName, readCapture, readCaptureFile, writePcap, writePcapng } from '../../../model/packet/capture.js';
import { buildFrame } from '../../../model/packet/build.js';

const f1 = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 }, payload: 'abc' });
const f2 = buildFrame({ ip: { src: '2001:db8::1', dst: '2001:db8::2' }, tcp: { sport: 3, dport: 4, flags: 'S' } });
const recs: CaptureRecord[] = [
  { timeNs: 1_700_000_000_123_456_789n, port: 3, data: f1, origLen: f1.length, comment: 'first → ü' },
  { timeNs: 1_700_000_001_000_000_001n, port: 0, data: f2.slice(0, 30), origLen: f2.length },
  { timeNs: 1_700_000_002_000_000_000n, port: 3, data: f2, origLen: f2.length, comment: '' },
];

/** Independent little helper to lay out bytes of hand-made files in either byte order. */
class Bytes {
  out: number[] = [];
  constructor(readonly le: boolean) {}
  u8(...v: number[]): this {
    this.out.push(...v);
    return this;
  }
  u16(v: number): this {
    return this.le ? this.u8(v & 255, v >> 8) : this.u8(v >> 8, v & 255);
  }
  u32(v: number): this {
    const b = [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
    return this.u8(...(this.le ? b.reverse() : b));
  }
  raw(b: ArrayLike<number>): this {
    return this.u8(...Array.from(b));
  }
  pad(): this {
    while (this.out.length % 4) this.out.push(0);
    return this;
  }
  get bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}
/** A pcapng block: type, length, body (padded), length. */
function block(le: boolean, type: number, body: (b: Bytes) => void): number[] {
  const b = new Bytes(le);
  body(b);
  b.pad();
  return new Bytes(le).u32(type).u32(b.out.length + 12).raw(b.out).u32(b.out.length + 12).out;
}
function opt(b: Bytes, code: number, v: ArrayLike<number>): void {
  b.u16(code).u16(v.length).raw(v).pad();
}
const shb = (le: boolean): number[] => block(le, 0x0a0d0d0a, (b) => b.u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff));
const idb = (le: boolean, opts: (b: Bytes) => void = () => {}, linktype = 1): number[] =>
  block(le, 1, (b) => {
    b.u16(linktype).u16(0).u32(0);
    opts(b);
  });
const epb = (le: boolean, ifId: number, ts: bigint, data: Uint8Array, opts: (b: Bytes) => void = () => {}): number[] =>
  block(le, 6, (b) => {
    b.u32(ifId).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn)).u32(data.length).u32(data.length + 10).raw(data).pad();
    opts(b);
  });
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function expectFormatError(fn: () => unknown, offset: number, text: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CaptureFormatError);
    const err = e as CaptureFormatError;
    expect(err.code).toBe('CTO_CAPTURE_FORMAT');
    expect(err.file).toBe('t.cap');
    expect(err.offset).toBe(offset);
    expect(err.message).toMatch(new RegExp(`^t\\.cap: byte ${offset}: `));
    expect(err.message).toMatch(text);
    return;
  }
  throw new Error('expected a CaptureFormatError');
}

describe('pcapng', () => {
  it('round-trips records: time (ns), port via interface name, data, original length, comment', () => {
    const b = writePcapng(recs);
    expect(detectCaptureFormat(b)).toBe('pcapng');
    expect(readCapture(b, 'x')).toEqual(recs.map((r) => (r.comment === undefined ? r : { ...r })));
  });

  it('reads big-endian sections, if_tsresol (decimal and binary), if_tsoffset, and maps if_name to ports', () => {
    for (const le of [true, false]) {
      const file = new Bytes(le)
        .raw(shb(le))
        .raw(idb(le)) // interface 0: no name → port 0, microseconds
        .raw(idb(le, (b) => { opt(b, 2, enc('p7')); opt(b, 9, [3]); })) // port 7, milliseconds
        .raw(idb(le, (b) => { opt(b, 2, enc('eth0')); opt(b, 9, [0x80 | 10]); })) // index 2, 2^-10 s
        .raw(idb(le, (b) => { opt(b, 2, enc('port12')); opt(b, 14, new Bytes(le).u32(100).u32(0).out.slice(0, 8)); }))
        .raw(block(le, 0x0bad, (b) => b.u32(1).u32(2))) // unknown block: skipped
        .raw(epb(le, 0, 1_500_000n, f1, (b) => { opt(b, 1, enc('c1')); opt(b, 0, []); }))
        .raw(epb(le, 1, 2_500n, f1))
        .raw(epb(le, 2, 3n * 1024n + 512n, f1))
        .raw(epb(le, 3, 7n, f1)).bytes;
      const r = readCapture(file, 't.cap');
      expect(r.map((x) => x.port)).toEqual([0, 7, 2, 12]);
      // if_tsoffset is a 64-bit count of seconds: le low word first; be high word first.
      const offsetSec = le ? 100n : 100n << 32n;
      expect(r.map((x) => x.timeNs)).toEqual([1_500_000_000n, 2_500_000_000n, 3_500_000_000n, offsetSec * 1_000_000_000n + 7_000n]);
      expect(r[0]!.comment).toBe('c1');
      expect(r[1]!.comment).toBeUndefined();
      expect(r[0]!.origLen).toBe(f1.length + 10);
      expect(r[0]!.data).toEqual(f1);
    }
  });

  it('reads simple packet blocks, obsolete packet blocks, and a second section in the other byte order', () => {
    const spb = block(true, 3, (b) => b.u32(f1.length).raw(f1));
    const pb = block(true, 2, (b) => b.u16(0).u16(0).u32(0).u32(1000).u32(f2.length).u32(f2.length).raw(f2));
    const file = Uint8Array.from([...shb(true), ...idb(true, (b) => opt(b, 2, enc('port4'))), ...pb, ...spb, ...shb(false), ...idb(false), ...epb(false, 0, 5n, f2)]);
    const r = readCapture(file, 't.cap');
    expect(r.map((x) => [x.port, x.timeNs, x.data.length])).toEqual([[4, 1_000_000n, f2.length], [4, 1_000_000n, f1.length], [0, 5_000n, f2.length]]);
    expect(r[1]!.data).toEqual(f1);
  });

  it('portFromIfName', () => {
    expect([portFromIfName('port3'), portFromIfName('P3'), portFromIfName('p10'), portFromIfName('eth3'), portFromIfName('port')]).toEqual([3, 3, 10, -1, -1]);
  });

  describe('corrupt files give CaptureFormatError with file and offset', () => {
    const good = writePcapng(recs);
    it('empty and unknown files', () => {
      expectFormatError(() => readCapture(new Uint8Array(0), 't.cap'), 0, /not a pcap or pcapng/);
      expectFormatError(() => readCapture(enc('hello world, not a capture'), 't.cap'), 0, /not a pcap or pcapng/);
    });
    it('truncated block', () => {
      // Offset of the last block, found by walking the block lengths.
      let last = 0;
      for (let o = 0; o < good.length; o += new DataView(good.buffer).getUint32(o + 4, true)) last = o;
      expectFormatError(() => readCapture(good.slice(0, good.length - 3), 't.cap'), last, /block of type 0x6 .* truncated/);
      expectFormatError(() => readCapture(good.slice(0, 20), 't.cap'), 0, /section header block truncated/);
    });
    it('bad byte-order magic, bad version', () => {
      const b = good.slice();
      b[8] = 0;
      expectFormatError(() => readCapture(b, 't.cap'), 8, /byte-order magic/);
      const v = good.slice();
      v[12] = 2;
      expectFormatError(() => readCapture(v, 't.cap'), 12, /version 2/);
    });
    it('block lengths: not a multiple of 4, below 12, trailing copy differs', () => {
      const shbLen = new DataView(good.buffer).getUint32(4, true);
      const b = good.slice();
      new DataView(b.buffer).setUint32(shbLen + 4, 30, true);
      expectFormatError(() => readCapture(b, 't.cap'), shbLen + 4, /multiple of 4/);
      new DataView(b.buffer).setUint32(shbLen + 4, 8, true);
      expectFormatError(() => readCapture(b, 't.cap'), shbLen + 4, /at least 12/);
      const t = good.slice();
      new DataView(t.buffer).setUint32(shbLen - 4, shbLen + 4, true);
      expectFormatError(() => readCapture(t, 't.cap'), shbLen - 4, /trailing block length/);
    });
    it('packet on an undeclared interface, option past its block, captured length past its block', () => {
      const file = (...blocks: number[][]): Uint8Array => Uint8Array.from(blocks.flat());
      const s = shb(true);
      const i = idb(true);
      expectFormatError(() => readCapture(file(s, i, epb(true, 1, 0n, f1)), 't.cap'), s.length + i.length + 8, /interface 1.*declares 1/);
      const badOpt = block(true, 1, (b) => b.u16(1).u16(0).u32(0).u16(2).u16(200).u32(0));
      expectFormatError(() => readCapture(file(s, badOpt), 't.cap'), s.length + 16, /option 2 of 200 bytes/);
      const badCap = block(true, 6, (b) => b.u32(0).u32(0).u32(0).u32(500).u32(500).raw(f1));
      expectFormatError(() => readCapture(file(s, i, badCap), 't.cap'), s.length + i.length + 20, /captured length 500/);
      const notEth = idb(true, () => {}, 105);
      expectFormatError(() => readCapture(file(s, notEth), 't.cap'), s.length + 8, /link type 105/);
      expectFormatError(() => readCapture(file(i), 't.cap'), 0, /not a pcap or pcapng/);
    });
  });
});

describe('classic pcap', () => {
  it('round-trips with microsecond and nanosecond magic; the port comes from the option', () => {
    const noComments = recs.map(({ comment: _c, ...r }) => r);
    const ns = writePcap(recs, { nanos: true });
    expect(detectCaptureFormat(ns)).toBe('pcap');
    expect(readCapture(ns, 'x', { port: 9 })).toEqual(noComments.map((r) => ({ ...r, port: 9 })));
    const us = writePcap(recs);
    expect(readCapture(us, 'x')).toEqual(noComments.map((r) => ({ ...r, port: 0, timeNs: (r.timeNs / 1000n) * 1000n })));
  });

  it('reads big-endian files of both resolutions', () => {
    for (const [magic, frac, want] of [[0xa1b2c3d4, 250_000, 7_250_000_000n], [0xa1b23c4d, 250_000, 7_000_250_000n]] as const) {
      const b = new Bytes(false).u32(magic).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(1)
        .u32(7).u32(frac).u32(f1.length).u32(f1.length + 4).raw(f1).bytes;
      const r = readCapture(b, 't.cap', { port: 2 });
      expect(r).toEqual([{ timeNs: want, port: 2, data: f1, origLen: f1.length + 4 }]);
    }
  });

  describe('corrupt files give CaptureFormatError with file and offset', () => {
    const good = writePcap(recs);
    it('truncated header, record header, record data', () => {
      expectFormatError(() => readCapture(good.slice(0, 10), 't.cap'), 0, /file header truncated/);
      expectFormatError(() => readCapture(good.slice(0, 24 + 9), 't.cap'), 24, /record header #1 truncated/);
      expectFormatError(() => readCapture(good.slice(0, 24 + 16 + 5), 't.cap'), 40, /record #1 data truncated/);
    });
    it('oversized record, sub-second overflow, wrong link type, wrong version', () => {
      const b = good.slice();
      new DataView(b.buffer).setUint32(24 + 8, 300000, true);
      expectFormatError(() => readCapture(b, 't.cap'), 32, /captured length 300000/);
      const s = good.slice();
      new DataView(s.buffer).setUint32(24 + 4, 1_000_000, true);
      expectFormatError(() => readCapture(s, 't.cap'), 28, /sub-second/);
      const l = good.slice();
      l[20] = 101;
      expectFormatError(() => readCapture(l, 't.cap'), 20, /link type 101/);
      const v = good.slice();
      v[4] = 3;
      expectFormatError(() => readCapture(v, 't.cap'), 4, /version 3/);
    });
  });
});

describe('readCaptureFile', () => {
  it('reads a file and names it in errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctoffload-cap-'));
    const p = join(dir, 'a.pcapng');
    writeFileSync(p, writePcapng(recs));
    expect((await readCaptureFile(p)).length).toBe(3);
    const bad = join(dir, 'bad.pcap');
    writeFileSync(bad, writePcap(recs).slice(0, 50));
    await expect(readCaptureFile(bad)).rejects.toMatchObject({ code: 'CTO_CAPTURE_FORMAT', file: bad, offset: 40 });
  });
});
