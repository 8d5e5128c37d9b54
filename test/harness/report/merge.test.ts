/**
 * harness/report/merge.ts: shards of one campaign merge into the report of the unsharded run
 * (counts, status, first failure), counterexamples are kept with their shard, and shards that
 * do not belong together are rejected with an error naming the directories concerned.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkReport, mergeReportDirs, type ConformanceReport, type PropertyReport } from '../../../harness/report/index.js';
import { runConformance, type ConformanceOptions } from '../../../harness/runner/index.js';
import { DefectTarget, estAfterRstBecomesNew, modelTarget, POLICY } from '../runner/fake-target.js';
import { checkXml } from './xml-check.js';

const root = mkdtempSync(join(tmpdir(), 'cto-merge-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const dir = (name: string): string => join(root, `${++n}-${name}`);

const modelBase: ConformanceOptions = { policy: POLICY, reference: modelTarget, target: modelTarget, runs: 24, seed: 11, stateSnapshot: false };
const failBase: ConformanceOptions = { policy: POLICY, reference: modelTarget, target: async () => DefectTarget.model(estAfterRstBecomesNew), runs: 200, seed: 42 };

async function shardDirs(o: ConformanceOptions, count: number, name: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 1; i <= count; i++) {
    const d = dir(`${name}-${i}of${count}`);
    await runConformance({ ...o, shard: { index: i, count }, reportDir: d });
    out.push(d);
  }
  return out;
}
const readReport = (d: string): ConformanceReport => JSON.parse(readFileSync(join(d, 'report.json'), 'utf8')) as ConformanceReport;

describe('report merge of 3 shards', () => {
  it('passing run: verdict and counts equal the unsharded run', async () => {
    const whole = await runConformance({ ...modelBase, reportDir: dir('whole') });
    const shards = await shardDirs(modelBase, 3, 'pass');
    // Given in any order.
    const out = dir('merged');
    const { report } = mergeReportDirs([shards[2]!, shards[0]!, shards[1]!], out);
    expect(checkReport(readReport(out))).toEqual([]);
    const p = report.properties[0]!;
    expect(report.status).toBe('passed');
    expect(p.status).toBe(whole.status);
    const strip = (c: PropertyReport['counts']): unknown => JSON.parse(JSON.stringify(c));
    expect(strip(p.counts)).toEqual(strip(whole.counts));
    expect(p.counterexample).toBeNull();
    expect(p.config.shard).toBeUndefined();
    expect(p.config.runs).toBe(24);
    expect(p.shards!.map((s) => `${s.index}/${s.count}`)).toEqual(['1/3', '2/3', '3/3']);
    expect(p.shards!.map((s) => s.dir)).toEqual(shards);
    expect(p.shards!.reduce((a, s) => a + s.traces, 0)).toBe(24);
    expect(p.configHash).toBe(readReport(shards[0]!).properties[0]!.configHash);
    // traces.jsonl: every trace of the unsharded run exactly once, tagged with its shard.
    const lines = readFileSync(join(out, 'traces.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { index: number; shard: number; phase: string });
    expect(lines.map((l) => l.index).sort((a, b) => a - b)).toEqual([...Array(24).keys()]);
    for (const l of lines) expect(l.shard).toBe((l.index % 3) + 1);
    checkXml(readFileSync(join(out, 'junit.xml'), 'utf8'));
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('Merged from 3 shards');
    expect(readFileSync(join(out, 'junit.xml'), 'utf8')).toContain('name="shards" value="3"');
  });

  it('failing run: the first failure is the unsharded one; every shard\'s counterexample is kept', async () => {
    const whole = await runConformance(failBase);
    const shards = await shardDirs(failBase, 3, 'fail');
    const out = dir('merged-fail');
    const { report, files } = mergeReportDirs(shards, out);
    const p = report.properties[0]!;
    expect(report.status).toBe('failed');
    expect(p.counterexample!.path).toBe(whole.counterexample!.path);
    expect(p.counterexample!.scenario).toEqual(whole.counterexample!.scenario);
    expect(p.counterexample!.differences).toEqual(whole.counterexample!.differences);
    expect(p.counterexample!.replay).not.toContain('--shard');
    expect(p.counterexample!.id).toBe(1);
    expect(p.counterexample!.replayFile).toBe(join(out, 'counterexample-1.json'));
    const cxFile = JSON.parse(readFileSync(join(out, 'counterexample-1.json'), 'utf8')) as { path: string; seed: number };
    expect(cxFile.path).toBe(whole.counterexample!.path);
    expect(existsSync(join(out, 'counterexample-1.pcapng'))).toBe(true);
    // Each failing shard's files, prefixed with the shard.
    const failing = p.shards!.filter((s) => s.firstFailure);
    expect(failing.length).toBeGreaterThan(0);
    for (const s of failing) {
      expect(s.firstFailure!.files).toEqual([`shard-${s.index}-counterexample-1.json`, `shard-${s.index}-counterexample-1.pcapng`]);
      for (const f of s.firstFailure!.files) expect(files).toContain(f);
      expect(s.firstFailure!.trace % 3).toBe(s.index - 1);
      expect(s.firstFailure!.trace).toBeGreaterThanOrEqual(Number(whole.counterexample!.path.split(':')[0]));
    }
    // Counts are the sums of what the shards ran (each searched up to its own first failure).
    const sum = shards.map(readReport).reduce((a, r) => a + r.properties[0]!.counts.traces, 0);
    expect(p.counts.traces).toBe(sum);
    expect(p.counts.disagreements).toBe(failing.length);
  });
});

describe('report merge rejects', () => {
  const tiny: ConformanceOptions = { ...modelBase, runs: 4 };
  let ok: string[] = [];
  it('(set-up: two good shards)', async () => {
    ok = await shardDirs(tiny, 2, 'tiny');
  });
  const merge = (dirs: string[]): (() => unknown) => () => mergeReportDirs(dirs, dir('out'));

  it('shards from different configurations, naming the field and the directories', async () => {
    const [s1, s2] = ok;
    const other = async (o: Partial<ConformanceOptions>, name: string): Promise<string> => {
      const d = dir(name);
      await runConformance({ ...tiny, ...o, shard: { index: 2, count: 2 }, reportDir: d });
      return d;
    };
    const seed = await other({ seed: 12 }, 'seed');
    expect(merge([s1!, seed])).toThrow(/different configurations[\s\S]*seed: .*tiny-1of2 has 11; .*-seed has 12/);
    const runs = await other({ runs: 5 }, 'runs');
    expect(merge([s1!, runs])).toThrow(/runs: .* has 4; .* has 5/);
    const pol = await other({ policy: { source: POLICY.source, text: POLICY.text + '# another line\n' } }, 'policy');
    expect(merge([s1!, pol])).toThrow(/policy text \(sha256\):/);
    const traffic = await other({ traffic: { hosts: 2 } }, 'traffic');
    expect(merge([s1!, traffic])).toThrow(/traffic options:/);
    const tgt = await other({ target: async () => DefectTarget.model((_s, v) => v, 'fake') }, 'target');
    expect(merge([s1!, tgt])).toThrow(/target: .* has "?model"?; .* has "?fake"?/);
    const three = dir('three');
    await runConformance({ ...tiny, shard: { index: 2, count: 3 }, reportDir: three });
    expect(merge([s1!, three])).toThrow(/shard count: .* has 2; .* has 3/);
    // Tool versions (a shard run with another fast-check).
    const fc = dir('fc');
    cpSync(s2!, fc, { recursive: true });
    const r = readReport(fc);
    r.tool.fastCheck = '0.0.1';
    writeFileSync(join(fc, 'report.json'), JSON.stringify(r));
    expect(merge([s1!, fc])).toThrow(/ctoffload\/fast-check versions: .*fc has \{"ctoffload":"[^"]+","fastCheck":"0\.0\.1"\}/);
  });

  it('missing and duplicate shards', async () => {
    const [s1, s2] = ok;
    expect(merge([s1!])).toThrow(/missing shard\(s\) 2\/2 \(given: 1\/2 /);
    const copy = dir('copy');
    cpSync(s1!, copy, { recursive: true });
    expect(merge([s1!, copy, s2!])).toThrow(new RegExp(`duplicate shard\\(s\\): 1/2 in ${s1!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} and ${copy.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    expect(merge([s1!, s1!])).toThrow(/given twice/);
  });

  it('reports that are not shards, unreadable directories and --out on a shard', async () => {
    const [s1, s2] = ok;
    const whole = dir('unsharded');
    await runConformance({ ...tiny, reportDir: whole });
    expect(merge([whole, s1!])).toThrow(/unsharded: .*not a shard/);
    expect(merge([s1!, join(root, 'nope')])).toThrow(/nope: cannot read report\.json: ENOENT/);
    const junk = dir('junk');
    cpSync(s2!, junk, { recursive: true });
    writeFileSync(join(junk, 'report.json'), '{"schema":"something else"}');
    expect(merge([s1!, junk])).toThrow(/junk: report\.json is not a ctoffload report/);
    expect(() => mergeReportDirs([s1!, s2!], s2!)).toThrow(/--out .*is one of the shard directories/);
    try {
      mergeReportDirs([s1!, join(root, 'nope')], dir('x'));
    } catch (e) {
      expect((e as { code: string }).code).toBe('CTO_REPORT_MERGE');
    }
  });
});
