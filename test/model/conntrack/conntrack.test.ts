/**
 * The core: zones, commit/force, mark and label, limits, expiry, metadata
 * (docs/conntrack-semantics.md §1, §2, §6, §7).
 */
import { describe, expect, it } from 'vitest';
import { buildFrame } from '../../../model/packet/build.js';
import { Conntrack, CtArgs, CtMeta, ctClear, type ConntrackEvent } from '../../../model/conntrack/index.js';
import { PacketView } from '../../../model/packet/view.js';
import { A, B, Driver, tcp, udp } from './helpers.js';

describe('zones', () => {
  it('isolate state: the same flow is new in another zone, replies only match their zone', () => {
    const d = new Driver();
    expect(d.commit(udp(), { zone: 1 })).toBe('new|trk');
    expect(d.md.zone).toBe(1);
    expect(d.ct_(udp({ rev: true }), { zone: 2 })).toBe('new|trk');
    expect(d.commit(udp(), { zone: 2 })).toBe('new|trk');
    expect(d.conns()).toHaveLength(2);
    expect(d.ct_(udp({ rev: true }), { zone: 1 })).toBe('est|rpl|trk');
    expect(d.conns().map((c) => c.zone).sort()).toEqual([1, 2]);
    expect(d.ct.lookupFrame(buildFrame(udp()), 3, d.now)).toBeUndefined();
    expect(d.ct.lookupFrame(buildFrame(udp({ rev: true })), 2, d.now)?.zone).toBe(2);
  });
});

describe('ct_mark / ct_label via exec', () => {
  it('masked writes store in the entry and stick on replies', () => {
    const d = new Driver();
    expect(d.commit(udp(), { mark: [0xab, 0xff], label: [1n, 0xffn] })).toBe('new|trk');
    expect(d.md.mark).toBe(0xab);
    expect(d.md.labelBigInt()).toBe(1n);
    expect(d.ct_(udp({ rev: true }))).toBe('est|rpl|trk');
    expect(d.md.mark).toBe(0xab);
    expect(d.md.labelBigInt()).toBe(1n);
    // masked update keeps the other bits
    d.commit(udp(), { mark: [0x1200, 0xff00], label: [1n << 127n, 1n << 127n] });
    expect(d.md.mark).toBe(0x12ab);
    expect(d.md.labelBigInt()).toBe((1n << 127n) | 1n);
    const c = d.only();
    expect(c.mark).toBe(0x12ab);
    expect(c.label).toBe((1n << 127n) | 1n);
    // value bits outside the mask are ignored
    d.commit(udp(), { mark: [0xffffffff, 0x0f] });
    expect(d.md.mark).toBe(0x12af);
  });

  it('no entry → nothing stored and fields 0', () => {
    const d = new Driver();
    expect(d.ct_(udp(), { mark: [5, 0xff] })).toBe('new|trk');
    expect(d.md.mark).toBe(0);
    expect(d.conns()).toHaveLength(0);
  });

  it('an existing entry is updated even when the packet is inv against it', () => {
    const d = new Driver();
    d.commit(tcp('S', 1000, 0));
    d.ct_(tcp('SA', 5000, 1001, { rev: true }));
    expect(d.commit(tcp('A', 1001, 5001 + 100000), { mark: [7, 0xff] })).toBe('inv|trk');
    expect(d.md.mark).toBe(7);
    expect(d.only().mark).toBe(7);
  });
});

describe('force', () => {
  it('reply-direction match with force re-creates the entry reversed (UDP)', () => {
    const d = new Driver();
    d.commit(udp(), { mark: [1, 0xff] });
    const old = d.only();
    expect(d.commit(udp({ rev: true }), { force: true })).toBe('new|trk');
    const c = d.only();
    expect(c.id).not.toBe(old.id);
    expect(c.orig.src).toBe(B);
    expect(c.mark).toBe(0);
  });

  it('force on an original-direction match has no effect', () => {
    const d = new Driver();
    d.commit(udp());
    const old = d.only();
    expect(d.commit(udp(), { force: true })).toBe('new|trk');
    expect(d.only().id).toBe(old.id);
    expect(d.only().protoState).toBe('MULTIPLE');
  });

  it('force with a packet that may not start a connection: old entry gone, inv', () => {
    const d = new Driver();
    d.commit(tcp('S', 1000, 0));
    expect(d.commit(tcp('SA', 5000, 1001, { rev: true }), { force: true })).toBe('inv|trk');
    expect(d.conns()).toHaveLength(0);
  });
});

