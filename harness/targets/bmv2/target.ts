/**
 * bmv2 Target: the generated offload program (its observation build, offload/probe.ts) on
 * `simple_switch_grpc` plus the deployed slow-path controller core (offload/controller/core.ts),
 * observed and driven from outside through ./slow-path.ts, behind the same Target interface as
 * the model and OVS, so the harness compares them packet by packet. Its default is the
 * deployed configuration: hardware-driven ageing and the controller's own TCP sequence
 * setting; `ageing: 'exact'` is the oracle mode (./slow-path.ts "Hardware activity").
 *
 * ## load(policy)
 * Policy + offload config → the observation build of the P4 program (config `probe: true`, offload/probe.ts;
 * proven equal to the production build but for observation: test/offload/observation-equality.ts),
 * bmv2 JSON + P4Info (p4/p4c.ts, cached by content hash),
 * static entries (offload/) — or, with `artifacts: DIR`, the prebuilt/hand-modified files that
 * `ctoffload generate --probe --out DIR` writes: `ctoffload.json` (bmv2 JSON), `ctoffload.p4info.bin`
 * (binary P4Info), `ctoffload.entries.json` (static entries by name, bigints as decimal
 * strings), `ctoffload.manifest.json` (its `config` is used as the offload config unless one is
 * given). The plan used for connection entries comes from compiling the policy with that config,
 * so a hand-modified program must keep the table, action and controller-header names of the
 * generated one, and the probe ECHO path (checked at load). One switch per target (started at
 * the first load, `--cpu-port` = config.cpuPort, dataplane gRPC service); every load opens a fresh
 * P4Runtime session (primary), sets the pipeline (which empties every table), installs the
 * static entries and starts a fresh controller whose model clock is at 0. Self-test defects are
 * `decorators` applied here from outside (a program rewrite before p4c, an entry builder and a
 * device wrapper given to the core; harness/selftest/faults.ts).
 *
 * ## send(step) / sendBatch(steps) — exact attribution, no sleeps
 * Each input carries an input probe with a fresh tag T and flag REPORT_DROP (offload/probe.ts).
 * In the generated program it then has exactly one outcome (offload/p4gen.ts: a packet is
 * decided whole in hardware or punted whole; at most one hardware output; a `controller` output
 * goes to the CPU port; a drop is reported to the CPU): one hardware dataplane output, or one
 * PacketIn with tag T (punt, `controller` output, or drop report).
 *
 * ### Speculative rounds
 * Sending one input and waiting for its outcome leaves bmv2 idle most of the time. The hardware
 * is a pure function of its table entries (the generated program has no registers; direct
 * counters are only read, never matched on), and its entries change only when the controller
 * writes. So up to `window` inputs are in flight, and outcomes are taken in input order; input
 * k's result is what sending it alone would have given iff no entry was written between the
 * round's start and k's own processing (`controller.writeSeq`):
 * 1. `controller.advance(t0)` (expired connections deleted from hardware) starts a round.
 * 2. The adapter holds every PacketIn with an input tag (`hold`, ./slow-path.ts, set at load):
 *    nothing is served out of order or for an input that will be discarded.
 * 3. For k = 0, 1, …: wait for k's outcome (hardware output tagged T_k, or its PacketIn held);
 *    for k > 0 `advance(t_k)` — if that wrote (an expiry; the direct counters are read first
 *    when one is due), k and the rest are discarded; then a held PacketIn is released (served
 *    now: model run, entries written, PacketOuts sent), or, for an input the hardware decided,
 *    its virtual-time last-hit stamp is noted (the oracle mode replays it into the model
 *    instead; ./slow-path.ts); if k's processing wrote entries, the rest are discarded. Meanwhile
 *    new inputs go out as earlier ones are accepted (a sliding window), except past an input
 *    that will probably punt (TCP SYN/FIN/RST, fragments, ICMP errors, untrackable frames, a
 *    flow not yet seen decided in hardware): mispredictions cost time, never results.
 * 4. Discarded inputs are sent again by the next round with new tags; their outcomes are
 *    dropped when they come (a held PacketIn is dropped unserved, `ObservedSlowPath.discard`) and
 *    count against the window until then. Nothing waits for them: no drain, no ping.
 * 5. A punt's PacketOuts are DIRECT (one output each, probe flag PACKET_OUT, tagged T_k) and
 *    touch no table: later rounds go on while they travel (counted in the window), and
 *    sendBatch answers once every accepted input has received as many slow-path outputs as the
 *    controller sent PacketOuts for it.
 * The dataplane stream stays open across rounds (registered before any PacketOut is injected,
 * so none of their outputs is discarded, docs/p4-target-interfaces.md §5.3) and is replaced every minute; reset()
 * half-closes it — bmv2's drain barrier, every output of every packet alive in bmv2 received —
 * and pings the controller, so every PacketIn of the trace has arrived before the next one.
 * `window: 1` is strict lock-step. Counters read while later inputs are in flight may
 * include their hits, but only accepted inputs stamp a hit's time, so a read credits exactly
 * what lock-step would. The equivalence (rounds vs lock-step give identical Verdicts) is a property test
 * (test/harness/targets/bmv2.prop.test.ts).
 * Outputs are attributed by the probe TAG, never by dataplane id (bmv2 mislabels ids when a
 * PacketOut is injected concurrently, docs/p4-target-interfaces.md §5.3); the probe is stripped. Outputs and PacketIns
 * with a tag of no input in flight are counted in `stats.strayOutputs` / `strayPacketIns` (an
 * attribution failure to investigate). In flight: ≤ 32 inputs plus the slow path's
 * reinjections (bmv2 drops past 64 per egress queue, docs/p4-target-interfaces.md §5.3). A program that breaks the
 * one-outcome rule (hand-modified artifacts) makes a step fail after `stepTimeoutMs` instead of
 * hanging; the load-time check sends a probe ECHO (the program must keep the ECHO and
 * REPORT_DROP paths).
 *
 * ## Expected offload relaxations (rows for harness/exceptions.ts)
 * - `bmv2-hw-no-tcp-seq-chk`: an offloaded TCP connection's packet without SYN/FIN/RST is
 *   decided by its entry without window checks: reference inv, bmv2 forwards with est.
 * - `bmv2-no-length-checksum-validation`: no IP length / L4 length / L4 checksum validation in
 *   the data plane (offload/p4gen.ts design notes): reference inv, bmv2 forwards (entry state).
 * - `bmv2-tcp-seq-chk-disabled` (with `tcpSeqCheck: false`, the deployed default): OVS
 *   ct-disable-tcp-seq-chk semantics in the slow path; excused iff the reference with
 *   tcpSeqCheck off over the same prefix agrees (offload contract included).
 * - `bmv2-contract-table-full`: a CT_MISS punt the contract did not expect while the controller
 *   holds connections in the slow path after a refused INSERT.
 * The rows, with their predicates, are in ./exceptions.ts.
 *
 * ## Verdict
 * - outputs: hardware and slow-path outputs as received (dataplane arrival order), each with
 *   `ct` = the probe's ct fields (state, zone, mark, label) — what the hardware (or the model,
 *   via the PacketOut) attached at output time; then `controller` outputs (port
 *   PORT_CONTROLLER): hardware `controller` actions with the packet_in ct fields, and the model's
 *   own controller outputs for punted packets with their ct fields. This is the same quantity as
 *   the model's VerdictOutput.ct ("the translation's view of the ct fields when the output was
 *   composed", model/pipeline/exec.ts): untracked after a ct()/ct_clear in the same pass, the
 *   hit's fields after ct(table=T). The comparator should compare output bytes, ports and ct.
 * - lookups, for every input (`observesLookups`): a hardware-decided input's are what the
 *   observation build reported — each recirculating lookup's table, ct_state, zone, mark and
 *   label, in the probe of its output, of its drop report or of its `controller` PacketIn
 *   (offload/probe.ts; TagRecord.lookups); a punted input's are the slow path's model verdict's
 *   (TagRecord.verdicts), since the model decided it from table 0.
 * - offload: the punt reasons of the input ([] = decided in hardware) and the controller's
 *   slow-path-only count, checked against the offload contract (harness/contract.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CtoffloadError } from '../../../model/errors.js';
import { PORT_CONTROLLER, type CtLookup, type Verdict, type VerdictOutput } from '../../../model/verdict.js';
import {
  addInputProbe,
  compileOffload,
  decodeProbe,
  puntReasonName,
  encodeProbe,
  p4runtimeDevice,
  PROBE_F_ECHO,
  PROBE_F_PACKET_OUT,
  PROBE_F_REPORT_DROP,
  programShape,
  resolveConfig,
  toUpdates,
  type ControllerStatus,
  type OffloadConfig,
  type OffloadEntry,
  type OffloadProgram,
  type Plan,
  type ControllerDevice,
  type EntryBuilder,
} from '../../../offload/index.js';
import { ObservedSlowPath, type TagRecord } from './slow-path.js';
import { CT_OK, FRAG_NONE, ICMP_ERROR, IPPROTO_TCP, L3_NONE, PacketView, TCP_FIN, TCP_RST, TCP_SYN } from '../../../model/packet/view.js';
import { Bmv2Switch, P4InfoIndex, P4RuntimeClient, compileP4, describeTableEntry, openDataplane, p4cVersion, remove, tableReadRequest, type DataplaneChannel, type DecodedTableEntry, type PacketResult, type ServiceClient, type TableEntry } from '../../../p4/index.js';
import { formatConnection } from '../../../model/conntrack/dump.js';
import { formatIpv4, formatIpv6 } from '../../../model/packet/addr.js';
import { StepStream, dataplaneClient } from './stream.js';
import type { EntryHits, PolicySource, SendStep, Target, TargetState } from '../target.js';
import { EntryCounterReader } from './entry-hits.js';

export class Bmv2TargetError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_BMV2_TARGET', message);
  }
}

/** A prebuilt artifact set that cannot be used (missing files, a production build): bad input. */
export class Bmv2ArtifactsError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_BMV2_ARTIFACTS', message);
  }
}

