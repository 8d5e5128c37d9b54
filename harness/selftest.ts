/**
 * `ctoffload selftest` (issue 6): does the harness catch a broken offload? The bmv2 target is
 * run with one deliberate defect at a time (offload/faults.ts, injected through
 * `createBmv2Target({ faults })`, never reachable from a config file) and the differential
 * property (harness/runner) must find a disagreement for every one; a baseline run with no
 * defect, same policy, traffic, seed and runs, must agree (otherwise a "catch" could be a
 * harness or offload bug unrelated to the defect).
 *
 * Policy: a two-zone firewall (zone 1 on ports 1↔2, zone 2 on ports 3↔4; new connections
 * only from the inside ports 1 and 3) so that the zone defect has two zones to confuse, with
 * small host pools so that the two zones carry the same tuples. Traffic per variant is chosen
 * to reach its defect quickly:
 * - noReplyEntry: any established connection's reply hit carries the wrong ct state (no rpl),
 *   seen through its recirculating lookup (the probe reports it) and the output probe's ct fields.
 * - ignoreZone: the same tuple opened in zone 2 after zone 1 hits zone 1's entry (est instead
 *   of new).
 * - finNotPunted: a FIN of an offloaded connection is decided in hardware without the
 *   tracker's checks (an out-of-window FIN is inv in the reference; the row
 *   bmv2-hw-no-tcp-seq-chk excuses only segments without SYN/FIN/RST).
 * - keepStaleEntries: long gaps crossing the UDP/ICMP timeouts (conntrack-semantics §6.1): a
 *   packet after expiry hits the stale entry (est) where the reference starts a new connection.
 * The figure reported per variant is the issue's "time from a seeded defect to its shrunk
 * counterexample": the conformance run's elapsed time (search + shrink, program compile and
 * switch start included) and the counterexample's size in packets.
 */
import { whichSync } from '../p4/index.js';
import { existsSync } from 'node:fs';
import { CtoffloadError } from '../model/errors.js';
import { PipelineEngine } from '../model/pipeline/index.js';
import { FAULT_NAMES, type FaultName, type OffloadFaults } from '../offload/index.js';
import type { TrafficOptions } from './arbitraries/index.js';
import { EXCEPTIONS } from './exceptions.js';
import { runConformance, type PropertyReport, type TargetFactory } from './runner/index.js';
import { createBmv2Target } from './targets/bmv2/index.js';
import { tcpSeqChkDisabledRule } from './targets/bmv2/index.js';
import { ModelTarget } from './targets/model.js';
import type { PolicySource } from './targets/target.js';

export class SelftestError extends CtoffloadError {
  constructor(code: 'CTO_SELFTEST_ENV' | 'CTO_SELFTEST_OPTIONS', message: string) {
    super(code, message);
  }
}

/** The selftest policy (see top). */
export const SELFTEST_POLICY: PolicySource = {
  source: 'selftest-two-zone-firewall.flows',
  text: [
    'table=0,priority=10,ip,in_port=1,actions=ct(table=1,zone=1)',
    'table=0,priority=10,ip,in_port=2,actions=ct(table=1,zone=1)',
    'table=0,priority=10,ip,in_port=3,actions=ct(table=1,zone=2)',
    'table=0,priority=10,ip,in_port=4,actions=ct(table=1,zone=2)',
    'table=0,priority=0,actions=drop',
    'table=1,priority=10,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=1),output:2',
    'table=1,priority=10,ip,in_port=3,ct_state=+trk+new,actions=ct(commit,zone=2),output:4',
    'table=1,priority=10,ct_state=+trk+est,in_port=1,actions=output:2',
    'table=1,priority=10,ct_state=+trk+est,in_port=2,actions=output:1',
    'table=1,priority=10,ct_state=+trk+est,in_port=3,actions=output:4',
    'table=1,priority=10,ct_state=+trk+est,in_port=4,actions=output:3',
    'table=1,priority=0,actions=drop',
    '',
  ].join('\n'),
};

const PORTS = { inside: [1, 3], outside: [2, 4] };
const BASE_KINDS = { ftp: false, tftp: false, ipv6: false, malformed: false, icmpErrors: false };

