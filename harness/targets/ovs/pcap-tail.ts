/**
 * Incremental reader of a dummy port's `options:tx_pcap` file. netdev-dummy writes every sent
 * packet as one classic pcap record and flushes it (lib/netdev-dummy.c `netdev_dummy_send` →
 * lib/pcap-file.c `ovs_pcap_write`, which ends with fflush), so once the sentinel packet has been
 * seen every record of the packets before it is complete on disk. Each poll returns the records
 * appended since the previous poll. The bytes go through the project's one capture parser
 * (model/packet/capreader.ts `CaptureParser.push`), which keeps a record cut short for the next
 * poll.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CaptureParser, REC_READY } from '../../../model/packet/capture.js';
import { OvsError } from './errors.js';

export class PcapTail {
  private fd: number;
  /** File offset up to which bytes were handed to the parser. */
  private offset = 0;
  private readonly parser: CaptureParser;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'r');
    this.parser = new CaptureParser(file);
    this.poll(); // the file header (written when the port is created); no records yet
  }

  /** Records appended since the last call (or since the start). */
  poll(): Uint8Array[] {
    const size = fstatSync(this.fd).size;
    if (size > this.offset) {
      const chunk = Buffer.allocUnsafe(size - this.offset);
      const n = readSync(this.fd, chunk, 0, chunk.length, this.offset);
      this.offset += n;
      this.parser.push(chunk.subarray(0, n));
    }
    const out: Uint8Array[] = [];
    try {
      while (this.parser.next() === REC_READY) out.push(this.parser.rec.data.slice());
    } catch (e) {
      throw new OvsError('CTO_OVS_PROTOCOL', (e as Error).message, undefined, undefined, { cause: e });
    }
    return out;
  }

  /** Skip everything written so far. */
  skip(): void {
    this.poll();
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}