describe('commit failures: zone limits and maxconns §7', () => {
  it('zone limit: commits beyond it stay new|trk with no entry; replies to existing stay est', () => {
    const d = new Driver();
    d.ct.setZoneLimit(5, 2);
    expect(d.commit(udp({ sport: 1 }), { zone: 5 })).toBe('new|trk');
    expect(d.commit(udp({ sport: 2 }), { zone: 5 })).toBe('new|trk');
    expect(d.commit(udp({ sport: 3 }), { zone: 5, mark: [9, 0xff] })).toBe('new|trk');
    expect(d.md.mark).toBe(0);
    expect(d.conns()).toHaveLength(2);
    expect(d.ct.getZoneLimit(5)).toEqual({ limit: 2, count: 2 });
    expect(d.ct_(udp({ sport: 1, rev: true }), { zone: 5 })).toBe('est|rpl|trk');
    // other zones are unaffected
    expect(d.commit(udp({ sport: 3 }), { zone: 6 })).toBe('new|trk');
    expect(d.conns()).toHaveLength(3);
  });

  it('a limit of 0 refuses every commit (zone and default)', () => {
    const d = new Driver();
    d.ct.setZoneLimit(1, 0);
    d.commit(udp(), { zone: 1 });
    expect(d.conns()).toHaveLength(0);
    d.ct.setDefaultLimit(0);
    d.commit(udp(), { zone: 2 });
    expect(d.conns()).toHaveLength(0);
    d.ct.setDefaultLimit(4294967295);
    d.commit(udp(), { zone: 2 });
    expect(d.conns()).toHaveLength(1);
  });

  it('the default limit is one counter shared by all zones without their own limit', () => {
    const d = new Driver();
    d.ct.setDefaultLimit(3);
    d.commit(udp({ sport: 1 }), { zone: 5 });
    d.commit(udp({ sport: 2 }), { zone: 5 });
    expect(d.ct.getZoneLimit(5)).toEqual({ limit: 3, count: 2 });
    expect(d.ct.getZoneLimit(6)).toEqual({ limit: 3, count: 2 });
    d.commit(udp({ sport: 3 }), { zone: 6 });
    d.commit(udp({ sport: 4 }), { zone: 7 });
    expect(d.conns()).toHaveLength(3);
  });

  it('a zone limit created later starts at 0 and ignores earlier entries; deleting falls back', () => {
    const d = new Driver();
    d.commit(udp({ sport: 1 }), { zone: 5 });
    d.ct.setZoneLimit(5, 1);
    expect(d.ct.getZoneLimit(5)).toEqual({ limit: 1, count: 0 });
    d.commit(udp({ sport: 2 }), { zone: 5 });
    expect(d.ct.getZoneLimit(5)).toEqual({ limit: 1, count: 1 });
    d.ct.setZoneLimit(5, 10); // change keeps the count
    expect(d.ct.getZoneLimit(5)).toEqual({ limit: 10, count: 1 });
    d.ct.deleteZoneLimit(5);
    expect(d.ct.getZoneLimit(5)).toBeUndefined();
  });

  it('maxconns refuses commits globally', () => {
    const d = new Driver({ maxConns: 2 });
    d.commit(udp({ sport: 1 }));
    d.commit(udp({ sport: 2 }), { zone: 3 });
    expect(d.commit(udp({ sport: 3 }))).toBe('new|trk');
    expect(d.conns()).toHaveLength(2);
    d.ct.setMaxConns(3);
    d.commit(udp({ sport: 3 }));
    expect(d.conns()).toHaveLength(3);
  });

  it('counts are released at the expiry instant', () => {
    const d = new Driver();
    d.ct.setZoneLimit(0, 1);
    d.commit(udp({ sport: 1 }));
    d.now = 59_999;
    d.commit(udp({ sport: 2 }));
    expect(d.ct.size).toBe(1);
    d.now = 60_000; // sport 1 expires now (FIRST, 60 s)
    expect(d.commit(udp({ sport: 2 }))).toBe('new|trk');
    expect(d.conns().map((c) => c.orig.sport)).toEqual([2]);
    expect(d.ct.getZoneLimit(0)).toEqual({ limit: 1, count: 1 });
  });
});

