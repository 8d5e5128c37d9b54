import { describe, expect, it } from 'vitest';
import { Conntrack } from '../../../model/conntrack/index.js';
import { CS_ESTABLISHED, CS_NEW, CS_REPLY_DIR, CS_TRACKED, parseCtState } from '../../../model/ctstate.js';
import { buildFrame } from '../../../model/packet/build.js';
import { Pipeline, PipelineEngine, parsePolicy } from '../../../model/pipeline/index.js';
import { PORT_CONTROLLER } from '../../../model/verdict.js';

const A = '10.0.0.1';
const B = '10.0.0.2';
const udpAB = (sport = 1000, dport = 53): Uint8Array => buildFrame({ ip: { src: A, dst: B }, udp: { sport, dport }, payload: 'q' });
const udpBA = (sport = 53, dport = 1000): Uint8Array => buildFrame({ ip: { src: B, dst: A }, udp: { sport, dport }, payload: 'r' });

function pipeline(text: string, ct = new Conntrack()): Pipeline {
  return new Pipeline(parsePolicy(text, 'test.flows'), ct);
}

const NEW_TRK = CS_NEW | CS_TRACKED;
const EST_RPL_TRK = CS_ESTABLISHED | CS_REPLY_DIR | CS_TRACKED;

/** The firewall pattern of docs/conntrack-semantics.md §9.3. */
const FIREWALL = `
table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=0,priority=0,actions=drop
table=1,priority=10,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=5),output:2
table=1,priority=10,ip,ct_state=+trk+est,actions=output:1,output:2
table=1,priority=0,actions=drop
`;

describe('Pipeline: recirculation and the ct() fork', () => {
  it('firewall: first packet new, committed, output untracked; reply est|rpl', () => {
    const p = pipeline(FIREWALL);
    const v1 = p.process(udpAB(), 1, 0);
    expect(v1.lookups).toEqual([{ table: 1, state: NEW_TRK, zone: 5, mark: 0, label: 0n }]);
    expect(v1.outputs.map((o) => o.port)).toEqual([2]);
    // ct(commit) cleared the ct fields for the rest of the action list (§1.2).
    expect(v1.outputs[0]!.ct).toEqual({ state: 0, zone: 0, mark: 0, label: 0n });
    expect(p.conntrack.size).toBe(1);

    const v2 = p.process(udpBA(), 2, 10);
    expect(v2.lookups).toEqual([{ table: 1, state: EST_RPL_TRK, zone: 5, mark: 0, label: 0n }]);
    // output:2 is the input port: OVS skips it.
    expect(v2.outputs.map((o) => o.port)).toEqual([1]);
    expect(v2.outputs[0]!.ct).toEqual({ state: EST_RPL_TRK, zone: 5, mark: 0, label: 0n });
  });

  it('ct(commit),output:2 outputs an untracked packet and does not recirculate', () => {
    const p = pipeline('ip,actions=ct(commit),output:2');
    const v = p.process(udpAB(), 1, 0);
    expect(v.lookups).toEqual([]);
    expect(v.outputs).toHaveLength(1);
    expect(v.outputs[0]!.port).toBe(2);
    expect(v.outputs[0]!.ct!.state).toBe(0);
    expect(p.conntrack.size).toBe(1);
  });

  it('ct(table=1),output:2 both recirculates (first) and outputs the untracked original', () => {
    const p = pipeline('table=0,ip,actions=ct(table=1),output:2\ntable=1,ip,actions=output:3');
    const v = p.process(udpAB(), 1, 0);
    expect(v.outputs.map((o) => [o.port, o.ct!.state])).toEqual([[3, NEW_TRK], [2, 0]]);
    expect(v.lookups).toHaveLength(1);
    expect(p.conntrack.size).toBe(0); // nothing committed
  });

  it('after ct() in the same action list, resubmitted tables see the packet as untracked', () => {
    const p = pipeline(`
table=0,ip,actions=ct(table=1),resubmit(,2)
table=1,ip,actions=drop
table=2,priority=10,ip,ct_state=-trk,actions=output:7
table=2,priority=5,ip,actions=output:8
`);
    expect(p.process(udpAB(), 1, 0).outputs.map((o) => o.port)).toEqual([7]);
  });

  it('ct_clear makes a recirculated packet untracked again', () => {
    const p = pipeline(`
table=0,ip,actions=ct(table=1)
table=1,ip,ct_state=+trk,actions=ct_clear,resubmit(,2)
table=2,priority=10,ip,ct_state=+trk,actions=output:5
table=2,priority=5,ip,ct_state=-trk,actions=output:6
`);
    const v = p.process(udpAB(), 1, 0);
    expect(v.outputs.map((o) => [o.port, o.ct!.state])).toEqual([[6, 0]]);
  });

  it('records the ct fields the recirculated copy carries, for every recirculating ct()', () => {
    const p = pipeline(`
table=0,ip,actions=ct(zone=1,table=1)
table=1,ip,actions=ct(commit,zone=2,table=2)
table=2,ip,actions=output:4
`);
    const v = p.process(udpAB(), 1, 0);
    expect(v.lookups.map((l) => [l.table, l.zone, l.state])).toEqual([[1, 1, NEW_TRK], [2, 2, NEW_TRK]]);
    expect(v.outputs.map((o) => [o.port, o.ct!.zone])).toEqual([[4, 2]]);
  });
  it('the tracker metadata travels with the copy: ct(table=1) then ct(commit) in the same zone is one update (§2.3 step 2)', () => {
    const ct = new Conntrack();
    let updates = 0;
    ct.onEvent = (ev) => {
      if (ev.kind === 'update') updates++;
    };
    const p = pipeline('table=0,ip,actions=ct(table=1,zone=4)\ntable=1,ip,actions=ct(commit,zone=4),output:2', ct);
    p.process(udpAB(), 1, 0);
    updates = 0;
    p.process(udpBA(), 3, 1);
    expect(updates).toBe(1);
    // a different zone is a separate lookup
    const q = pipeline('table=0,ip,actions=ct(table=1,zone=4)\ntable=1,ip,actions=ct(commit,zone=4),ct(commit,zone=6),output:2', ct);
    q.process(udpAB(7, 8), 1, 2);
    expect(ct.size).toBe(3);
  });
});

