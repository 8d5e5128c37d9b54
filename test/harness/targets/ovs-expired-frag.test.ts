/**
 * The `ovs-expired-fragment-uninit-ct-fields` row (harness/exceptions.ts, harness/EXCEPTIONS.md,
 * docs/conntrack-semantics.md §3.4): OVS 3.1 releases an expired ipf fragment with ct_state
 * `inv` alone and ct_zone/ct_mark/ct_label never initialised. Found by
 * `ctoffload conformance --target ovs --policy examples/firewall.flows --seed 1 --path 260`
 * (packet 11: a mid-stream TCP ACK 15 s after a lone later fragment; OVS reported the released
 * fragment's lookup in zone 1, the model in zone 0).
 *
 * Both ways: synthetic contexts through the real comparator (the row excuses exactly the
 * signature, not a genuine disagreement of the same packet kind), and the minimised trace
 * through the model and real OVS (no unexcused difference).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithTools, OVS_TOOL } from '../../support/tools.js';
import { compareVerdicts, EXCEPTIONS } from '../../../harness/compare/index.js';
import type { ComparisonContext } from '../../../harness/compare/types.js';
import { OvsTarget } from '../../../harness/targets/ovs/target.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import { CS_ESTABLISHED, CS_INVALID, CS_NEW, CS_TRACKED } from '../../../model/ctstate.js';
import { buildFrame } from '../../../model/packet/build.js';
import { PipelineEngine } from '../../../model/pipeline/index.js';
import type { CtLookup, Verdict } from '../../../model/verdict.js';
import { A4, frags, udpFrame } from '../../model/pipeline/frag-traces.js';

const ROW = 'ovs-expired-fragment-uninit-ct-fields';
const POLICY = { text: readFileSync(new URL('../../../examples/firewall.flows', import.meta.url), 'utf8'), source: 'examples/firewall.flows' };

/** A lone later (last) fragment of a UDP datagram: ipf holds it until its list expires. */
const laterFragment = (): Uint8Array => frags(udpFrame(A4, 117, 91, 5876, 5000), [64])[1]!;
/** A mid-stream TCP ACK (no SYN): `new` by OVS's tcp_valid_new, committed by the firewall. */
const midStreamAck = (): Uint8Array =>
  buildFrame({ ip: { ...A4, id: 5 }, tcp: { sport: 40001, dport: 80, flags: 'A', seq: 3688515821, ack: 4063312390, win: 32768 } });

const look = (state: number, zone: number, mark = 0, label = 0n, table = 1): CtLookup => ({ table, state, zone, mark, label });
const ctx = (expected: CtLookup[], observed: CtLookup[], target = 'ovs'): ComparisonContext => ({
  target, reference: 'model', step: { time: 15_001, port: 1, frame: midStreamAck() }, stepIndex: 1,
  expected: { outputs: [], lookups: expected }, observed: { outputs: [], lookups: observed },
});
const NEW = CS_NEW | CS_TRACKED;
const GARBAGE = { zone: 1, mark: 0x6d6c6b6a, label: 0x6e6f707172737475767778797a7b7c7dn };

