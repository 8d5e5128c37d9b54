/**
 * The one capture parser: classic pcap and pcapng, read incrementally through a fixed window.
 *
 * `CaptureParser` holds a window of the input (the bytes not consumed yet) and decodes one
 * record at a time into a reused `StreamRecord` whose `data` is a reused view of the frame
 * (copied in front of the window): no object per packet, and memory bounded by the window (the largest record plus one read),
 * never by the capture's length. The window is filled either all at once (`readCapture` on a
 * file image) or from a `ByteSource`: a file descriptor (`FdSource`: regular files of any size
 * incl. ≥ 2 GiB, FIFOs, stdin) or any stream of chunks (`ChunkSource`: a Node Readable).
 *
 * Formats (the rules of the whole-file readers before them, byte offsets in errors are offsets
 * in the file):
 * - classic libpcap (tcpdump's pcap-savefile(5); draft-ietf-opsawg-pcap): both byte orders,
 *   microsecond (0xa1b2c3d4) and nanosecond (0xa1b23c4d) magic, LINKTYPE_ETHERNET only. The
 *   format has no interface field: every record gets the port of the options (`hasPorts` is
 *   false, so a caller that needs real ports can say so).
 * - pcapng (draft-ietf-opsawg-pcapng): Section Header Blocks in either byte order, Interface
 *   Description Blocks with if_name / if_tsresol / if_tsoffset, Enhanced and Simple Packet
 *   Blocks (and the obsolete Packet Block), opt_comment on packets. Other blocks are skipped,
 *   as the draft asks of readers. The interface of a packet gives its switch port: an if_name
 *   like "port3" or "p3" names port 3; otherwise the interface index within its section is the
 *   port.
 *
 * Timestamps are kept as whole seconds + nanoseconds (two numbers, exact for any pcap and for
 * pcapng resolutions up to 2^36 units per second; beyond that a bigint path keeps them exact),
 * so the replay loop never builds a bigint per packet.
 */
import { read as fsRead, open as fsOpen, close as fsClose, fstatSync } from 'node:fs';
import { CaptureFormatError } from '../errors.js';
import { type CaptureRecord, LINKTYPE_ETHERNET } from './caprecord.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Largest record we accept: tcpdump's MAXIMUM_SNAPLEN (262144); a larger length means a corrupt file. */
export const PCAP_MAX_RECORD = 262144;
/** Largest pcapng block we accept (a packet of PCAP_MAX_RECORD bytes with generous options). */
export const PCAPNG_MAX_BLOCK = 16 * 1024 * 1024;

export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 0x00000001;
export const BT_PB = 0x00000002; // obsolete Packet Block
export const BT_SPB = 0x00000003;
export const BT_EPB = 0x00000006;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export const OPT_ENDOFOPT = 0;
export const OPT_COMMENT = 1;
export const IF_NAME = 2;
export const IF_TSRESOL = 9;
export const IF_TSOFFSET = 14;

export type CaptureFormat = 'pcap' | 'pcapng';

export function isPcap(b: Uint8Array): boolean {
  if (b.length < 4) return false;
  const be = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  const le = ((b[3]! << 24) | (b[2]! << 16) | (b[1]! << 8) | b[0]!) >>> 0;
  return [be, le].some((m) => m === PCAP_MAGIC_US || m === PCAP_MAGIC_NS);
}

export function isPcapng(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x0a && b[1] === 0x0d && b[2] === 0x0d && b[3] === 0x0a;
}

export function detectCaptureFormat(bytes: Uint8Array): CaptureFormat | null {
  if (isPcapng(bytes)) return 'pcapng';
  if (isPcap(bytes)) return 'pcap';
  return null;
}

/** The port an interface name denotes ("port3", "p3"), or -1. */
export function portFromIfName(name: string): number {
  const m = /^(?:port|p)(\d{1,9})$/i.exec(name.trim());
  return m ? Number(m[1]) : -1;
}

/**
 * The record under the parser: overwritten by every `next()`. `data` is valid until the next
 * record (the parser reuses its memory); copy it to keep it.
 */
