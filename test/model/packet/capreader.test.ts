import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CaptureFormatError } from '../../../model/errors.js';
import { buildFrame } from '../../../model/packet/build.js';
import {
  type CaptureRecord,
  CaptureParser,
  CaptureReader,
  CaptureWriter,
  ChunkSource,
  FdSource,
  REC_END,
  REC_NEED_MORE,
  REC_READY,
  encodeCapture,
  readCapture,
  recordTimeNs,
  toCaptureRecord,
} from '../../../model/packet/capture.js';

const dir = mkdtempSync(join(tmpdir(), 'cto-capreader-'));
const f1 = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 }, payload: 'abc' });
const f2 = buildFrame({ ip: { src: '2001:db8::1', dst: '2001:db8::2' }, tcp: { sport: 3, dport: 4, flags: 'S' } });
const recs: CaptureRecord[] = [
  { timeNs: 1_700_000_000_123_456_789n, port: 3, data: f1, origLen: f1.length, comment: 'first → ü' },
  { timeNs: 1_700_000_001_000_000_001n, port: 0, data: f2.slice(0, 30), origLen: f2.length },
  { timeNs: 1_700_000_002_000_000_000n, port: 3, data: f2, origLen: f2.length, comment: '' },
];

/** A byte stream in chunks of `n` bytes. */
async function* chunks(b: Uint8Array, n: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += n) yield b.subarray(i, Math.min(b.length, i + n));
}

async function readAll(r: CaptureReader): Promise<CaptureRecord[]> {
  const out: CaptureRecord[] = [];
  for await (const x of r.records()) out.push(x);
  return out;
}

/** `n` small UDP frames (port and payload vary), one capture record each, produced lazily. */
function* generated(n: number): Generator<{ sec: number; nsec: number; port: number; data: Uint8Array; origLen: number }> {
  const base = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1000, dport: 53, checksum: 'none' }, payload: 'xxxxxxxx' });
  for (let i = 0; i < n; i++) {
    const f = base.slice();
    f[34] = (i >>> 8) & 255; // UDP source port: the record's number
    f[35] = i & 255;
    yield { sec: 1_700_000_000 + Math.floor(i / 1000), nsec: (i % 1000) * 1_000_000, port: 1 + (i % 3), data: f, origLen: f.length };
  }
}