describe('Pipeline: tables, priorities, resubmit', () => {
  it('highest priority wins regardless of file order; ties go to the earlier flow', () => {
    const p = pipeline(`
priority=5,ip,actions=output:5
priority=20,udp,actions=output:20
priority=20,ip,actions=output:21
priority=10,ip,actions=output:10
`);
    expect(p.process(udpAB(), 1, 0).outputs.map((o) => o.port)).toEqual([20]);
    const tcp = buildFrame({ ip: { src: A, dst: B }, tcp: { sport: 1, dport: 2, flags: 'S' } });
    expect(p.process(tcp, 1, 0).outputs.map((o) => o.port)).toEqual([21]);
  });

  it('resubmit returns and continues; goto_table jumps forward', () => {
    const p = pipeline(`
table=0,ip,actions=output:2,resubmit(,3),output:4,goto_table:5
table=3,ip,actions=output:3
table=5,ip,actions=controller
`);
    expect(p.process(udpAB(), 1, 0).outputs.map((o) => o.port)).toEqual([2, 3, 4, PORT_CONTROLLER]);
  });

  it('a table miss drops (OpenFlow 1.3 behaviour); a resubmit into a miss continues', () => {
    const p = pipeline('table=0,tcp,actions=output:2\ntable=1,ip,actions=resubmit(,9),output:3');
    expect(p.process(udpAB(), 1, 0).outputs).toEqual([]);
    const q = pipeline('ip,actions=resubmit(,9),output:3');
    expect(q.process(udpAB(), 1, 0).outputs.map((o) => o.port)).toEqual([3]);
  });

  it('match on in_port, addresses, ports; output:in_port and skipped output to the input port', () => {
    const p = pipeline(`
priority=10,udp,in_port=1,nw_src=10.0.0.0/24,tp_dst=53,actions=output:1,in_port,output:9
priority=1,actions=drop
`);
    const v = p.process(udpAB(), 1, 0);
    expect(v.outputs.map((o) => o.port)).toEqual([1, 9]);
    expect(v.outputs[0]!.bytes).toBe(v.outputs[1]!.bytes);
    expect(p.process(udpAB(1000, 54), 1, 0).outputs).toEqual([]);
    expect(p.process(udpAB(), 2, 0).outputs).toEqual([]);
  });

  it('L4 fields of a packet without an L4 header read 0 (later IPv4 fragment)', () => {
    const frag = buildFrame({ ip: { src: A, dst: B, fragOffset: 8, proto: 17 }, payload: new Uint8Array(16) });
    const p = pipeline('priority=10,udp,tp_dst=53,actions=output:2\npriority=5,udp,tp_dst=0,actions=output:3');
    expect(p.process(frag, 1, 0).outputs.map((o) => o.port)).toEqual([3]);
  });

  it('IPv6, ICMP type, TCP flags and VLAN matches', () => {
    const p = pipeline(`
priority=50,tcp,tcp_flags=+syn-ack,actions=output:50
priority=40,icmp,icmp_type=8,actions=output:40
priority=30,udp6,ipv6_src=2001:db8::/32,actions=output:30
priority=20,dl_vlan=7,ip,actions=output:20
priority=10,dl_vlan=0xffff,actions=output:10
`);
    const out = (f: Uint8Array): number[] => p.process(f, 1, 0).outputs.map((o) => o.port);
    expect(out(buildFrame({ ip: { src: A, dst: B }, tcp: { sport: 1, dport: 2, flags: 'S' } }))).toEqual([50]);
    expect(out(buildFrame({ ip: { src: A, dst: B }, tcp: { sport: 1, dport: 2, flags: 'SA' } }))).toEqual([10]);
    expect(out(buildFrame({ ip: { src: A, dst: B }, icmp: { type: 8, id: 1, seq: 1 } }))).toEqual([40]);
    expect(out(buildFrame({ ip: { src: '2001:db8::1', dst: '2001:db8::2' }, udp: { sport: 1, dport: 2 } }))).toEqual([30]);
    expect(out(buildFrame({ ip: { src: '2001:db9::1', dst: '2001:db8::2' }, udp: { sport: 1, dport: 2 } }))).toEqual([10]);
    expect(out(buildFrame({ vlan: 7, ip: { src: A, dst: B }, udp: { sport: 1, dport: 2 } }))).toEqual([20]);
    expect(out(buildFrame({ vlan: 8, ip: { src: A, dst: B }, udp: { sport: 1, dport: 2 } }))).toEqual([]);
  });
});