export interface StreamRecord {
  /** 1-based record number in the capture. */
  index: number;
  /** Capture time: whole seconds since the epoch (may be negative with a pcapng if_tsoffset)… */
  sec: number;
  /** …plus nanoseconds, 0 ≤ nsec < 1e9. */
  nsec: number;
  /** Switch port (pcapng interface; the options' port for classic pcap). */
  port: number;
  data: Uint8Array;
  /** Length of the frame on the wire. */
  origLen: number;
  /** opt_comment(s) of a pcapng packet, joined by newlines; undefined when none. */
  comment: string | undefined;
  /** File offset of the record (its pcap record header or pcapng block). */
  offset: number;
}

/** A bigint timestamp (ns) from a record's seconds and nanoseconds. */
export function recordTimeNs(r: { sec: number; nsec: number }): bigint {
  return BigInt(r.sec) * 1_000_000_000n + BigInt(r.nsec);
}

/** A self-contained CaptureRecord (copied bytes) from the record under the parser. */
export function toCaptureRecord(r: StreamRecord): CaptureRecord {
  const out: CaptureRecord = { timeNs: recordTimeNs(r), port: r.port, data: r.data.slice(), origLen: r.origLen };
  if (r.comment !== undefined) out.comment = r.comment;
  return out;
}

export interface CaptureReadOptions {
  /** Port of every record of a classic pcap (which has no interface id). Default 0. */
  port?: number;
}

/** Bytes from somewhere: fills buf[off, off+len) and resolves to the count, 0 at the end. */
export interface ByteSource {
  read(buf: Uint8Array, off: number, len: number): Promise<number>;
  close(): Promise<void>;
}

interface Iface {
  port: number;
  /** Timestamp units per second (number when ≤ 2^36, else only `upsBig`). */
  ups: number;
  upsBig: bigint;
  offsetSec: number;
  snaplen: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const TWO32 = 4294967296;
const SMALL_UPS = 2 ** 36;

/** Result of `CaptureParser.next()`. */
export const REC_READY = 1;
export const REC_NEED_MORE = 0;
export const REC_END = -1;

/** Initial window; it grows only for a record larger than the window (≤ PCAPNG_MAX_BLOCK). */
const WINDOW = 1 << 20;
/**
 * Bytes in front of the window where a record's frame is copied (records up to this size):
 * `rec.data` is then one of a few reused views of that area, so a packet costs a memmove of
 * its bytes instead of a new view object (about 0.2 µs each, and the garbage it makes:
 * profiled as the capture reader's largest cost in replay).
 */
const SCRATCH = 1 << 16;
/** Reused views of the scratch area, by frame length modulo this (a direct-mapped cache). */
const VIEW_SLOTS = 256;
const NO_VIEW = new Uint8Array(0);

/** `what` with its `%` replaced by k (error messages are built only when they are thrown). */
function whatText(what: string, k: number): string {
  return what.replace('%', String(k));
}

export class CaptureParser {
  /** The window: buf[pos, end) are the unconsumed bytes; buf[0] is file offset `base`. */
  private buf: Uint8Array;
  private dv: DataView;
  /** The window's whole memory, SCRATCH bytes before buf[0]; null for a file image (views then). */
  private mem: Uint8Array | null = null;
  private readonly views: Uint8Array[] = new Array<Uint8Array>(VIEW_SLOTS).fill(NO_VIEW);
  private pos = 0;
  private end = 0;
  private base = 0;
  private eof = false;
  private le = true;
  private fmt: CaptureFormat | null = null;
  private started = false;
  // pcap
  private nanos = false;
  private readonly pcapPort: number;
  // pcapng
  private ifaces: Iface[] = [];
  private lastSec = 0;
  private lastNsec = 0;

  readonly rec: StreamRecord = { index: 0, sec: 0, nsec: 0, port: 0, data: new Uint8Array(0), origLen: 0, comment: undefined, offset: 0 };

  constructor(
    /** Names the input in errors. */
    readonly file: string,
    opts: CaptureReadOptions = {},
    initial?: Uint8Array,
  ) {
    this.pcapPort = opts.port ?? 0;
    this.buf = initial ?? this.allocWindow(WINDOW);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    if (initial) {
      this.end = initial.length;
      this.eof = true;
    }
  }

  /** The detected format (null before the first bytes were seen). */
  get format(): CaptureFormat | null {
    return this.fmt;
  }

  /** Whether records carry their own port (pcapng) rather than the options' (classic pcap). */
  get hasPorts(): boolean {
    return this.fmt === 'pcapng';
  }

