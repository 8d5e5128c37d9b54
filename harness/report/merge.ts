/**
 * `ctoffload report merge DIR… --out DIR`: one report from the report directories of the shards
 * of one campaign (`conformance --shard i/n`, harness/runner/conformance.ts), as if one
 * unsharded run had written it (docs/report-schema.md, "Sharded runs").
 *
 * Rejected, with an error naming the directories concerned (CTO_REPORT_MERGE):
 *  - a directory without a readable, valid report.json, or whose run could not start;
 *  - a report that is not a shard of a search (no `config.shard`, or a replay) or has no
 *    `configHash` (written before ctoffload recorded it);
 *  - shards from different configurations: any field of the configuration identity
 *    (./config-hash.ts: policy text, seed, runs, shard count, traffic, target, reference, target
 *    mode and versions, ctoffload and fast-check versions, exceptions table) or the recorded
 *    configHash differs; the message lists each differing field with every directory's value;
 *  - shards with different numbers of properties (properties are matched by position: their
 *    names contain the policy's path, which may differ between runners);
 *  - a shard index given twice, or missing (every i of 1…n must be there exactly once);
 *  - `--out` naming one of the input directories.
 *
 * The merged property: counts are the shards' sums (maps summed key by key), the status the
 * worst (error > failed > interrupted > running > passed), the counterexample that of the
 * shard whose first failure has the lowest trace index (the first component of its path:
 * shrinking starts from the global path "t"), which is the unsharded run's first failure when
 * every shard finished its search. Elapsed times are the longest shard's (they ran in parallel),
 * the packet rate the sum of the shards' rates, rate samples the sum of the shards' cumulative
 * curves. Every shard's counterexample files are copied as `shard-<i>-counterexample-<N>.*`; the
 * chosen one is also written as `counterexample-<M>.{json,pcapng}`, so `--replay` and the
 * report's links work on the merged directory as on any report directory.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CtoffloadError } from '../../model/errors.js';
import { canonicalJson, configIdentity, IDENTITY_FIELDS, type ConfigIdentity } from './config-hash.js';
import { renderHtml } from './html.js';
import { renderJunit } from './junit.js';
import { addCoverage, emptyCoverage } from './coverage.js';
import { addTrafficCoverage, type TrafficCoverage } from './key-coverage.js';
import { counterexamplePcapng } from './pcapng.js';
import { checkReport, overallStatus, REPORT_SCHEMA, type ConformanceReport, type CoverageReport, type PropertyReport, type ShardReport } from './schema.js';
import type { CounterexampleFile } from './writer.js';

export class MergeError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_REPORT_MERGE', message);
  }
}

export interface ShardDir {
  dir: string;
  report: ConformanceReport;
}

/** report.json of a shard's report directory, checked against the schema. */
export function readShardDir(dir: string): ShardDir {
  const file = join(dir, 'report.json');
  let j: unknown;
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new MergeError(`${dir}: cannot read report.json: ${code ?? (e as Error).message}`);
  }
  const bad = checkReport(j);
  if (bad.length) throw new MergeError(`${dir}: report.json is not a ctoffload report (${bad.slice(0, 3).join('; ')})`);
  const report = j as ConformanceReport;
  if (report.properties.length === 0) throw new MergeError(`${dir}: the run could not start${report.error ? ` (${report.error})` : ''}; nothing to merge`);
  for (const p of report.properties) {
    if (!p.config.shard) throw new MergeError(`${dir}: ${p.name}: not a shard (the run had no --shard i/n)`);
    if (p.config.path !== undefined || p.config.replay !== undefined) throw new MergeError(`${dir}: ${p.name}: a replay, not a shard of a search`);
    if (!p.configHash) throw new MergeError(`${dir}: ${p.name}: no configHash (written by a ctoffload that did not record it); re-run the shard`);
  }
  return { dir, report };
}

/** Trace index of a counterexample found by a search: the first component of its path. */
export function counterexampleTrace(p: PropertyReport): number | null {
  const c = p.counterexample;
  if (!c || !/^\d+(:\d+)*$/.test(c.path)) return null;
  return Number(c.path.split(':')[0]);
}

function shortValue(v: unknown): string {
  const s = typeof v === 'string' ? v : canonicalJson(v);
  return s.length > 100 ? `${s.slice(0, 97)}…` : s;
}

