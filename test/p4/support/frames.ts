/** Test Ethernet frames: 60 bytes (minimum size without FCS), a sequence number in the payload. */
export function frame(seq: number, etherType = 0x0800, size = 60): Uint8Array {
  const b = Buffer.alloc(size);
  b.set([0x02, 0, 0, 0, 0, 0x02], 0); // dst
  b.set([0x02, 0, 0, 0, 0, 0x01], 6); // src
  b.writeUInt16BE(etherType, 12);
  b.writeUInt32BE(seq >>> 0, 14);
  return b;
}

export function seqOf(bytes: Uint8Array): number {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUInt32BE(14);
}
