/**
 * Conntrack NAT: the translation of a new connection and the rewrite of its packets, after
 * openvswitch/ovs lib/conntrack.c at v3.1.0 (`nat_get_unique_tuple`, `nat_get_unique_l4`,
 * `find_addr`, `set_sport_range`, `set_dport_range`, `nat_packet`, `nat_inner_packet`,
 * `pat_packet`) and lib/packets.c (`packet_set_ipv4_addr`, `packet_set_ipv6_addr`,
 * `packet_set_tcp_port`, `packet_set_udp_port`). Rules: docs/conntrack-semantics.md §11.
 *
 * A NATed connection keeps two keys, as OVS's `conn->key` / `conn->rev_key`: the original
 * tuple and the reply tuple, which is the reverse of the original with the translation applied.
 * The table indexes the reply key separately (ConnTable `setNatReply`).
 *
 * Only NATed packets pay: the rewrite copies the frame (the caller's bytes are never touched)
 * and parses the copy again; a packet without NAT never reaches this module.
 */
import { recalcCsum16, finishChecksum, sum16, pseudoSum6 } from '../packet/checksum.js';
import { IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, L3_IPV6, type PacketView } from '../packet/view.js';
import { KEY_WORDS, K_DPORT, K_DST, K_META, K_SPORT, K_SRC, finish, metaProto, metaV6, mix } from './key.js';

/** `enum nat_action_info_t.nat_action` bits (lib/conntrack.h). */
export const NAT_ACTION_SRC = 1;
export const NAT_ACTION_SRC_PORT = 2;
export const NAT_ACTION_DST = 4;
export const NAT_ACTION_DST_PORT = 8;

/** `MIN_NAT_EPHEMERAL_PORT`, `MAX_NAT_EPHEMERAL_PORT` (lib/conntrack-private.h). */
export const MIN_NAT_EPHEMERAL_PORT = 1024;
export const MAX_NAT_EPHEMERAL_PORT = 65535;

/**
 * `struct nat_action_info_t` as lib/dpif-netdev.c builds it from the datapath action: a bare
 * `nat` has action 0; a port range sets SRC_PORT / DST_PORT; a missing max equals the min.
 * Addresses as key words (IPv4 in word 0).
 */
export class NatInfo {
  action = 0;
  readonly minAddr = new Uint32Array(4);
  readonly maxAddr = new Uint32Array(4);
  minPort = 0;
  maxPort = 0;

  /** From the parsed action (model/pipeline `CtNat` fields). */
  static of(kind: 'src' | 'dst' | null, family: 4 | 6 | null, addrMin: bigint, addrMax: bigint, portMin: number, portMax: number): NatInfo {
    const n = new NatInfo();
    if (kind === null) return n;
    n.action = kind === 'src' ? NAT_ACTION_SRC : NAT_ACTION_DST;
    if (family !== null) {
      toWords(addrMin, family, n.minAddr);
      toWords(addrMax > addrMin ? addrMax : addrMin, family, n.maxAddr);
      if (portMin !== 0) {
        n.minPort = portMin;
        n.maxPort = portMax > portMin ? portMax : portMin;
        n.action |= kind === 'src' ? NAT_ACTION_SRC_PORT : NAT_ACTION_DST_PORT;
      }
    }
    return n;
  }
}

function toWords(v: bigint, family: 4 | 6, out: Uint32Array): void {
  if (family === 4) {
    out[0] = Number(v & 0xffffffffn);
    return;
  }
  for (let i = 3; i >= 0; i--) {
    out[i] = Number(v & 0xffffffffn);
    v >>= 32n;
  }
}

function wordsToBig(w: Uint32Array, off: number): bigint {
  return (BigInt(w[off]!) << 96n) | (BigInt(w[off + 1]!) << 64n) | (BigInt(w[off + 2]!) << 32n) | BigInt(w[off + 3]!);
}

/** `nat_action_reverse`. */
export function natActionReverse(a: number): number {
  if (a & NAT_ACTION_SRC) return (a & ~NAT_ACTION_SRC) | NAT_ACTION_DST;
  if (a & NAT_ACTION_DST) return (a & ~NAT_ACTION_DST) | NAT_ACTION_SRC;
  return a;
}

// ------------------------------------------------------------------ allocation

