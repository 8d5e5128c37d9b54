/**
 * FTP and TFTP ALGs: expectations and related data connections (docs/conntrack-semantics.md §8).
 */
import { describe, expect, it } from 'vitest';
import { ALG_FTP, ALG_TFTP } from '../../../model/conntrack/index.js';
import { ftpInteresting, inetPton4 } from '../../../model/conntrack/alg.js';
import { A, A6, B, B6, Driver, tcp, udp, type CallOpts } from './helpers.js';

/** FTP control connection A:40000 → B:21 committed with alg=ftp (and a mark/label). */
function ftpControl(o: { v6?: boolean; alg?: boolean; dport?: number } = {}): Driver {
  const d = new Driver();
  const call: CallOpts = o.alg === false ? {} : { alg: ALG_FTP };
  const dport = o.dport ?? 21;
  d.commit(tcp('S', 1000, 0, { dport, v6: o.v6 }), { ...call, mark: [0x42, 0xff], label: [0x77n, 0xffn] });
  d.ct_(tcp('SA', 5000, 1001, { dport, rev: true, v6: o.v6 }));
  d.commit(tcp('A', 1001, 5001, { dport, v6: o.v6 }), call);
  return d;
}

function clientSays(d: Driver, msg: string, o: { v6?: boolean; dport?: number; seq?: number } = {}): string {
  return d.commit(tcp('PA', o.seq ?? 1001, 5001, { payload: msg, v6: o.v6, dport: o.dport ?? 21 }), { alg: ALG_FTP });
}

