/**
 * Frame construction for the renderer: a thin layer over model/packet's buildFrame that adds
 * the scenario's corruptions (docs/conntrack-semantics.md §3) and ICMP error embedding (§5.3), and
 * says which PacketView ctStatus each frame is built to have.
 */
import { buildFrame, corruptChecksum, ipPacketOf, type FrameSpec } from '../../../model/packet/build.js';
import { finishChecksum, sum16 } from '../../../model/packet/checksum.js';
import {
  CT_FRAGMENT,
  CT_ICMP_BAD_INNER,
  CT_ICMP_INNER_SRC,
  CT_L3_BAD_CSUM,
  CT_L3_BAD_HEADER,
  CT_L3_TRUNCATED,
  CT_L4_BAD_CSUM,
  CT_L4_ZERO_PORT,
  CT_NOT_IP,
  CT_OK,
  PacketView,
} from '../../../model/packet/view.js';
import type { Corruption, Family, HeaderShape, IcmpErrorEvent } from '../types.js';

export interface Built {
  frame: Uint8Array;
  /** The ctStatus PacketView should report. */
  ctStatus: number;
}

/** L2/L3 endpoints of one packet. */
export interface Hop {
  family: Family;
  src: string;
  dst: string;
  ethSrc: string;
  ethDst: string;
  /** Header shape of the flow the packet belongs to (VLAN tags, IPv4 options, IPv6 extension header). */
  shape?: HeaderShape | undefined;
}

const view = new PacketView();

function l3Spec(h: Hop, id: number): FrameSpec['ip'] {
  const sh = h.shape;
  if (h.family === 4) {
    const n = Math.min(40, Math.max(0, Math.trunc(Number(sh?.ipOptions) || 0) & ~3));
    // NOPs then EOL (RFC 791): options no router acts on, only the header length changes.
    const opts = n > 0 ? Uint8Array.from({ length: n }, (_, i) => (i === n - 1 ? 0 : 1)) : undefined;
    return { src: h.src, dst: h.dst, id: id & 0xffff, dontFragment: true, ...(opts ? { options: opts } : {}) };
  }
  // (AH is inserted after the build, withAh.)
  const ext = sh?.ext === 'hbh' || sh?.ext === 'dstopt' || sh?.ext === 'routing' ? [{ type: sh.ext }] : undefined;
  return { src: h.src, dst: h.dst, ...(ext ? { ext } : {}) };
}

const TPIDS = [0x8100, 0x88a8];

/**
 * The frame with the shape's VLAN tags inserted after the MAC addresses (outer first). Done on
 * the finished bytes so that every corruption keeps working at the untagged offsets.
 */
export function withTags(frame: Uint8Array, shape: HeaderShape | undefined): Uint8Array {
  const tags = Array.isArray(shape?.vlan) ? shape.vlan.slice(0, 2) : [];
  if (tags.length === 0 || frame.length < 14) return frame;
  const out = new Uint8Array(frame.length + 4 * tags.length);
  out.set(frame.subarray(0, 12), 0);
  tags.forEach((t, i) => {
    const tpid = TPIDS.includes(t?.tpid) ? t.tpid : 0x8100;
    const tci = ((Math.trunc(Number(t?.pcp) || 0) & 7) << 13) | (Math.trunc(Number(t?.vid) || 0) & 0xfff);
    out.set([tpid >> 8, tpid & 0xff, tci >> 8, tci & 0xff], 12 + 4 * i);
  });
  out.set(frame.subarray(12), 12 + 4 * tags.length);
  return out;
}

/**
 * Build `spec` for hop `h`, then apply `bad`. `l4` tells which checksum field a corruption hits.
 * `baseStatus` is the status of the clean frame (ICMP error variants are not 0).
 */
export function buildWith(h: Hop, spec: Omit<FrameSpec, 'ip' | 'ethSrc' | 'ethDst'>, id: number, bad: Corruption | undefined, baseStatus = CT_OK): Built {
  const b = buildUntagged(h, spec, id, bad, baseStatus);
  const frame = h.family === 6 && h.shape?.ext === 'ah' ? withAh(b.frame, id) : b.frame;
  return { frame: withTags(frame, h.shape), ctStatus: b.ctStatus };
}

/**
 * An untagged IPv6 frame with an Authentication Header (RFC 4302 2: next header, payload length
 * in 4-octet units minus 2, SPI, sequence number, ICV) inserted right after the fixed header:
 * 16 bytes with a 4-byte ICV, a multiple of 8 as IPv6 requires. model/packet's builder has no AH.
 * The upper-layer checksum does not cover extension headers (RFC 8200 8.1): it stays right.
 */
