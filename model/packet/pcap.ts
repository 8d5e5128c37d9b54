/**
 * Classic libpcap files, whole-file entry points (tcpdump's pcap-savefile(5);
 * draft-ietf-opsawg-pcap). The format rules live in ./capreader.ts (reading) and
 * ./capwriter.ts (writing); these functions run them over one in-memory image.
 */
import { type CaptureRecord } from './caprecord.js';
import { CaptureParser, REC_READY, toCaptureRecord } from './capreader.js';
import { type CaptureWriterOptions, encodeCapture } from './capwriter.js';

export { PCAP_MAGIC_NS, PCAP_MAGIC_US, PCAP_MAX_RECORD, isPcap } from './capreader.js';

export interface PcapReadOptions {
  /** Port for every record (classic pcap has no interface id). Default 0. */
  port?: number;
}

/** Every record of a classic pcap image (a pcapng image is read too: one parser for both). */
export function readPcap(bytes: Uint8Array, file: string, opts: PcapReadOptions = {}): CaptureRecord[] {
  const p = new CaptureParser(file, opts, bytes);
  const out: CaptureRecord[] = [];
  while (p.next() === REC_READY) out.push(toCaptureRecord(p.rec));
  return out;
}

export type PcapWriteOptions = Pick<CaptureWriterOptions, 'nanos' | 'snaplen'>;

/** Writes a little-endian classic pcap. Ports and comments are not representable and are dropped. */
export function writePcap(records: readonly CaptureRecord[], opts: PcapWriteOptions = {}): Uint8Array {
  return encodeCapture('pcap', records, opts);
}
