/**
 * Per-entry coverage (issue 16): the pipeline's per-flow n_packets observer
 * (PipelineOptions.flowHits, PipelineEngine.takeFlowHits), the rows of report.json
 * (coverage.entries: every policy flow, reference and target counts), their sums over traces
 * and shards, the never-hit lists (`unhitEntries`, the CLI line, report.html), and the
 * `--min-coverage` specification and check.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFrame } from '../../../model/packet/build.js';
import { PipelineEngine } from '../../../model/pipeline/engine.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import type { Target } from '../../../harness/targets/target.js';
import {
  addCoverage, checkMinCoverage, checkReport, coverageLine, emptyCoverage, mergeReportDirs, parseMinCoverage, policyEntries, renderHtml,
  shortfallLines, targetUnhitEntries, unhitActions, unhitCtTables, unhitEntries, type ConformanceReport, type CoverageReport,
} from '../../../harness/report/index.js';
import { parsePolicy } from '../../../model/pipeline/parse.js';
import { runConformance } from '../../../harness/runner/index.js';

const root = mkdtempSync(join(tmpdir(), 'cto-entry-cov-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Line 6 is in table 7, which nothing resubmits to: never hit whatever the traffic.
const POLICY = {
  source: 'dir/cov.flows',
  text: `table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=0,priority=10,ipv6,actions=ct(table=1,zone=5)
table=0,priority=0,actions=drop
table=1,priority=10,ip,ct_state=+trk,in_port=1,actions=ct(commit,zone=5),output:2
table=1,priority=0,actions=drop
table=7,priority=1,actions=drop
`,
};
const model = async (): Promise<Target> => new ModelTarget(new PipelineEngine());
const udp = (sport: number) => buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport, dport: 53 } });
const arp = buildFrame({ ethType: 0x0806, payload: 'x'.repeat(28) });

describe('the pipeline counts hits per flow (n_packets)', () => {
  it('counts each table lookup by its matching flow, by line; takeFlowHits returns deltas; reset() keeps counting', () => {
    const e = new PipelineEngine();
    e.load(POLICY);
    e.process(1, udp(1000), 0); // table 0 line 1, recirculation to table 1 line 4
    e.process(2, udp(1001), 1); // table 0 line 1, table 1 line 5 (in_port 2)
    e.process(1, arp, 2); // table 0 line 3
    expect(e.takeFlowHits()).toEqual({ 1: 2, 4: 1, 5: 1, 3: 1 });
    expect(e.takeFlowHits()).toEqual({});
    e.reset();
    e.processFlows(1, udp(1002), 0); // the recorded paths count too
    expect(e.takeFlowHits()).toEqual({ 1: 1, 4: 1 });
    e.load(POLICY); // a new policy starts from zero
    expect(e.takeFlowHits()).toEqual({});
  });
});

describe('coverage.entries', () => {
  it('has a row per policy flow; the model reference and the model target count alike; line 6 is never hit', async () => {
    const r = await runConformance({ policy: POLICY, reference: model, target: model, runs: 30, seed: 11, stateSnapshot: false });
    expect(r.status).toBe('passed');
    const c = r.coverage!;
    expect(Object.keys(c.entries!).map(Number)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(c.entries!['6']).toEqual({ table: 7, priority: 1, text: 'table=7,priority=1,actions=drop', reference: 0, target: 0 });
    for (const row of Object.values(c.entries!)) expect(row.target).toBe(row.reference);
    // Every packet starts with one table-0 lookup.
    expect(c.entries!['1']!.reference + c.entries!['2']!.reference + c.entries!['3']!.reference).toBe(r.counts.packets);
    expect(c.entrySources).toEqual({ reference: 'model flow lookups', target: 'model flow lookups' });
    expect(unhitEntries(c)).toEqual([6]);
    expect(coverageLine(c, POLICY.source)).toMatch(/^policy entries 5\/6 hit \(never: cov\.flows:6\); counted by the target \(model flow lookups\) 5\/6 \(never: cov\.flows:6\); punt reasons: not reported/);
    expect(checkReport(JSON.parse(JSON.stringify({ schema: 'ctoffload-conformance/1', status: 'passed', startedAt: '', updatedAt: '', tool: { ctoffload: '', node: '', fastCheck: '' }, exceptions: [], properties: [r] })))).toEqual([]);
  });

  it('a target without counters leaves the target column out', async () => {
    const bare = async (): Promise<Target> => {
      const t = new ModelTarget(new PipelineEngine());
      return Object.assign(t, { takeEntryHits: undefined });
    };
    const r = await runConformance({ policy: POLICY, reference: model, target: bare, runs: 5, seed: 1, stateSnapshot: false });
    expect(r.coverage!.entries!['1']!.target).toBeUndefined();
    expect(r.coverage!.entrySources).toEqual({ reference: 'model flow lookups' });
    expect(targetUnhitEntries(r.coverage!)).toBeNull();
  });

  it('sums traces (reference, target, ct tables) and shards; the merge equals the unsharded run', async () => {
    const c = emptyCoverage(['CT_MISS']);
    c.entries = policyEntries(parsePolicy(POLICY.text, POLICY.source));
    addCoverage(c, { lookups: {}, allowed: {}, punts: {}, hits: { reference: { flows: { 1: 3, 4: 1 }, source: 'r' }, target: { flows: { 1: 2 }, actions: { flow_ct: 2, flow_punt: 0 }, ctTables: { ct_s0: 1, ct_s1: 0 }, source: 't' } } });
    addCoverage(c, { lookups: {}, allowed: {}, punts: {}, hits: { reference: { flows: { 1: 1 }, source: 'r' }, target: { flows: { 4: 5 }, ctTables: { ct_s0: 2, ct_s1: 0 }, source: 't' } }, hitsLost: true });
    expect(c.entries!['1']).toMatchObject({ reference: 4, target: 2 });
    expect(c.entries!['4']).toMatchObject({ reference: 1, target: 5 });
    expect(c.entries!['2']).toMatchObject({ reference: 0, target: 0 });
    expect(c.ctTables).toEqual({ ct_s0: 3, ct_s1: 0 });
    expect(c.actions).toEqual({ flow_ct: 2, flow_punt: 0 });
    expect(unhitActions(c)).toEqual(['flow_punt']);
    expect(coverageLine(c, 'p.flows')).toContain('entry actions 1/2 hit (never: flow_punt); ct tables 1/2 hit (never: ct_s1)');
    expect(c.entryReadFailures).toBe(1);
    expect(unhitCtTables(c)).toEqual(['ct_s1']);
    expect(targetUnhitEntries(c)).toEqual([2, 3, 5, 6]);
    // Report + report: the shard merge's sum.
    const twice = addCoverage(JSON.parse(JSON.stringify(c)) as CoverageReport, c);
    expect(twice.entries!['1']).toMatchObject({ reference: 8, target: 4 });
    expect(twice.ctTables).toEqual({ ct_s0: 6, ct_s1: 0 });
    expect(twice.actions).toEqual({ flow_ct: 4, flow_punt: 0 });
    expect(twice.entryReadFailures).toBe(2);

    const base = { policy: POLICY, reference: model, target: model, runs: 24, seed: 9, stateSnapshot: false } as const;
    const whole = await runConformance(base);
    const dirs: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const d = join(root, `s${i}`);
      await runConformance({ ...base, shard: { index: i, count: 3 }, reportDir: d });
      dirs.push(d);
    }
    const { report } = mergeReportDirs(dirs, join(root, 'merged'));
    expect(report.properties[0]!.coverage!.entries).toEqual(whole.coverage!.entries);
    // report.html: a row per entry, the never-hit one highlighted.
    const html = readFileSync(join(root, 'merged', 'report.html'), 'utf8');
    expect(html).toContain('<tr class="never"><td><code>cov.flows:6</code></td>');
    expect(html).toMatch(/<tr><td><code>cov\.flows:1<\/code><\/td><td class="num">0<\/td><td class="num">10<\/td>/);
  });

  it('report.html marks flows the target never counted although the reference ran them', () => {
    const c = emptyCoverage([]);
    c.entries = { 1: { table: 0, priority: 1, text: 'a', reference: 3, target: 0 }, 2: { table: 0, priority: 0, text: 'b', reference: 0, target: 0 } };
    c.entrySources = { reference: 'model flow lookups', target: 'direct counters' };
    c.ctTables = { conntrack_s0: 0 };
    c.actions = { flow_ct: 3, flow_punt: 0 };
    const p = { name: 'n', target: 'bmv2', reference: 'model', versions: {}, policy: { source: 'p.flows', text: '' }, config: { seed: 1, runs: 1, jobs: 1, packetTimeoutMs: 1, traffic: {} }, status: 'passed', counts: { traces: 0, packets: 0, agreements: 0, disagreements: 0, byKind: {}, exceptionsApplied: {}, targetErrors: 0, states: {} }, shrink: { traces: 0, packets: 0, steps: 0 }, timing: { elapsedMs: 0, searchMs: 0, shrinkMs: 0, packetsPerSecond: 0, samples: [] }, counterexample: null, coverage: c };
    const html = renderHtml({ schema: 'ctoffload-conformance/1', status: 'passed', startedAt: '', updatedAt: '', tool: { ctoffload: '', node: '', fastCheck: '' }, exceptions: [], properties: [p] } as unknown as ConformanceReport);
    expect(html).toContain('<tr class="cold"><td><code>p.flows:1</code>');
    expect(html).toContain('<tr class="never"><td><code>p.flows:2</code>');
    expect(html).toContain('<tr class="never"><td><code>conntrack_s0</code>');
    expect(html).toContain('<tr class="never"><td><code>flow_punt</code>');
    expect(html).toContain('<tr><td><code>flow_ct</code></td><td class="num">3</td>');
  });
});

describe('--min-coverage', () => {
  const cov = (): CoverageReport => {
    const c = emptyCoverage(['CT_MISS', 'ALG']);
    c.entries = { 3: { table: 0, priority: 1, text: 'a', reference: 2 }, 7: { table: 1, priority: 0, text: 'b', reference: 0 }, 9: { table: 1, priority: 0, text: 'c', reference: 1 } };
    c.allowed = { CT_MISS: 4 };
    return c;
  };

  it('parses all and PART=PCT lists; rejects the rest naming the item and column', () => {
    expect(parseMinCoverage('all')).toEqual({ all: true });
    expect(parseMinCoverage('entries=100, punts=50%')).toEqual({ all: false, parts: { entries: 100, punts: 50 } });
    expect(parseMinCoverage('target-entries=12.5,ct-tables=0')).toEqual({ all: false, parts: { 'target-entries': 12.5, 'ct-tables': 0 } });
    expect(() => parseMinCoverage('entries=100,states=3')).toThrow(/column 13: unknown part "states" \(parts: entries, target-entries, actions, ct-tables, punts\)/);
    expect(() => parseMinCoverage('entries=101')).toThrow(/101% is over 100/);
    expect(() => parseMinCoverage('entries')).toThrow(/"entries" is not PART=PCT/);
    expect(() => parseMinCoverage('entries=1,entries=2')).toThrow(/given twice/);
    expect(() => parseMinCoverage('')).toThrow(/empty/);
    try {
      parseMinCoverage('x=1');
    } catch (e) {
      expect((e as { code: string }).code).toBe('CTO_CLI_MIN_COVERAGE');
    }
  });

  it('names what was never hit; unmeasurable parts fail only when named; all = what the run can measure', () => {
    const c = cov();
    const s = checkMinCoverage(c, parseMinCoverage('entries=100,punts=50'), 'x/p.flows', 'model');
    expect(s).toEqual([{ part: 'entries', required: 100, reached: (100 * 2) / 3, hit: 2, total: 3, never: ['p.flows:7'] }]);
    expect(shortfallLines(s)).toEqual(['entries: 2/3 = 66.7% < required 100%; never hit: p.flows:7']);
    expect(checkMinCoverage(c, parseMinCoverage('entries=66,punts=50'), 'p.flows', 'model')).toEqual([]);
    const punts = checkMinCoverage(c, parseMinCoverage('punts=100'), 'p.flows', 'model');
    expect(punts[0]).toMatchObject({ part: 'punts', hit: 1, total: 2, never: ['ALG'] });
    const t = checkMinCoverage(c, parseMinCoverage('target-entries=1,actions=1,ct-tables=1'), 'p.flows', 'model');
    expect(shortfallLines(t)).toEqual([
      'target-entries: required 1%, not measurable: the model target reports no per-entry counters',
      'actions: required 1%, not measurable: the model target reports no per-action counts',
      "ct-tables: required 1%, not measurable: the model target has no conntrack tables of its own",
    ]);
    expect(checkMinCoverage(c, { all: true }, 'p.flows', 'model').map((x) => x.part)).toEqual(['entries', 'punts']);
    const withActions = { ...cov(), actions: { flow_ct: 5, flow_punt: 0 } };
    expect(shortfallLines(checkMinCoverage(withActions, parseMinCoverage('actions=100'), 'p.flows', 'bmv2'))).toEqual(['actions: 1/2 = 50.0% < required 100%; never hit: flow_punt']);
    const none = emptyCoverage([]);
    expect(checkMinCoverage(none, parseMinCoverage('punts=1'), 'p.flows', 'model')[0]!.reached).toBeNull();
  });
});