describe('FTP over IPv4', () => {
  it('PORT creates an expectation; the data connection is new|rel, then est|rel, with parent mark/label/tuple', () => {
    const d = ftpControl();
    expect(clientSays(d, 'PORT 10,0,0,1,19,136\r\n')).toBe('est|trk');
    expect(d.ct.expectations.size).toBe(1);
    // server → client:5000 from port 20
    const data = tcp('S', 9000, 0, { rev: true, sport: 5000, dport: 20 });
    expect(d.ct_(data)).toBe('new|rel|trk');
    expect(d.md.mark).toBe(0x42);
    expect(d.md.labelBigInt()).toBe(0x77n);
    expect([d.md.origSport, d.md.origDport]).toEqual([40000, 21]); // the parent's tuple
    expect(d.commit(data, { mark: [0x99, 0xff] })).toBe('new|rel|trk');
    expect(d.md.mark).toBe(0x42); // exec ignored on ALG data connections
    const conn = d.conns().find((c) => c.related)!;
    expect(conn.parentId).toBe(d.conns().find((c) => c.helper === 'ftp')!.id);
    expect(conn.parent?.dport).toBe(21);
    expect(d.ct_(tcp('SA', 7000, 9001, { sport: 5000, dport: 20 }))).toBe('est|rel|rpl|trk');
    expect(d.md.mark).toBe(0x42);
  });

  it('the expectation is reusable and not consumed', () => {
    const d = ftpControl();
    clientSays(d, 'PORT 10,0,0,1,19,136\r\n');
    d.commit(tcp('S', 9000, 0, { rev: true, sport: 5000, dport: 20 }));
    expect(d.commit(tcp('S', 9500, 0, { rev: true, sport: 5000, dport: 2020 }))).toBe('new|rel|trk');
    expect(d.conns().filter((c) => c.related)).toHaveLength(2);
    // a non-expected port is plain new
    expect(d.ct_(tcp('S', 1, 0, { rev: true, sport: 5001, dport: 20 }))).toBe('new|trk');
  });

  it('227 from the server expects the client → server:port', () => {
    const d = ftpControl();
    expect(d.ct_(tcp('PA', 5001, 1001, { rev: true, dport: 21, payload: '227 Entering Passive Mode (10,0,0,2,19,137).\r\n' }))).toBe('est|rpl|trk');
    expect(d.ct_(tcp('S', 1, 0, { sport: 33333, dport: 5001 }))).toBe('new|rel|trk');
  });

  it('PORT with a foreign address: est|inv|trk and no expectation', () => {
    const d = ftpControl();
    expect(clientSays(d, 'PORT 10,0,0,9,19,136\r\n')).toBe('est|inv|trk');
    expect(d.ct.expectations.size).toBe(0);
    expect(d.ct_(tcp('S', 9000, 0, { rev: true, sport: 5000, dport: 20 }))).toBe('new|trk');
  });

  it('malformed PORT messages are inv, uninteresting ones pass', () => {
    for (const bad of ['PORT 10,0,0,1,256,1\r\n', 'PORT 10,0,0,1\r\n', 'PORT x\r\n', 'PORT 10,0,0,01,1,1\r\n']) {
      const d = ftpControl();
      expect(clientSays(d, bad)).toBe('est|inv|trk');
    }
    const d = ftpControl();
    expect(clientSays(d, 'USER anonymous\r\n')).toBe('est|trk');
    expect(clientSays(d, 'EPRT |1|10.0.0.1|5000|\r\n', { seq: 1018 })).toBe('est|trk'); // EPRT over IPv4 ignored in 3.1
    expect(d.ct.expectations.size).toBe(0);
  });

  it('without alg=ftp port 21 gets no ALG processing', () => {
    const d = ftpControl({ alg: false });
    expect(d.commit(tcp('PA', 1001, 5001, { dport: 21, payload: 'PORT 10,0,0,1,19,136\r\n' }))).toBe('est|trk');
    expect(d.ct_(tcp('S', 9000, 0, { rev: true, sport: 5000, dport: 20 }))).toBe('new|trk');
  });

  it('alg=ftp on a non-standard port works (the flow port becomes the control port)', () => {
    const d = ftpControl({ dport: 2121 });
    expect(clientSays(d, 'PORT 10,0,0,1,19,136\r\n', { dport: 2121 })).toBe('est|trk');
    expect(d.ct_(tcp('S', 9000, 0, { rev: true, sport: 5000, dport: 20 }))).toBe('new|rel|trk');
  });

  it('expectations go with the parent (flush, expiry)', () => {
    const d = ftpControl();
    clientSays(d, 'PORT 10,0,0,1,19,136\r\n');
    d.ct.flush();
    expect(d.ct.expectations.size).toBe(0);
    const e = ftpControl();
    clientSays(e, 'PORT 10,0,0,1,19,136\r\n');
    e.now = 86_400_000; // established timer ran out
    expect(e.ct_(tcp('S', 9000, 0, { rev: true, sport: 5000, dport: 20 }))).toBe('new|trk');
  });
});

describe('FTP control details', () => {
  it('the expectation keeps the parent mark/label of its creation time', () => {
    const d = ftpControl();
    clientSays(d, 'PORT 10,0,0,1,19,136\r\n');
    d.commit(tcp('A', 1023, 5001, { dport: 21 }), { alg: ALG_FTP, mark: [0x55, 0xff] });
    expect(d.md.mark).toBe(0x55);
    expect(d.ct_(tcp('S', 9000, 0, { rev: true, sport: 5000, dport: 20 }))).toBe('new|rel|trk');
    expect(d.md.mark).toBe(0x42);
  });

  it('the helper is recorded only at creation: a later alg=ftp cannot add it', () => {
    const d = ftpControl({ alg: false });
    expect(clientSays(d, 'PORT 10,0,0,1,19,136\r\n')).toBe('est|trk');
    expect(d.ct.expectations.size).toBe(0);
    expect(d.conns()[0]!.helper).toBe(null);
  });

  it('control packets are inspected by uncommitted calls and bypass the same-zone shortcut', () => {
    const d = ftpControl();
    const f = tcp('PA', 1001, 5001, { dport: 21, payload: 'PORT 10,0,0,1,19,136\r\n' });
    expect(d.ct_(f)).toBe('est|trk'); // lookup call, no commit
    expect(d.ct.expectations.size).toBe(1);
    // ct(table) then ct(commit) on a control packet: the second call runs the tracker again
    const g = tcp('PA', 1024, 5001, { dport: 21, payload: 'PORT 10,0,0,1,19,137\r\n' });
    expect(d.ct_(g, { alg: ALG_FTP })).toBe('est|trk');
    expect(d.commit(g, { alg: ALG_FTP, keepMd: true })).toBe('est|trk');
    expect(d.ct.expectations.size).toBe(2);
  });

  it('a malformed message on an uncommitted call is also inv-marked', () => {
    const d = ftpControl();
    expect(d.ct_(tcp('PA', 1001, 5001, { dport: 21, payload: 'PORT 999\r\n' }))).toBe('est|inv|trk');
  });
});

