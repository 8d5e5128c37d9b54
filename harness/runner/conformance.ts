/**
 * runConformance: the differential property "the target agrees with the reference on every
 * packet of every generated trace", run with fast-check (docs/style.md §3: generators apart from
 * runners; every failure replays from `{ seed, path }`).
 *
 * Phases and determinism:
 *  1. **Search.** The scenarios of runs 0…N−1 are generated from the seed exactly as `fc.check`
 *     would generate them (same property shape, same `runId` bias: fast-check's Property and
 *     AsyncProperty generate identically; lazily, a chunk at a time), and `jobs` workers — each with its own
 *     target and reference instance — take indices in increasing order from a shared counter and
 *     run them. When a trace fails at index i, no worker starts an index ≥ i; indices below i
 *     still finish. So the first failing index f is the same for any `jobs` (given
 *     deterministic targets). Counts include traces past f that were already running.
 *  2. **Shrink.** `fc.check` is started again with `{ seed, path: "f" }`: it regenerates run f,
 *     sees it fail and shrinks it (Scenario-level shrinking, harness/arbitraries) on one worker.
 *     Its final `counterexamplePath` is what `--seed S --path P` replays; the runner also tracks
 *     the path itself (same rule as fast-check's RunnerIterator: the index of the failing
 *     candidate in each shrink stream) so interim counterexamples written during a long shrink
 *     already carry a replayable path.
 *  3. **Replay** (`path` given): `fc.check({ seed, path, numRuns: 1, endOnFailure: true })`
 *     evaluates exactly that counterexample; (`scenario` given) the stored Scenario is rendered
 *     and run once, no fast-check involved.
 *
 * Sharding (`shard: { index: i, count: n }`, `--shard i/n`): the search runs only the traces t
 * (0-based run index) with t mod n = i − 1, each the very value run t gets for the seed (the
 * split depends on nothing but seed, runs and n, so every machine gets the same set, and the n
 * shards together run exactly the unsharded search's traces). Within a shard the rule above
 * holds over its own indices, so its first failure is the lowest failing index of its set; the
 * lowest of the shards' first failures is the unsharded run's first failure, and since shrinking
 * starts from the global path "t", the shard's counterexample path is the one the unsharded run
 * reports and replays with a plain `{ seed, path }` (`ctoffload report merge` picks it).
 * Interleaving rather than cutting into blocks spreads fast-check's size bias (early runs are
 * biased toward small values) evenly across shards.
 *
 * Shrink budget: with `shrinkTimeLimitMs`, shrinking stops the same way once the budget is
 * spent; the counterexample so far is reported with `final: false` and status `failed`.
 *
 * Interruption: when `signal` aborts, running traces stop before their next packet, fast-check
 * is interrupted (a PreconditionFailure with interruptExecution, the mechanism fast-check's own
 * time limits use), the best counterexample so far is kept (`final: false` if shrinking was cut
 * short) and the result has status `interrupted`. Nothing already found is lost: the sink gets
 * every finished trace and every counterexample as it happens.
 */
import fc from 'fast-check';
import {
  CoverageSteering, describeScenario, fitTraffic, modelCoverageOracle, renderScenarioDetailed, scenarioArb, type Scenario, type TrafficOptions,
} from '../arbitraries/index.js';
import type { DiffKind } from '../compare/types.js';
import { EXCEPTIONS, validateExceptions, type ExceptionRule } from '../exceptions.js';
import type { PolicySource } from '../targets/target.js';
import type { Counterexample, PropertyReport, ShardSpec } from '../report/schema.js';
import { configHash, configIdentity } from '../report/config-hash.js';
import { addCoverage, emptyCoverage, policyEntries } from '../report/coverage.js';
import { parsePolicy } from '../../model/pipeline/parse.js';
import { KeyCoverageObserver } from '../report/key-coverage.js';
import { PUNT_REASONS } from '../../offload/index.js';
import { CTOFFLOAD_VERSION, fastCheckVersion, ReportWriter, type WriterFs } from '../report/writer.js';
import { RunnerError } from './errors.js';
import { addCounters, Side, type TargetFactory } from './side.js';
import { runTrace, type TraceOutcome } from './trace.js';

