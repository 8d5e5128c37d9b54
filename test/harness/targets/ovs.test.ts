/**
 * OvsTarget against a real ovs-vswitchd 3.1 (dummy datapath). Expected ct_state values come from
 * docs/conntrack-semantics.md (§2.5, §4.11, §5.1, §6.2, §6.3), not from running OVS.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithTools, OVS_TOOL } from '../../support/tools.js';
import { OvsTarget } from '../../../harness/targets/ovs/target.js';
import { liveChildCount } from '../../../harness/targets/ovs/process.js';
import { CS_ESTABLISHED, CS_INVALID, CS_NEW, CS_REPLY_DIR, CS_TRACKED, formatCtState } from '../../../model/ctstate.js';
import { PORT_CONTROLLER, type Verdict } from '../../../model/verdict.js';
import { tcp4, udp4, TCP_ACK, TCP_FIN, TCP_SYN } from './frames.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import { PipelineEngine } from '../../../model/pipeline/engine.js';

const NEW = CS_NEW | CS_TRACKED;
const EST = CS_ESTABLISHED | CS_TRACKED;
const EST_RPL = CS_ESTABLISHED | CS_REPLY_DIR | CS_TRACKED;
const INV = CS_INVALID | CS_TRACKED;

const A = { src: '10.1.1.1', dst: '10.1.1.2', srcMac: '00:00:00:00:00:01', dstMac: '00:00:00:00:00:02' };
const B = { src: '10.1.1.2', dst: '10.1.1.1', srcMac: '00:00:00:00:00:02', dstMac: '00:00:00:00:00:01' };
const req = (sport = 1000, dport = 53) => udp4({ ...A, sport, dport });
const rsp = (sport = 1000, dport = 53) => udp4({ ...B, sport: dport, dport: sport });

/** §9.3's pattern: table 1 sees the lookup; port 1 → 2 commits, port 2 → 1 passes. */
const UDP_POLICY = `
table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=0,priority=0,actions=drop
table=1,priority=10,ip,in_port=1,actions=ct(commit,zone=5),output:2
table=1,priority=10,ip,in_port=2,actions=output:1
table=1,priority=0,actions=drop
`;

function states(v: Verdict): string[] {
  return v.lookups.map((l) => formatCtState(l.state));
}

