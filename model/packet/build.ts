/**
 * buildFrame: the convenience constructor of test and harness frames. A flat spec goes in, a
 * finished Ethernet frame comes out with lengths and checksums filled in unless the spec
 * overrides them (to build the invalid packets of docs/conntrack-semantics.md §3 on purpose).
 */
import { PacketBuildError } from '../errors.js';
import { isIpv6Text, parseIp, parseMac } from './addr.js';
import {
  type EthLayer, type Frame, ICMP4_QUERY_TYPES, ICMP6_QUERY_TYPES, type IcmpLayer, type Ipv4Layer, type Ipv6Layer, type Layer,
  type TcpLayer, type UdpLayer, type VlanLayer, completeFrame, encodeFrame,
} from './codec.js';
import { type TcpOption, encodeTcpOptionList } from './tcpopts.js';

export type TcpFlagsSpec = number | string; // number = 12-bit flags; string like 'S','SA','A','PA','FA','R','RA','F','SF' (letters F S R P A U E C N)
export interface TcpOptionsSpec {
  mss?: number;
  wscale?: number;
  sackOk?: boolean;
  timestamp?: [number, number];
  raw?: Uint8Array;
}
export interface FrameSpec {
  ethSrc?: string;
  ethDst?: string; // 'aa:bb:cc:dd:ee:ff'; defaults 00:00:00:00:00:01 / :02
  vlan?: number | { vid: number; pcp?: number; tpid?: number };
  ethType?: number; // only for non-IP frames (e.g. 0x0806 with raw payload)
  ip?: {
    src: string;
    dst: string;
    ttl?: number;
    tos?: number;
    id?: number;
    /** Fragment offset in bytes (a multiple of 8). */
    fragOffset?: number;
    moreFragments?: boolean;
    dontFragment?: boolean;
    /** IPv4 options, padded with EOL to a multiple of 4 bytes. */
    options?: Uint8Array;
    /** Protocol when no L4 header is given (default 253, RFC 3692 experimentation). */
    proto?: number;
    flowLabel?: number;
    ext?: { type: 'hbh' | 'dstopt' | 'routing' | 'fragment'; fragOffset?: number; more?: boolean; id?: number }[];
    badChecksum?: boolean;
    /** IPv4 total length; for IPv6 the payload length field is set to totalLength - 40. */
    totalLength?: number;
  };
  // IPv4 or IPv6 chosen from the address syntax
  tcp?: {
    sport: number;
    dport: number;
    seq?: number;
    ack?: number;
    flags?: TcpFlagsSpec;
    win?: number;
    urg?: number;
    options?: TcpOptionsSpec;
    badChecksum?: boolean;
    /** Override the data offset field (in 32-bit words). */
    dataOffset?: number;
  };
  udp?: { sport: number; dport: number; checksum?: 'auto' | 'none' | number; length?: number };
  icmp?: { type: number; code?: number; id?: number; seq?: number; badChecksum?: boolean }; // ICMPv4 or ICMPv6 per ip version
  icmpError?: { type: number; code?: number; inner: Uint8Array; badChecksum?: boolean; rest?: number }; // inner = the embedded IP packet bytes
  payload?: Uint8Array | string; // L4 payload (or IP payload for other protocols; raw payload for non-IP)
  truncate?: number; // cut the finished frame to this many bytes
}

const FLAG_LETTERS: Record<string, number> = { F: 0x001, S: 0x002, R: 0x004, P: 0x008, A: 0x010, U: 0x020, E: 0x040, C: 0x080, N: 0x100 };

/** 'SA' → 0x012; a number is taken as the 12-bit flags field. */
export function parseTcpFlags(f: TcpFlagsSpec): number {
  if (typeof f === 'number') {
    if (!Number.isInteger(f) || f < 0 || f > 0xfff) throw new PacketBuildError(`tcp.flags: bad value ${f}`);
    return f;
  }
  let v = 0;
  for (const ch of f.toUpperCase()) {
    const bit = FLAG_LETTERS[ch];
    if (bit === undefined) throw new PacketBuildError(`tcp.flags: unknown flag letter '${ch}' in '${f}'`);
    v |= bit;
  }
  return v;
}