describe('FTP over IPv6', () => {
  it('EPRT from the client and 229 from the server', () => {
    const d = ftpControl({ v6: true });
    expect(clientSays(d, `EPRT |2|${A6}|5282|\r\n`, { v6: true })).toBe('est|trk');
    expect(d.ct_(tcp('S', 1, 0, { v6: true, rev: true, sport: 5282, dport: 20 }))).toBe('new|rel|trk');
    expect(d.ct_(tcp('PA', 5001, 1001 + 24, { v6: true, rev: true, dport: 21, payload: '229 Entering Extended Passive Mode (|||6446|)\r\n' }))).toBe('est|rpl|trk');
    expect(d.ct_(tcp('S', 1, 0, { v6: true, sport: 40001, dport: 6446 }))).toBe('new|rel|trk');
    expect(d.md.origL3).toBe(6);
  });

  it('EPRT with a foreign address is inv; PORT over IPv6 is ignored', () => {
    const d = ftpControl({ v6: true });
    expect(clientSays(d, `EPRT |2|${B6}|5282|\r\n`, { v6: true })).toBe('est|inv|trk');
    const e = ftpControl({ v6: true });
    expect(clientSays(e, 'PORT 10,0,0,1,19,136\r\n', { v6: true })).toBe('est|trk');
    expect(e.ct.expectations.size).toBe(0);
  });
});

describe('TFTP', () => {
  it('a request to port 69 with alg=tftp expects the server → client port', () => {
    const d = new Driver();
    expect(d.commit(udp({ sport: 3000, dport: 69 }), { alg: ALG_TFTP, mark: [5, 0xff] })).toBe('new|trk');
    expect(d.only().helper).toBe('tftp');
    const data = udp({ src: B, dst: A, sport: 4444, dport: 3000 });
    expect(d.ct_(data)).toBe('new|rel|trk');
    expect(d.md.mark).toBe(5);
    d.commit(data);
    expect(d.ct_(udp({ src: A, dst: B, sport: 3000, dport: 4444 }))).toBe('est|rel|rpl|trk');
  });

  it('without alg=tftp nothing is expected', () => {
    const d = new Driver();
    d.commit(udp({ sport: 3000, dport: 69 }));
    expect(d.ct_(udp({ src: B, dst: A, sport: 4444, dport: 3000 }))).toBe('new|trk');
  });
});

describe('parsing helpers', () => {
  it('inet_pton4 rules', () => {
    expect(inetPton4('10.0.0.1')).toBe(0x0a000001);
    expect(inetPton4('10.0.0.01')).toBe(-1);
    expect(inetPton4('10.0.0')).toBe(-1);
    expect(inetPton4('256.0.0.1')).toBe(-1);
  });
  it('interesting messages per family, case-insensitive', () => {
    expect(ftpInteresting('port 1,2', false)).toBe(true);
    expect(ftpInteresting('227 x', false)).toBe(true);
    expect(ftpInteresting('EPRT |1|', false)).toBe(false);
    expect(ftpInteresting('229 Entering extended passive mode', true)).toBe(true);
    expect(ftpInteresting('PORT 1', true)).toBe(false);
    expect(A).toBe('10.0.0.1');
  });
});