export type { TargetFactory } from './side.js';

export interface Progress {
  phase: 'start' | 'search' | 'shrink' | 'replay' | 'done';
  /** Search-phase traces finished. */
  traces: number;
  runs: number;
  /** Packets sent so far (all phases). */
  packets: number;
  packetsPerSecond: number;
  elapsedMs: number;
  /** Estimated time to the end of the search phase, null when unknown. */
  etaMs: number | null;
  /** Successful shrink steps so far. */
  shrinkSteps: number;
  /** A disagreement has been found. */
  failed: boolean;
}

export interface TraceLine {
  property: string;
  phase: 'search' | 'shrink' | 'replay';
  index: number;
  status: TraceOutcome['status'];
  packets: number;
  failingStep: number;
  kinds: DiffKind[];
  ms: number;
}

/** Receives results as they happen (harness/report's ReportWriter implements it). */
export interface RunSink {
  update(p: PropertyReport, reason: 'start' | 'counterexample' | 'progress' | 'end'): void | Promise<void>;
  trace?(line: TraceLine): void;
}

export interface ConformanceOptions {
  policy: PolicySource;
  /** The target under test (observed side). */
  target: TargetFactory;
  /** The reference (expected side), normally the model target. */
  reference: TargetFactory;
  /** Number of generated traces (default 100). */
  runs?: number;
  /** fast-check seed (32-bit integer); default: random. */
  seed?: number;
  /** Replay this fast-check path (with `seed`): one evaluation, no search, no further shrink. */
  path?: string;
  /** Replay this stored Scenario once (e.g. from counterexample-N.json). */
  scenario?: Scenario;
  /**
   * Run only shard `index` (1-based) of `count`: the traces t with t mod count = index − 1
   * (see the module comment). Search only: not with `path` or `scenario`.
   */
  shard?: ShardSpec;
  /** Parallel workers for the search phase, each with its own instances (default 1). */
  jobs?: number;
  traffic?: TrafficOptions;
  exceptions?: readonly ExceptionRule[];
  /** Deadline for one packet (or reset) on one side, ms (default 20000). */
  packetTimeoutMs?: number;
  /**
   * Stop shrinking after this many ms and keep the smallest counterexample so far (`final:
   * false`, status still `failed`). Default: no limit.
   */
  shrinkTimeLimitMs?: number;
  /** Deadline for starting and loading a target, ms (default 120000). */
  startTimeoutMs?: number;
  /** Property name in reports (default `<policy source>: <reference> vs <target>`). */
  /**
   * The configuration the target ran, in words, for reports (bmv2: the deployed configuration,
   * or an oracle mode that feeds the target more than real hardware would).
   */
  targetMode?: string;
  name?: string;
  /** Command line that replays a counterexample (default a generic `ctoffload conformance …`). */
  replayCommand?: (r: { seed: number; path: string; target: string }) => string;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  sink?: RunSink;
  /** Write reports to this directory (a ReportWriter for this one property, finished at the end). */
  reportDir?: string;
  /** Command line recorded in the reports. */
  command?: string;
  /** The report writer's file-system calls (tests inject ENOSPC here). */
  writerFs?: WriterFs;
  /**
   * Re-run a failed run's counterexample once, one packet at a time, to record both sides'
   * state just before the failing packet (Counterexample.state). Default true.
   */
  stateSnapshot?: boolean;
}

/**
 * The traffic options fitted to the policy (harness/arbitraries fitTraffic: ports, pools and
 * server ports the options leave out); recorded in the report, so a replay gets the same. A
 * policy that does not parse is left to the targets, which report it as they always have.
 */
function fittedTraffic(o: ConformanceOptions): { traffic: TrafficOptions; notes: string[] } {
  const t = o.traffic;
  if (t !== undefined && (typeof t !== 'object' || t === null || Array.isArray(t))) return { traffic: t, notes: [] }; // scenarioArb says what is wrong
  try {
    const f = fitTraffic(o.policy.text, o.policy.source, o.traffic ?? {});
    return { traffic: f.options, notes: f.notes };
  } catch {
    return { traffic: o.traffic ?? {}, notes: [] };
  }
}