  /** Window capacity in bytes (tests check it stays bounded). */
  get windowBytes(): number {
    return this.buf.length;
  }

  /**
   * Makes room and reads once from `src` into the window. Resolves to false at the end of the
   * input (then `next()` finishes or reports a truncated record).
   */
  async fill(src: ByteSource): Promise<boolean> {
    if (this.eof) return false;
    this.compact(1);
    const n = await src.read(this.buf, this.end, this.buf.length - this.end);
    if (n === 0) {
      this.eof = true;
      return false;
    }
    this.end += n;
    return true;
  }

  /**
   * Appends bytes that arrived by other means (a file another process is still writing, read
   * synchronously): a record cut short stays pending until the rest is pushed.
   */
  push(chunk: Uint8Array): void {
    this.compact(chunk.length);
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** Drops the consumed bytes and makes room for at least `room` more. */
  private compact(room: number): void {
    if (this.pos > 0) {
      // Keep only the unconsumed bytes (less than one record): O(1) memory.
      if (this.end > this.pos) this.buf.copyWithin(0, this.pos, this.end);
      this.base += this.pos;
      this.end -= this.pos;
      this.pos = 0;
    }
    if (this.buf.length - this.end < room) {
      let cap = this.buf.length * 2;
      while (cap - this.end < room) cap *= 2;
      const bigger = this.allocWindow(cap);
      bigger.set(this.buf.subarray(0, this.end));
      this.buf = bigger;
      this.dv = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
    }
  }

  /** A window of `cap` bytes with the scratch area in front (the old one's views are dropped). */
  private allocWindow(cap: number): Uint8Array {
    const mem = new Uint8Array(SCRATCH + cap);
    this.mem = mem;
    this.views.fill(NO_VIEW);
    return mem.subarray(SCRATCH);
  }

  /**
   * The frame at window offset `off`, `len` bytes: copied to the scratch area and seen through a
   * reused view (valid until the next record), or a view into the window when it is larger
   * than the scratch area or the parser reads a file image.
   */
  private frame(off: number, len: number): Uint8Array {
    const mem = this.mem;
    if (mem === null || len > SCRATCH) return this.buf.subarray(off, off + len);
    mem.copyWithin(0, SCRATCH + off, SCRATCH + off + len);
    const slot = len & (VIEW_SLOTS - 1);
    let v = this.views[slot]!;
    if (v.length !== len) this.views[slot] = v = mem.subarray(0, len);
    return v;
  }

  fail(msg: string, fileOffset: number): never {
    throw new CaptureFormatError(msg, this.file, fileOffset);
  }

  private u16(off: number): number {
    return this.dv.getUint16(off, this.le);
  }
  private u32(off: number): number {
    return this.dv.getUint32(off, this.le);
  }

  /**
   * Are n bytes at window offset `off` present? At the end of input, a shortfall is an error
   * naming `what` (built only then: this runs for every record), with `k` filled in.
   */
  private have(off: number, n: number, what: string, k = 0): boolean {
    if (off + n <= this.end) return true;
    if (this.eof) this.fail(`${whatText(what, k)} truncated: needs ${n} bytes, ${Math.max(0, this.end - off)} left`, this.base + off);
    return false;
  }

  /**
   * Decodes the next record into `rec`: REC_READY, REC_NEED_MORE (call `fill` and retry) or
   * REC_END. Throws a CaptureFormatError naming the file and byte offset on malformed input.
   */
  next(): number {
    if (!this.started && !this.header()) return REC_NEED_MORE;
    return this.fmt === 'pcap' ? this.nextPcap() : this.nextPcapng();
  }

  /** Detects the format (and reads a pcap file header): false while more bytes are needed. */
  header(): boolean {
    if (this.started) return true;
    if (this.end - this.pos < 4 && !this.eof) return false;
    const head = this.buf.subarray(this.pos, Math.min(this.end, this.pos + 4));
    const fmt = detectCaptureFormat(head);
    if (!fmt) {
      const h = Array.from(head, (x) => x.toString(16).padStart(2, '0')).join(' ');
      this.fail(`not a pcap or pcapng file (starts with ${h || 'nothing'})`, 0);
    }
    if (fmt === 'pcap') {
      if (!this.have(this.pos, 24, 'pcap file header')) return false;
      this.pcapHeader();
    }
    this.fmt = fmt;
    this.started = true;
    return true;
  }

  // ------------------------------------------------------------------ classic pcap

  private pcapHeader(): void {
    const p = this.pos;
    this.le = false;
    let magic = this.u32(p);
    if (magic !== PCAP_MAGIC_US && magic !== PCAP_MAGIC_NS) {
      this.le = true;
      magic = this.u32(p);
    }
    this.nanos = magic === PCAP_MAGIC_NS;
    const major = this.u16(p + 4);
    if (major !== 2) this.fail(`unsupported pcap version ${major}.${this.u16(p + 6)}`, this.base + p + 4);
    // The upper bits of the link-type word may carry FCS information (pcap-savefile(5)); the low 16 bits are the type.
    const linktype = this.u32(p + 20) & 0xffff;
    if (linktype !== LINKTYPE_ETHERNET) this.fail(`link type ${linktype} is not LINKTYPE_ETHERNET (1)`, this.base + p + 20);
    this.pos += 24;
  }

  private nextPcap(): number {
    const off = this.pos;
    if (off === this.end && this.eof) return REC_END;
    const n = this.rec.index + 1;
    if (!this.have(off, 16, 'pcap record header #%', n)) return REC_NEED_MORE;
    const frac = this.u32(off + 4);
    const incl = this.u32(off + 8);
    if (incl > PCAP_MAX_RECORD) this.fail(`record #${n}: captured length ${incl} exceeds ${PCAP_MAX_RECORD}`, this.base + off + 8);
    if (frac >= (this.nanos ? 1e9 : 1e6)) this.fail(`record #${n}: sub-second field ${frac} out of range`, this.base + off + 4);
    if (!this.have(off + 16, incl, 'pcap record #% data', n)) return REC_NEED_MORE;
    const r = this.rec;
    r.index = n;
    r.sec = this.u32(off);
    r.nsec = this.nanos ? frac : frac * 1000;
    r.port = this.pcapPort;
    r.data = this.frame(off + 16, incl);
    r.origLen = this.u32(off + 12);
    r.comment = undefined;
    r.offset = this.base + off;
    this.pos = off + 16 + incl;
    return REC_READY;
  }

  // ------------------------------------------------------------------ pcapng

  private nextPcapng(): number {
    for (;;) {
      const off = this.pos;
      if (off === this.end && this.eof) return REC_END;
      if (!this.have(off, 12, 'pcapng block header')) return REC_NEED_MORE;
      const b = this.buf;
      const isShb = b[off] === 0x0a && b[off + 1] === 0x0d && b[off + 2] === 0x0d && b[off + 3] === 0x0a;
      if (isShb) {
        // A new section: its byte-order magic decides how everything up to the next SHB is read.
        if (!this.have(off, 28, 'section header block')) return REC_NEED_MORE;
        this.le = true;
        if (this.u32(off + 8) !== BYTE_ORDER_MAGIC) {
          this.le = false;
          if (this.u32(off + 8) !== BYTE_ORDER_MAGIC) this.fail('section header block: bad byte-order magic', this.base + off + 8);
        }
        const major = this.u16(off + 12);
        if (major !== 1) this.fail(`unsupported pcapng version ${major}.${this.u16(off + 14)}`, this.base + off + 12);
      }
      const type = this.u32(off);
      const total = this.u32(off + 4);
      if (total < 12 || total % 4 !== 0) this.fail(`block length ${total} is not a multiple of 4 of at least 12`, this.base + off + 4);
      if (total > PCAPNG_MAX_BLOCK) this.fail(`block length ${total} exceeds ${PCAPNG_MAX_BLOCK}`, this.base + off + 4);
      if (off + total > this.end) {
        if (this.eof) this.have(off, total, `block of type 0x${type.toString(16)} (${total} bytes)`); // throws
        return REC_NEED_MORE;
      }
      if (this.u32(off + total - 4) !== total) this.fail(`trailing block length ${this.u32(off + total - 4)} differs from the leading ${total}`, this.base + off + total - 4);
      this.pos = off + total;
      if (this.block(type, off, total)) return REC_READY;
    }
  }

  private optionsEach(off: number, end: number, f: (code: number, at: number, len: number) => void): void {
    while (off + 4 <= end) {
      const code = this.u16(off);
      const len = this.u16(off + 2);
      if (code === OPT_ENDOFOPT) return;
      if (off + 4 + len > end) this.fail(`option ${code} of ${len} bytes runs past the end of its block`, this.base + off);
      f(code, off + 4, len);
      off += 4 + ((len + 3) & ~3);
    }
  }

  private need(off: number, body: number, end: number, n: number, what: string): void {
    if (body + n > end) this.fail(`${what}: block body of ${end - body} bytes is shorter than ${n}`, this.base + off);
  }

  /** Handles one complete block at window offset `off`; true when it produced a record. */
  private block(type: number, off: number, total: number): boolean {
    const body = off + 8;
    const end = off + total - 4;
    const b = this.buf;
    switch (type) {
      case BT_SHB:
        this.need(off, body, end, 16, 'section header block');
        this.optionsEach(body + 16, end, () => {});
        this.ifaces = [];
        return false;
      case BT_IDB: {
        this.need(off, body, end, 8, 'interface description block');
        const linktype = this.u16(body);
        if (linktype !== LINKTYPE_ETHERNET) this.fail(`interface ${this.ifaces.length}: link type ${linktype} is not LINKTYPE_ETHERNET (1)`, this.base + body);
        const iface: Iface = { port: this.ifaces.length, ups: 1e6, upsBig: 1_000_000n, offsetSec: 0, snaplen: this.u32(body + 4) };
        this.optionsEach(body + 8, end, (code, at, len) => {
          if (code === IF_NAME) {
            const p = portFromIfName(utf8.decode(b.subarray(at, at + len)));
            if (p >= 0) iface.port = p;
          } else if (code === IF_TSRESOL && len >= 1) {
            const r = b[at]!;
            const exp = BigInt(r & 0x7f);
            // MSB clear: 10^-n seconds; set: 2^-n seconds.
            if ((r & 0x80 ? exp : exp * 4n) > 64n) this.fail(`if_tsresol ${r} out of range`, this.base + at);
            iface.upsBig = r & 0x80 ? 2n ** exp : 10n ** exp;
            iface.ups = iface.upsBig <= BigInt(SMALL_UPS) ? Number(iface.upsBig) : 0;
          } else if (code === IF_TSOFFSET && len >= 8) {
            const hi = this.u32(at + (this.le ? 4 : 0));
            const lo = this.u32(at + (this.le ? 0 : 4));
            iface.offsetSec = Number(BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)));
          }
        });
        this.ifaces.push(iface);
        return false;
      }
      case BT_EPB:
      case BT_PB: {
        this.need(off, body, end, 20, type === BT_EPB ? 'enhanced packet block' : 'packet block');
        const ifId = type === BT_EPB ? this.u32(body) : this.u16(body);
        const iface = this.ifaces[ifId];
        if (!iface) this.fail(`packet on interface ${ifId}, but the section declares ${this.ifaces.length} interfaces`, this.base + body);
        const capLen = this.u32(body + 12);
        const dataOff = body + 20;
        if (dataOff + capLen > end) this.fail(`captured length ${capLen} runs past the end of its block`, this.base + body + 12);
        const r = this.rec;
        r.offset = this.base + off;
        this.setTime(iface, this.u32(body + 4), this.u32(body + 8));
        r.index++;
        r.port = iface.port;
        r.data = this.frame(dataOff, capLen);
        r.origLen = this.u32(body + 16);
        r.offset = this.base + off;
        r.comment = undefined;
        // Options (no closure: this runs once per packet).
        let o = dataOff + ((capLen + 3) & ~3);
        while (o + 4 <= end) {
          const code = this.u16(o);
          const len = this.u16(o + 2);
          if (code === OPT_ENDOFOPT) break;
          if (o + 4 + len > end) this.fail(`option ${code} of ${len} bytes runs past the end of its block`, this.base + o);
          if (code === OPT_COMMENT) {
            const s = utf8.decode(b.subarray(o + 4, o + 4 + len));
            r.comment = r.comment === undefined ? s : `${r.comment}\n${s}`;
          }
          o += 4 + ((len + 3) & ~3);
        }
        this.lastSec = r.sec;
        this.lastNsec = r.nsec;
        return true;
      }
      case BT_SPB: {
        this.need(off, body, end, 4, 'simple packet block');
        const iface = this.ifaces[0];
        if (!iface) this.fail('simple packet block before any interface description block', this.base + off);
        const origLen = this.u32(body);
        // The captured length is implied: min(original length, snaplen, room in the block).
        let capLen = Math.min(origLen, end - body - 4);
        if (iface.snaplen > 0) capLen = Math.min(capLen, iface.snaplen);
        const r = this.rec;
        r.index++;
        // An SPB has no timestamp; it inherits the previous packet's time so replay order holds.
        r.sec = this.lastSec;
        r.nsec = this.lastNsec;
        r.port = iface.port;
        r.data = this.frame(body + 4, capLen);
        r.origLen = origLen;
        r.comment = undefined;
        r.offset = this.base + off;
        return true;
      }
      default:
        return false; // unknown or uninteresting block (NRB, ISB, DSB, custom...): skipped
    }
  }

