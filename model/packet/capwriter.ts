/**
 * The one capture encoder: classic pcap or pcapng, written record by record into a reused
 * byte buffer that the caller drains (`take`) to a file or stream as it likes, so a capture of
 * any length is written in constant memory. The whole-file writers (`writePcap`,
 * `writePcapng`) are this encoder run over an array.
 *
 * - pcap: little-endian, microsecond (default; the timestamp is truncated) or nanosecond magic,
 *   LINKTYPE_ETHERNET. Ports and comments are not representable and are dropped.
 * - pcapng: little-endian, one section, one Interface Description Block per port written when
 *   the port first appears (named `port<N>`, nanosecond if_tsresol), one Enhanced Packet Block
 *   per record with its comment.
 */
import { PacketBuildError } from '../errors.js';
import { type CaptureRecord, LINKTYPE_ETHERNET } from './caprecord.js';
import {
  BT_EPB,
  BT_IDB,
  BT_SHB,
  BYTE_ORDER_MAGIC,
  type CaptureFormat,
  IF_NAME,
  IF_TSRESOL,
  OPT_COMMENT,
  OPT_ENDOFOPT,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  PCAP_MAX_RECORD,
} from './capreader.js';

export interface CaptureWriterOptions {
  /** pcap: nanosecond timestamps (magic 0xa1b23c4d); default microseconds. */
  nanos?: boolean;
  /** pcap: snaplen of the file header (default PCAP_MAX_RECORD). */
  snaplen?: number;
  /** pcapng: section comment (SHB opt_comment). */
  comment?: string;
  /** pcapng: shb_userappl (default "ctoffload"). */
  application?: string;
}

/** What the encoder needs of a record: time as seconds + nanoseconds, port, bytes. */
export interface WritableRecord {
  sec: number;
  nsec: number;
  port: number;
  data: Uint8Array;
  origLen: number;
  comment?: string | undefined;
}

const enc = new TextEncoder();
const TWO32 = 4294967296;

export class CaptureWriter {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  private len = 0;
  private count = 0;
  private readonly ifIndex = new Map<number, number>();

  constructor(
    readonly format: CaptureFormat,
    private readonly opts: CaptureWriterOptions = {},
  ) {
    if (format === 'pcap') {
      this.u32(opts.nanos ? PCAP_MAGIC_NS : PCAP_MAGIC_US);
      this.u16(2);
      this.u16(4);
      this.u32(0); // thiszone
      this.u32(0); // sigfigs
      this.u32(opts.snaplen ?? PCAP_MAX_RECORD);
      this.u32(LINKTYPE_ETHERNET);
    } else {
      const start = this.blockStart(BT_SHB);
      this.u32(BYTE_ORDER_MAGIC);
      this.u16(1);
      this.u16(0);
      this.u32(0xffffffff); // section length -1: not specified
      this.u32(0xffffffff);
      if (opts.comment !== undefined) this.option(OPT_COMMENT, enc.encode(opts.comment));
      this.option(4 /* shb_userappl */, enc.encode(opts.application ?? 'ctoffload'));
      this.option(OPT_ENDOFOPT, new Uint8Array(0));
      this.blockEnd(start);
    }
  }

  /** Bytes encoded and not taken yet. */
  get pending(): number {
    return this.len;
  }

  /** Records written so far. */
  get records(): number {
    return this.count;
  }

