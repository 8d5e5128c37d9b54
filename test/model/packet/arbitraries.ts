/**
 * fast-check arbitraries of codec Frames (test-only: model/ must not depend on fast-check).
 * They generate structurally consistent layer stacks: selectors left unset or set to the value
 * that binds the next layer, option areas aligned, lengths left for the encoder, so that
 * decode(encode(f)) must give back f with the unset fields filled in.
 */
import fc from 'fast-check';
import type { Frame, Layer, TcpOption } from '../../../model/packet/codec.js';

const u = (bits: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: 2 ** bits - 1 });
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 2 });
const bytesArb = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max });
const bytes8 = (fixed: number, maxUnits: number): fc.Arbitrary<Uint8Array> =>
  fc.integer({ min: 0, max: maxUnits }).chain((k) => bytesArb(k * 8 + 8 - fixed, k * 8 + 8 - fixed));

export const macArb = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':'));
export const ipv4Arb = fc.ipV4();
export const ipv6Arb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => {
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return w.join(':');
});

/** Drop undefined keys so the object equals what the decoder returns. */
function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o)) if ((o as Record<string, unknown>)[k] === undefined) delete (o as Record<string, unknown>)[k];
  return o;
}

const tcpOptionArb: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant<TcpOption>({ kind: 'nop' }),
  fc.constant<TcpOption>({ kind: 'eol' }),
  u(16).map((value): TcpOption => ({ kind: 'mss', value })),
  u(8).map((shift): TcpOption => ({ kind: 'wscale', shift })),
  fc.constant<TcpOption>({ kind: 'sackOk' }),
  fc.array(fc.tuple(u(32), u(32)), { minLength: 1, maxLength: 4 }).map((blocks): TcpOption => ({ kind: 'sack', blocks })),
  fc.tuple(u(32), u(32)).map(([tsval, tsecr]): TcpOption => ({ kind: 'timestamp', tsval, tsecr })),
  fc.tuple(fc.integer({ min: 6, max: 254 }).filter((t) => t !== 8), bytesArb(0, 6)).map(([type, data]): TcpOption => ({ kind: 'unknown', type, data })),
);

function optionBytes(o: TcpOption): number {
  switch (o.kind) {
    case 'eol': case 'nop': return 1;
    case 'mss': return 4;
    case 'wscale': return 3;
    case 'sackOk': return 2;
    case 'sack': return 2 + 8 * o.blocks.length;
    case 'timestamp': return 10;
    case 'unknown': return 2 + o.data.length;
    case 'raw': return o.data.length;
  }
}

/** An option list that fits 40 bytes, padded with NOPs to a 32-bit boundary. */
export const tcpOptionsArb: fc.Arbitrary<TcpOption[]> = fc.array(tcpOptionArb, { maxLength: 8 }).map((opts) => {
  const out: TcpOption[] = [];
  let n = 0;
  for (const o of opts) {
    if (n + optionBytes(o) > 40) break;
    out.push(o);
    n += optionBytes(o);
  }
  while (n % 4) {
    out.push({ kind: 'nop' });
    n++;
  }
  return out;
});

const tcpArb = fc.record({
  sport: u(16), dport: u(16), seq: u(32), ack: u(32), flags: u(12), window: u(16), urgPtr: u(16),
  checksum: maybe(u(16)), options: tcpOptionsArb,
}).map((l): Layer => clean({ kind: 'tcp' as const, ...l }));
const udpArb = fc.record({ sport: u(16), dport: u(16), checksum: maybe(u(16)) }).map((l): Layer => clean({ kind: 'udp' as const, ...l }));
const payloadArb = fc.option(bytesArb(1, 40), { nil: undefined, freq: 3 }).map((d): Layer[] => (d ? [{ kind: 'raw', data: d }] : []));

const ICMP4_QUERY = [0, 8, 13, 14, 15, 16];
const ICMP6_QUERY = [128, 129];
const icmpQueryArb = (kind: 'icmp' | 'icmpv6'): fc.Arbitrary<Layer> =>
  fc.record({ type: fc.constantFrom(...(kind === 'icmp' ? ICMP4_QUERY : ICMP6_QUERY)), code: u(8), id: u(16), seq: u(16), checksum: maybe(u(16)) })
    .map((l): Layer => clean({ kind, ...l }));
const icmpOtherArb = (kind: 'icmp' | 'icmpv6'): fc.Arbitrary<Layer> =>
  fc.record({ type: fc.constantFrom(...(kind === 'icmp' ? [9, 10, 17, 42, 255] : [133, 134, 135, 136, 137, 143, 200])), code: u(8), rest: u(32) })
    .map((l): Layer => ({ kind, ...l }));

const ipv4HeaderArb = (frag: boolean): fc.Arbitrary<Layer> =>
  fc.record({
    tos: u(8), id: u(16), reserved: fc.boolean(), df: fc.boolean(), mf: fc.boolean(),
    frag: frag ? fc.integer({ min: 1, max: 0x1fff }) : fc.constant(0), ttl: u(8), src: ipv4Arb, dst: ipv4Arb,
    checksum: maybe(u(16)), options: fc.integer({ min: 0, max: 10 }).chain((k) => bytesArb(4 * k, 4 * k)),
  }).map((l): Layer => clean({ kind: 'ipv4' as const, ...l }));

const ipv6HeaderArb = fc.record({ tc: u(8), flowLabel: u(20), hopLimit: u(8), src: ipv6Arb, dst: ipv6Arb }).map((l): Layer => ({ kind: 'ipv6' as const, ...l }));

