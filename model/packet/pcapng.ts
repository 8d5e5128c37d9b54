/**
 * pcapng (draft-ietf-opsawg-pcapng): Section Header Blocks in either byte order, Interface
 * Description Blocks with if_name / if_tsresol / if_tsoffset, Enhanced and Simple Packet Blocks
 * (and the obsolete Packet Block), opt_comment on packets. Other blocks are skipped, as the
 * draft asks of readers. The interface of a packet gives its switch port: an if_name like
 * "port3" or "p3" names port 3; otherwise the interface index within its section is the port.
 */
import { PacketBuildError } from '../errors.js';
import { type CaptureRecord, Cursor, LINKTYPE_ETHERNET, Sink } from './caprecord.js';

export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 0x00000001;
export const BT_PB = 0x00000002; // obsolete Packet Block
export const BT_SPB = 0x00000003;
export const BT_EPB = 0x00000006;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const IF_NAME = 2;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;

export function isPcapng(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x0a && b[1] === 0x0d && b[2] === 0x0d && b[3] === 0x0a;
}

interface Iface {
  port: number;
  /** Timestamp units per second. */
  unitsPerSec: bigint;
  offsetSec: bigint;
  snaplen: number;
}

/** The port an interface name denotes ("port3", "p3"), or -1. */
export function portFromIfName(name: string): number {
  const m = /^(?:port|p)(\d{1,9})$/i.exec(name.trim());
  return m ? Number(m[1]) : -1;
}

