/**
 * report.json: the schema of a conformance run's report (version `ctoffload-conformance/1`).
 * Everything is plain JSON: frames and output bytes as lowercase hex, ct_label as `0x…` hex,
 * ct_state both as bits and in OVS's display form (`est|rpl|trk`).
 *
 * JSON-schema-ish summary (every field below is always present unless marked `?`):
 *
 *   {
 *     schema: "ctoffload-conformance/1",
 *     status: "running" | "passed" | "failed" | "interrupted" | "error",
 *     command?: string,                       // the command line that started the run
 *     error?: string,                         // why the run could not start or went wrong
 *     startedAt: ISO-8601, updatedAt: ISO-8601, finishedAt?: ISO-8601,
 *     tool: { ctoffload: string, node: string, fastCheck: string },
 *     exceptions: [ { id, kind: "expected-relaxation"|"defect", targets: string[], kinds: DiffKind[],
 *                     reason, source } ],     // the table in force
 *     properties: [ PropertyReport ]          // one per (policy, target)
 *   }
 *   PropertyReport = {
 *     name, target, reference,                // e.g. "policy.flows: model vs ovs", "ovs", "model"
 *     targetMode?,                            // the configuration the target ran (bmv2: deployed or oracle)
 *     versions: { [side]: { [tool]: version } },   // Target.versions()
 *     policy: { source, text },
 *     config: { seed: int, runs: int, path?: string, replay?: string, jobs: int,
 *               packetTimeoutMs: int, traffic: TrafficOptions,
 *               shard?: { index: int, count: int } },   // --shard i/n: traces t with t mod n = i−1
 *     configHash?: string,                    // sha256 of what must agree for shards to merge
 *     shards?: [ ShardReport ],               // `report merge` output only: one per shard
 *     coverage?: { lookups: { [site "table=T zone=Z"]: { [ct_state text]: int } },
 *                  allowed: { [outcome]: int }, punts: { [reason]: int }, puntReasons: string[],
 *                  entries?: { [policy line]: { table, priority, text, reference: int, target?: int } },
 *                  ctTables?: { [P4 table]: int }, actions?: { [P4 action]: int },
 *                  entrySources?: { reference?, target? },
 *                  entryReadFailures?: int },
 *     status: "running" | "passed" | "failed" | "interrupted" | "error",
 *     error?: string,                         // environment/target failure that ended the run
 *     counts: { traces, packets, agreements, disagreements,   // search phase (not shrinking)
 *               byKind: { [DiffKind]: int }, exceptionsApplied: { [rowId]: int }, targetErrors,
 *               states: { [ct_state text]: int } },  // lookups per ct_state on the reference side
 *     shrink: { traces, packets, steps },     // evaluations during shrinking; steps = path length − 1
 *     timing: { elapsedMs, searchMs, shrinkMs, packetsPerSecond,
 *               samples: [ { t: ms since start, packets: cumulative } ] },
 *     counterexample: null | Counterexample,
 *     targetCounters?: { [name]: int },       // the target's own counters (bmv2: rounds, strayOutputs…)
 *   }
 *   Counterexample = {
 *     id: int (1-based, = N of counterexample-N.pcapng/.json),
 *     seed: int, path: string, final: boolean,  // final=false: shrinking was interrupted
 *     reproduced: boolean,                      // false: re-running it for shrinking agreed (flaky target)
 *     replay: string,                           // command line replaying it with --seed/--path
 *     replayFile?: string,                      // counterexample-N.json, for --replay
 *     scenario: Scenario, description: string,  // harness/arbitraries Scenario + describeScenario
 *     failingStep: int, differences: Difference[],
 *     packets: [ PacketReport ],                // the trace up to and including failingStep
 *     state?: StateSnapshot                     // both sides just before failingStep, at its time (re-run once)
 *   }
 *   StateSnapshot = { step: int, reference: StateReport, target: StateReport, note?: string }
 *   StateReport = { name: string, sections: [ { title: string, lines: [string] } ], note?: string }
 *   PacketReport = { index, time (ms), port, frame (hex), label?,
 *                    expected: VerdictReport | null, observed: VerdictReport | null,
 *                    differences: Difference[], excused: [ { diff: Difference, rule: rowId } ] }
 *   VerdictReport = { outputs: [ { port, bytes (hex), ct?: CtReport } ], lookups: [ CtReport & { table } ],
 *                     text: string }             // formatVerdict one-liner
 *   CtReport = { state: int, stateText: string, zone: int, mark: int, label: "0x…" }
 *   ShardReport = { index, count, dir, status, configHash, traces, packets, disagreements,
 *                   firstFailure: null | { trace: int, path, files: [string] } }
 */
