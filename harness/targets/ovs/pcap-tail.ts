/**
 * Incremental reader of a dummy port's `options:tx_pcap` file. netdev-dummy writes every sent
 * packet as one classic pcap record and flushes it (lib/netdev-dummy.c `netdev_dummy_send` →
 * lib/pcap-file.c `ovs_pcap_write`, which ends with fflush), so once the sentinel packet has been
 * seen every record of the packets before it is complete on disk. Each poll returns the records
 * appended since the previous poll.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { OvsError } from './errors.js';

const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

export class PcapTail {
  private fd: number;
  private offset = GLOBAL_HEADER;
  private little = true;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'r');
    const h = Buffer.alloc(GLOBAL_HEADER);
    const n = readSync(this.fd, h, 0, GLOBAL_HEADER, 0);
    if (n === GLOBAL_HEADER) this.checkMagic(h);
    else this.offset = 0; // header not written yet (cannot happen after the port exists, but be safe)
  }

  private checkMagic(h: Buffer): void {
    const m = h.readUInt32LE(0);
    if (m === 0xa1b2c3d4) this.little = true;
    else if (m === 0xd4c3b2a1) this.little = false;
    else throw new OvsError('CTO_OVS_PROTOCOL', `${this.file}: not a pcap file (magic 0x${m.toString(16)})`);
  }

  /** Records appended since the last call (or since the start). */
  poll(): Uint8Array[] {
    const size = fstatSync(this.fd).size;
    if (this.offset === 0) {
      if (size < GLOBAL_HEADER) return [];
      const h = Buffer.alloc(GLOBAL_HEADER);
      readSync(this.fd, h, 0, GLOBAL_HEADER, 0);
      this.checkMagic(h);
      this.offset = GLOBAL_HEADER;
    }
    if (size <= this.offset) return [];
    const chunk = Buffer.alloc(size - this.offset);
    const n = readSync(this.fd, chunk, 0, chunk.length, this.offset);
    const out: Uint8Array[] = [];
    let off = 0;
    while (off + RECORD_HEADER <= n) {
      const incl = this.little ? chunk.readUInt32LE(off + 8) : chunk.readUInt32BE(off + 8);
      if (off + RECORD_HEADER + incl > n) break; // partial record: leave it for the next poll
      out.push(new Uint8Array(chunk.subarray(off + RECORD_HEADER, off + RECORD_HEADER + incl)));
      off += RECORD_HEADER + incl;
    }
    this.offset += off;
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
