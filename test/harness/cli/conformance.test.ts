/**
 * `ctoffload conformance`: options, exit codes (0 agree, 1 disagreement, 2 usage, 3 environment,
 * 130 interrupted), the JSON summary, and that the printed replay command and --replay FILE
 * reproduce the counterexample. The target is injected through the CLI's test hook (a model
 * wrapper with a known defect); OVS runs are in test/harness/runner/ovs-differential.test.ts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runConformanceCli, EXIT_INTERRUPTED } from '../../../harness/cli/conformance.js';
import { main } from '../../../harness/cli/main.js';
import type { CliIo } from '../../../harness/cli/command.js';
import { DefectTarget, estAfterRstBecomesNew, POLICY } from '../runner/fake-target.js';

const dir = mkdtempSync(join(tmpdir(), 'cto-cli-conf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const policyFile = join(dir, 'p.flows');
writeFileSync(policyFile, POLICY.text);

function io(): CliIo & { o: string; e: string } {
  const x = { o: '', e: '', out: (s: string) => void (x.o += s), err: (s: string) => void (x.e += s) };
  return x;
}
const fake = { targetFactory: async (n: string) => (n === 'fake' ? async () => DefectTarget.model(estAfterRstBecomesNew) : null), progress: false };

describe('ctoffload conformance', () => {
  it('is registered in the dispatcher and prints its help', async () => {
    const x = io();
    expect(await main(['conformance', '--help'], x)).toBe(0);
    expect(x.o).toContain('usage: ctoffload conformance');
    const y = io();
    await main(['--help'], y);
    expect(y.o).toMatch(/conformance\s+differential run/);
  });

  it('exits 2 on usage errors, naming the problem', async () => {
    let x = io();
    expect(await runConformanceCli(['--target', 'ovs'], x)).toBe(2);
    expect(x.e).toContain('--policy is required');
    x = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, '--runs', 'many'], x)).toBe(2);
    expect(x.e).toContain('--runs: "many"');
    x = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, '--path', '3:1'], x)).toBe(2);
    expect(x.e).toContain('--path needs --seed');
    x = io();
    expect(await runConformanceCli(['--target', 'nope', '--policy', policyFile], x)).toBe(2);
    expect(x.e).toContain('unknown target');
    x = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', join(dir, 'missing.flows')], x)).toBe(2);
    expect(x.e).toContain('missing.flows: cannot read policy: ENOENT');
  });

  it('exits 2 with file:line:column for a policy that does not parse', async () => {
    const bad = join(dir, 'bad.flows');
    writeFileSync(bad, 'table=0,ip,actions=ct(table=1)\ntable=0,ip,actions=frobnicate\n');
    const x = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', bad], x)).toBe(2);
    expect(x.e).toMatch(/bad\.flows:2:\d+/);
  });

  it('--window: bmv2 only, 1..32', async () => {
    let x = io();
    expect(await runConformanceCli(['--target', 'bmv2', '--policy', policyFile, '--window', '40'], x)).toBe(2);
    expect(x.e).toContain('--window: "40" is not an integer in 1..32');
    x = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, '--window', '4'], x)).toBe(2);
    expect(x.e).toContain('--window applies to --target bmv2 only');
  });

  it('--ageing: bmv2 only, hardware (the deployed default) or exact (oracle mode, named in --help)', async () => {
    let x = io();
    expect(await runConformanceCli(['--target', 'bmv2', '--policy', policyFile, '--ageing', 'hits'], x)).toBe(2);
    expect(x.e).toContain('--ageing hits: expected hardware (default) or exact');
    x = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, '--ageing', 'exact'], x)).toBe(2);
    expect(x.e).toContain('--ageing applies to --target bmv2 only');
    x = io();
    expect(await runConformanceCli(['--help'], x)).toBe(0);
    expect(x.o).toMatch(/'exact' is an ORACLE MODE/);
    expect(x.o).toMatch(/'hardware' \(default\) checks the deployed configuration/);
  });

  it('exits 3 (environment) with the install hint when ovs-vswitchd is not installed', async () => {
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'empty-path');
    try {
      const x = io();
      expect(await runConformanceCli(['--target', 'ovs', '--policy', policyFile], x)).toBe(3);
      expect(x.e).toContain('ovs-vswitchd not found');
      expect(x.e).toContain('apt-get install openvswitch-switch');
    } finally {
      process.env.PATH = path;
    }
  });

  it('exits 0 when every packet agrees (model self-check) and prints a summary', async () => {
    const x = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, '--runs', '15', '--seed', '3'], x)).toBe(0);
    expect(x.o).toMatch(/model vs model: PASSED\n {2}seed 3; 15 traces, \d+ packets/);
    expect(x.e).toBe('');
  });

  it('shows progress (traces, packets, rate, ETA) on stderr when asked (a terminal by default)', async () => {
    const x = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, '--runs', '15', '--seed', '3'], x, { progress: true })).toBe(0);
    expect(x.e).toMatch(/\rtraces \d+\/15, \d+ packets, \d+ pkt\/s, \d+s(, ETA \d+s)?/);
    expect(x.e).toContain('traces 15/15');
  });

  it('exits 1 on a disagreement; --json prints one summary object; the replay command and --replay reproduce it', async () => {
    const rep = join(dir, 'rep');
    const x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--seed', '42', '--runs', '200', '--report', rep, '--json'], x, fake)).toBe(1);
    const s = JSON.parse(x.o) as { status: string; counterexample: { path: string; replay: string; replayFile: string; differences: { kind: string }[] }; seed: number };
    expect(x.o.trim().split('\n')).toHaveLength(1);
    expect(s.status).toBe('failed');
    expect(s.counterexample.differences[0]!.kind).toBe('ct-state');
    expect(s.counterexample.replay).toBe(`ctoffload conformance --target fake --policy ${policyFile} --seed 42 --path ${s.counterexample.path}`);

    const argv = s.counterexample.replay.split(' ').slice(2);
    const y = io();
    expect(await runConformanceCli([...argv, '--json'], y, fake)).toBe(1);
    const s2 = JSON.parse(y.o) as typeof s;
    expect(s2.counterexample.path).toBe(s.counterexample.path);
    expect(s2.counterexample.differences).toEqual(s.counterexample.differences);

    const z = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--replay', s.counterexample.replayFile], z, fake)).toBe(1);
    expect(z.o).toContain('ct-state: lookup 0');
    // The model agrees with itself on the same counterexample.
    const m = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, '--replay', join(rep, 'report.json')], m)).toBe(0);
  });

  it('handles SIGINT: stops gracefully, writes the reports, exits 130 and removes its handler', async () => {
    const rep = join(dir, 'rep-sigint');
    const before = process.listenerCount('SIGINT');
    const x = io();
    const slow = { progress: false, targetFactory: async (n: string) => (n === 'fake' ? async () => {
      const t = DefectTarget.model((_s, v) => v);
      const send = t.send.bind(t);
      t.send = async (st) => {
        await new Promise((r) => setTimeout(r, 2));
        return send(st);
      };
      return t;
    } : null) };
    setTimeout(() => process.emit('SIGINT'), 100);
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '100000', '--report', rep], x, slow)).toBe(EXIT_INTERRUPTED);
    expect(x.e).toContain('interrupted, finishing the current packet');
    expect(process.listenerCount('SIGINT')).toBe(before);
    expect((JSON.parse(readFileSync(join(rep, 'report.json'), 'utf8')) as { status: string }).status).toBe('interrupted');
  });

  it('exits 130 when interrupted and still writes the reports', async () => {
    const rep = join(dir, 'rep-int');
    const ac = new AbortController();
    const x = io();
    setTimeout(() => ac.abort(), 50);
    const slow = { ...fake, targetFactory: async (n: string) => (n === 'fake' ? async () => {
      const t = DefectTarget.model((_s, v) => v);
      const send = t.send.bind(t);
      t.send = async (st) => {
        await new Promise((r) => setTimeout(r, 2));
        return send(st);
      };
      return t;
    } : null), signal: ac.signal };
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '100000', '--report', rep], x, slow)).toBe(EXIT_INTERRUPTED);
    expect(x.o).toContain('INTERRUPTED');
    const r = JSON.parse(readFileSync(join(rep, 'report.json'), 'utf8')) as { status: string };
    expect(r.status).toBe('interrupted');
    expect(existsSync(join(rep, 'junit.xml'))).toBe(true);
  });
});
