/**
 * Coverage in report.json (`PropertyReport.coverage`, docs/report-schema.md "Coverage"): what
 * the search phase exercised —
 * - per policy entry (flow): how often the reference ran it (the pipeline's n_packets
 *   observer) and how often the target itself counted it (bmv2's direct counters, OVS's
 *   n_packets), by the flow's line;
 * - per conntrack table of the target (bmv2's direct counters);
 * - ct_state combinations per lookup site (reference side);
 * - the punt reasons the offload contract allowed (when the reference knows the contract) and
 *   the punts the target itself reported.
 * Summed over traces by the runner, over shards by the merge. `--min-coverage` specs are
 * parsed and checked here too.
 */
import { CtoffloadError } from '../../model/errors.js';
import type { Policy } from '../../model/pipeline/ast.js';
import type { EntryHits } from '../targets/target.js';
import type { CoverageReport, EntryCoverage } from './schema.js';

export function emptyCoverage(puntReasons: readonly string[]): CoverageReport {
  return { lookups: {}, allowed: {}, punts: {}, puntReasons: [...puntReasons] };
}

/** One row per policy flow (all counts 0), keyed by the flow's 1-based line. */
export function policyEntries(policy: Pick<Policy, 'flows'>): Record<string, EntryCoverage> {
  const out: Record<string, EntryCoverage> = {};
  for (const f of policy.flows) out[String(f.pos.line)] = { table: f.table, priority: f.priority, text: f.text, reference: 0 };
  return out;
}

