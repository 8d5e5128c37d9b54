/**
 * The record shared by the pcap and pcapng readers and writers, and a bounds-checked reader
 * whose every failure is a CaptureFormatError naming the file and byte offset.
 */
import { CaptureFormatError } from '../errors.js';

/** One captured frame. `port` is the switch port it was seen on (pcapng interface, or an option for pcap). */
export interface CaptureRecord {
  /** Capture time in nanoseconds since the Unix epoch (pcap/pcapng timestamps scaled to ns). */
  timeNs: bigint;
  port: number;
  /** The captured bytes (may be shorter than origLen when the capture had a snap length). */
  data: Uint8Array;
  /** Length of the frame on the wire. */
  origLen: number;
  comment?: string;
}

export const LINKTYPE_ETHERNET = 1;

/** Little/big-endian reads over a file image; `need` throws a CaptureFormatError on a short file. */
export class Cursor {
  private readonly dv: DataView;
  le = true;
  constructor(
    readonly buf: Uint8Array,
    readonly file: string,
  ) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  fail(msg: string, offset: number): never {
    throw new CaptureFormatError(msg, this.file, offset);
  }
  need(off: number, n: number, what: string): void {
    if (off + n > this.buf.length) this.fail(`${what} truncated: needs ${n} bytes, ${Math.max(0, this.buf.length - off)} left`, off);
  }
  u16(off: number): number {
    return this.dv.getUint16(off, this.le);
  }
  u32(off: number): number {
    return this.dv.getUint32(off, this.le);
  }
}

/** Little-endian (default) growable writer for the capture writers. */
export class Sink {
  private chunks: Uint8Array[] = [];
  length = 0;
  u8s(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u16(v: number): void {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, true);
    this.u8s(b);
  }
  u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    this.u8s(b);
  }
  pad4(): void {
    const r = this.length % 4;
    if (r) this.u8s(new Uint8Array(4 - r));
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}
