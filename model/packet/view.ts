/**
 * PacketView: the zero-allocation parser of a raw Ethernet frame into flat fields, reused for
 * every packet (the model's hot path). It applies the validation rules of OVS 3.1:
 *  - the flow-key extraction of openvswitch/ovs lib/flow.c `miniflow_extract`
 *    (`flowL3`/`flowL4` say which header fields a flow table may match), and
 *  - the tracker's own checks of lib/conntrack.c `conn_key_extract` / `extract_l3_*` /
 *    `check_l4_*` / `extract_l4_*` (`ctStatus`; non-zero means the tracker reports inv|trk).
 * See docs/conntrack-semantics.md §3 and §5.3. The structured codec
 * (./codec.ts) builds and dissects whole header objects; this file only reads.
 */
import { checksumOk, pseudoSum4, pseudoSum6 } from './checksum.js';

export const L3_NONE = 0;
export const L3_IPV4 = 4;
export const L3_IPV6 = 6;

export const ETH_TYPE_IPV4 = 0x0800;
export const ETH_TYPE_IPV6 = 0x86dd;
export const ETH_TYPE_ARP = 0x0806;
export const ETH_TYPE_VLAN = 0x8100;
export const ETH_TYPE_QINQ = 0x88a8;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

/** Fragment kinds (`frag`): none, first fragment (offset 0, MF), later fragment (offset > 0). */
export const FRAG_NONE = 0;
export const FRAG_FIRST = 1;
export const FRAG_LATER = 2;

/** Why the tracker would call a packet invalid (`ctStatus`); 0 = trackable. */
export const CT_OK = 0;
export const CT_NOT_IP = 1;
export const CT_L3_TRUNCATED = 2;
export const CT_L3_BAD_HEADER = 3;
export const CT_L3_BAD_CSUM = 4;
export const CT_FRAGMENT = 5;
export const CT_L4_TRUNCATED = 6;
export const CT_L4_BAD_CSUM = 7;
export const CT_L4_ZERO_PORT = 8;
export const CT_ICMP_BAD_TYPE = 9;
export const CT_ICMP_BAD_CODE = 10;
export const CT_ICMP_BAD_INNER = 11;
export const CT_ICMP_INNER_SRC = 12;

export const CT_STATUS_NAMES = [
  'ok', 'not IP', 'L3 truncated', 'bad L3 header', 'bad IPv4 checksum', 'fragment',
  'L4 truncated', 'bad L4 checksum', 'zero port', 'unsupported ICMP type', 'ICMP query with non-zero code',
  'bad ICMP error payload', 'ICMP error inner source differs from outer destination',
] as const;

/** ICMP message classes (`icmpClass`). */
export const ICMP_NONE = 0;
export const ICMP_QUERY = 1;
export const ICMP_ERROR = 2;

/** TCP flag bits as in the 12-bit flags field. */
export const TCP_FIN = 0x001;
export const TCP_SYN = 0x002;
export const TCP_RST = 0x004;
export const TCP_PSH = 0x008;
export const TCP_ACK = 0x010;
export const TCP_URG = 0x020;
export const TCP_ECE = 0x040;
export const TCP_CWR = 0x080;
export const TCP_NS = 0x100;

export class PacketView {
  buf: Uint8Array = new Uint8Array(0);
  /** Frame length in bytes (may be less than buf.length). */
  len = 0;

  // ---- L2
  /** EtherType after any VLAN tags; 0 for a frame shorter than 14 bytes. */
  ethType = 0;
  /** TCI of the outermost 802.1Q/802.1ad tag, or -1. */
  vlanTci = -1;
  vlanCount = 0;
  l3Off = 0;

