/**
 * The conntrack key: the one home of its layout, its extraction from a packet and its hash
 * (openvswitch/ovs lib/conntrack-private.h `struct conn_key`; lib/conntrack.c
 * `conn_key_extract`, `extract_l4_icmp*`, `conn_key_hash`, `conn_key_reverse`;
 * docs/conntrack-semantics.md §2.1).
 *
 * Layout (KEY_WORDS 32-bit words, no padding):
 *   [0]      meta = zone | proto << 16 | (IPv6 ? 1 << 24 : 0)
 *   [1..4]   source address (IPv4 in word 1, words 2-4 zero)
 *   [5]      source "port" word
 *   [6..9]   destination address
 *   [10]     destination "port" word
 * Port words: TCP/UDP the port; ICMP/ICMPv6 queries `type << 24 | code << 16 | id` with the
 * *paired* type on the destination side (`reverse_icmp_type`), so a request and its reply have
 * mirror-image keys; every other protocol 0 (one entry per address pair, §2.1).
 * The reverse key swaps the two endpoints, nothing else.
 */
import {
  CT_OK,
  ICMP_ERROR,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  L3_IPV6,
  type PacketView,
} from '../packet/view.js';

export const KEY_WORDS = 11;
export const K_META = 0;
export const K_SRC = 1;
export const K_SPORT = 5;
export const K_DST = 6;
export const K_DPORT = 10;

export const META_V6 = 1 << 24;

export function metaOf(zone: number, proto: number, v6: boolean): number {
  return ((zone & 0xffff) | ((proto & 0xff) << 16) | (v6 ? META_V6 : 0)) >>> 0;
}
export function metaZone(meta: number): number {
  return meta & 0xffff;
}
export function metaProto(meta: number): number {
  return (meta >>> 16) & 0xff;
}
export function metaV6(meta: number): boolean {
  return (meta & META_V6) !== 0;
}

/** `reverse_icmp_type` / `reverse_icmp6_type`; only called for query types. */
export function reverseIcmpType(type: number, v6: boolean): number {
  if (v6) return type === 128 ? 129 : type === 129 ? 128 : type;
  switch (type) {
    case 8:
      return 0;
    case 0:
      return 8;
    case 13:
      return 14;
    case 14:
      return 13;
    case 15:
      return 16;
    case 16:
      return 15;
    default:
      return type;
  }
}

export function icmpPortWord(type: number, code: number, id: number): number {
  return ((type << 24) | (code << 16) | id) >>> 0;
}

/** Source words at 1..4, destination words at 6..9 (K_SRC/K_DST layout); inlined by V8. */
function setEndpoints(k: Uint32Array, s: Uint32Array, d: Uint32Array): void {
  k[1] = s[0]!;
  k[2] = s[1]!;
  k[3] = s[2]!;
  k[4] = s[3]!;
  k[6] = d[0]!;
  k[7] = d[1]!;
  k[8] = d[2]!;
  k[9] = d[3]!;
}

/**
 * Fill `k` (KEY_WORDS at offset 0) from a trackable packet (`pkt.ctStatus === CT_OK`) and
 * return true when the packet is an ICMP/ICMPv6 error (`related`): then the key is the
 * embedded packet's key, reversed, because the error travels opposite to the packet it quotes
 * (extract_l4_icmp: `conn_key_reverse(key); *related = true`).
 */