  /**
   * rec.sec/nsec from a 64-bit count of interface units (hi:lo) plus if_tsoffset: exact, with
   * numbers only for the usual resolutions (16-bit long division keeps every step < 2^53).
   */
  private setTime(iface: Iface, hi: number, lo: number): void {
    const r = this.rec;
    const ups = iface.ups;
    if (ups === 0 || (hi >= 0x200000 && ups < 2048)) {
      // Rare resolutions (finer than 2^-36 s, or whole seconds and coarser with a huge count):
      // bigints, and a second count beyond 2^53 is refused rather than rounded.
      const ts = (BigInt(hi) << 32n) | BigInt(lo);
      const sec = ts / iface.upsBig + BigInt(iface.offsetSec);
      if (sec > BigInt(Number.MAX_SAFE_INTEGER) || sec < BigInt(Number.MIN_SAFE_INTEGER)) this.fail(`timestamp of ${sec} s is out of range (±2^53 s)`, r.offset + 12);
      r.sec = Number(sec);
      r.nsec = Number(((ts % iface.upsBig) * 1_000_000_000n) / iface.upsBig);
      return;
    }
    let sec: number;
    let rem: number;
    if (hi < 0x200000) {
      const v = hi * TWO32 + lo;
      sec = Math.floor(v / ups);
      rem = v - sec * ups;
      if (rem < 0) {
        sec--;
        rem += ups;
      } else if (rem >= ups) {
        sec++;
        rem -= ups;
      }
    } else {
      // Long division of the four 16-bit limbs by ups (< 2^36): rem·2^16 + limb < 2^53.
      let q = 0;
      rem = 0;
      const limbs = [hi >>> 16, hi & 0xffff, lo >>> 16, lo & 0xffff];
      for (const limb of limbs) {
        const x = rem * 65536 + limb;
        const d = Math.floor(x / ups);
        rem = x - d * ups;
        q = q * 65536 + d;
      }
      sec = q;
    }
    r.sec = sec + iface.offsetSec;
    if (ups === 1e9) r.nsec = rem;
    else if (1e9 % ups === 0) r.nsec = rem * (1e9 / ups);
    else if (rem * 1e9 < 2 ** 53) {
      const x = rem * 1e9;
      let n = Math.floor(x / ups);
      if (n * ups > x) n--;
      else if ((n + 1) * ups <= x) n++;
      r.nsec = n;
    } else r.nsec = Number((BigInt(rem) * 1_000_000_000n) / iface.upsBig);
  }
}

