/**
 * Capture files: format detection and the common entry points. pcap and pcapng give the same
 * `CaptureRecord`s; a malformed file gives a CaptureFormatError naming the file and byte offset.
 */
import { readFile } from 'node:fs/promises';
import { CaptureFormatError } from '../errors.js';
import type { CaptureRecord } from './caprecord.js';
import { isPcap, readPcap } from './pcap.js';
import { isPcapng, readPcapng } from './pcapng.js';

export type { CaptureRecord } from './caprecord.js';
export { LINKTYPE_ETHERNET } from './caprecord.js';
export * from './pcap.js';
export * from './pcapng.js';

export type CaptureFormat = 'pcap' | 'pcapng';

export interface ReadCaptureOptions {
  /** Port of every record of a classic pcap (which has no interface id). Default 0. */
  port?: number;
}

export function detectCaptureFormat(bytes: Uint8Array): CaptureFormat | null {
  if (isPcapng(bytes)) return 'pcapng';
  if (isPcap(bytes)) return 'pcap';
  return null;
}

/** Parses a pcap or pcapng image. `file` names the input in errors. */
export function readCapture(bytes: Uint8Array, file: string, opts: ReadCaptureOptions = {}): CaptureRecord[] {
  const fmt = detectCaptureFormat(bytes);
  if (fmt === 'pcapng') return readPcapng(bytes, file);
  if (fmt === 'pcap') return readPcap(bytes, file, opts);
  const head = Array.from(bytes.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ');
  throw new CaptureFormatError(`not a pcap or pcapng file (starts with ${head || 'nothing'})`, file, 0);
}

export async function readCaptureFile(path: string, opts: ReadCaptureOptions = {}): Promise<CaptureRecord[]> {
  const b = await readFile(path);
  return readCapture(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), path, opts);
}