/** Key-bit and parser-path coverage of the search's traffic; null when the policy does not compile (the targets say why). */
function keyObserver(o: ConformanceOptions, traffic: TrafficOptions, notes: string[]): KeyCoverageObserver | null {
  try {
    const ports = traffic.ports ?? { inside: [1], outside: [2] };
    return new KeyCoverageObserver({
      policy: o.policy, ports: [...ports.inside, ...ports.outside], ipv6: traffic.include?.ipv6 !== false, fitted: notes, weighting: traffic.weighting ?? 'uniform',
    });
  } catch {
    return null;
  }
}

/** The steering of a coverage-weighted run; a policy the model cannot load is left to the targets (uniform traffic meanwhile). */
function steeringOf(o: ConformanceOptions, traffic: TrafficOptions, seed: number): CoverageSteering | null {
  let oracle;
  try {
    oracle = modelCoverageOracle(o.policy);
  } catch {
    return null;
  }
  return new CoverageSteering(traffic, oracle, seed);
}

function mode0(o: ConformanceOptions): 'search' | 'replay' {
  return o.path !== undefined || o.scenario !== undefined ? 'replay' : 'search';
}

function checkOptions(o: ConformanceOptions): { runs: number; jobs: number; seed: number } {
  const runs = o.runs ?? 100;
  const jobs = o.jobs ?? 1;
  const seed = o.seed ?? ((Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0);
  if (!Number.isInteger(runs) || runs < 1) throw new RunnerError('CTO_RUN_OPTIONS', `runs: ${runs} is not a positive integer`);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new RunnerError('CTO_RUN_OPTIONS', `jobs: ${jobs} is not an integer in 1..64`);
  if (!Number.isInteger(seed) || seed < -0x80000000 || seed > 0xffffffff) throw new RunnerError('CTO_RUN_OPTIONS', `seed: ${seed} is not a 32-bit integer`);
  if (o.path !== undefined && !/^\d+(:\d+)*$/.test(o.path)) throw new RunnerError('CTO_RUN_OPTIONS', `path: "${o.path}" is not a fast-check path (digits separated by ':')`);
  if (o.shard !== undefined) {
    const { index, count } = o.shard;
    if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 1 || index > count) throw new RunnerError('CTO_RUN_OPTIONS', `shard: ${index}/${count} is not i/n with 1 ≤ i ≤ n`);
    if (o.path !== undefined || o.scenario !== undefined) throw new RunnerError('CTO_RUN_OPTIONS', 'shard: a replay (path or scenario) runs one counterexample; sharding applies to the search only');
  }
  const bad = validateExceptions(o.exceptions ?? EXCEPTIONS);
  if (bad.length) throw new RunnerError('CTO_RUN_OPTIONS', `exceptions table: ${bad.join('; ')}`);
  return { runs, jobs, seed: seed | 0 };
}

/**
 * The values fast-check's runs `start … start+count−1` get for `seed` (what `fc.check` with that
 * seed would test), generated without the runs before `start`: fc.check from path "start"
 * (pathWalk drops lazy producers without running them).
 */
export function generateRuns<T>(arb: fc.Arbitrary<T>, seed: number, start: number, count: number): T[] {
  const out: T[] = [];
  if (count <= 0) return out;
  fc.check(fc.property(arb, (v) => void out.push(v)), { seed, path: String(start), numRuns: count });
  return out;
}

/**
 * The runs `start, start+stride, …` (`count` of them) for `seed`, as generateRuns gives them.
 * The runs in between are generated too (fast-check has no way to skip one without skipping
 * all before it) but not kept.
 */
function generateStrided<T>(arb: fc.Arbitrary<T>, seed: number, start: number, stride: number, count: number): T[] {
  if (stride === 1) return generateRuns(arb, seed, start, count);
  const out: T[] = [];
  if (count <= 0) return out;
  let k = 0;
  fc.check(fc.property(arb, (v) => void (k++ % stride === 0 && out.push(v))), { seed, path: String(start), numRuns: (count - 1) * stride + 1 });
  return out;
}

