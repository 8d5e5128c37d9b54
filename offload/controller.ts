/**
 * The slow-path controller: the software half of the offload (issue 5). It owns the reference
 * model (model/pipeline + model/conntrack) for the switch, serves PacketIns, keeps the hardware
 * conntrack tables in step with the model's connections, and ages connections in the model's
 * (virtual) clock.
 *
 * ## PacketIn → model → entries → PacketOut (offload/punt.ts, per reason)
 *
 * The generated program punts a packet whole and unmodified (offload/p4gen.ts design notes), so
 * for every punt reason except CONTROLLER the controller does the same thing: run the model on
 * the frame from table 0 with in_port = packet_in.ingress_port at the controller's clock, then
 *  1. for every connection the model created, changed or destroyed during that run (Conntrack
 *     `onSlotEvent`), recompute `connectionEntries(conn, plan)` and write the difference with what
 *     is installed: DELETEs first, then MODIFYs, then INSERTs, each phase its own Write (PI may
 *     reorder within a batch, doc §4.11), ≤ 400 updates per Write (p4/ client). Per-update
 *     errors (WriteBatchError): INSERT ALREADY_EXISTS → MODIFY; DELETE NOT_FOUND → ignored and
 *     counted; any other INSERT failure — table full is RESOURCE_EXHAUSTED by the spec but
 *     UNKNOWN "Error when adding match entry to target" on PI (doc §3, §4.4: the doc's fact wins)
 *     — leaves the connection in the slow path: what was inserted for it is deleted again, it is
 *     counted (tableFull, slowPathOnly) and retried at its next punt. Never lost: the model
 *     still holds it and every packet of it keeps punting as CT_MISS.
 *  2. one PacketOut mode DIRECT per model output (port, bytes), carrying the output's ct fields
 *     (VerdictOutput.ct) and the input's tag for the output probe; a model output to
 *     PORT_CONTROLLER is not reinjected but recorded as a controller output of that tag.
 * Reason CONTROLLER is an output of the hardware (`controller` action), recorded with the
 * packet_in ct fields, without running the model. Reason 0 is a barrier echo (a ping, below, or
 * a probe ECHO) or, when nobody waits for its tag, a REPORT_DROP drop report (offload/probe.ts),
 * counted. Anything else that cannot be decoded is counted as malformed and logged; the serve
 * loop never dies on a PacketIn. `waitTag(tag)` resolves once a PacketIn with that tag has been
 * served completely — what the bmv2 target waits for.
 *
 * ## TCP sequence tracking (documented choice)
 *
 * The hardware cannot track TCP windows, so the controller's model runs with OVS's
 * `dpctl/ct-disable-tcp-seq-chk` semantics by default (conntrack-semantics §4.9: flag checks and
 * the state machine stay, sequence/ACK/window checks are off) — `tcpSeqCheck: true` turns them
 * back on for the slow path only. The difference to a reference with checking on is an
 * EXPECTED OFFLOAD RELAXATION the harness's exceptions table lists (harness/EXCEPTIONS.md row
 * `bmv2-tcp-seq-chk-disabled`): a difference is excused iff it disappears when the reference is
 * run with tcpSeqCheck = false on the same trace.
 *
 * ## Clock and ageing
 *
 * The model's clock is virtual: the caller drives it with `advance(now)` (ms, non-decreasing),
 * and every model call uses it. At each advance the model is swept (`Conntrack.sweep(now)`,
 * conntrack-semantics §6.2: an entry is gone when now ≥ expiration) and the hardware entries of
 * every connection that expired are DELETEd before `advance` resolves. What keeps a connection
 * alive while its packets stay in hardware depends on the mode:
 *
 * - `ageing: 'exact'` (harness mode, used by harness/targets/bmv2/target.ts): the target tells the
 *   controller, for every input the hardware decided without a punt, "this frame, received on
 *   this port, was forwarded by hardware now" (`shadow(port, frame)`). The controller runs it
 *   through its model as a shadow update — the full pipeline, outputs discarded — which refreshes
 *   the connection exactly as the reference's tracker would for that packet: for UDP/other the
 *   FIRST→MULTIPLE→BIDIR timer class and refresh (conntrack-semantics §5.1), for ICMP the
 *   FIRST/REPLY timer, for established TCP the per-packet timer choice of §4.10 (with sequence
 *   checking off every flag-valid packet is a full update, §4.9), and `seen_reply`. Packets the
 *   hardware forwards never create or close connections (those punt), so the shadow run changes
 *   entries only if the hardware and the model disagree — then the entries follow the model and
 *   `shadowEntryChanges` counts it. Expiry is then decided in the model's clock exactly, so a
 *   packet arriving at or after its connection's expiration misses in hardware (entries deleted
 *   by the advance) and punts as CT_MISS, as the reference would start a new connection.
 * - `ageing: 'hits'` (real deployment, no per-packet report): at each advance, the direct
 *   counters of the installed entries are read (doc §4.7) and every connection whose packet
 *   count grew since the last poll is refreshed in the model as if hit at `now` (timer class of
 *   its current state: TCP established, UDP/other and ICMP by their state; approximate: hits
 *   between polls count at the poll time, and the state machine does not see hardware packets);
 *   idle-timeout notifications (doc §4.10: bmv2 sweeps once a second, re-reports every ~2 s,
 *   TTL in whole ms) are drained at each advance and only trigger the sweep — the model decides
 *   the expiry, the hardware TTL (= the state's timeout, offload/entries.ts) is a backstop. A
 *   daemon calls `advance(elapsed wall-clock ms)` periodically.
 *
 * ## Held PacketIns (speculative batches, harness/targets/bmv2/target.ts)
 *
 * A harness that sends several inputs before their outcomes are known must stop the slow path
 * from acting on an input whose result it may throw away (the model would run it out of
 * order). `hold(isHeld, onHeld)` makes the serve loop park, unserved, every PacketIn whose tag
 * the harness names and report its arrival; the harness then `release(tag)`s them in input order (each
 * served on the serial chain after whatever it queued before: advances, shadow updates) and
 * `discard(tag)`s the ones of inputs it threw away (also when they arrive later). `writeSeq`
 * counts entry writes, so the harness can tell whether the hardware's tables changed since a
 * given point.
 *
 * ## Barrier (ping)
 *
 * `barrier()` sends a PacketOut DIRECT to the CPU port with a fresh tag; the program sends it
 * straight back as a PacketIn with reason 0 and that tag (p4gen: DIRECT skips the pipeline,
 * egress builds packet_in for the CPU port). PacketIns of one stream arrive in order and are
 * served one at a time, so when the echo is served every earlier PacketIn has been fully handled
 * (entries written, PacketOuts sent on the stream).
 */