  /**
   * The bytes encoded since the last call, as a fresh array (the internal buffer is reused):
   * hand it to a stream and keep writing.
   */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    return out;
  }

  /** A record with a bigint timestamp (CaptureRecord). */
  writeRecord(r: CaptureRecord): void {
    if (r.timeNs < 0n) throw new PacketBuildError(`records[${this.count}].timeNs: ${r.timeNs} is negative`);
    this.write({ sec: Number(r.timeNs / 1_000_000_000n), nsec: Number(r.timeNs % 1_000_000_000n), port: r.port, data: r.data, origLen: r.origLen, comment: r.comment });
  }

  write(r: WritableRecord): void {
    const i = this.count;
    if (!(r.sec >= 0) || !Number.isInteger(r.sec) || !Number.isInteger(r.nsec) || r.nsec < 0 || r.nsec >= 1e9) {
      throw new PacketBuildError(`records[${i}]: time ${r.sec} s + ${r.nsec} ns is not a non-negative timestamp`);
    }
    if (this.format === 'pcap') {
      if (r.sec >= TWO32) throw new PacketBuildError(`records[${i}].timeNs: ${BigInt(r.sec) * 1_000_000_000n + BigInt(r.nsec)} does not fit a 32-bit seconds field`);
      if (r.data.length > PCAP_MAX_RECORD) throw new PacketBuildError(`records[${i}].data: ${r.data.length} bytes exceed ${PCAP_MAX_RECORD}`);
      this.reserve(16 + r.data.length);
      this.u32(r.sec);
      this.u32(this.opts.nanos ? r.nsec : Math.floor(r.nsec / 1000));
      this.u32(r.data.length);
      this.u32(r.origLen);
      this.bytes(r.data);
    } else {
      if (!Number.isInteger(r.port) || r.port < 0 || r.port > 0xffffffff) throw new PacketBuildError(`records[${i}].port: ${r.port} is not a port number`);
      let ifId = this.ifIndex.get(r.port);
      if (ifId === undefined) {
        ifId = this.ifIndex.size;
        this.ifIndex.set(r.port, ifId);
        const start = this.blockStart(BT_IDB);
        this.u16(LINKTYPE_ETHERNET);
        this.u16(0);
        this.u32(0); // snaplen 0: no limit
        this.option(IF_NAME, enc.encode(`port${r.port}`));
        this.option(IF_TSRESOL, Uint8Array.of(9));
        this.option(OPT_ENDOFOPT, new Uint8Array(0));
        this.blockEnd(start);
      }
      const comment = r.comment === undefined ? null : enc.encode(r.comment);
      if (comment && comment.length > 0xffff) throw new PacketBuildError(`pcapng option ${OPT_COMMENT}: ${comment.length} bytes exceed 65535`);
      this.reserve(48 + r.data.length + (comment ? comment.length + 12 : 0));
      const start = this.blockStart(BT_EPB);
      this.u32(ifId);
      this.timestamp64(r.sec, r.nsec, i);
      this.u32(r.data.length);
      this.u32(r.origLen);
      this.bytes(r.data);
      this.pad4();
      if (comment) {
        this.option(OPT_COMMENT, comment);
        this.option(OPT_ENDOFOPT, new Uint8Array(0));
      }
      this.blockEnd(start);
    }
    this.count++;
  }

  /** sec·1e9 + nsec as two 32-bit words, exactly, with numbers (every partial product < 2^53). */
  private timestamp64(sec: number, nsec: number, i: number): void {
    if (sec >= 2 ** 35) {
      const v = BigInt(sec) * 1_000_000_000n + BigInt(nsec);
      if (v >= 2n ** 64n) throw new PacketBuildError(`records[${i}].timeNs: ${v} does not fit 64 bits`);
      this.u32(Number(v >> 32n));
      this.u32(Number(v & 0xffffffffn));
      return;
    }
    const sHi = Math.floor(sec / 65536);
    const sLo = sec - sHi * 65536;
    const x = sHi * 1e9; // < 2^49
    const xh = Math.floor(x / 65536);
    const xl = x - xh * 65536;
    const y = xl * 65536 + sLo * 1e9 + nsec; // < 2^47
    const carry = Math.floor(y / TWO32);
    this.u32(xh + carry);
    this.u32(y - carry * TWO32);
  }

  // ---- byte plumbing (little-endian)

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  private u16(v: number): void {
    this.reserve(2);
    this.dv.setUint16(this.len, v, true);
    this.len += 2;
  }
  private u32(v: number): void {
    this.reserve(4);
    this.dv.setUint32(this.len, v >>> 0, true);
    this.len += 4;
  }
  private bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  private pad4(): void {
    while (this.len % 4) {
      this.reserve(1);
      this.buf[this.len++] = 0;
    }
  }
  private option(code: number, value: Uint8Array): void {
    if (value.length > 0xffff) throw new PacketBuildError(`pcapng option ${code}: ${value.length} bytes exceed 65535`);
    this.u16(code);
    this.u16(value.length);
    this.bytes(value);
    this.pad4();
  }
  /** Type and a length placeholder; returns the block's start. (Blocks start 4-aligned.) */
  private blockStart(type: number): number {
    const start = this.len;
    this.u32(type);
    this.u32(0);
    return start;
  }
  private blockEnd(start: number): void {
    this.pad4();
    const total = this.len - start + 4;
    this.dv.setUint32(start + 4, total, true);
    this.u32(total);
  }
}

/** Encodes a whole capture at once. */
export function encodeCapture(format: CaptureFormat, records: readonly CaptureRecord[], opts: CaptureWriterOptions = {}): Uint8Array {
  const w = new CaptureWriter(format, opts);
  for (const r of records) w.writeRecord(r);
  return w.take();
}