/** Is this candidate reply key taken (`conn_lookup` on it finds a live entry)? */
export type TupleTaken = (k: Uint32Array) => boolean;

/**
 * A translation chosen from outside (the OVS oracle learns it from OVS's output): the reply
 * key for a new connection whose original key is `orig`, null when the outside found the tuple
 * space exhausted, or undefined to allocate as OVS would.
 */
export type NatChooser = (orig: Uint32Array, ni: NatInfo) => Uint32Array | null | undefined;


/**
 * `nat_range_hash`: the range and the whole original key under the table's salt. OVS salts it
 * with `hash_basis = random_uint32()` drawn at start, so its choice cannot be predicted from
 * outside; the model draws the same way from its own salt (§11.3).
 */
function natRangeHash(k: Uint32Array, ni: NatInfo, basis: number): number {
  let h = basis | 0;
  for (let i = 0; i < 4; i++) h = mix(h, ni.minAddr[i]!);
  for (let i = 0; i < 4; i++) h = mix(h, ni.maxAddr[i]!);
  h = mix(h, ((ni.maxPort << 16) | ni.minPort) >>> 0);
  for (let i = 0; i < KEY_WORDS; i++) h = mix(h, k[i]!);
  return finish(h);
}

/**
 * The allocator's state: the salt of `nat_range_hash` and the generator standing in for OVS's
 * `random_uint32()` in the later rounds of `nat_get_unique_l4` (seeded, so runs replay).
 */
export class NatAllocator {
  private rnd: number;
  constructor(readonly basis: number) {
    this.rnd = (basis ^ 0x9e3779b9) >>> 0 || 1;
  }

  /** xorshift32: the model never reads Math.random (docs/style.md, "House habits"). */
  private random(): number {
    let x = this.rnd;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rnd = x >>> 0;
    return this.rnd;
  }

  /**
   * `nat_get_unique_tuple`: fill `rk` (KEY_WORDS) with the reply key of a new connection whose
   * original key is `k`; false on exhaustion (every candidate tried is taken).
   */
  uniqueTuple(k: Uint32Array, ni: NatInfo, taken: TupleTaken, rk: Uint32Array): boolean {
    // nat_conn starts as a copy of the connection: rev_key = reverse(key).
    reverseInto(k, rk);
    const v6 = metaV6(k[K_META]!);
    const proto = metaProto(k[K_META]!);
    const hash = natRangeHash(k, ni, this.basis);
    const patProto = proto === IPPROTO_TCP || proto === IPPROTO_UDP;

    // find_addr; store_addr_to_key.
    const addr = new Uint32Array(4);
    const zero = ni.minAddr[0] === 0 && ni.minAddr[1] === 0 && ni.minAddr[2] === 0 && ni.minAddr[3] === 0;
    if (zero) {
      if (ni.action & NAT_ACTION_SRC) addr.set(k.subarray(K_SRC, K_SRC + 4));
      else if (ni.action & NAT_ACTION_DST) addr.set(k.subarray(K_DST, K_DST + 4));
    } else if (!v6) {
      const range = (ni.maxAddr[0]! - ni.minAddr[0]! + 1) >>> 0;
      // range 0 means the whole 2^32 space (uint32 wrap), where `hash % 0` would be undefined
      // in C; a /0 range is not a configuration OVS can be given in practice.
      addr[0] = (ni.minAddr[0]! + (range === 0 ? hash : hash % range)) >>> 0;
    } else {
      const min = wordsToBig(ni.minAddr, 0);
      const max = wordsToBig(ni.maxAddr, 0);
      // nat_ipv6_addrs_delta caps the span at 0xfffffffe.
      let delta = max - min;
      if (delta > 0xfffffffen) delta = 0xfffffffen;
      const offt = BigInt(hash % (Number(delta) + 1));
      toWords(min + offt, 6, addr);
    }
    const ao = ni.action & NAT_ACTION_SRC ? K_DST : K_SRC;
    rk[ao] = addr[0]!;
    rk[ao + 1] = addr[1]!;
    rk[ao + 2] = addr[2]!;
    rk[ao + 3] = addr[3]!;

    if (!patProto) return !taken(rk);

    // set_sport_range
    let curS: number, minS: number, maxS: number;
    if ((ni.action & (NAT_ACTION_SRC | NAT_ACTION_SRC_PORT)) === NAT_ACTION_SRC || ni.action & NAT_ACTION_DST) {
      curS = k[K_SPORT]! & 0xffff;
      if (curS < 512) [minS, maxS] = [1, 511];
      else if (curS < 1024) [minS, maxS] = [600, 1023];
      else [minS, maxS] = [MIN_NAT_EPHEMERAL_PORT, MAX_NAT_EPHEMERAL_PORT];
    } else {
      minS = ni.minPort;
      maxS = ni.maxPort;
      curS = minS + (hash % (maxS - minS + 1));
    }
    // set_dport_range
    let curD: number, minD: number, maxD: number;
    if (ni.action & NAT_ACTION_DST_PORT) {
      minD = ni.minPort;
      maxD = ni.maxPort;
      curD = minD + (hash % (maxD - minD + 1));
    } else {
      curD = minD = maxD = k[K_DPORT]! & 0xffff;
    }
    rk[K_SPORT] = curD;
    rk[K_DPORT] = curS;

    if (ni.action & NAT_ACTION_DST_PORT && this.uniqueL4(rk, K_SPORT, curD, minD, maxD, taken)) return true;
    return this.uniqueL4(rk, K_DPORT, curS, minS, maxS, taken);
  }