export function withAh(frame: Uint8Array, id: number): Uint8Array {
  if (frame.length < 54 || ((frame[12]! << 8) | frame[13]!) !== 0x86dd) return frame;
  const ah = Uint8Array.from([frame[20]!, 2, 0, 0, 0, 0, 0x01, 0x00, (id >> 24) & 0xff, (id >> 16) & 0xff, (id >> 8) & 0xff, id & 0xff, 0, 0, 0, 0]);
  const out = new Uint8Array(frame.length + ah.length);
  out.set(frame.subarray(0, 54), 0);
  out.set(ah, 54);
  out.set(frame.subarray(54), 54 + ah.length);
  out[20] = 51;
  const plen = ((out[18]! << 8) | out[19]!) + ah.length;
  out[18] = (plen >> 8) & 0xff;
  out[19] = plen & 0xff;
  return out;
}

function buildUntagged(h: Hop, spec: Omit<FrameSpec, 'ip' | 'ethSrc' | 'ethDst'>, id: number, bad: Corruption | undefined, baseStatus: number): Built {
  const full: FrameSpec = { ...spec, ethSrc: h.ethSrc, ethDst: h.ethDst, ip: l3Spec(h, id) };
  const hasPorts = spec.tcp !== undefined || spec.udp !== undefined;
  let op = bad?.op;
  if (op === 'zeroPort' && !hasPorts) op = 'l4Checksum';
  if (op === 'ipChecksum' && h.family === 6) op = 'l4Checksum'; // IPv6 has no header checksum
  if (op === 'zeroPort') {
    if (full.tcp) full.tcp = { ...full.tcp, sport: 0 };
    if (full.udp) full.udp = { ...full.udp, sport: 0 };
    return { frame: buildFrame(full), ctStatus: CT_L4_ZERO_PORT };
  }
  if (op === 'fragment' || op === 'laterFragment') {
    // A later fragment: offset 1480 (a multiple of 8 past any first fragment), MF clear.
    const later = op === 'laterFragment';
    const ext = [...(full.ip!.ext ?? []), { type: 'fragment' as const, fragOffset: later ? 1480 : 0, more: !later, id: id }];
    full.ip = h.family === 4 ? { ...full.ip!, dontFragment: false, moreFragments: !later, ...(later ? { fragOffset: 1480 } : {}) } : { ...full.ip!, ext };
    return { frame: buildFrame(full), ctStatus: CT_FRAGMENT };
  }
  if (op === 'ipChecksum') {
    full.ip = { ...full.ip!, badChecksum: true };
    return { frame: buildFrame(full), ctStatus: CT_L3_BAD_CSUM };
  }
  const frame = buildFrame(full);
  if (op === 'l4Checksum') {
    view.parse(frame);
    const o = view.l4Off + (spec.tcp ? 16 : spec.udp ? 6 : 2);
    const c = corruptChecksum((frame[o]! << 8) | frame[o + 1]!);
    frame[o] = c >> 8;
    frame[o + 1] = c & 0xff;
    return { frame, ctStatus: CT_L4_BAD_CSUM };
  }
  if (op === 'truncate') {
    const l3Off = 14;
    const ipLen = frame.length - l3Off;
    const cut = Math.min(ipLen, Math.max(1, Math.trunc(Number((bad as { bytes?: unknown }).bytes) || 1)));
    const keep = ipLen - cut;
    const min = h.family === 4 ? 20 : 40;
    return { frame: frame.slice(0, l3Off + keep), ctStatus: keep < min ? CT_L3_TRUNCATED : CT_L3_BAD_HEADER };
  }
  if (op === 'tinyIhl' && h.family === 4) {
    // IHL 0–3: the program's parser takes its `0 &&& 0xc` case (offload/p4gen.ts), OVS answers inv (§3.1).
    frame[14] = (frame[14]! & 0xf0) | (Math.abs(Math.trunc(Number((bad as { ihl?: unknown }).ihl) || 0)) & 3);
    return { frame, ctStatus: CT_L3_BAD_HEADER };
  }
  if (op === 'badIhl' || op === 'tinyIhl') {
    // IPv4: IHL 4 (< 5); IPv6 (no IHL, and OVS ignores the version nibble): a payload length
    // 8 bytes beyond the frame. Both fail the parser's header sanity check (§3.1, §3.2).
    if (h.family === 4) frame[14] = (frame[14]! & 0xf0) | 4;
    else {
      const plen = ((frame[18]! << 8) | frame[19]!) + 8;
      frame[18] = (plen >> 8) & 0xff;
      frame[19] = plen & 0xff;
    }
    return { frame, ctStatus: CT_L3_BAD_HEADER };
  }
  return { frame, ctStatus: baseStatus };
}

/** ARP request (RFC 826) from `h.ethSrc`: never reaches the tracker (§3.5). */
export function arpFrame(h: Hop): Built {
  const p = new Uint8Array(28);
  p.set([0, 1, 8, 0, 6, 4, 0, 1], 0);
  const mac = h.ethSrc.split(':').map((x) => parseInt(x, 16));
  p.set(mac, 8);
  if (h.family === 4) {
    p.set(h.src.split('.').map(Number), 14);
    p.set(h.dst.split('.').map(Number), 24);
  }
  return { frame: buildFrame({ ethSrc: h.ethSrc, ethDst: 'ff:ff:ff:ff:ff:ff', ethType: 0x0806, payload: p }), ctStatus: CT_NOT_IP };
}

