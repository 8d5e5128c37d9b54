/**
 * TCP tracker scenarios (docs/conntrack-semantics.md §4), each built from real frames.
 */
import { describe, expect, it } from 'vitest';
import { buildFrame } from '../../../model/packet/build.js';
import { PacketView } from '../../../model/packet/view.js';
import { tcpGetWscale, tcpInvalidFlags } from '../../../model/conntrack/tcp.js';
import { Driver, tcp } from './helpers.js';

function peers(d: Driver): [string, string] {
  const c = d.only();
  return [c.tcp!.stateOrig, c.tcp!.stateReply];
}

/** A→B, B→A handshake with ISNs 1000 / 5000; returns the driver. */
function handshake(o: { wscaleA?: number; wscaleB?: number; win?: number } = {}): Driver {
  const d = new Driver();
  const wA = o.wscaleA === undefined ? {} : { wscale: o.wscaleA };
  const wB = o.wscaleB === undefined ? {} : { wscale: o.wscaleB };
  expect(d.commit(tcp('S', 1000, 0, { ...wA, win: o.win }))).toBe('new|trk');
  expect(d.ct_(tcp('SA', 5000, 1001, { rev: true, ...wB, win: o.win }))).toBe('est|rpl|trk');
  expect(d.commit(tcp('A', 1001, 5001, { win: o.win }))).toBe('est|trk');
  return d;
}

describe('TCP handshake and close: observed trace §4.11', () => {
  it('reproduces ct_state, per-peer states and timers of every row', () => {
    const d = new Driver();
    const rows: [() => string, string, string, string, number][] = [
      [() => d.commit(tcp('S', 1000, 0)), 'new|trk', 'SYN_SENT', 'CLOSED', 30],
      [() => d.commit(tcp('S', 1000, 0)), 'new|trk', 'SYN_SENT', 'CLOSED', 30],
      [() => d.ct_(tcp('SA', 5000, 1001, { rev: true })), 'est|rpl|trk', 'ESTABLISHED', 'SYN_SENT', 30],
      [() => d.commit(tcp('A', 1001, 5001)), 'est|trk', 'ESTABLISHED', 'ESTABLISHED', 86400],
      [() => d.commit(tcp('FA', 1001, 5001)), 'est|trk', 'CLOSING', 'ESTABLISHED', 900],
      [() => d.ct_(tcp('A', 5001, 1002, { rev: true })), 'est|rpl|trk', 'FIN_WAIT_2', 'ESTABLISHED', 900],
      [() => d.ct_(tcp('FA', 5001, 1002, { rev: true })), 'est|rpl|trk', 'FIN_WAIT_2', 'CLOSING', 45],
      [() => d.commit(tcp('A', 1002, 5002)), 'est|trk', 'FIN_WAIT_2', 'FIN_WAIT_2', 30],
    ];
    for (const [send, state, po, pr, timer] of rows) {
      d.now += 100;
      expect(send()).toBe(state);
      const c = d.only();
      expect([c.tcp!.stateOrig, c.tcp!.stateReply]).toEqual([po, pr]);
      expect(c.timeout).toBe(timer);
      expect(c.expiration - d.now).toBe(timer * 1000);
    }
    const first = d.only().id;
    d.now += 100;
    expect(d.commit(tcp('S', 77777, 0))).toBe('new|trk');
    const c = d.only();
    expect(c.id).not.toBe(first);
    expect([c.tcp!.stateOrig, c.tcp!.stateReply]).toEqual(['SYN_SENT', 'CLOSED']);
    expect(c.expiration - d.now).toBe(30_000);
    expect(c.protoState).toBe('SYN_SENT');
  });

  it('dump state coalesces: FIN_WAIT_2 shows as TIME_WAIT', () => {
    const d = handshake();
    expect(d.only().protoState).toBe('ESTABLISHED');
    d.commit(tcp('FA', 1001, 5001));
    d.ct_(tcp('FA', 5001, 1002, { rev: true }));
    d.commit(tcp('A', 1002, 5002));
    expect(d.only().protoState).toBe('TIME_WAIT');
  });
});

