/**
 * `ctoffload selftest`: does the harness catch a broken offload IN ITS DEFAULT CONFIGURATION?
 * The bmv2 target is run with one deliberate defect at a time (./faults.ts: decorators wrapped
 * around the seam from outside — a program rewrite, an entry builder, a device wrapper) through
 * exactly what `ctoffload conformance --target bmv2` runs (harness/targets/bmv2/setup.ts: the
 * deployed controller core with hardware-driven ageing, sequence checks as deployed, the
 * reference with the offload contract), and the differential property must find a
 * disagreement for every one; a baseline run with no defect, same policy, traffic, seed and
 * runs, must agree (otherwise a "catch" could be a harness or offload bug unrelated to it).
 *
 * Policy: a two-zone firewall (zone 1 on ports 1↔2, zone 2 on ports 3↔4; new connections
 * only from the inside ports 1 and 3) so that the zone defect has two zones to confuse, with
 * small host pools so that the two zones carry the same tuples. Traffic per variant is chosen
 * to reach its defect quickly:
 * - noReplyEntry: any established connection's reply hit carries the wrong ct state (no rpl),
 *   seen through its recirculating lookup (the probe reports it) and the output probe's ct fields.
 * - ignoreZone: the same tuple opened in zone 2 after zone 1 hits zone 1's entry (est instead
 *   of new).
 * - finNotPunted: a FIN of an offloaded connection is decided in hardware: the slow path never
 *   sees the close, so the connection stays established in the controller while the reference
 *   closes it; the contract also flags the FIN itself (TCP_FLAGS expected).
 * - keepStaleEntries and hitsNotReported: long gaps crossing the UDP/ICMP timeouts
 *   (docs/conntrack-semantics.md §6.1): a packet after expiry hits the stale entry (est) where the
 *   reference starts a new connection; a connection kept alive by hardware traffic is expired
 *   by the software.
 * - replyKeyWrong: every reply punts as CT_MISS where the contract has the hardware decide it.
 * The figure reported per variant is "time from a seeded defect to its shrunk counterexample":
 * the conformance run's elapsed time (search + shrink, program compile and switch start
 * included) and the counterexample's size in packets.
 */
import { whichSync } from '../../p4/index.js';
import { existsSync } from 'node:fs';
import { CtoffloadError } from '../../model/errors.js';
import type { TrafficOptions } from '../arbitraries/index.js';
import { runConformance, type PropertyReport } from '../runner/index.js';
import { bmv2Run } from '../targets/bmv2/index.js';
import type { PolicySource } from '../targets/target.js';
import { FAULT_NAMES, faultDecorators, type FaultName } from './faults.js';

export { FAULT_NAMES, type FaultName } from './faults.js';

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
  hitsNotReported: { ports: PORTS, hosts: 2, outsideOrigin: 0, include: { ...BASE_KINDS, tcp: false }, longGapRate: 0.4 },
  replyKeyWrong: { ports: PORTS, hosts: 2, outsideOrigin: 0, include: { ...BASE_KINDS, tcpAnomalies: false }, longGapRate: 0 },
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
  /** Variants to run (default all). */
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
  if (missing.length) throw new SelftestError('CTO_SELFTEST_ENV', `${missing.join(' and ')} not found in PATH: the selftest needs bmv2 and p4c (see README \"Prerequisites\" and docs/p4-target-interfaces.md §8)`);
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
  // The default bmv2 run (harness/targets/bmv2/setup.ts), with this variant's decorators.
  const run = bmv2Run(SELFTEST_POLICY, variant === 'baseline' ? {} : { decorators: faultDecorators(variant) });
  const r = await runConformance({
    policy: SELFTEST_POLICY,
    target: run.target,
    reference: run.reference,
    runs: o.runs,
    seed: o.seed,
    traffic,
    exceptions: run.exceptions,
    shrinkTimeLimitMs: o.shrinkTimeLimitMs,
    name: `selftest ${variant === 'baseline' ? `baseline (${variantOf(variant, traffic)} traffic)` : variant}`,
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
