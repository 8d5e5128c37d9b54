/**
 * The structured packet codec. Each header is declared once, as a field list (`LAYERS` below)
 * read by both `encodeFrame` and `decodeFrame` (secdev/scapy: `fields_desc`, `Packet.build` /
 * `Packet.dissect`). Layers are linked by a binding table (scapy's `bind_layers`) that both
 * directions use: decoding maps a selector value to the next layer, encoding fills an unset
 * selector from the layer that follows. Lengths and checksums left unset are computed
 * (scapy's `post_build`).
 *
 * Decoding never throws: a header that the bytes cannot hold, and everything after it, becomes a
 * `raw` layer with a `note`. Decoding keeps every field (including wrong checksums and lengths),
 * so `encodeFrame(decodeFrame(b))` reproduces `b` byte for byte.
 */
import { PacketBuildError } from '../errors.js';
import { finishChecksum, pseudoSum4, pseudoSum6, sum16 } from './checksum.js';
import { type AnyLayer, BitReader, BitWriter, DecodeStop, type Field, bytes, custom, flag, ip4, ip6, mac, uint } from './fields.js';
import { type TcpOption, encodeTcpOptionList, readTcpOptions, writeTcpOptions } from './tcpopts.js';

export type { TcpOption } from './tcpopts.js';

// ---- layer types (fields marked "auto" may be left unset when encoding) ----------------------

/**
 * Set by the decoder on a header embedded in an ICMP error that the error cut short: only the
 * fields wholly present are set, the rest of its bytes follow as a raw layer. The encoder then
 * writes the fields up to the first unset one and computes nothing for the layer.
 */
export interface Cut { truncated?: boolean }

export interface EthLayer extends Cut { kind: 'eth'; dst?: string; src?: string; /** auto */ type?: number }
/** 802.1Q / 802.1ad tag; its TPID is the previous layer's `type`. */
export interface VlanLayer extends Cut { kind: 'vlan'; pcp?: number; dei?: boolean; vid?: number; /** auto */ type?: number }
export interface Ipv4Layer extends Cut {
  kind: 'ipv4';
  version?: number;
  /** auto: header length in 32-bit words */
  ihl?: number;
  tos?: number;
  /** auto */
  totalLength?: number;
  id?: number;
  /** The reserved ("evil") bit. */
  reserved?: boolean;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in 8-byte units, as on the wire. */
  frag?: number;
  ttl?: number;
  /** auto */
  proto?: number;
  /** auto */
  checksum?: number;
  src?: string;
  dst?: string;
  /** Raw option bytes (padded with EOL to 32 bits when `ihl` is unset). */
  options?: Uint8Array;
}
export interface Ipv6Layer extends Cut {
  kind: 'ipv6';
  version?: number;
  tc?: number;
  flowLabel?: number;
  /** auto */
  payloadLength?: number;
  /** auto */
  nextHeader?: number;
  hopLimit?: number;
  src?: string;
  dst?: string;
}
/** Hop-by-Hop or Destination Options header; `data` is the option area (padded when `hdrExtLen` is unset). */
export interface Ipv6OptsLayer extends Cut { kind: 'ipv6-hbh' | 'ipv6-dstopt'; nextHeader?: number; hdrExtLen?: number; data?: Uint8Array }
export interface Ipv6RoutingLayer extends Cut { kind: 'ipv6-routing'; nextHeader?: number; hdrExtLen?: number; routingType?: number; segmentsLeft?: number; data?: Uint8Array }
export interface Ipv6FragLayer extends Cut { kind: 'ipv6-frag'; nextHeader?: number; reserved?: number; /** 8-byte units */ offset?: number; res?: number; m?: boolean; id?: number }
/** Authentication Header (RFC 4302), walked as an extension header as OVS does; `data` = SPI, sequence, ICV. */
export interface AhLayer extends Cut { kind: 'ah'; nextHeader?: number; payloadLen?: number; reserved?: number; data?: Uint8Array }
export interface TcpLayer extends Cut {
  kind: 'tcp';
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  /** auto: header length in 32-bit words */
  dataOffset?: number;
  /** The 12 bits after the data offset: 3 reserved bits, NS, CWR, ECE, URG, ACK, PSH, RST, SYN, FIN. */
  flags?: number;
  window?: number;
  /** auto */
  checksum?: number;
  urgPtr?: number;
  options?: TcpOption[];
}
export interface UdpLayer extends Cut { kind: 'udp'; sport?: number; dport?: number; /** auto */ length?: number; /** auto */ checksum?: number }
/**
 * ICMPv4 (`icmp`) or ICMPv6 (`icmpv6`). Query types (echo and the other id/seq messages) carry
 * `id`/`seq`; every other type carries the 32-bit `rest` word (unused, MTU, pointer, ...). An error
 * type is followed by the embedded IP header as the next layers.
 */
