/**
 * Differential: IP fragments through the model (harness/targets/model.ts + model/pipeline's
 * PipelineEngine) and through Open vSwitch 3.1 (harness/targets/ovs, dummy datapath, userspace
 * ipf). Same traces (test/model/pipeline/frag-traces.ts), compared packet by packet: outputs
 * (port and exact bytes, normalised to the OVS target's order: ascending port, emission order
 * within a port, controller last) and the ct fields every recirculation enters its table with.
 * This is where docs/conntrack-semantics.md §3.4 and model/conntrack/ipf.ts meet the real thing
 * (expired fragments' ct_state, first-fragment ct_tp_src/dst, the datagram not forwarded).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithTools, OVS_TOOL } from '../../support/tools.js';
import { OvsTarget } from '../../../harness/targets/ovs/target.js';
import { planOvsPolicy } from '../../../harness/targets/ovs/rewrite.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import { CS_INVALID, CS_NEW, CS_TRACKED, formatCtState } from '../../../model/ctstate.js';
import { PipelineEngine, parsePolicy } from '../../../model/pipeline/index.js';
import { PORT_CONTROLLER, type Verdict } from '../../../model/verdict.js';
import { fragTraces, type FragTrace } from '../../model/pipeline/frag-traces.js';

/**
 * What is compared: outputs as `port:hex` in the OVS target's order; lookups as text, sorted.
 *
 * Two normalisations, both from observing OVS 3.1 here:
 * - Lookups of one input packet are compared as a multiset. When a ct() call returns a batch of
 *   several packets (the packet and an expired fragment), dpif-netdev executes the ones that
 *   hit a cached megaflow after the ones that go through an upcall (lib/dpif-netdev.c
 *   `fast_path_processing`: upcalled packets run at once, hits are batched per flow), so their
 *   packet-in order depends on the datapath flow cache (seen both ways in the expiry traces).
 * - A lookup whose ct_state lacks `trk` (an expired fragment: lib/ipf.c
 *   `ipf_send_frags_in_list` writes ct_state = CS_INVALID and nothing else) has ct_zone,
 *   ct_mark and ct_label left from whatever the packet buffer held: `pkt_metadata_init` zeroes
 *   the metadata only up to ct_state, and ipf never writes them for a fragment that was
 *   untracked when held. OVS reported e.g. zone=65535 mark=0x7fffff, zone=6167 mark=471538201
 *   and labels holding pointer-like or payload-like bytes across runs. Those fields are not
 *   compared (the model reports 0, the values the fragment had when it was held).
 */
function norm(v: Verdict): { outputs: string[]; lookups: string[] } {
  const key = (p: number): number => (p === PORT_CONTROLLER ? Infinity : p);
  const outs = v.outputs.map((o, i) => ({ o, i })).sort((a, b) => key(a.o.port) - key(b.o.port) || a.i - b.i);
  return {
    outputs: outs.map(({ o }) => `${o.port === PORT_CONTROLLER ? 'controller' : o.port}:${Buffer.from(o.bytes).toString('hex')}`),
    lookups: v.lookups
      .map((l) => `table=${l.table} ct_state=${formatCtState(l.state) || '0'} ${l.state & CS_TRACKED ? `zone=${l.zone} mark=${l.mark} label=0x${l.label.toString(16)}` : '(zone, mark, label not compared)'}`)
      .sort(),
  };
}

/** Short form for messages: port and length instead of the bytes. */
function brief(n: { outputs: string[]; lookups: string[] }): string {
  return JSON.stringify({ outputs: n.outputs.map((o) => `${o.split(':')[0]}:${(o.length - o.indexOf(':') - 1) / 2}B`), lookups: n.lookups });
}