/** Walks the options of a block body from `off` to `end`; calls `f(code, valueOffset, length)`. */
function eachOption(c: Cursor, off: number, end: number, f: (code: number, at: number, len: number) => void): void {
  while (off + 4 <= end) {
    const code = c.u16(off);
    const len = c.u16(off + 2);
    if (code === OPT_ENDOFOPT) return;
    if (off + 4 + len > end) c.fail(`option ${code} of ${len} bytes runs past the end of its block`, off);
    f(code, off + 4, len);
    off += 4 + ((len + 3) & ~3);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

export function readPcapng(bytes: Uint8Array, file: string): CaptureRecord[] {
  const c = new Cursor(bytes, file);
  const out: CaptureRecord[] = [];
  let ifaces: Iface[] = [];
  let inSection = false;
  let lastTime = 0n;
  let off = 0;
  while (off < bytes.length) {
    c.need(off, 12, 'pcapng block header');
    if (c.u32(off) === BT_SHB || (bytes[off] === 0x0a && bytes[off + 1] === 0x0d && bytes[off + 2] === 0x0d && bytes[off + 3] === 0x0a)) {
      // A new section: its byte-order magic decides how everything up to the next SHB is read.
      c.need(off, 28, 'section header block');
      c.le = true;
      if (c.u32(off + 8) !== BYTE_ORDER_MAGIC) {
        c.le = false;
        if (c.u32(off + 8) !== BYTE_ORDER_MAGIC) c.fail('section header block: bad byte-order magic', off + 8);
      }
      const major = c.u16(off + 12);
      if (major !== 1) c.fail(`unsupported pcapng version ${major}.${c.u16(off + 14)}`, off + 12);
      ifaces = [];
      inSection = true;
    } else if (!inSection) c.fail('pcapng file does not start with a section header block', off);
    const type = c.u32(off);
    const total = c.u32(off + 4);
    if (total < 12 || total % 4 !== 0) c.fail(`block length ${total} is not a multiple of 4 of at least 12`, off + 4);
    c.need(off, total, `block of type 0x${type.toString(16)} (${total} bytes)`);
    if (c.u32(off + total - 4) !== total) c.fail(`trailing block length ${c.u32(off + total - 4)} differs from the leading ${total}`, off + total - 4);
    const body = off + 8;
    const end = off + total - 4;
    const need = (n: number, what: string): void => {
      if (body + n > end) c.fail(`${what}: block body of ${end - body} bytes is shorter than ${n}`, off);
    };
    switch (type) {
      case BT_SHB: {
        need(16, 'section header block');
        eachOption(c, body + 16, end, () => {});
        break;
      }
      case BT_IDB: {
        need(8, 'interface description block');
        const linktype = c.u16(body);
        if (linktype !== LINKTYPE_ETHERNET) c.fail(`interface ${ifaces.length}: link type ${linktype} is not LINKTYPE_ETHERNET (1)`, body);
        const iface: Iface = { port: ifaces.length, unitsPerSec: 1_000_000n, offsetSec: 0n, snaplen: c.u32(body + 4) };
        eachOption(c, body + 8, end, (code, at, len) => {
          if (code === IF_NAME) {
            const p = portFromIfName(utf8.decode(bytes.subarray(at, at + len)));
            if (p >= 0) iface.port = p;
          } else if (code === IF_TSRESOL && len >= 1) {
            const r = bytes[at]!;
            const exp = BigInt(r & 0x7f);
            // MSB clear: 10^-n seconds; set: 2^-n seconds.
            if ((r & 0x80 ? exp : exp * 4n) > 64n) c.fail(`if_tsresol ${r} out of range`, at);
            iface.unitsPerSec = r & 0x80 ? 2n ** exp : 10n ** exp;
          } else if (code === IF_TSOFFSET && len >= 8) {
            const hi = c.u32(at + (c.le ? 4 : 0));
            const lo = c.u32(at + (c.le ? 0 : 4));
            iface.offsetSec = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
          }
        });
        ifaces.push(iface);
        break;
      }
      case BT_EPB:
      case BT_PB: {
        need(20, type === BT_EPB ? 'enhanced packet block' : 'packet block');
        const ifId = type === BT_EPB ? c.u32(body) : c.u16(body);
        const iface = ifaces[ifId];
        if (!iface) c.fail(`packet on interface ${ifId}, but the section declares ${ifaces.length} interfaces`, body);
        const ts = (BigInt(c.u32(body + 4)) << 32n) | BigInt(c.u32(body + 8));
        const capLen = c.u32(body + 12);
        const origLen = c.u32(body + 16);
        const dataOff = body + 20;
        if (dataOff + capLen > end) c.fail(`captured length ${capLen} runs past the end of its block`, body + 12);
        const rec: CaptureRecord = {
          timeNs: (ts * 1_000_000_000n) / iface.unitsPerSec + iface.offsetSec * 1_000_000_000n,
          port: iface.port,
          data: bytes.slice(dataOff, dataOff + capLen),
          origLen,
        };
        const comments: string[] = [];
        eachOption(c, dataOff + ((capLen + 3) & ~3), end, (code, at, len) => {
          if (code === OPT_COMMENT) comments.push(utf8.decode(bytes.subarray(at, at + len)));
        });
        if (comments.length) rec.comment = comments.join('\n');
        lastTime = rec.timeNs;
        out.push(rec);
        break;
      }
      case BT_SPB: {
        need(4, 'simple packet block');
        const iface = ifaces[0];
        if (!iface) c.fail('simple packet block before any interface description block', off);
        const origLen = c.u32(body);
        // The captured length is implied: min(original length, snaplen, room in the block).
        let capLen = Math.min(origLen, end - body - 4);
        if (iface.snaplen > 0) capLen = Math.min(capLen, iface.snaplen);
        // An SPB has no timestamp; it inherits the previous packet's time so replay order holds.
        out.push({ timeNs: lastTime, port: iface.port, data: bytes.slice(body + 4, body + 4 + capLen), origLen });
        break;
      }
      default:
        break; // unknown or uninteresting block (NRB, ISB, DSB, custom...): skipped
    }
    off += total;
  }
  return out;
}

export interface PcapngWriteOptions {
  /** Section comment (SHB opt_comment). */
  comment?: string;
  /** shb_userappl. */
  application?: string;
}

function option(s: Sink, code: number, value: Uint8Array): void {
  if (value.length > 0xffff) throw new PacketBuildError(`pcapng option ${code}: ${value.length} bytes exceed 65535`);
  s.u16(code);
  s.u16(value.length);
  s.u8s(value);
  s.pad4();
}

function block(out: Sink, type: number, body: (s: Sink) => void): void {
  const s = new Sink();
  body(s);
  s.pad4();
  const b = s.finish();
  out.u32(type);
  out.u32(b.length + 12);
  out.u8s(b);
  out.u32(b.length + 12);
}

/**
 * Writes a little-endian pcapng: one section, one IDB per port (in order of first appearance)
 * named `port<N>` with nanosecond resolution, one EPB per record with its comment.
 */
export function writePcapng(records: readonly CaptureRecord[], opts: PcapngWriteOptions = {}): Uint8Array {
  const enc = new TextEncoder();
  const out = new Sink();
  block(out, BT_SHB, (s) => {
    s.u32(BYTE_ORDER_MAGIC);
    s.u16(1);
    s.u16(0);
    s.u32(0xffffffff); // section length -1: not specified
    s.u32(0xffffffff);
    if (opts.comment !== undefined) option(s, OPT_COMMENT, enc.encode(opts.comment));
    option(s, 4 /* shb_userappl */, enc.encode(opts.application ?? 'ctoffload'));
    option(s, OPT_ENDOFOPT, new Uint8Array(0));
  });
  const ifIndex = new Map<number, number>();
  records.forEach((r, i) => {
    if (!Number.isInteger(r.port) || r.port < 0 || r.port > 0xffffffff) throw new PacketBuildError(`records[${i}].port: ${r.port} is not a port number`);
    if (ifIndex.has(r.port)) return;
    ifIndex.set(r.port, ifIndex.size);
    block(out, BT_IDB, (s) => {
      s.u16(LINKTYPE_ETHERNET);
      s.u16(0);
      s.u32(0); // snaplen 0: no limit
      option(s, IF_NAME, enc.encode(`port${r.port}`));
      option(s, IF_TSRESOL, Uint8Array.of(9));
      option(s, OPT_ENDOFOPT, new Uint8Array(0));
    });
  });
  records.forEach((r, i) => {
    if (r.timeNs < 0n || r.timeNs >= 2n ** 64n) throw new PacketBuildError(`records[${i}].timeNs: ${r.timeNs} does not fit 64 bits`);
    block(out, BT_EPB, (s) => {
      s.u32(ifIndex.get(r.port)!);
      s.u32(Number(r.timeNs >> 32n));
      s.u32(Number(r.timeNs & 0xffffffffn));
      s.u32(r.data.length);
      s.u32(r.origLen);
      s.u8s(r.data);
      s.pad4();
      if (r.comment !== undefined) {
        option(s, OPT_COMMENT, enc.encode(r.comment));
        option(s, OPT_ENDOFOPT, new Uint8Array(0));
      }
    });
  });
  return out.finish();
}