  // ---- L3
  l3 = L3_NONE;
  /** The flow key has network fields (miniflow_extract accepted the IP header). */
  flowL3 = false;
  /**
   * IP protocol: IPv4 protocol field, or IPv6 next header after the extension headers (44 for a
   * later IPv6 fragment, as in OVS's flow key).
   */
  ipProto = 0;
  tos = 0;
  ttl = 0;
  /** Addresses as 32-bit words, big-endian order; IPv4 uses word 0 only, words 1-3 are 0. */
  readonly src = new Uint32Array(4);
  readonly dst = new Uint32Array(4);
  /** IPv6 flow label (0 for IPv4). */
  ipv6Label = 0;
  ipId = 0;
  frag = FRAG_NONE;
  /** Fragment offset in bytes. */
  fragOffset = 0;
  moreFragments = false;
  /** Offset of the end of the IP datagram as given by its length field (≤ len). */
  l3End = 0;

  // ---- L4
  /** The flow key has transport fields (ports / ICMP type+code / TCP flags). */
  flowL4 = false;
  l4Off = 0;
  /** Bytes of IP payload (from the IP length fields, not the frame). */
  l4Len = 0;
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  seq = 0;
  ack = 0;
  win = 0;
  /** Window-scale option shift (capped at 14 as in `tcp_get_wscale`) or -1 when absent. */
  wscale = -1;
  payloadOff = 0;
  payloadLen = 0;
  icmpType = 0;
  icmpCode = 0;
  icmpId = 0;
  icmpClass = ICMP_NONE;

  // ---- embedded header of an ICMP/ICMPv6 error (valid when icmpClass === ICMP_ERROR && ctStatus === CT_OK)
  innerL3 = L3_NONE;
  innerProto = 0;
  readonly innerSrc = new Uint32Array(4);
  readonly innerDst = new Uint32Array(4);
  innerSport = 0;
  innerDport = 0;
  innerIcmpType = 0;
  innerIcmpCode = 0;
  innerIcmpId = 0;
  innerOff = 0;
  /** Offset of the embedded L4 header (NAT rewrites it, docs/conntrack-semantics.md §11.4). */
  innerL4Off = 0;

  /** 0 when the tracker may track the packet, else a CT_* reason (the tracker answers inv|trk). */
  ctStatus = CT_OK;

  constructor() {
    // seq and ack are 32-bit unsigned: V8 first gives these fields small-integer form, and the
    // first value ≥ 2^31 (any busy capture has one) would change the object's shape and throw
    // away the optimized code of everything that reads a PacketView (seen as a wave of
    // "wrong map" deoptimizations in replay). Storing a double now fixes the fields' form once.
    this.seq = 2 ** 32 - 1;
    this.ack = 2 ** 32 - 1;
    this.seq = 0;
    this.ack = 0;
  }

  /** Parse `buf[0, len)`. Never throws; fields not reached are left at their reset values. */
  parse(buf: Uint8Array, len = buf.length): this {
    this.reset(buf, len);
    parseInto(this);
    return this;
  }

  private reset(buf: Uint8Array, len: number): void {
    this.buf = buf;
    this.len = len;
    this.ethType = 0;
    this.vlanTci = -1;
    this.vlanCount = 0;
    this.l3Off = 0;
    this.l3 = L3_NONE;
    this.flowL3 = false;
    this.ipProto = 0;
    this.tos = 0;
    this.ttl = 0;
    zero4(this.src);
    zero4(this.dst);
    this.ipv6Label = 0;
    this.ipId = 0;
    this.frag = FRAG_NONE;
    this.fragOffset = 0;
    this.moreFragments = false;
    this.l3End = 0;
    this.flowL4 = false;
    this.l4Off = 0;
    this.l4Len = 0;
    this.sport = 0;
    this.dport = 0;
    this.tcpFlags = 0;
    this.seq = 0;
    this.ack = 0;
    this.win = 0;
    this.wscale = -1;
    this.payloadOff = 0;
    this.payloadLen = 0;
    this.icmpType = 0;
    this.icmpCode = 0;
    this.icmpId = 0;
    this.icmpClass = ICMP_NONE;
    this.innerL3 = L3_NONE;
    this.innerProto = 0;
    zero4(this.innerSrc);
    zero4(this.innerDst);
    this.innerSport = 0;
    this.innerDport = 0;
    this.innerIcmpType = 0;
    this.innerIcmpCode = 0;
    this.innerIcmpId = 0;
    this.innerOff = 0;
    this.innerL4Off = 0;
    this.ctStatus = CT_NOT_IP;
  }
}

