/**
 * Generic tracker: UDP and other IP protocols (docs/conntrack-semantics.md §5.1, §2.1).
 */
import { describe, expect, it } from 'vitest';
import { A, B, Driver, udp } from './helpers.js';

describe('UDP FIRST / MULTIPLE / BIDIR', () => {
  it('states, ct_state and timers follow §5.1', () => {
    const d = new Driver();
    expect(d.commit(udp())).toBe('new|trk');
    let c = d.only();
    expect(c.protoState).toBe('FIRST');
    expect(c.expiration - d.now).toBe(60_000);
    expect(c.seenReply).toBe(false);

    d.now = 1000;
    expect(d.commit(udp())).toBe('new|trk');
    c = d.only();
    expect(c.protoState).toBe('MULTIPLE');
    expect(c.expiration - d.now).toBe(60_000);

    d.now = 2000;
    expect(d.commit(udp())).toBe('new|trk');
    expect(d.only().protoState).toBe('MULTIPLE');

    d.now = 3000;
    expect(d.ct_(udp({ rev: true }))).toBe('est|rpl|trk');
    c = d.only();
    expect(c.protoState).toBe('BIDIR');
    expect(c.expiration - d.now).toBe(30_000);
    expect(c.seenReply).toBe(true);

    d.now = 4000;
    expect(d.commit(udp())).toBe('est|trk');
    expect(d.ct_(udp({ rev: true }))).toBe('est|rpl|trk');
    expect(d.only().expiration - d.now).toBe(30_000);
  });

  it('reply in FIRST goes straight to BIDIR', () => {
    const d = new Driver();
    d.commit(udp());
    expect(d.ct_(udp({ rev: true }))).toBe('est|rpl|trk');
    expect(d.only().protoState).toBe('BIDIR');
  });

  it('uncommitted packets are new and leave no state', () => {
    const d = new Driver();
    for (let i = 0; i < 3; i++) expect(d.ct_(udp())).toBe('new|trk');
    expect(d.conns()).toHaveLength(0);
    expect(d.ct.size).toBe(0);
    // the uncommitted packet reports its own tuple
    expect(d.md.tupleVisible()).toBe(true);
    expect([d.md.origProto, d.md.origSport, d.md.origDport]).toEqual([17, 1000, 2000]);
  });

  it('uncommitted packets update an existing entry; commit on a match creates nothing', () => {
    const d = new Driver();
    d.commit(udp());
    expect(d.ct_(udp({ rev: true }))).toBe('est|rpl|trk');
    expect(d.commit(udp({ rev: true }))).toBe('est|rpl|trk');
    expect(d.conns()).toHaveLength(1);
  });

  it('different ports are different connections', () => {
    const d = new Driver();
    d.commit(udp({ sport: 1 }));
    d.commit(udp({ sport: 2 }));
    expect(d.conns()).toHaveLength(2);
  });

  it('IPv6 UDP', () => {
    const d = new Driver();
    expect(d.commit(udp({ src: 'fd00::1', dst: 'fd00::2' }))).toBe('new|trk');
    expect(d.ct_(udp({ src: 'fd00::1', dst: 'fd00::2', rev: true }))).toBe('est|rpl|trk');
    const c = d.only();
    expect(c.l3).toBe(6);
    expect(c.orig.src).toBe('fd00::1');
    expect(c.reply.src).toBe('fd00::2');
  });
});

describe('other IP protocols', () => {
  it('keyed by addresses only: one entry for all traffic of the pair (SCTP ports ignored)', () => {
    const d = new Driver();
    const sctp = (sp: number, rev = false) => ({
      ip: rev ? { src: B, dst: A, proto: 132 } : { src: A, dst: B, proto: 132 },
      payload: new Uint8Array([sp >> 8, sp & 255, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0]),
    });
    expect(d.commit(sctp(1))).toBe('new|trk');
    expect(d.commit(sctp(2))).toBe('new|trk');
    expect(d.conns()).toHaveLength(1);
    expect(d.only().protoState).toBe('MULTIPLE');
    expect(d.ct_(sctp(3, true))).toBe('est|rpl|trk');
    const c = d.only();
    expect(c.proto).toBe(132);
    expect([c.orig.sport, c.orig.dport]).toEqual([0, 0]);
  });

  it('GRE uses the UDP timers (defaults: policies do not apply to other protocols)', () => {
    const d = new Driver();
    d.ct.defineTimeoutPolicy('short', { udp_first: 5 });
    d.ct.bindZoneTimeoutPolicy(0, 'short');
    d.commit({ ip: { src: A, dst: B, proto: 47 }, payload: new Uint8Array(4) });
    const c = d.only();
    expect(c.expiration - d.now).toBe(60_000);
    expect(c.timeoutPolicy).toBe(null);
  });

  it('protocol 0 entries exist but expose no tuple (ct_nw_proto = 0)', () => {
    const d = new Driver();
    expect(d.commit({ ip: { src: A, dst: B, proto: 0 }, payload: new Uint8Array(4) })).toBe('new|trk');
    expect(d.md.tupleVisible()).toBe(false);
    expect(d.conns()).toHaveLength(1);
  });
});
