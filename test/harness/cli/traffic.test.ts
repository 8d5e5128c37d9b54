/**
 * `ctoffload conformance` and the traffic of issue 16: the summary's `traffic:` line, fitting to
 * the policy recorded in the report, `--traffic-weighting` (bad value: exit 2; coverage: the
 * printed replay command carries it and reproduces the counterexample), and two VLAN tags
 * turned on for every target but OVS.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runConformanceCli } from '../../../harness/cli/conformance.js';
import type { CliIo } from '../../../harness/cli/command.js';
import type { ConformanceReport } from '../../../harness/report/index.js';
import { DefectTarget, estAfterRstBecomesNew, modelTarget, POLICY } from '../runner/fake-target.js';

const dir = mkdtempSync(join(tmpdir(), 'cto-cli-traffic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const policyFile = join(dir, 'p.flows');
writeFileSync(policyFile, POLICY.text);
const zonesFile = new URL('../../../examples/zones-timeouts.flows', import.meta.url).pathname;

function io(): CliIo & { o: string; e: string } {
  const x = { o: '', e: '', out: (s: string) => void (x.o += s), err: (s: string) => void (x.e += s) };
  return x;
}
const hooks = { targetFactory: async (n: string) => (n === 'fake' ? async () => DefectTarget.model(estAfterRstBecomesNew) : n === 'model' ? modelTarget : null), progress: false };

describe('conformance traffic options', () => {
  it('rejects a bad --traffic-weighting with exit 2 and names it', async () => {
    const x = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, '--traffic-weighting', 'greedy'], x, hooks)).toBe(2);
    expect(x.e).toContain('--traffic-weighting greedy: expected uniform (default) or coverage');
    expect(x.e).not.toMatch(/\n\s+at /);
  });

  it('fits the traffic to the policy, records it, and prints the traffic coverage line', async () => {
    const x = io();
    const rep = join(dir, 'zones');
    expect(await runConformanceCli(['--target', 'model', '--policy', zonesFile, '--runs', '20', '--seed', '3', '--report', rep], x, hooks)).toBe(0);
    expect(x.o).toMatch(/traffic: key bits \d+\/\d+ varied .*parser paths \d+\/\d+ taken/);
    const r = JSON.parse(readFileSync(join(rep, 'report.json'), 'utf8')) as ConformanceReport;
    const p = r.properties[0]!;
    expect(p.config.traffic.ports).toEqual({ inside: [1, 3], outside: [2, 4] });
    expect(p.config.traffic.include?.doubleVlan).toBe(true);
    expect(p.trafficCoverage!.fitted.join(' ')).toContain('3↔4');
  });

  it('with --traffic-weighting coverage, the printed replay command reproduces the counterexample', async () => {
    const x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '100', '--seed', '42', '--traffic-weighting', 'coverage', '--json'], x, hooks)).toBe(1);
    const j = JSON.parse(x.o) as { counterexample: { path: string; replay: string; failingStep: number } };
    expect(j.counterexample.replay).toContain('--traffic-weighting coverage');
    const y = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--seed', '42', '--path', j.counterexample.path, '--traffic-weighting', 'coverage', '--json'], y, hooks)).toBe(1);
    expect((JSON.parse(y.o) as typeof j).counterexample.failingStep).toBe(j.counterexample.failingStep);
  });
});