export interface IcmpLayer extends Cut { kind: 'icmp' | 'icmpv6'; type?: number; code?: number; /** auto */ checksum?: number; id?: number; seq?: number; rest?: number }
/** Bytes the codec does not interpret: payload, or an undecodable tail (then `note` says why). */
export interface RawLayer { kind: 'raw'; data: Uint8Array; note?: string }
/** Bytes after the end of the IP datagram (Ethernet padding); excluded from computed lengths and checksums. */
export interface PaddingLayer { kind: 'padding'; data: Uint8Array }

export type Layer =
  | EthLayer | VlanLayer | Ipv4Layer | Ipv6Layer | Ipv6OptsLayer | Ipv6RoutingLayer | Ipv6FragLayer | AhLayer
  | TcpLayer | UdpLayer | IcmpLayer | RawLayer | PaddingLayer;
export type LayerKind = Layer['kind'];

export interface Frame { layers: Layer[] }

// ---- protocol numbers ------------------------------------------------------------------------

export const ICMP4_QUERY_TYPES: readonly number[] = [0, 8, 13, 14, 15, 16];
export const ICMP4_ERROR_TYPES: readonly number[] = [3, 4, 5, 11, 12];
export const ICMP6_QUERY_TYPES: readonly number[] = [128, 129];
export const ICMP6_ERROR_TYPES: readonly number[] = [1, 2, 3, 4];

function isQuery(l: AnyLayer): boolean {
  return (l.kind === 'icmp' ? ICMP4_QUERY_TYPES : ICMP6_QUERY_TYPES).includes(l.type as number);
}
export function isIcmpErrorType(kind: 'icmp' | 'icmpv6', type: number): boolean {
  return (kind === 'icmp' ? ICMP4_ERROR_TYPES : ICMP6_ERROR_TYPES).includes(type);
}

/** scapy's bind_layers: (layer, selector field, value) ↔ next layer. First entry wins on encode. */
const BINDINGS: [string, number, LayerKind][] = [
  ['eth', 0x0800, 'ipv4'], ['eth', 0x86dd, 'ipv6'], ['eth', 0x8100, 'vlan'], ['eth', 0x88a8, 'vlan'],
  ['vlan', 0x0800, 'ipv4'], ['vlan', 0x86dd, 'ipv6'], ['vlan', 0x8100, 'vlan'], ['vlan', 0x88a8, 'vlan'],
  ['ipv4', 6, 'tcp'], ['ipv4', 17, 'udp'], ['ipv4', 1, 'icmp'],
  ...(['ipv6', 'ipv6-hbh', 'ipv6-dstopt', 'ipv6-routing', 'ipv6-frag', 'ah'] as const).flatMap(
    (k): [string, number, LayerKind][] => [
      [k, 6, 'tcp'], [k, 17, 'udp'], [k, 58, 'icmpv6'], [k, 0, 'ipv6-hbh'], [k, 43, 'ipv6-routing'],
      [k, 44, 'ipv6-frag'], [k, 60, 'ipv6-dstopt'], [k, 51, 'ah'],
    ],
  ),
];

// ---- header declarations ---------------------------------------------------------------------

interface Ctx {
  buf: Uint8Array;
  off: number;
  hdrLen: number;
  /** End of the bytes this layer covers (start of trailing padding, or the frame end). */
  end: number;
  /** Offset and version of the nearest IP header before this layer (for pseudo-headers), or -1. */
  ipOff: number;
  ipV6: boolean;
}

interface LayerDesc {
  fields: Field[];
  /** Name of the field that selects the next layer through BINDINGS. */
  selector?: string;
  /** Fill header-length fields that describe this header itself, and pad variable parts. */
  pre?(l: AnyLayer, where: string): void;
  /** Fill unset length fields from the extent of the layer. */
  lengths?(l: AnyLayer, c: Ctx): void;
  /** Checksum field and its computation over the buffer (the field holds 0 while summing). */
  checksum?: { field: string; compute(c: Ctx, l: AnyLayer): number };
  /** Decode only: next layer kind (default: the binding of the selector), or a raw note. */
  next?(l: AnyLayer): LayerKind | { raw: string } | null;
  /** Decode only: end of the datagram this header declares, to split off trailing padding. */
  datagramEnd?(l: AnyLayer, off: number): number;
}

