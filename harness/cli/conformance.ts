/**
 * `ctoffload conformance --target ovs|bmv2 --policy FILE [--runs N] [--seed S]
 *  [--path P | --replay FILE] [--report DIR] [--jobs N] [--traffic FILE] [--json]`
 *
 * Runs the differential property (harness/runner) of the policy: generated traffic through the
 * reference model and the target, compared packet by packet, the first disagreement shrunk to a
 * minimal trace. Progress goes to stderr when it is a terminal; the summary to stdout (or one
 * JSON object with --json). Exit status (harness/cli/command.ts, docs/exit-codes.md): 0 every
 * packet agreed, 1 a disagreement was found, 2 usage or input error, 3 target or environment
 * failure (ovs-vswitchd missing, a target that died or would not start, disk full), 4 internal
 * error, 5 every packet agreed but coverage fell short of --min-coverage, 130/143 interrupted by SIGINT/SIGTERM (the run stops, then the targets close; the
 * reports are final and list what was found).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { whichSync } from '../../p4/index.js';
import { parseArgs } from 'node:util';
import { CtoffloadError, errnoText } from '../../model/errors.js';
import { parsePolicy, PipelineEngine } from '../../model/pipeline/index.js';
import type { Scenario, TrafficOptions } from '../arbitraries/index.js';
import { EXCEPTIONS } from '../exceptions.js';
import { checkMinCoverage, checkReport, coverageLine, parseMinCoverage, shortfallLines, stateTextLines, trafficCoverageLine, type CoverageShortfall, type MinCoverage, type PropertyReport } from '../report/index.js';
import { runConformance, type Progress, type TargetFactory } from '../runner/index.js';
import { ModelTarget } from '../targets/model.js';
import { bmv2Run, type Bmv2Run } from '../targets/bmv2/index.js';
import { OvsTarget } from '../targets/ovs/index.js';
import type { Target } from '../targets/target.js';
import { type CliCommand, type CliIo, EXIT_BAD_INPUT, EXIT_COVERAGE, EXIT_DISAGREE, EXIT_ENVIRONMENT, EXIT_OK, EXIT_SIGINT, EXIT_STATUS_HELP, joinOptionValues, reportError } from './command.js';
import { ownSignals } from './signals.js';
import { readTrafficFile } from './traffic-file.js';

/** Exit status of a run stopped by SIGINT (SIGTERM: 143). */
export const EXIT_INTERRUPTED = EXIT_SIGINT;