export interface Bmv2TargetOptions {
  /** Offload configuration (offload/config.ts keys); default: the generator's defaults. */
  offloadConfig?: Partial<OffloadConfig> | Record<string, unknown>;
  /** Directory with a prebuilt program (layout above); the policy still gives the plan. */
  artifacts?: string;
  /**
   * How the controller learns of the packets the hardware decides (./slow-path.ts "Hardware
   * activity"): 'hardware' (default: the deployed configuration — direct counters, read before
   * any sweep that would expire an offloaded connection, with a virtual-time last-hit stamp;
   * the hardware TTL as a backstop) or 'exact' (ORACLE MODE: every hardware-decided packet is
   * replayed into the controller's model, which no NIC reports; never the default).
   */
  ageing?: 'hardware' | 'exact';
  /**
   * Sequence checks in the controller's model. Default: false with 'hardware' ageing — the
   * deployed controller's own default (offload/controller/core.ts "TCP sequence tracking"),
   * whose difference to the reference is the row `bmv2-tcp-seq-chk-disabled`; true with 'exact'
   * ageing, where every hardware-forwarded packet reaches the model, so its windows are the
   * reference's and checking in the slow path is sound.
   */
  tcpSeqCheck?: boolean;
  /**
   * Most inputs in flight in speculative rounds (see top); 1 = strict lock-step. Default
   * and maximum 32.
   */
  window?: number;
  /** Deadline for one barrier step (echo, ping, drain) in ms. Default 5000. */
  stepTimeoutMs?: number;
  /** Controller log sink (malformed PacketIns, write failures). */
  log?: (msg: string) => void;
  /** Switch log level; default 'warn'. */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'off';
  /**
   * Changes wrapped around the seam from outside, for `ctoffload selftest` (harness/selftest.ts):
   * a rewrite of the generated P4 source, another entry builder, a wrapper of the device the
   * controller core sees. Not allowed with `artifacts`.
   */
  decorators?: Bmv2Decorators;
}

export interface Bmv2Decorators {
  /** The generated P4 source → the source compiled (must change it, or the variant is void). */
  rewriteProgram?: (p4: string) => string;
  entryBuilder?: EntryBuilder;
  wrapDevice?: (d: ControllerDevice) => ControllerDevice;
}

export interface Bmv2TargetStats {
  steps: number;
  /** Steps whose input was punted at least once. */
  puntedSteps: number;
  hardwareOutputs: number;
  slowPathOutputs: number;
  strayOutputs: number;
  /** PacketIns with an input tag of no input in flight (dropped unserved; should stay 0). */
  strayPacketIns: number;
  /** Conntrack entries found by reset() that the controller did not know of (should stay 0). */
  resetLeftovers: number;
  /** Speculative rounds run, inputs they discarded (sent again), PacketIns of those dropped unserved. */
  rounds: number;
  discarded: number;
  discardedPacketIns: number;
}