function padTo(data: Uint8Array, fixed: number, unit: number, padding: 'zero' | 'ipv6opt'): Uint8Array {
  const rem = (fixed + data.length) % unit;
  if (rem === 0) return data;
  const k = unit - rem;
  const out = new Uint8Array(data.length + k);
  out.set(data, 0);
  // RFC 8200 4.2: Pad1 for one byte, PadN otherwise.
  if (padding === 'ipv6opt' && k >= 2) {
    out[data.length] = 1;
    out[data.length + 1] = k - 2;
  }
  return out;
}

function l4Checksum(proto: number): (c: Ctx) => number {
  return (c) => {
    const len = c.end - c.off;
    const ps = c.ipOff < 0 ? 0 : c.ipV6 ? pseudoSum6(c.buf, c.ipOff, proto, len) : pseudoSum4(c.buf, c.ipOff, proto, len);
    return finishChecksum(sum16(c.buf, c.off, len, ps));
  };
}

const extLen8 = (fixed: number) => (l: AnyLayer) => ((l.hdrExtLen as number) + 1) * 8 - fixed;
const extPre = (fixed: number, padding: 'zero' | 'ipv6opt') => (l: AnyLayer) => {
  if (l.hdrExtLen !== undefined) return;
  l.data = padTo((l.data as Uint8Array | undefined) ?? new Uint8Array(0), fixed, 8, padding);
  l.hdrExtLen = (fixed + (l.data as Uint8Array).length) / 8 - 1;
};

