/**
 * Classic libpcap files (tcpdump's pcap-savefile(5); draft-ietf-opsawg-pcap): both byte orders,
 * microsecond (0xa1b2c3d4) and nanosecond (0xa1b23c4d) magic, LINKTYPE_ETHERNET only. The format
 * has no interface field, so every record gets the port passed in the options.
 */
import { PacketBuildError } from '../errors.js';
import { type CaptureRecord, Cursor, LINKTYPE_ETHERNET, Sink } from './caprecord.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Largest record we accept: tcpdump's MAXIMUM_SNAPLEN (262144); a larger length means a corrupt file. */
export const PCAP_MAX_RECORD = 262144;

export interface PcapReadOptions {
  /** Port for every record (classic pcap has no interface id). Default 0. */
  port?: number;
}

export function isPcap(b: Uint8Array): boolean {
  if (b.length < 4) return false;
  const be = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  const le = ((b[3]! << 24) | (b[2]! << 16) | (b[1]! << 8) | b[0]!) >>> 0;
  return [be, le].some((m) => m === PCAP_MAGIC_US || m === PCAP_MAGIC_NS);
}

export function readPcap(bytes: Uint8Array, file: string, opts: PcapReadOptions = {}): CaptureRecord[] {
  const c = new Cursor(bytes, file);
  const port = opts.port ?? 0;
  c.need(0, 24, 'pcap file header');
  c.le = false;
  let magic = c.u32(0);
  if (magic !== PCAP_MAGIC_US && magic !== PCAP_MAGIC_NS) {
    c.le = true;
    magic = c.u32(0);
  }
  if (magic !== PCAP_MAGIC_US && magic !== PCAP_MAGIC_NS) c.fail(`not a pcap file (magic 0x${magic.toString(16)})`, 0);
  const nanos = magic === PCAP_MAGIC_NS;
  const major = c.u16(4);
  if (major !== 2) c.fail(`unsupported pcap version ${major}.${c.u16(6)}`, 4);
  // The upper bits of the link-type word may carry FCS information (pcap-savefile(5)); the low 16 bits are the type.
  const linktype = c.u32(20) & 0xffff;
  if (linktype !== LINKTYPE_ETHERNET) c.fail(`link type ${linktype} is not LINKTYPE_ETHERNET (1)`, 20);
  const out: CaptureRecord[] = [];
  let off = 24;
  while (off < bytes.length) {
    c.need(off, 16, `pcap record header #${out.length + 1}`);
    const sec = c.u32(off);
    const frac = c.u32(off + 4);
    const incl = c.u32(off + 8);
    const orig = c.u32(off + 12);
    if (incl > PCAP_MAX_RECORD) c.fail(`record #${out.length + 1}: captured length ${incl} exceeds ${PCAP_MAX_RECORD}`, off + 8);
    if (frac >= (nanos ? 1e9 : 1e6)) c.fail(`record #${out.length + 1}: sub-second field ${frac} out of range`, off + 4);
    c.need(off + 16, incl, `pcap record #${out.length + 1} data`);
    out.push({
      timeNs: BigInt(sec) * 1_000_000_000n + BigInt(nanos ? frac : frac * 1000),
      port,
      data: bytes.slice(off + 16, off + 16 + incl),
      origLen: orig,
    });
    off += 16 + incl;
  }
  return out;
}

export interface PcapWriteOptions {
  /** Nanosecond timestamps (magic 0xa1b23c4d); default microseconds, which truncates timeNs. */
  nanos?: boolean;
  snaplen?: number;
}

/** Writes a little-endian classic pcap. Ports and comments are not representable and are dropped. */
export function writePcap(records: readonly CaptureRecord[], opts: PcapWriteOptions = {}): Uint8Array {
  const s = new Sink();
  s.u32(opts.nanos ? PCAP_MAGIC_NS : PCAP_MAGIC_US);
  s.u16(2);
  s.u16(4);
  s.u32(0); // thiszone
  s.u32(0); // sigfigs
  s.u32(opts.snaplen ?? PCAP_MAX_RECORD);
  s.u32(LINKTYPE_ETHERNET);
  records.forEach((r, i) => {
    if (r.timeNs < 0n || r.timeNs >= 2n ** 32n * 1_000_000_000n) throw new PacketBuildError(`records[${i}].timeNs: ${r.timeNs} does not fit a 32-bit seconds field`);
    if (r.data.length > PCAP_MAX_RECORD) throw new PacketBuildError(`records[${i}].data: ${r.data.length} bytes exceed ${PCAP_MAX_RECORD}`);
    const sec = r.timeNs / 1_000_000_000n;
    const ns = r.timeNs % 1_000_000_000n;
    s.u32(Number(sec));
    s.u32(Number(opts.nanos ? ns : ns / 1000n));
    s.u32(r.data.length);
    s.u32(r.origLen);
    s.u8s(r.data);
  });
  return s.finish();
}