import type { TrafficCoverage } from './key-coverage.js';
import type { Difference, DiffKind, ExcusedDifference } from '../compare/types.js';
import type { ExceptionKind } from '../exceptions.js';
import type { Scenario, TrafficOptions } from '../arbitraries/index.js';

export const REPORT_SCHEMA = 'ctoffload-conformance/1';

export type RunStatus = 'running' | 'passed' | 'failed' | 'interrupted' | 'error';

export interface CtReport {
  state: number;
  stateText: string;
  zone: number;
  mark: number;
  label: string;
}

export interface VerdictReport {
  outputs: { port: number; bytes: string; ct?: CtReport }[];
  lookups: (CtReport & { table: number })[];
  text: string;
}

export interface PacketReport {
  index: number;
  time: number;
  port: number;
  frame: string;
  label?: string;
  expected: VerdictReport | null;
  observed: VerdictReport | null;
  differences: Difference[];
  excused: ExcusedDifference[];
}

/** One side's state (Target.snapshot): titled sections of text lines. */
export interface StateReport {
  name: string;
  sections: { title: string; lines: string[] }[];
  /** Why there are no sections (no snapshot support, or it failed). */
  note?: string;
}

/** Both sides' state just before packet `step` of a counterexample, at its time (clocks advanced). */
export interface StateSnapshot {
  step: number;
  reference: StateReport;
  target: StateReport;
  /** E.g. the re-run did not fail at the same packet. */
  note?: string;
}

export interface Counterexample {
  id: number;
  seed: number;
  path: string;
  final: boolean;
  reproduced: boolean;
  replay: string;
  replayFile?: string;
  scenario: Scenario;
  description: string;
  failingStep: number;
  differences: Difference[];
  packets: PacketReport[];
  state?: StateSnapshot;
}

export interface PropertyCounts {
  traces: number;
  packets: number;
  agreements: number;
  disagreements: number;
  byKind: Partial<Record<DiffKind, number>>;
  exceptionsApplied: Record<string, number>;
  targetErrors: number;
  /** Coverage: lookups per ct_state value (display form) on the reference side, search phase. */
  states: Record<string, number>;
}

/** `--shard i/n`: this run searched the traces t (0-based fast-check run index) with t mod n = i − 1. */
export interface ShardSpec {
  /** 1-based. */
  index: number;
  count: number;
}

/** One shard of a merged report (`ctoffload report merge`, harness/report/merge.ts). */
export interface ShardReport {
  index: number;
  count: number;
  /** The shard's report directory as given to the merge. */
  dir: string;
  status: RunStatus;
  configHash: string;
  traces: number;
  packets: number;
  disagreements: number;
  /** The shard's counterexample: its trace index, path, and its files copied into the merged directory. */
  firstFailure: { trace: number; path: string; files: string[] } | null;
}

/**
 * What the search phase exercised (model side, plus the punts the target reported). Sites are
 * the reference's recirculating ct lookups, named `table=T zone=Z`.
 */
export interface CoverageReport {
  /** Reference lookups per site and ct_state combination (display form, `est|trk`). */
  lookups: Record<string, Record<string, number>>;
  /**
   * Packets per outcome the offload contract allows on the reference side ('hardware' or a punt
   * reason; '*' = not judged), when the reference knows the contract (bmv2 runs); {} otherwise.
   */
  allowed: Record<string, number>;
  /** Packets per punt reason the target reported ('hardware': decided in hardware); {} when it reports none. */
  punts: Record<string, number>;
  /** Every punt reason of the offload (offload/punt.ts), so that the never-hit ones can be listed. */
  puntReasons: string[];
  /**
   * One row per policy flow, keyed by its 1-based line in the policy source (all flows, the
   * never-hit ones included). Absent in reports written before per-entry coverage.
   */
  entries?: Record<string, EntryCoverage>;
  /**
   * Packets that hit an entry of each of the target's own conntrack tables (bmv2: P4 table →
   * sum of its entries' direct counters, read at the end of every trace); absent for targets
   * without such tables.
   */
  ctTables?: Record<string, number>;
  /**
   * Packets per action of the target's policy entries (bmv2: the P4 action of each stage table
   * entry, from the same direct counters); absent for targets without such actions.
   */
  actions?: Record<string, number>;
  /** Where each side's entry counts come from (`model flow lookups`, `direct counters`, …). */
  entrySources?: { reference?: string; target?: string };
  /** Traces after which a side's counters could not be read (their hits are missing). */
  entryReadFailures?: number;
}

/** A policy flow's coverage: what the reference ran and what the target counted. */
export interface EntryCoverage {
  /** The flow's OpenFlow table and priority, and its text as written. */
  table: number;
  priority: number;
  text: string;
  /** Packets that hit it in the reference (the pipeline's per-flow n_packets). */
  reference: number;
  /**
   * Packets the target's own counters credited to it (bmv2: the direct counters of its entries
   * in every stage table; OVS: n_packets); absent when the target reports no per-entry counts.
   */
  target?: number;
}