const LAYERS: Record<Exclude<LayerKind, 'raw' | 'padding'>, LayerDesc> = {
  eth: { fields: [mac('dst'), mac('src'), uint('type', 16, { auto: true })], selector: 'type' },
  vlan: {
    fields: [uint('pcp', 3), flag('dei'), uint('vid', 12), uint('type', 16, { auto: true })],
    selector: 'type',
  },
  ipv4: {
    fields: [
      uint('version', 4, { dflt: 4 }), uint('ihl', 4, { auto: true }), uint('tos', 8), uint('totalLength', 16, { auto: true }),
      uint('id', 16), flag('reserved'), flag('df'), flag('mf'), uint('frag', 13), uint('ttl', 8, { dflt: 64 }),
      uint('proto', 8, { auto: true }), uint('checksum', 16, { auto: true }), ip4('src'), ip4('dst'),
      bytes('options', (l) => (l.ihl as number) * 4 - 20),
    ],
    selector: 'proto',
    pre(l, where) {
      if (l.ihl !== undefined) return;
      l.options = padTo((l.options as Uint8Array | undefined) ?? new Uint8Array(0), 0, 4, 'zero');
      const ihl = 5 + (l.options as Uint8Array).length / 4;
      if (ihl > 15) throw new PacketBuildError(`${where}.options: ${(l.options as Uint8Array).length} bytes exceed the 40-byte limit`);
      l.ihl = ihl;
    },
    lengths(l, c) {
      l.totalLength ??= c.end - c.off;
    },
    checksum: { field: 'checksum', compute: (c) => finishChecksum(sum16(c.buf, c.off, c.hdrLen)) },
    // A later fragment carries no L4 header (RFC 791); the first fragment's L4 header is decoded.
    next: (l) => ((l.frag as number) > 0 ? { raw: `IPv4 fragment at offset ${(l.frag as number) * 8}: payload not decoded` } : null),
    datagramEnd: (l, off) => {
      const t = l.totalLength as number;
      return t >= (l.ihl as number) * 4 ? off + t : -1;
    },
  },
  ipv6: {
    fields: [
      uint('version', 4, { dflt: 6 }), uint('tc', 8), uint('flowLabel', 20), uint('payloadLength', 16, { auto: true }),
      uint('nextHeader', 8, { auto: true }), uint('hopLimit', 8, { dflt: 64 }), ip6('src'), ip6('dst'),
    ],
    selector: 'nextHeader',
    lengths(l, c) {
      l.payloadLength ??= c.end - c.off - 40;
    },
    datagramEnd: (l, off) => off + 40 + (l.payloadLength as number),
  },
  'ipv6-hbh': {
    fields: [uint('nextHeader', 8, { auto: true }), uint('hdrExtLen', 8, { auto: true }), bytes('data', extLen8(2))],
    selector: 'nextHeader',
    pre: extPre(2, 'ipv6opt'),
  },
  'ipv6-dstopt': {
    fields: [uint('nextHeader', 8, { auto: true }), uint('hdrExtLen', 8, { auto: true }), bytes('data', extLen8(2))],
    selector: 'nextHeader',
    pre: extPre(2, 'ipv6opt'),
  },
  'ipv6-routing': {
    fields: [
      uint('nextHeader', 8, { auto: true }), uint('hdrExtLen', 8, { auto: true }), uint('routingType', 8), uint('segmentsLeft', 8),
      bytes('data', extLen8(4)),
    ],
    selector: 'nextHeader',
    pre: extPre(4, 'zero'),
  },
  'ipv6-frag': {
    fields: [uint('nextHeader', 8, { auto: true }), uint('reserved', 8), uint('offset', 13), uint('res', 2), flag('m'), uint('id', 32)],
    selector: 'nextHeader',
    next: (l) => ((l.offset as number) > 0 ? { raw: `IPv6 fragment at offset ${(l.offset as number) * 8}: payload not decoded` } : null),
  },
  ah: {
    // RFC 4302 2.2: length in 32-bit words minus 2.
    fields: [uint('nextHeader', 8, { auto: true }), uint('payloadLen', 8, { auto: true }), uint('reserved', 16), bytes('data', (l) => ((l.payloadLen as number) + 2) * 4 - 4, () => new Uint8Array(8))],
    selector: 'nextHeader',
    pre(l) {
      if (l.payloadLen !== undefined) return;
      l.data = padTo(l.data as Uint8Array, 4, 8, 'zero'); // SPI and sequence at least; IPv6 wants 8-byte multiples
      l.payloadLen = (4 + (l.data as Uint8Array).length) / 4 - 2;
    },
  },
  tcp: {
    fields: [
      uint('sport', 16), uint('dport', 16), uint('seq', 32), uint('ack', 32), uint('dataOffset', 4, { auto: true }),
      uint('flags', 12), uint('window', 16, { dflt: 65535 }), uint('checksum', 16, { auto: true }), uint('urgPtr', 16),
      custom<TcpOption[]>('options', (r, l) => readTcpOptions(r, (l.dataOffset as number) * 4 - 20), writeTcpOptions, () => []),
    ],
    pre(l, where) {
      if (l.dataOffset !== undefined) return;
      const opts = [...((l.options as TcpOption[] | undefined) ?? [])];
      const n = encodeTcpOptionList(opts, `${where}.options`).length;
      for (let i = n; i % 4 !== 0; i++) opts.push({ kind: 'eol' }); // RFC 9293 3.1: pad with zeros
      const doff = 5 + Math.ceil(n / 4);
      if (doff > 15) throw new PacketBuildError(`${where}.options: ${n} bytes exceed the 40-byte limit`);
      l.options = opts;
      l.dataOffset = doff;
    },
    checksum: { field: 'checksum', compute: l4Checksum(6) },
  },
  udp: {
    fields: [uint('sport', 16), uint('dport', 16), uint('length', 16, { auto: true }), uint('checksum', 16, { auto: true })],
    lengths(l, c) {
      l.length ??= c.end - c.off;
    },
    checksum: {
      field: 'checksum',
      // RFC 768: a computed zero is transmitted as all ones (zero means "no checksum").
      compute: (c) => l4Checksum(17)(c) || 0xffff,
    },
  },
  icmp: {
    fields: [
      uint('type', 8), uint('code', 8), uint('checksum', 16, { auto: true }),
      uint('id', 16, { when: isQuery }), uint('seq', 16, { when: isQuery }), uint('rest', 32, { when: (l) => !isQuery(l) }),
    ],
    checksum: { field: 'checksum', compute: (c) => finishChecksum(sum16(c.buf, c.off, c.end - c.off)) },
    next: (l) => (isIcmpErrorType('icmp', l.type as number) ? 'ipv4' : { raw: '' }),
  },
  icmpv6: {
    fields: [
      uint('type', 8), uint('code', 8), uint('checksum', 16, { auto: true }),
      uint('id', 16, { when: isQuery }), uint('seq', 16, { when: isQuery }), uint('rest', 32, { when: (l) => !isQuery(l) }),
    ],
    checksum: { field: 'checksum', compute: l4Checksum(58) },
    next: (l) => (isIcmpErrorType('icmpv6', l.type as number) ? 'ipv6' : { raw: '' }),
  },
};

