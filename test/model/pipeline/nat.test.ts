import { describe, expect, it } from 'vitest';
import { Conntrack, natTupleAllowed } from '../../../model/conntrack/index.js';
import { CS_DST_NAT, CS_ESTABLISHED, CS_NEW, CS_REPLY_DIR, CS_SRC_NAT, CS_TRACKED } from '../../../model/ctstate.js';
import { buildFrame, ipPacketOf } from '../../../model/packet/build.js';
import { CT_ICMP_INNER_SRC, CT_OK, PacketView, ipv4ToString } from '../../../model/packet/view.js';
import { checksumOk, pseudoSum6 } from '../../../model/packet/checksum.js';
import { FlowParseError } from '../../../model/errors.js';
import { Pipeline, formatAction, parsePolicy } from '../../../model/pipeline/index.js';

const C = '10.1.1.1'; // client
const S = '10.1.1.2'; // server
const NATIP = '10.1.1.240';

function pipeline(text: string, ct = new Conntrack()): Pipeline {
  return new Pipeline(parsePolicy(text, 'nat.flows'), ct);
}

/** The usual OVS NAT pattern: untranslate on lookup, translate new connections on commit. */
const SNAT = `
table=0,priority=10,in_port=1,ip,actions=ct(nat,table=1)
table=0,priority=10,in_port=2,ip,actions=ct(nat,table=1)
table=1,priority=10,in_port=1,ip,ct_state=+trk+new,actions=ct(commit,nat(src=${NATIP})),output:2
table=1,priority=10,in_port=1,ip,ct_state=+trk+est,actions=output:2
table=1,priority=10,in_port=2,ip,ct_state=+trk+est,actions=output:1
`;

function view(bytes: Uint8Array): PacketView {
  return new PacketView().parse(bytes);
}

const tcp = (src: string, dst: string, sport: number, dport: number, flags: string, seq = 1000, ack = 0, payload?: string): Uint8Array =>
  buildFrame({ ip: { src, dst }, tcp: { sport, dport, flags, seq, ack, win: 65535 }, payload });