/** Traffic per variant (see top); the baseline runs every variant's traffic. */
export const SELFTEST_TRAFFIC: Record<FaultName, TrafficOptions> = {
  noReplyEntry: { ports: PORTS, hosts: 2, outsideOrigin: 0, include: { ...BASE_KINDS, tcpAnomalies: false }, longGapRate: 0 },
  ignoreZone: { ports: PORTS, hosts: 1, outsideOrigin: 0, flows: { min: 3, max: 6 }, include: { ...BASE_KINDS, tcp: false, icmp: false }, longGapRate: 0 },
  finNotPunted: { ports: PORTS, hosts: 1, outsideOrigin: 0, flows: { min: 2, max: 5 }, include: { ...BASE_KINDS, udp: false, icmp: false, tcpAnomalies: false }, longGapRate: 0 },
  keepStaleEntries: { ports: PORTS, hosts: 2, outsideOrigin: 0, include: { ...BASE_KINDS, tcp: false }, longGapRate: 0.4 },
};

/**
 * Target options per variant traffic (the baseline of a variant uses the same). finNotPunted
 * runs the controller in the real deployment's 'hits' ageing: in 'exact' ageing the target
 * replays every hardware-decided packet into the controller's model (shadow update), which
 * repairs a FIN the hardware forwarded — the same packet gets the same verdict (est) in both, so
 * the defect is only visible once the model misses the FIN. Sequence checks are off in the slow
 * path there because hardware-forwarded segments no longer advance the model's windows.
 */
export const SELFTEST_TARGET: Record<FaultName, { ageing?: 'exact' | 'hits'; tcpSeqCheck?: boolean }> = {
  noReplyEntry: {},
  ignoreZone: {},
  finNotPunted: { ageing: 'hits', tcpSeqCheck: false },
  keepStaleEntries: {},
};

function variantOf(v: FaultName | 'baseline', traffic: TrafficOptions): FaultName {
  if (v !== 'baseline') return v;
  return VARIANTS.find((n) => SELFTEST_TRAFFIC[n] === traffic)!;
}

export const VARIANTS: readonly FaultName[] = FAULT_NAMES;

export interface VariantResult {
  /** The fault name, or 'baseline' for the run without a defect. */
  variant: FaultName | 'baseline';
  /** Variants: 'caught' (a disagreement) or 'missed'; baseline: 'agreed' or 'disagreed'; 'error': the run did not complete. */
  outcome: 'caught' | 'missed' | 'agreed' | 'disagreed' | 'error';
  /** Packets in the (shrunk) counterexample, when one was found. */
  counterexamplePackets: number | null;
  /** Difference kinds at the failing packet. */
  differences: string[];
  /** Shrinking finished (false: stopped by the time limit). */
  shrinkFinal: boolean | null;
  traces: number;
  packets: number;
  /** Seeded defect → shrunk counterexample (whole conformance run: search + shrink). */
  elapsedMs: number;
  searchMs: number;
  shrinkMs: number;
  seed: number;
  replay: string | null;
  error?: string;
}

export interface SelftestResult {
  ok: boolean;
  /** At least one run could not complete (tool missing, switch would not start…). */
  environmentError: boolean;
  baseline: VariantResult[];
  variants: VariantResult[];
}

export type SelftestProgress =
  | { phase: 'start'; variant: FaultName | 'baseline'; traffic: string }
  | { phase: 'done'; result: VariantResult };

export interface SelftestOptions {
  /** Generated traces per run (default 30). */
  runs?: number;
  /** fast-check seed (default 1). */
  seed?: number;
  /** Variants to run (default all four). */
  variants?: readonly FaultName[];
  /** Also run the baseline (default true). */
  baseline?: boolean;
  /** Stop shrinking after this many ms (default 120 000). */
  shrinkTimeLimitMs?: number;
  onProgress?: (p: SelftestProgress) => void;
  signal?: AbortSignal;
}

/** Throws CTO_SELFTEST_ENV when the bmv2 toolchain is missing. */
export function checkSelftestTools(): void {
  // CTOFFLOAD_BMV2 / CTOFFLOAD_P4C name the binaries explicitly (as for the bmv2 target).
  const tools: [string, string][] = [['simple_switch_grpc', 'CTOFFLOAD_BMV2'], ['p4c-bm2-ss', 'CTOFFLOAD_P4C']];
  const missing = tools.filter(([c, env]) => (process.env[env] ? !existsSync(process.env[env]!) : !whichSync(c))).map(([c]) => c);
  if (missing.length) throw new SelftestError('CTO_SELFTEST_ENV', `${missing.join(' and ')} not found in PATH: the selftest needs bmv2 and p4c (see /work/shared/docs/p4-target-interfaces.md)`);
}

