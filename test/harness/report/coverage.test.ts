/**
 * Coverage in every report (harness/report/coverage.ts, PropertyReport.coverage): ct_state
 * combinations per lookup site from the reference, the punt reasons the offload contract allows
 * (a reference that knows the contract: harness/contract.ts's ContractEngine), the punts the
 * target reports, the one-line summary, and the merge of shards' coverage.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CS_NEW } from '../../../model/ctstate.js';
import type { Verdict } from '../../../model/verdict.js';
import { ContractEngine } from '../../../harness/contract.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import { checkReport, coverageLine, mergeReportDirs, neverHitReasons } from '../../../harness/report/index.js';
import { runConformance } from '../../../harness/runner/index.js';
import { DefectTarget, modelTarget, POLICY } from '../runner/fake-target.js';

const root = mkdtempSync(join(tmpdir(), 'cto-coverage-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const base = { policy: POLICY, reference: modelTarget, target: modelTarget, runs: 20, seed: 5, stateSnapshot: false } as const;

describe('coverage', () => {
  it('counts reference lookups per site and ct_state; no punt information from the model', async () => {
    const r = await runConformance(base);
    const c = r.coverage!;
    expect(Object.keys(c.lookups)).toContain('table=1 zone=5');
    // Per-site counts add up to the per-state totals.
    const total: Record<string, number> = {};
    for (const site of Object.values(c.lookups)) for (const [k, v] of Object.entries(site)) total[k] = (total[k] ?? 0) + v;
    expect(total).toEqual(r.counts.states);
    expect(c.allowed).toEqual({});
    expect(c.punts).toEqual({});
    expect(c.puntReasons).toContain('CT_MISS');
    expect(c.puntReasons).not.toContain('CONTROLLER');
    expect(coverageLine(c)).toMatch(/punt reasons: not reported by this target or reference; \d+ ct_state combination\(s\) at 1 lookup site\(s\) \(table=1 zone=5: .*new\|trk.*\)$/);
  });

  it('counts the outcomes the contract allows (reference that knows the contract) and the target\'s punts', async () => {
    const reference = async (): Promise<ModelTarget> => new ModelTarget(new ContractEngine());
    const a = await runConformance({ ...base, reference });
    expect(a.status).toBe('passed');
    expect(a.coverage!.allowed.CT_MISS).toBeGreaterThan(0);
    expect(a.coverage!.allowed.hardware).toBeGreaterThan(0);
    expect(a.coverage!.punts).toEqual({});
    expect(neverHitReasons(a.coverage!)).not.toContain('CT_MISS');
    expect(neverHitReasons(a.coverage!)).toContain('ALG'); // the policy has no ALG
    expect(coverageLine(a.coverage!)).toMatch(/punt reasons \d+\/\d+ hit \(never: .*ALG/);
    // A target that punts every lookup of a new connection as CT_MISS and decides the rest
    // (against the plain model, which states no contract: nothing to disagree with).
    const punting = async (): Promise<DefectTarget> => DefectTarget.model((_s, v): Verdict => ({ ...v, offload: { punts: v.lookups.some((l) => l.state & CS_NEW) ? ['CT_MISS'] : [] } }));
    const b = await runConformance({ ...base, target: punting });
    expect(b.status).toBe('passed');
    expect(b.coverage!.punts.CT_MISS).toBeGreaterThan(0);
    expect(b.coverage!.punts.hardware).toBeGreaterThan(0);
    expect(b.coverage!.punts.CT_MISS! + b.coverage!.punts.hardware!).toBe(b.counts.packets);
  });

  it('is in report.json, summed over shards by the merge', async () => {
    const whole = await runConformance(base);
    const dirs: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const d = join(root, `s${i}`);
      await runConformance({ ...base, shard: { index: i, count: 3 }, reportDir: d });
      dirs.push(d);
    }
    const { report } = mergeReportDirs(dirs, join(root, 'merged'));
    expect(checkReport(JSON.parse(JSON.stringify(report)))).toEqual([]);
    expect(report.properties[0]!.coverage).toEqual(whole.coverage);
  });
});
