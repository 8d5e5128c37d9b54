/**
 * Fragments through the policy pipeline (model/pipeline/exec.ts with model/conntrack/ipf.ts):
 * held fragments stop the pass, the completing fragment releases all of them through the rest
 * of the action list, expired fragments surface in a later packet's ct() call, and the `ipf`
 * directive turns reassembly off per family (docs/conntrack-semantics.md §1.2, §2.3 step 1, §3.4).
 * The same traces run against OVS in test/harness/targets/ovs-frag.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Conntrack, IPF_EXPIRED_CT_STATE } from '../../../model/conntrack/index.js';
import { CS_ESTABLISHED, CS_INVALID, CS_NEW, CS_REPLY_DIR, CS_TRACKED } from '../../../model/ctstate.js';
import { Pipeline, PipelineEngine, formatPolicy, parsePolicy } from '../../../model/pipeline/index.js';
import type { Verdict } from '../../../model/verdict.js';
import { A4, FIREWALL, fragTraces, frags, udpFrame, type FragTrace } from './frag-traces.js';

const NEW = CS_NEW | CS_TRACKED;
const EST = CS_ESTABLISHED | CS_TRACKED;
const EST_RPL = CS_ESTABLISHED | CS_REPLY_DIR | CS_TRACKED;
const INV_TRK = CS_INVALID | CS_TRACKED;

function run(t: FragTrace): { verdicts: Verdict[]; engine: PipelineEngine } {
  const engine = new PipelineEngine();
  engine.load({ text: t.policy, source: `${t.name}.flows` });
  return { verdicts: t.steps.map((s) => engine.process(s.port, s.frame, s.time)), engine };
}

const trace = (name: string): FragTrace => {
  const t = fragTraces().find((x) => x.name.startsWith(name));
  if (!t) throw new Error(`no trace ${name}`);
  return t;
};

/** [port, frame] of every output. */
const outs = (v: Verdict): [number, Uint8Array][] => v.outputs.map((o) => [o.port, o.bytes]);
const looks = (v: Verdict): [number, number, number][] => v.lookups.map((l) => [l.table, l.state, l.zone]);