import { CtoffloadError } from '../model/errors.js';
import type { ConnInfo } from '../model/conntrack/types.js';
import { TM_ICMP_FIRST, TM_ICMP_REPLY, TM_TCP_ESTABLISHED, TM_UDP_FIRST, TM_UDP_MULTIPLE, TM_UDP_SINGLE } from '../model/conntrack/timeouts.js';
import { PipelineEngine } from '../model/pipeline/engine.js';
import type { Policy } from '../model/pipeline/ast.js';
import { PORT_CONTROLLER, type Verdict, type VerdictOutput } from '../model/verdict.js';
import type { Plan } from './compile.js';
import { connectionEntries, type OffloadEntry } from './entries.js';
import { decodePacketIn, packetOutDirect } from './probe.js';
import { PUNT, PUNT_REASONS, puntReasonName } from './punt.js';

// ---------------------------------------------------------------------------------------------
// The P4Runtime-facing interface (a fake in unit tests, p4runtimeDevice() for a real switch)

export type EntryOpType = 'INSERT' | 'MODIFY' | 'DELETE';

export interface EntryOp {
  type: EntryOpType;
  entry: OffloadEntry;
}

/** One failed op of a `write`: index in the ops list, canonical gRPC code (google.rpc.Code). */
export interface OpFailure {
  index: number;
  code: number;
  message: string;
}

export interface RawPacketIn {
  payload: Uint8Array;
  /** packet_in field name → value (p4/ `decodePacketIn`). */
  metadata: Record<string, bigint>;
}

/** Something that hands out PacketIns in arrival order (p4/ BoundedQueue has this shape). */
export interface PacketInSource {
  /** Next PacketIn, or undefined once the source is closed. */
  next(): Promise<RawPacketIn | undefined>;
  /** PacketIns lost to a full queue. */
  readonly dropped?: number;
}

/** Packet count of one installed entry (direct counter, doc §4.7). */
export interface EntryHits {
  /** `entryKey(table, match)`. */
  key: string;
  packets: bigint;
}

export interface ControllerDevice {
  /**
   * Apply `ops` in order (≤ 400 per Write); resolve with the failed ops (empty: all applied).
   * Reject only when the outcome of the ops is unknown (switch gone).
   */
  write(ops: EntryOp[]): Promise<OpFailure[]>;
  /** One PacketOut with `packet_out` fields by name. */
  packetOut(payload: Uint8Array, metadata: Record<string, bigint>): void;
  readonly packetIns: PacketInSource;
  /** Real-deployment ageing: packet counts of the entries of these tables. */
  readHits?(tables: string[]): Promise<EntryHits[]>;
  /** Real-deployment ageing: drain pending idle-timeout notifications (entry keys). */
  pollIdleTimeouts?(): string[];
}

/** Canonical text key of a table entry (table + match values), to find entries again. */
export function entryKey(table: string, match: Record<string, unknown>): string {
  const parts = Object.keys(match)
    .sort()
    .map((k) => {
      const v = match[k] as bigint | { value: bigint; mask?: bigint };
      if (typeof v === 'bigint' || typeof v === 'number') return `${k}=${v.toString(16)}`;
      return `${k}=${v.value.toString(16)}${v.mask !== undefined ? `/${v.mask.toString(16)}` : ''}`;
    });
  return `${table}|${parts.join(',')}`;
}

const keyOf = (e: OffloadEntry): string => entryKey(e.table, e.spec.match ?? {});
const bodyOf = (e: OffloadEntry): string =>
  `${e.spec.action}(${Object.entries(e.spec.params ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',')}) ttl=${String(e.spec.idleTimeoutNs ?? 0n)}`;

// ---------------------------------------------------------------------------------------------

export class ControllerError extends CtoffloadError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

export const STATUS_OK = 0;
export const STATUS_ALREADY_EXISTS = 6;
export const STATUS_NOT_FOUND = 5;
export const STATUS_RESOURCE_EXHAUSTED = 8;
export const STATUS_UNKNOWN = 2;

export type AgeingMode = 'exact' | 'hits';