/** Direct writes: TypedArray.fill on a 4-word array costs more than the whole parse (profiled). */
function zero4(a: Uint32Array): void {
  a[0] = 0;
  a[1] = 0;
  a[2] = 0;
  a[3] = 0;
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function parseInto(v: PacketView): void {
  const b = v.buf;
  const len = v.len;
  if (len < 14) return;
  let off = 12;
  let et = u16(b, off);
  while ((et === ETH_TYPE_VLAN || et === ETH_TYPE_QINQ) && off + 6 <= len) {
    if (v.vlanCount === 0) v.vlanTci = u16(b, off + 2);
    v.vlanCount++;
    off += 4;
    et = u16(b, off);
  }
  v.ethType = et;
  off += 2;
  v.l3Off = off;
  if (et === ETH_TYPE_IPV4) {
    v.l3 = L3_IPV4;
    parseIpv4(v, off);
  } else if (et === ETH_TYPE_IPV6) {
    v.l3 = L3_IPV6;
    parseIpv6(v, off);
  }
}

function parseIpv4(v: PacketView, off: number): void {
  const b = v.buf;
  const avail = v.len - off;
  v.ctStatus = CT_L3_TRUNCATED;
  if (avail < 20) return;
  const ihl = (b[off]! & 0x0f) * 4;
  const total = u16(b, off + 2);
  // miniflow_extract's ipv4_sanity_check: IHL >= 5, IHL within frame, tot_len sane. The version
  // nibble is not checked anywhere on the OVS 3.1 userspace path (the EtherType decides) [obs:
  // a version-6 header with a good checksum is new|trk]; a changed nibble usually fails the
  // header checksum instead.
  if (ihl < 20 || ihl > avail || total < ihl || total > avail) {
    v.ctStatus = CT_L3_BAD_HEADER;
    return;
  }
  v.flowL3 = true;
  v.tos = b[off + 1]!;
  v.ipId = u16(b, off + 4);
  const fragField = u16(b, off + 6);
  v.moreFragments = (fragField & 0x2000) !== 0;
  v.fragOffset = (fragField & 0x1fff) * 8;
  v.frag = v.fragOffset > 0 ? FRAG_LATER : v.moreFragments ? FRAG_FIRST : FRAG_NONE;
  v.ttl = b[off + 8]!;
  v.ipProto = b[off + 9]!;
  v.src[0] = u32(b, off + 12);
  v.dst[0] = u32(b, off + 16);
  v.l3End = off + total;
  v.l4Off = off + ihl;
  v.l4Len = total - ihl;
  // The tracker verifies the header checksum: no offload flags on the netdev/dummy path.
  const csumOk = checksumOk(b, off, ihl);
  if (v.frag === FRAG_LATER) {
    v.ctStatus = csumOk ? CT_FRAGMENT : CT_L3_BAD_CSUM;
    return; // no L4 header in a later fragment
  }
  parseL4(v, v.l4Off, v.l4Len, false);
  if (!csumOk) v.ctStatus = CT_L3_BAD_CSUM;
  else if (v.frag !== FRAG_NONE) v.ctStatus = CT_FRAGMENT;
}

/**
 * Walk IPv6 extension headers (lib/flow.c `parse_ipv6_ext_hdrs__`): HBH 0, Routing 43,
 * DSTOPT 60 ((n+1)*8), AH 51 ((n+2)*4), Fragment 44 (8). Returns the L4 offset or -1 when
 * truncated; sets proto and fragment fields on `out`.
 */
function walkIpv6Ext(
  b: Uint8Array,
  off: number,
  end: number,
  nextHdr: number,
  out: { proto: number; frag: number; fragOffset: number; more: boolean; id: number },
): number {
  // Reset every output: the scratch object is shared between packets.
  out.frag = FRAG_NONE;
  out.fragOffset = 0;
  out.more = false;
  out.id = 0;
  for (;;) {
    if (nextHdr === 0 || nextHdr === 43 || nextHdr === 60 || nextHdr === 51) {
      if (off + 8 > end) return -1;
      const hlen = nextHdr === 51 ? (b[off + 1]! + 2) * 4 : (b[off + 1]! + 1) * 8;
      if (off + hlen > end) return -1;
      nextHdr = b[off]!;
      off += hlen;
    } else if (nextHdr === 44) {
      if (off + 8 > end) return -1;
      const fo = u16(b, off + 2);
      const offset = (fo & 0xfff8);
      const more = (fo & 1) !== 0;
      nextHdr = b[off]!;
      // An atomic fragment (offset, reserved bits and M all 0) is transparent (RFC 6946); any
      // other value of the 16-bit offset/flags word makes a fragment, reserved bits included:
      // lib/flow.c `parse_ipv6_ext_hdrs__` tests `ip6f_offlg != 0`, and the tracker then
      // refuses the packet (`extract_l3_ipv6`: nw_frag set), while ipf ignores it
      // (`ipf_is_v6_frag` looks at the offset and M only).
      if (fo !== 0) {
        out.fragOffset = offset;
        out.more = more;
        out.id = u32(b, off + 4);
        out.frag = offset > 0 ? FRAG_LATER : FRAG_FIRST;
      }
      off += 8;
      if (out.frag === FRAG_LATER) {
        // The flow key of a later IPv6 fragment has nw_proto 44 (IPPROTO_FRAGMENT), not the
        // fragment header's next header (`parse_ipv6_ext_hdrs__`).
        out.proto = 44;
        return off;
      }
    } else {
      out.proto = nextHdr;
      return off;
    }
  }
}

const extScratch = { proto: 0, frag: FRAG_NONE, fragOffset: 0, more: false, id: 0 };

function parseIpv6(v: PacketView, off: number): void {
  const b = v.buf;
  const avail = v.len - off;
  v.ctStatus = CT_L3_TRUNCATED;
  if (avail < 40) return;
  const plen = u16(b, off + 4);
  // ipv6_sanity_check checks lengths only, not the version nibble [obs: version 4 is new|trk].
  if (plen + 40 > avail) {
    v.ctStatus = CT_L3_BAD_HEADER;
    return;
  }
  v.tos = ((b[off]! & 0x0f) << 4) | (b[off + 1]! >> 4);
  v.ipv6Label = ((b[off + 1]! & 0x0f) << 16) | u16(b, off + 2);
  v.ttl = b[off + 7]!;
  for (let i = 0; i < 4; i++) {
    v.src[i] = u32(b, off + 8 + 4 * i);
    v.dst[i] = u32(b, off + 24 + 4 * i);
  }
  v.l3End = off + 40 + plen;
  const l4 = walkIpv6Ext(b, off + 40, v.l3End, b[off + 6]!, extScratch);
  if (l4 < 0) {
    v.ctStatus = CT_L3_TRUNCATED;
    return;
  }
  v.flowL3 = true;
  v.ipProto = extScratch.proto;
  v.frag = extScratch.frag;
  v.fragOffset = extScratch.fragOffset;
  v.moreFragments = extScratch.more;
  v.ipId = extScratch.id;
  v.l4Off = l4;
  v.l4Len = v.l3End - l4;
  if (v.frag === FRAG_LATER) {
    v.ctStatus = CT_FRAGMENT;
    return;
  }
  parseL4(v, l4, v.l4Len, true);
  if (v.ctStatus === CT_OK && v.frag !== FRAG_NONE) v.ctStatus = CT_FRAGMENT;
}

/** Parse the transport header at `off` with `l4Len` bytes of IP payload. */
function parseL4(v: PacketView, off: number, l4Len: number, v6: boolean): void {
  const b = v.buf;
  const proto = v.ipProto;
  v.ctStatus = CT_OK;
  if (proto === IPPROTO_TCP) {
    if (l4Len < 20) return void (v.ctStatus = CT_L4_TRUNCATED);
    const hlen = (b[off + 12]! >> 4) * 4;
    if (hlen < 20 || hlen > l4Len) return void (v.ctStatus = CT_L4_TRUNCATED);
    v.flowL4 = true;
    v.sport = u16(b, off);
    v.dport = u16(b, off + 2);
    v.seq = u32(b, off + 4);
    v.ack = u32(b, off + 8);
    v.tcpFlags = u16(b, off + 12) & 0x0fff;
    v.win = u16(b, off + 14);
    v.payloadOff = off + hlen;
    v.payloadLen = l4Len - hlen;
    v.wscale = tcpWscale(b, off + 20, off + hlen);
    if (v.frag !== FRAG_NONE) return; // checksum covers the reassembled datagram
    const ps = v6 ? pseudoSum6(b, v.l3Off, proto, l4Len) : pseudoSum4(b, v.l3Off, proto, l4Len);
    if (!checksumOk(b, off, l4Len, ps)) v.ctStatus = CT_L4_BAD_CSUM;
    else if (v.sport === 0 || v.dport === 0) v.ctStatus = CT_L4_ZERO_PORT;
  } else if (proto === IPPROTO_UDP) {
    if (l4Len < 8) return void (v.ctStatus = CT_L4_TRUNCATED);
    const ulen = u16(b, off + 4);
    v.flowL4 = true;
    v.sport = u16(b, off);
    v.dport = u16(b, off + 2);
    v.payloadOff = off + 8;
    v.payloadLen = Math.max(0, Math.min(ulen, l4Len) - 8);
    if (ulen < 8 || ulen > l4Len) return void (v.ctStatus = CT_L4_TRUNCATED);
    if (v.frag !== FRAG_NONE) return;
    const csum = u16(b, off + 6);
    // IPv4: a zero checksum means "none"; IPv6: mandatory, so zero fails verification.
    if (v6 || csum !== 0) {
      const ps = v6 ? pseudoSum6(b, v.l3Off, proto, l4Len) : pseudoSum4(b, v.l3Off, proto, l4Len);
      if (!checksumOk(b, off, l4Len, ps) || (v6 && csum === 0)) return void (v.ctStatus = CT_L4_BAD_CSUM);
    }
    if (v.sport === 0 || v.dport === 0) v.ctStatus = CT_L4_ZERO_PORT;
  } else if (proto === IPPROTO_ICMP && !v6) {
    parseIcmp(v, off, l4Len, false);
  } else if (proto === IPPROTO_ICMPV6 && v6) {
    parseIcmp(v, off, l4Len, true);
  } else {
    v.payloadOff = off;
    v.payloadLen = l4Len;
  }
}

/**
 * `tcp_get_wscale` (lib/conntrack-tcp.c, from pf's pf_get_wscale): walk options while >= 3 bytes
 * remain; EOL stops; kind 3 gives min(shift, 14) whatever its length byte says, and a later
 * window-scale option overrides an earlier one; a length below 2 counts as 2.
 */
function tcpWscale(b: Uint8Array, off: number, end: number): number {
  let ws = -1;
  while (end - off >= 3) {
    const kind = b[off]!;
    if (kind === 0) break;
    if (kind === 1) {
      off++;
      continue;
    }
    if (kind === 3) ws = Math.min(b[off + 2]!, 14);
    const olen = b[off + 1]!;
    off += olen < 2 ? 2 : olen;
  }
  return ws;
}

function isIcmpQuery(type: number, v6: boolean): boolean {
  return v6 ? type === 128 || type === 129 : type === 0 || type === 8 || type === 13 || type === 14 || type === 15 || type === 16;
}
function isIcmpError(type: number, v6: boolean): boolean {
  return v6 ? type >= 1 && type <= 4 : type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

function parseIcmp(v: PacketView, off: number, l4Len: number, v6: boolean): void {
  const b = v.buf;
  if (l4Len < 8) return void (v.ctStatus = CT_L4_TRUNCATED);
  v.flowL4 = true;
  v.icmpType = b[off]!;
  v.icmpCode = b[off + 1]!;
  v.payloadOff = off + 8;
  v.payloadLen = l4Len - 8;
  if (v.frag !== FRAG_NONE) return;
  const ps = v6 ? pseudoSum6(b, v.l3Off, IPPROTO_ICMPV6, l4Len) : 0;
  if (!checksumOk(b, off, l4Len, ps)) return void (v.ctStatus = CT_L4_BAD_CSUM);
  if (isIcmpQuery(v.icmpType, v6)) {
    v.icmpClass = ICMP_QUERY;
    v.icmpId = u16(b, off + 4);
    if (v.icmpCode !== 0) v.ctStatus = CT_ICMP_BAD_CODE;
  } else if (isIcmpError(v.icmpType, v6)) {
    v.icmpClass = ICMP_ERROR;
    parseIcmpInner(v, off + 8, v.l3End, v6);
  } else {
    v.ctStatus = CT_ICMP_BAD_TYPE;
  }
}

/** The embedded header of an ICMP error (docs/conntrack-semantics.md §5.3 steps 2-4). */
function parseIcmpInner(v: PacketView, off: number, end: number, v6: boolean): void {
  const b = v.buf;
  v.innerOff = off;
  v.ctStatus = CT_ICMP_BAD_INNER;
  let l4: number;
  if (!v6) {
    if (off + 20 > end) return;
    const ihl = (b[off]! & 0x0f) * 4;
    // extract_l3_ipv4 on the embedded header ignores the version nibble too [obs].
    if (ihl < 20 || off + ihl > end) return;
    const fragField = u16(b, off + 6);
    if ((fragField & 0x3fff) !== 0) return; // MF or offset: an embedded fragment is invalid
    v.innerL3 = L3_IPV4;
    v.innerProto = b[off + 9]!;
    v.innerSrc[0] = u32(b, off + 12);
    v.innerDst[0] = u32(b, off + 16);
    l4 = off + ihl;
  } else {
    if (off + 40 > end) return; // no version check, as extract_l3_ipv6 [obs]
    for (let i = 0; i < 4; i++) {
      v.innerSrc[i] = u32(b, off + 8 + 4 * i);
      v.innerDst[i] = u32(b, off + 24 + 4 * i);
    }
    l4 = walkIpv6Ext(b, off + 40, end, b[off + 6]!, extScratch);
    if (l4 < 0 || extScratch.frag !== FRAG_NONE) return;
    v.innerL3 = L3_IPV6;
    v.innerProto = extScratch.proto;
  }
  // The embedded source must be the outer destination: the error goes back to the sender.
  const n = v6 ? 4 : 1;
  for (let i = 0; i < n; i++) {
    if (v.innerSrc[i] !== v.dst[i]) return void (v.ctStatus = CT_ICMP_INNER_SRC);
  }
  v.innerL4Off = l4;
  const room = end - l4;
  const p = v.innerProto;
  if (p === IPPROTO_TCP || p === IPPROTO_UDP) {
    // IPv4 needs the first 8 bytes; IPv6 the full fixed header (20 TCP, 8 UDP).
    const need = v6 && p === IPPROTO_TCP ? 20 : 8;
    if (room < need) return;
    v.innerSport = u16(b, l4);
    v.innerDport = u16(b, l4 + 2);
    if (v.innerSport === 0 || v.innerDport === 0) return;
  } else if ((p === IPPROTO_ICMP && !v6) || (p === IPPROTO_ICMPV6 && v6)) {
    if (room < 8) return;
    v.innerIcmpType = b[l4]!;
    v.innerIcmpCode = b[l4 + 1]!;
    v.innerIcmpId = u16(b, l4 + 4);
    // An error inside an error is invalid; an embedded query must have code 0.
    if (!isIcmpQuery(v.innerIcmpType, v6) || v.innerIcmpCode !== 0) return;
  }
  v.ctStatus = CT_OK;
}

/** Reads an IPv4 address word as dotted text (diagnostics and traces, not the hot path). */
export function ipv4ToString(w: number): string {
  return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
}
