/**
 * ICMP/ICMPv6 queries and errors (docs/conntrack-semantics.md §5.2, §5.3).
 */
import { describe, expect, it } from 'vitest';
import { buildFrame, ipPacketOf, type FrameSpec } from '../../../model/packet/build.js';
import { A, A6, B, B6, Driver, tcp, udp } from './helpers.js';

const echo = (o: { rev?: boolean; type?: number; id?: number; v6?: boolean; code?: number } = {}): FrameSpec => {
  const a = o.v6 ? A6 : A;
  const b = o.v6 ? B6 : B;
  const req = o.v6 ? 128 : 8;
  const rep = o.v6 ? 129 : 0;
  return {
    ip: o.rev ? { src: b, dst: a } : { src: a, dst: b },
    icmp: { type: o.type ?? (o.rev ? rep : req), code: o.code ?? 0, id: o.id ?? 77, seq: 1 },
  };
};

describe('ICMP echo', () => {
  it('request new until the reply, then est; timers 60 / 30 s; tuple shows type and code', () => {
    const d = new Driver();
    expect(d.commit(echo())).toBe('new|trk');
    expect([d.md.origSport, d.md.origDport]).toEqual([8, 0]);
    let c = d.only();
    expect(c.protoState).toBe('FIRST');
    expect(c.expiration - d.now).toBe(60_000);
    expect(c.orig.icmpType).toBe(8);
    expect(c.reply.icmpType).toBe(0);
    d.now = 500;
    expect(d.commit(echo())).toBe('new|trk');
    expect(d.ct_(echo({ rev: true }))).toBe('est|rpl|trk');
    c = d.only();
    expect(c.protoState).toBe('REPLY');
    expect(c.expiration - d.now).toBe(30_000);
    expect(d.commit(echo())).toBe('est|trk');
  });

  it('an unsolicited reply is inv', () => {
    const d = new Driver();
    expect(d.commit(echo({ rev: true }))).toBe('inv|trk');
    expect(d.conns()).toHaveLength(0);
  });

  it('different ids are different connections; timestamp and info requests create', () => {
    const d = new Driver();
    d.commit(echo({ id: 1 }));
    d.commit(echo({ id: 2 }));
    expect(d.commit(echo({ type: 13 }))).toBe('new|trk');
    expect(d.commit(echo({ type: 15 }))).toBe('new|trk');
    expect(d.conns()).toHaveLength(4);
    expect(d.ct_(echo({ type: 14, rev: true }))).toBe('est|rpl|trk');
  });

  it('unsupported types and non-zero query codes are inv', () => {
    const d = new Driver();
    expect(d.commit(echo({ type: 17 }))).toBe('inv|trk');
    expect(d.commit(echo({ type: 9 }))).toBe('inv|trk');
    expect(d.commit(echo({ code: 1 }))).toBe('inv|trk');
    expect(d.conns()).toHaveLength(0);
  });
});

describe('ICMPv6', () => {
  it('echo request/reply', () => {
    const d = new Driver();
    expect(d.commit(echo({ v6: true }))).toBe('new|trk');
    expect([d.md.origL3, d.md.origProto, d.md.origSport]).toEqual([6, 58, 128]);
    expect(d.ct_(echo({ v6: true, rev: true }))).toBe('est|rpl|trk');
    expect(d.only().l3).toBe(6);
  });

  it('unsolicited echo reply and neighbour solicitation are inv', () => {
    const d = new Driver();
    expect(d.commit(echo({ v6: true, rev: true }))).toBe('inv|trk');
    expect(d.commit({ ip: { src: A6, dst: B6 }, icmp: { type: 135, code: 0 } })).toBe('inv|trk');
    expect(d.conns()).toHaveLength(0);
  });
});

describe('ICMP errors', () => {
  const unreach = (offending: Uint8Array, from: string, to: string, v6 = false): FrameSpec => ({
    ip: { src: from, dst: to },
    icmpError: { type: v6 ? 1 : 3, code: v6 ? 4 : 3, inner: ipPacketOf(offending) },
  });

  it('error about a committed UDP flow travelling back to the client: rel|rpl, entry untouched', () => {
    const d = new Driver();
    const out = buildFrame(udp());
    d.commit(out);
    const before = d.only();
    d.now = 10_000;
    expect(d.ct_(unreach(out, B, A))).toBe('rel|rpl|trk');
    const after = d.only();
    expect(after.expiration).toBe(before.expiration); // no timer refresh
    expect(after.protoState).toBe('FIRST'); // no state change
    // the tuple is the referenced entry's original tuple
    expect([d.md.origSport, d.md.origDport]).toEqual([1000, 2000]);
  });

  it('error in the original direction is rel without rpl', () => {
    const d = new Driver();
    d.commit(udp());
    const replyPkt = buildFrame(udp({ rev: true }));
    expect(d.ct_(unreach(replyPkt, A, B))).toBe('rel|trk');
    expect(d.md.tupleVisible()).toBe(false);
  });

  it('errors carry the referenced entry mark; errors never create', () => {
    const d = new Driver();
    const out = buildFrame(tcp('S', 1, 0));
    d.commit(out, { mark: [0xab, 0xff] });
    expect(d.commit(unreach(out, '192.0.2.1', A))).toBe('rel|rpl|trk');
    expect(d.md.mark).toBe(0xab);
    expect(d.conns()).toHaveLength(1);
  });

  it('error about nothing tracked is inv', () => {
    const d = new Driver();
    expect(d.commit(unreach(buildFrame(udp()), B, A))).toBe('inv|trk');
    expect(d.conns()).toHaveLength(0);
  });

  it('inner source differing from the outer destination is inv', () => {
    const d = new Driver();
    const out = buildFrame(udp());
    d.commit(out);
    expect(d.ct_(unreach(out, B, '10.9.9.9'))).toBe('inv|trk');
  });

  it('error about an ICMP echo is related', () => {
    const d = new Driver();
    const req = buildFrame(echo());
    d.commit(req);
    expect(d.ct_({ ip: { src: '192.0.2.1', dst: A }, icmpError: { type: 11, code: 0, inner: ipPacketOf(req) } })).toBe('rel|rpl|trk');
  });

  it('ICMPv6 error about a committed flow', () => {
    const d = new Driver();
    const out = buildFrame(udp({ src: A6, dst: B6 }));
    d.commit(out);
    expect(d.ct_(unreach(out, B6, A6, true))).toBe('rel|rpl|trk');
  });

  it('errors are looked up in the calling zone only', () => {
    const d = new Driver();
    const out = buildFrame(udp());
    d.commit(out, { zone: 1 });
    expect(d.ct_(unreach(out, B, A), { zone: 2 })).toBe('inv|trk');
    expect(d.ct_(unreach(out, B, A), { zone: 1 })).toBe('rel|rpl|trk');
  });
});