export interface PropertyReport {
  name: string;
  target: string;
  reference: string;
  /** The configuration the target ran (e.g. bmv2's deployed configuration or an oracle mode). */
  targetMode?: string;
  versions: Record<string, Record<string, string>>;
  policy: { source: string; text: string };
  config: { seed: number; runs: number; path?: string; replay?: string; jobs: number; packetTimeoutMs: number; traffic: TrafficOptions; shard?: ShardSpec };
  /**
   * sha256 (hex) of the configuration shards must share to be merged (harness/report/
   * config-hash.ts: policy text, seed, runs, shard count, traffic, target and reference with
   * their versions and mode, ctoffload and fast-check versions, the exceptions table). Written
   * by every run; absent from reports written before it existed.
   */
  configHash?: string;
  /** What the search exercised (written by runs since coverage exists). */
  coverage?: CoverageReport;
  /** Key bits and parser paths the search's traffic exercised (harness/report/key-coverage.ts, issue 16). */
  trafficCoverage?: TrafficCoverage;
  /** Merged reports only (`ctoffload report merge`): the shards, in index order. */
  shards?: ShardReport[];
  status: RunStatus;
  error?: string;
  counts: PropertyCounts;
  shrink: { traces: number; packets: number; steps: number };
  timing: { elapsedMs: number; searchMs: number; shrinkMs: number; packetsPerSecond: number; samples: { t: number; packets: number }[] };
  counterexample: Counterexample | null;
  /** The target's own counters summed over its instances (Target.counters), when it has any. */
  targetCounters?: Record<string, number>;
}

export interface ExceptionRowReport {
  id: string;
  kind: ExceptionKind;
  targets: string[];
  kinds: DiffKind[];
  reason: string;
  source: string;
}

export interface ConformanceReport {
  schema: typeof REPORT_SCHEMA;
  status: RunStatus;
  command?: string;
  error?: string;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  tool: { ctoffload: string; node: string; fastCheck: string };
  exceptions: ExceptionRowReport[];
  properties: PropertyReport[];
}

/** Overall status of several properties: error > failed > interrupted > running > passed. */
export function overallStatus(props: readonly PropertyReport[]): RunStatus {
  const order: RunStatus[] = ['error', 'failed', 'interrupted', 'running', 'passed'];
  for (const s of order) if (props.some((p) => p.status === s)) return s;
  return 'passed';
}

/**
 * Structural check of a parsed report.json against this schema (tests, and `--replay` reading a
 * report). Returns a list of problems (empty = valid).
 */