function identityOf(s: ShardDir, p: PropertyReport): ConfigIdentity {
  return configIdentity(p, s.report.tool, s.report.exceptions);
}

/** The configuration check: one message listing every differing field, or null. */
function configDifferences(shards: readonly ShardDir[], k: number): string | null {
  const name = shards[0]!.report.properties[k]!.name;
  const rows = shards.map((s) => {
    const p = s.report.properties[k]!;
    return { dir: s.dir, id: identityOf(s, p), hash: p.configHash! };
  });
  const lines: string[] = [];
  for (const k of Object.keys(IDENTITY_FIELDS) as (keyof ConfigIdentity)[]) {
    const vals = rows.map((r) => canonicalJson(r.id[k]));
    if (vals.every((v) => v === vals[0])) continue;
    lines.push(`  ${IDENTITY_FIELDS[k]}: ${rows.map((r) => `${r.dir} has ${shortValue(r.id[k])}`).join('; ')}`);
  }
  if (lines.length === 0) {
    // Same content, different recorded hash: an edited report or another hash derivation.
    if (rows.every((r) => r.hash === rows[0]!.hash)) return null;
    lines.push(`  configHash: ${rows.map((r) => `${r.dir} has ${r.hash.slice(0, 12)}…`).join('; ')}`);
  }
  return `shards from different configurations (${name}):\n${lines.join('\n')}`;
}

function sumInto(into: Record<string, number>, from: Record<string, number | undefined> | undefined): void {
  for (const [k, v] of Object.entries(from ?? {})) into[k] = (into[k] ?? 0) + (v ?? 0);
}

/** Sum of cumulative step curves: at each sample time, each shard's last value at or before it. */
function sumSamples(curves: { t: number; packets: number }[][]): { t: number; packets: number }[] {
  const times = [...new Set(curves.flatMap((c) => c.map((s) => s.t)))].sort((a, b) => a - b);
  const at = (c: { t: number; packets: number }[], t: number): number => {
    let v = 0;
    for (const s of c) if (s.t <= t) v = s.packets;
    return v;
  };
  let out = times.map((t) => ({ t, packets: curves.reduce((n, c) => n + at(c, t), 0) }));
  while (out.length > 512) out = out.filter((_, k) => k % 2 === 0);
  return out;
}

function mergeProperty(shards: readonly ShardDir[], k: number): { merged: PropertyReport; from: ShardDir | null; infos: ShardReport[] } {
  const ps = shards.map((s) => ({ s, p: s.report.properties[k]! }));
  const first = ps[0]!.p;
  const counts = { traces: 0, packets: 0, agreements: 0, disagreements: 0, byKind: {} as Record<string, number>, exceptionsApplied: {} as Record<string, number>, targetErrors: 0, states: {} as Record<string, number> };
  const shrink = { traces: 0, packets: 0, steps: 0 };
  let counters: Record<string, number> | undefined;
  let coverage: CoverageReport | undefined;
  let traffic: TrafficCoverage | undefined;
  let jobs = 0;
  for (const { p } of ps) {
    for (const k of ['traces', 'packets', 'agreements', 'disagreements', 'targetErrors'] as const) counts[k] += p.counts[k];
    sumInto(counts.byKind, p.counts.byKind);
    sumInto(counts.exceptionsApplied, p.counts.exceptionsApplied);
    sumInto(counts.states, p.counts.states);
    shrink.traces += p.shrink.traces;
    shrink.packets += p.shrink.packets;
    jobs += p.config.jobs;
    if (p.targetCounters) sumInto((counters ??= {}), p.targetCounters);
    if (p.coverage) addCoverage((coverage ??= emptyCoverage([])), p.coverage);
    if (p.trafficCoverage) addTrafficCoverage((traffic ??= { fitted: [], weighting: p.trafficCoverage.weighting, keys: {}, parser: { paths: [], excluded: {}, taken: {} } }), p.trafficCoverage);
  }
  // The first failure: lowest trace index, ties (cannot happen: shards are disjoint) by shard.
  let from: { s: ShardDir; p: PropertyReport } | null = null;
  for (const x of ps) {
    const t = counterexampleTrace(x.p);
    if (t === null) continue;
    if (!from || t < counterexampleTrace(from.p)!) from = x;
  }
  if (from) shrink.steps = from.p.shrink.steps;
  const errors = ps.filter(({ p }) => p.error).map(({ p }) => `shard ${p.config.shard!.index}/${p.config.shard!.count}: ${p.error}`);
  const { shard: _shard, ...config } = first.config;
  const merged: PropertyReport = {
    name: first.name, target: first.target, reference: first.reference,
    ...(first.targetMode ? { targetMode: first.targetMode } : {}),
    versions: first.versions,
    policy: first.policy,
    config: { ...config, jobs },
    configHash: first.configHash!,
    status: overallStatus(ps.map(({ p }) => p)),
    ...(errors.length ? { error: errors.join('; ') } : {}),
    counts,
    shrink,
    timing: {
      elapsedMs: Math.max(...ps.map(({ p }) => p.timing.elapsedMs)),
      searchMs: Math.max(...ps.map(({ p }) => p.timing.searchMs)),
      shrinkMs: Math.max(...ps.map(({ p }) => p.timing.shrinkMs)),
      packetsPerSecond: ps.reduce((n, { p }) => n + p.timing.packetsPerSecond, 0),
      samples: sumSamples(ps.map(({ p }) => p.timing.samples)),
    },
    counterexample: from ? (JSON.parse(JSON.stringify(from.p.counterexample)) as PropertyReport['counterexample']) : null,
    ...(counters ? { targetCounters: counters } : {}),
    ...(coverage ? { coverage } : {}),
    ...(traffic ? { trafficCoverage: traffic } : {}),
  };
  const infos: ShardReport[] = ps.map(({ s, p }) => ({
    index: p.config.shard!.index, count: p.config.shard!.count, dir: s.dir, status: p.status, configHash: p.configHash!,
    traces: p.counts.traces, packets: p.counts.packets, disagreements: p.counts.disagreements,
    firstFailure: p.counterexample ? { trace: counterexampleTrace(p) ?? -1, path: p.counterexample.path, files: [] } : null,
  }));
  return { merged, from: from?.s ?? null, infos };
}