describe('expiry with virtual time §2.9, §6.2', () => {
  it('a packet at exactly the expiration instant starts a new connection', () => {
    const d = new Driver();
    d.commit(udp());
    d.now = 59_999;
    expect(d.ct_(udp({ rev: true }))).toBe('est|rpl|trk');
    // BIDIR refreshed at 59 999 → expires at 89 999
    d.now = 89_998;
    expect(d.ct_(udp({ rev: true }))).toBe('est|rpl|trk');
    d.now = 89_998 + 30_000;
    expect(d.ct_(udp({ rev: true }))).toBe('new|trk');
    expect(d.conns()).toHaveLength(0);
    expect(d.ct.sweep(d.now)).toBe(1);
    expect(d.ct.size).toBe(0);
  });

  it('observed instants: reply at t+60 000 is new; BIDIR refreshed at 59 999 is gone at 89 999', () => {
    const d = new Driver();
    d.now = 5;
    d.commit(udp());
    d.now = 5 + 60_000;
    expect(d.ct_(udp({ rev: true }))).toBe('new|trk');
    const e = new Driver();
    e.commit(udp());
    e.now = 59_999;
    expect(e.ct_(udp({ rev: true }))).toBe('est|rpl|trk');
    e.now = 89_999;
    expect(e.ct_(udp({ rev: true }))).toBe('new|trk');
    expect(e.ct.lookupFrame(buildFrame(udp()), 0, 89_998)?.protoState).toBe('BIDIR');
  });

  it('sweep removes exactly the expired entries', () => {
    const d = new Driver();
    d.commit(udp({ sport: 1 })); // expires 60 000
    d.now = 10_000;
    d.commit(udp({ sport: 2 })); // expires 70 000
    expect(d.ct.sweep(59_999)).toBe(0);
    expect(d.ct.sweep(60_000)).toBe(1);
    expect([...d.ct.connections()].map((c) => c.orig.sport)).toEqual([2]);
  });

  it('zone timeout policy: observed 5/6/7 s for FIRST/MULTIPLE/BIDIR, TCP 11/12/13 s', () => {
    const d = new Driver();
    d.ct.defineTimeoutPolicy('tp7', { udp_first: 5, udp_single: 6, udp_multiple: 7, tcp_syn_sent: 11, tcp_syn_recv: 12, tcp_established: 13 });
    d.ct.bindZoneTimeoutPolicy(7, 'tp7');
    d.commit(udp(), { zone: 7 });
    expect(d.only().expiration - d.now).toBe(5000);
    expect(d.only().timeoutPolicy).toBe('tp7');
    d.commit(udp(), { zone: 7 });
    expect(d.only().expiration - d.now).toBe(6000);
    d.ct_(udp({ rev: true }), { zone: 7 });
    expect(d.only().expiration - d.now).toBe(7000);
    d.ct.flush();
    d.commit(tcp('S', 1000, 0), { zone: 7 });
    expect(d.only().expiration - d.now).toBe(11_000);
    d.ct_(tcp('SA', 5000, 1001, { rev: true }), { zone: 7 });
    expect(d.only().expiration - d.now).toBe(12_000);
    d.commit(tcp('A', 1001, 5001), { zone: 7 });
    expect(d.only().expiration - d.now).toBe(13_000);
    // attributes not given keep the defaults
    d.commit(tcp('FA', 1001, 5001), { zone: 7 });
    expect(d.only().expiration - d.now).toBe(900_000);
    // other zones use the defaults
    d.commit(udp(), { zone: 8 });
    expect(d.conns().find((c) => c.zone === 8)!.expiration - d.now).toBe(60_000);
  });

  it('ct(commit,timeout=NAME) attaches the policy to entries the call creates', () => {
    const d = new Driver();
    d.ct.defineTimeoutPolicy('short', { udp_first: 2 });
    d.commit(udp(), { zone: 5, timeout: 'short' });
    expect(d.only().expiration - d.now).toBe(2000);
    d.now = 2000;
    expect(d.ct_(udp({ rev: true }), { zone: 5 })).toBe('new|trk');
  });

  it('policy edits apply at the next refresh; a deleted policy falls back to the defaults', () => {
    const d = new Driver();
    d.ct.defineTimeoutPolicy('p', { udp_single: 9 });
    d.commit(udp(), { timeout: 'p' });
    d.ct.defineTimeoutPolicy('p', { udp_single: 4 });
    d.commit(udp());
    expect(d.only().expiration - d.now).toBe(4000);
    d.ct.deleteTimeoutPolicy('p');
    d.commit(udp());
    expect(d.only().expiration - d.now).toBe(60_000);
  });
});