describe('CaptureParser / CaptureReader (streaming)', () => {
  for (const format of ['pcap', 'pcapng'] as const) {
    it(`${format}: records of one length share one reused view (no object per packet), with each record's bytes`, async () => {
      const frames = [f1, f2, f1.map((b, i) => (i > 40 ? b ^ 0xff : b)), f2.map((b, i) => (i > 60 ? b ^ 0x5a : b)), f1];
      const image = encodeCapture(format, frames.map((data, i) => ({ timeNs: BigInt(i) * 1000n, port: 1, data, origLen: data.length })), { nanos: true });
      const r = new CaptureReader(new ChunkSource(chunks(image, 40)), 'c');
      await r.start();
      const seen: Uint8Array[] = [];
      for (;;) {
        const st = r.nextSync();
        if (st === REC_NEED_MORE) {
          await r.fill();
          continue;
        }
        if (st === REC_END) break;
        expect(Buffer.from(r.rec.data)).toEqual(Buffer.from(frames[seen.length]!));
        seen.push(r.rec.data);
      }
      expect(seen).toHaveLength(5);
      expect(seen[2]).toBe(seen[0]);
      expect(seen[4]).toBe(seen[0]);
      expect(seen[3]).toBe(seen[1]);
      // so a record's bytes last until the next record: the last one's are the last frame's
      expect(Buffer.from(seen[0]!)).toEqual(Buffer.from(f1));
    });
  }

  for (const format of ['pcap', 'pcapng'] as const) {
    it(`${format}: any chunking gives the records of the whole-file reader`, async () => {
      const image = encodeCapture(format, recs, { nanos: true });
      const whole = readCapture(image, 'x', { port: 7 });
      for (const n of [1, 2, 3, 5, 7, 13, 64, image.length]) {
        const r = new CaptureReader(new ChunkSource(chunks(image, n)), 'x', { port: 7 });
        expect(await readAll(r)).toEqual(whole);
      }
    });

    it(`${format}: a truncated stream fails at the same offset as the whole-file reader`, async () => {
      const image = encodeCapture(format, recs, { nanos: true });
      for (const cut of [10, 30, 60, image.length - 3]) {
        const part = image.slice(0, cut);
        let expected: CaptureFormatError | null = null;
        try {
          readCapture(part, 't.cap');
        } catch (e) {
          expected = e as CaptureFormatError;
        }
        expect(expected).toBeInstanceOf(CaptureFormatError);
        const r = new CaptureReader(new ChunkSource(chunks(part, 4)), 't.cap');
        await expect(readAll(r)).rejects.toMatchObject({ code: 'CTO_CAPTURE_FORMAT', offset: expected!.offset, message: expected!.message });
      }
    });
  }

  it('reads 10^5 records from a stream with a small highWaterMark in a window that does not grow', async () => {
    const N = 100_000;
    // The capture is produced while it is read: the stream holds a few 256-byte chunks at a time.
    async function* produce(): AsyncGenerator<Uint8Array> {
      const w = new CaptureWriter('pcapng');
      for (const p of generated(N)) {
        w.write(p);
        if (w.pending >= 4096) {
          const b = w.take();
          for (let i = 0; i < b.length; i += 256) yield b.subarray(i, i + 256);
        }
      }
      yield w.take();
    }
    const stream = Readable.from(produce(), { highWaterMark: 2 });
    const r = new CaptureReader(new ChunkSource(stream), 'pipe');
    await r.start();
    expect(r.format).toBe('pcapng');
    expect(r.hasPorts).toBe(true);
    const window = r.parser.windowBytes;
    let n = 0;
    let bad = 0;
    for (;;) {
      const s = r.nextSync();
      if (s === REC_NEED_MORE) {
        await r.fill();
        continue;
      }
      if (s === REC_END) break;
      const x = r.rec;
      if (((x.data[34]! << 8) | x.data[35]!) !== (n & 0xffff) || x.port !== 1 + (n % 3) || x.index !== n + 1 || x.nsec !== (n % 1000) * 1_000_000) bad++;
      n++;
    }
    expect(n).toBe(N);
    expect(bad).toBe(0);
    expect(r.parser.windowBytes).toBe(window); // O(1): the window never had to grow
  }, 60_000);

  it('FdSource reads a FIFO while another process writes it', async () => {
    const fifo = join(dir, 'cap.fifo');
    execFileSync('mkfifo', [fifo]);
    const image = encodeCapture('pcap', recs, { nanos: true });
    const writer = createWriteStream(fifo);
    const reading = CaptureReader.open(fifo, { port: 4 });
    writer.end(image);
    const r = await reading;
    expect(r.hasPorts).toBe(false);
    expect(await readAll(r)).toEqual(readCapture(image, fifo, { port: 4 }));
    await r.close();
  });

  it('a regular file is read through its descriptor; errors name it', async () => {
    const p = join(dir, 'a.pcapng');
    writeFileSync(p, encodeCapture('pcapng', recs));
    const r = await CaptureReader.open(p);
    expect(r.format).toBe('pcapng');
    expect((await readAll(r)).map((x) => x.port)).toEqual([3, 0, 3]);
    await r.close();
    await expect(CaptureReader.open(join(dir, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
    const junk = join(dir, 'junk');
    writeFileSync(junk, 'hello');
    await expect(CaptureReader.open(junk)).rejects.toMatchObject({ code: 'CTO_CAPTURE_FORMAT', file: junk, offset: 0 });
    const src = FdSource.fromFd(0);
    await src.close(); // not owned: stdin stays open
  });

  it('push() (a file still being written) keeps a record cut short for later', () => {
    const image = encodeCapture('pcap', recs);
    const p = new CaptureParser('tail');
    const got: CaptureRecord[] = [];
    for (let i = 0; i < image.length; i += 11) {
      p.push(image.subarray(i, i + 11));
      for (let s = p.next(); s === REC_READY; s = p.next()) got.push(toCaptureRecord(p.rec));
    }
    expect(got).toEqual(readCapture(image, 'tail'));
  });
});

describe('CaptureWriter (streaming)', () => {
  it('takes in between records change nothing: the bytes equal the whole-file encoding', () => {
    for (const format of ['pcap', 'pcapng'] as const) {
      const w = new CaptureWriter(format, { nanos: true });
      const parts: Uint8Array[] = [];
      for (const r of recs) {
        w.writeRecord(r);
        parts.push(w.take());
      }
      expect(Buffer.concat(parts)).toEqual(Buffer.from(encodeCapture(format, recs, { nanos: true })));
      expect(w.records).toBe(recs.length);
    }
  });

  it('timestamps survive write + read exactly (64-bit pcapng nanoseconds, numbers only)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (ns) => {
        const r: CaptureRecord = { timeNs: ns, port: 1, data: f1, origLen: f1.length };
        const back = readCapture(encodeCapture('pcapng', [r]), 'p')[0]!;
        expect(back.timeNs).toBe(ns);
      }),
      { numRuns: 300 },
    );
  });

  it('pcapng interface resolutions: numbers give the bigint formula ⌊ts·10^9 / units⌋ + offset', () => {
    // A hand-made section: one IDB with if_tsresol r (and an if_tsoffset), one EPB with ts.
    const make = (r: number, ts: bigint, offset: bigint): Uint8Array => {
      const b: number[] = [];
      const u32 = (v: number): void => void b.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
      const u16 = (v: number): void => void b.push(v & 255, v >>> 8);
      // SHB
      u32(0x0a0d0d0a); u32(28); u32(0x1a2b3c4d); u16(1); u16(0); u32(0xffffffff); u32(0xffffffff); u32(28);
      // IDB: linktype, reserved, snaplen, if_tsresol (1 byte, padded), if_tsoffset (8), end
      u32(1); u32(44); u16(1); u16(0); u32(0);
      u16(9); u16(1); b.push(r, 0, 0, 0);
      u16(14); u16(8); u32(Number(BigInt.asUintN(64, offset) & 0xffffffffn)); u32(Number(BigInt.asUintN(64, offset) >> 32n));
      u16(0); u16(0);
      u32(44);
      // EPB with a 4-byte frame
      u32(6); u32(32 + 4); u32(0); u32(Number(ts >> 32n)); u32(Number(ts & 0xffffffffn)); u32(4); u32(4); b.push(1, 2, 3, 4); u32(36);
      return Uint8Array.from(b);
    };
    fc.assert(
      fc.property(
        fc.constantFrom(0, 3, 6, 9, 10, 12, 0x80 | 10, 0x80 | 20, 0x80 | 30, 0x80 | 40),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }),
        (r, ts, offset) => {
          const ups = r & 0x80 ? 2n ** BigInt(r & 0x7f) : 10n ** BigInt(r);
          if (ts / ups + offset > BigInt(Number.MAX_SAFE_INTEGER)) {
            // Whole-second counts beyond 2^53 are refused, not rounded.
            expect(() => readCapture(make(r, ts, offset), 'p')).toThrow(/out of range/);
            return;
          }
          const rec = readCapture(make(r, ts, offset), 'p')[0]!;
          expect(rec.timeNs).toBe((ts * 1_000_000_000n) / ups + offset * 1_000_000_000n);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('recordTimeNs joins seconds and nanoseconds', () => {
    expect(recordTimeNs({ sec: 1_700_000_000, nsec: 42 })).toBe(1_700_000_000_000_000_042n);
  });
});