describe('TCP data, retransmission, windows', () => {
  it('data both ways is est, a retransmission is still est', () => {
    const d = handshake();
    expect(d.commit(tcp('PA', 1001, 5001, { payload: 'hello' }))).toBe('est|trk');
    expect(d.ct_(tcp('PA', 5001, 1006, { rev: true, payload: 'world!' }))).toBe('est|rpl|trk');
    expect(d.commit(tcp('PA', 1001, 5001, { payload: 'hello' }))).toBe('est|trk'); // retransmission
    expect(d.only().tcp!.seqloOrig).toBe(1006);
  });

  it('§4.4 step 7a: end = seqhi accepted, seqhi + 1 invalid', () => {
    const d = handshake({ win: 1000 });
    // After the SYN-ACK (win 1000, ack 1001): A.seqhi = 1001 + 1000 = 2001.
    const c = d.only();
    expect(c.tcp!.seqhiOrig).toBe(2001);
    expect(d.commit(tcp('PA', 1001, 5001, { payload: 'x'.repeat(1001), win: 1000 }))).toBe('inv|trk');
    expect(d.commit(tcp('PA', 1001, 5001, { payload: 'x'.repeat(1000), win: 1000 }))).toBe('est|trk');
  });

  it('§4.4 step 7b: retransmission at most one window back', () => {
    const d = handshake({ win: 1000 });
    d.commit(tcp('PA', 1001, 5001, { payload: 'x'.repeat(1000), win: 1000 })); // A.seqlo = 2001
    d.ct_(tcp('A', 5001, 2001, { rev: true, win: 1000 })); // B acks; B.max_win 1000
    // seq ≥ seqlo − B.max_win = 1001 accepted, 1000 refused
    expect(d.commit(tcp('PA', 1001, 5001, { payload: 'y', win: 1000 }))).toBe('est|trk');
    expect(d.commit(tcp('PA', 1000, 5001, { payload: 'y', win: 1000 }))).toBe('inv|trk');
  });

  it('§4.4 step 7c/d: ACK skew limits ±67035', () => {
    const d = handshake();
    // ackskew = B.seqlo (5001) − ack; c: ≥ −67035 → ack ≤ 5001 + 67035
    expect(d.commit(tcp('A', 1001, 5001 + 67035))).toBe('est|trk');
    expect(d.commit(tcp('A', 1001, 5001 + 67036))).toBe('inv|trk');
    // d: ≤ 67035 (sws 0) → ack ≥ 5001 − 67035 (mod 2^32)
    expect(d.commit(tcp('A', 1001, (5001 - 67035) >>> 0))).toBe('est|trk');
    expect(d.commit(tcp('A', 1001, (5001 - 67036) >>> 0))).toBe('inv|trk');
  });

  it('an invalid packet changes nothing', () => {
    const d = handshake();
    const before = d.only();
    d.now += 1000;
    expect(d.commit(tcp('A', 1001, 5001 + 100000))).toBe('inv|trk');
    const after = d.only();
    expect(after.tcp).toEqual(before.tcp);
    expect(after.expiration).toBe(before.expiration);
  });

  it('window scaling: shifts recorded, scaled window applies', () => {
    const d = handshake({ wscaleA: 7, wscaleB: 2, win: 1000 });
    const c = d.only();
    expect(c.tcp!.wscaleOrig).toBe(7);
    expect(c.tcp!.wscaleReply).toBe(2);
    expect(c.tcp!.flagsOrig).toEqual(['WINDOW_SCALE']);
    // A.seqhi after the SYN-ACK: ack 1001 + win 1000 (SYN windows are unscaled) = 2001; the final
    // ACK (win 1000 << 7) slides B's window, and B's data may now go far beyond 1000 bytes.
    expect(d.ct_(tcp('PA', 5001, 1001, { rev: true, payload: 'z'.repeat(1400), win: 1000 }))).toBe('est|rpl|trk');
  });

  it('a responder that declines scaling turns scaling off for both', () => {
    const d = new Driver();
    d.commit(tcp('S', 1000, 0, { wscale: 7, win: 1000 }));
    expect(d.ct_(tcp('SA', 5000, 1001, { rev: true, win: 1000 }))).toBe('est|rpl|trk');
    const c = d.only();
    expect(c.tcp!.wscaleOrig).toBe(0);
    expect(c.tcp!.flagsOrig).toEqual([]);
  });
});

