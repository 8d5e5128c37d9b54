import { describe, expect, it } from 'vitest';
import { Conntrack } from '../../model/conntrack/conntrack.js';
import { CtArgs, CtMeta, type ConnInfo } from '../../model/conntrack/types.js';
import { buildFrame, type FrameSpec } from '../../model/packet/build.js';
import { PacketView } from '../../model/packet/view.js';
import { resolveConfig } from '../../offload/config.js';
import { compilePlan, type Plan } from '../../offload/compile.js';
import { connectionEntries, ctKey, flowMatch, notOffloadableReason, staticEntries } from '../../offload/entries.js';
import { ALLOW_OUTBOUND, IP, cs, ct, m, out, policy } from './ir-helpers.js';

const plan = (cfg: Record<string, unknown> = {}, p = ALLOW_OUTBOUND): Plan => compilePlan(p, resolveConfig(cfg));

/** Run frames through the reference tracker (zone 1; the first one committed). */
function track(frames: FrameSpec[], zone = 1): ConnInfo {
  const tr = new Conntrack();
  const view = new PacketView();
  const md = new CtMeta();
  const args = new CtArgs();
  args.zone = zone;
  frames.forEach((f, i) => {
    md.clear();
    args.commit = i === 0;
    tr.execute(view.parse(buildFrame(f)), args, i * 10, md);
  });
  const c = tr.lookupFrame(buildFrame(frames[0]!), zone, frames.length * 10);
  if (!c) throw new Error('no connection');
  return c;
}

const A4 = '10.0.0.1';
const B4 = '192.168.1.2';
const A6 = 'fd00::1';
const B6 = '2001:db8::2';
function tcpHandshake(a: string, b: string): FrameSpec[] {
  return [
    { ip: { src: a, dst: b }, tcp: { sport: 40000, dport: 80, seq: 1000, flags: 'S', win: 65535 } },
    { ip: { src: b, dst: a }, tcp: { sport: 80, dport: 40000, seq: 5000, ack: 1001, flags: 'SA', win: 65535 } },
    { ip: { src: a, dst: b }, tcp: { sport: 40000, dport: 80, seq: 1001, ack: 5001, flags: 'A', win: 65535 } },
  ];
}

describe('staticEntries', () => {
  it('one entry per flow and stage table, ternary values masked, priority = OVS + 1', () => {
    const es = staticEntries(plan());
    expect(es).toHaveLength(7);
    const e = es.find((x) => x.comment.startsWith('policy.flows:4:'))!;
    expect(e.table).toBe('CtIngress.stage1_table1');
    expect(e.spec).toEqual({
      match: { in_port: { value: 1n, mask: 0x1ffn }, ct_state: { value: 0x21n, mask: 0x21n } },
      action: 'CtIngress.flow_ct_commit_output',
      params: { zone: 1n, port: 2n },
      priority: 101,
    });
    // the catch-all drop matches nothing: every field omitted (don't care)
    expect(es.find((x) => x.comment.startsWith('policy.flows:3:'))!.spec.match).toEqual({});
  });

  it('drops flows that can never match in hardware and merges prerequisites', () => {
    const p = policy([
      [0, 5, [m('in_port', 700, 0xffffffff)], [out(1)]], // OVS ports are wider than bmv2's 9 bits
      [0, 5, [m('ct_state', 0x100, 0x100)], [out(1)]],
      [0, 5, [m('dl_type', 0x0800), m('dl_type', 0x86dd)], [out(1)]],
      [0, 5, [m('ct_state', 0x20, 0xffffffff), m('dl_type', 0x0800), m('dl_type', 0x0800, 0xff00)], [out(1)]],
    ]);
    const pl = compilePlan(p, resolveConfig());
    expect(pl.stageTables[0]!.flows.map((f) => flowMatch(f) !== null)).toEqual([false, false, false, true]);
    expect(flowMatch(pl.stageTables[0]!.flows[3]!)).toEqual({ ct_state: { value: 0x20n, mask: 0xffn }, dl_type: { value: 0x0800n, mask: 0xffffn } });
    expect(staticEntries(pl)).toHaveLength(1);
  });
});

