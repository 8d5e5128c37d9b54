/**
 * `ctoffload report merge DIR… --out DIR [--json]`: one report directory (report.json,
 * report.html, junit.xml, traces.jsonl, counterexamples) from the report directories of the
 * shards of one `conformance --shard i/n` campaign (harness/report/merge.ts holds the rules).
 *
 * Exit status, that of the campaign as one run: 0 every shard passed, 1 a disagreement was
 * found, 2 usage or input error (bad option, unreadable report, shards that do not belong
 * together, missing or duplicate shards), 3 a shard ended in a target/environment error or never
 * finished (its report still says `running`), 5 every shard passed but the merged coverage
 * falls short of --min-coverage (the campaign-level check a sharded CI needs: one shard alone
 * cannot judge it), 130 a shard was interrupted.
 */
import { parseArgs } from 'node:util';
import { CtoffloadError } from '../../model/errors.js';
import { checkMinCoverage, coverageLine, mergeReportDirs, parseMinCoverage, shortfallLines, type CoverageShortfall, type PropertyReport } from '../report/index.js';
import { type CliCommand, type CliIo, EXIT_BAD_INPUT, EXIT_COVERAGE, EXIT_DISAGREE, EXIT_OK, reportError } from './command.js';

/** A shard ended in a target or environment error, or never finished. */
export const EXIT_TARGET = 3;
export const EXIT_INTERRUPTED = 130;

export const REPORT_USAGE = `usage: ctoffload report merge DIR... --out DIR [--min-coverage SPEC] [--json]

Merges the --report directories of the shards of one 'conformance --shard I/N' campaign into
one report directory, as if one unsharded run had written it: report.json, report.html,
junit.xml, traces.jsonl, counterexample-N.{json,pcapng} (the first failure: the lowest trace
index over all shards) and every shard's counterexample as shard-I-counterexample-N.*.
Counts are summed, the status is the worst of the shards'.

Rejected (exit 2): shards from different configurations (policy text, seed, runs, shard count,
traffic options, target, reference, target mode and versions, ctoffload and fast-check
versions, exceptions table), a missing or duplicate shard, a report that is not a shard.

  --out DIR   the merged report directory (created; not one of the shards' directories)
  --min-coverage SPEC  as for 'conformance' (all, or entries|target-entries|actions|ct-tables|punts=PCT,…),
              checked on the merged coverage: a campaign whose shards all passed but that
              leaves named parts unexercised exits 5, naming them
  --json      print one JSON summary object on stdout
  -h, --help  this text

Exit status: 0 all shards passed, 1 disagreement, 2 usage or input error, 3 a shard ended in
a target/environment error or never finished, 4 internal error, 5 all shards passed but the
merged coverage is below --min-coverage, 130 a shard was interrupted, 143 the merge itself was
stopped by SIGTERM (docs/exit-codes.md).
`;

export class ReportCliError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_CLI_REPORT', message);
  }
}

function exitFor(status: PropertyReport['status'], anyCounterexample: boolean): number {
  if (status === 'error' || status === 'running') return EXIT_TARGET;
  if (status === 'interrupted') return EXIT_INTERRUPTED;
  return anyCounterexample ? EXIT_DISAGREE : EXIT_OK;
}