/** Frame the ECHO probe carries: 60 bytes, broadcast-free, local experimental EtherType 0x88b5. */
const ECHO_FRAME = (() => {
  const f = new Uint8Array(60);
  f.set([0x02, 0, 0, 0, 0xec, 0x40], 0);
  f.set([0x02, 0, 0, 0, 0xec, 0x41], 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  return f;
})();
/** Echo tags live below the controller's ping tags (0xfff00000…) and above input tags. */
const ECHO_TAG_BASE = 0xffe00000;
/** gRPC deadline of one dataplane stream, and the age at which a kept-open stream is replaced. */
const STREAM_DEADLINE_MS = 600_000;
const STREAM_ROTATE_MS = 60_000;
const MAX_INPUT_TAG = 0xffdfffff;
/**
 * Inputs in flight at most: bmv2 drops silently past 64 packets queued on one egress port
 * (docs/p4-target-interfaces.md §5.3; the brief says keep ≤ 32), and the slow path's reinjections of a punt in the
 * window come on top.
 */
const MAX_WINDOW = 32;

/**
 * One table entry read back, as one line: match fields, action and parameters, idle timeout.
 * The conntrack key's addresses print as IPv4/IPv6 text by the entry's `l3` (EtherType), its
 * ports and zone in decimal; anything else in hex.
 */
export function formatEntry(e: DecodedTableEntry): string {
  const hexOf = (v: bigint): string => (v < 10n ? v.toString() : `0x${v.toString(16)}`);
  const l3 = e.match.l3?.kind === 'exact' ? e.match.l3.value : undefined;
  const addr = (v: bigint): string => {
    const b = new Uint8Array(16);
    for (let i = 15, x = v; i >= 0; i--, x >>= 8n) b[i] = Number(x & 0xffn);
    return l3 === 0x800n ? formatIpv4(b, 12) : formatIpv6(b);
  };
  const value = (k: string, v: bigint): string => {
    if ((k === 'src' || k === 'dst') && (l3 === 0x800n || l3 === 0x86ddn)) return addr(v);
    if (k === 'sport' || k === 'dport' || k === 'zone') return v.toString();
    return hexOf(v);
  };
  const m = Object.entries(e.match)
    .map(([k, v]) => {
      if (v.kind === 'ternary') return `${k}=${hexOf(v.value)}/${hexOf(v.mask)}`;
      if (v.kind === 'lpm') return `${k}=${hexOf(v.value)}/${v.prefixLen}`;
      if (v.kind === 'range') return `${k}=${hexOf(v.low)}..${hexOf(v.high)}`;
      return `${k}=${value(k, v.value)}`;
    })
    .join(',');
  const p = Object.entries(e.params ?? {})
    .map(([k, v]) => `${k}=${hexOf(v)}`)
    .join(',');
  const ttl = e.idleTimeoutNs ? ` idle_timeout=${e.idleTimeoutNs / 1_000_000n}ms` : '';
  return `${m}${e.priority ? ` priority=${e.priority}` : ''} → ${e.action ?? '(no action)'}(${p})${ttl}`;
}

/** `ctoffload.entries.json` (bigints as decimal strings) → entries. */
export function parseEntriesJson(text: string, source = 'ctoffload.entries.json'): OffloadEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Bmv2TargetError(`${source}: not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new Bmv2TargetError(`${source}: expected an array of entries`);
  const big = (v: unknown, where: string): bigint => {
    if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
    if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
    throw new Bmv2TargetError(`${source}: ${where}: expected an integer (decimal string), got ${JSON.stringify(v)}`);
  };
  return raw.map((e: Record<string, unknown>, i: number) => {
    const spec = (e.spec ?? {}) as Record<string, unknown>;
    if (typeof e.table !== 'string' || typeof spec.action !== 'string') throw new Bmv2TargetError(`${source}: entry ${i}: needs table and spec.action`);
    const match: Record<string, unknown> = {};
    for (const [k, v] of Object.entries((spec.match ?? {}) as Record<string, unknown>)) {
      if (v !== null && typeof v === 'object') {
        const o: Record<string, bigint | number> = {};
        for (const [kk, vv] of Object.entries(v as Record<string, unknown>)) o[kk] = kk === 'prefixLen' ? Number(vv) : big(vv, `entry ${i} match ${k}.${kk}`);
        match[k] = o;
      } else match[k] = big(v, `entry ${i} match ${k}`);
    }
    const params: Record<string, bigint> = {};
    for (const [k, v] of Object.entries((spec.params ?? {}) as Record<string, unknown>)) params[k] = big(v, `entry ${i} param ${k}`);
    const out: OffloadEntry = {
      table: e.table,
      spec: { ...(spec as object), match: match as never, action: spec.action, params },
      comment: typeof e.comment === 'string' ? e.comment : `${source}[${i}]`,
    };
    if (spec.idleTimeoutNs !== undefined) out.spec.idleTimeoutNs = big(spec.idleTimeoutNs, `entry ${i} idleTimeoutNs`);
    return out;
  });
}

/**
 * The offload configuration a bmv2 target runs: `offloadConfig`, else the artifacts' manifest,
 * else the generator's defaults — always the observation build (probe on: the harness attributes
 * outputs by its tag, ./target.ts top).
 */
export function bmv2OffloadConfig(opts: Pick<Bmv2TargetOptions, 'offloadConfig' | 'artifacts'>): OffloadConfig {
  let cfgIn: Record<string, unknown> = (opts.offloadConfig as Record<string, unknown>) ?? {};
  if (!opts.offloadConfig && opts.artifacts) {
    try {
      const m = JSON.parse(readFileSync(join(opts.artifacts, 'ctoffload.manifest.json'), 'utf8')) as { config?: Record<string, unknown> };
      if (m.config) cfgIn = m.config;
    } catch (e) {
      throw new Bmv2ArtifactsError(`artifacts ${opts.artifacts}: cannot read ctoffload.manifest.json: ${(e as Error).message}`);
    }
    const cfg = resolveConfig(cfgIn, join(opts.artifacts, 'ctoffload.manifest.json'));
    if (!cfg.probe) throw new Bmv2ArtifactsError(OBSERVATION_BUILD_NEEDED);
    return cfg;
  }
  return resolveConfig({ ...cfgIn, probe: true });
}

const OBSERVATION_BUILD_NEEDED = 'the bmv2 target needs an observation build (offload config probe: true; artifacts from `ctoffload generate --probe`)';

/** One input in flight: outcome 0 not yet, 1 hardware output, 2 PacketIn held by the controller. */
interface InFlight {
  outcome: 0 | 1 | 2;
  outputs: VerdictOutput[];
  /** Slow-path outputs (PacketOut DIRECT, probe flag PACKET_OUT) received, and expected (-1: not known yet). */
  slow: number;
  need: number;
  discarded: boolean;
  /** flowKey() of the input, for punt prediction; -1 when not computed (lock-step) or not IP. */
  flow: number;
  /** ct lookups the hardware output's probe reported (offload/probe.ts). */
  lookups?: CtLookup[];
}

/** An input accepted by a round, waiting for its slow-path outputs before its Verdict is built. */
interface Accepted {
  tag: number;
  e: InFlight;
  rec: TagRecord;
}

interface LoadedProgram {
  plan: Plan;
  json: Uint8Array;
  p4info: P4InfoIndex;
  entries: OffloadEntry[];
  hash: string;
  /** The generated P4 source compiled (absent for prebuilt artifacts). */
  p4?: string;
}

export class Bmv2Target implements Target {
  readonly name = 'bmv2';
  /** Every input's lookups are observed: the hardware's from the probe, a punt's from the slow path's model. */
  readonly observesLookups = true;
  readonly stats: Bmv2TargetStats = { steps: 0, puntedSteps: 0, hardwareOutputs: 0, slowPathOutputs: 0, strayOutputs: 0, strayPacketIns: 0, resetLeftovers: 0, rounds: 0, discarded: 0, discardedPacketIns: 0 };

  private sw: Bmv2Switch | undefined;
  private client: P4RuntimeClient | undefined;
  private dp: ServiceClient | undefined;
  private channel: DataplaneChannel | undefined;
  private ctl: ObservedSlowPath | undefined;
  private prog: LoadedProgram | undefined;
  private prevTime = 0;
  private nextTag = 1;
  private nextEcho = 0;
  private lock: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly stepTimeoutMs: number;
  private readonly cfg: OffloadConfig;
  private readonly window: number;
  private readonly view = new PacketView();
  /** Inputs sent and not yet accepted or finished, by tag; discarded ones count apart. */
  private readonly inflight = new Map<number, InFlight>();
  private discardedInFlight = 0;
  /** Slow-path outputs announced (PacketOuts sent for accepted inputs) and not yet received. */
  private pendingSlow = 0;
  /** The one waiter of runRound (until()). */
  private wake: (() => void) | undefined;
  /** Flows with an input decided in hardware since the last reset (punt prediction only). */
  private readonly hwFlows = new Set<number>();
  /** Accepted inputs by their first punt reason (`punt CT_MISS`…), cumulative. */
  private readonly puntsByReason: Record<string, number> = {};
  /** The program's direct counters, read for coverage (./entry-hits.ts). */
  private hitReader: EntryCounterReader | undefined;

  constructor(private readonly opts: Bmv2TargetOptions = {}) {
    this.stepTimeoutMs = opts.stepTimeoutMs ?? 5000;
    const w = opts.window ?? MAX_WINDOW;
    if (!Number.isInteger(w) || w < 1 || w > MAX_WINDOW) throw new Bmv2TargetError(`window ${w}: expected an integer from 1 to ${MAX_WINDOW}`);
    this.window = w;
    this.cfg = bmv2OffloadConfig(opts);
  }

  /** The controller of the current policy (status, tests). */
  get controller(): ObservedSlowPath | undefined {
    return this.ctl;
  }

  get switch(): Bmv2Switch | undefined {
    return this.sw;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Bmv2TargetError('bmv2 target used after close()'));
    const run = this.lock.then(fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async buildProgram(policy: PolicySource): Promise<LoadedProgram> {
    const prog: OffloadProgram = compileOffload(policy.text, policy.source, this.cfg);
    const dir = this.opts.artifacts;
    const deco = this.opts.decorators;
    if (dir && deco) throw new Bmv2TargetError('self-test decorators cannot be applied to prebuilt artifacts');
    if (dir) {
      const read = (f: string): Buffer => {
        try {
          return readFileSync(join(dir, f));
        } catch (e) {
          throw new Bmv2ArtifactsError(`artifacts ${dir}: cannot read ${f}: ${(e as Error).message}`);
        }
      };
      const json = read('ctoffload.json');
      return {
        plan: prog.plan,
        json,
        p4info: P4InfoIndex.from(read('ctoffload.p4info.bin')),
        entries: parseEntriesJson(read('ctoffload.entries.json').toString('utf8'), join(dir, 'ctoffload.entries.json')),
        hash: `artifacts:${dir}`,
      };
    }
    let source = prog.p4;
    if (deco?.rewriteProgram) {
      source = deco.rewriteProgram(prog.p4);
      if (source === prog.p4) throw new Bmv2TargetError('the program rewrite changed nothing (has offload/p4gen.ts changed?)');
    }
    const r = await compileP4({ source, name: 'ctoffload.p4' });
    return { plan: prog.plan, json: r.json, p4info: P4InfoIndex.from(r.p4info), entries: prog.entries, hash: r.hash, p4: source };
  }

  load(policy: PolicySource): Promise<void> {
    return this.exclusive(async () => {
      const prog = await this.buildProgram(policy);
      await this.teardownSession();
      if (!this.sw || !this.sw.running) {
        // A dead switch's channels point at its old addresses: drop them with it.
        this.channel?.close();
        this.channel = undefined;
        this.dp?.close();
        this.dp = undefined;
        this.sw = await Bmv2Switch.start({ cpuPort: this.cfg.cpuPort, packetIo: 'dataplane', logLevel: this.opts.logLevel ?? 'warn' });
      }
      const sw = this.sw;
      const client = await sw.guard(P4RuntimeClient.connect(sw.grpcAddress, { deviceId: sw.deviceId, electionId: { high: 0n, low: 1n }, deadlineMs: 10_000, reconnect: false }), 'while opening the P4Runtime session');
      this.client = client;
      await sw.loadPipeline({ json: prog.json, p4info: prog.p4info }, { client });
      if (prog.entries.length) await sw.guard(client.write(toUpdates(prog.entries, prog.p4info, 'INSERT'), { deadlineMs: 30_000 }), 'while installing the static entries');
      if (!this.channel) this.channel = await openDataplane(sw);
      else await this.channel.ready();
      this.dp ??= dataplaneClient(sw.dataplaneAddress!);
      this.prog = prog;
      const hitReader = new EntryCounterReader(prog.plan, prog.p4info);
      this.hitReader = undefined; // until the first read below sets the bases
      const exact = this.opts.ageing === 'exact';
      this.ctl = new ObservedSlowPath({
        plan: prog.plan,
        policy,
        // Coverage: conntrack entries' hits are read before the core deletes them (./entry-hits.ts).
        device: hitReader.countingDevice(p4runtimeDevice(client, prog.p4info), client),
        activity: exact ? 'packets' : 'counters',
        tcpSeqCheck: this.opts.tcpSeqCheck ?? exact,
        entryBuilder: this.opts.decorators?.entryBuilder,
        wrapDevice: this.opts.decorators?.wrapDevice,
        pingTimeoutMs: this.stepTimeoutMs,
        log: this.opts.log,
      });
      // Every PacketIn of an input is served only when runRound releases it (see top).
      this.ctl.hold((tag) => tag <= MAX_INPUT_TAG, (tag) => this.onPacketInHeld(tag));
      this.forgetInFlight();
      this.prevTime = 0;
      // The barrier protocol needs the probe ECHO path and the DIRECT-to-CPU ping: check both.
      if (!this.cfg.probe) throw new Bmv2ArtifactsError(OBSERVATION_BUILD_NEEDED);
      await this.echoCheck();
      // Coverage counts start here: the first read takes the load-time checks as its base.
      await hitReader.take(client);
      this.hitReader = hitReader;
    });
  }

  /**
   * Run another policy from the current point of the trace on (Target.replacePolicy), through
   * the deployed controller core's `replacePolicy` exactly as the daemon applies a policy change
   * (offload/daemon/daemon.ts "Policy change"): when the program stays, entries the new plan no
   * longer wants are deleted, then the policy tables' difference is written, then the model
   * switches policy over the same connections and every connection's entries are revalidated
   * (offload/controller/core.ts "Policy changes"); when the program's code changes (a moved
   * zone) but not its P4Info, the new pipeline is pushed and everything written again.
   * Conntrack state (model and hardware) and the clock stay. Every input sent before has been
   * served under the old policy first (drain and ping). Validation before anything changes: the
   * policy is compiled (p4c included); another P4Info is refused, as are prebuilt artifacts and
   * self-test program rewrites, which belong to one policy. A switch that fails half-way leaves
   * the target unusable until the next load().
   */
  replacePolicy(policy: PolicySource): Promise<void> {
    return this.exclusive(async () => {
      if (!this.ctl || !this.client || !this.prog) throw new Bmv2TargetError('replacePolicy() before a successful load()');
      if (this.opts.artifacts) throw new Bmv2TargetError('replacePolicy() with prebuilt artifacts: they hold one policy\'s program and entries');
      if (this.opts.decorators?.rewriteProgram) throw new Bmv2TargetError('replacePolicy() with a self-test program rewrite: it was made for the loaded program');
      const cur = this.prog;
      // offload/p4gen.ts writes the policy into comments: the same shape (offload/daemon/
      // pipeline.ts programShape) keeps the running program and only the entries change, as
      // `ctoffload controller` decides (harness/cli/controller.ts); p4c runs only otherwise.
      const gen = compileOffload(policy.text, policy.source, this.cfg);
      const sameProgram = cur.p4 !== undefined && programShape(gen.p4) === programShape(cur.p4);
      const next: LoadedProgram = sameProgram ? { ...cur, plan: gen.plan, entries: gen.entries, p4: gen.p4 } : await this.buildProgram(policy);
      // P4Runtime names and ids are the P4Info's: the controller's device, the coverage reader
      // and the PacketIn decoding stay valid only if it is the same (a moved zone changes the
      // code of the zone sets, not the P4Info).
      if (!sameBytes(next.p4info.encode(), cur.p4info.encode())) {
        throw new Bmv2TargetError(`${policy.source}: the new policy's P4Info differs from the running program's (other tables, actions or sizes); the bmv2 target cannot change it under live connections (load() it instead)`);
      }
      const ctl = this.ctl;
      const client = this.client;
      const sw = this.sw!;
      if (!sw.running) {
        this.lost();
        throw sw.exitError('during a policy change');
      }
      try {
        // Inputs sent so far are served under the old policy: outputs drained, PacketIns pinged.
        await this.closeStream();
        await ctl.barrier(this.cfg.cpuPort);
        // As the daemon applies a change (offload/daemon/daemon.ts replacePolicy): the policy
        // tables' difference when the program stays; else the new pipeline pushed inside the
        // core's serial section (every table emptied, docs/p4-target-interfaces.md §4.12), the
        // static entries installed, and every connection's entries written again.
        if (sameProgram) {
          await ctl.core.replacePolicy({ plan: next.plan, policy, staticEntries: { from: cur.entries, to: next.entries } });
        } else {
          await ctl.core.replacePolicy({
            plan: next.plan,
            policy,
            reinstall: true,
            prepare: async () => {
              await sw.loadPipeline({ json: next.json, p4info: next.p4info }, { client });
              if (next.entries.length) await sw.guard(client.write(toUpdates(next.entries, next.p4info, 'INSERT'), { deadlineMs: 30_000 }), 'while installing the static entries');
            },
          });
        }
      } catch (e) {
        if ((e as { code?: string }).code === 'CTO_CONTROLLER_POLICY_WRITE' || !sameProgram) {
          // The switch may hold part of the change: the target is unusable until the next load().
          this.lost();
          throw (await sw.deathCause(300, 'during a policy change')) ?? e;
        }
        throw e;
      }
      this.prog = next;
      this.hitReader?.usePlan(next.plan);
      // A pushed program: its probe ECHO and DIRECT-to-CPU paths are checked as at load.
      if (!sameProgram) await this.echoCheck();
    });
  }

  private async echoCheck(): Promise<void> {
    await this.closeStream();
    const tag = this.echoTag();
    const s = new StepStream(this.dp!, this.sw!.deviceId, () => undefined);
    const failed = s.whenFailed();
    failed.catch(() => undefined);
    try {
      const echoed = this.ctl!.waitEcho(tag, 'probe ECHO at load');
      await s.write(1n, 1, encodeProbe({ flags: PROBE_F_ECHO, tag, state: 0, zone: 0, mark: 0, label: 0n }, ECHO_FRAME));
      await Promise.race([echoed, failed]);
      await this.ctl!.barrier(this.cfg.cpuPort);
      await s.close();
    } catch (e) {
      s.cancel();
      throw await this.deathOr(e);
    }
  }

  private echoTag(): number {
    return (ECHO_TAG_BASE + (this.nextEcho++ & 0xfffff)) >>> 0;
  }

  send(step: SendStep): Promise<Verdict> {
    return this.sendBatch([step]).then((v) => v[0]!);
  }

  /**
   * Send `steps` in order and return one Verdict per step, identical to sending them one by
   * one (see "Speculative rounds" at the top).
   */
  sendBatch(steps: readonly SendStep[]): Promise<Verdict[]> {
    return this.exclusive(async () => {
      if (!this.ctl || !this.dp || !this.sw) throw new Bmv2TargetError('send() before a successful load()');
      let prev = this.prevTime;
      for (const [k, step] of steps.entries()) {
        const which = steps.length > 1 ? `step ${k}: ` : '';
        if (!Number.isFinite(step.time) || step.time < prev) throw new Bmv2TargetError(`${which}trace time ${step.time} ms is before the previous ${prev} ms (call reset())`);
        if (!Number.isInteger(step.port) || step.port < 0 || step.port > 510 || step.port === this.cfg.cpuPort) throw new Bmv2TargetError(`${which}port ${step.port} is not a bmv2 data port (0..510, not the CPU port ${this.cfg.cpuPort})`);
        if (step.frame.length === 0) throw new Bmv2TargetError(`${which}empty frame (bmv2 ignores it silently)`);
        prev = step.time;
      }
      const accepted: Accepted[] = [];
      while (accepted.length < steps.length) await this.runRound(steps, accepted);
      // The punts' PacketOuts (DIRECT: one output each, tagged) were left to arrive while later
      // rounds ran: they do not touch the tables. Collect them before answering.
      try {
        for (const { tag, e } of accepted) {
          if (e.slow < e.need) await Promise.race([this.until(() => e.slow >= e.need, `${e.need - e.slow} of ${e.need} slow-path output(s) of tag 0x${tag.toString(16)} (PacketOut DIRECT)`), this.stream?.failed ?? new Promise<never>(() => undefined)]);
        }
      } catch (err) {
        this.lost();
        throw await this.deathOr(err);
      }
      const slowPathOnly = this.ctl.status().slowPathOnly;
      return accepted.map(({ tag, e, rec }) => {
        this.inflight.delete(tag);
        for (const c of rec.controllerOutputs) e.outputs.push({ port: PORT_CONTROLLER, bytes: c.bytes, ct: c.ct });
        // Lookups (see "Verdict" at the top): a punted input's are the slow path's model's; a
        // hardware-decided one's come with its output's probe, or its drop report / `controller`
        // PacketIn (TagRecord.lookups).
        return {
          outputs: e.outputs,
          lookups: rec.punts.length ? rec.verdicts.flatMap((v) => v.lookups) : (e.lookups ?? rec.lookups ?? []),
          offload: { punts: rec.punts.map(puntReasonName), slowPathOnly },
        };
      });
    });
  }

  /**
   * Will the input `this.view` holds (flow key `flow`) probably punt? Then no input goes out
   * after it until it is accepted: a punt
   * that writes entries discards the inputs sent after it. TCP SYN/FIN/RST, fragments, ICMP
   * errors and untrackable frames punt in the generated program (offload/p4gen.ts), and so does
   * the first packet of a flow the hardware has not decided yet (CT_MISS). Mispredictions cost
   * time, never results.
   */
  private likelyPunt(flow: number): boolean {
    const v = this.view;
    if (v.ctStatus !== CT_OK || v.l3 === L3_NONE || v.frag !== FRAG_NONE) return true;
    if (v.ipProto === IPPROTO_TCP && (v.tcpFlags & (TCP_SYN | TCP_FIN | TCP_RST)) !== 0) return true;
    if (v.icmpClass === ICMP_ERROR) return true;
    return !this.hwFlows.has(flow);
  }

  /**
   * Direction-free 32-bit key of the flow `this.view` holds (addresses, protocol, ports or ICMP
   * id); -1 for a frame without IP. A collision only makes a prediction wrong, which costs
   * time, never results.
   */
  private flowKey(): number {
    const v = this.view;
    if (v.l3 === L3_NONE) return -1;
    let a = Math.imul(v.sport || v.icmpId, 0x9e3779b1);
    let b = Math.imul(v.dport || v.icmpId, 0x9e3779b1);
    for (let i = 0; i < 4; i++) {
      a = Math.imul(a ^ v.src[i]!, 0x85ebca6b) >>> 0;
      b = Math.imul(b ^ v.dst[i]!, 0x85ebca6b) >>> 0;
    }
    return ((a + b) ^ Math.imul(v.ipProto, 0xc2b2ae35)) >>> 0;
  }

  /**
   * One speculative round from input `accepted.length` (see "Speculative rounds" at the top):
   * inputs go out while fewer than `window` are in flight and no unaccepted one will probably
   * punt; outcomes are accepted in input order while the hardware tables are those the round
   * started with; the round ends at the end of `steps` or at the first write, and the inputs
   * sent past that point are discarded (sent again by the next round with new tags; their late
   * outcomes are dropped when they come). Appends the inputs it accepted to `accepted` (≥ 1);
   * sendBatch builds their Verdicts once their slow-path outputs are in.
   */
  private async runRound(steps: readonly SendStep[], accepted: Accepted[]): Promise<void> {
    const ctl = this.ctl!;
    const i0 = accepted.length;
    // Lock-step: one input per round, so its advance (expiry, and the counter read before it)
    // comes before the input is sent, as when sending it alone.
    const end = this.window === 1 ? i0 + 1 : steps.length;
    await ctl.advance(steps[i0]!.time);
    this.prevTime = steps[i0]!.time;
    const base = ctl.writeSeq;
    const round: { tag: number; e: InFlight }[] = [];
    const records: TagRecord[] = [];
    let sent = i0;
    let acc = i0;
    let gate = -1; // last sent input that will probably punt
    // The stream's gRPC deadline (STREAM_DEADLINE_MS) bounds its life: rotate well before.
    if (this.stream?.stream.isEnded) this.cancelStream(); // e.g. idle past its deadline
    else if (this.stream && Date.now() - this.stream.opened > STREAM_ROTATE_MS) await this.closeStream();
    const { stream: s, failed } = this.openStream();
    try {
      while (acc < end) {
        while (sent < end && sent - acc + this.discardedInFlight + this.pendingSlow < this.window && gate < acc) {
          const st = steps[sent]!;
          const tag = this.nextTag;
          this.nextTag = this.nextTag >= MAX_INPUT_TAG ? 1 : this.nextTag + 1;
          const e: InFlight = { outcome: 0, outputs: [], slow: 0, need: -1, discarded: false, flow: -1 };
          this.inflight.set(tag, e);
          round.push({ tag, e });
          if (this.window > 1) {
            this.view.parse(st.frame);
            e.flow = this.flowKey();
            if (this.likelyPunt(e.flow)) gate = sent;
          }
          sent++;
          await s.write(1n, st.port, encodeProbe({ flags: PROBE_F_REPORT_DROP, tag, state: 0, zone: 0, mark: 0, label: 0n }, st.frame));
        }
        if (sent === acc) {
          // The window is full of earlier rounds' discarded inputs and slow-path outputs.
          await Promise.race([this.until(() => this.discardedInFlight + this.pendingSlow < this.window, `outcomes of ${this.discardedInFlight} discarded inputs and ${this.pendingSlow} slow-path outputs`), failed]);
          continue;
        }
        const { tag, e } = round[acc - i0]!;
        const st = steps[acc]!;
        await Promise.race([this.until(() => e.outcome !== 0, `outcome of step ${this.stats.steps + acc - i0 + 1} (tag 0x${tag.toString(16)}): no hardware output and no PacketIn (does the program keep the REPORT_DROP path of offload/probe.ts?)`), failed]);
        if (acc > i0) {
          await ctl.advance(st.time);
          // Expiry deleted entries: this input went through tables it would not have seen.
          if (ctl.writeSeq !== base) break;
          this.prevTime = st.time;
        }
        if (e.outcome === 2) await ctl.release(tag);
        const rec = ctl.takeTag(tag);
        records.push(rec);
        e.need = rec.packetOuts;
        if (e.slow < e.need) this.pendingSlow += e.need - e.slow;
        if (!rec.punts.length) {
          // An input the hardware decided: its last-hit stamp ('hardware' ageing) or, in the
          // oracle mode, its replay into the model (./slow-path.ts).
          this.view.parse(st.frame);
          await ctl.noteForwarded(this.view, st.port, st.frame);
          if (e.flow >= 0 && this.hwFlows.size < 65536) this.hwFlows.add(e.flow);
        }
        acc++;
        // Its processing wrote entries: the inputs after it went through outdated tables.
        if (ctl.writeSeq !== base) break;
      }
      // Discard what was sent past the cut: a PacketIn already held is dropped now, an outcome
      // still to come is dropped when it arrives (onPacketInHeld, onOutput).
      for (let k = acc - i0; k < round.length; k++) {
        const { tag, e } = round[k]!;
        this.stats.discarded++;
        if (e.outcome === 0) {
          e.discarded = true;
          this.discardedInFlight++;
          continue;
        }
        if (e.outcome === 2) this.stats.discardedPacketIns += ctl.discard(tag);
        this.inflight.delete(tag);
      }
      round.length = acc - i0;
    } catch (err) {
      this.lost();
      throw await this.deathOr(err);
    }
    this.stats.rounds++;
    for (let k = 0; k < round.length; k++) {
      const rec = records[k]!;
      this.stats.steps++;
      if (rec.punts.length) {
        this.stats.puntedSteps++;
        const r = `punt ${puntReasonName(rec.punts[0]!)}`;
        this.puntsByReason[r] = (this.puntsByReason[r] ?? 0) + 1;
      }
      accepted.push({ ...round[k]!, rec });
    }
  }

  /**
   * Whatever was in flight is lost with the stream: forget it (late PacketIns of it are dropped
   * as stray); the runner replaces a target that failed anyway.
   */
  private lost(): void {
    this.cancelStream();
    this.forgetInFlight();
  }

  /** No input in flight, nothing expected, no flow known (load, reset, a lost stream). */
  private forgetInFlight(): void {
    this.inflight.clear();
    this.discardedInFlight = 0;
    this.pendingSlow = 0;
    this.wake = undefined;
    this.hwFlows.clear();
  }

  /** Resolve once `pred()` holds, checked at every outcome; reject after stepTimeoutMs. */
  private until(pred: () => boolean, what: string): Promise<void> {
    if (pred()) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        reject(new Bmv2TargetError(`${what}: not seen within ${this.stepTimeoutMs} ms`));
      }, this.stepTimeoutMs);
      this.wake = () => {
        if (!pred()) return;
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
    p.catch(() => undefined); // raced against stream failure: the loser must not go unhandled
    return p;
  }

  /** An output on the dataplane stream: attributed by its probe tag (see top). */
  private onOutput(o: { port: number; packet: Uint8Array }): void {
    const d = decodeProbe(o.packet);
    const tag = d?.probe.tag;
    const e = tag === undefined ? undefined : this.inflight.get(tag);
    if (!d || !e) {
      this.stats.strayOutputs++;
      this.opts.log?.(`stray dataplane output on port ${o.port} (${d ? `tag 0x${d.probe.tag.toString(16)}` : 'no probe'})`);
      return;
    }
    const fromHw = (d.probe.flags & PROBE_F_PACKET_OUT) === 0;
    if (e.discarded) {
      if (fromHw) this.discardedDone(tag!);
      return;
    }
    if (fromHw) {
      this.stats.hardwareOutputs++;
      if (e.outcome === 0) e.outcome = 1;
    } else {
      this.stats.slowPathOutputs++;
      e.slow++;
      if (e.slow <= e.need) this.pendingSlow--;
    }
    e.outputs.push({ port: o.port, bytes: d.frame.slice(), ct: { state: d.probe.state, zone: d.probe.zone, mark: d.probe.mark, label: d.probe.label } });
    if (fromHw) e.lookups = d.probe.lookups;
    this.wake?.();
  }

  /** The controller parked a PacketIn with an input tag (hold mode, set at load). */
  private onPacketInHeld(tag: number): void {
    const e = this.inflight.get(tag);
    if (!e || e.discarded) {
      if (!e) {
        this.stats.strayPacketIns++;
        this.opts.log?.(`PacketIn with tag 0x${tag.toString(16)} of no input in flight: dropped unserved`);
      } else this.stats.discardedPacketIns++;
      this.ctl?.discard(tag);
      if (e) this.discardedDone(tag);
      return;
    }
    if (e.outcome === 0) e.outcome = 2;
    this.wake?.();
  }

  private discardedDone(tag: number): void {
    this.inflight.delete(tag);
    this.discardedInFlight--;
    this.wake?.();
  }

  /** The dataplane stream, kept open across steps and rounds (see send()). */
  private stream: { stream: StepStream; failed: Promise<never>; opened: number } | undefined;

  private openStream(): { stream: StepStream; failed: Promise<never>; opened: number } {
    if (this.stream) return this.stream;
    const stream = new StepStream(this.dp!, this.sw!.deviceId, (o) => this.onOutput(o), STREAM_DEADLINE_MS);
    const failed = stream.whenFailed();
    failed.catch(() => undefined);
    this.stream = { stream, failed, opened: Date.now() };
    return this.stream;
  }

  /** Half-close the dataplane stream: bmv2's drain barrier (every output received). */
  private async closeStream(): Promise<void> {
    const s = this.stream;
    this.stream = undefined;
    if (s) await s.stream.close(this.stepTimeoutMs * 6);
  }

  private cancelStream(): void {
    this.stream?.stream.cancel();
    this.stream = undefined;
  }

  /**
   * bmv2's own rate for these packets, without the harness protocol: the dataplane channel's
   * windowed mode (≤ 32 in flight), no tags checked, no controller. PacketIns of punted packets
   * are dropped unserved (counted in stats.strayPacketIns), so use a hardware-only workload.
   */
  rawSend(steps: readonly SendStep[], window = 32): Promise<PacketResult[]> {
    return this.exclusive(async () => {
      if (!this.channel) throw new Bmv2TargetError('rawSend() before load()');
      await this.closeStream(); // one PacketStream at a time (docs/p4-target-interfaces.md §5.3)
      return this.channel.sendWindowed(
        steps.map((s, i) => ({ port: s.port, frame: addInputProbe(s.frame, (0xff000000 + i) >>> 0) })),
        { window },
      );
    });
  }

  reset(): Promise<void> {
    return this.exclusive(async () => {
      if (!this.ctl || !this.client || !this.prog) throw new Bmv2TargetError('reset() before a successful load()');
      const ctl = this.ctl;
      const client = this.client;
      // A switch that died says so at once (CTO_BMV2_EXIT, with its log, kept for the
      // post-mortem), instead of each RPC below running into its deadline.
      if (this.sw && !this.sw.running) {
        this.lost();
        throw this.sw.exitError('during reset');
      }
      try {
        // The drain delivers every output; the ping, every PacketIn still on its way (discarded
        // inputs'), so nothing of this trace reaches the next one.
        await this.closeStream();
        await ctl.barrier(this.cfg.cpuPort);
        await ctl.reset();
        this.forgetInFlight();
        // Anything the controller does not know of (a write whose outcome was unknown) goes too:
        // one wildcard Read per conntrack table (docs/p4-target-interfaces.md §4.6), then DELETE what is left.
        const dels = (await this.readCtEntries()).map((e) => remove(e));
        if (dels.length) {
          this.stats.resetLeftovers += dels.length;
          await client.write(dels);
        }
        this.hitReader?.forgetCt();
      } catch (e) {
        this.lost();
        throw (await this.sw?.deathCause(300, 'during reset')) ?? e;
      }
      this.prevTime = 0;
    });
  }

  /**
   * The hardware's conntrack tables as read back over P4Runtime (one wildcard Read per table,
   * docs/p4-target-interfaces.md §4.6) and the slow path's model connections, at trace time `time` (the controller's
   * clock advances to it first, as send() does), for counterexample reports.
   */
  snapshot(time?: number): Promise<TargetState> {
    return this.exclusive(async () => {
      if (!this.ctl || !this.client || !this.prog) throw new Bmv2TargetError('snapshot() before a successful load()');
      if (time !== undefined) {
        if (!Number.isFinite(time) || time < this.prevTime) throw new Bmv2TargetError(`snapshot at ${time} ms is before the last packet's ${this.prevTime} ms`);
        await this.ctl.advance(time); // what send() does first: expired connections leave the hardware
        this.prevTime = time;
      }
      const p4info = this.prog.p4info;
      const byTable = new Map<string, string[]>(this.prog.plan.ctTables.map((t) => [`CtIngress.${t.name}`, []]));
      for (const e of await this.readCtEntries()) {
        const d = describeTableEntry(p4info, e);
        byTable.get(d.table)?.push(formatEntry(d));
      }
      const sections: TargetState['sections'] = [...byTable].map(([name, lines]) => ({ title: `hardware table ${name}: ${lines.length} entr${lines.length === 1 ? 'y' : 'ies'}`, lines: lines.sort() }));
      const ct = this.ctl.core.engine.conntrack;
      const conns = ct ? [...ct.connections(this.ctl.clock)].map(formatConnection) : [];
      sections.push({ title: `slow-path controller model (t=${this.ctl.clock} ms): ${conns.length} connection(s)`, lines: conns });
      return { sections };
    });
  }

  /**
   * Coverage: packets the switch's direct counters credited to each policy flow and conntrack
   * table since the previous call (./entry-hits.ts). Reads only.
   */
  takeEntryHits(): Promise<EntryHits | null> {
    return this.exclusive(async () => {
      if (!this.client || !this.hitReader) throw new Bmv2TargetError('takeEntryHits() before a successful load()');
      return this.hitReader.take(this.client);
    });
  }

  /** Every entry of the conntrack tables, read back in one wildcard Read per table (docs/p4-target-interfaces.md §4.6). */
  private async readCtEntries(): Promise<TableEntry[]> {
    const p4info = this.prog!.p4info;
    const read = await this.client!.readAll(this.prog!.plan.ctTables.map((t) => ({ tableEntry: tableReadRequest(p4info, `CtIngress.${t.name}`) })));
    return read.flatMap((e) => (e.tableEntry && !e.tableEntry.isDefaultAction ? [e.tableEntry] : []));
  }

  /** The target's counters (stats, and inputs punted by first punt reason), for the report's targetCounters. */
  counters(): Record<string, number> {
    return { ...this.stats, ...this.puntsByReason };
  }

  /** Controller status (counters) of the current policy. */
  status(): ControllerStatus | undefined {
    return this.ctl?.status();
  }

  async versions(): Promise<Record<string, string>> {
    const v: Record<string, string> = { bmv2: 'simple_switch_grpc', offload: 'ctoffload generated program + slow-path controller' };
    try {
      v.p4c = await p4cVersion();
    } catch {
      // p4c absent (artifacts mode): not an error for versions()
    }
    if (this.sw?.apiVersion) v.p4runtime = this.sw.apiVersion;
    if (this.prog) v.program = this.prog.hash;
    return v;
  }

  private async teardownSession(): Promise<void> {
    await this.closeStream().catch(() => this.cancelStream());
    await this.ctl?.close();
    this.ctl = undefined;
    this.client?.close();
    this.client = undefined;
  }

  private async deathOr(e: unknown): Promise<unknown> {
    return (await this.sw?.deathCause(300, 'during a bmv2 target step')) ?? e;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const run = this.lock.then(async () => {
      this.closed = true;
      await this.teardownSession();
      this.channel?.close();
      this.dp?.close();
      await this.sw?.stop();
      this.sw = undefined;
    });
    this.lock = run.catch(() => undefined);
    return run;
  }
}

/** A bmv2 target; with `policy`, loaded (switch started, program and entries installed). */
export async function createBmv2Target(opts: Bmv2TargetOptions & { policy?: PolicySource } = {}): Promise<Bmv2Target> {
  const t = new Bmv2Target(opts);
  if (opts.policy) {
    try {
      await t.load(opts.policy);
    } catch (e) {
      await t.close();
      throw e;
    }
  }
  return t;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