/** The flags as letters in FSRPAUECN order ('SA' for 0x012); '' for none. */
export function formatTcpFlags(v: number): string {
  let s = '';
  for (const [ch, bit] of Object.entries(FLAG_LETTERS)) if (v & bit) s += ch;
  return s;
}

function uint(v: number | undefined, bits: number, field: string, dflt: number): number {
  if (v === undefined) return dflt;
  const max = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  if (!Number.isInteger(v) || v < 0 || v > max) throw new PacketBuildError(`${field}: ${v} does not fit in ${bits} bits`);
  return v;
}

function bytesOf(p: Uint8Array | string | undefined): Uint8Array {
  if (p === undefined) return new Uint8Array(0);
  return typeof p === 'string' ? new TextEncoder().encode(p) : p;
}


/** A checksum that is guaranteed not to verify (and is never 0, which UDP/IPv4 reads as "none"). */
export function corruptChecksum(good: number): number {
  const bad = good ^ 1;
  return bad === 0 ? 2 : bad;
}


const EXT_KIND = { hbh: 'ipv6-hbh', dstopt: 'ipv6-dstopt', routing: 'ipv6-routing', fragment: 'ipv6-frag' } as const;

/** The spec as codec layers (lengths, checksums and selectors left for the codec to fill). */
export function specLayers(spec: FrameSpec): { layers: Layer[]; corrupt: number[] } {
  const l4 = [spec.tcp && 'tcp', spec.udp && 'udp', spec.icmp && 'icmp', spec.icmpError && 'icmpError'].filter(Boolean);
  if (l4.length > 1) throw new PacketBuildError(`frame: more than one L4 header given (${l4.join(', ')})`);
  if (l4.length === 1 && !spec.ip) throw new PacketBuildError(`${l4[0]}: needs an ip header`);
  const layers: Layer[] = [];
  const corrupt: number[] = []; // indexes of layers whose checksum must not verify
  const eth: EthLayer = { kind: 'eth', dst: spec.ethDst ?? '00:00:00:00:00:02', src: spec.ethSrc ?? '00:00:00:00:00:01' };
  parseMac(eth.dst!, 'ethDst'); // validate here so the error names the spec field
  parseMac(eth.src!, 'ethSrc');
  layers.push(eth);
  let last: { type?: number } = eth;
  if (spec.vlan !== undefined) {
    const v = typeof spec.vlan === 'number' ? { vid: spec.vlan } : spec.vlan;
    if (v.tpid !== undefined) eth.type = uint(v.tpid, 16, 'vlan.tpid', 0);
    const tag: VlanLayer = { kind: 'vlan', vid: uint(v.vid, 12, 'vlan.vid', 0), pcp: uint(v.pcp, 3, 'vlan.pcp', 0), dei: false };
    layers.push(tag);
    last = tag;
  }
  const payload = bytesOf(spec.payload);
  if (!spec.ip) {
    last.type = uint(spec.ethType, 16, 'ethType', 0x88b5); // default: IEEE local experimental EtherType
    if (payload.length) layers.push({ kind: 'raw', data: payload });
    return { layers, corrupt };
  }
  const ip = spec.ip;
  const v6 = isIpv6Text(ip.src);
  if (v6 !== isIpv6Text(ip.dst)) throw new PacketBuildError(`ip.dst: '${ip.dst}' is not the same IP version as ip.src '${ip.src}'`);
  // Validate the address text here so the error names the spec field.
  parseIp(ip.src, 'ip.src');
  parseIp(ip.dst, 'ip.dst');
  if (spec.ethType !== undefined) last.type = uint(spec.ethType, 16, 'ethType', 0);
  const proto = l4.length ? undefined : uint(ip.proto, 8, 'ip.proto', 253);
  if (!v6) {
    const fo = uint(ip.fragOffset, 16, 'ip.fragOffset', 0);
    if (fo % 8 !== 0 || fo / 8 > 0x1fff) throw new PacketBuildError(`ip.fragOffset: ${fo} is not a multiple of 8 below 65536`);
    const h: Ipv4Layer = {
      kind: 'ipv4', tos: uint(ip.tos, 8, 'ip.tos', 0), id: uint(ip.id, 16, 'ip.id', 0), df: !!ip.dontFragment, mf: !!ip.moreFragments,
      frag: fo / 8, ttl: uint(ip.ttl, 8, 'ip.ttl', 64), src: ip.src, dst: ip.dst, options: ip.options ?? new Uint8Array(0),
    };
    if (ip.options && ip.options.length > 40) throw new PacketBuildError(`ip.options: ${ip.options.length} bytes exceed the 40-byte limit`);
    if (ip.totalLength !== undefined) h.totalLength = uint(ip.totalLength, 16, 'ip.totalLength', 0);
    if (proto !== undefined) h.proto = proto;
    if (ip.badChecksum) corrupt.push(layers.length);
    layers.push(h);
  } else {
    const h: Ipv6Layer = {
      kind: 'ipv6', tc: uint(ip.tos, 8, 'ip.tos', 0), flowLabel: uint(ip.flowLabel, 20, 'ip.flowLabel', 0),
      hopLimit: uint(ip.ttl, 8, 'ip.ttl', 64), src: ip.src, dst: ip.dst,
    };
    if (ip.totalLength !== undefined) h.payloadLength = uint(ip.totalLength - 40, 16, 'ip.totalLength', 0);
    layers.push(h);
    (ip.ext ?? []).forEach((e, i) => {
      const kind = EXT_KIND[e.type];
      if (!kind) throw new PacketBuildError(`ip.ext[${i}].type: unknown '${String(e.type)}'`);
      if (kind === 'ipv6-frag') {
        const fo = uint(e.fragOffset, 16, `ip.ext[${i}].fragOffset`, 0);
        if (fo % 8 !== 0) throw new PacketBuildError(`ip.ext[${i}].fragOffset: ${fo} is not a multiple of 8`);
        layers.push({ kind, offset: fo / 8, m: !!e.more, id: uint(e.id, 32, `ip.ext[${i}].id`, 0) });
      } else if (kind === 'ipv6-routing') {
        // Routing type 0 with segments left 0: ignored by every node (RFC 8200 4.4).
        layers.push({ kind, routingType: 0, segmentsLeft: 0 });
      } else layers.push({ kind }); // option area filled with PadN (RFC 8200 4.2)
    });
    if (proto !== undefined) (layers[layers.length - 1] as { nextHeader?: number }).nextHeader = proto;
  }
  const icmpKind = v6 ? 'icmpv6' : 'icmp';
  if (spec.tcp) {
    const t = spec.tcp;
    const h: TcpLayer = {
      kind: 'tcp', sport: uint(t.sport, 16, 'tcp.sport', 0), dport: uint(t.dport, 16, 'tcp.dport', 0), seq: uint(t.seq, 32, 'tcp.seq', 0),
      ack: uint(t.ack, 32, 'tcp.ack', 0), flags: parseTcpFlags(t.flags ?? 0), window: uint(t.win, 16, 'tcp.win', 65535),
      urgPtr: uint(t.urg, 16, 'tcp.urg', 0), options: tcpOptionList(t.options),
    };
    if (t.dataOffset !== undefined) {
      h.dataOffset = uint(t.dataOffset, 4, 'tcp.dataOffset', 0);
      // An explicit data offset keeps the option bytes as given; pad them as the codec would.
      const n = encodeTcpOptionList(h.options!, 'tcp.options').length;
      for (let i = n; i % 4 !== 0; i++) h.options!.push({ kind: 'eol' });
    }
    if (t.badChecksum) corrupt.push(layers.length);
    layers.push(h);
  } else if (spec.udp) {
    const u = spec.udp;
    const h: UdpLayer = { kind: 'udp', sport: uint(u.sport, 16, 'udp.sport', 0), dport: uint(u.dport, 16, 'udp.dport', 0) };
    if (u.length !== undefined) h.length = uint(u.length, 16, 'udp.length', 0);
    const mode = u.checksum ?? 'auto';
    if (mode === 'none') h.checksum = 0;
    else if (mode !== 'auto') h.checksum = uint(mode, 16, 'udp.checksum', 0);
    layers.push(h);
  } else if (spec.icmp) {
    const c = spec.icmp;
    const h: IcmpLayer = { kind: icmpKind, type: uint(c.type, 8, 'icmp.type', 0), code: uint(c.code, 8, 'icmp.code', 0) };
    const id = uint(c.id, 16, 'icmp.id', 0);
    const seq = uint(c.seq, 16, 'icmp.seq', 0);
    if ((v6 ? ICMP6_QUERY_TYPES : ICMP4_QUERY_TYPES).includes(h.type!)) Object.assign(h, { id, seq });
    else h.rest = id * 0x10000 + seq; // same bytes 4-7 for the other types
    if (c.badChecksum) corrupt.push(layers.length);
    layers.push(h);
  } else if (spec.icmpError) {
    const e = spec.icmpError;
    if (!(e.inner instanceof Uint8Array)) throw new PacketBuildError('icmpError.inner: not a Uint8Array');
    const h: IcmpLayer = { kind: icmpKind, type: uint(e.type, 8, 'icmpError.type', 0), code: uint(e.code, 8, 'icmpError.code', 0) };
    if ((v6 ? ICMP6_QUERY_TYPES : ICMP4_QUERY_TYPES).includes(h.type!)) Object.assign(h, { id: 0, seq: 0 });
    else h.rest = uint(e.rest, 32, 'icmpError.rest', 0);
    if (e.badChecksum) corrupt.push(layers.length);
    layers.push(h);
    const data = new Uint8Array(e.inner.length + payload.length);
    data.set(e.inner, 0);
    data.set(payload, e.inner.length);
    if (data.length) layers.push({ kind: 'raw', data });
    return { layers, corrupt };
  }
  if (payload.length) layers.push({ kind: 'raw', data: payload });
  return { layers, corrupt };
}