export const CONFORMANCE_USAGE = `usage: ctoffload conformance --target ovs|bmv2 --policy FILE [options]

Generates traffic (harness/arbitraries), runs every packet through the reference model and the
target, compares them packet by packet and shrinks the first disagreement to a minimal trace.

  --target NAME     ovs (Open vSwitch 3.1, dummy datapath), bmv2, or model (self-check)
  --policy FILE     policy in OVS flow syntax (plus timeout_policy / zone_limit directives)
  --runs N          generated traces (default 100)
  --seed S          fast-check seed (default random; printed and recorded)
  --path P          with --seed: replay exactly this counterexample path
  --replay FILE     replay a counterexample-N.json (or the first of a report.json)
  --report DIR      write report.json, report.html, junit.xml, traces.jsonl and
                    counterexample-N.{json,pcapng} to DIR (kept up to date while running;
                    one run per DIR at a time: report.lock)
  --artifacts DIR   with --target bmv2: use this prebuilt or hand-modified artifact set (what
                    'ctoffload generate --probe --out DIR' writes: an observation build)
                    instead of generating one
  --jobs N          parallel target instances for the search (default 1); the first failing
                    trace, its shrinking and the path do not depend on N
  --shard I/N       run shard I of N (1 ≤ I ≤ N): only the traces t with t mod N = I−1, the
                    same set on any machine for the same --seed, --runs and N; merge the
                    shards' --report directories with 'ctoffload report merge'. A shard's
                    counterexample replays with the plain --seed/--path it prints
  --window N        with --target bmv2: inputs in flight per instance, 1..32 (default 32;
                    the Verdicts are those of sending one at a time, 1 = strict lock-step)
  --ageing MODE     with --target bmv2: 'hardware' (default) checks the deployed configuration:
                    the production controller core ages connections from the hardware's direct
                    counters, sequence checks as deployed, and every packet is checked against
                    the offload contract (decided in hardware or punted for the promised
                    reason). 'exact' is an ORACLE MODE: every packet the hardware decides is
                    replayed into the controller, which no NIC reports; it is labelled in the
                    report and never the default
  --traffic FILE    traffic options as JSON (harness/arbitraries TrafficOptions); must be given
                    again when replaying with --seed/--path. Without it, ports, address pools
                    and server ports are fitted to the policy (README "Traffic"); frames with
                    two VLAN tags are generated only with --target model or bmv2 (include.doubleVlan)
  --traffic-weighting W  'uniform' (default) or 'coverage': each run keeps, of a few candidate
                    scenarios, the one hitting most of what earlier runs (model only) missed;
                    replays need it again with --seed/--path (it is the traffic option weighting)
  --packet-timeout MS  deadline for one packet on one side (default 20000)
  --shrink-time S   stop shrinking after S seconds and report the smallest counterexample
                    so far (default 600; 0 = no limit)
  --min-coverage SPEC  fail an agreeing run (exit 5) that leaves parts unexercised; SPEC is
                    'all' (100% of every part the run can measure) or PART=PCT,… with PART:
                      entries         policy flows run by the reference or counted by the target
                      target-entries  policy flows counted by the target's own counters
                                      (bmv2 direct counters, OVS n_packets)
                      actions         P4 actions of the target's policy entries (bmv2)
                      ct-tables       the target's conntrack tables (bmv2)
                      punts           punt reasons allowed by the contract or reported
                    e.g. --min-coverage entries=100,punts=50. The never-hit parts are named;
                    a part the run cannot measure fails when named. A disagreement (exit 1)
                    or target failure (exit 3) takes precedence
  --json            print one JSON summary object on stdout
  -h, --help        this text

Ctrl-C or SIGTERM stops the run after the current packet, closes the targets and writes the
reports (status "interrupted"); a second signal stops at once.

${EXIT_STATUS_HELP}`;

export class ConformanceCliError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_CLI_CONFORMANCE', message);
  }
}

function intOpt(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new ConformanceCliError(`--${name}: "${v}" is not an integer in ${min}..${max}`);
  return Number(v);
}

/** `--shard I/N` with 1 ≤ I ≤ N ≤ 100000. */
export function parseShard(v: string | undefined): { index: number; count: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d{1,6})\/(\d{1,6})$/.exec(v);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || count > 100_000 || index < 1 || index > count) throw new ConformanceCliError(`--shard: "${v}" is not I/N with 1 ≤ I ≤ N ≤ 100000 (e.g. --shard 2/3)`);
  return { index, count };
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** bmv2 running the generated offload program (or `--artifacts DIR`) with the slow-path controller. */
function checkBmv2Tools(artifacts: string | undefined): void {
  if (!process.env.CTOFFLOAD_BMV2 && !whichSync('simple_switch_grpc')) {
    throw new CtoffloadError('CTO_TOOL_MISSING', '--target bmv2: simple_switch_grpc not found in PATH (or CTOFFLOAD_BMV2); build p4lang/behavioral-model with PI (--with-pi) and p4lang/p4c (p4c-bm2-ss), see README "Prerequisites"');
  }
  if (!artifacts && !process.env.CTOFFLOAD_P4C && !whichSync('p4c-bm2-ss')) {
    throw new CtoffloadError('CTO_TOOL_MISSING', '--target bmv2: p4c-bm2-ss not found in PATH (or CTOFFLOAD_P4C) to compile the generated program; build p4lang/p4c, or pass --artifacts DIR with a prebuilt program');
  }
}