export interface ControllerOptions {
  plan: Plan;
  /** The policy (parsed, or text + name for error messages). */
  policy: Policy | { text: string; source: string };
  device: ControllerDevice;
  /** Sequence checks in the controller's model (default false: ct-disable-tcp-seq-chk, see top). */
  tcpSeqCheck?: boolean;
  /** 'exact' (harness, shadow updates) or 'hits' (counters + idle notifications). Default 'exact'. */
  ageing?: AgeingMode;
  /** Deadline of one barrier ping (ms). Default 5000. */
  pingTimeoutMs?: number;
  /** Where malformed PacketIns and write failures are reported. Default: nothing. */
  log?: (msg: string) => void;
  /** Start serving PacketIns at once (default true). */
  serve?: boolean;
}

export interface ControllerStatus {
  now: number;
  ageing: AgeingMode;
  tcpSeqCheck: boolean;
  /** Model connections with entries in hardware now. */
  connectionsOffloaded: number;
  /** Hardware entries installed now. */
  entriesInstalled: number;
  /** Connections the model holds now. */
  modelConnections: number;
  /** Offloadable connections left in the slow path because an INSERT failed (table full). */
  slowPathOnly: number;
  packetIns: number;
  punts: Record<string, number>;
  controllerOutputs: number;
  packetOuts: number;
  malformedPacketIns: number;
  /** Reason-0 PacketIns nobody waited for: REPORT_DROP drop reports (offload/probe.ts). */
  dropReports: number;
  /** PacketIns lost to the device's full queue. */
  packetInsDropped: number;
  writes: { insert: number; modify: number; delete: number; rpcs: number };
  failures: { write: number; tableFull: number; alreadyExists: number; deleteNotFound: number; handler: number; unsendable: number; barrier: number };
  ageingStats: { expired: number; refreshedByHits: number; idleNotifications: number; counterPolls: number };
  shadow: { packets: number; entryChanges: number };
  pings: number;
  /** Held PacketIns dropped unserved (inputs a speculative harness batch discarded). */
  heldDiscarded: number;
}

interface Installed {
  entries: Map<string, OffloadEntry>;
}

/** What the slow path did for one tag (harness attribution). */
export interface TagRecord {
  /** Punt reasons seen for this tag (not CONTROLLER, not pings). */
  punts: number[];
  /** Outputs to PORT_CONTROLLER: hardware `controller` outputs and the model's. */
  controllerOutputs: VerdictOutput[];
  /** PacketOuts sent for this tag. */
  packetOuts: number;
  /** Model verdicts of the punts (slow path), in order. */
  verdicts: Verdict[];
  /** The hardware dropped it and said so (REPORT_DROP). */
  dropped: boolean;
}

const PUNT_NAMES = new Set<number>(PUNT_REASONS.map((r) => r.code));
/** Tags of barrier pings: the top of the 32-bit space, never a harness input tag (the bmv2 target's echo tags sit just below). */
export const PING_TAG_BASE = 0xfff00000;

export class SlowPathController {
  readonly plan: Plan;
  readonly engine: PipelineEngine;
  readonly ageing: AgeingMode;
  private readonly device: ControllerDevice;
  private readonly log: (msg: string) => void;
  private readonly pingTimeoutMs: number;
  private readonly policy: ControllerOptions['policy'];
  private now = 0;
  private readonly installed = new Map<number, Installed>();
  /** entry key → connection id (hits, idle notifications). */
  private readonly owner = new Map<string, number>();
  private readonly slowOnly = new Set<number>();
  /** Per connection: what its entries depend on, at the last successful sync (sigChanged). */
  private readonly sigs = new Map<number, Float64Array>();
  private readonly lastHits = new Map<string, bigint>();
  private chain: Promise<unknown> = Promise.resolve();
  private readonly tags = new Map<number, TagRecord>();
  private readonly waiters = new Map<number, { resolve: () => void; reject: (e: Error) => void; cancel?: () => void }>();
  private pingSeq = 0;
  /** Held-PacketIn mode (see top): which tags to park, parked PacketIns, arrival callback. */
  private holdIf: ((tag: number) => boolean) | undefined;
  private readonly held = new Map<number, RawPacketIn[]>();
  private onHeld: ((tag: number) => void) | undefined;
  private writes = 0;
  private serving: Promise<void> | undefined;
  private closed = false;
  private readonly st = {
    packetIns: 0,
    punts: Object.fromEntries(PUNT_REASONS.map((r) => [r.name, 0])) as Record<string, number>,
    controllerOutputs: 0,
    packetOuts: 0,
    malformed: 0,
    dropReports: 0,
    writes: { insert: 0, modify: 0, delete: 0, rpcs: 0 },
    failures: { write: 0, tableFull: 0, alreadyExists: 0, deleteNotFound: 0, handler: 0, unsendable: 0, barrier: 0 },
    ageing: { expired: 0, refreshedByHits: 0, idleNotifications: 0, counterPolls: 0 },
    shadow: { packets: 0, entryChanges: 0 },
    pings: 0,
    heldDiscarded: 0,
  };

  constructor(opts: ControllerOptions) {
    this.plan = opts.plan;
    this.device = opts.device;
    this.policy = opts.policy;
    this.ageing = opts.ageing ?? 'exact';
    this.log = opts.log ?? (() => undefined);
    this.pingTimeoutMs = opts.pingTimeoutMs ?? 5000;
    this.engine = new PipelineEngine({ conntrack: { tcpSeqCheck: opts.tcpSeqCheck ?? false } });
    this.loadModel();
    if (opts.serve ?? true) this.start();
  }

  get tcpSeqCheck(): boolean {
    return this.engine.conntrack!.tcpSeqCheck;
  }