describe('pipeline + ipf: reassembly through a firewall policy', () => {
  it('IPv4 UDP in order: the first fragment is held, both leave after the last with new|trk, the datagram is committed once and not forwarded', () => {
    const t = trace('IPv4 UDP in order');
    const { verdicts: [v0, v1, v2, v3], engine } = run(t);
    const [f0, f1] = [t.steps[0]!.frame, t.steps[1]!.frame];
    expect(v0).toEqual({ outputs: [], lookups: [] });
    // Both fragments recirculate with the datagram's result, meet ct(commit) in table 1 (held
    // and reassembled again under that pass's recirc_id) and come out in offset order.
    expect(looks(v1!)).toEqual([[1, NEW, 5], [1, NEW, 5]]);
    expect(outs(v1!)).toEqual([[2, f0], [2, f1]]);
    expect(v1!.outputs.every((o) => o.ct!.state === 0)).toBe(true);
    const conns = [...engine.conntrack!.connections()];
    expect(conns).toHaveLength(1);
    expect(conns[0]!.orig).toMatchObject({ src: A4.src, dst: A4.dst, sport: 1111, dport: 2222 });
    expect(engine.conntrack!.ipf.status().nfrag).toBe(0);
    // The connection the datagram created is the one unfragmented packets find.
    expect(looks(v2!)).toEqual([[1, EST_RPL, 5]]);
    expect(outs(v2!).map((o) => o[0])).toEqual([1]);
    expect(looks(v3!)).toEqual([[1, EST, 5]]);
  });

  it('IPv4 TCP SYN in 3 fragments sent last-first: held until the first arrives, released in offset order', () => {
    const t = trace('IPv4 TCP SYN');
    const { verdicts, engine } = run(t);
    expect(verdicts[0]).toEqual({ outputs: [], lookups: [] });
    expect(verdicts[1]).toEqual({ outputs: [], lookups: [] });
    const fs = [t.steps[2]!.frame, t.steps[1]!.frame, t.steps[0]!.frame]; // offsets 0, 1280, 2560
    expect(looks(verdicts[2]!)).toEqual([[1, NEW, 5], [1, NEW, 5], [1, NEW, 5]]);
    expect(outs(verdicts[2]!)).toEqual(fs.map((f) => [2, f]));
    const [c] = [...engine.conntrack!.connections()];
    expect(c).toMatchObject({ proto: 6, protoState: 'SYN_SENT' });
  });

  it('IPv6 UDP out of order and IPv6 TCP in 3 fragments: same as IPv4', () => {
    const u = trace('IPv6 UDP out of order');
    const { verdicts: vu } = run(u);
    expect(vu[0]).toEqual({ outputs: [], lookups: [] });
    expect(looks(vu[1]!)).toEqual([[1, NEW, 5], [1, NEW, 5]]);
    expect(outs(vu[1]!)).toEqual([[2, u.steps[1]!.frame], [2, u.steps[0]!.frame]]);
    expect(looks(vu[2]!)).toEqual([[1, EST_RPL, 5]]);

    const t = trace('IPv6 TCP SYN');
    const { verdicts: vt } = run(t);
    expect(vt.slice(0, 2)).toEqual([{ outputs: [], lookups: [] }, { outputs: [], lookups: [] }]);
    expect(looks(vt[2]!)).toEqual([[1, NEW, 5], [1, NEW, 5], [1, NEW, 5]]);
    // sent middle(1), last(2), first(0): released by offset
    expect(outs(vt[2]!)).toEqual([t.steps[2]!.frame, t.steps[0]!.frame, t.steps[1]!.frame].map((f) => [2, f]));
  });

  it('a too-small non-final fragment is inv|trk at once and passed on (IPv4 < 1200, IPv6 < 1280 bytes)', () => {
    const t = trace('too-small');
    const { verdicts, engine } = run(t);
    for (const [i, v] of verdicts.entries()) {
      expect(looks(v)).toEqual([[1, INV_TRK, 5]]);
      expect(outs(v)).toEqual([[3, t.steps[i]!.frame]]);
    }
    const s = engine.conntrack!.ipf.status();
    expect([s.v4.tooSmall, s.v6.tooSmall, s.nfrag]).toEqual([1, 1, 0]);
  });

  it('an incomplete list expires after 15 s: its fragment leaves with the next packet that runs ct() (strictly after 15 000 ms)', () => {
    const t = trace('IPv4 first fragment expires');
    const { verdicts: [v0, v1, v2, v3] } = run(t);
    expect(v0).toEqual({ outputs: [], lookups: [] });
    // At exactly 15 000 ms the list has not expired (lib/ipf.c: now > expiration).
    expect(looks(v1!)).toEqual([[1, NEW, 5]]);
    expect(outs(v1!)).toEqual([[2, t.steps[1]!.frame]]);
    // At 15 001 ms the packet's own ct() call releases it: the packet recirculates first, then
    // the fragment with ct_state inv and the ct fields it had when it was held (zone 0).
    expect(looks(v2!)).toEqual([[1, NEW, 5], [1, IPF_EXPIRED_CT_STATE, 0]]);
    expect(outs(v2!)).toEqual([[2, t.steps[2]!.frame], [3, t.steps[0]!.frame]]);
    expect(looks(v3!)).toEqual([[1, NEW, 5]]);
    expect(outs(v3!)).toEqual([[2, t.steps[3]!.frame]]);
  });

  it('an expired IPv6 fragment is released into an unrelated IPv4 packet', () => {
    const t = trace('IPv6 first fragment expires');
    const { verdicts: [v0, v1] } = run(t);
    expect(v0).toEqual({ outputs: [], lookups: [] });
    expect(looks(v1!)).toEqual([[1, NEW, 5], [1, IPF_EXPIRED_CT_STATE, 0]]);
    expect(outs(v1!)).toEqual([[2, t.steps[1]!.frame], [3, t.steps[0]!.frame]]);
  });

  it('released fragments: the first shows ct_tp_src/dst, a later one only the L3 tuple (ct_nw_proto)', () => {
    const t = trace('tuple visibility');
    const { verdicts: [v0, v1] } = run(t);
    expect(v0).toEqual({ outputs: [], lookups: [] });
    expect(outs(v1!)).toEqual([[2, t.steps[0]!.frame], [4, t.steps[1]!.frame]]);
  });

  it('a duplicate (overlapping) fragment is inv|trk and passed on; the list still completes with the others', () => {
    const t = trace('a duplicate fragment');
    const { verdicts, engine } = run(t);
    const [f0, , f2, f1] = t.steps.map((x) => x.frame);
    expect(verdicts[0]).toEqual({ outputs: [], lookups: [] });
    expect(looks(verdicts[1]!)).toEqual([[1, INV_TRK, 5]]);
    expect(outs(verdicts[1]!)).toEqual([[3, f0]]);
    expect(verdicts[2]).toEqual({ outputs: [], lookups: [] });
    expect(looks(verdicts[3]!)).toEqual([[1, NEW, 5], [1, NEW, 5], [1, NEW, 5]]);
    expect(outs(verdicts[3]!)).toEqual([[2, f0], [2, f1], [2, f2]]);
    expect(engine.conntrack!.ipf.status().v4.overlapped).toBe(1);
  });

  it('a fragmented ICMP echo request creates the entry its unfragmented reply finds', () => {
    const t = trace('fragmented ICMP echo');
    const { verdicts } = run(t);
    expect(verdicts[0]).toEqual({ outputs: [], lookups: [] });
    expect(outs(verdicts[1]!)).toEqual([[2, t.steps[1]!.frame], [2, t.steps[0]!.frame]]);
    expect(looks(verdicts[2]!)).toEqual([[1, EST_RPL, 5]]);
    expect(outs(verdicts[2]!)).toEqual([[1, t.steps[2]!.frame]]);
  });

  it('two zones in a row: the fragments are reassembled once per ct() call (zone 1, then zone 2 under the recirculation id)', () => {
    const t = trace('two zones');
    const { verdicts, engine } = run(t);
    expect(verdicts[0]).toEqual({ outputs: [], lookups: [] });
    expect(looks(verdicts[1]!)).toEqual([[1, NEW, 1], [1, NEW, 1], [2, NEW, 2], [2, NEW, 2]]);
    expect(outs(verdicts[1]!)).toEqual([[2, t.steps[1]!.frame], [2, t.steps[0]!.frame]]);
    expect([...engine.conntrack!.connections()].map((c) => c.zone)).toEqual([2]);
    expect(engine.conntrack!.ipf.status().v6.completed).toBe(4);
  });

  it('an expired fragment is released by the ct() call of a fragment that is itself held', () => {
    const t = trace('an expired fragment is released into the ct() call of a fragment');
    const { verdicts } = run(t);
    expect(verdicts[0]).toEqual({ outputs: [], lookups: [] });
    expect(looks(verdicts[1]!)).toEqual([[1, IPF_EXPIRED_CT_STATE, 0]]);
    expect(outs(verdicts[1]!)).toEqual([[3, t.steps[0]!.frame]]);
    expect(outs(verdicts[2]!)).toEqual([[2, t.steps[1]!.frame], [2, t.steps[2]!.frame]]);
  });

  it('ipf v4=off: every IPv4 fragment is inv|trk on arrival; IPv6 still reassembles', () => {
    const t = trace('reassembly disabled');
    const { verdicts, engine } = run(t);
    for (const i of [0, 1]) {
      expect(looks(verdicts[i]!)).toEqual([[1, INV_TRK, 5]]);
      expect(outs(verdicts[i]!)).toEqual([[3, t.steps[i]!.frame]]);
    }
    expect(verdicts[2]).toEqual({ outputs: [], lookups: [] });
    expect(outs(verdicts[3]!)).toEqual([[2, t.steps[2]!.frame], [2, t.steps[3]!.frame]]);
    const s = engine.conntrack!.ipf.status();
    expect([s.v4.enabled, s.v6.enabled, s.v4.accepted]).toEqual([false, true, 0]);
  });
});