describe('TCP RST', () => {
  it('exact RST (seq = seqlo, ±1) closes both peers to TIME_WAIT with tcp_close 30 s', () => {
    for (const delta of [-1, 0, 1]) {
      const d = handshake();
      // After the handshake A.seqlo is still the ISN 1000 (empty ACK normalised, §4.4).
      expect(d.commit(tcp('R', 1000 + delta, 0))).toBe('est|trk');
      const c = d.only();
      expect([c.tcp!.stateOrig, c.tcp!.stateReply]).toEqual(['TIME_WAIT', 'TIME_WAIT']);
      expect(c.expiration - d.now).toBe(30_000);
      // later in-window packets are still est
      expect(d.ct_(tcp('A', 5001, 1001, { rev: true }))).toBe('est|rpl|trk');
    }
  });

  it('inexact RST is inv and changes nothing', () => {
    const d = handshake();
    expect(d.commit(tcp('R', 1002, 0))).toBe('inv|trk');
    expect(peers(d)).toEqual(['ESTABLISHED', 'ESTABLISHED']);
    expect(d.commit(tcp('RA', 998, 5001))).toBe('inv|trk');
  });

  it('RST+ACK with ack 0 uses the substituted ACK', () => {
    const d = handshake();
    expect(d.ct_(tcp('RA', 5001, 0, { rev: true }))).toBe('est|rpl|trk');
    expect(peers(d)).toEqual(['TIME_WAIT', 'TIME_WAIT']);
  });

  it('a reverse SYN after RST restarts the entry reversed', () => {
    const d = handshake();
    d.commit(tcp('R', 1000, 0));
    expect(d.commit(tcp('S', 9000, 0, { rev: true }))).toBe('new|trk');
    const c = d.only();
    expect(c.orig.src).toBe('10.0.0.2');
    expect(c.tcp!.stateOrig).toBe('SYN_SENT');
  });
});