describe('OVS target: the ipf directive', () => {
  const text = 'ipf v4=off\ntable=0,priority=10,ip,actions=ct(table=1)\ntable=1,ip,actions=output:2\n';
  it('becomes dpctl/ipf-set-disabled for the families turned off', () => {
    const plan = planOvsPolicy(parsePolicy(text, 'x.flows'));
    expect(plan.ipfDisabled).toEqual(['v4']);
    expect(plan.flowsText.split('\n')[0]).toBe(''); // the directive line is not given to OVS
    expect(plan.flowsText).not.toMatch(/ipf/);
    expect(planOvsPolicy(parsePolicy('ipf v4=off,v6=off\nipf v4=on\nip,actions=drop', 'y.flows')).ipfDisabled).toEqual(['v6']);
    expect(planOvsPolicy(parsePolicy('ip,actions=drop', 'z.flows')).ipfDisabled).toEqual([]);
  });
});

describeWithTools('fragments: model vs OVS 3.1 (ipf)', [OVS_TOOL], () => {
  let ovs: OvsTarget;
  let model: ModelTarget;
  beforeAll(async () => {
    ovs = await OvsTarget.create();
    model = new ModelTarget(new PipelineEngine());
  }, 30_000);
  afterAll(async () => {
    await ovs?.close();
    await model?.close();
  });

  async function compare(t: FragTrace): Promise<{ ovs: ReturnType<typeof norm>[]; model: ReturnType<typeof norm>[] }> {
    const src = { text: t.policy, source: `${t.name}.flows` };
    await ovs.load(src);
    await model.load(src);
    const got = { ovs: [] as ReturnType<typeof norm>[], model: [] as ReturnType<typeof norm>[] };
    let agree = 0;
    for (const [i, s] of t.steps.entries()) {
      const o = norm(await ovs.send(s));
      const m = norm(await model.send(s));
      got.ovs.push(o);
      got.model.push(m);
      if (JSON.stringify(o) === JSON.stringify(m)) agree++;
      else console.log(`[${t.name}] step ${i} t=${s.time} port ${s.port}: ovs ${brief(o)} model ${brief(m)}`);
    }
    console.log(`[${t.name}] ${agree}/${t.steps.length} steps agree`);
    return got;
  }

  it('ipf v6=off reaches OVS (dpctl/ipf-get-status) and is gone with the next policy', async () => {
    await ovs.load({ text: 'ipf v6=off\ntable=0,priority=10,ip,actions=drop', source: 'off.flows' });
    const st = await ovs.instance.appctl('dpctl/ipf-get-status');
    expect(st).toMatch(/v4 enabled: 1/);
    expect(st).toMatch(/v6 enabled: 0/);
    await ovs.load({ text: 'table=0,priority=10,ip,actions=drop', source: 'on.flows' });
    expect(await ovs.instance.appctl('dpctl/ipf-get-status')).toMatch(/v6 enabled: 1/);
  }, 60_000);

  for (const t of fragTraces()) {
    it(`agrees on: ${t.name}`, async () => {
      const got = await compare(t);
      expect(got.model).toEqual(got.ovs);
    }, 60_000);
  }

  it('an expired fragment comes out with ct_state inv WITHOUT trk (lib/ipf.c ipf_send_frags_in_list), not inv|trk as §3.4 says', async () => {
    const t = fragTraces().find((x) => x.name.startsWith('IPv4 first fragment expires'))!;
    await ovs.load({ text: t.policy, source: 'expiry.flows' });
    const v: Verdict[] = [];
    for (const s of t.steps) v.push(await ovs.send(s));
    expect(v[0]).toEqual({ outputs: [], lookups: [] });
    expect(v[1]!.lookups.map((l) => l.state)).toEqual([CS_NEW | CS_TRACKED]); // 15 000 ms: not yet
    // 15 001 ms: the new packet's own lookup and the expired fragment's, in either order.
    const states = v[2]!.lookups.map((l) => l.state).sort((a, b) => a - b);
    expect(states).toEqual([CS_INVALID, CS_NEW | CS_TRACKED].sort((a, b) => a - b));
    // It matched `ct_state=+inv` (port 3) with its bytes unchanged; the packet went to port 2.
    expect(v[2]!.outputs.map((o) => [o.port, o.bytes])).toEqual([[2, t.steps[2]!.frame], [3, t.steps[0]!.frame]]);
    expect(v[3]!.lookups.map((l) => l.state)).toEqual([CS_NEW | CS_TRACKED]);
  }, 60_000);
});