const extArb: fc.Arbitrary<Layer> = fc.oneof(
  fc.record({ kind: fc.constantFrom('ipv6-hbh' as const, 'ipv6-dstopt' as const), data: bytes8(2, 3) }),
  fc.record({ routingType: u(8), segmentsLeft: u(8), data: bytes8(4, 3) }).map((l): Layer => ({ kind: 'ipv6-routing', ...l })),
  fc.record({ reserved: u(8), res: u(2), m: fc.boolean(), id: u(32) }).map((l): Layer => ({ kind: 'ipv6-frag', offset: 0, ...l })),
  fc.record({ reserved: u(16), data: fc.integer({ min: 0, max: 3 }).chain((k) => bytesArb(12 + 8 * k, 12 + 8 * k)) }).map((l): Layer => ({ kind: 'ah', ...l })),
);

/** The layers after an IP header: L4 + payload, an ICMP error with an embedded packet, or raw data. */
function l4Arb(v6: boolean, depth: number): fc.Arbitrary<Layer[]> {
  const icmpKind = v6 ? 'icmpv6' : 'icmp';
  const options: fc.Arbitrary<Layer[]>[] = [
    fc.tuple(tcpArb, payloadArb).map(([h, p]) => [h, ...p]),
    fc.tuple(udpArb, payloadArb).map(([h, p]) => [h, ...p]),
    fc.tuple(icmpQueryArb(icmpKind), payloadArb).map(([h, p]) => [h, ...p]),
    fc.tuple(icmpOtherArb(icmpKind), payloadArb).map(([h, p]) => [h, ...p]),
  ];
  if (depth > 0) {
    options.push(
      fc.tuple(
        fc.record({ type: fc.constantFrom(...(v6 ? [1, 2, 3, 4] : [3, 4, 5, 11, 12])), code: u(8), rest: u(32) }),
        ipPacketArb(v6, depth - 1),
      ).map(([h, inner]): Layer[] => [{ kind: icmpKind, ...h }, ...inner]),
    );
  }
  return fc.oneof(...options);
}

/** Upper-layer protocol numbers the codec does not bind, so the payload stays raw. */
const RAW_PROTOS = [47, 50, 59, 103, 132, 253];

function ipPacketArb(v6: boolean, depth: number): fc.Arbitrary<Layer[]> {
  const rawTail = fc.tuple(fc.constantFrom(...RAW_PROTOS), payloadArb);
  if (!v6) {
    return fc.oneof(
      fc.tuple(ipv4HeaderArb(false), l4Arb(false, depth)).map(([h, rest]) => [h, ...rest]),
      // A later fragment: the codec leaves its payload raw.
      fc.tuple(ipv4HeaderArb(true), fc.constantFrom(6, 17, 1), bytesArb(1, 30)).map(([h, proto, d]): Layer[] => [
        { ...h, proto } as Layer, { kind: 'raw', data: d, note: `IPv4 fragment at offset ${(h as { frag: number }).frag * 8}: payload not decoded` },
      ]),
      fc.tuple(ipv4HeaderArb(false), rawTail).map(([h, [proto, p]]): Layer[] => [{ ...h, proto } as Layer, ...p]),
    );
  }
  return fc.tuple(ipv6HeaderArb, fc.array(extArb, { maxLength: 3 }), fc.oneof(l4Arb(true, depth).map((l) => ({ l, proto: undefined as number | undefined })), rawTail.map(([proto, l]) => ({ l, proto }))))
    .map(([h, ext, tail]) => {
      const chain = [h, ...ext.map((e) => ({ ...e }))];
      if (tail.proto !== undefined) (chain[chain.length - 1] as { nextHeader?: number }).nextHeader = tail.proto;
      return [...chain, ...tail.l];
    });
}

/** Ethernet, 0-2 VLAN tags, then IPv4, IPv6 or another EtherType with raw data, maybe Ethernet padding. */
export const frameArb: fc.Arbitrary<Frame> = fc
  .tuple(
    macArb, macArb,
    fc.array(fc.record({ pcp: u(3), dei: fc.boolean(), vid: u(12), tpid: fc.constantFrom(undefined, 0x8100, 0x88a8) }), { maxLength: 2 }),
    fc.oneof(
      ipPacketArb(false, 1).map((l) => ({ l, type: undefined as number | undefined, ip: true })),
      ipPacketArb(true, 1).map((l) => ({ l, type: undefined as number | undefined, ip: true })),
      fc.tuple(fc.constantFrom(0x0806, 0x88b5, 0x9000, 0x88cc), payloadArb).map(([type, l]) => ({ l, type: type as number | undefined, ip: false })),
    ),
    fc.option(bytesArb(1, 20), { nil: undefined, freq: 4 }),
  )
  .map(([dst, src, tags, l3, pad]) => {
    const layers: Layer[] = [];
    const sel: { type?: number }[] = [];
    const eth: Layer = { kind: 'eth', dst, src };
    layers.push(eth);
    sel.push(eth as { type?: number });
    for (const t of tags) {
      if (t.tpid !== undefined) sel[sel.length - 1]!.type = t.tpid;
      const tag: Layer = { kind: 'vlan', pcp: t.pcp, dei: t.dei, vid: t.vid };
      layers.push(tag);
      sel.push(tag as { type?: number });
    }
    if (l3.type !== undefined) sel[sel.length - 1]!.type = l3.type;
    layers.push(...l3.l);
    if (pad && l3.ip) layers.push({ kind: 'padding', data: pad });
    return { layers };
  });