  /** PacketOuts sent so far (cheap; status() walks the model). */
  get packetOutsSent(): number {
    return this.st.packetOuts;
  }

  /** Current model time (ms). */
  get clock(): number {
    return this.now;
  }

  /** Start the serve loop (idempotent). */
  start(): void {
    if (this.serving || this.closed) return;
    this.serving = this.serve();
  }

  private loadModel(): void {
    const p = this.policy;
    if ('flows' in p) this.engine.loadPolicy(p);
    else this.engine.load(p);
  }

  private get ct() {
    return this.engine.conntrack!;
  }

  /** Run `fn` after everything queued before it (model and entry state are single-threaded). */
  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async serve(): Promise<void> {
    for (;;) {
      let pi: RawPacketIn | undefined;
      try {
        pi = await this.device.packetIns.next();
      } catch (e) {
        if (!this.closed) this.log(`PacketIn source failed: ${(e as Error).message}`);
        return;
      }
      if (pi === undefined || this.closed) return;
      const p = pi;
      if (this.holdIf && this.park(p)) continue;
      await this.serial(() => this.onPacketIn(p)).catch((e: unknown) => {
        this.st.failures.handler++;
        this.log(`PacketIn handler failed: ${(e as Error).stack ?? e}`);
      });
    }
  }

  private record(tag: number): TagRecord {
    let r = this.tags.get(tag);
    if (!r) {
      r = { punts: [], controllerOutputs: [], packetOuts: 0, verdicts: [], dropped: false };
      this.tags.set(tag, r);
      // Bounded: a harness takes its records step by step; a daemon never reads them.
      if (this.tags.size > 4096) this.tags.delete(this.tags.keys().next().value!);
    }
    return r;
  }

  /** Park `pi` if its tag is held (see top); true when parked. */
  private park(pi: RawPacketIn): boolean {
    const t = pi.metadata?.tag;
    if (typeof t !== 'bigint') return false;
    const tag = Number(t);
    if (!this.holdIf!(tag)) return false;
    const list = this.held.get(tag);
    if (list) list.push(pi);
    else this.held.set(tag, [pi]);
    this.onHeld?.(tag);
    return true;
  }

  /**
   * Park, unserved, every PacketIn whose tag satisfies `isHeld` from now on, and call
   * `onHeld(tag)` at each arrival (see "Held PacketIns" at the top). Replaces any previous hold.
   */
  hold(isHeld: (tag: number) => boolean, onHeld: (tag: number) => void): void {
    this.holdIf = isHeld;
    this.onHeld = onHeld;
  }

  /** Serve the held PacketIns of `tag` now, on the serial chain (after what was queued before). */
  release(tag: number): Promise<void> {
    const list = this.held.get(tag) ?? [];
    this.held.delete(tag);
    return this.serial(async () => {
      for (const pi of list) await this.onPacketIn(pi);
    });
  }

  /** Drop the held PacketIns of `tag` (an input the harness discarded); returns how many. */
  discard(tag: number): number {
    const n = this.held.get(tag)?.length ?? 0;
    this.held.delete(tag);
    this.st.heldDiscarded += n;
    return n;
  }

  /** Drop every PacketIn still held and stop holding; returns how many were dropped. */
  endHold(): number {
    const n = this.dropHeld();
    this.holdIf = undefined;
    this.onHeld = undefined;
    return n;
  }

  /** Drop every PacketIn still held (the hold itself stays); returns how many. */
  private dropHeld(): number {
    let n = 0;
    for (const tag of [...this.held.keys()]) n += this.discard(tag);
    return n;
  }

  /** Entry writes (Write RPC phases) so far: unchanged ⇔ the hardware tables did not change. */
  get writeSeq(): number {
    return this.writes;
  }

  /** What the slow path did for `tag` since the last take (and forget it). */
  takeTag(tag: number): TagRecord {
    const r = this.tags.get(tag) ?? { punts: [], controllerOutputs: [], packetOuts: 0, verdicts: [], dropped: false };
    this.tags.delete(tag);
    return r;
  }

  private async onPacketIn(pi: RawPacketIn): Promise<void> {
    const tag = await this.handlePacketIn(pi);
    // Whoever waits for this tag (a ping, an echo, a harness input) learns that its PacketIn
    // has been served completely.
    if (tag !== undefined) {
      const w = this.waiters.get(tag);
      if (w) {
        this.waiters.delete(tag);
        w.resolve();
      }
    }
  }

