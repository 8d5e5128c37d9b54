/**
 * Target.replacePolicy on the model, real OVS (`ovs-ofctl --bundle replace-flows`) and bmv2 (the
 * controller core's replacePolicy): a connection established under policy A, the allow rule
 * removed (B), the zone moved (C), and A again. Expected values come from OVS's documented
 * behaviour, not from running it: flow changes leave conntrack alone (docs/conntrack-semantics.md
 * §9.8), so the connection is +est again under A after B and C.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFrame, type FrameSpec } from '../../../model/packet/build.js';
import { PipelineEngine } from '../../../model/pipeline/engine.js';
import { formatCtState } from '../../../model/ctstate.js';
import type { Verdict } from '../../../model/verdict.js';
import { diffVerdicts } from '../../../harness/compare/compare.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import { OvsTarget } from '../../../harness/targets/ovs/target.js';
import { bmv2OffloadConfig, createBmv2Target, type Bmv2Target } from '../../../harness/targets/bmv2/index.js';
import { ContractEngine } from '../../../harness/contract.js';
import type { PolicySource, SendStep, Target } from '../../../harness/targets/target.js';
import { BMV2_TOOL, describeWithTools, OVS_TOOL, P4C_TOOL } from '../../support/tools.js';

/** A: port 1 opens UDP connections in zone 5; established packets pass both ways. */
const policy = (zone: number, allowEst: boolean, source: string): PolicySource => ({
  source,
  text: `table=0,priority=10,ip,actions=ct(zone=${zone},table=1)
table=0,priority=0,actions=drop
table=1,priority=10,in_port=1,ip,ct_state=+trk+new,actions=ct(commit,zone=${zone}),output:2
${allowEst ? '' : '#'}table=1,priority=10,in_port=1,ip,ct_state=+trk+est,actions=output:2
${allowEst ? '' : '#'}table=1,priority=10,in_port=2,ip,ct_state=+trk+est,actions=output:1
table=1,priority=0,actions=drop
`,
});
const A = policy(5, true, 'A.flows');
/** B: the allow rules for established packets removed (commented out: lines stay where they were). */
const B = policy(5, false, 'B.flows');
/** C: A with the zone moved from 5 to 6. */
const C = policy(6, true, 'C.flows');

const udp = (from: 'a' | 'b'): FrameSpec =>
  from === 'a'
    ? { ip: { src: '10.0.0.1', dst: '192.168.1.2' }, udp: { sport: 5000, dport: 53 }, payload: 'query' }
    : { ip: { src: '192.168.1.2', dst: '10.0.0.1' }, udp: { sport: 53, dport: 5000 }, payload: 'answer' };
const step = (time: number, port: number, from: 'a' | 'b'): SendStep => ({ time, port, frame: buildFrame(udp(from)) });

/** What the tests check of a Verdict: output ports and every lookup's zone and ct_state. */
function summary(v: Verdict): { ports: number[]; lookups: string[] } {
  return {
    ports: v.outputs.map((o) => o.port).sort((a, b) => a - b),
    lookups: v.lookups.map((l) => `zone=${l.zone} ${formatCtState(l.state)}`),
  };
}

/**
 * The scenario on one target, returning each step's summary: connection opened and answered
 * under A; B: the next packet of the connection is dropped (its lookup still says +est); C: the
 * same packet is +new in zone 6 and committed there; A again: +est in zone 5, answered.
 */
async function scenario(t: Target, after?: (label: string, v: Verdict) => Promise<void> | void): Promise<Record<string, ReturnType<typeof summary>>> {
  const out: Record<string, ReturnType<typeof summary>> = {};
  const send = async (label: string, s: SendStep): Promise<void> => {
    const v = await t.send(s);
    out[label] = summary(v);
    await after?.(label, v);
  };
  await t.load(A);
  await send('A new', step(0, 1, 'a'));
  await send('A reply', step(1, 2, 'b'));
  await send('A est', step(2, 1, 'a'));
  await t.replacePolicy!(B);
  await send('B est', step(3, 1, 'a'));
  await send('B reply', step(4, 2, 'b'));
  await t.replacePolicy!(C);
  await send('C moved', step(5, 1, 'a'));
  await t.replacePolicy!(A);
  await send('A again', step(6, 1, 'a'));
  await send('A again reply', step(7, 2, 'b'));
  return out;
}

const EXPECTED = {
  'A new': { ports: [2], lookups: ['zone=5 new|trk'] },
  'A reply': { ports: [1], lookups: ['zone=5 est|rpl|trk'] },
  'A est': { ports: [2], lookups: ['zone=5 est|trk'] },
  'B est': { ports: [], lookups: ['zone=5 est|trk'] },
  'B reply': { ports: [], lookups: ['zone=5 est|rpl|trk'] },
  'C moved': { ports: [2], lookups: ['zone=6 new|trk'] },
  'A again': { ports: [2], lookups: ['zone=5 est|trk'] },
  'A again reply': { ports: [1], lookups: ['zone=5 est|rpl|trk'] },
};

/**
 * Coverage counts from the last policy change on, by line of A: the two packets after it pass
 * table 0's ct() (line 1) and one of the +est rules each (lines 4 and 5).
 */
const HITS_SINCE_LAST_CHANGE = { 1: 2, 4: 1, 5: 1 };