describe('TCP closing both ways and reuse', () => {
  it('responder closes first', () => {
    const d = handshake();
    expect(d.ct_(tcp('FA', 5001, 1001, { rev: true }))).toBe('est|rpl|trk');
    expect(peers(d)).toEqual(['ESTABLISHED', 'CLOSING']);
    expect(d.commit(tcp('A', 1001, 5002))).toBe('est|trk');
    expect(peers(d)).toEqual(['ESTABLISHED', 'FIN_WAIT_2']);
    expect(d.commit(tcp('FA', 1001, 5002))).toBe('est|trk');
    expect(d.ct_(tcp('A', 5002, 1002, { rev: true }))).toBe('est|rpl|trk');
    expect(peers(d)).toEqual(['FIN_WAIT_2', 'FIN_WAIT_2']);
    expect(d.only().expiration - d.now).toBe(30_000);
  });

  it('TIME_WAIT reuse: an uncommitted SYN destroys the old entry and creates nothing', () => {
    const d = handshake();
    d.commit(tcp('FA', 1001, 5001));
    d.ct_(tcp('FA', 5001, 1002, { rev: true }));
    d.commit(tcp('A', 1002, 5002));
    expect(d.ct_(tcp('S', 123, 0))).toBe('new|trk');
    expect(d.conns()).toHaveLength(0);
    // mark/label/tuple of the new uncommitted packet are its own
    expect(d.md.origSport).toBe(40000);
  });

  it('a reopening SYN holds the old entry\'s zone-limit count until the clock moves (OVS sweeper)', () => {
    const d = handshake();
    d.ct.setZoneLimit(0, 2);
    d.commit(tcp('FA', 1001, 5001));
    d.ct_(tcp('FA', 5001, 1002, { rev: true }));
    d.commit(tcp('A', 1002, 5002));
    expect(d.ct.getZoneLimit(0)!.count).toBe(0); // limit created after the entry: not counted
    // Count a second connection, then reopen it: the restarted entry's count stays held.
    expect(d.commit(tcp('S', 7000, 0, { sport: 41000 }))).toBe('new|trk');
    d.ct_(tcp('SA', 8000, 7001, { sport: 41000, rev: true }));
    d.commit(tcp('R', 7001, 0, { sport: 41000 }));
    expect(d.commit(tcp('S', 9000, 0, { sport: 41000 }))).toBe('new|trk');
    expect(d.ct.getZoneLimit(0)!.count).toBe(2); // the reopened entry + the held old one
    expect(d.commit(tcp('S', 100, 0, { sport: 42000 }))).toBe('new|trk');
    expect(d.conns().filter((c) => c.orig.sport === 42000)).toHaveLength(0); // refused: limit reached
    d.now += 1;
    expect(d.commit(tcp('S', 100, 0, { sport: 42000 }))).toBe('new|trk');
    expect(d.conns().filter((c) => c.orig.sport === 42000)).toHaveLength(1); // released by the sweep
    expect(d.ct.getZoneLimit(0)!.count).toBe(2);
  });

  it('SYN while not closed: sender in SYN_SENT → new; established → window test', () => {
    const d = handshake();
    expect(d.commit(tcp('S', 1000, 0))).toBe('est|trk'); // retransmitted SYN, original ISN
    expect(d.commit(tcp('S', 424242, 0))).toBe('inv|trk'); // different ISN
  });
});

describe('TCP simultaneous open and SYN-ACK', () => {
  it('simultaneous open: responder SYN is valid-new without rpl', () => {
    const d = new Driver();
    expect(d.commit(tcp('S', 1000, 0))).toBe('new|trk');
    expect(d.ct_(tcp('S', 5000, 0, { rev: true }))).toBe('new|trk');
    expect(peers(d)).toEqual(['SYN_SENT', 'SYN_SENT']);
    expect(d.commit(tcp('SA', 1000, 5001))).toBe('est|trk');
    expect(d.ct_(tcp('SA', 5000, 1001, { rev: true }))).toBe('est|rpl|trk');
    expect(peers(d)).toEqual(['ESTABLISHED', 'ESTABLISHED']);
  });

  it('simultaneous open: the responder SYN sets no sequence state, so its own SYN-ACK first is inv (source)', () => {
    // tcp_conn_update step 1 moves the responder to SYN_SENT without recording seqlo/seqhi;
    // its SYN-ACK then fails both window tests until the originator's ACK slides its window.
    const d = new Driver();
    d.commit(tcp('S', 1000, 0));
    d.ct_(tcp('S', 5000, 0, { rev: true }));
    expect(d.ct_(tcp('SA', 5000, 1001, { rev: true }))).toBe('inv|trk');
  });

  it('SYN-ACK cannot create a connection', () => {
    const d = new Driver();
    expect(d.commit(tcp('SA', 5000, 1001))).toBe('inv|trk');
    expect(d.conns()).toHaveLength(0);
    expect(d.md.mark).toBe(0);
  });

  it('originator non-SYN packets before the reply are est (§2.5)', () => {
    const d = new Driver();
    d.commit(tcp('S', 1000, 0));
    expect(d.commit(tcp('A', 1001, 0))).toBe('est|trk');
  });
});