/**
 * A runt: the Ethernet header and 10 bytes of an IP header. (Not shorter: a frame below 14
 * bytes cannot be injected into OVS's dummy datapath, and real NICs drop those anyway.)
 */
export function runtFrame(h: Hop, id: number): Built {
  const f = buildFrame({ ethSrc: h.ethSrc, ethDst: h.ethDst, ip: l3Spec(h, id), udp: { sport: 9, dport: 9 } });
  return { frame: f.slice(0, 24), ctStatus: CT_L3_TRUNCATED };
}

/**
 * A UDP packet whose IP version nibble disagrees with its EtherType (IPv4 header checksum
 * recomputed). OVS 3.1 checks the nibble nowhere, so this is tracked like any UDP packet [obs];
 * a target that does check it disagrees with OVS here.
 */
export function badVersionFrame(h: Hop, id: number): Built {
  const f = buildFrame({ ethSrc: h.ethSrc, ethDst: h.ethDst, ip: l3Spec(h, id), udp: { sport: 9, dport: 9 }, payload: 'x' });
  const hl = (f[14]! & 0x0f) * 4; // 20, or more with the flow's IPv4 options
  f[14] = (f[14]! & 0x0f) | (h.family === 4 ? 0x60 : 0x40);
  if (h.family === 4) {
    f[24] = 0;
    f[25] = 0;
    const c = finishChecksum(sum16(f, 14, hl));
    f[24] = c >> 8;
    f[25] = c & 0xff;
  }
  return { frame: f, ctStatus: CT_OK };
}

/**
 * A GRE packet (IP protocol 47, RFC 2784 base header, no payload behind it): neither TCP, UDP nor
 * ICMP, so the program's parser takes its `default` L4 case (offload/p4gen.ts) and conntrack its
 * generic tracker (docs/style.md §1).
 */
export function otherProtoFrame(h: Hop, id: number): Built {
  const full: FrameSpec = { ethSrc: h.ethSrc, ethDst: h.ethDst, ip: { ...l3Spec(h, id)!, proto: 47 }, payload: Uint8Array.from([0, 0, 0x08, 0x00]) };
  return { frame: withTags(buildFrame(full), h.shape), ctStatus: CT_OK };
}

/** ICMP type/code/rest-of-header for an error kind (RFC 792, RFC 1191, RFC 4443). */
export function icmpErrorCode(family: Family, type: IcmpErrorEvent['type'], from: IcmpErrorEvent['from']): { type: number; code: number; rest: number } {
  if (family === 4) {
    if (type === 'timeExceeded') return { type: 11, code: 0, rest: 0 };
    if (type === 'tooBig') return { type: 3, code: 4, rest: 1400 }; // next-hop MTU (RFC 1191 4)
    return { type: 3, code: from === 'host' ? 3 : 1, rest: 0 }; // port / host unreachable
  }
  if (type === 'timeExceeded') return { type: 3, code: 0, rest: 0 };
  if (type === 'tooBig') return { type: 2, code: 0, rest: 1280 };
  return { type: 1, code: from === 'host' ? 4 : 3, rest: 0 }; // port / address unreachable
}

/**
 * The bytes an ICMP error embeds from the (clean) offending frame, and the ctStatus that the
 * error will have. IPv4 routers quote the header + 8 bytes (RFC 792) or up to 576 bytes in all
 * (RFC 1812 4.3.2.3); IPv6 quotes as much as fits 1280 bytes (RFC 4443 2.4(c)); the tracker
 * needs 8 L4 bytes (v4) or the full L4 header (v6) (docs/conntrack-semantics.md §5.3 step 4).
 */
export function embedOffender(offender: Uint8Array, family: Family, variant: IcmpErrorEvent['variant'], full: boolean): { inner: Uint8Array; ctStatus: number } {
  const ip = ipPacketOf(offender);
  const hl = family === 4 ? (ip[0]! & 0x0f) * 4 : 40;
  const proto = family === 4 ? ip[9]! : ip[6]!;
  const l4Need = family === 6 && proto === 6 ? 20 : 8;
  const max = family === 4 ? 548 : 1232;
  let n = full ? Math.min(ip.length, max) : Math.min(ip.length, hl + l4Need);
  let status = CT_OK;
  if (variant === 'short') {
    n = Math.min(n, hl + l4Need - 1);
    status = CT_ICMP_BAD_INNER;
  }
  const inner = ip.slice(0, n);
  if (variant === 'noFlow') {
    // Flip the top bit of the source port (TCP/UDP) or the echo id (ICMP): a tuple nobody uses.
    const o = proto === 6 || proto === 17 ? hl : hl + 4;
    if (o < inner.length) inner[o] = inner[o]! ^ 0x80;
  } else if (variant === 'badSource') {
    const o = family === 4 ? 15 : 23; // last byte of the embedded source address
    inner[o] = inner[o]! ^ 0x80;
    status = CT_ICMP_INNER_SRC;
  }
  return { inner, ctStatus: status };
}