export function extractKey(pkt: PacketView, zone: number, k: Uint32Array): boolean {
  const v6 = pkt.l3 === L3_IPV6;
  if (pkt.icmpClass === ICMP_ERROR) {
    const p = pkt.innerProto;
    k[K_META] = metaOf(zone, p, v6);
    // Reversed: the quoted packet's destination becomes our source.
    setEndpoints(k, pkt.innerDst, pkt.innerSrc);
    if (p === IPPROTO_TCP || p === IPPROTO_UDP) {
      k[K_SPORT] = pkt.innerDport;
      k[K_DPORT] = pkt.innerSport;
    } else if ((p === IPPROTO_ICMP && !v6) || (p === IPPROTO_ICMPV6 && v6)) {
      const t = pkt.innerIcmpType;
      k[K_SPORT] = icmpPortWord(reverseIcmpType(t, v6), pkt.innerIcmpCode, pkt.innerIcmpId);
      k[K_DPORT] = icmpPortWord(t, pkt.innerIcmpCode, pkt.innerIcmpId);
    } else {
      k[K_SPORT] = 0;
      k[K_DPORT] = 0;
    }
    return true;
  }
  const p = pkt.ipProto;
  k[K_META] = metaOf(zone, p, v6);
  setEndpoints(k, pkt.src, pkt.dst);
  if (p === IPPROTO_TCP || p === IPPROTO_UDP) {
    k[K_SPORT] = pkt.sport;
    k[K_DPORT] = pkt.dport;
  } else if ((p === IPPROTO_ICMP && !v6) || (p === IPPROTO_ICMPV6 && v6)) {
    const t = pkt.icmpType;
    k[K_SPORT] = icmpPortWord(t, pkt.icmpCode, pkt.icmpId);
    k[K_DPORT] = icmpPortWord(reverseIcmpType(t, v6), pkt.icmpCode, pkt.icmpId);
  } else {
    k[K_SPORT] = 0;
    k[K_DPORT] = 0;
  }
  return false;
}

/** Does the parsed packet carry a key at all (§3)? */
export function trackable(pkt: PacketView): boolean {
  return pkt.ctStatus === CT_OK;
}

// ---- hashing (murmur3 32-bit mixing, as OVS's hash_add/hash_finish)

/** One murmur3 mixing step (OVS hash_add); also nat.ts's nat_range_hash. */
export function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** murmur3's final avalanche (OVS hash_finish without the length word). */
export function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function endpointHash(basis: number, k: Uint32Array, off: number): number {
  let h = basis;
  h = mix(h, k[off]!);
  h = mix(h, k[off + 1]!);
  h = mix(h, k[off + 2]!);
  h = mix(h, k[off + 3]!);
  return mix(h, k[off + 4]!);
}

/**
 * Symmetric salted hash (`conn_key_hash`): hash each endpoint from the basis, XOR the two so
 * both directions land in the same bucket, then mix in the zone, L3 type and protocol.
 */
export function keyHash(k: Uint32Array, off: number, basis: number): number {
  const h = endpointHash(basis, k, off + K_SRC) ^ endpointHash(basis, k, off + K_DST);
  return finish(mix(h, k[off + K_META]!));
}

/** Key at `a[ao]` equals key at `b[bo]` in the same orientation (unrolled: hot path). */
export function keyEq(a: Uint32Array, ao: number, b: Uint32Array, bo: number): boolean {
  return (
    a[ao + 5] === b[bo + 5] &&
    a[ao + 10] === b[bo + 10] &&
    a[ao + 1] === b[bo + 1] &&
    a[ao + 6] === b[bo + 6] &&
    a[ao] === b[bo] &&
    a[ao + 2] === b[bo + 2] &&
    a[ao + 3] === b[bo + 3] &&
    a[ao + 4] === b[bo + 4] &&
    a[ao + 7] === b[bo + 7] &&
    a[ao + 8] === b[bo + 8] &&
    a[ao + 9] === b[bo + 9]
  );
}

/** Key at `a[ao]` equals the reverse of key at `b[bo]` (endpoints swapped). */
export function keyEqReversed(a: Uint32Array, ao: number, b: Uint32Array, bo: number): boolean {
  return (
    a[ao + 5] === b[bo + 10] &&
    a[ao + 10] === b[bo + 5] &&
    a[ao + 1] === b[bo + 6] &&
    a[ao + 6] === b[bo + 1] &&
    a[ao] === b[bo] &&
    a[ao + 2] === b[bo + 7] &&
    a[ao + 3] === b[bo + 8] &&
    a[ao + 4] === b[bo + 9] &&
    a[ao + 7] === b[bo + 2] &&
    a[ao + 8] === b[bo + 3] &&
    a[ao + 9] === b[bo + 4]
  );
}