  /** Serve one PacketIn; returns its tag when it carried one. */
  private async handlePacketIn(pi: RawPacketIn): Promise<number | undefined> {
    this.st.packetIns++;
    const md = pi.metadata;
    if (!(pi.payload instanceof Uint8Array) || !md || typeof md !== 'object' || typeof md.reason !== 'bigint' || typeof md.tag !== 'bigint' || typeof md.ingress_port !== 'bigint') {
      this.st.malformed++;
      this.log(`malformed PacketIn: metadata ${describeMd(md)}, ${pi.payload?.length ?? 0}-byte payload`);
      return;
    }
    const m = decodePacketIn(md);
    if (m.reason === 0) {
      // A ping or probe ECHO (barriers), or a REPORT_DROP drop report (offload/probe.ts).
      if (!this.waiters.has(m.tag)) {
        this.st.dropReports++;
        this.record(m.tag).dropped = true;
      }
      return m.tag;
    }
    if (!PUNT_NAMES.has(m.reason)) {
      this.st.malformed++;
      this.log(`PacketIn with unknown punt reason ${m.reason} (tag 0x${m.tag.toString(16)})`);
      return m.tag;
    }
    if (m.reason === PUNT.CONTROLLER) {
      // An output of the hardware, not a punt: do not run the model again (offload/punt.ts).
      this.st.controllerOutputs++;
      this.record(m.tag).controllerOutputs.push({ port: PORT_CONTROLLER, bytes: pi.payload, ct: m.ct });
      return m.tag;
    }
    if (pi.payload.length === 0) {
      this.st.malformed++;
      this.log(`empty punted packet (reason ${puntReasonName(m.reason)}, tag 0x${m.tag.toString(16)})`);
      return m.tag;
    }
    this.st.punts[puntReasonName(m.reason)]!++;
    const rec = this.record(m.tag);
    rec.punts.push(m.reason);
    const verdict = await this.runModel(m.ingressPort, pi.payload, false);
    rec.verdicts.push(verdict);
    for (const o of verdict.outputs) {
      if (o.port === PORT_CONTROLLER) {
        this.st.controllerOutputs++;
        rec.controllerOutputs.push(o);
        continue;
      }
      if (!Number.isInteger(o.port) || o.port < 0 || o.port > 510 || o.port === this.plan.config.cpuPort) {
        this.st.failures.unsendable++;
        this.log(`model output to port ${o.port} cannot be sent by PacketOut (tag 0x${m.tag.toString(16)})`);
        continue;
      }
      this.device.packetOut(o.bytes, packetOutDirect(o.port, o.ct, m.tag));
      this.st.packetOuts++;
      rec.packetOuts++;
    }
    return m.tag;
  }

  /**
   * Run one packet through the model at the current clock and bring the hardware entries of
   * every connection it touched in step. `shadow`: outputs are not reinjected (exact ageing).
   */
  private async runModel(port: number, frame: Uint8Array, shadow: boolean): Promise<Verdict> {
    const ct = this.ct;
    const touched = new Map<number, number>(); // id → slot
    const destroyed = new Set<number>();
    ct.onSlotEvent = (kind, id, slot) => {
      if (kind === 'destroy') {
        destroyed.add(id);
        touched.delete(id);
      } else touched.set(id, slot);
    };
    let verdict: Verdict;
    try {
      verdict = this.engine.process(port, frame, this.now);
    } finally {
      ct.onSlotEvent = undefined;
    }
    const changes = await this.sync(touched, destroyed);
    if (shadow && changes > 0) this.st.shadow.entryChanges += changes;
    return verdict;
  }

  /**
   * Has what `connectionEntries` depends on changed since the last successful sync of
   * connection `id` (TCP peer states, seen-reply/related flags, generic/ICMP state (idle
   * timeout), mark and label, read from the tracker's columns without building a ConnInfo)?
   * Records the new values when it has. Undefined if the slot now holds another connection.
   * Numeric columns compared in place: this runs for every shadow update (every packet the
   * hardware forwards, in the harness).
   */
  private sigChanged(id: number, slot: number): boolean | undefined {
    const t = this.ct.table;
    if (slot < 0 || slot >= t.cap || t.id[slot] !== id) return undefined;
    const l = slot * 4;
    const v0 = t.tstate[2 * slot]!, v1 = t.tstate[2 * slot + 1]!, v2 = t.flags[slot]!, v3 = t.pstate[slot]!, v4 = t.mark[slot]!;
    const v5 = t.label[l]!, v6 = t.label[l + 1]!, v7 = t.label[l + 2]!, v8 = t.label[l + 3]!;
    let a = this.sigs.get(id);
    if (a && a[0] === v0 && a[1] === v1 && a[2] === v2 && a[3] === v3 && a[4] === v4 && a[5] === v5 && a[6] === v6 && a[7] === v7 && a[8] === v8) return false;
    if (!a) this.sigs.set(id, (a = new Float64Array(9)));
    a[0] = v0; a[1] = v1; a[2] = v2; a[3] = v3; a[4] = v4; a[5] = v5; a[6] = v6; a[7] = v7; a[8] = v8;
    return true;
  }

  /** Current info of connection `id` in `slot`, or undefined if the slot now holds another. */
  private connInfo(id: number, slot: number): ConnInfo | undefined {
    const t = this.ct.table;
    if (slot < 0 || slot >= t.cap || t.id[slot] !== id) return undefined;
    return this.ct.info(slot, this.now);
  }

