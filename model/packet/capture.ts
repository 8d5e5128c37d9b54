/**
 * Capture files: format detection and the common entry points. pcap and pcapng give the same
 * `CaptureRecord`s; a malformed file gives a CaptureFormatError naming the file and byte offset.
 * Streaming (constant memory, files of any size, FIFOs, stdin): `CaptureReader` and
 * `CaptureWriter`; the whole-file functions below are built on them.
 */
import type { CaptureRecord } from './caprecord.js';
import { CaptureParser, CaptureReader, type CaptureReadOptions, REC_READY, toCaptureRecord } from './capreader.js';

export type { CaptureRecord } from './caprecord.js';
export { LINKTYPE_ETHERNET } from './caprecord.js';
export * from './capreader.js';
export * from './capwriter.js';
export { readPcap, writePcap, type PcapReadOptions, type PcapWriteOptions } from './pcap.js';
export { readPcapng, writePcapng, type PcapngWriteOptions } from './pcapng.js';

export type ReadCaptureOptions = CaptureReadOptions;

/** Parses a pcap or pcapng image. `file` names the input in errors. */
export function readCapture(bytes: Uint8Array, file: string, opts: ReadCaptureOptions = {}): CaptureRecord[] {
  const p = new CaptureParser(file, opts, bytes);
  const out: CaptureRecord[] = [];
  while (p.next() === REC_READY) out.push(toCaptureRecord(p.rec));
  return out;
}

/** Every record of a capture file (`-` = stdin), read incrementally. Holds all records: for small captures. */
export async function readCaptureFile(path: string, opts: ReadCaptureOptions = {}): Promise<CaptureRecord[]> {
  const r = await CaptureReader.open(path, opts);
  try {
    const out: CaptureRecord[] = [];
    for await (const rec of r.records()) out.push(rec);
    return out;
  } finally {
    await r.close();
  }
}