function tcpOptionList(o: TcpOptionsSpec | undefined): TcpOption[] {
  const out: TcpOption[] = [];
  if (!o) return out;
  // Linux's SYN order: MSS, SACK-permitted, timestamps, window scale.
  if (o.mss !== undefined) out.push({ kind: 'mss', value: uint(o.mss, 16, 'tcp.options.mss', 0) });
  if (o.sackOk) out.push({ kind: 'sackOk' });
  if (o.timestamp) {
    out.push({ kind: 'timestamp', tsval: uint(o.timestamp[0], 32, 'tcp.options.timestamp[0]', 0), tsecr: uint(o.timestamp[1], 32, 'tcp.options.timestamp[1]', 0) });
  }
  if (o.wscale !== undefined) out.push({ kind: 'wscale', shift: uint(o.wscale, 8, 'tcp.options.wscale', 0) });
  if (o.raw) out.push({ kind: 'raw', data: o.raw });
  const n = encodeTcpOptionList(out, 'tcp.options').length;
  if (n > 40) throw new PacketBuildError(`tcp.options: ${n} bytes exceed the 40-byte limit`);
  return out;
}

export function buildFrame(spec: FrameSpec): Uint8Array {
  const { layers, corrupt } = specLayers(spec);
  let frame: Frame = { layers };
  if (corrupt.length) {
    frame = completeFrame(frame);
    for (const i of corrupt) {
      const l = frame.layers[i] as { checksum?: number };
      l.checksum = corruptChecksum(l.checksum!);
    }
  }
  const bytes = encodeFrame(frame);
  if (spec.truncate !== undefined) return bytes.slice(0, Math.min(uint(spec.truncate, 32, 'truncate', 0), bytes.length));
  return bytes;
}

/** The frame's bytes from the IP header on, to the end of the IP datagram when its length field fits. */
export function ipPacketOf(frame: Uint8Array): Uint8Array {
  let off = 12;
  if (frame.length < 14) throw new PacketBuildError(`ipPacketOf: frame of ${frame.length} bytes has no Ethernet header`);
  let et = (frame[off]! << 8) | frame[off + 1]!;
  while ((et === 0x8100 || et === 0x88a8) && off + 6 <= frame.length) {
    off += 4;
    et = (frame[off]! << 8) | frame[off + 1]!;
  }
  off += 2;
  if (et !== 0x0800 && et !== 0x86dd) throw new PacketBuildError(`ipPacketOf: ethertype 0x${et.toString(16)} is not IP`);
  let end = frame.length;
  if (et === 0x0800 && off + 4 <= end) {
    const tl = (frame[off + 2]! << 8) | frame[off + 3]!;
    if (tl >= 20 && off + tl <= end) end = off + tl;
  } else if (et === 0x86dd && off + 6 <= end) {
    const pl = (frame[off + 4]! << 8) | frame[off + 5]!;
    if (off + 40 + pl <= end) end = off + 40 + pl;
  }
  return frame.slice(off, end);
}