  /**
   * Write the entry difference for touched/destroyed connections. Returns the number of entry
   * operations attempted.
   */
  private async sync(touched: Map<number, number>, destroyed: Set<number>): Promise<number> {
    const dels: { id: number; e: OffloadEntry }[] = [];
    const mods: { id: number; e: OffloadEntry }[] = [];
    const ins: { id: number; e: OffloadEntry }[] = [];
    for (const id of destroyed) {
      this.slowOnly.delete(id);
      this.sigs.delete(id);
      const inst = this.installed.get(id);
      if (!inst) continue;
      // FAULT(keepStaleEntries), selftest only (./faults.ts): an expired connection's entries
      // stay in hardware (and are forgotten by the books, as if deleted).
      if (this.plan.faults?.keepStaleEntries) {
        this.installed.delete(id);
        continue;
      }
      for (const e of inst.entries.values()) dels.push({ id, e });
    }
    for (const [id, slot] of touched) {
      // Fast path: nothing that connectionEntries reads changed since the last sync (the common
      // case for a shadow update of a hardware-forwarded packet). Connections whose last write
      // failed have no signature, so they are retried.
      if (!this.sigChanged(id, slot)) continue;
      const info = this.connInfo(id, slot);
      if (!info) continue;
      const want = new Map(connectionEntries(info, this.plan).map((e) => [keyOf(e), e]));
      const inst = this.installed.get(id);
      const have = inst?.entries ?? new Map<string, OffloadEntry>();
      if (want.size === 0) this.slowOnly.delete(id);
      for (const [k, e] of have) if (!want.has(k)) dels.push({ id, e });
      for (const [k, e] of want) {
        const h = have.get(k);
        if (!h) ins.push({ id, e });
        else if (bodyOf(h) !== bodyOf(e)) mods.push({ id, e });
      }
    }
    const total = dels.length + mods.length + ins.length;
    if (total === 0) return 0;

    // DELETE phase.
    if (dels.length) {
      const fails = await this.apply('DELETE', dels.map((d) => d.e));
      dels.forEach((d, i) => {
        const f = fails.get(i);
        if (f && f.code !== STATUS_NOT_FOUND) {
          this.sigs.delete(d.id); // still there: keep it in the books, retry at the next touch
          return;
        }
        if (f) this.st.failures.deleteNotFound++;
        this.forget(d.id, d.e);
      });
    }
    // MODIFY phase.
    if (mods.length) {
      const fails = await this.apply('MODIFY', mods.map((m) => m.e));
      mods.forEach((m, i) => {
        // A failed MODIFY leaves stale hardware state: forget it so the next sync re-INSERTs
        // (ALREADY_EXISTS then turns into MODIFY again).
        if (fails.get(i)) {
          this.forget(m.id, m.e);
          this.sigs.delete(m.id);
        } else this.remember(m.id, m.e);
      });
    }
    // INSERT phase.
    if (ins.length) {
      const fails = await this.apply('INSERT', ins.map((x) => x.e));
      const retry: { id: number; e: OffloadEntry }[] = [];
      const full = new Set<number>();
      ins.forEach((x, i) => {
        const f = fails.get(i);
        if (!f) return this.remember(x.id, x.e);
        if (f.code === STATUS_ALREADY_EXISTS) {
          this.st.failures.alreadyExists++;
          retry.push(x);
          return;
        }
        if (f.code === STATUS_RESOURCE_EXHAUSTED || f.code === STATUS_UNKNOWN) this.st.failures.tableFull++;
        full.add(x.id);
      });
      if (retry.length) {
        const f2 = await this.apply('MODIFY', retry.map((x) => x.e));
        retry.forEach((x, i) => (f2.get(i) ? full.add(x.id) : this.remember(x.id, x.e)));
      }
      // A connection that could not be fully installed stays in the slow path: remove what
      // did get in (so no direction is half-offloaded), retry at its next punt.
      const undo: { id: number; e: OffloadEntry }[] = [];
      for (const id of full) {
        this.slowOnly.add(id);
        this.sigs.delete(id);
        const inst = this.installed.get(id);
        if (inst) for (const e of inst.entries.values()) undo.push({ id, e });
      }
      if (undo.length) {
        const f3 = await this.apply('DELETE', undo.map((u) => u.e));
        undo.forEach((u, i) => {
          const f = f3.get(i);
          if (!f || f.code === STATUS_NOT_FOUND) this.forget(u.id, u.e);
        });
      }
    }
    for (const id of touched.keys()) if (this.installed.get(id)?.entries.size) this.slowOnly.delete(id);
    return total;
  }

  private remember(id: number, e: OffloadEntry): void {
    let inst = this.installed.get(id);
    if (!inst) this.installed.set(id, (inst = { entries: new Map() }));
    const k = keyOf(e);
    inst.entries.set(k, e);
    this.owner.set(k, id);
  }

  private forget(id: number, e: OffloadEntry): void {
    const inst = this.installed.get(id);
    const k = keyOf(e);
    if (this.owner.get(k) === id) {
      this.owner.delete(k);
      this.lastHits.delete(k);
    }
    if (!inst) return;
    inst.entries.delete(k);
    if (inst.entries.size === 0) this.installed.delete(id);
  }

