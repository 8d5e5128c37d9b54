/**
 * Coverage in report.json (`PropertyReport.coverage`, docs/report-schema.md "Coverage"): what
 * the search phase exercised, from the reference side (ct_state combinations per lookup site;
 * the punt reasons the offload contract allowed, when the reference knows the contract) and the
 * punts the target itself reported. Summed over traces by the runner, over shards by the merge.
 */
import type { CoverageReport } from './schema.js';

export function emptyCoverage(puntReasons: readonly string[]): CoverageReport {
  return { lookups: {}, allowed: {}, punts: {}, puntReasons: [...puntReasons] };
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** Adds `from` (a trace's or a shard's coverage) into `into`. */
export function addCoverage(into: CoverageReport, from: Pick<CoverageReport, 'lookups' | 'allowed' | 'punts'> & { puntReasons?: string[] }): CoverageReport {
  for (const [site, states] of Object.entries(from.lookups)) addCounts((into.lookups[site] ??= {}), states);
  addCounts(into.allowed, from.allowed);
  addCounts(into.punts, from.punts);
  for (const r of from.puntReasons ?? []) if (!into.puntReasons.includes(r)) into.puntReasons.push(r);
  return into;
}

/** Punt reasons never allowed by the contract (when it was known) and never reported by the target. */
export function neverHitReasons(c: CoverageReport): string[] {
  return c.puntReasons.filter((r) => !c.allowed[r] && !c.punts[r]);
}

/** One line for the CLI summary. */
export function coverageLine(c: CoverageReport): string {
  const sites = Object.keys(c.lookups).sort();
  const combos = sites.reduce((n, s) => n + Object.keys(c.lookups[s]!).length, 0);
  const perSite = sites.map((s) => `${s}: ${Object.keys(c.lookups[s]!).sort().join(' ')}`).join('; ');
  const parts = [`${combos} ct_state combination(s) at ${sites.length} lookup site(s)${sites.length ? ` (${perSite})` : ''}`];
  const known = Object.keys(c.allowed).length > 0 || Object.keys(c.punts).length > 0;
  if (known) {
    const hit = c.puntReasons.length - neverHitReasons(c).length;
    const never = neverHitReasons(c);
    parts.push(`punt reasons ${hit}/${c.puntReasons.length} hit${never.length ? ` (never: ${never.join(', ')})` : ''}`);
  } else {
    parts.push('punt reasons: not reported by this target or reference');
  }
  return parts.join('; ');
}