function toResult(variant: FaultName | 'baseline', r: PropertyReport, seed: number): VariantResult {
  const x = r.counterexample;
  const found = !!x;
  const outcome: VariantResult['outcome'] = r.status === 'error' || r.status === 'interrupted'
    ? 'error'
    : variant === 'baseline'
      ? (found ? 'disagreed' : 'agreed')
      : (found ? 'caught' : 'missed');
  return {
    variant,
    outcome,
    counterexamplePackets: x ? x.packets.length : null,
    differences: x ? x.differences.map((d) => d.kind) : [],
    shrinkFinal: x ? x.final : null,
    traces: r.counts.traces,
    packets: r.counts.packets,
    elapsedMs: r.timing.elapsedMs,
    searchMs: r.timing.searchMs,
    shrinkMs: r.timing.shrinkMs,
    seed,
    replay: x?.replay ?? null,
    ...(r.error ? { error: r.error } : {}),
  };
}

async function runOne(variant: FaultName | 'baseline', traffic: TrafficOptions, o: Required<Pick<SelftestOptions, 'runs' | 'seed' | 'shrinkTimeLimitMs'>> & SelftestOptions): Promise<VariantResult> {
  // The fault object is built here and nowhere else: `{ [name]: true }` for one variant.
  const faults: OffloadFaults | undefined = variant === 'baseline' ? undefined : { [variant]: true };
  const target: TargetFactory = () => createBmv2Target({ ...SELFTEST_TARGET[variantOf(variant, traffic)], ...(faults ? { faults } : {}) });
  const reference: TargetFactory = async () => new ModelTarget(new PipelineEngine());
  const r = await runConformance({
    policy: SELFTEST_POLICY,
    target,
    reference,
    runs: o.runs,
    seed: o.seed,
    traffic,
    // Sequence checks off in the slow path (finNotPunted): the row that excuses exactly that.
    exceptions: SELFTEST_TARGET[variantOf(variant, traffic)].tcpSeqCheck === false ? [...EXCEPTIONS, tcpSeqChkDisabledRule(SELFTEST_POLICY)] : EXCEPTIONS,
    shrinkTimeLimitMs: o.shrinkTimeLimitMs,
    name: `selftest ${variant}`,
    replayCommand: ({ seed, path }) => `ctoffload selftest --variant ${variant} --seed ${seed} (path ${path})`,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  return toResult(variant, r, o.seed);
}

/**
 * Run the baseline (once per variant traffic, no defect) and every variant. `ok` iff every
 * variant was caught and every baseline agreed.
 */
export async function runSelftest(opts: SelftestOptions = {}): Promise<SelftestResult> {
  const runs = opts.runs ?? 30;
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(runs) || runs < 1) throw new SelftestError('CTO_SELFTEST_OPTIONS', `runs: ${runs} is not a positive integer`);
  if (!Number.isInteger(seed)) throw new SelftestError('CTO_SELFTEST_OPTIONS', `seed: ${seed} is not an integer`);
  const variants = opts.variants ?? VARIANTS;
  for (const v of variants) if (!VARIANTS.includes(v)) throw new SelftestError('CTO_SELFTEST_OPTIONS', `unknown variant '${v}' (known: ${VARIANTS.join(', ')})`);
  checkSelftestTools();
  const o = { ...opts, runs, seed, shrinkTimeLimitMs: opts.shrinkTimeLimitMs ?? 120_000 };
  const baseline: VariantResult[] = [];
  const results: VariantResult[] = [];
  for (const v of variants) {
    if (opts.signal?.aborted) break;
    const traffic = SELFTEST_TRAFFIC[v];
    if (opts.baseline ?? true) {
      opts.onProgress?.({ phase: 'start', variant: 'baseline', traffic: v });
      const b = await runOne('baseline', traffic, o);
      baseline.push(b);
      opts.onProgress?.({ phase: 'done', result: b });
    }
    opts.onProgress?.({ phase: 'start', variant: v, traffic: v });
    const r = await runOne(v, traffic, o);
    results.push(r);
    opts.onProgress?.({ phase: 'done', result: r });
  }
  const environmentError = [...baseline, ...results].some((r) => r.outcome === 'error');
  const ok = !environmentError && results.length === variants.length && results.every((r) => r.outcome === 'caught') && baseline.every((b) => b.outcome === 'agreed');
  return { ok, environmentError, baseline, variants: results };
}