/** What one trace adds to the coverage (harness/runner/trace.ts TraceOutcome.coverage). */
export interface TraceCoverage {
  lookups: Record<string, Record<string, number>>;
  allowed: Record<string, number>;
  punts: Record<string, number>;
  /** Each side's counters read at the end of the trace (absent: that side keeps none). */
  hits?: { reference?: EntryHits; target?: EntryHits };
  /** A side's counters could not be read at the end of this trace (its hits are missing). */
  hitsLost?: boolean;
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** A row for a line the policy list does not have (should not happen: the same policy text). */
function rowFor(c: CoverageReport, line: string): EntryCoverage {
  const entries = (c.entries ??= {});
  return (entries[line] ??= { table: -1, priority: -1, text: '(not in the policy)', reference: 0 });
}

/** Adds a trace's counters (TraceCoverage.hits) into `into`. */
function addHits(into: CoverageReport, hits: NonNullable<TraceCoverage['hits']>): void {
  const ref = hits.reference;
  const tgt = hits.target;
  if (ref?.flows) {
    (into.entrySources ??= {}).reference = ref.source;
    for (const [line, n] of Object.entries(ref.flows)) rowFor(into, line).reference += n;
  }
  if (tgt?.flows) {
    (into.entrySources ??= {}).target = tgt.source;
    // Once a target reports per-entry counts, every row has a target count (0 = never hit).
    for (const row of Object.values(into.entries ?? {})) row.target ??= 0;
    for (const [line, n] of Object.entries(tgt.flows)) {
      const row = rowFor(into, line);
      row.target = (row.target ?? 0) + n;
    }
  }
  if (tgt?.ctTables) addCounts((into.ctTables ??= {}), tgt.ctTables);
  if (tgt?.actions) addCounts((into.actions ??= {}), tgt.actions);
}

/** Adds `from` (a trace's or a shard's coverage) into `into`. */
export function addCoverage(into: CoverageReport, from: TraceCoverage | CoverageReport): CoverageReport {
  for (const [site, states] of Object.entries(from.lookups)) addCounts((into.lookups[site] ??= {}), states);
  addCounts(into.allowed, from.allowed);
  addCounts(into.punts, from.punts);
  if ('puntReasons' in from) {
    // A shard's report: rows, ct tables and sources as they are.
    for (const r of from.puntReasons) if (!into.puntReasons.includes(r)) into.puntReasons.push(r);
    for (const [line, row] of Object.entries(from.entries ?? {})) {
      const mine = (into.entries ??= {})[line];
      if (!mine) into.entries[line] = { ...row };
      else {
        mine.reference += row.reference;
        if (row.target !== undefined) mine.target = (mine.target ?? 0) + row.target;
      }
    }
    if (from.ctTables) addCounts((into.ctTables ??= {}), from.ctTables);
    if (from.actions) addCounts((into.actions ??= {}), from.actions);
    if (from.entrySources) into.entrySources = { ...into.entrySources, ...from.entrySources };
    if (from.entryReadFailures) into.entryReadFailures = (into.entryReadFailures ?? 0) + from.entryReadFailures;
  } else {
    if (from.hits) addHits(into, from.hits);
    if (from.hitsLost) into.entryReadFailures = (into.entryReadFailures ?? 0) + 1;
  }
  return into;
}

/** Punt reasons never allowed by the contract (when it was known) and never reported by the target. */
export function neverHitReasons(c: CoverageReport): string[] {
  return c.puntReasons.filter((r) => !c.allowed[r] && !c.punts[r]);
}

/** Whether the punt reasons were observed at all (a contract-aware reference, or a target that punts). */
export function puntsKnown(c: CoverageReport): boolean {
  return Object.keys(c.allowed).length > 0 || Object.keys(c.punts).length > 0;
}

const byLine = (a: string, b: string): number => Number(a) - Number(b);

/**
 * Lines of the policy flows no side ran (neither the reference nor the target counted a packet),
 * in line order: what coverage-guided traffic should aim at next.
 */
export function unhitEntries(c: CoverageReport): number[] {
  return Object.entries(c.entries ?? {}).filter(([, r]) => r.reference === 0 && !r.target).map(([l]) => Number(l)).sort((a, b) => a - b);
}

/** Lines of the policy flows the target's own counters never counted; null when the target reports none. */
export function targetUnhitEntries(c: CoverageReport): number[] | null {
  const rows = Object.entries(c.entries ?? {});
  if (!c.entrySources?.target) return null;
  return rows.filter(([, r]) => !r.target).map(([l]) => Number(l)).sort((a, b) => a - b);
}

/** The target's conntrack tables never hit; null when it has none. */
export function unhitCtTables(c: CoverageReport): string[] | null {
  if (!c.ctTables) return null;
  return Object.entries(c.ctTables).filter(([, n]) => n === 0).map(([t]) => t).sort();
}

/** The target's policy-entry actions never hit; null when it reports none. */
export function unhitActions(c: CoverageReport): string[] | null {
  if (!c.actions) return null;
  return Object.entries(c.actions).filter(([, n]) => n === 0).map(([a]) => a).sort();
}

/** `policy.flows:7` for a line (the policy's file name, as in every other message). */
function place(source: string, line: number): string {
  return `${source.split('/').pop()}:${line}`;
}

function neverList(names: string[], max = 8): string {
  if (!names.length) return '';
  const shown = names.slice(0, max).join(', ');
  return ` (never: ${shown}${names.length > max ? `, … ${names.length - max} more` : ''})`;
}

/** One line for the CLI summary. `source` names the policy in the never-hit lists. */
export function coverageLine(c: CoverageReport, source = 'policy'): string {
  const parts: string[] = [];
  const entries = Object.keys(c.entries ?? {});
  if (entries.length) {
    const never = unhitEntries(c);
    parts.push(`policy entries ${entries.length - never.length}/${entries.length} hit${neverList(never.map((l) => place(source, l)))}`);
    const tNever = targetUnhitEntries(c);
    if (tNever) parts.push(`counted by the target (${c.entrySources!.target}) ${entries.length - tNever.length}/${entries.length}${neverList(tNever.map((l) => place(source, l)))}`);
  }
  const acts = unhitActions(c);
  if (acts) {
    const n = Object.keys(c.actions!).length;
    parts.push(`entry actions ${n - acts.length}/${n} hit${neverList(acts)}`);
  }
  const ct = unhitCtTables(c);
  if (ct) {
    const n = Object.keys(c.ctTables!).length;
    parts.push(`ct tables ${n - ct.length}/${n} hit${neverList(ct)}`);
  }
  if (puntsKnown(c)) {
    const never = neverHitReasons(c);
    parts.push(`punt reasons ${c.puntReasons.length - never.length}/${c.puntReasons.length} hit${neverList(never)}`);
  } else {
    parts.push('punt reasons: not reported by this target or reference');
  }
  const sites = Object.keys(c.lookups).sort();
  const combos = sites.reduce((n, s) => n + Object.keys(c.lookups[s]!).length, 0);
  const perSite = sites.map((s) => `${s}: ${Object.keys(c.lookups[s]!).sort().join(' ')}`).join('; ');
  parts.push(`${combos} ct_state combination(s) at ${sites.length} lookup site(s)${sites.length ? ` (${perSite})` : ''}`);
  if (c.entryReadFailures) parts.push(`counters unread after ${c.entryReadFailures} trace(s)`);
  return parts.join('; ');
}

// ---- --min-coverage -------------------------------------------------------------------------

/** The parts `--min-coverage` can name (docs/exit-codes.md, README "Coverage"). */
export const COVERAGE_PARTS = {
  entries: 'policy entries run by the reference or counted by the target',
  'target-entries': "policy entries counted by the target's own counters",
  actions: "the P4 actions of the target's policy entries",
  'ct-tables': "the target's conntrack tables",
  punts: 'punt reasons',
} as const;
export type CoveragePart = keyof typeof COVERAGE_PARTS;

/** A parsed `--min-coverage`: required percentage per part; `all` = every part the run can measure, 100%. */
export type MinCoverage = { all: true } | { all: false; parts: Partial<Record<CoveragePart, number>> };

/** A bad `--min-coverage` value (a usage error, exit 2). */
export class MinCoverageSpecError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_CLI_MIN_COVERAGE', message);
  }
}