// ------------------------------------------------------------------ byte sources

/**
 * Reads a file descriptor with fs.read (libuv's thread pool), so regular files of any size,
 * FIFOs and pipes all work and the event loop stays free. `-` is standard input (fd 0).
 */
export class FdSource implements ByteSource {
  private constructor(
    private readonly fd: number,
    private readonly owned: boolean,
  ) {}

  static async open(path: string): Promise<FdSource> {
    if (path === '-') return new FdSource(0, false);
    const fd = await new Promise<number>((res, rej) => fsOpen(path, 'r', (e, fd) => (e ? rej(e) : res(fd))));
    return new FdSource(fd, true);
  }

  static fromFd(fd: number): FdSource {
    return new FdSource(fd, false);
  }

  read(buf: Uint8Array, off: number, len: number): Promise<number> {
    return new Promise((res, rej) => {
      const attempt = (): void =>
        fsRead(this.fd, buf, off, len, null, (e, n) => {
          // A non-blocking pipe (stdin set up by a parent) answers EAGAIN while it is empty.
          if (e && (e as NodeJS.ErrnoException).code === 'EAGAIN') setTimeout(attempt, 2);
          else if (e) rej(e);
          else res(n);
        });
      attempt();
    });
  }

  close(): Promise<void> {
    if (!this.owned) return Promise.resolve();
    return new Promise((res) => fsClose(this.fd, () => res()));
  }
}