function descOf(kind: string, where: string): LayerDesc {
  const d = (LAYERS as Record<string, LayerDesc>)[kind];
  if (!d) throw new PacketBuildError(`${where}.kind: unknown layer kind '${kind}'`);
  return d;
}

// ---- decode ----------------------------------------------------------------------------------

/**
 * Reads one header at `off` from its field list. Throws DecodeStop if the bytes cannot hold it,
 * unless `partialOk`: then the fields read up to the last byte boundary are kept (`truncated`).
 */
function readHeader(kind: string, buf: Uint8Array, off: number, end: number, partialOk: boolean): { layer: AnyLayer; len: number } {
  const desc = descOf(kind, kind);
  const r = new BitReader(buf, off, end);
  const l: AnyLayer = { kind };
  let aligned: { names: string[]; pos: number } = { names: [], pos: off };
  const names: string[] = [];
  try {
    for (const f of desc.fields) {
      if (f.when && !f.when(l)) continue;
      l[f.name] = f.read(r, l);
      names.push(f.name);
      if ((r.bitPos & 7) === 0) aligned = { names: [...names], pos: r.pos };
    }
  } catch (e) {
    if (!partialOk || !(e instanceof DecodeStop) || aligned.pos === off) throw e;
    const cut: AnyLayer = { kind, truncated: true };
    for (const n of aligned.names) cut[n] = l[n];
    return { layer: cut, len: aligned.pos - off };
  }
  return { layer: l, len: r.pos - off };
}

const KIND_TEXT: Record<string, string> = {
  eth: 'Ethernet', vlan: '802.1Q', ipv4: 'IPv4', ipv6: 'IPv6', 'ipv6-hbh': 'IPv6 hop-by-hop', 'ipv6-dstopt': 'IPv6 destination options',
  'ipv6-routing': 'IPv6 routing', 'ipv6-frag': 'IPv6 fragment', ah: 'AH', tcp: 'TCP', udp: 'UDP', icmp: 'ICMP', icmpv6: 'ICMPv6',
};

/** Dissects an Ethernet frame. Never throws. */
export function decodeFrame(bytes: Uint8Array): Frame {
  const layers: Layer[] = [];
  let off = 0;
  let end = bytes.length;
  let padding: Uint8Array | null = null;
  let seenIp = false;
  let kind: LayerKind | null = 'eth';
  let note = '';
  let inError = false;
  while (kind !== null && off < end) {
    if (kind === 'raw' || kind === 'padding') break;
    let hdr: { layer: AnyLayer; len: number };
    try {
      hdr = readHeader(kind, bytes, off, end, inError);
    } catch (e) {
      if (!(e instanceof DecodeStop)) throw e;
      note = `${KIND_TEXT[kind]} header at byte ${off} does not fit in the remaining ${end - off} bytes`;
      break;
    }
    const desc = descOf(kind, kind);
    layers.push(hdr.layer as unknown as Layer);
    // The first IP header bounds the datagram; bytes beyond it are Ethernet padding.
    if (desc.datagramEnd && !seenIp) {
      seenIp = true;
      const dEnd = desc.datagramEnd(hdr.layer, off);
      if (dEnd >= off + hdr.len && dEnd < end) {
        padding = bytes.slice(dEnd, end);
        end = dEnd;
      }
    }
    off += hdr.len;
    if (hdr.layer.truncated) {
      note = `${KIND_TEXT[kind]} header embedded in an ICMP error is cut short`;
      break;
    }
    if (kind === 'icmp' || kind === 'icmpv6') inError = isIcmpErrorType(kind, hdr.layer.type as number);
    const nx = desc.next?.(hdr.layer) ?? null;
    if (nx !== null && typeof nx === 'object') {
      note = nx.raw;
      kind = null;
    } else if (nx !== null) kind = nx;
    else if (desc.selector) {
      const v = hdr.layer[desc.selector] as number;
      kind = BINDINGS.find((b) => b[0] === hdr.layer.kind && b[1] === v)?.[2] ?? null;
    } else kind = null;
  }
  if (off < end) {
    const raw: RawLayer = { kind: 'raw', data: bytes.slice(off, end) };
    if (note) raw.note = note;
    layers.push(raw);
  }
  if (padding) layers.push({ kind: 'padding', data: padding });
  return { layers };
}