/** Path of the first failure after a base path: fast-check's RunExecution.mergePaths. */
function mergePath(base: string, firstIdx: number): string {
  if (base === '') return String(firstIdx);
  const items = base.split(':');
  items[items.length - 1] = String(Number(items[items.length - 1]) + firstIdx);
  return items.join(':');
}

export async function runConformance(opts: ConformanceOptions): Promise<PropertyReport> {
  if (opts.reportDir === undefined) return runProperty(opts);
  const w = new ReportWriter(opts.reportDir, { ...(opts.command ? { command: opts.command } : {}), exceptions: opts.exceptions ?? EXCEPTIONS, ...(opts.writerFs ? { fs: opts.writerFs } : {}) });
  const fanout: RunSink = {
    update: async (p, reason) => {
      w.update(p, reason);
      await opts.sink?.update(p, reason);
    },
    trace: (l) => {
      w.trace(l);
      opts.sink?.trace?.(l);
    },
  };
  // A report write that fails (disk full) stops the run like an interruption; the run then
  // ends in `error` with the writer's located message (ReportWriteError, exit 3).
  const signal = opts.signal ? AbortSignal.any([opts.signal, w.signal]) : w.signal;
  try {
    const r = await runProperty({ ...opts, sink: fanout, signal });
    if (w.failure) {
      r.status = 'error';
      r.error = w.failure.message;
    }
    w.finish();
    if (w.failure) throw w.failure;
    return r;
  } catch (e) {
    // The run could not start or ended in an internal error: say so in the reports too.
    if (!w.failure) w.report.error = (e as Error)?.message ?? String(e);
    w.finish('error');
    throw w.failure ?? e;
  }
}