  /**
   * `nat_get_unique_l4`: up to 128 ports from `curr` (wrapping in [min, max], an out-of-range
   * start tried first), then rounds of half as many from a random start while at least 16.
   */
  private uniqueL4(rk: Uint32Array, slot: number, curr: number, min: number, max: number, taken: TupleTaken): boolean {
    const range = max - min + 1;
    let attempts = Math.min(range, 128);
    const orig = curr;
    for (;;) {
      let i = 0;
      // FOR_EACH_PORT_IN_RANGE: N_PORT_ATTEMPTS iterations, NEXT_PORT_IN_RANGE between them.
      const inRange = curr >= min && curr <= max;
      for (let n = inRange ? range : range + 1; n > 0; n--) {
        if (i++ >= attempts) break;
        rk[slot] = curr;
        if (!taken(rk)) return true;
        curr = curr < min || curr > max || curr === max ? min : curr + 1;
      }
      if (attempts < range && attempts >= 16) {
        attempts = Math.floor(attempts / 2);
        curr = min + (this.random() % range);
        continue;
      }
      rk[slot] = orig;
      return false;
    }
  }
}

/** `conn_key_reverse` into another array. */
export function reverseInto(k: Uint32Array, out: Uint32Array): void {
  out[K_META] = k[K_META]!;
  for (let i = 0; i < 4; i++) {
    out[K_SRC + i] = k[K_DST + i]!;
    out[K_DST + i] = k[K_SRC + i]!;
  }
  out[K_SPORT] = k[K_DPORT]!;
  out[K_DPORT] = k[K_SPORT]!;
}

/**
 * Whether `rk` is a translation `ni` could have produced for original key `k` (the oracle's
 * imposed tuple is checked with it): same protocol/zone, the translated address in the range
 * (or unchanged when no range), ports in their ranges, and everything else untouched.
 */