/**
 * `all` or `PART=PCT[,PART=PCT…]` with PART one of COVERAGE_PARTS and PCT a number 0…100
 * (`%` allowed). Errors name the option, the item and its column.
 */
export function parseMinCoverage(spec: string): MinCoverage {
  const s = spec.trim();
  if (s === 'all') return { all: true };
  const parts: Partial<Record<CoveragePart, number>> = {};
  let col = 1;
  const names = Object.keys(COVERAGE_PARTS).join(', ');
  if (s === '') throw new MinCoverageSpecError(`--min-coverage: empty; expected 'all' or PART=PCT,… with PART one of ${names}`);
  for (const item of spec.split(',')) {
    const m = /^\s*([a-z-]+)\s*=\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(item);
    const where = `--min-coverage "${spec}", column ${col}`;
    if (!m) throw new MinCoverageSpecError(`${where}: "${item}" is not PART=PCT (e.g. entries=100,punts=80; or 'all')`);
    const part = m[1]! as CoveragePart;
    if (!(part in COVERAGE_PARTS)) throw new MinCoverageSpecError(`${where}: unknown part "${m[1]}" (parts: ${names})`);
    const pct = Number(m[2]);
    if (pct > 100) throw new MinCoverageSpecError(`${where}: ${pct}% is over 100`);
    if (parts[part] !== undefined) throw new MinCoverageSpecError(`${where}: "${part}" given twice`);
    parts[part] = pct;
    col += item.length + 1;
  }
  return { all: false, parts };
}

/** One part of a `--min-coverage` check. */
export interface CoverageShortfall {
  part: CoveragePart;
  required: number;
  /** Percentage reached; null when this run cannot measure the part (the target reports no such counters). */
  reached: number | null;
  hit: number;
  total: number;
  /** What was never hit (`policy.flows:7`, a table, a reason), or why it cannot be measured. */
  never: string[];
}

interface PartState {
  hit: number;
  total: number;
  never: string[];
  unmeasured?: string;
}

function partState(c: CoverageReport, part: CoveragePart, source: string, target: string): PartState {
  const total = Object.keys(c.entries ?? {}).length;
  switch (part) {
    case 'entries': {
      const never = unhitEntries(c);
      return { hit: total - never.length, total, never: never.map((l) => place(source, l)) };
    }
    case 'target-entries': {
      const never = targetUnhitEntries(c);
      if (!never) return { hit: 0, total, never: [], unmeasured: `the ${target} target reports no per-entry counters` };
      return { hit: total - never.length, total, never: never.map((l) => place(source, l)) };
    }
    case 'actions': {
      const never = unhitActions(c);
      if (!never) return { hit: 0, total: 0, never: [], unmeasured: `the ${target} target reports no per-action counts` };
      const n = Object.keys(c.actions!).length;
      return { hit: n - never.length, total: n, never };
    }
    case 'ct-tables': {
      const never = unhitCtTables(c);
      if (!never) return { hit: 0, total: 0, never: [], unmeasured: `the ${target} target has no conntrack tables of its own` };
      const n = Object.keys(c.ctTables!).length;
      return { hit: n - never.length, total: n, never };
    }
    case 'punts': {
      if (!puntsKnown(c)) return { hit: 0, total: c.puntReasons.length, never: [], unmeasured: `neither the ${target} target nor its reference reports punt reasons` };
      const never = neverHitReasons(c);
      return { hit: c.puntReasons.length - never.length, total: c.puntReasons.length, never };
    }
  }
}

/**
 * The parts of `min` this coverage falls short of ([] = met). A part named explicitly that the
 * run cannot measure falls short (reached null); `all` asks 100% of the parts it can measure.
 * An empty part (no entries at all) counts as 100%.
 */
export function checkMinCoverage(c: CoverageReport, min: MinCoverage, source: string, target: string): CoverageShortfall[] {
  const out: CoverageShortfall[] = [];
  const wanted: [CoveragePart, number][] = min.all
    ? (Object.keys(COVERAGE_PARTS) as CoveragePart[]).map((p) => [p, 100])
    : (Object.entries(min.parts) as [CoveragePart, number][]);
  for (const [part, required] of wanted) {
    const st = partState(c, part, source, target);
    if (st.unmeasured !== undefined) {
      if (!min.all) out.push({ part, required, reached: null, hit: 0, total: st.total, never: [st.unmeasured] });
      continue;
    }
    const reached = st.total === 0 ? 100 : (100 * st.hit) / st.total;
    if (reached < required) out.push({ part, required, reached, hit: st.hit, total: st.total, never: st.never });
  }
  return out;
}

/** One line per shortfall, naming what was never hit. */
export function shortfallLines(s: readonly CoverageShortfall[]): string[] {
  return s.map((f) =>
    f.reached === null
      ? `${f.part}: required ${f.required}%, not measurable: ${f.never.join('; ')}`
      : `${f.part}: ${f.hit}/${f.total} = ${f.reached.toFixed(1)}% < required ${f.required}%; never hit: ${f.never.join(', ')}`,
  );
}