  /** One phase: write ops of one type, count, return failures by index. */
  private async apply(type: EntryOpType, entries: OffloadEntry[]): Promise<Map<number, OpFailure>> {
    const out = new Map<number, OpFailure>();
    if (!entries.length) return out;
    this.st.writes.rpcs += Math.ceil(entries.length / 400);
    this.writes++;
    let fails: OpFailure[];
    try {
      fails = await this.device.write(entries.map((entry) => ({ type, entry })));
    } catch (e) {
      // Outcome unknown: report every op as failed (code UNKNOWN) and carry on.
      this.log(`${type} of ${entries.length} entries failed: ${(e as Error).message}`);
      fails = entries.map((_, index) => ({ index, code: STATUS_UNKNOWN, message: (e as Error).message }));
    }
    for (const f of fails) out.set(f.index, f);
    const ok = entries.length - out.size;
    if (type === 'INSERT') this.st.writes.insert += ok;
    else if (type === 'MODIFY') this.st.writes.modify += ok;
    else this.st.writes.delete += ok;
    for (const f of fails) {
      const benign = (type === 'INSERT' && f.code === STATUS_ALREADY_EXISTS) || (type === 'DELETE' && f.code === STATUS_NOT_FOUND);
      if (!benign) {
        this.st.failures.write++;
        this.log(`${type} ${entries[f.index]?.comment ?? `#${f.index}`}: code ${f.code} ${f.message}`);
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------------- public API

  /**
   * Advance the model clock to `now` (ms, never backwards), refresh connections from hardware
   * hits ('hits' mode), expire connections and delete their entries. Resolves when the
   * hardware entries agree with the model at `now`.
   */
  advance(now: number): Promise<void> {
    return this.serial(async () => {
      if (!Number.isFinite(now) || now < this.now) throw new ControllerError('CTO_CONTROLLER_CLOCK', `clock cannot go back from ${this.now} ms to ${now} ms (reset first)`);
      this.now = now;
      if (this.ageing === 'hits') await this.refreshFromHardware();
      const destroyed = new Set<number>();
      const ct = this.ct;
      ct.onSlotEvent = (kind, id) => {
        if (kind === 'destroy') destroyed.add(id);
      };
      try {
        ct.sweep(now);
      } finally {
        ct.onSlotEvent = undefined;
      }
      if (destroyed.size) {
        this.st.ageing.expired += destroyed.size;
        await this.sync(new Map(), destroyed);
      }
    });
  }

  /** 'hits' mode: direct counters and idle notifications → model refreshes (see top). */
  private async refreshFromHardware(): Promise<void> {
    const idle = this.device.pollIdleTimeouts?.() ?? [];
    this.st.ageing.idleNotifications += idle.length;
    if (!this.device.readHits || this.owner.size === 0) return;
    const tables = [...new Set(this.plan.ctTables.map((t) => `CtIngress.${t.name}`))];
    let hits: EntryHits[];
    try {
      hits = await this.device.readHits(tables);
    } catch (e) {
      this.st.failures.write++;
      this.log(`reading direct counters failed: ${(e as Error).message}`);
      return;
    }
    this.st.ageing.counterPolls++;
    const refreshed = new Set<number>();
    for (const h of hits) {
      const id = this.owner.get(h.key);
      if (id === undefined) continue;
      const prev = this.lastHits.get(h.key) ?? 0n;
      this.lastHits.set(h.key, h.packets);
      if (h.packets > prev && !refreshed.has(id)) {
        refreshed.add(id);
        this.touchConnection(id);
      }
    }
    this.st.ageing.refreshedByHits += refreshed.size;
  }

  /** Refresh connection `id`'s timer at `now` with its current state's timeout class. */
  private touchConnection(id: number): void {
    const t = this.ct.table;
    let slot = -1;
    for (let c = 0; c < t.cap; c++) if (t.id[c] === id) slot = c;
    // Even if the model's timer already ran out (the hits happened at some point since the last
    // poll, which may be after the model's expiry): the hardware saw traffic, so the connection
    // is kept alive. It has not been swept (sweeps run after this refresh).
    if (slot < 0) return;
    const proto = t.proto(slot);
    const ps = t.pstate[slot]!;
    const tm = proto === 6 ? TM_TCP_ESTABLISHED : proto === 1 || proto === 58 ? [TM_ICMP_FIRST, TM_ICMP_REPLY][ps]! : [TM_UDP_FIRST, TM_UDP_SINGLE, TM_UDP_MULTIPLE][ps]!;
    t.setTimer(slot, tm, this.now);
  }

  /**
   * Exact ageing (harness): the hardware decided this frame (received on `port`) at the
   * current clock without a punt; update the model as the reference's tracker would for it.
   * Returns the model's verdict for the frame (outputs not sent).
   */
  shadow(port: number, frame: Uint8Array): Promise<Verdict> {
    return this.serial(async () => {
      this.st.shadow.packets++;
      return this.runModel(port, frame, true);
    });
  }

  /**
   * Ordering barrier on the PacketIn stream (see top): resolves once every PacketIn that
   * arrived before the echo has been handled. Rejects after `pingTimeoutMs`.
   */
  barrier(): Promise<void> {
    if (this.closed) return Promise.reject(new ControllerError('CTO_CONTROLLER_CLOSED', 'controller closed'));
    const tag = (PING_TAG_BASE + (this.pingSeq++ & 0xfffff)) >>> 0;
    this.st.pings++;
    const done = this.waitEcho(tag, 'barrier ping', "is the generated program's DIRECT-to-CPU path intact?");
    try {
      this.device.packetOut(new Uint8Array(60), packetOutDirect(this.plan.config.cpuPort, undefined, tag));
    } catch (e) {
      this.waiters.get(tag)?.reject(e as Error);
    }
    return done;
  }

  /**
   * Resolve when a reason-0 PacketIn with `tag` is served (a ping, or a dataplane probe ECHO,
   * offload/probe.ts): every PacketIn that arrived before it has been handled. Register before
   * the echo can arrive. Rejects after `pingTimeoutMs`.
   */
  waitEcho(tag: number, what = 'echo', hint = 'does the program keep the probe ECHO path of offload/probe.ts?'): Promise<void> {
    return this.waitTag(tag, what, hint);
  }

  /** Stop waiting for `tag` (its outcome came another way); the promise stays pending. */
  cancelWait(tag: number): void {
    const w = this.waiters.get(tag);
    if (w) {
      this.waiters.delete(tag);
      w.cancel?.();
    }
  }

  /**
   * Resolve once a PacketIn carrying `tag` has been served completely (a punt: model run,
   * entries written, PacketOuts sent; a `controller` output recorded; a reason-0 echo, ping or
   * drop report). Register before the PacketIn can arrive. Rejects after `pingTimeoutMs`.
   */
  waitTag(tag: number, what = 'PacketIn', hint = 'no PacketIn with this tag was served'): Promise<void> {
    if (this.closed) return Promise.reject(new ControllerError('CTO_CONTROLLER_CLOSED', 'controller closed'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(tag);
        this.st.failures.barrier++;
        reject(new ControllerError('CTO_CONTROLLER_BARRIER', `${what} 0x${tag.toString(16)} not echoed within ${this.pingTimeoutMs} ms (${hint})`));
      }, this.pingTimeoutMs);
      this.waiters.set(tag, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          this.waiters.delete(tag);
          reject(e);
        },
        cancel: () => clearTimeout(timer),
      });
    });
  }