export function natTupleAllowed(k: Uint32Array, ni: NatInfo, rk: Uint32Array): boolean {
  // A bare `ct(commit,nat)` translates nothing and its reply key is OVS's degenerate one
  // (docs/conntrack-semantics.md §11.2): nothing from outside can stand for it.
  if ((ni.action & (NAT_ACTION_SRC | NAT_ACTION_DST)) === 0) return false;
  if (rk[K_META] !== k[K_META]) return false;
  const v6 = metaV6(k[K_META]!);
  const proto = metaProto(k[K_META]!);
  const src = (ni.action & NAT_ACTION_SRC) !== 0;
  // The untranslated side must be the reverse of the original's.
  const fixedAddr = src ? K_SRC : K_DST; // in rk
  const fixedFrom = src ? K_DST : K_SRC; // in k
  for (let i = 0; i < 4; i++) if (rk[fixedAddr + i] !== k[fixedFrom + i]) return false;
  const natAddr = src ? K_DST : K_SRC;
  const zero = ni.minAddr[0] === 0 && ni.minAddr[1] === 0 && ni.minAddr[2] === 0 && ni.minAddr[3] === 0;
  if (zero) {
    const from = src ? K_SRC : K_DST;
    for (let i = 0; i < 4; i++) if (rk[natAddr + i] !== k[from + i]) return false;
  } else if (!v6) {
    if (rk[natAddr]! < ni.minAddr[0]! || rk[natAddr]! > ni.maxAddr[0]!) return false;
  } else {
    const a = wordsToBig(rk, natAddr);
    if (a < wordsToBig(ni.minAddr, 0) || a > wordsToBig(ni.maxAddr, 0)) return false;
  }
  if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) return rk[K_SPORT] === k[K_DPORT] && rk[K_DPORT] === k[K_SPORT];
  const inR = (p: number, lo: number, hi: number): boolean => p >= lo && p <= hi;
  const sp = rk[K_DPORT]!; // translated source port of the original direction
  const dp = rk[K_SPORT]!; // translated destination port
  // set_dport_range: a DNAT port range, else the original destination port.
  if (ni.action & NAT_ACTION_DST_PORT) {
    if (!inR(dp, ni.minPort, ni.maxPort)) return false;
  } else if (dp !== k[K_DPORT]) return false;
  // set_sport_range: an SNAT port range, else the original source port or its class.
  if (ni.action & NAT_ACTION_SRC_PORT) return inR(sp, ni.minPort, ni.maxPort);
  const o = k[K_SPORT]! & 0xffff;
  if (sp === o) return true;
  return o < 512 ? inR(sp, 1, 511) : o < 1024 ? inR(sp, 600, 1023) : inR(sp, MIN_NAT_EPHEMERAL_PORT, MAX_NAT_EPHEMERAL_PORT);
}

// ------------------------------------------------------------------ packet rewrite

/**
 * `nat_packet`: translate `pkt` in place of its bytes (a copy: `pkt` is re-parsed over it)
 * with the addresses and ports of `key` at `ko` (the reply key for the original direction, the
 * original key for replies), `action` already reversed for replies. An ICMP error (`related`)
 * gets its outer addresses and its embedded header translated (`nat_inner_packet`).
 * Returns the ct_state NAT bit the call sets (CS_SRC_NAT 0x40 / CS_DST_NAT 0x80), 0 for none.
 */
export function natPacket(pkt: PacketView, key: Uint32Array, ko: number, action: number, related: boolean): number {
  const bit = action & NAT_ACTION_SRC ? 0x40 : action & NAT_ACTION_DST ? 0x80 : 0;
  if (bit === 0) return 0;
  const b = pkt.buf.slice(0, pkt.len);
  const v6 = pkt.l3 === L3_IPV6;
  const l3 = pkt.l3Off;
  const l4 = pkt.l4Off;
  const end = pkt.l3End;
  const proto = pkt.ipProto;
  // OVS 3.1 `nat_packet_ipv6` passes the connection's protocol (`key->nw_proto`), not the
  // packet's: on an ICMPv6 error about a TCP/UDP connection the outer address change is folded
  // into a "TCP checksum" at bytes 16-17 (a "UDP checksum" at bytes 6-7, when non-zero) of the
  // ICMPv6 message — inside the quoted packet — before the ICMPv6 checksum is recomputed [obs]
  // (fixed after 3.1, docs/conntrack-semantics.md §11.4). IPv4 uses the header's own protocol.
  const outerProto = related && v6 ? pkt.innerProto : proto;
  if (action & NAT_ACTION_SRC) setAddr(b, v6, l3, v6 ? l3 + 8 : l3 + 12, outerProto, l4, end, key, ko + K_DST);
  else setAddr(b, v6, l3, v6 ? l3 + 24 : l3 + 16, outerProto, l4, end, key, ko + K_SRC);
  if (!related) {
    patPacket(b, proto, l4, end, key[ko + K_DPORT]! & 0xffff, key[ko + K_SPORT]! & 0xffff);
  } else {
    // nat_inner_packet: the embedded packet travels the other way, so the reversed key and
    // the reversed action; then the ICMP checksum is computed afresh over the whole message.
    const inAction = natActionReverse(action);
    const il3 = pkt.innerOff;
    const il4 = pkt.innerL4Off;
    const ip = pkt.innerProto;
    // pat_packet(rev_key): inner source port ← key.src.port, destination ← key.dst.port.
    patPacket(b, ip, il4, end, key[ko + K_SPORT]! & 0xffff, key[ko + K_DPORT]! & 0xffff);
    if (inAction & NAT_ACTION_SRC) setAddr(b, v6, il3, v6 ? il3 + 8 : il3 + 12, ip, il4, end, key, ko + K_SRC);
    else setAddr(b, v6, il3, v6 ? il3 + 24 : il3 + 16, ip, il4, end, key, ko + K_DST);
    b[l4 + 2] = 0;
    b[l4 + 3] = 0;
    const c = v6 ? finishChecksum(sum16(b, l4, end - l4, pseudoSum6(b, l3, IPPROTO_ICMPV6, end - l4))) : finishChecksum(sum16(b, l4, end - l4));
    b[l4 + 2] = c >>> 8;
    b[l4 + 3] = c & 255;
  }
  pkt.parse(b);
  return bit;
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v & 255;
}