function stdinIsPipe(): boolean {
  try {
    const st = fstatSync(0);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

/** Chunks from an async iterable (a Node Readable, a generator) copied into the parser's window. */
export class ChunkSource implements ByteSource {
  private readonly it: AsyncIterator<Uint8Array | string>;
  private chunk: Uint8Array | null = null;
  private at = 0;

  /**
   * `stop`, when given, ends the source at `close` (a Readable's `destroy`): an iterator's
   * `return` waits for a read in flight, which on an idle pipe may never complete.
   */
  constructor(
    src: AsyncIterable<Uint8Array | string>,
    private readonly stop?: () => void,
  ) {
    this.it = src[Symbol.asyncIterator]();
  }

  async read(buf: Uint8Array, off: number, len: number): Promise<number> {
    while (!this.chunk || this.at >= this.chunk.length) {
      const r = await this.it.next();
      if (r.done) return 0;
      this.chunk = typeof r.value === 'string' ? Buffer.from(r.value, 'latin1') : r.value;
      this.at = 0;
    }
    const n = Math.min(len, this.chunk.length - this.at);
    buf.set(this.chunk.subarray(this.at, this.at + n), off);
    this.at += n;
    return n;
  }

  async close(): Promise<void> {
    if (this.stop) this.stop();
    else await this.it.return?.();
  }
}

/**
 * Streaming reader: a parser over a byte source. `next()` resolves to the record under
 * `rec` or null at the end; `nextSync()` answers without awaiting while the window holds a
 * whole record (the replay loop's fast path).
 */
export class CaptureReader {
  readonly parser: CaptureParser;

  constructor(
    private readonly src: ByteSource,
    file: string,
    opts: CaptureReadOptions = {},
  ) {
    this.parser = new CaptureParser(file, opts);
  }

  /**
   * Opens a path (`-` = stdin) for streaming. Standard input that is a pipe or a socket is read
   * as a stream (`process.stdin`, non-blocking): closing the reader then stops reading at once,
   * while a blocking read of an idle pipe would hold the process until its writer wrote again.
   */
  static async open(path: string, opts: CaptureReadOptions = {}): Promise<CaptureReader> {
    const src = path === '-' && stdinIsPipe() ? new ChunkSource(process.stdin, () => process.stdin.destroy()) : await FdSource.open(path);
    const r = new CaptureReader(src, path === '-' ? '<stdin>' : path, opts);
    try {
      await r.start();
    } catch (e) {
      await src.close();
      throw e;
    }
    return r;
  }

  get rec(): StreamRecord {
    return this.parser.rec;
  }
  get file(): string {
    return this.parser.file;
  }
  get format(): CaptureFormat | null {
    return this.parser.format;
  }
  get hasPorts(): boolean {
    return this.parser.hasPorts;
  }

  /** Reads until the format is known (so `format` / `hasPorts` answer); records stay queued. */
  async start(): Promise<void> {
    while (!this.parser.header()) await this.parser.fill(this.src);
  }

  /** REC_READY (the record is in `rec`), REC_END, or REC_NEED_MORE: `await fill()` and ask again. */
  nextSync(): number {
    return this.parser.next();
  }

  /** Reads more input into the window (false at the end of the input). */
  fill(): Promise<boolean> {
    return this.parser.fill(this.src);
  }

  async next(): Promise<StreamRecord | null> {
    for (;;) {
      const s = this.parser.next();
      if (s === REC_READY) return this.parser.rec;
      if (s === REC_END) return null;
      await this.parser.fill(this.src);
    }
  }

  /** Copies of every remaining record, one at a time. */
  async *records(): AsyncGenerator<CaptureRecord> {
    for (let r = await this.next(); r; r = await this.next()) yield toCaptureRecord(r);
  }

  close(): Promise<void> {
    return this.src.close();
  }
}