describe('connectionEntries', () => {
  it('established TCP/IPv4: one entry per direction, reply carries rpl', () => {
    const conn = track(tcpHandshake(A4, B4));
    expect(conn.tcp).toMatchObject({ stateOrig: 'ESTABLISHED', stateReply: 'ESTABLISHED' });
    const es = connectionEntries(conn, plan());
    expect(es).toHaveLength(2);
    const [o, r] = es;
    expect(o!.table).toBe('CtIngress.conntrack_s0');
    expect(o!.spec.match).toEqual({ zone: 1n, l3: 0x0800n, proto: 6n, src: 0x0a000001n, dst: 0xc0a80102n, sport: 40000n, dport: 80n });
    expect(r!.spec.match).toEqual({ zone: 1n, l3: 0x0800n, proto: 6n, src: 0xc0a80102n, dst: 0x0a000001n, sport: 80n, dport: 40000n });
    expect(o!.spec.params).toEqual({ state: 0x22n, mark: 0n, label: 0n }); // est|trk
    expect(r!.spec.params).toEqual({ state: 0x2an, mark: 0n, label: 0n }); // est|rpl|trk
    expect(o!.spec.idleTimeoutNs).toBe(86_400_000_000_000n);
    expect(o!.spec.action).toBe('CtIngress.ct_hit');
  });

  it('TCP before the final ACK is not offloaded', () => {
    const conn = track(tcpHandshake(A4, B4).slice(0, 2));
    expect(notOffloadableReason(conn, plan())).toMatch(/not established/);
    expect(connectionEntries(conn, plan())).toEqual([]);
  });

  it('established TCP/IPv6: 128-bit addresses', () => {
    const conn = track(tcpHandshake(A6, B6));
    const [o, r] = connectionEntries(conn, plan());
    expect(o!.spec.match).toMatchObject({ l3: 0x86ddn, src: 0xfd000000000000000000000000000001n, dst: 0x20010db8000000000000000000000002n });
    expect(r!.spec.match).toMatchObject({ src: 0x20010db8000000000000000000000002n, sport: 80n, dport: 40000n });
  });

  it('UDP: only after a reply (established-tcp-udp); orig-only new entry with all-committed', () => {
    const req: FrameSpec = { ip: { src: A4, dst: B4 }, udp: { sport: 5353, dport: 53 } };
    const rsp: FrameSpec = { ip: { src: B4, dst: A4 }, udp: { sport: 53, dport: 5353 } };
    const one = track([req]);
    expect(connectionEntries(one, plan())).toEqual([]);
    const allc = connectionEntries(one, plan({ offload: 'all-committed' }));
    expect(allc).toHaveLength(1);
    expect(allc[0]!.spec.params!.state).toBe(0x21n); // new|trk
    expect(allc[0]!.spec.idleTimeoutNs).toBe(60_000_000_000n);
    const both = connectionEntries(track([req, rsp]), plan());
    expect(both.map((e) => e.spec.params!.state)).toEqual([0x22n, 0x2an]);
    expect(both[1]!.spec.match).toMatchObject({ proto: 17n, sport: 53n, dport: 5353n });
    expect(both[0]!.spec.idleTimeoutNs).toBe(30_000_000_000n);
  });

  it('ICMP echo (v4 and v6): sport = id, dport = type<<8|code per direction; only with all-committed', () => {
    const v4 = track([
      { ip: { src: A4, dst: B4 }, icmp: { type: 8, id: 77, seq: 1 } },
      { ip: { src: B4, dst: A4 }, icmp: { type: 0, id: 77, seq: 1 } },
    ]);
    expect(connectionEntries(v4, plan())).toEqual([]);
    const e4 = connectionEntries(v4, plan({ offload: 'all-committed' }));
    expect(e4.map((e) => [e.spec.match!.sport, e.spec.match!.dport, e.spec.match!.proto])).toEqual([
      [77n, 0x0800n, 1n],
      [77n, 0x0000n, 1n],
    ]);
    const v6 = track([
      { ip: { src: A6, dst: B6 }, icmp: { type: 128, id: 9 } },
      { ip: { src: B6, dst: A6 }, icmp: { type: 129, id: 9 } },
    ]);
    const e6 = connectionEntries(v6, plan({ offload: 'all-committed' }));
    expect(e6.map((e) => [e.spec.match!.dport, e.spec.match!.proto, e.spec.params!.state])).toEqual([
      [128n << 8n, 58n, 0x22n],
      [129n << 8n, 58n, 0x2an],
    ]);
  });

  it('mark and label go to the action data; other zones and helper connections are not offloaded', () => {
    const conn = { ...track(tcpHandshake(A4, B4)), mark: 0xdeadbeef, label: (1n << 127n) | 5n };
    expect(connectionEntries(conn, plan())[1]!.spec.params).toEqual({ state: 0x2an, mark: 0xdeadbeefn, label: (1n << 127n) | 5n });
    expect(connectionEntries({ ...conn, zone: 2 }, plan())).toEqual([]);
    expect(connectionEntries({ ...conn, helper: 'ftp' }, plan())).toEqual([]);
    expect(connectionEntries({ ...conn, related: true }, plan())[0]!.spec.params!.state).toBe(0x26n); // est|rel|trk
  });

  it('a zone looked up at two stages gets entries in both tables', () => {
    const p = policy([
      [0, 10, [m('in_port', 1), ...IP], [ct(1, { table: 1 })]],
      [0, 5, IP, [{ kind: 'goto', table: 1, resubmit: false }]],
      [1, 10, [cs('+trk+est')], [ct(1, { commit: true }), out(3)]],
    ]);
    const es = connectionEntries(track(tcpHandshake(A4, B4)), compilePlan(p, resolveConfig()));
    expect(es.map((e) => e.table)).toEqual(['CtIngress.conntrack_s0', 'CtIngress.conntrack_s0', 'CtIngress.conntrack_s1', 'CtIngress.conntrack_s1']);
  });

  it('ctKey rejects an address of the wrong family', () => {
    const conn = track(tcpHandshake(A4, B4));
    expect(() => ctKey(conn, { ...conn.orig, src: 'fd00::1' })).toThrow(expect.objectContaining({ code: 'CTO_OFFLOAD_ENTRY' }));
  });
});