describe('Pipeline: ct fields', () => {
  it('ct_state +trk+est / -trk, zone, mark and label set in exec and matched later', () => {
    const p = pipeline(`
table=0,priority=10,ip,ct_state=-trk,actions=ct(table=1,zone=9)
table=1,priority=20,ip,ct_state=+trk+new,actions=ct(commit,zone=9,exec(set_field:0xab->ct_mark,set_field:0x1/0x1->ct_label)),output:2
table=1,priority=20,ip,ct_state=+trk+est,ct_zone=9,ct_mark=0xab,ct_label=0x1/0x1,actions=output:3
table=1,priority=10,ip,ct_state=+trk+est,actions=output:4
`);
    const v1 = p.process(udpAB(), 1, 0);
    expect(v1.outputs.map((o) => o.port)).toEqual([2]);
    const v2 = p.process(udpBA(), 2, 1);
    expect(v2.lookups[0]).toEqual({ table: 1, state: EST_RPL_TRK, zone: 9, mark: 0xab, label: 1n });
    expect(v2.outputs.map((o) => [o.port, o.ct])).toEqual([[3, { state: EST_RPL_TRK, zone: 9, mark: 0xab, label: 1n }]]);
  });

  it('ct_nw_* tuple fields match the original direction', () => {
    const p = pipeline(`
table=0,ip,actions=ct(table=1)
table=1,priority=10,ip,ct_state=+trk+new,actions=ct(commit)
table=1,priority=10,udp,ct_state=+trk+est,ct_nw_src=10.0.0.1,ct_nw_proto=17,ct_tp_dst=53,actions=output:3
`);
    p.process(udpAB(), 1, 0);
    expect(p.process(udpBA(), 2, 1).outputs.map((o) => o.port)).toEqual([3]);
  });

  it('timeout=NAME attaches the policy to the connections the call creates', () => {
    const text = (tp: string): string => `
timeout_policy short udp_first=5
table=0,ip,actions=ct(table=1)
table=1,ip,in_port=1,ct_state=+new,actions=ct(commit${tp})
table=1,ip,actions=output:1
`;
    const short = pipeline(text(',timeout=short'));
    const dflt = pipeline(text(''));
    for (const p of [short, dflt]) p.process(udpAB(), 1, 0);
    expect(short.process(udpBA(), 2, 6000).lookups[0]!.state).toBe(NEW_TRK);
    expect(dflt.process(udpBA(), 2, 6000).lookups[0]!.state).toBe(EST_RPL_TRK);
  });

  it('zone_limit refuses commits beyond the limit', () => {
    const p = pipeline('zone_limit zone=5,limit=1\nip,actions=ct(commit,zone=5,table=1)\ntable=1,ip,actions=output:2');
    expect(p.process(udpAB(1000), 1, 0).lookups[0]!.state).toBe(NEW_TRK);
    expect(p.process(udpAB(1001), 1, 1).lookups[0]!.state).toBe(NEW_TRK);
    expect(p.conntrack.size).toBe(1);
    expect(p.conntrack.getZoneLimit(5)).toEqual({ limit: 1, count: 1 });
  });

  it('default zone limit is installed', () => {
    const p = pipeline('zone_limit default=3\nip,actions=drop');
    expect(p.conntrack.getDefaultLimit()).toEqual({ limit: 3, count: 0 });
  });
});