export function checkReport(x: unknown): string[] {
  const p: string[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const need = (o: Record<string, unknown>, k: string, t: string, at: string): void => {
    const v = o[k];
    const ok = t === 'array' ? Array.isArray(v) : t === 'object' ? isObj(v) : t === 'null|object' ? v === null || isObj(v) : typeof v === t;
    if (!ok) p.push(`${at}.${k}: expected ${t}`);
  };
  if (!isObj(x)) return ['report: not an object'];
  if (x.schema !== REPORT_SCHEMA) p.push(`schema: expected ${REPORT_SCHEMA}`);
  need(x, 'status', 'string', 'report');
  need(x, 'startedAt', 'string', 'report');
  need(x, 'tool', 'object', 'report');
  need(x, 'exceptions', 'array', 'report');
  need(x, 'properties', 'array', 'report');
  const props = Array.isArray(x.properties) ? x.properties : [];
  props.forEach((pr: unknown, i: number) => {
    const at = `properties[${i}]`;
    if (!isObj(pr)) return void p.push(`${at}: not an object`);
    for (const k of ['name', 'target', 'reference', 'status']) need(pr, k, 'string', at);
    for (const k of ['versions', 'policy', 'config', 'counts', 'shrink', 'timing']) need(pr, k, 'object', at);
    need(pr, 'counterexample', 'null|object', at);
    if (pr.targetMode !== undefined && typeof pr.targetMode !== 'string') p.push(`${at}.targetMode: expected a string`);
    if (pr.targetCounters !== undefined && (!isObj(pr.targetCounters) || !Object.values(pr.targetCounters).every((v) => typeof v === 'number'))) p.push(`${at}.targetCounters: expected { name: number }`);
    if (isObj(pr.config)) {
      need(pr.config, 'seed', 'number', `${at}.config`);
      const sh = pr.config.shard;
      if (sh !== undefined && !(isObj(sh) && Number.isInteger(sh.index) && Number.isInteger(sh.count) && (sh.count as number) >= 1 && (sh.index as number) >= 1 && (sh.index as number) <= (sh.count as number))) {
        p.push(`${at}.config.shard: expected { index, count } with 1 ≤ index ≤ count`);
      }
    }
    if (pr.configHash !== undefined && (typeof pr.configHash !== 'string' || !/^[0-9a-f]{64}$/.test(pr.configHash))) p.push(`${at}.configHash: expected 64 lowercase hex digits`);
    if (pr.coverage !== undefined) {
      const cv = pr.coverage;
      const counts = (v: unknown): boolean => isObj(v) && Object.values(v).every((n) => typeof n === 'number');
      if (!isObj(cv) || !isObj(cv.lookups) || !Object.values(cv.lookups).every(counts) || !counts(cv.allowed) || !counts(cv.punts) || !Array.isArray(cv.puntReasons)) {
        p.push(`${at}.coverage: expected { lookups: { site: { state: number } }, allowed, punts: { name: number }, puntReasons: string[] }`);
      } else {
        const row = (r: unknown): boolean =>
          isObj(r) && typeof r.table === 'number' && typeof r.priority === 'number' && typeof r.text === 'string' && typeof r.reference === 'number' && (r.target === undefined || typeof r.target === 'number');
        if (cv.entries !== undefined && !(isObj(cv.entries) && Object.entries(cv.entries).every(([k, r]) => /^\d+$/.test(k) && row(r)))) {
          p.push(`${at}.coverage.entries: expected { line: { table, priority, text, reference: number, target?: number } }`);
        }
        if (cv.ctTables !== undefined && !counts(cv.ctTables)) p.push(`${at}.coverage.ctTables: expected { table: number }`);
        if (cv.actions !== undefined && !counts(cv.actions)) p.push(`${at}.coverage.actions: expected { action: number }`);
        if (cv.entryReadFailures !== undefined && typeof cv.entryReadFailures !== 'number') p.push(`${at}.coverage.entryReadFailures: expected a number`);
      }
    }
    if (pr.shards !== undefined) {
      if (!Array.isArray(pr.shards)) p.push(`${at}.shards: expected an array`);
      else pr.shards.forEach((sh: unknown, j: number) => {
        const sat = `${at}.shards[${j}]`;
        if (!isObj(sh)) return void p.push(`${sat}: not an object`);
        for (const k of ['index', 'count', 'traces', 'packets', 'disagreements']) need(sh, k, 'number', sat);
        for (const k of ['dir', 'status', 'configHash']) need(sh, k, 'string', sat);
        need(sh, 'firstFailure', 'null|object', sat);
      });
    }
    if (isObj(pr.counts)) for (const k of ['traces', 'packets', 'agreements', 'disagreements', 'targetErrors']) need(pr.counts, k, 'number', `${at}.counts`);
    const c = pr.counterexample;
    if (isObj(c)) {
      for (const k of ['id', 'seed', 'failingStep']) need(c, k, 'number', `${at}.counterexample`);
      for (const k of ['path', 'replay', 'description']) need(c, k, 'string', `${at}.counterexample`);
      need(c, 'scenario', 'object', `${at}.counterexample`);
      need(c, 'packets', 'array', `${at}.counterexample`);
      need(c, 'differences', 'array', `${at}.counterexample`);
      (Array.isArray(c.packets) ? c.packets : []).forEach((pk: unknown, j: number) => {
        const pat = `${at}.counterexample.packets[${j}]`;
        if (!isObj(pk)) return void p.push(`${pat}: not an object`);
        for (const k of ['index', 'time', 'port']) need(pk, k, 'number', pat);
        need(pk, 'frame', 'string', pat);
        need(pk, 'expected', 'null|object', pat);
        need(pk, 'observed', 'null|object', pat);
        need(pk, 'differences', 'array', pat);
      });
      if (c.state !== undefined) {
        const sat = `${at}.counterexample.state`;
        if (!isObj(c.state)) p.push(`${sat}: not an object`);
        else {
          need(c.state, 'step', 'number', sat);
          for (const side of ['reference', 'target']) {
            const r = c.state[side];
            if (!isObj(r)) {
              p.push(`${sat}.${side}: not an object`);
              continue;
            }
            need(r, 'name', 'string', `${sat}.${side}`);
            need(r, 'sections', 'array', `${sat}.${side}`);
            (Array.isArray(r.sections) ? r.sections : []).forEach((x: unknown, j: number) => {
              if (!isObj(x) || typeof x.title !== 'string' || !Array.isArray(x.lines) || !x.lines.every((l: unknown) => typeof l === 'string')) p.push(`${sat}.${side}.sections[${j}]: expected { title: string, lines: string[] }`);
            });
          }
        }
      }
    }
  });
  return p;
}