describe('parse: nat inside ct() as OVS 3.1 parse_NAT', () => {
  it('round-trips the forms OVS prints', () => {
    const cases: [string, string][] = [
      ['ct(nat)', 'ct(nat)'],
      ['ct(commit,nat(src=10.0.0.1))', 'ct(commit,nat(src=10.0.0.1))'],
      ['ct(commit,nat(src=10.0.0.1-10.0.0.4:1000-2000,random))', 'ct(commit,nat(src=10.0.0.1-10.0.0.4:1000-2000,random))'],
      ['ct(commit,nat(dst=10.0.0.9:80))', 'ct(commit,nat(dst=10.0.0.9:80))'],
      ['ct(commit,nat(src))', 'ct(commit,nat(src))'],
      ['ct(commit,nat(dst=10.0.0.9:80-80,persistent,hash))', 'ct(commit,nat(dst=10.0.0.9:80,persistent,hash))'],
      // Checked against ovs-ofctl parse-flow (OVS 3.1): text the IPv6 scan eats but inet_pton
      // refuses leaves no range; port 0 is no port.
      ['ct(commit,nat(src=1.2.3))', 'ct(commit,nat(src))'],
      ['ct(commit,nat(src=10.0.0.1:0))', 'ct(commit,nat(src=10.0.0.1))'],
    ];
    for (const [inp, out] of cases) {
      const p = parsePolicy(`ip,actions=${inp}`, 'f');
      expect(formatAction(p.flows[0]!.actions[0]!)).toBe(out);
    }
    const p6 = parsePolicy('ipv6,actions=ct(commit,nat(src=[fd00::1]-[fd00::3]:5000-5001))', 'f');
    expect(formatAction(p6.flows[0]!.actions[0]!)).toBe('ct(commit,nat(src=[fd00::1]-[fd00::3]:5000-5001))');
    const p6b = parsePolicy('ipv6,actions=ct(commit,nat(dst=fd00::1-fd00::3))', 'f');
    expect(formatAction(p6b.flows[0]!.actions[0]!)).toBe('ct(commit,nat(dst=fd00::1-fd00::3))');
  });

  it('rejects what OVS rejects, with OVS messages at the right column', () => {
    const bad: [string, RegExp, number][] = [
      ['ip,actions=ct(commit,nat(src=10.0.0.5-10.0.0.1))', /invalid nat range "10.0.0.5-10.0.0.1"/, 30],
      ['ip,actions=ct(commit,nat(src=10.0.0.1:2000-1000))', /invalid nat range/, 30],
      ['ip,actions=ct(commit,nat(src=10.0.0.1x))', /garbage \(x\) after nat range "10.0.0.1x" \(pos: 8\)/, 38],
      ['ip,actions=ct(commit,nat(src=10.0.0.1,dst=10.0.0.2))', /May only specify one of "src" or "dst"/, 39],
      ['ip,actions=ct(commit,nat(random))', /Flags allowed only with "src" or "dst"/, 22],
      ['ip,actions=ct(commit,nat(src=10.0.0.1,hash,random))', /Both "hash" and "random" are not allowed/, 22],
      ['ip,actions=ct(commit,nat(foo))', /invalid key "foo" in "nat" argument/, 26],
      ['ip,actions=ct(nat(src=10.0.0.1))', /requires commit flag/, 15],
      ['ip,actions=ct(commit,nat(src=fd00::1))', /IPv6 range needs an IPv6 match/, 12],
      ['ipv6,actions=ct(commit,nat(dst=10.0.0.1))', /IPv4 range needs an IPv4 match/, 14],
      ['ip,actions=nat(src=10.0.0.1)', /only allowed as an argument of ct/, 12],
    ];
    for (const [text, re, col] of bad) {
      let err: unknown;
      try {
        parsePolicy(text, 'bad.flows');
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(FlowParseError);
      const e = err as FlowParseError;
      expect(e.message, text).toMatch(re);
      expect(e.column, text).toBe(col);
    }
  });

  it('refuses ALG and NAT in one policy (FTP/TFTP through NAT is not modelled)', () => {
    expect(() => parsePolicy('tcp,actions=ct(commit,alg=ftp)\nip,actions=ct(commit,nat(src=10.0.0.1))', 'f')).toThrow(/alg.*nat|NAT.*ALG/i);
  });
});

describe('SNAT through the pipeline', () => {
  it('translates the first packet, reverse-translates replies, keeps checksums valid', () => {
    const p = pipeline(SNAT);
    const syn = tcp(C, S, 40000, 80, 'S', 1000);
    const v1 = p.process(syn, 1, 0);
    expect(v1.outputs).toHaveLength(1);
    const out1 = view(v1.outputs[0]!.bytes);
    expect(out1.ctStatus).toBe(CT_OK); // every checksum verifies
    expect(ipv4ToString(out1.src[0]!)).toBe(NATIP);
    expect(ipv4ToString(out1.dst[0]!)).toBe(S);
    // SNAT without a port range keeps the source port when it is free.
    expect(out1.sport).toBe(40000);
    // The caller's bytes are not written.
    expect(view(syn).src[0]).not.toBe(out1.src[0]);
    // First lookup: ct(nat) on a new connection → new|trk, no translation yet.
    expect(v1.lookups[0]!.state).toBe(CS_NEW | CS_TRACKED);
    const conn = [...p.conntrack.connections()][0]!;
    expect(conn.nat).toBe('src');
    expect(conn.orig).toMatchObject({ src: C, dst: S, sport: 40000, dport: 80 });
    expect(conn.reply).toMatchObject({ src: S, dst: NATIP, sport: 80, dport: 40000 });

    const synack = tcp(S, NATIP, 80, 40000, 'SA', 5000, 1001);
    const v2 = p.process(synack, 2, 1);
    expect(v2.lookups[0]!.state).toBe(CS_ESTABLISHED | CS_REPLY_DIR | CS_TRACKED | CS_DST_NAT);
    expect(v2.outputs).toHaveLength(1);
    const out2 = view(v2.outputs[0]!.bytes);
    expect(out2.ctStatus).toBe(CT_OK);
    expect(ipv4ToString(out2.dst[0]!)).toBe(C);
    expect(out2.dport).toBe(40000);

    const ack = tcp(C, S, 40000, 80, 'A', 1001, 5001);
    const v3 = p.process(ack, 1, 2);
    expect(v3.lookups[0]!.state).toBe(CS_ESTABLISHED | CS_TRACKED | CS_SRC_NAT);
    expect(ipv4ToString(view(v3.outputs[0]!.bytes).src[0]!)).toBe(NATIP);
  });

  it('a packet to the untranslated reply tuple does not match the NATed connection', () => {
    const p = pipeline(SNAT + 'table=1,priority=10,in_port=2,ip,ct_state=+trk+new,actions=output:3\n');
    p.process(tcp(C, S, 40000, 80, 'S'), 1, 0);
    const v = p.process(tcp(S, C, 80, 40000, 'S', 5000), 2, 1);
    expect(v.lookups[0]!.state & CS_NEW).toBe(CS_NEW);
    expect(v.outputs.map((o) => o.port)).toEqual([3]);
  });

  it('two clients with the same source port get different ports on one NAT address', () => {
    const p = pipeline(SNAT);
    const a = view(p.process(tcp(C, S, 40000, 80, 'S'), 1, 0).outputs[0]!.bytes);
    const b = view(p.process(tcp('10.1.1.3', S, 40000, 80, 'S'), 1, 1).outputs[0]!.bytes);
    expect(ipv4ToString(b.src[0]!)).toBe(NATIP);
    expect(a.sport).toBe(40000);
    expect(b.sport).not.toBe(40000);
    expect(b.sport).toBeGreaterThanOrEqual(1024);
  });

  it('port range exhaustion: the commit is refused, the packet stays untranslated new|trk', () => {
    const p = pipeline(`
table=0,priority=10,in_port=1,ip,actions=ct(nat,table=1)
table=1,priority=10,in_port=1,ip,ct_state=+trk+new,actions=ct(commit,nat(src=${NATIP}:5000-5001),table=2)
table=2,priority=10,actions=output:2
`);
    const ports: number[] = [];
    const states: number[] = [];
    for (let i = 0; i < 3; i++) {
      const v = p.process(tcp(C, S, 40000 + i, 80, 'S'), 1, i);
      const o = view(v.outputs[0]!.bytes);
      ports.push(o.sport);
      states.push(v.lookups[1]!.state);
      if (i === 2) expect(ipv4ToString(o.src[0]!)).toBe(C);
    }
    expect(ports.slice(0, 2).sort()).toEqual([5000, 5001]);
    expect(ports[2]).toBe(40002);
    expect(states).toEqual([CS_NEW | CS_TRACKED | CS_SRC_NAT, CS_NEW | CS_TRACKED | CS_SRC_NAT, CS_NEW | CS_TRACKED]);
    expect(p.conntrack.size).toBe(2);
  });

  it('zone limits are checked before the allocation; an exhausted commit takes no count', () => {
    const p = pipeline(`zone_limit zone=0,limit=2
table=0,priority=10,in_port=1,ip,actions=ct(commit,nat(src=${NATIP}:6000)),output:2
`);
    const out = (i: number): PacketView => view(p.process(tcp(C, S, 41000 + i, 80, 'S'), 1, i).outputs[0]!.bytes);
    expect(out(0).sport).toBe(6000); // committed, translated
    expect(out(1).sport).toBe(41001); // exhausted: untranslated, not counted
    expect(p.conntrack.getZoneLimit(0)).toEqual({ limit: 2, count: 1 });
    expect(out(2).sport).toBe(41002); // still exhausted
    expect(p.conntrack.size).toBe(1);
  });

  it('reuse after expiry: the one port is free again once the first connection has expired', () => {
    const p = pipeline(`ip,in_port=1,actions=ct(commit,nat(src=${NATIP}:7000)),output:2`);
    const u = (sport: number): Uint8Array => buildFrame({ ip: { src: C, dst: S }, udp: { sport, dport: 53 }, payload: 'q' });
    expect(view(p.process(u(1000), 1, 0).outputs[0]!.bytes).sport).toBe(7000);
    expect(view(p.process(u(1001), 1, 59_999).outputs[0]!.bytes).sport).toBe(1001); // taken: exhaustion
    // UDP first-packet timeout 60 s (docs/conntrack-semantics.md §6.1): gone at 60 000 ms.
    expect(view(p.process(u(1002), 1, 60_000).outputs[0]!.bytes).sport).toBe(7000);
    p.conntrack.sweep(60_000);
    const live = [...p.conntrack.connections(60_000)];
    expect(live.map((c) => [c.orig.sport, c.reply.dport])).toEqual([[1002, 7000]]);
  });

  it('UDP SNAT with a zero checksum stays zero; with a checksum it verifies', () => {
    const p = pipeline(`ip,in_port=1,actions=ct(commit,nat(src=${NATIP}:7000)),output:2`);
    const z = buildFrame({ ip: { src: C, dst: S }, udp: { sport: 1000, dport: 53, checksum: 'none' }, payload: 'q' });
    const oz = view(p.process(z, 1, 0).outputs[0]!.bytes);
    expect(oz.ctStatus).toBe(CT_OK);
    expect(oz.sport).toBe(7000);
    expect((oz.buf[oz.l4Off + 6]! << 8) | oz.buf[oz.l4Off + 7]!).toBe(0);
    const w = buildFrame({ ip: { src: C, dst: S }, udp: { sport: 1001, dport: 53 }, payload: 'q' });
    const ow = view(p.process(w, 1, 1).outputs[0]!.bytes);
    expect(ow.ctStatus).toBe(CT_OK);
  });
});

describe('DNAT', () => {
  const DNAT = `
table=0,priority=10,ip,actions=ct(nat,table=1)
table=1,priority=10,in_port=1,ip,ct_state=+trk+new,actions=ct(commit,nat(dst=10.1.1.100-10.1.1.103:8080)),output:2
table=1,priority=10,in_port=1,ip,ct_state=+trk+est,actions=output:2
table=1,priority=10,in_port=2,ip,ct_state=+trk+est,actions=output:1
`;
  it('rewrites the destination into the range, replies come from the public address', () => {
    const p = pipeline(DNAT);
    const v1 = p.process(tcp(C, S, 40000, 80, 'S'), 1, 0);
    const o1 = view(v1.outputs[0]!.bytes);
    expect(o1.ctStatus).toBe(CT_OK);
    const backend = ipv4ToString(o1.dst[0]!);
    expect(['10.1.1.100', '10.1.1.101', '10.1.1.102', '10.1.1.103']).toContain(backend);
    expect(o1.dport).toBe(8080);
    expect(o1.sport).toBe(40000);
    const v2 = p.process(tcp(backend, C, 8080, 40000, 'SA', 7, 1001), 2, 1);
    expect(v2.lookups[0]!.state).toBe(CS_ESTABLISHED | CS_REPLY_DIR | CS_TRACKED | CS_SRC_NAT);
    const o2 = view(v2.outputs[0]!.bytes);
    expect(o2.ctStatus).toBe(CT_OK);
    expect(ipv4ToString(o2.src[0]!)).toBe(S);
    expect(o2.sport).toBe(80);
  });

  it('IPv6 DNAT keeps the TCP checksum valid', () => {
    const p = pipeline(`ipv6,in_port=1,actions=ct(commit,nat(dst=[fd00::100]:8080)),output:2`);
    const f = buildFrame({ ip: { src: 'fd00::1', dst: 'fd00::2' }, tcp: { sport: 4000, dport: 80, flags: 'S', seq: 1 } });
    const o = view(p.process(f, 1, 0).outputs[0]!.bytes);
    expect(o.ctStatus).toBe(CT_OK);
    expect(o.dport).toBe(8080);
    expect(o.dst[3]).toBe(0x100);
  });
});

describe('ICMP errors about a NATed connection', () => {
  it('the embedded header is translated back and the ICMP checksum recomputed', () => {
    const p = pipeline(SNAT + 'table=1,priority=10,in_port=2,ip,ct_state=+trk+rel,actions=output:1\n');
    const syn = tcp(C, S, 40000, 80, 'S');
    const translated = p.process(syn, 1, 0).outputs[0]!.bytes;
    // The server's router answers the translated packet with "port unreachable".
    const err = buildFrame({ ip: { src: S, dst: NATIP }, icmpError: { type: 3, code: 3, inner: ipPacketOf(translated).subarray(0, 28) } });
    const v = p.process(err, 2, 1);
    expect(v.lookups[0]!.state & CS_DST_NAT).toBe(CS_DST_NAT);
    const o = view(v.outputs[0]!.bytes);
    expect(o.ctStatus).toBe(CT_OK);
    expect(ipv4ToString(o.dst[0]!)).toBe(C);
    expect(ipv4ToString(o.innerSrc[0]!)).toBe(C);
    expect(o.innerSport).toBe(40000);
  });
});

describe('ICMPv6 error about an SNATed connection (OVS 3.1 oddity, docs/conntrack-semantics.md §11.4)', () => {
  it('the outer rewrite folds into bytes 16-17 of the ICMPv6 message; the ICMPv6 checksum still verifies', () => {
    const p = pipeline(`
table=0,priority=10,ipv6,actions=ct(nat,table=1)
table=1,priority=10,in_port=1,ipv6,ct_state=+trk+new,actions=ct(commit,nat(src=[fd00::2])),output:2
table=1,priority=10,ct_state=+trk+est,in_port=2,actions=output:1
table=1,priority=10,ct_state=+trk+rel,in_port=1,actions=output:2
`);
    p.process(buildFrame({ ip: { src: 'fd00::1', dst: '2001:db8::1' }, tcp: { sport: 40001, dport: 22, flags: 'S', seq: 1 } }), 1, 0);
    const reply = p.process(buildFrame({ ip: { src: '2001:db8::1', dst: 'fd00::2' }, tcp: { sport: 22, dport: 40001, flags: 'SA', seq: 7, ack: 2 } }), 2, 1);
    const delivered = reply.outputs[0]!.bytes; // reverse-translated: to fd00::1
    expect(view(delivered).dst[3]).toBe(1);
    // The client answers it with "port unreachable", quoting the packet it got.
    const err = buildFrame({ ip: { src: 'fd00::1', dst: '2001:db8::1' }, icmpError: { type: 1, code: 4, inner: ipPacketOf(delivered) } });
    const v = p.process(err, 1, 2);
    expect(v.lookups[0]!.state & CS_SRC_NAT).toBe(CS_SRC_NAT);
    const o = view(v.outputs[0]!.bytes);
    // The damaged quote no longer names the outer destination: a tracker downstream calls it
    // invalid (§5.3), exactly what OVS 3.1 emits; the ICMPv6 checksum itself verifies.
    expect(o.ctStatus).toBe(CT_ICMP_INNER_SRC);
    expect(checksumOk(o.buf, o.l4Off, o.l3End - o.l4Off, pseudoSum6(o.buf, o.l3Off, 58, o.l3End - o.l4Off))).toBe(true);
    expect(o.src[3]).toBe(2); // outer source translated
    expect(o.innerDst[3]).toBe(2); // quoted destination translated
    // The quoted source's first word carries the outer change (2001 → 2000 here, as OVS 3.1 sent it).
    const q = o.l4Off + 8 + 8;
    expect((o.buf[q]! << 8) | o.buf[q + 1]!).toBe(0x2000);
  });
});

describe('the allocation hook (oracle)', () => {
  it('an imposed in-range tuple is used; an impossible one is refused and counted', () => {
    const ct = new Conntrack();
    const p = pipeline(`ip,in_port=1,actions=ct(commit,nat(src=10.9.0.1-10.9.0.9:2000-2999)),output:2`, ct);
    ct.natChooser = (orig) => {
      const rk = new Uint32Array(orig.length);
      rk.set(orig);
      // reverse, then translate: dst (NATed source) = 10.9.0.7:2345
      for (let i = 0; i < 4; i++) [rk[1 + i], rk[6 + i]] = [orig[6 + i]!, orig[1 + i]!];
      rk[5] = orig[10]!;
      rk[10] = 2345;
      rk[6] = (10 << 24) | (9 << 16) | 7;
      return rk;
    };
    const o = view(p.process(tcp(C, S, 40000, 80, 'S'), 1, 0).outputs[0]!.bytes);
    expect(ipv4ToString(o.src[0]!)).toBe('10.9.0.7');
    expect(o.sport).toBe(2345);
    expect(ct.natRejectedChoices).toBe(0);
    ct.natChooser = (orig) => {
      const rk = new Uint32Array(orig);
      return rk; // not even reversed: impossible
    };
    const o2 = view(p.process(tcp(C, S, 40001, 80, 'S'), 1, 1).outputs[0]!.bytes);
    expect(ct.natRejectedChoices).toBe(1);
    expect(o2.sport).toBeGreaterThanOrEqual(2000);
    expect(o2.sport).toBeLessThanOrEqual(2999);
    expect(natTupleAllowed).toBeTypeOf('function');
  });
});