export interface MergeResult {
  report: ConformanceReport;
  /** Files written into the output directory (names relative to it). */
  files: string[];
}

/**
 * Merges the shards' report directories into `out` (created if needed): report.json,
 * report.html, junit.xml, traces.jsonl, counterexample-N.{json,pcapng} and the shards'
 * counterexamples as shard-<i>-counterexample-<N>.{json,pcapng}.
 */
export function mergeReportDirs(dirs: readonly string[], out: string, opts: { command?: string } = {}): MergeResult {
  if (dirs.length === 0) throw new MergeError('no shard report directory given');
  const real = (d: string): string => {
    try {
      return realpathSync(d);
    } catch {
      return resolve(d);
    }
  };
  const seenDirs = new Map<string, string>();
  for (const d of dirs) {
    const r = real(d);
    if (seenDirs.has(r)) throw new MergeError(`${d}: given twice${seenDirs.get(r) !== d ? ` (also as ${seenDirs.get(r)})` : ''}`);
    seenDirs.set(r, d);
  }
  if (seenDirs.has(real(out))) throw new MergeError(`--out ${out}: is one of the shard directories; merge into another directory`);
  const shards = dirs.map(readShardDir);

  // The same number of properties everywhere, matched by position.
  const nProps = shards[0]!.report.properties.length;
  const odd = shards.filter((s) => s.report.properties.length !== nProps);
  if (odd.length) throw new MergeError(`shards with different numbers of properties: ${[shards[0]!, ...odd].map((s) => `${s.dir} has ${s.report.properties.length}`).join(', ')}`);
  const props = Array.from({ length: nProps }, (_, k) => k);

  for (const k of props) {
    const diff = configDifferences(shards, k);
    if (diff) throw new MergeError(diff);
    // Indices: each of 1…n exactly once (n agrees: it is part of the identity).
    const byIndex = new Map<number, string[]>();
    for (const s of shards) {
      const sh = s.report.properties[k]!.config.shard!;
      byIndex.set(sh.index, [...(byIndex.get(sh.index) ?? []), s.dir]);
    }
    const n = shards[0]!.report.properties[k]!.config.shard!.count;
    const dup = [...byIndex.entries()].filter(([, ds]) => ds.length > 1);
    if (dup.length) throw new MergeError(`duplicate shard(s): ${dup.map(([i, ds]) => `${i}/${n} in ${ds.join(' and ')}`).join('; ')}`);
    const missing = Array.from({ length: n }, (_, k) => k + 1).filter((i) => !byIndex.has(i));
    if (missing.length) throw new MergeError(`missing shard(s) ${missing.map((i) => `${i}/${n}`).join(', ')} (given: ${[...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([i, ds]) => `${i}/${n} ${ds[0]}`).join(', ')})`);
  }

  // Shards in index order (of the first property: every property of a run has the same shard).
  const idx = (s: ShardDir): number => s.report.properties[0]!.config.shard!.index;
  const ordered = [...shards].sort((a, b) => idx(a) - idx(b));

  mkdirSync(out, { recursive: true });
  const files: string[] = [];
  const write = (name: string, data: string | Uint8Array): void => {
    const p = join(out, name);
    writeFileSync(`${p}.tmp`, data);
    renameSync(`${p}.tmp`, p);
    files.push(name);
  };

  const properties: PropertyReport[] = [];
  for (const k of props) {
    const { merged, infos } = mergeProperty(ordered, k);
    // Every shard's counterexample, copied with the shard's index in front of its name.
    for (const info of infos) {
      const s = ordered.find((x) => x.dir === info.dir)!;
      const cx = s.report.properties[k]!.counterexample;
      if (!cx || !info.firstFailure) continue;
      for (const ext of ['json', 'pcapng']) {
        const src = join(s.dir, `counterexample-${cx.id}.${ext}`);
        if (!existsSync(src)) continue;
        const dst = `shard-${info.index}-counterexample-${cx.id}.${ext}`;
        copyFileSync(src, join(out, dst));
        files.push(dst);
        info.firstFailure.files.push(dst);
      }
    }
    merged.shards = infos;
    properties.push(merged);
  }
  // Counterexample numbers follow property order, 1-based (as ReportWriter numbers them).
  let n = 0;
  for (const p of properties) {
    if (!p.counterexample) continue;
    p.counterexample.id = ++n;
    p.counterexample.replayFile = join(out, `counterexample-${n}.json`);
  }

  const reps = ordered.map((s) => s.report);
  const nodes = [...new Set(reps.map((r) => r.tool.node))];
  const finished = reps.every((r) => r.finishedAt) ? reps.map((r) => r.finishedAt!).sort().at(-1) : undefined;
  const topErrors = ordered.filter((s) => s.report.error).map((s) => `${s.dir}: ${s.report.error}`);
  const now = new Date().toISOString();
  const report: ConformanceReport = {
    schema: REPORT_SCHEMA,
    status: overallStatus(properties),
    ...(opts.command ? { command: opts.command } : {}),
    ...(topErrors.length ? { error: topErrors.join('; ') } : {}),
    startedAt: reps.map((r) => r.startedAt).sort()[0]!,
    updatedAt: now,
    ...(finished ? { finishedAt: finished } : {}),
    tool: { ctoffload: reps[0]!.tool.ctoffload, node: nodes.join(', '), fastCheck: reps[0]!.tool.fastCheck },
    exceptions: reps[0]!.exceptions,
    properties,
  };

  write('report.json', JSON.stringify(report, null, 2) + '\n');
  write('report.html', renderHtml(report));
  write('junit.xml', renderJunit(report));
  for (const p of properties) {
    const c = p.counterexample;
    if (!c) continue;
    const f: CounterexampleFile = {
      schema: 'ctoffload-counterexample/1', property: p.name, target: p.target, policy: { source: p.policy.source },
      seed: c.seed, path: c.path, final: c.final, replay: c.replay, traffic: p.config.traffic, scenario: c.scenario,
    };
    write(`counterexample-${c.id}.json`, JSON.stringify(f, null, 2) + '\n');
    write(`counterexample-${c.id}.pcapng`, counterexamplePcapng(p));
  }
  // traces.jsonl: the shards' lines in shard order, each tagged with its shard.
  const lines: string[] = [];
  for (const s of ordered) {
    const f = join(s.dir, 'traces.jsonl');
    if (!existsSync(f)) continue;
    for (const l of readFileSync(f, 'utf8').split('\n')) {
      if (!l.trim()) continue;
      try {
        lines.push(JSON.stringify({ ...(JSON.parse(l) as object), shard: idx(s) }));
      } catch {
        // A line cut short by a crash: the other files say what the shard found.
      }
    }
  }
  write('traces.jsonl', lines.length ? lines.join('\n') + '\n' : '');
  return { report, files };
}