  /**
   * Real deployment ('hits' ageing): drive the model clock from a monotonic wall clock, calling
   * `advance(elapsed ms)` every `intervalMs` (bmv2 sweeps idle entries once a second, doc
   * §4.10, so 1000 ms is the natural period). Returns a stop function. Errors are logged.
   */
  runWallClock(intervalMs = 1000, clock: () => number = () => performance.now()): () => void {
    const t0 = clock() - this.now;
    let busy = false;
    const timer = setInterval(() => {
      if (busy || this.closed) return;
      busy = true;
      this.advance(Math.max(this.now, Math.floor(clock() - t0)))
        .catch((e: unknown) => this.log(`advance failed: ${(e as Error).message}`))
        .finally(() => (busy = false));
    }, intervalMs);
    timer.unref?.();
    return () => clearInterval(timer);
  }

  /** Entries installed now, by connection id (tests, status). */
  installedEntries(): Map<number, OffloadEntry[]> {
    return new Map([...this.installed].map(([id, i]) => [id, [...i.entries.values()]]));
  }

  /**
   * Forget every connection: DELETE all installed entries, fresh model, clock 0. Counters stay
   * (they are cumulative).
   */
  reset(): Promise<void> {
    return this.serial(async () => {
      const all: { id: number; e: OffloadEntry }[] = [];
      for (const [id, inst] of this.installed) for (const e of inst.entries.values()) all.push({ id, e });
      if (all.length) {
        const fails = await this.apply('DELETE', all.map((a) => a.e));
        all.forEach((a, i) => {
          const f = fails.get(i);
          if (!f || f.code === STATUS_NOT_FOUND) this.forget(a.id, a.e);
        });
      }
      this.installed.clear();
      this.owner.clear();
      this.lastHits.clear();
      this.slowOnly.clear();
      this.sigs.clear();
      this.tags.clear();
      this.dropHeld();
      this.engine.reset();
      this.now = 0;
    });
  }

  status(): ControllerStatus {
    let entries = 0;
    for (const i of this.installed.values()) entries += i.entries.size;
    let model = 0;
    for (const _ of this.ct.connections(this.now)) model++;
    return {
      now: this.now,
      ageing: this.ageing,
      tcpSeqCheck: this.tcpSeqCheck,
      connectionsOffloaded: this.installed.size,
      entriesInstalled: entries,
      modelConnections: model,
      slowPathOnly: this.slowOnly.size,
      packetIns: this.st.packetIns,
      punts: { ...this.st.punts },
      controllerOutputs: this.st.controllerOutputs,
      packetOuts: this.st.packetOuts,
      malformedPacketIns: this.st.malformed,
      dropReports: this.st.dropReports,
      packetInsDropped: this.device.packetIns.dropped ?? 0,
      writes: { ...this.st.writes },
      failures: { ...this.st.failures },
      ageingStats: { ...this.st.ageing },
      shadow: { ...this.st.shadow },
      pings: this.st.pings,
      heldDiscarded: this.st.heldDiscarded,
    };
  }

  /**
   * Stop serving (the device's PacketIn source should be closed by its owner so that the loop
   * ends); pending barriers are rejected. Entries stay in hardware. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [tag, w] of this.waiters) {
      this.waiters.delete(tag);
      w.reject(new ControllerError('CTO_CONTROLLER_CLOSED', 'controller closed while a barrier was pending'));
    }
    await this.chain.catch(() => undefined);
  }

  // --- daemon support (reconnect) ---
  // Used by the `ctoffload controller` daemon (offload/daemon/) after it re-established a
  // P4Runtime session: the hardware may have lost what the books say is installed (switch
  // restarted, pipeline pushed again) or kept entries whose writes failed while the stream was
  // down.

  /**
   * Forget what the books say is installed and write every model connection's entries again
   * (INSERT; ALREADY_EXISTS → MODIFY; other failures leave the connection in the slow path, as
   * at a punt). No connection leaves the model. Runs on the serial chain. Resolves with the
   * model connections seen and the entries installed afterwards.
   */
  resync(): Promise<{ connections: number; entries: number }> {
    return this.serial(async () => {
      this.installed.clear();
      this.owner.clear();
      this.lastHits.clear();
      this.slowOnly.clear();
      this.sigs.clear();
      const t = this.ct.table;
      const all = new Map<number, number>();
      for (let c = 0; c < t.cap; c++) if (t.isLive(c)) all.set(t.id[c]!, c);
      await this.sync(all, new Set());
      let entries = 0;
      for (const i of this.installed.values()) entries += i.entries.size;
      return { connections: all.size, entries };
    });
  }

  /** Run `fn` on the serial chain: no PacketIn is served, no advance or write runs meanwhile. */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.serial(fn);
  }
}

function describeMd(md: unknown): string {
  try {
    return JSON.stringify(md, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
  } catch {
    return String(md);
  }
}
