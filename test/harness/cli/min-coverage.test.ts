/**
 * `ctoffload conformance --min-coverage` (docs/exit-codes.md): an agreeing run that leaves a
 * named part unexercised exits 5 and names what was never hit; a disagreement (1) wins over it;
 * a bad specification is a usage error (2); a run that meets it exits 0. `report merge
 * --min-coverage` judges a sharded campaign's merged coverage the same way.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runConformanceCli } from '../../../harness/cli/conformance.js';
import { runReportCli } from '../../../harness/cli/report.js';
import { EXIT_COVERAGE, type CliIo } from '../../../harness/cli/command.js';
import { DefectTarget, estAfterRstBecomesNew, POLICY } from '../runner/fake-target.js';

const dir = mkdtempSync(join(tmpdir(), 'cto-mincov-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const policyFile = join(dir, 'p.flows');
// Line 9 is in a table nothing reaches; line 8 (table 1's non-IP miss) only non-IP packets, which never reach table 1.
writeFileSync(policyFile, `${POLICY.text}table=9,priority=1,actions=drop\n`);

function io(): CliIo & { o: string; e: string } {
  const x = { o: '', e: '', out: (s: string) => void (x.o += s), err: (s: string) => void (x.e += s) };
  return x;
}
const fake = { targetFactory: async (n: string) => (n === 'fake' ? async () => DefectTarget.model(estAfterRstBecomesNew) : null), progress: false };
const base = ['--target', 'model', '--policy', policyFile, '--runs', '20', '--seed', '4'];

describe('conformance --min-coverage', () => {
  it('exits 5 when an agreeing run leaves entries unhit, naming them', async () => {
    expect(EXIT_COVERAGE).toBe(5);
    const x = io();
    expect(await runConformanceCli([...base, '--min-coverage', 'entries=100'], x)).toBe(5);
    expect(x.o).toContain('PASSED');
    expect(x.o).toMatch(/coverage: policy entries 7\/9 hit \(never: p\.flows:8, p\.flows:9\)/);
    expect(x.o).toContain('COVERAGE BELOW --min-coverage:');
    expect(x.o).toContain('entries: 7/9 = 77.8% < required 100%; never hit: p.flows:8, p.flows:9');
    expect(x.e).toContain('coverage below --min-coverage entries=100');
  });

  it('exits 0 when the coverage is met; the JSON summary says so', async () => {
    const x = io();
    expect(await runConformanceCli([...base, '--min-coverage', 'entries=77.7', '--json'], x)).toBe(0);
    const j = JSON.parse(x.o) as { minCoverage: { met: boolean; shortfalls: unknown[] } };
    expect(j.minCoverage).toEqual({ met: true, shortfalls: [] });
    const y = io();
    expect(await runConformanceCli([...base, '--min-coverage', 'all'], y)).toBe(5); // entries only (punts unmeasurable): 77.8%
    expect(y.o).toContain('never hit: p.flows:8, p.flows:9');
  });

  it('a part the model cannot measure fails when named', async () => {
    const x = io();
    expect(await runConformanceCli([...base, '--min-coverage', 'punts=10'], x)).toBe(5);
    expect(x.o).toContain('punts: required 10%, not measurable: neither the model target nor its reference reports punt reasons');
  });

  it('a disagreement (exit 1) takes precedence over a coverage shortfall', async () => {
    const x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--seed', '42', '--runs', '200', '--min-coverage', 'entries=100'], x, fake)).toBe(1);
    expect(x.o).not.toContain('COVERAGE BELOW');
  });

  it('a bad specification is a usage error (2) naming the item', async () => {
    const x = io();
    expect(await runConformanceCli([...base, '--min-coverage', 'entries=100,hits=3'], x)).toBe(2);
    expect(x.e).toContain('--min-coverage "entries=100,hits=3", column 13: unknown part "hits"');
    const y = io();
    expect(await runConformanceCli(['--help'], y)).toBe(0);
    expect(y.o).toContain('--min-coverage SPEC');
    expect(y.o).toContain('5 agreed but coverage below --min-coverage');
  });

  it('report merge --min-coverage judges the merged coverage of the shards', async () => {
    const dirs: string[] = [];
    for (let i = 1; i <= 2; i++) {
      const d = join(dir, `shard${i}`);
      expect(await runConformanceCli([...base, '--shard', `${i}/2`, '--report', d], io())).toBe(0);
      dirs.push(d);
    }
    const x = io();
    expect(await runReportCli(['merge', ...dirs, '--out', join(dir, 'merged5'), '--min-coverage', 'entries=100'], x)).toBe(5);
    expect(x.o).toContain('entries: 7/9 = 77.8% < required 100%; never hit: p.flows:8, p.flows:9');
    const y = io();
    expect(await runReportCli(['merge', ...dirs, '--out', join(dir, 'merged0'), '--min-coverage', 'entries=70', '--json'], y)).toBe(0);
    expect(JSON.parse(y.o).properties[0].minCoverage).toEqual({ met: true, shortfalls: [] });
    const z = io();
    expect(await runReportCli(['merge', ...dirs, '--out', join(dir, 'merged2'), '--min-coverage', 'everything'], z)).toBe(2);
    expect(z.e).toContain('--min-coverage "everything", column 1');
  });
});
