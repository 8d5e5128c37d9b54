/**
 * The comparator: every difference kind, output-order normalisation (the OVS target's order:
 * ascending port, controller last) and the exceptions table (only listed rows excuse, counted).
 */
import { describe, expect, it } from 'vitest';
import {
  compareVerdicts, diffVerdicts, formatComparison, formatVerdict, normalizeOutputs, tupleVisible,
  type ComparisonContext, type ExceptionRule,
} from '../../../harness/compare/index.js';
import { CS_ESTABLISHED, CS_INVALID, CS_NEW, CS_REPLY_DIR, CS_RELATED, CS_TRACKED } from '../../../model/ctstate.js';
import { PORT_CONTROLLER, type CtLookup, type Verdict } from '../../../model/verdict.js';

const b = (...x: number[]): Uint8Array => Uint8Array.from(x);
const lk = (state: number, o: Partial<CtLookup> = {}): CtLookup => ({ table: 1, state, zone: 5, mark: 0, label: 0n, ...o });
const NEW = CS_NEW | CS_TRACKED;
const EST = CS_ESTABLISHED | CS_TRACKED;

function ctx(expected: Verdict, observed: Verdict, target = 'ovs'): ComparisonContext {
  return { target, reference: 'model', step: { time: 0, port: 1, frame: b(1, 2, 3) }, stepIndex: 0, expected, observed };
}

describe('normalizeOutputs', () => {
  it('sorts by ascending port, controller last, keeping emission order within a port', () => {
    const outs = [
      { port: PORT_CONTROLLER, bytes: b(9) },
      { port: 3, bytes: b(1) },
      { port: 1, bytes: b(2) },
      { port: 3, bytes: b(3) },
      { port: PORT_CONTROLLER, bytes: b(8) },
      { port: 1, bytes: b(4) },
    ];
    const n = normalizeOutputs(outs);
    expect(n.map((o) => [o.port, o.bytes[0]])).toEqual([[1, 2], [1, 4], [3, 1], [3, 3], [PORT_CONTROLLER, 9], [PORT_CONTROLLER, 8]]);
    expect(outs[0]!.port).toBe(PORT_CONTROLLER); // input untouched
  });
});

describe('diffVerdicts', () => {
  it('finds nothing for equal verdicts, whatever the cross-port order', () => {
    const a: Verdict = { outputs: [{ port: 2, bytes: b(1) }, { port: PORT_CONTROLLER, bytes: b(2) }, { port: 1, bytes: b(3) }], lookups: [lk(NEW)] };
    const c: Verdict = { outputs: [{ port: 1, bytes: b(3) }, { port: 2, bytes: b(1) }, { port: PORT_CONTROLLER, bytes: b(2) }], lookups: [lk(NEW)] };
    expect(diffVerdicts(a, c)).toEqual([]);
  });

  it('reports each ct field of a lookup separately, with its index', () => {
    const a: Verdict = { outputs: [], lookups: [lk(NEW), lk(EST, { zone: 1, mark: 1, label: 5n })] };
    const c: Verdict = { outputs: [], lookups: [lk(NEW), lk(EST | CS_REPLY_DIR, { zone: 2, mark: 0x10, label: 0x1234n })] };
    const d = diffVerdicts(a, c);
    expect(d.map((x) => [x.kind, x.lookupIndex])).toEqual([['ct-state', 1], ['ct-zone', 1], ['ct-mark', 1], ['ct-label', 1]]);
    expect(d[0]).toMatchObject({ expected: 'est|trk', observed: 'est|rpl|trk' });
    expect(d[2]).toMatchObject({ expected: '0x1', observed: '0x10' });
    expect(d[3]).toMatchObject({ expected: '0x5', observed: '0x1234' });
    expect(d[0]!.message).toContain('lookup 1 (table 1): ct_state expected est|trk, observed est|rpl|trk');
  });

  it('reports lookup-count and compares the common prefix; lookup-table for a different table', () => {
    const d = diffVerdicts({ outputs: [], lookups: [lk(NEW), lk(EST)] }, { outputs: [], lookups: [lk(CS_INVALID | CS_TRACKED, { table: 3 })] });
    expect(d.map((x) => x.kind)).toEqual(['lookup-count', 'lookup-table', 'ct-state']);
    expect(d[0]).toMatchObject({ expected: 2, observed: 1 });
    expect(d[1]).toMatchObject({ lookupIndex: 0, expected: 1, observed: 3 });
  });

  it('reports missing, extra and changed outputs per port', () => {
    const a: Verdict = { outputs: [{ port: 1, bytes: b(1, 2, 3) }, { port: 2, bytes: b(4) }], lookups: [] };
    const c: Verdict = { outputs: [{ port: 1, bytes: b(1, 9, 3) }, { port: PORT_CONTROLLER, bytes: b(4) }], lookups: [] };
    const d = diffVerdicts(a, c);
    expect(d.map((x) => [x.kind, x.port])).toEqual([['output-bytes', 1], ['outputs-missing', 2], ['outputs-extra', PORT_CONTROLLER]]);
    expect(d[0]).toMatchObject({ expected: '010203', observed: '010903' });
    expect(d[0]!.message).toContain('offset 1');
    expect(d[2]!.message).toContain('controller');
  });

  it('matches outputs on one port as a multiset: a dropped copy is missing, not a byte change', () => {
    const a: Verdict = { outputs: [{ port: 2, bytes: b(1) }, { port: 2, bytes: b(2) }], lookups: [] };
    const c: Verdict = { outputs: [{ port: 2, bytes: b(2) }], lookups: [] };
    expect(diffVerdicts(a, c).map((x) => [x.kind, x.outputIndex, x.expected])).toEqual([['outputs-missing', 0, '01']]);
  });

  it('reports output-order when the same outputs leave one port in another order', () => {
    const a: Verdict = { outputs: [{ port: 2, bytes: b(1) }, { port: 2, bytes: b(2) }], lookups: [] };
    const c: Verdict = { outputs: [{ port: 2, bytes: b(2) }, { port: 2, bytes: b(1) }], lookups: [] };
    expect(diffVerdicts(a, c).map((x) => x.kind)).toEqual(['output-order']);
  });

  it('compares output ct fields only when both sides report them', () => {
    const ct = { state: EST, zone: 1, mark: 0, label: 0n };
    const a: Verdict = { outputs: [{ port: 2, bytes: b(1), ct }], lookups: [] };
    expect(diffVerdicts(a, { outputs: [{ port: 2, bytes: b(1) }], lookups: [] })).toEqual([]);
    const d = diffVerdicts(a, { outputs: [{ port: 2, bytes: b(1), ct: { ...ct, state: NEW } }], lookups: [] });
    expect(d.map((x) => x.kind)).toEqual(['output-ct']);
  });
});