describeWithTools('OVS target (ovs-vswitchd 3.1, dummy datapath)', [OVS_TOOL], () => {
  let t: OvsTarget;
  beforeAll(async () => {
    const t0 = performance.now();
    t = await OvsTarget.create();
    console.log(`OVS target start-up: ${(performance.now() - t0).toFixed(0)} ms`);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('starts and stops without leaving processes or files behind', async () => {
    const before = liveChildCount();
    const x = await OvsTarget.create();
    const dir = x.instance.runDir;
    const pids = x.instance.pids();
    expect(existsSync(`${dir}/br0.mgmt`)).toBe(true);
    expect(pids).toHaveLength(2);
    for (const p of pids) expect(() => process.kill(p, 0)).not.toThrow();
    expect((await x.versions())['ovs-vswitchd']).toMatch(/3\.1\.\d/);
    await x.close();
    await x.close(); // idempotent
    expect(existsSync(dir)).toBe(false);
    for (const p of pids) expect(() => process.kill(p, 0)).toThrow(/ESRCH/);
    expect(liveChildCount()).toBe(before);
    await expect(x.send({ time: 0, port: 1, frame: req() })).rejects.toMatchObject({ code: 'CTO_OVS_STATE' });
  });

  it('reports a daemon that died instead of hanging', async () => {
    const x = await OvsTarget.create();
    try {
      await x.load({ text: UDP_POLICY, source: 'udp.flows' });
      const vswitchd = x.instance.pids()[1]!;
      process.kill(vswitchd, 'SIGKILL');
      await expect(x.send({ time: 0, port: 1, frame: req() })).rejects.toMatchObject({ code: 'CTO_OVS_EXIT' });
    } finally {
      await x.close();
    }
  });

  it('restarts on reset after a fragment, so no held fragment leaks into the next trace (§9.4)', async () => {
    await t.load({ text: UDP_POLICY, source: 'udp.flows' });
    const dir = t.instance.runDir;
    // A first fragment (MF) large enough for ipf to hold it (≥ 1200 bytes, §3.4).
    const frag = udp4({ ...A, sport: 5, dport: 6, payload: new Uint8Array(1300) });
    frag[14 + 6] = 0x20;
    frag[14 + 10] = 0;
    frag[14 + 11] = 0;
    const { finishChecksum, sum16 } = await import('../../../model/packet/checksum.js');
    const c = finishChecksum(sum16(frag, 14, 20));
    frag[24] = c >> 8;
    frag[25] = c & 0xff;
    const v = await t.send({ time: 0, port: 1, frame: frag });
    expect(v).toEqual({ outputs: [], lookups: [] }); // held by the reassembler
    await t.reset();
    expect(t.instance.runDir).not.toBe(dir);
    expect(states(await t.send({ time: 0, port: 1, frame: req() }))).toEqual(['new|trk']);
  });

  it('runs two instances side by side with separate conntrack tables', async () => {
    const y = await OvsTarget.create();
    try {
      expect(y.instance.runDir).not.toBe(t.instance.runDir);
      await t.load({ text: UDP_POLICY, source: 'a.flows' });
      await y.load({ text: UDP_POLICY, source: 'b.flows' });
      expect(states(await t.send({ time: 0, port: 1, frame: req() }))).toEqual(['new|trk']);
      // y never saw the request: the reply is a new connection there, est|rpl in t.
      expect(states(await y.send({ time: 0, port: 2, frame: rsp() }))).toEqual(['new|trk']);
      expect(states(await t.send({ time: 0, port: 2, frame: rsp() }))).toEqual(['est|rpl|trk']);
    } finally {
      await y.close();
    }
  });

  it("reports a policy OVS rejects with OVS's own message and the user's line", async () => {
    // Our parser keeps controller(...) arguments as written; OVS judges their values.
    const bad = 'table=0,priority=10,ip,actions=ct(table=1)\n\ntable=1,priority=10,ip,actions=controller(reason=bogus)\n';
    await expect(t.load({ text: bad, source: 'bad.flows' })).rejects.toMatchObject({
      code: 'CTO_OVS_POLICY',
      message: expect.stringMatching(/bad\.flows:3: unknown reason "bogus"/),
    });
    await expect(t.send({ time: 0, port: 1, frame: req() })).rejects.toMatchObject({ code: 'CTO_OVS_STATE' });
  });

  it("reports a policy outside our subset with the parser's line:column, before OVS sees it", async () => {
    const mismatch = 'table=0,priority=10,ip,actions=ct(table=1)\ntable=0,priority=10,arp,actions=ct(table=1)\n';
    await expect(t.load({ text: mismatch, source: 'bad.flows' })).rejects.toMatchObject({
      code: 'CTO_FLOW_PARSE',
      message: expect.stringMatching(/OFPBAC_MATCH_INCONSISTENT/),
      line: 2,
      column: 33,
    });
    const typo = '\ntable=0,priority=10,ip,actions=ct(tble=1)\n';
    await expect(t.load({ text: typo, source: 'typo.flows' })).rejects.toMatchObject({
      code: 'CTO_FLOW_PARSE',
      message: expect.stringMatching(/invalid argument to "ct" action: `tble'/),
      line: 2,
      column: 35,
    });
  });

  it('UDP request/response: new|trk then est|rpl|trk, outputs on the right ports with exact bytes', async () => {
    await t.load({ text: UDP_POLICY, source: 'udp.flows' });
    const q = req(1111, 53);
    const v1 = await t.send({ time: 0, port: 1, frame: q });
    expect(v1.lookups).toEqual([{ table: 1, state: NEW, zone: 5, mark: 0, label: 0n }]);
    expect(v1.outputs).toEqual([{ port: 2, bytes: q }]);
    const r = rsp(1111, 53);
    const v2 = await t.send({ time: 10, port: 2, frame: r });
    expect(v2.lookups).toEqual([{ table: 1, state: EST_RPL, zone: 5, mark: 0, label: 0n }]);
    expect(v2.outputs).toEqual([{ port: 1, bytes: r }]);
  });

  it('reports ct_mark/ct_label and user controller outputs', async () => {
    await t.load({
      text: [
        'table=0,priority=10,ip,actions=ct(table=1,zone=9)',
        'table=1,priority=10,ip,in_port=1,actions=ct(commit,zone=9,exec(set_field:0xab->ct_mark,set_field:0x1234567890abcdef0011->ct_label)),output:2',
        'table=1,priority=10,ip,in_port=2,actions=controller,output:1',
      ].join('\n'),
      source: 'mark.flows',
    });
    await t.send({ time: 0, port: 1, frame: req(7, 8) });
    const v = await t.send({ time: 0, port: 2, frame: rsp(7, 8) });
    expect(v.lookups).toEqual([{ table: 1, state: EST_RPL, zone: 9, mark: 0xab, label: 0x1234567890abcdef0011n }]);
    expect(v.outputs).toEqual([
      { port: 1, bytes: rsp(7, 8) },
      { port: PORT_CONTROLLER, bytes: rsp(7, 8) },
    ]);
  });

  it("follows §4.11's TCP handshake and teardown ct_state column", async () => {
    await t.load({
      text: [
        'table=0,priority=10,ip,actions=ct(table=1,zone=1)',
        'table=1,priority=10,ip,in_port=1,actions=ct(commit,zone=1),output:2',
        'table=1,priority=10,ip,in_port=2,actions=output:1',
      ].join('\n'),
      source: 'tcp.flows',
    });
    const a = (flags: number, seq: number, ack: number) => ({ port: 1, frame: tcp4({ ...A, sport: 40000, dport: 80, flags, seq, ack }) });
    const b = (flags: number, seq: number, ack: number) => ({ port: 2, frame: tcp4({ ...B, sport: 80, dport: 40000, flags, seq, ack }) });
    const steps = [
      a(TCP_SYN, 1000, 0),
      a(TCP_SYN, 1000, 0),
      b(TCP_SYN | TCP_ACK, 5000, 1001),
      a(TCP_ACK, 1001, 5001),
      a(TCP_FIN | TCP_ACK, 1001, 5001),
      b(TCP_ACK, 5001, 1002),
      b(TCP_FIN | TCP_ACK, 5001, 1002),
      a(TCP_ACK, 1002, 5002),
      a(TCP_SYN, 90000, 0),
    ];
    const got: string[] = [];
    let time = 0;
    for (const s of steps) got.push(...states(await t.send({ time: (time += 1), ...s })));
    expect(got).toEqual([
      'new|trk', 'new|trk', 'est|rpl|trk', 'est|trk', 'est|trk', 'est|rpl|trk', 'est|rpl|trk', 'est|trk', 'new|trk',
    ]);
  });

  it('expires a UDP entry exactly at 60 000 ms (time/warp, §6.2)', async () => {
    await t.load({ text: UDP_POLICY, source: 'udp.flows' });
    await t.send({ time: 0, port: 1, frame: req() });
    expect(states(await t.send({ time: 59_999, port: 2, frame: rsp() }))).toEqual(['est|rpl|trk']);
    // BIDIR refreshed at 59 999 with udp_multiple (30 s): gone at 89 999.
    expect(states(await t.send({ time: 89_998, port: 2, frame: rsp() }))).toEqual(['est|rpl|trk']);
    expect(states(await t.send({ time: 89_998 + 30_000, port: 2, frame: rsp() }))).toEqual(['new|trk']);
    await t.reset();
    await t.send({ time: 0, port: 1, frame: req() });
    expect(states(await t.send({ time: 60_000, port: 2, frame: rsp() }))).toEqual(['new|trk']);
    await expect(t.send({ time: 59_000, port: 1, frame: req() })).rejects.toMatchObject({ code: 'CTO_OVS_STATE' });
  });

  it('snapshot(time): dump-conntrack at that time, the clock warped there; expired entries gone; same text as the model', async () => {
    await t.load({ text: UDP_POLICY, source: 'udp.flows' });
    await t.send({ time: 0, port: 1, frame: req() });
    const a = await t.snapshot(1_000);
    expect(a.sections[0]!.title).toBe('dpctl/dump-conntrack -m -s (t=1000 ms): 1 connection(s)');
    const line = a.sections[0]!.lines[0]!;
    const model = new ModelTarget(new PipelineEngine());
    await model.load({ text: UDP_POLICY, source: 'udp.flows' });
    await model.send({ time: 0, port: 1, frame: req() });
    const m = (await model.snapshot(1_000)).sections[0]!.lines[0]!;
    // protocol, orig and reply tuples, zone, timeout (59 s left) as OVS prints them (OVS adds
    // status=, the kernel-style status bits, always 0 in userspace)
    const key = (l: string): string[] => l.split(/,(?![^(]*\))/).filter((x) => !/^(id|status|protoinfo)=/.test(x));
    expect(key(m)).toEqual(key(line));
    expect(line).toContain('timeout=59');
    // the next packet's time: the entry expired (60 s) — and send() goes on from there
    expect((await t.snapshot(60_000)).sections[0]!.lines).toEqual([]);
    expect(states(await t.send({ time: 60_000, port: 2, frame: rsp() }))).toEqual(['new|trk']);
    await expect(t.snapshot(59_000)).rejects.toMatchObject({ code: 'CTO_OVS_STATE' });
  });

  it('maps ct(timeout=NAME) to a zone timeout policy (§6.3)', async () => {
    const policy = `
timeout_policy short udp_first=5 udp_single=6 udp_multiple=7
table=0,priority=10,ip,actions=ct(table=1,zone=7)
table=1,priority=10,ip,in_port=1,actions=ct(commit,zone=7,timeout=short),output:2
table=1,priority=10,ip,in_port=2,actions=output:1
`;
    await t.load({ text: policy, source: 'tp.flows' });
    await t.send({ time: 0, port: 1, frame: req() });
    expect(states(await t.send({ time: 4_999, port: 2, frame: rsp() }))).toEqual(['est|rpl|trk']);
    await t.reset();
    await t.send({ time: 0, port: 1, frame: req() });
    expect(states(await t.send({ time: 5_000, port: 2, frame: rsp() }))).toEqual(['new|trk']);
    // MULTIPLE (udp_single = 6 s) after a second request.
    await t.reset();
    await t.send({ time: 0, port: 1, frame: req() });
    await t.send({ time: 1_000, port: 1, frame: req() });
    expect(states(await t.send({ time: 6_999, port: 2, frame: rsp() }))).toEqual(['est|rpl|trk']);

    const clash = `${policy}\ntimeout_policy other udp_first=9\ntable=1,priority=20,ip,in_port=3,actions=ct(commit,zone=7,timeout=other)\n`;
    await expect(t.load({ text: clash, source: 'clash.flows' })).rejects.toMatchObject({
      code: 'CTO_OVS_UNSUPPORTED',
      message: expect.stringMatching(/clash\.flows:\d+:\d+: zone 7 commits with timeout policy "other"/),
    });
  });

  it('counts only ct recirculations as lookups, not a resubmit into the same table; goto_table works', async () => {
    await t.load({
      text: [
        'table=0,priority=10,ip,actions=ct(table=1,zone=4)',
        'table=1,priority=10,ip,in_port=1,actions=ct(commit,zone=4),output:2',
        'table=1,priority=10,ip,in_port=2,actions=goto_table:2',
        // Re-entered by table 2's resubmit after ct_clear (no ct lookup): untracked now.
        'table=1,priority=20,ip,in_port=2,ct_state=-trk,actions=output:3',
        'table=2,priority=10,ip,actions=output:1,ct_clear,resubmit(,1)',
      ].join('\n'),
      source: 'resubmit.flows',
    });
    const v1 = await t.send({ time: 0, port: 1, frame: req() });
    expect(v1.lookups.map((l) => [l.table, formatCtState(l.state)])).toEqual([[1, 'new|trk']]);
    expect(v1.outputs).toEqual([{ port: 2, bytes: req() }]);
    // The reply enters table 1 twice (recirculation, then resubmit(,1)): one lookup.
    const v2 = await t.send({ time: 0, port: 2, frame: rsp() });
    expect(v2.lookups.map((l) => [l.table, formatCtState(l.state)])).toEqual([[1, 'est|rpl|trk']]);
    expect(v2.outputs).toEqual([
      { port: 1, bytes: rsp() },
      { port: 3, bytes: rsp() },
    ]);
  });

  it('answers inv|trk for a UDP packet with a bad checksum', async () => {
    await t.load({ text: UDP_POLICY, source: 'udp.flows' });
    const f = req();
    f[40] ^= 0x55; // UDP checksum
    const v = await t.send({ time: 0, port: 1, frame: f });
    expect(v.lookups).toEqual([{ table: 1, state: INV, zone: 5, mark: 0, label: 0n }]);
    expect(v.outputs).toEqual([{ port: 2, bytes: f }]); // the policy does not look at ct_state
  });

  it('enforces a zone limit and releases it when the entry expires (sweeper barrier)', async () => {
    await t.load({
      text: [
        'zone_limit zone=3 limit=1',
        'table=0,priority=10,ip,actions=ct(table=1,zone=3)',
        'table=1,priority=10,ip,in_port=1,actions=ct(commit,zone=3),output:2',
        'table=1,priority=10,ip,in_port=2,actions=output:1',
      ].join('\n'),
      source: 'limit.flows',
    });
    await t.send({ time: 0, port: 1, frame: req(1) });
    await t.send({ time: 0, port: 1, frame: req(2) }); // refused: zone 3 is full
    expect(states(await t.send({ time: 1, port: 2, frame: rsp(2) }))).toEqual(['new|trk']);
    expect(states(await t.send({ time: 2, port: 2, frame: rsp(1) }))).toEqual(['est|rpl|trk']);
    // Entry 1 (BIDIR, 30 s from t=2) expires at 30 002; the sweep must free the slot before
    // the next commit.
    await t.send({ time: 30_002, port: 1, frame: req(3) });
    expect(states(await t.send({ time: 30_003, port: 2, frame: rsp(3) }))).toEqual(['est|rpl|trk']);
    await t.reset(); // flush releases the count too
    await t.send({ time: 0, port: 1, frame: req(4) });
    expect(states(await t.send({ time: 0, port: 2, frame: rsp(4) }))).toEqual(['est|rpl|trk']);
  });

  it('attributes every output and lookup to its packet over 2×200 packets with recirculation', async () => {
    await t.load({
      text: [
        'table=0,priority=10,ip,actions=ct(table=1,zone=2)',
        'table=1,priority=10,ip,in_port=1,actions=output:2,ct(commit,zone=2,table=2)',
        'table=2,priority=10,ip,actions=output:3,controller',
        'table=1,priority=10,ip,in_port=4,actions=ct(table=2,zone=2)',
      ].join('\n'),
      source: 'many.flows',
    });
    const n = 200;
    let t0 = performance.now();
    for (let i = 0; i < 2 * n; i++) {
      if (i === n) {
        const ms = performance.now() - t0;
        console.log(`OVS target: ${n} packets, time/warp before each: ${((n * 1000) / ms).toFixed(0)} packets/s (${(ms / n).toFixed(2)} ms/packet)`);
        t0 = performance.now();
      }
      const payload = new Uint8Array(1 + (i % 50)).fill(i & 0xff);
      const f = udp4({ ...A, sport: 2000 + (i % 20), dport: 53, payload });
      // First half: a new trace time per packet (one warp each); second half: same time.
      const v = await t.send({ time: Math.min(i, n) * 7, port: 1, frame: f });
      // UDP stays new in the original direction until a reply (§2.5), also for repeats.
      expect(v.lookups.map((l) => [l.table, l.state])).toEqual([
        [1, NEW],
        [2, NEW],
      ]);
      expect(v.outputs).toEqual([
        { port: 2, bytes: f },
        { port: 3, bytes: f },
        { port: PORT_CONTROLLER, bytes: f },
      ]);
    }
    const ms = performance.now() - t0;
    console.log(`OVS target: ${n} packets, no warp: ${((n * 1000) / ms).toFixed(0)} packets/s (${(ms / n).toFixed(2)} ms/packet)`);
    // Nothing may trickle in after the last sentinel: wait, then the next send checks.
    await new Promise((r) => setTimeout(r, 300));
    const v = await t.send({ time: n * 7, port: 4, frame: rsp(2000, 53) });
    // Table 1 (from table 0's ct) and table 2 (ct(table=2) in table 1): two lookups.
    expect(v.lookups.map((l) => [l.table, formatCtState(l.state)])).toEqual([
      [1, 'est|rpl|trk'],
      [2, 'est|rpl|trk'],
    ]);
  });
});
