/**
 * bmv2 target vs the model on generated traffic (harness/arbitraries), packet by packet
 * (outputs, bytes and their ct fields, and every recirculating lookup). The only differences
 * allowed are the expected offload relaxations, each with the precise predicate proposed for
 * harness/exceptions.ts (harness/targets/bmv2/exceptions.ts, applied here through the comparator):
 *  - `bmv2-no-length-checksum-validation`: the frame fails only a check the data plane does not
 *    make (PacketView ctStatus L3_BAD_HEADER, L4_TRUNCATED or L4_BAD_CSUM), the reference
 *    answered inv at a lookup, bmv2 emitted outputs and none carries inv (an entry decided);
 *  - `bmv2-hw-no-tcp-seq-chk` (tcpSeqCheck on in the controller's model, the oracle mode's
 *    default): a trackable TCP packet without SYN/FIN/RST, the reference answered inv at a
 *    lookup, every bmv2 output carries an established ct_state (the hardware entry decided it);
 *  - `bmv2-tcp-seq-chk-disabled` (the deployed default: hardware ageing, tcpSeqCheck off, OVS
 *    ct-disable-tcp-seq-chk semantics in the slow path): the difference — offload contract
 *    included — disappears when the reference runs with tcpSeqCheck off.
 * The deployed default is also checked against the offload contract (harness/contract.ts), and
 * its speculative rounds against lock-step.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PipelineEngine } from '../../../model/pipeline/engine.js';
import { compareVerdicts } from '../../../harness/compare/compare.js';
import type { PacketReport } from '../../../harness/report/schema.js';
import { EXCEPTIONS } from '../../../harness/exceptions.js';
import { BMV2_EXCEPTIONS, bmv2OffloadConfig, tcpSeqChkDisabledRule } from '../../../harness/targets/bmv2/index.js';
import { ContractEngine } from '../../../harness/contract.js';
import { scenarioArb, renderScenarioDetailed } from '../../../harness/arbitraries/index.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import { Bmv2Target, createBmv2Target } from '../../../harness/targets/bmv2/index.js';
import { describeWithTools, BMV2_TOOL, P4C_TOOL } from '../../support/tools.js';

const TOOLS = [
  BMV2_TOOL,
  P4C_TOOL,
];

const POLICY = {
  source: 'bmv2-prop.flows',
  text: `table=0,priority=10,ip,actions=ct(zone=1,table=1)
table=0,priority=10,ipv6,actions=ct(zone=1,table=1)
table=0,priority=0,actions=drop
table=1,priority=10,in_port=1,ip,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=10,in_port=1,ipv6,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=10,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=8,ct_state=+trk+rel,actions=output:1
table=1,priority=5,ct_state=+trk+inv,actions=controller
table=1,priority=0,actions=drop
`,
};

const RUNS = Number(process.env.CTOFFLOAD_BMV2_PROP_RUNS ?? 40);
const traffic = scenarioArb({ flows: { min: 1, max: 3 }, events: { min: 0, max: 5 } });

describeWithTools('bmv2 target vs model on generated traffic', TOOLS, () => {
  /** Oracle mode (exact ageing, sequence checks on in the slow path). */
  let bmv2Exact: Bmv2Target;
  /** The deployed default (hardware ageing, sequence checks off), windowed and lock-step. */
  let bmv2: Bmv2Target;
  let lockstep: Bmv2Target;
  const config = bmv2OffloadConfig({});
  const strictPlain = new ModelTarget(new PipelineEngine());
  const strict = new ModelTarget(new ContractEngine(config));
  const relaxed = new ModelTarget(new ContractEngine(config, { tcpSeqCheck: false }));

  beforeAll(async () => {
    [bmv2Exact, bmv2, lockstep] = await Promise.all([
      createBmv2Target({ policy: POLICY, ageing: 'exact' }),
      createBmv2Target({ policy: POLICY }),
      createBmv2Target({ policy: POLICY, window: 1 }),
    ]);
    await Promise.all([strictPlain.load(POLICY), strict.load(POLICY), relaxed.load(POLICY)]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([bmv2Exact?.close(), bmv2?.close(), lockstep?.close()]);
  });

  const counts = (excused: { rule: string }[], n: Record<string, number>): void => {
    for (const r of new Set(excused.map((x) => x.rule))) n[r] = (n[r] ?? 0) + 1;
  };
  const hist = (i: number, step: { time: number; port: number; frame: Uint8Array }): PacketReport => ({
    index: i, time: step.time, port: step.port, frame: Buffer.from(step.frame).toString('hex'), expected: null, observed: null, differences: [], excused: [],
  });

  it(`${RUNS} generated traces (oracle mode, exact ageing): only the listed relaxations differ from the strict reference`, async () => {
    const samples = fc.sample(traffic, { numRuns: RUNS, seed: 4242 });
    const n: Record<string, number> = { packets: 0 };
    for (const [k, sc] of samples.entries()) {
      const { trace, steps } = renderScenarioDetailed(sc);
      await Promise.all([bmv2Exact.reset(), strictPlain.reset()]);
      for (const [i, step] of trace.entries()) {
        const observed = await bmv2Exact.send(step);
        const expected = await strictPlain.send(step);
        n.packets!++;
        const c = compareVerdicts({ target: 'bmv2', reference: 'model', step, stepIndex: i, expected, observed }, [...EXCEPTIONS, ...BMV2_EXCEPTIONS]);
        expect(c.differences.map((x) => `trace ${k} packet ${i} (${steps[i]?.label ?? ''}, t=${step.time}): ${x.message}`)).toEqual([]);
        counts(c.excused, n);
      }
    }
    process.stderr.write(`\n[bmv2 prop, oracle mode, tcpSeqCheck on] ${RUNS} traces: ${JSON.stringify(n)}; ${bmv2Exact.stats.puntedSteps} punted steps, ${bmv2Exact.stats.hardwareOutputs} hardware outputs, ${bmv2Exact.stats.slowPathOutputs} slow-path outputs\n`);
    expect(bmv2Exact.stats.strayOutputs).toBe(0);
    expect(bmv2Exact.stats.resetLeftovers).toBe(0);
    expect(bmv2Exact.stats.hardwareOutputs).toBeGreaterThan(0);
  }, 120_000);

  it(`${Math.ceil(RUNS / 2)} generated traces in the deployed default (hardware ageing, tcpSeqCheck off): bmv2 = reference with ct-disable-tcp-seq-chk, offload contract kept`, async () => {
    const samples = fc.sample(traffic, { numRuns: Math.ceil(RUNS / 2), seed: 777 });
    const rules = [...EXCEPTIONS, ...BMV2_EXCEPTIONS, tcpSeqChkDisabledRule(POLICY, config)];
    const n: Record<string, number> = { packets: 0 };
    for (const [k, sc] of samples.entries()) {
      const { trace, steps } = renderScenarioDetailed(sc);
      await Promise.all([bmv2.reset(), strict.reset(), relaxed.reset()]);
      const history: PacketReport[] = [];
      for (const [i, step] of trace.entries()) {
        const observed = await bmv2.send(step);
        const rel = await relaxed.send(step);
        const expected = await strict.send(step);
        n.packets!++;
        // against the relaxed reference: only the hardware rows
        const r = compareVerdicts({ target: 'bmv2', reference: 'model', step, stepIndex: i, expected: rel, observed }, [...EXCEPTIONS, ...BMV2_EXCEPTIONS]);
        expect(r.differences.map((x) => `trace ${k} packet ${i} (${steps[i]?.label ?? ''}): ${x.message}`)).toEqual([]);
        // against the strict reference: the tcp-seq-chk-disabled row covers the rest
        const c = compareVerdicts({ target: 'bmv2', reference: 'model', step, stepIndex: i, expected, observed, history }, rules);
        expect(c.differences.map((x) => `trace ${k} packet ${i} (${steps[i]?.label ?? ''}): ${x.message}`)).toEqual([]);
        counts(c.excused, n);
        history.push(hist(i, step));
      }
    }
    process.stderr.write(`\n[bmv2 prop, deployed default] ${JSON.stringify(n)}; ${bmv2.stats.puntedSteps} punted of ${bmv2.stats.steps} steps\n`);
    expect(bmv2.stats.strayOutputs).toBe(0);
  }, 120_000);

  it(`${RUNS} generated traces sent whole (speculative rounds) give exactly the lock-step Verdicts`, async () => {
    // Traffic with many punts and expiries, so rounds are cut by writes and by ageing.
    const samples = fc.sample(scenarioArb({ flows: { min: 1, max: 4 }, events: { min: 0, max: 6 } }), { numRuns: RUNS, seed: 9191 });
    const s0 = { ...bmv2.stats };
    let packets = 0;
    for (const [k, sc] of samples.entries()) {
      const { trace } = renderScenarioDetailed(sc);
      await Promise.all([bmv2.reset(), lockstep.reset()]);
      const batch = await bmv2.sendBatch(trace);
      const one = [];
      for (const step of trace) one.push(await lockstep.send(step));
      packets += trace.length;
      expect(batch.length, `trace ${k}`).toBe(trace.length);
      for (let i = 0; i < trace.length; i++) expect(batch[i], `trace ${k} packet ${i}`).toEqual(one[i]);
    }
    const d = (f: keyof typeof s0): number => bmv2.stats[f] - s0[f];
    process.stderr.write(`\n[bmv2 prop, speculative] ${RUNS} traces, ${packets} packets: ${d('rounds')} rounds, ${d('discarded')} inputs discarded and resent, ${d('discardedPacketIns')} PacketIns dropped unserved\n`);
    expect(d('steps')).toBe(packets);
    expect(d('rounds')).toBeLessThan(packets); // inputs did go out together
    expect(d('discarded')).toBeGreaterThan(0); // and the cut path was exercised
    expect(bmv2.stats.strayOutputs).toBe(0);
  }, 180_000);
});
