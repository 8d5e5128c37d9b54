/**
 * `ctoffload report merge` and `conformance --shard` on the command line: 3 shards of a run
 * against a target with a known defect (the CLI's test hook) merge into the unsharded run's
 * verdict and first failure, whose replay commands work; usage errors of both commands exit 2
 * naming the option; a rejected merge exits 2 with the merge's message.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../../harness/cli/command.js';
import { runConformanceCli } from '../../../harness/cli/conformance.js';
import { main } from '../../../harness/cli/main.js';
import { DefectTarget, estAfterRstBecomesNew, POLICY } from '../runner/fake-target.js';

const dir = mkdtempSync(join(tmpdir(), 'cto-cli-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const policyFile = join(dir, 'p.flows');
writeFileSync(policyFile, POLICY.text);

function io(): CliIo & { o: string; e: string } {
  const x = { o: '', e: '', out: (s: string) => void (x.o += s), err: (s: string) => void (x.e += s) };
  return x;
}
const fake = { targetFactory: async (n: string) => (n === 'fake' ? async () => DefectTarget.model(estAfterRstBecomesNew) : null), progress: false };
interface Summary { status: string; shard?: string; configHash: string; counterexample: { path: string; replay: string; differences: { kind: string }[] } | null }

describe('conformance --shard + report merge', () => {
  it('3 shards merge into the unsharded verdict and first failure; the replays work', async () => {
    const args = ['--target', 'fake', '--policy', policyFile, '--seed', '42', '--runs', '200', '--json'];
    const w = io();
    expect(await runConformanceCli([...args, '--report', join(dir, 'whole')], w, fake)).toBe(1);
    const whole = JSON.parse(w.o) as Summary;
    const dirs: string[] = [];
    const shardSummaries: Summary[] = [];
    for (let i = 1; i <= 3; i++) {
      const x = io();
      const d = join(dir, `shard-${i}`);
      dirs.push(d);
      const code = await runConformanceCli([...args, '--shard', `${i}/3`, '--jobs', '2', '--report', d], x, fake);
      const s = JSON.parse(x.o) as Summary;
      expect(code).toBe(s.counterexample ? 1 : 0);
      expect(s.shard).toBe(`${i}/3`);
      shardSummaries.push(s);
    }
    expect(new Set(shardSummaries.map((s) => s.configHash)).size).toBe(1);

    const m = io();
    const out = join(dir, 'merged');
    expect(await main(['report', 'merge', ...dirs, '--out', out, '--json'], m)).toBe(1);
    const merged = JSON.parse(m.o) as { status: string; properties: { counterexample: { path: string; replay: string; replayFile: string; kinds: string[] }; shards: { shard: string }[] }[] };
    expect(merged.status).toBe(whole.status);
    const p = merged.properties[0]!;
    expect(p.shards.map((s) => s.shard)).toEqual(['1/3', '2/3', '3/3']);
    expect(p.counterexample.path).toBe(whole.counterexample!.path);
    expect(p.counterexample.replay).toBe(whole.counterexample!.replay);
    expect(p.counterexample.kinds).toEqual(whole.counterexample!.differences.map((d) => d.kind));

    // The merged counterexample replays from its file and from the merged report.json...
    for (const f of [p.counterexample.replayFile, join(out, 'report.json')]) {
      const r = io();
      expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--replay', f, '--json'], r, fake)).toBe(1);
      expect((JSON.parse(r.o) as Summary).counterexample!.differences).toEqual(whole.counterexample!.differences);
    }
    // ...and every shard's printed replay command (plain --seed/--path, no --shard) reproduces it.
    for (const s of shardSummaries.filter((x) => x.counterexample)) {
      expect(s.counterexample!.replay).not.toContain('--shard');
      const r = io();
      expect(await runConformanceCli([...s.counterexample!.replay.split(' ').slice(2), '--json'], r, fake)).toBe(1);
      expect((JSON.parse(r.o) as Summary).counterexample!.path).toBe(s.counterexample!.path);
    }
    // The text summary names each shard and the first failure.
    const t = io();
    expect(await main(['report', 'merge', ...dirs, '--out', join(dir, 'merged-text')], t)).toBe(1);
    expect(t.o).toContain('FAILED (3 shards merged)');
    expect(t.o).toContain(`first failure: trace ${whole.counterexample!.path.split(':')[0]}`);
    expect(t.o).toMatch(/shard 1\/3 (passed|failed): \d+ traces/);

    // A rejected merge: exit 2, the message names the problem and the directories.
    const bad = io();
    expect(await main(['report', 'merge', dirs[0]!, dirs[1]!, '--out', join(dir, 'm2')], bad)).toBe(2);
    expect(bad.e).toContain('ctoffload report: missing shard(s) 3/3');
    expect(bad.e).toContain(dirs[0]!);
  });

  it('conformance --shard: bad values are usage errors naming --shard (exit 2)', async () => {
    for (const v of ['0/3', '4/3', '1/0', '3', 'a/b', '1/3/2', '-1/3', '1.5/3', '']) {
      const x = io();
      expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, `--shard=${v}`], x), v).toBe(2);
      expect(x.e, v).toContain(`--shard: "${v}" is not I/N`);
    }
    // "--shard -1/3": node's parser sees an option where the value should be; still exit 2 naming --shard.
    let x = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, '--shard', '-1/3'], x)).toBe(2);
    expect(x.e).toContain("'--shard'");
    x = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, '--shard', '1/2', '--seed', '1', '--path', '3'], x)).toBe(2);
    expect(x.e).toContain('--shard applies to the search; --path replays one counterexample');
    x = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, '--shard', '1/2', '--replay', join(dir, 'x.json')], x)).toBe(2);
    expect(x.e).toContain('--shard applies to the search; --replay');
    x = io();
    expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, '--shard'], x)).toBe(2);
    expect(x.e).toContain('--shard');
    x = io();
    await runConformanceCli(['--help'], x);
    expect(x.o).toContain('--shard I/N');
  });

  it('report merge: the exit status is the campaign\'s (3 a shard ended in error or never finished, 130 interrupted)', async () => {
    const dirs: string[] = [];
    for (let i = 1; i <= 2; i++) {
      const d = join(dir, `st-${i}`);
      dirs.push(d);
      expect(await runConformanceCli(['--target', 'model', '--policy', policyFile, '--seed', '4', '--runs', '6', '--shard', `${i}/2`, '--report', d], io(), { progress: false })).toBe(0);
    }
    const x = io();
    expect(await main(['report', 'merge', ...dirs, '--out', join(dir, 'st-m0')], x)).toBe(0);
    for (const [status, code] of [['interrupted', 130], ['error', 3], ['running', 3]] as const) {
      const f = join(dirs[1]!, 'report.json');
      const orig = readFileSync(f, 'utf8');
      const r = JSON.parse(orig) as { status: string; properties: { status: string }[] };
      r.status = status;
      r.properties[0]!.status = status;
      writeFileSync(f, JSON.stringify(r));
      try {
        const y = io();
        expect(await main(['report', 'merge', ...dirs, '--out', join(dir, `st-m-${status}`)], y), status).toBe(code);
        expect(y.o).toContain(`note: shard(s) 2/2 (${status}) did not finish their search`);
      } finally {
        writeFileSync(f, orig);
      }
    }
  });

  it('report: usage errors exit 2', async () => {
    let x = io();
    expect(await main(['report'], x)).toBe(2);
    expect(x.e).toContain('usage: ctoffload report merge');
    x = io();
    expect(await main(['report', 'frobnicate'], x)).toBe(2);
    expect(x.e).toContain("unknown subcommand 'frobnicate'");
    x = io();
    expect(await main(['report', 'merge', dir], x)).toBe(2);
    expect(x.e).toContain('--out DIR is required');
    x = io();
    expect(await main(['report', 'merge', '--out', join(dir, 'o')], x)).toBe(2);
    expect(x.e).toContain('no shard report directory given');
    x = io();
    expect(await main(['report', 'merge', dir, '--out', join(dir, 'o'), '--frob'], x)).toBe(2);
    expect(x.e).toContain("Unknown option '--frob'");
    x = io();
    expect(await main(['report', 'merge', '--help'], x)).toBe(0);
    expect(x.o).toContain('Rejected (exit 2)');
    x = io();
    expect(await main(['--help'], x)).toBe(0);
    expect(x.o).toMatch(/report\s+merge the report directories/);
    // A directory that holds no report.
    x = io();
    expect(await main(['report', 'merge', join(dir, 'nothing'), '--out', join(dir, 'o')], x)).toBe(2);
    expect(x.e).toContain('nothing: cannot read report.json: ENOENT');
    expect(readFileSync(policyFile, 'utf8')).toBe(POLICY.text);
  });
});
