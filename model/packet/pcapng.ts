/**
 * pcapng whole-file entry points (draft-ietf-opsawg-pcapng). The format rules live in
 * ./capreader.ts (reading: sections in either byte order, IDB if_name / if_tsresol /
 * if_tsoffset, EPB / SPB / obsolete PB, opt_comment; the port of a packet is its interface's
 * "port3"/"p3" name, else the interface index) and ./capwriter.ts (writing).
 */
import { type CaptureRecord } from './caprecord.js';
import { CaptureParser, REC_READY, toCaptureRecord } from './capreader.js';
import { type CaptureWriterOptions, encodeCapture } from './capwriter.js';

export { BT_EPB, BT_IDB, BT_PB, BT_SHB, BT_SPB, BYTE_ORDER_MAGIC, isPcapng, portFromIfName } from './capreader.js';

/** Every record of a pcapng image. */
export function readPcapng(bytes: Uint8Array, file: string): CaptureRecord[] {
  const p = new CaptureParser(file, {}, bytes);
  const out: CaptureRecord[] = [];
  while (p.next() === REC_READY) out.push(toCaptureRecord(p.rec));
  return out;
}

export type PcapngWriteOptions = Pick<CaptureWriterOptions, 'comment' | 'application'>;

/**
 * Writes a little-endian pcapng: one section, one IDB per port (written before the port's
 * first packet) named `port<N>` with nanosecond resolution, one EPB per record with its comment.
 */
export function writePcapng(records: readonly CaptureRecord[], opts: PcapngWriteOptions = {}): Uint8Array {
  return encodeCapture('pcapng', records, opts);
}
