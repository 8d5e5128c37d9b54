/** The exceptions table is well formed and harness/EXCEPTIONS.md lists exactly its rows. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXCEPTIONS, validateExceptions } from '../../../harness/exceptions.js';
import { compareVerdicts, type ComparisonContext } from '../../../harness/compare/index.js';
import type { PacketReport, VerdictReport } from '../../../harness/report/index.js';
import type { Verdict } from '../../../model/verdict.js';

interface Case { seed: number; path: string; packets: PacketReport[] }
const fixture = JSON.parse(readFileSync(new URL('./fixtures/ovs-reuse-count.json', import.meta.url), 'utf8')) as { cases: Case[]; secondary: Case };

function verdict(v: VerdictReport): Verdict {
  return {
    outputs: v.outputs.map((o) => ({ port: o.port, bytes: Uint8Array.from(Buffer.from(o.bytes, 'hex')) })),
    lookups: v.lookups.map((l) => ({ table: l.table, state: l.state, zone: l.zone, mark: l.mark, label: BigInt(l.label) })),
  };
}

/** Context of the last packet of `packets`, as the runner builds it. */
function lastCtx(packets: PacketReport[], target = 'ovs'): ComparisonContext {
  const p = packets[packets.length - 1]!;
  return {
    target, reference: 'model', step: { time: p.time, port: p.port, frame: Uint8Array.from(Buffer.from(p.frame, 'hex')) }, stepIndex: packets.length - 1,
    expected: verdict(p.expected!), observed: verdict(p.observed!), history: packets.slice(0, -1),
  };
}

describe('exceptions table', () => {
  it('has unique kebab-case ids, reasons, sources, targets and kinds', () => {
    expect(validateExceptions(EXCEPTIONS)).toEqual([]);
    expect(validateExceptions([
      { id: 'Bad Id', kind: 'defect', targets: [], kinds: [], reason: '', source: '', predicate: () => true },
    ])).toHaveLength(5);
  });

  it('ovs-reuse-count-held-until-sweep excuses the two recorded OVS counterexamples, and only them', () => {
    expect(fixture.cases).toHaveLength(4);
    for (const c of fixture.cases) {
      const ctx = lastCtx(c.packets);
      const raw = compareVerdicts(ctx, []);
      expect(raw.differences.length, `seed ${c.seed}`).toBeGreaterThan(0);
      const r = compareVerdicts(ctx);
      expect(r.differences, `seed ${c.seed}`).toEqual([]);
      expect(new Set(r.excused.map((x) => x.rule))).toEqual(new Set(['ovs-reuse-count-held-until-sweep']));
      // Not for another target.
      expect(compareVerdicts(lastCtx(c.packets, 'bmv2')).differences.length).toBe(raw.differences.length);
      // Not without the reopening SYN: drop every pure SYN from the history.
      const noSyn = c.packets.filter((p, i) => i === c.packets.length - 1 || !/syn seq/.test(p.label ?? ''));
      expect(compareVerdicts(lastCtx(noSyn)).differences.length, `seed ${c.seed} without SYN`).toBe(raw.differences.length);
      // Not when time advanced between the SYN and the refused commit (the sweeper would have run).
      const synIdx = c.packets.map((p) => /syn seq/.test(p.label ?? '')).lastIndexOf(true);
      const commitIdx = c.packets.slice(0, -1).map((p) => p.differences.length === 0 && p.excused.length === 0).lastIndexOf(true);
      if (commitIdx > synIdx) {
        const later = c.packets.map((p, i) => (i >= commitIdx ? { ...p, time: p.time + 1 } : p));
        expect(compareVerdicts(lastCtx(later)).differences.length, `seed ${c.seed} with a clock advance`).toBe(raw.differences.length);
      }
      // Not when the model has no entry either (both new|trk, the difference is elsewhere).
      const other = lastCtx(c.packets);
      other.expected = { ...other.expected, lookups: other.expected.lookups.map((l) => ({ ...l, state: 0x21 })) };
      const o2 = compareVerdicts(other);
      expect(o2.excused).toEqual([]);
    }
  });

  it('ovs-reuse-count-held-until-sweep follows the same missing entry past packets it already excused', () => {
    const c = fixture.cases[2]!;
    const prev = c.packets[c.packets.length - 2]!;
    expect(prev.excused.map((x) => x.rule)).toContain('ovs-reuse-count-held-until-sweep');
    expect(compareVerdicts(lastCtx(c.packets)).differences).toEqual([]);
  });

  it('ovs-reuse-count-held-until-sweep also covers a model inv|trk against its entry where OVS has none', () => {
    const c = fixture.cases[2]!;
    const ctx = lastCtx(c.packets);
    ctx.expected = { ...ctx.expected, lookups: ctx.expected.lookups.map((l) => ({ ...l, state: 0x30 })) };
    expect(compareVerdicts(ctx).differences).toEqual([]);
    // …but not when OVS reports anything but new|trk.
    ctx.observed = { ...ctx.observed, lookups: ctx.observed.lookups.map((l) => ({ ...l, state: 0x22 })) };
    expect(compareVerdicts(ctx).differences.length).toBeGreaterThan(0);
  });

  it('ovs-reuse-count-held-until-sweep does not excuse the secondary effect (model refuses a later commit OVS accepts)', () => {
    const r = compareVerdicts(lastCtx(fixture.secondary.packets));
    expect(r.excused).toEqual([]);
    expect(r.differences.map((d) => d.kind)).toContain('ct-state');
  });

  it('is documented row for row in harness/EXCEPTIONS.md', () => {
    const md = readFileSync(new URL('../../../harness/EXCEPTIONS.md', import.meta.url), 'utf8');
    const rows = md.split('\n').filter((l) => /^\| `?[a-z0-9-]+`? \|/.test(l) && !l.startsWith('| id |')).map((l) => l.split('|')[1]!.trim().replace(/`/g, ''));
    expect(rows.sort()).toEqual(EXCEPTIONS.map((x) => x.id).sort());
  });
});