/** Words for the report: what the bmv2 target ran. */
export function bmv2Mode(ageing: 'hardware' | 'exact'): string {
  return ageing === 'exact'
    ? 'ORACLE MODE (--ageing exact): every packet the hardware decides is replayed into the controller, which no NIC reports; not the deployed configuration'
    : 'deployed configuration: production controller core, hardware-driven ageing (direct counters), TCP sequence checks as deployed, offload contract checked';
}

interface ReplayInput {
  scenario: Scenario;
  policySource?: string;
  seed?: number;
  path?: string;
  traffic?: TrafficOptions;
}

function readReplay(file: string): ReplayInput {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ConformanceCliError((e as NodeJS.ErrnoException).code ? `--replay ${file}: cannot read: ${errnoText(e)}` : `--replay ${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (j.schema === 'ctoffload-counterexample/1' && j.scenario && typeof j.scenario === 'object') {
    const policySource = (j.policy as { source?: string } | undefined)?.source;
    return { scenario: j.scenario as Scenario, seed: j.seed as number, path: j.path as string, traffic: j.traffic as TrafficOptions, ...(policySource ? { policySource } : {}) };
  }
  if (checkReport(j).length === 0) {
    const p = (j.properties as PropertyReport[]).find((x) => x.counterexample);
    if (p?.counterexample) return { scenario: p.counterexample.scenario, seed: p.counterexample.seed, path: p.counterexample.path, traffic: p.config.traffic, policySource: p.policy.source };
    throw new ConformanceCliError(`--replay ${file}: the report has no counterexample`);
  }
  throw new ConformanceCliError(`--replay ${file}: neither a counterexample-N.json nor a report.json`);
}

function fmtDur(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function progressLine(p: Progress): string {
  if (p.phase === 'shrink') return `shrinking: ${p.shrinkSteps} steps, ${p.packets} packets, ${p.packetsPerSecond} pkt/s, ${fmtDur(p.elapsedMs)}`;
  const eta = p.etaMs !== null ? `, ETA ${fmtDur(p.etaMs)}` : '';
  return `traces ${p.traces}/${p.runs}, ${p.packets} packets, ${p.packetsPerSecond} pkt/s, ${fmtDur(p.elapsedMs)}${eta}${p.failed ? ', DISAGREEMENT found' : ''}`;
}

/** Share of the target's inputs decided in hardware (no punt), from its counters (bmv2: steps, puntedSteps). */
export function offloadRatio(r: PropertyReport): number | undefined {
  const c = r.targetCounters;
  if (!c || !c.steps || c.puntedSteps === undefined) return undefined;
  return (c.steps - c.puntedSteps) / c.steps;
}

/**
 * The `--min-coverage` verdict of a finished run: its shortfalls ([] = met), or null when the
 * option was not given or the coverage was not recorded.
 */
export function coverageShortfalls(r: PropertyReport, min: MinCoverage | undefined): CoverageShortfall[] | null {
  if (!min) return null;
  if (!r.coverage) return [{ part: 'entries', required: 100, reached: null, hit: 0, total: 0, never: ['this run recorded no coverage'] }];
  return checkMinCoverage(r.coverage, min, r.policy.source, r.target);
}

export function summaryText(r: PropertyReport, reportDir?: string, shortfalls?: CoverageShortfall[] | null): string {
  const c = r.counts;
  const lines = [
    `${r.name}: ${r.status.toUpperCase()}`,
    `  seed ${r.config.seed}${r.config.path ? `, path ${r.config.path}` : ''}${r.config.shard ? `, shard ${r.config.shard.index}/${r.config.shard.count} of ${r.config.runs} runs` : ''}; ${c.traces} traces, ${c.packets} packets, ${c.agreements} agreeing, ${c.disagreements} disagreeing trace(s), ${c.targetErrors} target error(s); ${r.timing.packetsPerSecond} packets/s over ${fmtDur(r.timing.elapsedMs)}`,
  ];
  if (r.coverage) lines.push(`  coverage: ${coverageLine(r.coverage, r.policy.source)}`);
  if (r.trafficCoverage) lines.push(`  traffic: ${trafficCoverageLine(r.trafficCoverage)}`);
  if (shortfalls?.length) {
    lines.push('  COVERAGE BELOW --min-coverage:');
    for (const l of shortfallLines(shortfalls)) lines.push(`    ${l}`);
  } else if (shortfalls) lines.push('  --min-coverage: met');
  const exc = Object.entries(c.exceptionsApplied);
  if (exc.length) lines.push(`  exceptions applied: ${exc.map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  if (r.error) lines.push(`  error: ${r.error}`);
  if (r.targetMode) lines.push(`  ${r.target}: ${r.targetMode}`);
  const ratio = offloadRatio(r);
  if (ratio !== undefined) lines.push(`  offload ratio: ${(ratio * 100).toFixed(1)} % of inputs decided in hardware`);
  if (r.targetCounters) lines.push(`  ${r.target} counters: ${Object.entries(r.targetCounters).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const x = r.counterexample;
  if (x) {
    const how = x.reproduced === false ? 'NOT reproduced when re-run: flaky target?' : x.final ? `shrunk in ${r.shrink.steps} steps` : `shrinking stopped after ${r.shrink.steps} steps`;
    lines.push(`  counterexample (${how}): ${x.packets.length} packet(s), disagreement at packet ${x.failingStep}:`);
    for (const d of x.differences) lines.push(`    ${d.kind}: ${d.message}`);
    for (const p of x.packets) {
      lines.push(`    ${String(p.index).padStart(3)} t=${p.time} in_port=${p.port} ${p.label ?? ''}`);
      lines.push(`          expected: ${p.expected?.text ?? 'error'}`);
      lines.push(`          observed: ${p.observed?.text ?? 'error'}`);
    }
    if (x.state) lines.push(...stateTextLines(x.state, '  ', STATE_LINES));
    lines.push(`  replay: ${x.replay}`);
    if (x.replayFile) lines.push(`     or:  ctoffload conformance --target ${r.target} --policy ${shellQuote(r.policy.source)} --replay ${shellQuote(x.replayFile)}`);
  }
  if (reportDir) lines.push(`  reports: ${reportDir}/report.html, report.json, junit.xml${x ? `, counterexample-${x.id}.pcapng` : ''}`);
  return lines.join('\n') + '\n';
}

/** Lines per state section in the text summary (the reports have them all). */
const STATE_LINES = 12;

export function summaryJson(r: PropertyReport, reportDir?: string, shortfalls?: CoverageShortfall[] | null): Record<string, unknown> {
  const x = r.counterexample;
  return {
    status: r.status, property: r.name, target: r.target, reference: r.reference, policy: r.policy.source,
    seed: r.config.seed, runs: r.config.runs, ...(r.config.path ? { path: r.config.path } : {}), jobs: r.config.jobs,
    ...(r.config.shard ? { shard: `${r.config.shard.index}/${r.config.shard.count}` } : {}), ...(r.configHash ? { configHash: r.configHash } : {}),
    traces: r.counts.traces, packets: r.counts.packets, agreements: r.counts.agreements, disagreements: r.counts.disagreements,
    byKind: r.counts.byKind, exceptionsApplied: r.counts.exceptionsApplied, targetErrors: r.counts.targetErrors,
    packetsPerSecond: r.timing.packetsPerSecond, elapsedMs: r.timing.elapsedMs, versions: r.versions,
    ...(r.targetMode ? { targetMode: r.targetMode } : {}),
    ...(offloadRatio(r) !== undefined ? { offloadRatio: offloadRatio(r) } : {}),
    ...(r.targetCounters ? { targetCounters: r.targetCounters } : {}),
    ...(r.coverage ? { coverage: r.coverage } : {}),
    ...(r.trafficCoverage ? { trafficCoverage: r.trafficCoverage } : {}),
    ...(shortfalls ? { minCoverage: { met: shortfalls.length === 0, shortfalls } } : {}),
    ...(r.error ? { error: r.error } : {}),
    counterexample: x
      ? {
        path: x.path, final: x.final, reproduced: x.reproduced, replay: x.replay, replayFile: x.replayFile ?? null, failingStep: x.failingStep, packets: x.packets.length,
        differences: x.differences.map((d) => ({ kind: d.kind, message: d.message, ...(d.lookupIndex !== undefined ? { lookupIndex: d.lookupIndex } : {}), expected: d.expected, observed: d.observed })),
        lastVerdicts: { expected: x.packets[x.failingStep]?.expected?.text ?? null, observed: x.packets[x.failingStep]?.observed?.text ?? null },
      }
      : null,
    report: reportDir ?? null,
  };
}

export interface ConformanceCliHooks {
  /** Replace the target factory (tests). */
  targetFactory?: (name: string) => Promise<TargetFactory | null>;
  /** AbortSignal instead of SIGINT (tests). */
  signal?: AbortSignal;
  /** Show progress even when stderr is not a terminal. */
  progress?: boolean;
}

/** Targets whose parser takes two VLAN tags (the model, and the generated program on bmv2). */
const TWO_TAG_TARGETS: ReadonlySet<string> = new Set(['model', 'bmv2']);

export async function runConformanceCli(argv: string[], io: CliIo, hooks: ConformanceCliHooks = {}): Promise<number> {
  // From the first line: a signal during start-up also stops the run (exit 130/143), and no
  // target module kills its processes under us (harness/cli/signals.ts).
  const sig = ownSignals('conformance', io, hooks.signal);
  try {
    const { values } = parseArgs({
      args: joinOptionValues(argv, ['--seed', '--runs', '--jobs', '--window', '--packet-timeout', '--shrink-time']), strict: true, allowPositionals: false,
      options: {
        target: { type: 'string' }, policy: { type: 'string' }, runs: { type: 'string' }, seed: { type: 'string' }, path: { type: 'string' },
        replay: { type: 'string' }, report: { type: 'string' }, artifacts: { type: 'string' }, jobs: { type: 'string' }, window: { type: 'string' }, ageing: { type: 'string' }, traffic: { type: 'string' }, 'traffic-weighting': { type: 'string' },
        shard: { type: 'string' }, 'min-coverage': { type: 'string' }, 'packet-timeout': { type: 'string' }, 'shrink-time': { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      io.out(CONFORMANCE_USAGE);
      return EXIT_OK;
    }
    if (!values.target || !values.policy) {
      io.err(`ctoffload conformance: ${!values.target ? '--target' : '--policy'} is required\n${CONFORMANCE_USAGE}`);
      return EXIT_BAD_INPUT;
    }
    if (values.path !== undefined && values.seed === undefined) throw new ConformanceCliError('--path needs --seed (the path is relative to the seed\'s runs)');
    if (values.path !== undefined && values.replay !== undefined) throw new ConformanceCliError('--path and --replay are alternatives; give one');
    const shard = parseShard(values.shard);
    if (shard && (values.path !== undefined || values.replay !== undefined)) throw new ConformanceCliError(`--shard applies to the search; --${values.path !== undefined ? 'path' : 'replay'} replays one counterexample (drop --shard)`);
    const runs = intOpt('runs', values.runs, 1, 10_000_000) ?? 100;
    const jobs = intOpt('jobs', values.jobs, 1, 64) ?? 1;
    const window = intOpt('window', values.window, 1, 32);
    if (values.artifacts !== undefined && !existsSync(values.artifacts)) throw new ConformanceCliError(`--artifacts ${values.artifacts}: no such directory (what 'ctoffload generate --out DIR' writes)`);
    if (window !== undefined && values.target !== 'bmv2') throw new ConformanceCliError('--window applies to --target bmv2 only');
    const ageing = values.ageing ?? 'hardware';
    if (ageing !== 'hardware' && ageing !== 'exact') throw new ConformanceCliError(`--ageing ${ageing}: expected hardware (default) or exact`);
    if (values.ageing !== undefined && values.target !== 'bmv2') throw new ConformanceCliError('--ageing applies to --target bmv2 only');
    const seed = intOpt('seed', values.seed, -0x80000000, 0xffffffff);
    const packetTimeoutMs = intOpt('packet-timeout', values['packet-timeout'], 100, 3_600_000) ?? 20_000;
    const shrinkS = intOpt('shrink-time', values['shrink-time'], 0, 31_536_000) ?? 600;
    const minCoverage = values['min-coverage'] !== undefined ? parseMinCoverage(values['min-coverage']) : undefined;

    let text: string;
    try {
      text = readFileSync(values.policy, 'utf8');
    } catch (e) {
      throw new ConformanceCliError(`${values.policy}: cannot read policy: ${errnoText(e)}`);
    }
    const parsed = parsePolicy(text, values.policy); // CTO_FLOW_PARSE with file:line:column
    for (const w of parsed.warnings) io.err(`ctoffload conformance: warning: ${values.policy}:${w.pos.line}:${w.pos.column}: ${w.message}\n`);

    let traffic: TrafficOptions = {};
    if (values.traffic) traffic = readTrafficFile(values.traffic); // located CTO_CLI_TRAFFIC errors
    const replay = values.replay ? readReplay(values.replay) : undefined;
    if (replay?.traffic && !values.traffic) traffic = replay.traffic;
    // Two VLAN tags: parsed by the model and the generated program, not by OVS with its default
    // vlan-limit=1 (docs/conntrack-semantics.md §3.5): on by default only for the targets known to
    // parse two tags; any other target (OVS, or one a test or a plugin registers) gets one tag.
    if (TWO_TAG_TARGETS.has(values.target ?? '') && traffic.include?.doubleVlan === undefined) traffic = { ...traffic, include: { ...traffic.include, doubleVlan: true } };
    const weighting = values['traffic-weighting'];
    if (weighting !== undefined) {
      if (weighting !== 'uniform' && weighting !== 'coverage') throw new ConformanceCliError(`--traffic-weighting ${weighting}: expected uniform (default) or coverage`);
      traffic = { ...traffic, weighting };
    }
    if (replay?.policySource && replay.policySource !== values.policy) {
      io.err(`ctoffload conformance: warning: ${values.replay} was found with policy ${replay.policySource}, replaying it with ${values.policy}\n`);
    }

    const name = values.target;
    let bmv2: Bmv2Run | undefined;
    let target: TargetFactory | null = (await hooks.targetFactory?.(name)) ?? null;
    if (!target) {
      if (name === 'ovs') {
        if (!whichSync('ovs-vswitchd')) {
          throw new CtoffloadError('CTO_TOOL_MISSING', '--target ovs: ovs-vswitchd not found in PATH; install Open vSwitch 3.1 (Debian 12: apt-get install openvswitch-switch)');
        }
        target = () => OvsTarget.create();
      } else if (name === 'bmv2') {
        checkBmv2Tools(values.artifacts);
        const run = bmv2Run({ text, source: values.policy }, { ...(values.artifacts ? { artifacts: values.artifacts } : {}), ...(window !== undefined ? { window } : {}), ageing });
        target = run.target;
        bmv2 = run;
      } else if (name === 'model') {
        target = async () => new ModelTarget(new PipelineEngine());
      } else {
        throw new ConformanceCliError(`--target ${name}: unknown target (available: ovs, bmv2, model)`);
      }
    }
    const reference: TargetFactory = bmv2?.reference ?? (async () => new ModelTarget(new PipelineEngine()));

    const base = ['ctoffload', 'conformance', '--target', name, '--policy', shellQuote(values.policy), ...(values.traffic ? ['--traffic', shellQuote(values.traffic)] : []), ...(weighting ? ['--traffic-weighting', weighting] : [])];
    const command = ['ctoffload', 'conformance', ...argv.map(shellQuote)].join(' ');
    const showProgress = hooks.progress ?? process.stderr.isTTY === true;
    let lastLen = 0;
    const onProgress = showProgress
      ? (p: Progress): void => {
        const line = progressLine(p);
        io.err(`\r${line}${' '.repeat(Math.max(0, lastLen - line.length))}`);
        lastLen = line.length;
      }
      : undefined;

    let r: PropertyReport;
    try {
      r = await runConformance({
        policy: { text, source: values.policy }, target, reference, runs, jobs, traffic, packetTimeoutMs, ...(shard ? { shard } : {}),
        ...(shrinkS > 0 ? { shrinkTimeLimitMs: shrinkS * 1000 } : {}),
        ...(seed !== undefined || replay?.seed !== undefined ? { seed: seed ?? replay!.seed! } : {}),
        ...(values.path !== undefined ? { path: values.path } : {}),
        ...(replay ? { scenario: replay.scenario, ...(replay.path ? { path: replay.path } : {}) } : {}),
        exceptions: bmv2?.exceptions ?? EXCEPTIONS,
        ...(bmv2 ? { targetMode: bmv2Mode(bmv2.ageing) } : {}),
        replayCommand: ({ seed: s, path }) => [...base, '--seed', String(s), '--path', path].join(' '),
        ...(values.report ? { reportDir: values.report } : {}),
        command,
        signal: sig.signal,
        ...(onProgress ? { onProgress } : {}),
      });
    } finally {
      if (onProgress) io.err('\n');
    }
    const shortfalls = r.status === 'passed' ? coverageShortfalls(r, minCoverage) : null;
    if (values.json) io.out(JSON.stringify(summaryJson(r, values.report, shortfalls)) + '\n');
    else io.out(summaryText(r, values.report, shortfalls));
    if (r.status === 'interrupted') return sig.exitCode();
    // A run that ended in `error` did so because a target failed (a failure that did not
    // reproduce, a dead switch): input errors are thrown and reported below.
    if (r.status === 'error') return EXIT_ENVIRONMENT;
    // A counterexample that is a target failure (the target died or hung at that packet every
    // time) is the target's failure, not a disagreement.
    if (r.counterexample?.differences.some((d) => d.kind === 'target-error')) return EXIT_ENVIRONMENT;
    if (r.counterexample) return EXIT_DISAGREE;
    // Only an agreeing run is judged on coverage: a disagreement says more.
    if (shortfalls?.length) {
      io.err(`ctoffload conformance: coverage below --min-coverage ${values['min-coverage']}:\n${shortfallLines(shortfalls).map((l) => `  ${l}\n`).join('')}`);
      return EXIT_COVERAGE;
    }
    return EXIT_OK;
  } catch (e) {
    // A failure caused by the interruption (a start-up cut short) is the interruption.
    if (sig.received() !== null || hooks.signal?.aborted) {
      io.err(`ctoffload conformance: interrupted: ${(e as Error)?.message ?? String(e)}\n`);
      return sig.exitCode();
    }
    return reportError('conformance', e, io);
  } finally {
    sig.release();
  }
}

export const conformanceCommand: CliCommand = {
  name: 'conformance',
  summary: 'differential run of a policy: model vs ovs|bmv2 over generated traffic, shrunk counterexamples, reports',
  run: (argv, io) => runConformanceCli(argv, io),
};