describe('model target: replacePolicy', () => {
  it('keeps the connections across policy changes (A → B → C → A)', async () => {
    const m = new ModelTarget(new PipelineEngine());
    expect(await scenario(m)).toEqual(EXPECTED);
    expect((await m.takeEntryHits())!.flows).toEqual(HITS_SINCE_LAST_CHANGE);
  });

  it('refuses an invalid policy before changing anything, and before a load', async () => {
    const m = new ModelTarget(new PipelineEngine());
    await expect(m.replacePolicy(A)).rejects.toThrow(/before a successful load/);
    await m.load(A);
    await m.send(step(0, 1, 'a'));
    const bad = { source: 'bad.flows', text: 'table=0,priority=10,ip,actions=ct(zone=5,table=1)\ntable=1,actions=output:frob\n' };
    await expect(m.replacePolicy(bad)).rejects.toThrow(/bad\.flows:2:/);
    // A still runs, with its connection.
    expect(summary(await m.send(step(1, 2, 'b')))).toEqual(EXPECTED['A reply']);
  });
});

describeWithTools('OVS target: replacePolicy with ovs-ofctl --bundle replace-flows', [OVS_TOOL], () => {
  let t: OvsTarget;
  beforeAll(async () => {
    t = await OvsTarget.create();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('keeps conntrack across flow replacements (A → B → C → A), as the model', async () => {
    expect(await scenario(t)).toEqual(EXPECTED);
    expect((await t.takeEntryHits())!.flows).toEqual(HITS_SINCE_LAST_CHANGE);
    // The connection in zone 5 and the one committed in zone 6 are both still there.
    const dump = (await t.snapshot()).sections[0]!.lines.join('\n');
    expect(dump).toMatch(/zone=5/);
    expect(dump).toMatch(/zone=6/);
  });

  it('a flow OVS refuses leaves the running flows, named by the policy source and line', async () => {
    await t.load(A);
    await t.send(step(0, 1, 'a'));
    const flowsBefore = t.loadedFlows;
    // Parses here (a table number), refused by OVS only: goto a table below the current one.
    const bad = { source: 'bad.flows', text: `${A.text}table=1,priority=20,udp,actions=resubmit(,300)\n` };
    const err = await t.replacePolicy(bad).then(() => null, (e: unknown) => e as { code?: string; message: string });
    expect(err).not.toBeNull();
    expect(err!.message).toMatch(/bad\.flows/);
    expect(t.loadedFlows).toBe(flowsBefore);
    expect(summary(await t.send(step(1, 2, 'b')))).toEqual(EXPECTED['A reply']);
  });

  it('refuses a policy that changes conntrack configuration (zone limits) rather than flows', async () => {
    await t.load(A);
    const lim = { source: 'limit.flows', text: `zone_limit zone=5,limit=3\n${A.text}` };
    await expect(t.replacePolicy(lim)).rejects.toThrow(/limit\.flows: its timeout policies, zone limits or ipf/);
  });
});

describeWithTools('bmv2 target: replacePolicy through the controller core', [BMV2_TOOL, P4C_TOOL], () => {
  it('refuses a policy change before a load', async () => {
    const x = await createBmv2Target({});
    try {
      await expect(x.replacePolicy(A)).rejects.toThrow(/before a successful load/);
    } finally {
      await x.close();
    }
  });

  let t: Bmv2Target;
  beforeAll(async () => {
    t = await createBmv2Target({});
  }, 300_000);
  afterAll(async () => {
    await t?.close();
  });

  it('keeps conntrack across policy changes (A → B → C → A), as the model; no stale hardware decision', async () => {
    // The reference that also knows the offload contract (harness/targets/bmv2/setup.ts): every
    // output byte, lookup and where each packet was decided is compared with bmv2's.
    const model = new ModelTarget(new ContractEngine(bmv2OffloadConfig({})));
    const ref = new Map<string, Verdict>();
    await scenario(model, (label, v) => void ref.set(label, v));
    const where = new Map<string, string[] | undefined>();
    const got = await scenario(t, (label, v) => {
      expect(diffVerdicts(ref.get(label)!, v).map((d) => `${label}: ${d.message}`)).toEqual([]);
      where.set(label, v.offload?.punts);
    });
    expect(got).toEqual(EXPECTED);
    // The established packet was a hardware decision under A (so a stale one could happen
    // under B), and is again after the zone moved away and back (entries revalidated).
    expect(where.get('A est')).toEqual([]);
    expect(where.get('A again')).toEqual([]);
    console.log(`bmv2 decisions: ${JSON.stringify(Object.fromEntries(where))}`);
    const st = t.status()!;
    expect(st.policyChanges.replaced).toBe(3);
    // A → B kept the program (policy tables rewritten); the zone move to C and back needed the
    // other program pushed, every connection written again.
    expect(st.reinstalls).toBe(2);
    // An invalid policy is refused before anything changes: A still runs, the connection with it.
    const bad = { source: 'bad.flows', text: 'table=0,priority=10,ip,actions=ct(zone=5,table=1)\ntable=1,actions=output:frob\n' };
    await expect(t.replacePolicy(bad)).rejects.toThrow(/bad\.flows:2:/);
    expect(summary(await t.send(step(8, 2, 'b')))).toEqual(EXPECTED['A again reply']);
    // A policy needing other tables (a third stage) is refused the same way: P4Info differs.
    const staged = { source: 'staged.flows', text: A.text.replace('actions=output:1', 'actions=resubmit(,2)') + 'table=2,priority=0,actions=output:1\n' };
    await expect(t.replacePolicy(staged)).rejects.toThrow(/staged\.flows: the new policy's P4Info differs/);
    expect(summary(await t.send(step(9, 2, 'b')))).toEqual(EXPECTED['A again reply']);
    expect(t.status()!.policyChanges.replaced).toBe(3);
  });
});