describe('pipeline + ipf: details', () => {
  it('processTraced says "held fragment" and "released N fragments" and records the datagram', () => {
    const p = new Pipeline(parsePolicy(FIREWALL, 'fw.flows'), new Conntrack());
    const fs = frags(udpFrame(A4, 2000, 9), [1400]);
    const r0 = p.processTraced(fs[0]!, 1, 0);
    expect(r0.trace.join('\n')).toMatch(/held fragment/);
    expect(r0.ctCalls).toEqual([]);
    const r1 = p.processTraced(fs[1]!, 1, 1);
    const text = r1.trace.join('\n');
    expect(text).toMatch(/reassembled datagram of \d+ bytes/);
    expect(text).toMatch(/released 2 fragments \(from input packets #1, #2 \(this packet\)\)/);
    // table 0's ct() on the datagram, then table 1's ct(commit) on it (fragments held again).
    expect(r1.ctCalls.map((c) => [c.line, c.state])).toEqual([[2, NEW], [5, NEW]]);
    expect(r1.outputs.map((o) => o.port)).toEqual([2, 2]);
    // The untraced call gives the same verdict on a fresh pipeline.
    const q = new Pipeline(parsePolicy(FIREWALL, 'fw.flows'), new Conntrack());
    q.process(fs[0]!, 1, 0);
    const v = q.process(fs[1]!, 1, 1);
    expect(v).toEqual({ outputs: r1.outputs, lookups: r1.lookups });
  });

  it('outputs interleave per action over the batch: each action runs on every released fragment before the next', () => {
    const p = new Pipeline(parsePolicy('table=0,ip,actions=ct(commit),output:2,output:3', 'x.flows'), new Conntrack());
    const fs = frags(udpFrame(A4, 2000, 10), [1400]);
    expect(p.process(fs[0]!, 1, 0).outputs).toEqual([]);
    expect(p.process(fs[1]!, 1, 0).outputs.map((o) => [o.port, o.bytes])).toEqual([[2, fs[0]], [2, fs[1]], [3, fs[0]], [3, fs[1]]]);
    // Same port twice (the form the OVS differential can see through one port's pcap).
    const t = trace('released fragments interleave');
    const { verdicts } = run(t);
    const [f0, f1] = [t.steps[0]!.frame, t.steps[1]!.frame];
    expect(outs(verdicts[1]!)).toEqual([[2, f0], [2, f1], [2, f0], [2, f1]]);
  });

  it("fragments of one datagram from two ports: pass 0 (recirc_id 0) reassembles them, table 1 runs both with the completing packet's in_port", () => {
    const t = trace('fragments of one datagram from two ports');
    const { verdicts } = run(t);
    expect(verdicts[0]).toEqual({ outputs: [], lookups: [] });
    // in_port=1 flows of table 1 apply to both; the fragment from port 3 also leaves on port 2.
    expect(looks(verdicts[1]!)).toEqual([[1, NEW, 5], [1, NEW, 5]]);
    expect(outs(verdicts[1]!)).toEqual([[2, t.steps[0]!.frame], [2, t.steps[1]!.frame]]);
  });

  it('recirc_id: one per (ct(table=…) action, in_port), stable across packets; 0 before any recirculation', () => {
    const policy = `
table=0,priority=10,ip,in_port=1,actions=ct(table=1,zone=5)
table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=1,priority=10,ip,actions=ct(table=2,zone=6)
table=2,priority=10,ip,actions=output:3
`;
    const p = new Pipeline(parsePolicy(policy, 'r.flows'), new Conntrack());
    const ids = (port: number, sport: number): string[] =>
      p.processTraced(udpFrame(A4, 10, 1, sport), port, 0).trace.flatMap((l) => /recirc_id (0x[0-9a-f]+)/.exec(l)?.[1] ?? []);
    const a = ids(1, 1);
    expect(a).toHaveLength(2);
    expect(new Set(a).size).toBe(2); // table 0's and table 1's ct() differ
    expect(ids(1, 2)).toEqual(a); // same actions, same port: same ids
    const b = ids(2, 3);
    expect(b[0]).not.toBe(a[0]); // another action (the second table-0 flow)
    expect(b[1]).not.toBe(a[1]); // the same table-1 action, another in_port
    const c = ids(4, 4);
    expect(c[0]).not.toBe(b[0]); // same action, another in_port
    expect(c[1]).not.toBe(b[1]);
    expect([...a, ...b].every((x) => x !== '0x0')).toBe(true);
  });

  it('unfragmented packets are unaffected while a list is in flight', () => {
    const p = new Pipeline(parsePolicy(FIREWALL, 'fw.flows'), new Conntrack());
    const fs = frags(udpFrame(A4, 2000, 12), [1400]);
    p.process(fs[0]!, 1, 0);
    const other = udpFrame(A4, 10, 13, 7000, 53);
    const v = p.process(other, 1, 5);
    expect(v.lookups.map((l) => l.state)).toEqual([NEW]);
    expect(v.outputs.map((o) => [o.port, o.bytes])).toEqual([[2, other]]);
  });

  it('the ipf directive: parsed, printed back, errors point at the word; both families on by default', () => {
    const p = parsePolicy('ipf v4=off,v6=on\nip,actions=drop', 'x.flows');
    expect(p.ipf).toEqual({ v4: false, v6: true });
    expect([...p.directiveLines]).toEqual([1]);
    expect(formatPolicy(p)).toMatch(/^ipf v4=off,v6=on\n/);
    expect(formatPolicy(p, { ovs: true })).not.toMatch(/ipf/);
    expect(parsePolicy('ip,actions=drop').ipf).toEqual({ v4: true, v6: true });
    expect(parsePolicy('ipf v6=off\nipf v4=off\nip,actions=drop').ipf).toEqual({ v4: false, v6: false });
    for (const [text, col, msg] of [
      ['ipf v4=maybe', 8, 'must be "on" or "off"'],
      ['ipf v5=off', 5, 'expected v4=on|off'],
      ['ipf', 1, 'ipf needs'],
      ['ipf v4=on,v4=off', 11, 'given twice'],
    ] as const) {
      expect(() => parsePolicy(text, 'x.flows')).toThrow(expect.objectContaining({ code: 'CTO_FLOW_PARSE', line: 1, column: col, message: expect.stringContaining(msg) }));
    }
  });
});