async function runProperty(o: ConformanceOptions): Promise<PropertyReport> {
  const { runs, jobs, seed } = checkOptions(o);
  const exceptions = o.exceptions ?? EXCEPTIONS;
  const { traffic, notes: fitNotes } = fittedTraffic(o);
  const arb = scenarioArb(traffic); // CTO_TRAFFIC_OPTIONS at once for bad options
  const keys = mode0(o) === 'search' ? keyObserver(o, traffic, fitNotes) : null;
  // Coverage weighting (harness/arbitraries/steering.ts): run k's scenario is a pure function of
  // the seed and k, computed with the model only, so search, shards and `--path` replays agree.
  const steering = traffic.weighting === 'coverage' && o.scenario === undefined ? steeringOf(o, traffic, seed) : null;
  const packetTimeoutMs = o.packetTimeoutMs ?? 20_000;
  const startTimeoutMs = o.startTimeoutMs ?? 120_000;
  const signal = o.signal;
  const t0 = performance.now();
  const mode: 'search' | 'replay' = o.path !== undefined || o.scenario !== undefined ? 'replay' : 'search';
  // This run's share of the search: traces shardBase, shardBase + stride, … below runs.
  const shardBase = o.shard ? o.shard.index - 1 : 0;
  const stride = o.shard?.count ?? 1;
  const searchRuns = runs > shardBase ? Math.ceil((runs - shardBase) / stride) : 0;
  const traceAt = (j: number): number => shardBase + j * stride;
  // At least one worker even for an empty shard: its versions go into the report.
  const nWorkers = mode === 'replay' ? 1 : Math.max(1, Math.min(jobs, searchRuns));

  const workers = Array.from({ length: nWorkers }, () => ({
    ref: new Side('reference', o.reference, o.policy, startTimeoutMs),
    tgt: new Side('target', o.target, o.policy, startTimeoutMs),
  }));
  /** Target counters of closed workers (their Sides are gone with them). */
  const closedCounters: Record<string, number> = {};
  const closeAll = async (from = 0): Promise<void> => {
    for (const w of workers.slice(from)) addCounters(closedCounters, w.tgt.counters());
    await Promise.all(workers.slice(from).flatMap((w) => [w.ref.close(), w.tgt.close()]));
    workers.length = Math.min(workers.length, from);
  };
  // Start every instance now: an environment problem (no ovs-vswitchd, policy rejected) ends
  // the run before it begins, with the target's own message (CTO_RUN_TARGET).
  // An interruption during start-up is waited out (a half-started target has processes to
  // close) and then ends the run as `interrupted`, whatever the start-up's outcome: a signal
  // can break a start (a compiler killed under it) and that is not an environment failure.
  let startError: unknown = null;
  try {
    await Promise.all(workers.flatMap((w) => [w.ref.get(), w.tgt.get()]));
  } catch (e) {
    startError = e;
  }
  if (startError !== null && !signal?.aborted) {
    await closeAll();
    throw startError;
  }
  const w0 = workers[0]!;
  const targetName = w0.tgt.name ?? 'target';
  const refName = w0.ref.name ?? 'reference';
  const name = o.name ?? `${o.policy.source}: ${refName} vs ${targetName}`;
  const replayCmd = (path: string): string =>
    o.replayCommand?.({ seed, path, target: targetName }) ?? `ctoffload conformance --target ${targetName} --policy ${o.policy.source} --seed ${seed} --path ${path}`;

  const report: PropertyReport = {
    name, target: targetName, reference: refName,
    ...(o.targetMode ? { targetMode: o.targetMode } : {}),
    versions: { [refName]: w0.ref.versions ?? {}, [targetName]: w0.tgt.versions ?? {} },
    policy: { source: o.policy.source, text: o.policy.text },
    config: { seed, runs, ...(o.path !== undefined ? { path: o.path } : {}), ...(o.scenario ? { replay: 'scenario' } : {}), jobs: nWorkers, packetTimeoutMs, traffic, ...(o.shard ? { shard: { index: o.shard.index, count: o.shard.count } } : {}) },
    status: 'running',
    counts: { traces: 0, packets: 0, agreements: 0, disagreements: 0, byKind: {}, exceptionsApplied: {}, targetErrors: 0, states: {} },
    shrink: { traces: 0, packets: 0, steps: 0 },
    timing: { elapsedMs: 0, searchMs: 0, shrinkMs: 0, packetsPerSecond: 0, samples: [{ t: 0, packets: 0 }] },
    counterexample: null,
    // CONTROLLER is an output to the controller, not a punt (offload/punt.ts).
    coverage: emptyCoverage(PUNT_REASONS.map((r) => r.name).filter((n) => n !== 'CONTROLLER')),
  };
  // Every policy flow gets a row, so the never-hit ones show (the sides loaded this text already).
  try {
    report.coverage!.entries = policyEntries(parsePolicy(o.policy.text, o.policy.source));
  } catch {
    // A reference that accepts what the model's parser does not: rows appear as they are hit.
  }
  report.configHash = configHash(configIdentity(report, { ctoffload: CTOFFLOAD_VERSION, fastCheck: fastCheckVersion() }, exceptions));
  let totalPackets = 0;
  let lastSample = 0;
  let lastProgressUpdate = 0;
  let phase: Progress['phase'] = mode === 'replay' ? 'replay' : 'search';
  const elapsed = (): number => performance.now() - t0;
  const progress = (): void => {
    const ms = elapsed();
    report.timing.elapsedMs = Math.round(ms);
    report.timing.packetsPerSecond = ms > 0 ? Math.round((totalPackets * 1000) / ms) : 0;
    if (ms - lastSample >= 1000) {
      lastSample = ms;
      report.timing.samples.push({ t: Math.round(ms), packets: totalPackets });
      // Long runs: keep at most ~512 samples by halving the resolution (the chart stays readable).
      if (report.timing.samples.length > 512) report.timing.samples = report.timing.samples.filter((_, k) => k % 2 === 0);
    }
    if (keys) report.trafficCoverage = keys.report();
    const done = report.counts.traces;
    o.onProgress?.({
      phase, traces: done, runs: mode === 'replay' ? 1 : searchRuns, packets: totalPackets, packetsPerSecond: report.timing.packetsPerSecond, elapsedMs: ms,
      etaMs: phase === 'search' && done > 0 ? ((searchRuns - done) * report.timing.searchMs || (searchRuns - done) * ms) / done : null,
      shrinkSteps: report.shrink.steps, failed: report.counterexample !== null,
    });
    if (ms - lastProgressUpdate >= 2000) {
      lastProgressUpdate = ms;
      void o.sink?.update(report, 'progress');
    }
  };
  await o.sink?.update(report, 'start');

  const account = (out: TraceOutcome, ph: TraceLine['phase'], index: number): void => {
    totalPackets += out.sent;
    const kinds = [...new Set(out.packets.flatMap((p) => p.differences.map((d) => d.kind)))];
    if (ph === 'shrink') {
      report.shrink.traces++;
      report.shrink.packets += out.sent;
    } else if (out.status !== 'aborted' || out.sent > 0) {
      const c = report.counts;
      if (out.status !== 'aborted') c.traces++;
      c.packets += out.sent;
      c.agreements += out.agreements;
      // Coverage: which ct_state values the reference produced (what the agreement is about).
      for (const [k, v] of Object.entries(out.states)) c.states[k] = (c.states[k] ?? 0) + v;
      addCoverage(report.coverage!, out.coverage);
      if (out.status === 'fail') {
        c.disagreements++;
        for (const d of out.packets[out.packets.length - 1]!.differences) c.byKind[d.kind] = (c.byKind[d.kind] ?? 0) + 1;
        if (out.targetError) c.targetErrors++;
      }
      for (const e of out.excused) c.exceptionsApplied[e.rule] = (c.exceptionsApplied[e.rule] ?? 0) + 1;
    }
    o.sink?.trace?.({ property: name, phase: ph, index, status: out.status, packets: out.sent, failingStep: out.failingStep, kinds, ms: Math.round(out.ms) });
    progress();
  };

  const setCounterexample = async (scenario: Scenario, out: TraceOutcome, path: string, final: boolean): Promise<void> => {
    const cx: Counterexample = {
      id: 1, seed, path, final, reproduced: true, replay: replayCmd(path),
      scenario: JSON.parse(JSON.stringify(scenario)) as Scenario,
      description: describeScenario(scenario, { rendered: true }),
      failingStep: out.failingStep,
      differences: out.packets[out.packets.length - 1]?.differences ?? [],
      packets: out.packets,
    };
    report.counterexample = cx;
    await o.sink?.update(report, 'counterexample');
  };

  /**
   * Counterexample.state: the counterexample once more, packet by packet, with both sides'
   * snapshots (connections, hardware table entries) just before the failing packet. Not
   * counted in the totals; skipped when interrupted. A re-run that does not fail at the same
   * packet is said so in the snapshot's note.
   */
  const attachState = async (): Promise<void> => {
    const cx = report.counterexample;
    if (!cx || o.stateSnapshot === false || signal?.aborted) return;
    const out = await runTrace(w0.ref, w0.tgt, renderScenarioDetailed(cx.scenario), {
      exceptions, packetTimeoutMs, signal, label: 'counterexample re-run (state snapshot)', snapshotBefore: cx.failingStep,
    });
    if (!out.snapshot) return;
    cx.state = out.snapshot;
    if (out.status !== 'fail') cx.state.note = `the re-run ${out.status === 'pass' ? 'agreed on every packet' : 'was interrupted'} (a flaky target?): the state is that of the re-run`;
    else if (out.failingStep !== cx.failingStep) cx.state.note = `the re-run failed at packet ${out.failingStep}, not ${cx.failingStep}: the state is that of the re-run`;
    await o.sink?.update(report, 'counterexample');
  };

  const finish = async (status: PropertyReport['status'], error?: string): Promise<PropertyReport> => {
    report.status = status;
    if (error !== undefined) report.error = error;
    phase = 'done';
    lastSample = -Infinity;
    progress();
    await closeAll();
    if (Object.keys(closedCounters).length) report.targetCounters = closedCounters;
    await o.sink?.update(report, 'end');
    return report;
  };

  try {
    if (signal?.aborted) return await finish('interrupted'); // during start-up
    // ---- stored scenario replay ----------------------------------------------------------
    if (o.scenario) {
      const out = await runTrace(w0.ref, w0.tgt, renderScenarioDetailed(o.scenario), { exceptions, packetTimeoutMs, signal, label: 'replayed scenario' });
      account(out, 'replay', 0);
      if (out.status === 'fail') {
        await setCounterexample(o.scenario, out, o.path ?? '', true);
        await attachState();
        return await finish('failed');
      }
      return await finish(out.status === 'aborted' ? 'interrupted' : 'passed');
    }

    // ---- search phase (skipped when replaying a path) -------------------------------------
    let basePath = o.path;
    if (basePath === undefined) {
      const ts = performance.now();
      // Scenarios are generated lazily, CHUNK at a time, with fc.check on `{ seed, path: "k" }`:
      // fast-check skips to run k without generating the runs before it (pathWalk over lazyToss),
      // so run i gets the same value as in one long fc.check — and an abort is seen between chunks.
      // With a shard, chunks are CHUNK of this shard's traces (j = its position in the shard).
      const CHUNK = 64;
      const values = new Map<number, Scenario>();
      const valueAt = (j: number): Scenario => {
        let v = values.get(traceAt(j));
        if (v === undefined && steering) v = steering.scenarioAt(traceAt(j));
        if (v === undefined) {
          const start = j - (j % CHUNK);
          generateStrided(arb, seed, traceAt(start), stride, Math.min(CHUNK, searchRuns - start)).forEach((sc, k) => values.set(traceAt(start + k), sc));
          v = values.get(traceAt(j))!;
        }
        values.set(traceAt(j), v);
        return v;
      };
      // Workers take this shard's traces in increasing order; `limit` is the lowest failing
      // trace index so far. A trace is started only below it, and every trace below a failing
      // one was taken before it (increasing order), so when all workers are done `limit` is the
      // lowest failing index of the set, whatever `jobs` and whichever trace failed first in time.
      let next = 0;
      let limit = runs;
      const failures = new Map<number, TraceOutcome>();
      await Promise.all(
        workers.map(async (w) => {
          for (;;) {
            if (signal?.aborted) return;
            const j = next++;
            if (j >= searchRuns) return;
            const i = traceAt(j);
            if (i >= limit) return;
            const scenario = valueAt(j);
            const out = await runTrace(w.ref, w.tgt, renderScenarioDetailed(scenario), { exceptions, packetTimeoutMs, signal, label: `trace ${i}`, ...(keys ? { observe: keys.observe.bind(keys) } : {}) });
            report.timing.searchMs = Math.round(performance.now() - ts);
            account(out, 'search', i);
            if (out.status === 'fail') {
              failures.set(i, out);
              if (i < limit) limit = i;
            } else {
              values.delete(i);
            }
          }
        }),
      );
      report.timing.searchMs = Math.round(performance.now() - ts);
      await closeAll(1); // shrinking uses one worker
      if (limit >= runs) return await finish(signal?.aborted ? 'interrupted' : 'passed');
      basePath = String(limit);
      const first = failures.get(limit)!;
      const firstDiffs = first.packets[first.packets.length - 1]?.differences ?? [];
      if (signal?.aborted && firstDiffs.every((d) => d.kind === 'target-error')) {
        // A target failure that cannot be re-run now: unconfirmed, not kept as a counterexample.
        return await finish('interrupted', `interrupted before trace ${limit} could be re-run; it had failed at packet ${first.failingStep}: ${firstDiffs.map((d) => d.message).join('; ')}`);
      }
      await setCounterexample(values.get(limit)!, first, basePath, false);
      if (signal?.aborted) return await finish('interrupted');
      phase = 'shrink';
    }

    // ---- shrink (or path replay) with fast-check -------------------------------------------
    const ts = performance.now();
    let path: string | null = null; // path of the latest failure in this fc.check
    let candidate = -1;
    let interrupted = false;
    let outOfBudget = false;
    /** An input error met inside the property (fast-check would take a throw for a failure). */
    let fatal: unknown = null;
    const prop = fc.asyncProperty(steering ? steering.arbitraryFor(Number(basePath!.split(':')[0])) : arb, async (s) => {
      if (signal?.aborted) {
        interrupted = true;
        throw new fc.PreconditionFailure(true);
      }
      if (o.shrinkTimeLimitMs !== undefined && path !== null && performance.now() - ts > o.shrinkTimeLimitMs) {
        outOfBudget = true;
        throw new fc.PreconditionFailure(true);
      }
      candidate++;
      const label = path === null ? `run ${mergePath(basePath!, candidate)}` : `shrink candidate ${path}:${candidate}`;
      let out: TraceOutcome;
      try {
        out = await runTrace(w0.ref, w0.tgt, renderScenarioDetailed(s), { exceptions, packetTimeoutMs, signal, label });
      } catch (e) {
        fatal = e;
        throw new fc.PreconditionFailure(true);
      }
      report.timing.shrinkMs = Math.round(performance.now() - ts);
      account(out, mode === 'replay' ? 'replay' : 'shrink', candidate);
      if (out.status === 'aborted') {
        interrupted = true;
        throw new fc.PreconditionFailure(true);
      }
      if (out.status === 'pass') return true;
      path = path === null ? mergePath(basePath!, candidate) : `${path}:${candidate}`;
      candidate = -1;
      report.shrink.steps = path.split(':').length - basePath!.split(':').length;
      await setCounterexample(s, out, path, false);
      return false;
    });
    const details = await fc.check(prop, mode === 'replay'
      ? { seed, path: basePath, numRuns: 1, endOnFailure: true }
      : { seed, path: basePath, numRuns: 1, endOnFailure: false }); // numRuns bounds the initial values only: run f, then shrink
    report.timing.shrinkMs = Math.round(performance.now() - ts);
    if (details.failed && details.counterexamplePath !== null && path !== null && details.counterexamplePath !== path) {
      // Cannot happen with fast-check's RunnerIterator as of 4.x; trust fast-check if it does.
      report.counterexample!.path = details.counterexamplePath;
      report.counterexample!.replay = replayCmd(details.counterexamplePath);
    }
    if (fatal !== null) throw fatal;
    if (report.counterexample) {
      report.counterexample.final = !interrupted && !outOfBudget;
      if (path === null && !interrupted && mode === 'search') {
        // The search's failure did not fail again when fast-check re-ran it on a fresh pair:
        // a target that died, hung or is flaky. Not a counterexample (it replays as agreement,
        // issue 12): the run ends in `error` (exit 3) and says what happened where.
        const cx = report.counterexample;
        // The message, then each side's own account (with its log tail) when it failed.
        const what = cx.differences.map((d) => [`${d.kind}: ${d.message}`, ...(d.kind === 'target-error' ? [d.expected, d.observed].filter((x): x is string => typeof x === 'string') : [])].join('\n')).join('\n');
        report.counterexample = null;
        return await finish('error', `trace ${cx.path} failed at packet ${cx.failingStep} but agreed when run again on fresh targets (not a reproducible disagreement: a target failure or a flaky target): ${what}`);
      }
      if (interrupted && path === null && mode === 'search' && report.counterexample.differences.every((d) => d.kind === 'target-error')) {
        // Interrupted before a target failure could be re-run: unconfirmed, so not kept as a
        // counterexample (it may well replay as agreement); said in the report instead.
        const cx = report.counterexample;
        report.counterexample = null;
        return await finish('interrupted', `interrupted before trace ${cx.path} could be re-run; it had failed at packet ${cx.failingStep}: ${cx.differences.map((d) => d.message).join('; ')}`);
      }
      if (!interrupted) await attachState();
      return await finish(interrupted ? 'interrupted' : 'failed');
    }
    return await finish(interrupted ? 'interrupted' : 'passed');
  } catch (e) {
    await finish('error', (e as Error)?.message ?? String(e));
    throw e;
  }
}