describe('Pipeline: loops and limits', () => {
  it('a resubmit loop fails translation: every action of the pass is dropped, with a trace note', () => {
    const p = pipeline('ip,actions=output:2,resubmit(,0)');
    const r = p.processTraced(udpAB(), 1, 0);
    expect(r.outputs).toEqual([]);
    expect(r.trace.join('\n')).toMatch(/over max translation depth 64/);
  });

  it('too many resubmits without deep nesting', () => {
    const p = new Pipeline(parsePolicy('ip,actions=resubmit(,1),resubmit(,1),resubmit(,1),output:2\ntable=1,ip,actions=output:3'), new Conntrack(), { maxResubmits: 2 });
    const r = p.processTraced(udpAB(), 1, 0);
    expect(r.outputs).toEqual([]);
    expect(r.trace.join('\n')).toMatch(/over 2 resubmit actions/);
  });

  it('a recirculation loop stops at depth 6 (MAX_RECIRC_DEPTH)', () => {
    const p = pipeline('ip,actions=ct(table=0),output:2');
    const r = p.processTraced(udpAB(), 1, 0);
    expect(r.lookups).toHaveLength(6);
    // every pass outputs its untracked original after the recirculated copy has finished
    expect(r.outputs.map((o) => o.port)).toEqual([2, 2, 2, 2, 2, 2, 2]);
    expect(r.trace.join('\n')).toMatch(/recirculation depth 6 exceeded/);
  });
});

describe('Pipeline: traced result and engine', () => {
  it('processTraced lists every ct() call, the final fields and readable steps', () => {
    const p = pipeline(FIREWALL);
    const r = p.processTraced(udpAB(), 1, 0);
    expect(r.ctCalls.map((c) => [c.table, c.zone, c.line, c.depth])).toEqual([[1, 5, 2, 0], [-1, 5, 4, 1]]);
    expect(r.final.state).toBe(NEW_TRK);
    const text = r.trace.join('\n');
    expect(text).toMatch(/table 0: line 2/);
    expect(text).toMatch(/table 1: line 4/);
    expect(text).toMatch(/output to port 2/);
    // the untraced call gives the same verdict for the same state
    const q = pipeline(FIREWALL);
    const v = q.process(udpAB(), 1, 0);
    expect(v.outputs.map((o) => o.port)).toEqual(r.outputs.map((o) => o.port));
    expect(v.lookups).toEqual(r.lookups);
  });

  it('PipelineEngine: load, process, reset to an empty tracker', () => {
    const e = new PipelineEngine();
    e.load({ text: FIREWALL, source: 'fw' });
    e.process(1, udpAB(), 0);
    expect(e.process(2, udpBA(), 1).lookups[0]!.state).toBe(parseCtState('est|rpl|trk'));
    e.reset();
    expect(e.conntrack!.size).toBe(0);
    expect(e.process(2, udpBA(), 2).lookups[0]!.state).toBe(NEW_TRK);
  });
});