describe('exceptions', () => {
  const rpl: ExceptionRule = {
    id: 'test-rpl-relaxed', kind: 'expected-relaxation', targets: ['bmv2'], kinds: ['ct-state'],
    reason: 'test row', source: 'test',
    predicate: (d, c) => d.lookupIndex === 0 && (c.expected.lookups[0]!.state & ~CS_REPLY_DIR) === (c.observed.lookups[0]!.state & ~CS_REPLY_DIR),
  };
  const a: Verdict = { outputs: [], lookups: [lk(EST | CS_REPLY_DIR)] };
  const obs: Verdict = { outputs: [], lookups: [lk(EST)] };

  it('excuses only the listed kind, for the listed target, when the predicate holds', () => {
    const r = compareVerdicts(ctx(a, obs, 'bmv2'), [rpl]);
    expect(r.differences).toEqual([]);
    expect(r.excused.map((x) => [x.rule, x.diff.kind])).toEqual([['test-rpl-relaxed', 'ct-state']]);
    // Another target: not excused.
    expect(compareVerdicts(ctx(a, obs, 'ovs'), [rpl]).differences.map((x) => x.kind)).toEqual(['ct-state']);
    // Predicate false (a different bit differs): not excused.
    const other: Verdict = { outputs: [], lookups: [lk(CS_RELATED | CS_TRACKED)] };
    expect(compareVerdicts(ctx(a, other, 'bmv2'), [rpl]).differences.map((x) => x.kind)).toEqual(['ct-state']);
    // Other kinds of the same packet stay.
    const both: Verdict = { outputs: [], lookups: [lk(EST, { zone: 9 })] };
    const r2 = compareVerdicts(ctx(a, both, 'bmv2'), [rpl]);
    expect(r2.differences.map((x) => x.kind)).toEqual(['ct-zone']);
    expect(r2.excused).toHaveLength(1);
    expect(formatComparison(r2)).toMatch(/✗ ct-zone[\s\S]*~ ct-state \(excused by test-rpl-relaxed\)/);
  });

  it('the default table excuses nothing without a matching situation', () => {
    expect(compareVerdicts(ctx(a, obs, 'bmv2')).differences).toHaveLength(1);
    expect(compareVerdicts(ctx(a, obs, 'ovs')).differences).toHaveLength(1);
  });
});

describe('helpers', () => {
  it('tupleVisible follows §1.6: new, est or rpl, and a protocol', () => {
    expect(tupleVisible(NEW, 6)).toBe(true);
    expect(tupleVisible(CS_INVALID | CS_TRACKED, 6)).toBe(false);
    expect(tupleVisible(CS_RELATED | CS_TRACKED, 1)).toBe(false);
    expect(tupleVisible(EST, 0)).toBe(false);
  });

  it('formatVerdict prints lookups then normalised outputs', () => {
    const v: Verdict = { outputs: [{ port: PORT_CONTROLLER, bytes: b(1) }, { port: 2, bytes: b(1, 2) }], lookups: [lk(EST | CS_REPLY_DIR, { mark: 0x21 })] };
    expect(formatVerdict(v)).toBe('ct[1]=est|rpl|trk z5 m0x21 → 2(2B) controller(1B)');
    expect(formatVerdict({ outputs: [], lookups: [] })).toBe('no ct → drop');
    // ct fields reported only with the outputs (bmv2's probe): shown there
    const ct = { state: 0x2a, zone: 1, mark: 0, label: 0n };
    expect(formatVerdict({ outputs: [{ port: 1, bytes: new Uint8Array(42), ct }], lookups: [] })).toBe('ct at output → 1(42B est|rpl|trk z1)');
    expect(formatVerdict({ outputs: [{ port: 2, bytes: new Uint8Array(42), ct: { ...ct, state: 0, zone: 0 } }], lookups: [] })).toBe('ct at output → 2(42B untracked)');
  });
});