describe('metadata and calls', () => {
  it('parse failures are inv|trk with zone set and everything else zero; fragments too', () => {
    const d = new Driver();
    const bad = buildFrame({ ip: { src: A, dst: B, badChecksum: true }, udp: { sport: 1, dport: 2 } });
    expect(d.commit(bad, { zone: 3 })).toBe('inv|trk');
    expect(d.md.zone).toBe(3);
    expect(d.md.origProto).toBe(0);
    const frag = buildFrame({ ip: { src: A, dst: B, moreFragments: true }, udp: { sport: 1, dport: 2 } });
    // differs from OVS default (ipf reassembly): the model treats fragments as with reassembly off.
    expect(d.commit(frag)).toBe('inv|trk');
    expect(d.commit(buildFrame({ ip: { src: A, dst: B }, udp: { sport: 0, dport: 2 } }))).toBe('inv|trk');
    expect(d.conns()).toHaveLength(0);
  });

  it('same-zone shortcut: ct(table) then ct(commit) counts as one update; another zone resets', () => {
    const d = new Driver();
    const f = buildFrame(udp());
    expect(d.ct_(f)).toBe('new|trk');
    expect(d.commit(f, { keepMd: true })).toBe('new|trk'); // no entry yet → full processing
    expect(d.only().protoState).toBe('FIRST');
    // a new packet: lookup then commit in the same zone → one update only
    expect(d.ct_(f)).toBe('new|trk');
    expect(d.only().protoState).toBe('MULTIPLE');
    expect(d.commit(f, { keepMd: true, mark: [3, 0xff] })).toBe('new|trk');
    expect(d.only().mark).toBe(3);
    expect(d.only().protoState).toBe('MULTIPLE');
    // different zone: state is reset and the packet is tracked there
    expect(d.ct_(f, { keepMd: true, zone: 9 })).toBe('new|trk');
    expect(d.md.zone).toBe(9);
    expect(d.md.mark).toBe(0);
  });

  it('ctClear makes the packet untracked', () => {
    const d = new Driver();
    d.commit(udp());
    ctClear(d.md);
    expect(d.md.state).toBe(0);
    expect(d.md.conn).toBe(-1);
  });

  it('events: new, update, destroy', () => {
    const ct = new Conntrack();
    const evs: ConntrackEvent[] = [];
    ct.onEvent = (e) => evs.push(e);
    const slots: [string, number, number][] = [];
    ct.onSlotEvent = (kind, id, slot) => slots.push([kind, id, slot]);
    const v = new PacketView();
    const a = new CtArgs();
    const md = new CtMeta();
    a.commit = true;
    ct.execute(v.parse(buildFrame(udp())), a, 0, md);
    a.commit = false;
    md.clear();
    ct.execute(v.parse(buildFrame(udp({ rev: true }))), a, 1, md);
    ct.sweep(1_000_000);
    expect(evs.map((e) => e.kind)).toEqual(['new', 'update', 'destroy']);
    expect(evs[1]!.conn.protoState).toBe('BIDIR');
    // the numeric hook sees the same events, with the same id and slot
    expect(slots).toEqual(evs.map((e) => [e.kind, e.conn.id, e.conn.index]));
  });

  it('flush by zone keeps other zones', () => {
    const d = new Driver();
    d.commit(udp(), { zone: 1 });
    d.commit(udp(), { zone: 2 });
    d.ct.flush(1);
    expect(d.conns().map((c) => c.zone)).toEqual([2]);
    d.ct.flush();
    expect(d.conns()).toHaveLength(0);
  });

  it('table grows beyond its initial capacity and keeps every entry reachable', () => {
    const d = new Driver({ initialCapacity: 16 });
    for (let i = 1; i <= 300; i++) d.commit(udp({ sport: i }));
    expect(d.ct.size).toBe(300);
    for (let i = 1; i <= 300; i++) expect(d.ct_(udp({ sport: i, rev: true }))).toBe('est|rpl|trk');
  });

  it('the hash salt changes nothing observable', () => {
    const states = (salt: number): string[] => {
      const d = new Driver({ hashSalt: salt });
      const out: string[] = [];
      for (let i = 1; i <= 20; i++) out.push(d.commit(udp({ sport: i })));
      for (let i = 1; i <= 20; i++) out.push(d.ct_(udp({ sport: i, rev: true })));
      return out;
    };
    expect(states(1)).toEqual(states(0xdeadbeef));
  });
});