export async function runReportCli(argv: string[], io: CliIo): Promise<number> {
  try {
    const [sub, ...rest] = argv;
    if (sub === '-h' || sub === '--help' || sub === undefined) {
      (sub === undefined ? io.err : io.out)(REPORT_USAGE);
      return sub === undefined ? EXIT_BAD_INPUT : EXIT_OK;
    }
    if (sub !== 'merge') throw new ReportCliError(`unknown subcommand '${sub}' (available: merge)`);
    const { values, positionals } = parseArgs({
      args: rest, strict: true, allowPositionals: true,
      options: { out: { type: 'string' }, 'min-coverage': { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    });
    if (values.help) {
      io.out(REPORT_USAGE);
      return EXIT_OK;
    }
    if (!values.out) throw new ReportCliError('merge: --out DIR is required');
    if (positionals.length === 0) throw new ReportCliError('merge: no shard report directory given');
    const minCoverage = values['min-coverage'] !== undefined ? parseMinCoverage(values['min-coverage']) : undefined;
    const command = ['ctoffload', 'report', ...argv].join(' ');
    const { report } = mergeReportDirs(positionals, values.out, { command });
    const hasCx = report.properties.some((p) => p.counterexample);
    // Only a campaign that passed is judged on coverage (as conformance does).
    const shortfalls = new Map<PropertyReport, CoverageShortfall[]>();
    if (minCoverage && report.status === 'passed') {
      for (const p of report.properties) {
        shortfalls.set(p, p.coverage ? checkMinCoverage(p.coverage, minCoverage, p.policy.source, p.target) : [{ part: 'entries', required: 100, reached: null, hit: 0, total: 0, never: ['the shards recorded no coverage'] }]);
      }
    }
    const short = [...shortfalls.values()].some((s) => s.length > 0);
    if (values.json) {
      io.out(JSON.stringify({
        status: report.status, out: values.out,
        properties: report.properties.map((p) => ({
          property: p.name, status: p.status, seed: p.config.seed, runs: p.config.runs, configHash: p.configHash,
          traces: p.counts.traces, packets: p.counts.packets, agreements: p.counts.agreements, disagreements: p.counts.disagreements,
          ...(p.coverage ? { coverage: p.coverage } : {}),
          ...(shortfalls.has(p) ? { minCoverage: { met: shortfalls.get(p)!.length === 0, shortfalls: shortfalls.get(p) } } : {}),
          shards: (p.shards ?? []).map((s) => ({ shard: `${s.index}/${s.count}`, dir: s.dir, status: s.status, traces: s.traces, firstFailure: s.firstFailure })),
          counterexample: p.counterexample ? { path: p.counterexample.path, replay: p.counterexample.replay, replayFile: p.counterexample.replayFile ?? null, kinds: p.counterexample.differences.map((d) => d.kind) } : null,
        })),
      }) + '\n');
    } else {
      const lines: string[] = [];
      for (const p of report.properties) {
        const sh = p.shards ?? [];
        lines.push(`${p.name}: ${p.status.toUpperCase()} (${sh.length} shards merged)`);
        lines.push(`  seed ${p.config.seed}, ${p.config.runs} runs; ${p.counts.traces} traces, ${p.counts.packets} packets, ${p.counts.agreements} agreeing, ${p.counts.disagreements} disagreeing trace(s), ${p.counts.targetErrors} target error(s)`);
        if (p.coverage) lines.push(`  coverage: ${coverageLine(p.coverage, p.policy.source)}`);
        const sf = shortfalls.get(p);
        if (sf?.length) {
          lines.push('  COVERAGE BELOW --min-coverage:');
          for (const l of shortfallLines(sf)) lines.push(`    ${l}`);
        } else if (sf) lines.push('  --min-coverage: met');
        for (const s of sh) {
          const ff = s.firstFailure ? `first failure at trace ${s.firstFailure.trace} (path ${s.firstFailure.path})` : 'no failure';
          lines.push(`  shard ${s.index}/${s.count} ${s.status}: ${s.traces} traces, ${ff} — ${s.dir}`);
        }
        const unfinished = sh.filter((s) => s.status !== 'passed' && s.status !== 'failed');
        if (unfinished.length) lines.push(`  note: shard(s) ${unfinished.map((s) => `${s.index}/${s.count} (${s.status})`).join(', ')} did not finish their search: the first failure is the lowest found so far`);
        const c = p.counterexample;
        if (c) {
          lines.push(`  first failure: trace ${c.path.split(':')[0]}, disagreement at packet ${c.failingStep}:`);
          for (const d of c.differences) lines.push(`    ${d.kind}: ${d.message}`);
          lines.push(`  replay: ${c.replay}`);
        }
      }
      lines.push(`  reports: ${values.out}/report.html, report.json, junit.xml`);
      io.out(lines.join('\n') + '\n');
    }
    if (short) {
      io.err(`ctoffload report: merged coverage below --min-coverage ${values['min-coverage']}\n`);
      return EXIT_COVERAGE;
    }
    return exitFor(report.status, hasCx);
  } catch (e) {
    return reportError('report', e, io);
  }
}

export const reportCommand: CliCommand = {
  name: 'report',
  summary: "merge the report directories of a sharded conformance campaign ('report merge DIR... --out DIR')",
  run: (argv, io) => runReportCli(argv, io),
};