describe('TCP mid-stream pickup §4.5', () => {
  it('ACK creates with BE_LIBERAL peers; states still advance', () => {
    const d = new Driver();
    expect(d.commit(tcp('A', 1_000_000, 2_000_000))).toBe('new|trk');
    let c = d.only();
    expect(c.tcp!.flagsOrig).toEqual(['BE_LIBERAL']);
    expect(c.tcp!.flagsReply).toEqual(['BE_LIBERAL']);
    expect(d.commit(tcp('PA', 1_000_000, 2_000_000, { payload: 'abc' }))).toBe('est|trk');
    expect(d.ct_(tcp('A', 2_000_000, 1_000_003, { rev: true }))).toBe('est|rpl|trk');
    c = d.only();
    expect(c.tcp!.stateOrig).toBe('ESTABLISHED');
    // liberal: far-away data still accepted
    expect(d.ct_(tcp('PA', 2_000_000 + 500_000, 1_000_003, { rev: true, payload: 'q' }))).toBe('est|rpl|trk');
  });

  it('FIN+ACK, RST and RST+ACK may create; data creates', () => {
    for (const f of ['FA', 'R', 'RA', 'PA']) {
      const d = new Driver();
      expect(d.commit(tcp(f, 7, 9, { payload: f === 'PA' ? 'data' : undefined }))).toBe('new|trk');
      expect(d.conns()).toHaveLength(1);
    }
  });
});

describe('TCP flag validity §4.2', () => {
  const valid = ['S', 'SEC', 'SA', 'A', 'PA', 'FA', 'R', 'RA', 'UA', 'FPA'];
  const invalid = ['SF', 'SR', '', 'F', 'SP', 'U', 'RP', 'P', 'SU', 'E'];
  it.each(valid)('%s is a valid combination', (f) => {
    expect(tcpInvalidFlags(flagsOf(f))).toBe(false);
  });
  it.each(invalid)('%s is invalid: inv|trk as new and on an entry', (f) => {
    expect(tcpInvalidFlags(flagsOf(f))).toBe(true);
    const d = new Driver();
    expect(d.commit(tcp(f, 1, 0))).toBe('inv|trk');
    expect(d.conns()).toHaveLength(0);
    const e = handshake();
    expect(e.commit(tcp(f, 1001, 5001))).toBe('inv|trk');
  });
});

describe('tcpSeqCheck off (dpctl/ct-disable-tcp-seq-chk §4.9)', () => {
  it('out-of-window ACK and arbitrary RST become est and the RST closes', () => {
    const d = handshake();
    d.ct.tcpSeqCheck = false;
    expect(d.commit(tcp('A', 99, 5001 + 1_000_000))).toBe('est|trk');
    expect(d.commit(tcp('R', 31337, 0))).toBe('est|trk');
    expect(peers(d)).toEqual(['TIME_WAIT', 'TIME_WAIT']);
    // flag validity and the SYN-ACK rule stay
    expect(d.commit(tcp('SF', 1, 0))).toBe('inv|trk');
    const e = new Driver({ tcpSeqCheck: false });
    expect(e.commit(tcp('SA', 1, 0))).toBe('inv|trk');
  });
});

describe('tcp_get_wscale', () => {
  it('reads the option, caps at 14, returns 0 without it', () => {
    const v = new PacketView();
    const f = (o: object) => tcpGetWscale(v.parse(buildFrame({ ip: { src: '1.1.1.1', dst: '2.2.2.2' }, tcp: { sport: 1, dport: 2, flags: 'S', options: o } })));
    expect(f({ wscale: 7 })).toBe(0x87);
    expect(f({ wscale: 20 })).toBe(0x8e);
    expect(f({ mss: 1460 })).toBe(0);
  });
});

function flagsOf(s: string): number {
  const m: Record<string, number> = { F: 1, S: 2, R: 4, P: 8, A: 16, U: 32, E: 64, C: 128 };
  let v = 0;
  for (const ch of s) v |= m[ch]!;
  return v;
}