/**
 * `packet_set_ipv4_addr` / `packet_set_ipv6_addr(…, true)`: write the address at `at` from key
 * words `w[wo..]` and update the L4 checksum incrementally when the L4 header is all there
 * (TCP 20 bytes, UDP 8 with a non-zero checksum, ICMPv6 4), and the IPv4 header checksum.
 */
function setAddr(b: Uint8Array, v6: boolean, l3: number, at: number, proto: number, l4: number, end: number, w: Uint32Array, wo: number): void {
  const l4Size = end - l4;
  const n = v6 ? 8 : 2;
  // Which checksum the L4 header carries, if OVS updates it (-1: none).
  const co =
    proto === IPPROTO_TCP && l4Size >= 20 ? l4 + 16
    : proto === IPPROTO_UDP && l4Size >= 8 && u16(b, l4 + 6) !== 0 ? l4 + 6
    : v6 && proto === IPPROTO_ICMPV6 && l4Size >= 4 ? l4 + 2
    : -1;
  let lc = co >= 0 ? u16(b, co) : 0;
  let ic = v6 ? 0 : u16(b, l3 + 10);
  // recalc_csum32 / recalc_csum128: every 16-bit word, changed or not (a no-op word can still
  // turn a 0x0000 checksum into 0xffff, as in OVS).
  for (let i = 0; i < n; i++) {
    const word = w[wo + (i >> 1)]!;
    const nv = i & 1 ? word & 0xffff : word >>> 16;
    const ov = u16(b, at + 2 * i);
    if (co >= 0) lc = recalcCsum16(lc, ov, nv);
    if (!v6) ic = recalcCsum16(ic, ov, nv);
    put16(b, at + 2 * i, nv);
  }
  if (co >= 0) put16(b, co, proto === IPPROTO_UDP && lc === 0 ? 0xffff : lc);
  if (!v6) put16(b, l3 + 10, ic);
}

/**
 * `pat_packet` → `packet_set_tcp_port` / `packet_set_udp_port`: ports written with an
 * incremental checksum update (UDP only when its checksum is non-zero, 0 becomes 0xffff).
 * Other protocols are left alone (ICMP ids are not translated by OVS 3.1 userspace).
 */
function patPacket(b: Uint8Array, proto: number, l4: number, end: number, sport: number, dport: number): void {
  if (proto === IPPROTO_TCP) {
    // OVS writes the checksum field even when an ICMP error quotes only 8 bytes of TCP; here
    // a checksum field beyond the packet's end is not written (there are no bytes to write).
    const hasCsum = l4 + 18 <= end;
    for (const [o, nv] of [[0, sport], [2, dport]] as const) {
      const ov = u16(b, l4 + o);
      if (ov === nv) continue;
      if (hasCsum) put16(b, l4 + 16, recalcCsum16(u16(b, l4 + 16), ov, nv));
      put16(b, l4 + o, nv);
    }
  } else if (proto === IPPROTO_UDP) {
    const c0 = u16(b, l4 + 6);
    let c = c0;
    for (const [o, nv] of [[0, sport], [2, dport]] as const) {
      const ov = u16(b, l4 + o);
      if (ov === nv) continue;
      if (c0 !== 0) c = recalcCsum16(c, ov, nv);
      put16(b, l4 + o, nv);
    }
    if (c0 !== 0) put16(b, l4 + 6, c || 0xffff);
  }
}

