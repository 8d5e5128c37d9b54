/**
 * The Internet checksum (RFC 1071) over byte ranges, and the IPv4/IPv6 pseudo-header sums.
 * One home for checksum arithmetic: the parser verifies with it, the codec fills fields with it.
 */

/** Adds the 16-bit big-endian words of buf[off, off+len) to `sum` (unfolded, 32-bit safe for < 128 KiB). */
export function sum16(buf: Uint8Array, off: number, len: number, sum = 0): number {
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  return sum;
}

/** Folds a sum to 16 bits and complements it: the value to store in a checksum field. */
export function finishChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Pseudo-header sum for IPv4 (RFC 793/768): src, dst, zero+protocol, L4 length. */
export function pseudoSum4(buf: Uint8Array, ipOff: number, proto: number, l4Len: number): number {
  return sum16(buf, ipOff + 12, 8, proto + l4Len);
}

/** Pseudo-header sum for IPv6 (RFC 8200 8.1): src, dst, upper-layer length, next header. */
export function pseudoSum6(buf: Uint8Array, ipOff: number, proto: number, l4Len: number): number {
  return sum16(buf, ipOff + 8, 32, proto + (l4Len & 0xffff) + Math.floor(l4Len / 0x10000));
}

/** True when the range (which includes its checksum field) sums to 0xffff, i.e. verifies. */
export function checksumOk(buf: Uint8Array, off: number, len: number, initial = 0): boolean {
  return finishChecksum(sum16(buf, off, len, initial)) === 0;
}

/**
 * RFC 1624 incremental update of a checksum field when one 16-bit word changes from `oldW` to
 * `newW`, exactly as openvswitch/ovs lib/csum.c `recalc_csum16` computes it (`csum_finish`), so a
 * NATed packet's checksums match the oracle's bit for bit.
 */
export function recalcCsum16(csum: number, oldW: number, newW: number): number {
  return finishChecksum((~csum & 0xffff) + (~oldW & 0xffff) + (newW & 0xffff));
}