describe(`${ROW}: the row's predicate`, () => {
  it('excuses the released fragment\'s zone, mark and label when both sides say inv without trk', () => {
    const c = compareVerdicts(ctx([look(NEW, 1), look(CS_INVALID, 0)], [look(NEW, 1), look(CS_INVALID, GARBAGE.zone, GARBAGE.mark, GARBAGE.label)]));
    expect(c.differences).toEqual([]);
    expect(c.excused.map((e) => [e.rule, e.diff.kind, e.diff.lookupIndex])).toEqual([
      [ROW, 'ct-zone', 1], [ROW, 'ct-mark', 1], [ROW, 'ct-label', 1],
    ]);
  });

  it('does not excuse a genuine zone difference of the same packet kind (inv|trk, est, new)', () => {
    for (const st of [CS_INVALID | CS_TRACKED, CS_ESTABLISHED | CS_TRACKED, NEW]) {
      const c = compareVerdicts(ctx([look(NEW, 1), look(st, 0)], [look(NEW, 1), look(st, 1)]));
      expect(c.differences.map((d) => d.kind), `state 0x${st.toString(16)}`).toEqual(['ct-zone']);
      expect(c.excused).toEqual([]);
    }
    // The packet's own lookup differs, the fragment's agrees: nothing excused.
    const own = compareVerdicts(ctx([look(NEW, 1), look(CS_INVALID, 0)], [look(NEW, 2), look(CS_INVALID, 0)]));
    expect(own.differences.map((d) => [d.kind, d.lookupIndex])).toEqual([['ct-zone', 0]]);
    expect(own.excused).toEqual([]);
  });

  it('does not excuse a state, table or count difference, nor a fragment the reference holds with written fields, nor another target', () => {
    const state = compareVerdicts(ctx([look(NEW, 1), look(CS_INVALID | CS_TRACKED, 0)], [look(NEW, 1), look(CS_INVALID, 1)]));
    expect(state.differences.map((d) => d.kind).sort()).toEqual(['ct-state', 'ct-zone']);
    const table = compareVerdicts(ctx([look(NEW, 1), look(CS_INVALID, 0, 0, 0n, 1)], [look(NEW, 1), look(CS_INVALID, 1, 0, 0n, 2)]));
    expect(table.differences.map((d) => d.kind).sort()).toEqual(['ct-zone', 'lookup-table']);
    const count = compareVerdicts(ctx([look(NEW, 1)], [look(NEW, 1), look(CS_INVALID, 1)]));
    expect(count.differences.map((d) => d.kind)).toEqual(['lookup-count']);
    // Held while tracked (fields OVS did write, §3.4): compared.
    const written = compareVerdicts(ctx([look(NEW, 1), look(CS_INVALID, 5, 7)], [look(NEW, 1), look(CS_INVALID, 1, 7)]));
    expect(written.differences.map((d) => d.kind)).toEqual(['ct-zone']);
    const bmv2 = compareVerdicts(ctx([look(NEW, 1), look(CS_INVALID, 0)], [look(NEW, 1), look(CS_INVALID, 1)], 'bmv2'));
    expect(bmv2.differences.map((d) => d.kind)).toEqual(['ct-zone']);
    expect(EXCEPTIONS.filter((r) => r.id === ROW)).toHaveLength(1);
  });
});

describeWithTools(`${ROW}: the minimised trace, model vs OVS 3.1`, [OVS_TOOL], () => {
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

  it('a later fragment held at t=0 is released into a mid-stream ACK at 15 001 ms: no unexcused difference', async () => {
    await ovs.load(POLICY);
    await model.load(POLICY);
    const steps = [
      { time: 0, port: 1, frame: laterFragment() },
      { time: 15_001, port: 1, frame: midStreamAck() },
    ];
    const seen: Verdict[] = [];
    for (const [i, step] of steps.entries()) {
      const expected = await model.send(step);
      const observed = await ovs.send(step);
      seen.push(observed);
      const c = compareVerdicts({ target: 'ovs', reference: 'model', step, stepIndex: i, expected, observed });
      expect(c.differences, `packet ${i}`).toEqual([]);
      expect(c.excused.every((e) => e.rule === ROW), `packet ${i}`).toBe(true);
      if (c.excused.length) console.log(`[${ROW}] packet ${i}: excused ${c.excused.map((e) => `${e.diff.kind} expected ${String(e.diff.expected)} observed ${String(e.diff.observed)}`).join('; ')}`);
    }
    expect(seen[0]).toEqual({ outputs: [], lookups: [] }); // held
    // The ACK's own lookup (committed, to port 2), then the released fragment's: inv WITHOUT trk.
    expect(seen[1]!.lookups.map((l) => [l.table, l.state])).toEqual([[1, NEW], [1, CS_INVALID]]);
    expect(seen[1]!.outputs.map((o) => o.port)).toEqual([2]);
  }, 60_000);
});