// ---- encode ----------------------------------------------------------------------------------

function writeHeader(desc: LayerDesc, l: AnyLayer, where: string): Uint8Array {
  const w = new BitWriter();
  for (const f of desc.fields) {
    if (f.when && !f.when(l)) continue;
    let v = l[f.name];
    if (v === undefined && l.truncated) break;
    if (v === undefined) v = f.auto ? 0 : f.dflt();
    f.write(w, v, l, `${where}.${f.name}`);
  }
  return w.finish();
}

interface Encoded { bytes: Uint8Array; layers: AnyLayer[] }

function encode(frame: Frame): Encoded {
  if (!frame || !Array.isArray(frame.layers)) throw new PacketBuildError('frame.layers: not an array');
  const ls: AnyLayer[] = frame.layers.map((l) => ({ ...l }) as AnyLayer);
  const parts: Uint8Array[] = [];
  ls.forEach((l, i) => {
    const where = `layers[${i}](${l.kind})`;
    if (l.kind === 'raw' || l.kind === 'padding') {
      if (!(l.data instanceof Uint8Array)) throw new PacketBuildError(`${where}.data: not a Uint8Array`);
      parts.push(l.data);
      return;
    }
    const desc = descOf(l.kind, where);
    if (l.truncated) {
      parts.push(writeHeader(desc, l, where));
      return;
    }
    for (const f of desc.fields) if (!f.auto && l[f.name] === undefined && (!f.when || f.when(l))) l[f.name] = f.dflt();
    desc.pre?.(l, where);
    if (desc.selector && l[desc.selector] === undefined) {
      const nextKind = ls[i + 1]?.kind;
      const b = BINDINGS.find((x) => x[0] === l.kind && x[2] === nextKind);
      if (!b) throw new PacketBuildError(`${where}.${desc.selector}: unset, and the next layer (${nextKind ?? 'none'}) does not determine it`);
      l[desc.selector] = b[1];
    }
    parts.push(writeHeader(desc, l, where));
  });
  const total = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(total);
  const offs: number[] = [];
  let o = 0;
  for (const p of parts) {
    offs.push(o);
    buf.set(p, o);
    o += p.length;
  }
  // post_build, innermost first: an outer checksum covers the inner headers' final bytes.
  for (let i = ls.length - 1; i >= 0; i--) {
    const l = ls[i]!;
    if (l.kind === 'raw' || l.kind === 'padding' || l.truncated) continue;
    const desc = descOf(l.kind, `layers[${i}]`);
    if (!desc.lengths && !desc.checksum) continue;
    let end = total;
    for (let j = i + 1; j < ls.length; j++) if (ls[j]!.kind === 'padding') { end = offs[j]!; break; }
    let ipOff = -1;
    let ipV6 = false;
    for (let j = i - 1; j >= 0; j--) {
      if (ls[j]!.kind === 'ipv4' || ls[j]!.kind === 'ipv6') {
        ipOff = offs[j]!;
        ipV6 = ls[j]!.kind === 'ipv6';
        break;
      }
    }
    const c: Ctx = { buf, off: offs[i]!, hdrLen: parts[i]!.length, end, ipOff, ipV6 };
    const where = `layers[${i}](${l.kind})`;
    desc.lengths?.(l, c);
    const ck = desc.checksum;
    if (ck && l[ck.field] === undefined) {
      l[ck.field] = 0;
      buf.set(writeHeader(desc, l, where), c.off);
      l[ck.field] = ck.compute(c, l);
    }
    buf.set(writeHeader(desc, l, where), c.off);
  }
  return { bytes: buf, layers: ls };
}

/** Builds the bytes of a frame; unset lengths, checksums and protocol selectors are computed. */
export function encodeFrame(frame: Frame): Uint8Array {
  return encode(frame).bytes;
}

/** The frame with every unset field filled in as `encodeFrame` would (scapy's `show2` view). */
export function completeFrame(frame: Frame): Frame {
  return { layers: encode(frame).layers as unknown as Layer[] };
}

/** The first layer of a kind, typed. */
export function findLayer<K extends LayerKind>(frame: Frame, kind: K, from = 0): Extract<Layer, { kind: K }> | undefined {
  for (let i = from; i < frame.layers.length; i++) if (frame.layers[i]!.kind === kind) return frame.layers[i] as Extract<Layer, { kind: K }>;
  return undefined;
}
