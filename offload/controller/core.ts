/**
 * The slow-path controller core: the software half of the offload, as deployed. It owns the
 * reference model (model/pipeline + model/conntrack) for one switch, serves PacketIns, keeps
 * the hardware conntrack tables in step with the model's connections, and ages connections
 * from what the hardware reports. It knows nothing of test machinery: the conformance harness
 * observes and drives it from outside by wrapping its device (./device.ts) and reading the
 * `onServed` events every deployment can log (docs/architecture.md, "The seam").
 *
 * ## PacketIn → model → entries → PacketOut (offload/punt.ts, per reason)
 *
 * The generated program punts a packet whole and unmodified (offload/p4gen.ts design notes), so
 * for every punt reason except CONTROLLER the core does the same thing: run the model on the
 * frame from table 0 with in_port = packet_in.ingress_port at the core's clock, then
 *  1. for every connection the model created, changed or destroyed during that run (Conntrack
 *     `onSlotEvent`), recompute its entries (`connectionEntries`, or the `entryBuilder` given)
 *     and write the difference with what is installed: DELETEs first, then MODIFYs, then
 *     INSERTs, each phase its own Write (PI may reorder within a batch, docs/p4-target-interfaces.md
 *     §4.11), ≤ 400 updates per Write (p4/ client). Per-update errors: INSERT ALREADY_EXISTS →
 *     MODIFY; DELETE NOT_FOUND → ignored and counted; any other INSERT failure — table full is
 *     RESOURCE_EXHAUSTED by the spec but UNKNOWN "Error when adding match entry to target" on PI
 *     (docs/p4-target-interfaces.md §3, §4.4: the observed fact wins) — leaves the connection in the
 *     slow path: what was inserted for it is deleted again, it is counted (tableFull,
 *     slowPathOnly) and retried at its next punt. Never lost: the model still holds it and every
 *     packet of it keeps punting as CT_MISS.
 *  2. one PacketOut mode DIRECT per model output (port, bytes), carrying the output's ct fields
 *     and the packet_in's tag (both only read by an observation build's output probe); a model
 *     output to PORT_CONTROLLER is not reinjected but reported (`onServed`, status).
 * Reason CONTROLLER is an output of the hardware (`controller` action), reported without
 * running the model. Reason 0 is never a punt (an observation build's echo or drop report, or a
 * PacketOut DIRECT to the CPU port): counted as `unsolicited` and ignored. Anything that cannot
 * be decoded is counted as malformed and logged; the serve loop never dies on a PacketIn.
 *
 * ## TCP sequence tracking (documented choice)
 *
 * The hardware cannot track TCP windows and never shows the controller the packets it decides,
 * so the core's model runs with OVS's `dpctl/ct-disable-tcp-seq-chk` semantics by default
 * (docs/conntrack-semantics.md §4.9: flag checks and the state machine stay, sequence/ACK/window
 * checks are off): with checks on, the windows of an offloaded connection would be stale by the
 * time its FIN is punted. `tcpSeqCheck: true` turns them back on for the slow path. The
 * difference to a reference with checking on is the exceptions row `bmv2-tcp-seq-chk-disabled`
 * (harness/EXCEPTIONS.md): excused iff it disappears when the reference is re-run with
 * tcpSeqCheck = false over the same trace prefix.
 *
 * ## Clock and ageing
 *
 * The model's clock is the caller's: `advance(now)` (ms, non-decreasing; a daemon passes
 * elapsed wall-clock ms, `runWallClock`). Each advance first credits hardware activity, then
 * sweeps the model (`Conntrack.sweep(now)`, docs/conntrack-semantics.md §6.2: gone when now ≥
 * expiration) and DELETEs the entries of every connection that expired before it resolves.
 *
 * Hardware activity (`device.readHits`): the direct counters of the installed entries
 * (docs/p4-target-interfaces.md §4.7). A connection whose entry's packet count grew since the last
 * read is refreshed in the model with the timer class of the state its entries keep (TCP
 * established, UDP multiple/single, ICMP reply/first: the classes `hardwareTimeoutClass` gives),
 * as the reference tracker refreshes it for each such packet (§4.10, §5.1, §5.2), at the time
 * the hardware says it was last used (`EntryHits.lastUsed`) or, when it cannot say, at the time
 * of the read: a daemon reading counters every second keeps a connection alive up to one
 * interval longer than the reference would (conservative; docs/offload-design.md "Ageing").
 * A refresh never moves an expiration earlier (a punted packet may have refreshed the
 * connection after the hits). `poll: 'expiring'` reads the counters only when the sweep would
 * expire an offloaded connection — enough when the hardware stamps `lastUsed` — and 'never'
 * skips them. Idle-timeout notifications (§4.10) only trigger the sweep: the model decides;
 * the hardware TTL — the connection's own timeout policy for that class — is the backstop that
 * ages entries the controller can no longer reach.
 *
 * ## Policy changes (`replacePolicy`)
 *
 * OVS keeps its conntrack entries when its flows change: only an explicit flush removes them
 * (docs/conntrack-semantics.md §9.8), and the next packet of a connection is decided by the new
 * flows with its ct_state (+est), mark and label as they were. The hardware splits that the same
 * way: a connection's entries cache the tracker's answer for its zone (ct_state, mark, label —
 * offload/entries.ts), the policy tables decide what to do with it. So a new policy is applied,
 * inside the serial chain (no PacketIn is served meanwhile), as
 *  1. revalidation, first half: every model connection's entries are recomputed for the new
 *     plan, and those the new plan no longer wants (its zone no longer offloaded, another
 *     offload mode, another conntrack table) are DELETEd before any rule changes — their
 *     packets punt and the model decides them;
 *  2. the policy tables: DELETE, MODIFY, INSERT of the difference only (when the program stays;
 *     a new program is pushed by the caller, which empties every table, and then everything is
 *     written again as by `resync`);
 *  3. the model runs the new policy over the same tracker (./engine.ts);
 *  4. revalidation, second half: entries that differ under the new plan are MODIFYed or
 *     INSERTed.
 * After it resolves, no packet is decided in hardware by a rule of the old policy: the rules
 * are gone from the policy tables, and no conntrack entry says anything the new plan would not.
 * The tracker's connections themselves stay (as in OVS).
 */
import { CtoffloadError } from '../../model/errors.js';
import type { ConnInfo } from '../../model/conntrack/types.js';
import type { Policy } from '../../model/pipeline/ast.js';
import { parsePolicy } from '../../model/pipeline/parse.js';
import { PORT_CONTROLLER, type Verdict } from '../../model/verdict.js';
import type { Plan } from '../compile.js';
import { connectionEntries, hardwareTimeoutClass, type OffloadEntry } from '../entries.js';
import { LiveEngine } from './engine.js';
import { decodePacketIn, packetOutDirect, type PacketInMeta } from '../probe.js';
import { PUNT, PUNT_REASONS, puntReasonName } from '../punt.js';
import {
  offloadEntryKey as keyOf,
  STATUS_ALREADY_EXISTS,
  STATUS_NOT_FOUND,
  STATUS_RESOURCE_EXHAUSTED,
  STATUS_UNKNOWN,
  type ControllerDevice,
  type EntryHits,
  type EntryOpType,
  type OpFailure,
  type RawPacketIn,
} from './device.js';

const bodyOf = (e: OffloadEntry): string =>
  `${e.spec.action}(${Object.entries(e.spec.params ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',')}) ttl=${String(e.spec.idleTimeoutNs ?? 0n)}`;

export class ControllerError extends CtoffloadError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/** Entries of one model connection (default `connectionEntries`); [] = keep it in software. */
export type EntryBuilder = (conn: ConnInfo, plan: Plan, opts: { idleTimeoutMs: number }) => OffloadEntry[];

/** What the core did with one PacketIn (logging, metrics, and observers outside the core). */
export interface ServedPacketIn {
  kind: 'punt' | 'controller' | 'unsolicited' | 'malformed';
  /** Decoded packet_in fields (absent when malformed). */
  meta?: PacketInMeta;
  payload: Uint8Array;
  /** The model's verdict of a punt. */
  verdict?: Verdict;
  /** PacketOuts sent for it. */
  packetOuts: number;
}

export type HardwarePoll = 'always' | 'expiring' | 'never';

export interface ControllerOptions {
  plan: Plan;
  /** The policy (parsed, or text + name for error messages). */
  policy: Policy | { text: string; source: string };
  device: ControllerDevice;
  /** Sequence checks in the model (default false: ct-disable-tcp-seq-chk, see top). */
  tcpSeqCheck?: boolean;
  /** Entries of a connection (default `connectionEntries`). */
  entryBuilder?: EntryBuilder;
  /** Called after each PacketIn is served (synchronously, before the next one is taken). */
  onServed?: (e: ServedPacketIn) => void;
  /** Where malformed PacketIns and write failures are reported. Default: nothing. */
  log?: (msg: string) => void;
  /** Start serving PacketIns at once (default true). */
  serve?: boolean;
}

export interface ControllerStatus {
  now: number;
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
  /** Reason-0 PacketIns (no punt): ignored. */
  unsolicitedPacketIns: number;
  /** PacketIns lost to the device's full queue. */
  packetInsDropped: number;
  writes: { insert: number; modify: number; delete: number; rpcs: number };
  failures: { write: number; tableFull: number; alreadyExists: number; deleteNotFound: number; handler: number; unsendable: number; counterRead: number };
  ageingStats: { expired: number; refreshedByHits: number; idleNotifications: number; counterPolls: number; forwardedAccounted: number };
  /** Times the hardware was rebuilt from the model (`resync`, a policy change with a new pipeline). */
  reinstalls: number;
  /** Policy changes (`replacePolicy`), cumulative. */
  policyChanges: {
    replaced: number;
    /** Model connections whose entries were recomputed for a new policy. */
    revalidated: number;
    /** Conntrack entries a policy change deleted (the new plan no longer wants them). */
    entriesRemoved: number;
    /** Conntrack entries a policy change modified or inserted. */
    entriesRewritten: number;
    /** Policy-table updates written by policy changes. */
    staticWrites: number;
  };
}

/** A new policy for a running controller (`replacePolicy`). */
export interface PolicyChange {
  /** The new policy's plan (offload/compile.ts), same config. */
  plan: Plan;
  policy: Policy | { text: string; source: string };
  /**
   * The policy tables' entries before and after, when the program stays (only the difference
   * is written). Absent: the caller owns the policy tables (or the harness has none to write).
   */
  staticEntries?: { from: OffloadEntry[]; to: OffloadEntry[] };
  /**
   * The caller pushed a new pipeline (every table empty) and installed the new policy tables:
   * every connection's entries are written again, as by `resync`.
   */
  reinstall?: boolean;
  /**
   * Run inside the serial section once the policy is validated, before anything is written
   * (the daemon pushes the new pipeline here, so no PacketIn is served in between). Throwing
   * aborts the change with the model on the old policy.
   */
  prepare?: () => Promise<void>;
}

export interface PolicyChangeResult {
  /** Model connections revalidated (every live one). */
  revalidated: number;
  entriesRemoved: number;
  entriesRewritten: number;
  entriesAdded: number;
  /** Policy-table updates written. */
  static: { inserted: number; modified: number; deleted: number };
}

interface Installed {
  entries: Map<string, OffloadEntry>;
}

const PUNT_CODES = new Set<number>(PUNT_REASONS.map((r) => r.code));

export class SlowPathController {
  private currentPlan: Plan;
  readonly engine: LiveEngine;
  private readonly device: ControllerDevice;
  private readonly log: (msg: string) => void;
  private readonly build: EntryBuilder;
  private readonly onServed: ((e: ServedPacketIn) => void) | undefined;
  private now = 0;
  private readonly installed = new Map<number, Installed>();
  /** entry key → connection id (hits, idle notifications). */
  private readonly owner = new Map<string, number>();
  private readonly slowOnly = new Set<number>();
  /** Per connection: what its entries depend on, at the last successful sync (sigChanged). */
  private readonly sigs = new Map<number, Float64Array>();
  private readonly lastHits = new Map<string, bigint>();
  private readonly lastUsed = new Map<string, number>();
  /** Connection id → its model slot (refreshes without a scan). */
  private readonly slots = new Map<number, number>();
  private chain: Promise<unknown> = Promise.resolve();
  private serving: Promise<void> | undefined;
  private closed = false;
  private readonly st = {
    packetIns: 0,
    punts: Object.fromEntries(PUNT_REASONS.map((r) => [r.name, 0])) as Record<string, number>,
    controllerOutputs: 0,
    packetOuts: 0,
    malformed: 0,
    unsolicited: 0,
    writes: { insert: 0, modify: 0, delete: 0, rpcs: 0 },
    failures: { write: 0, tableFull: 0, alreadyExists: 0, deleteNotFound: 0, handler: 0, unsendable: 0, counterRead: 0 },
    ageing: { expired: 0, refreshedByHits: 0, idleNotifications: 0, counterPolls: 0, forwardedAccounted: 0 },
    reinstalls: 0,
    policy: { replaced: 0, revalidated: 0, entriesRemoved: 0, entriesRewritten: 0, staticWrites: 0 },
  };

  constructor(opts: ControllerOptions) {
    this.currentPlan = opts.plan;
    this.device = opts.device;
    this.build = opts.entryBuilder ?? connectionEntries;
    this.onServed = opts.onServed;
    this.log = opts.log ?? (() => undefined);
    this.engine = new LiveEngine({ tcpSeqCheck: opts.tcpSeqCheck ?? false });
    this.engine.load(parsedPolicy(opts.policy));
    if (opts.serve ?? true) this.start();
  }

  /** The plan of the running policy (replaced by `replacePolicy`). */
  get plan(): Plan {
    return this.currentPlan;
  }

  get tcpSeqCheck(): boolean {
    return this.engine.conntrack.tcpSeqCheck;
  }

  /** PacketOuts sent so far (cheap; status() walks the model). */
  get packetOutsSent(): number {
    return this.st.packetOuts;
  }

  /** Current model time (ms). */
  get clock(): number {
    return this.now;
  }

  /** Start the serve loop (idempotent while it runs). */
  start(): void {
    if (this.serving || this.closed) return;
    this.serving = this.serve().finally(() => (this.serving = undefined));
  }

  private get ct() {
    return this.engine.conntrack;
  }

  /** Run `fn` after everything queued before it (model and entry state are single-threaded). */
  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async serve(): Promise<void> {
    const source = this.device.packetIns;
    for (;;) {
      let pi: RawPacketIn | undefined;
      try {
        pi = await source.next();
      } catch (e) {
        if (!this.closed) this.log(`PacketIn source failed: ${(e as Error).message}`);
        return;
      }
      if (pi === undefined || this.closed) return;
      const p = pi;
      await this.serial(() => this.handlePacketIn(p)).catch((e: unknown) => {
        this.st.failures.handler++;
        this.log(`PacketIn handler failed: ${(e as Error).stack ?? e}`);
      });
    }
  }

  private served(e: ServedPacketIn): void {
    try {
      this.onServed?.(e);
    } catch (err) {
      this.log(`onServed observer failed: ${(err as Error).message}`);
    }
  }

  private async handlePacketIn(pi: RawPacketIn): Promise<void> {
    this.st.packetIns++;
    const md = pi.metadata;
    if (!(pi.payload instanceof Uint8Array) || !md || typeof md !== 'object' || typeof md.reason !== 'bigint' || typeof md.ingress_port !== 'bigint') {
      this.st.malformed++;
      this.log(`malformed PacketIn: metadata ${describeMd(md)}, ${pi.payload?.length ?? 0}-byte payload`);
      return this.served({ kind: 'malformed', payload: pi.payload ?? new Uint8Array(0), packetOuts: 0 });
    }
    const meta = decodePacketIn(md);
    if (meta.reason === 0) {
      this.st.unsolicited++;
      return this.served({ kind: 'unsolicited', meta, payload: pi.payload, packetOuts: 0 });
    }
    if (!PUNT_CODES.has(meta.reason)) {
      this.st.malformed++;
      this.log(`PacketIn with unknown punt reason ${meta.reason}`);
      return this.served({ kind: 'malformed', meta, payload: pi.payload, packetOuts: 0 });
    }
    if (meta.reason === PUNT.CONTROLLER) {
      // An output of the hardware, not a punt: do not run the model again (offload/punt.ts).
      this.st.controllerOutputs++;
      return this.served({ kind: 'controller', meta, payload: pi.payload, packetOuts: 0 });
    }
    if (pi.payload.length === 0) {
      this.st.malformed++;
      this.log(`empty punted packet (reason ${puntReasonName(meta.reason)})`);
      return this.served({ kind: 'malformed', meta, payload: pi.payload, packetOuts: 0 });
    }
    this.st.punts[puntReasonName(meta.reason)]!++;
    const verdict = await this.runModel(meta.ingressPort, pi.payload);
    let packetOuts = 0;
    for (const o of verdict.outputs) {
      if (o.port === PORT_CONTROLLER) {
        this.st.controllerOutputs++;
        continue;
      }
      if (!Number.isInteger(o.port) || o.port < 0 || o.port > 510 || o.port === this.plan.config.cpuPort) {
        this.st.failures.unsendable++;
        this.log(`model output to port ${o.port} cannot be sent by PacketOut`);
        continue;
      }
      this.device.packetOut(o.bytes, packetOutDirect(o.port, o.ct, meta.tag));
      this.st.packetOuts++;
      packetOuts++;
    }
    this.served({ kind: 'punt', meta, payload: pi.payload, verdict, packetOuts });
  }

  /**
   * Run one packet through the model at the current clock and bring the hardware entries of
   * every connection it touched in step. Returns the verdict and the entry operations written.
   */
  private async runModel(port: number, frame: Uint8Array): Promise<Verdict> {
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
    await this.sync(touched, destroyed);
    return verdict;
  }

  /**
   * Has what `connectionEntries` depends on changed since the last successful sync of
   * connection `id` (TCP peer states, seen-reply/related flags, generic/ICMP state (idle
   * timeout), mark and label, read from the tracker's columns without building a ConnInfo)?
   * Records the new values when it has. Undefined if the slot now holds another connection.
   * Numeric columns compared in place: this runs for every packet `accountForwarded` reports.
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
  private async sync(touched: Map<number, number>, destroyed: Set<number>, wants?: Map<number, OffloadEntry[]>): Promise<number> {
    const dels: { id: number; e: OffloadEntry }[] = [];
    const mods: { id: number; e: OffloadEntry }[] = [];
    const ins: { id: number; e: OffloadEntry }[] = [];
    for (const id of destroyed) {
      this.slowOnly.delete(id);
      this.sigs.delete(id);
      this.slots.delete(id);
      const inst = this.installed.get(id);
      if (!inst) continue;
      for (const e of inst.entries.values()) dels.push({ id, e });
    }
    for (const [id, slot] of touched) {
      // Fast path: nothing that connectionEntries reads changed since the last sync (the common
      // case for a packet reported by accountForwarded). Connections whose last write
      // failed have no signature, so they are retried.
      if (!this.sigChanged(id, slot)) continue;
      let list = wants?.get(id);
      if (!list) {
        const info = this.connInfo(id, slot);
        if (!info) continue;
        list = this.build(info, this.plan, { idleTimeoutMs: this.hardwareTtlMs(slot, info) });
      }
      this.slots.set(id, slot);
      const want = new Map(list.map((e) => [keyOf(e), e]));
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
      this.lastUsed.delete(k);
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

  /** Hardware TTL of a connection's entries: its own timeout policy's value for the class the entries keep. */
  private hardwareTtlMs(slot: number, info: ConnInfo): number {
    return this.ct.policies.ms(this.ct.table.tp[slot]!, hardwareTimeoutClass(info));
  }

  // -------------------------------------------------------------------------------- public API

  /**
   * Advance the model clock to `now` (ms, never backwards): credit hardware activity (`poll`,
   * default 'always'; see "Clock and ageing" at the top), expire connections and delete their
   * entries. Resolves when the hardware entries agree with the model at `now`.
   */
  advance(now: number, opts: { poll?: HardwarePoll } = {}): Promise<void> {
    return this.serial(async () => {
      if (!Number.isFinite(now) || now < this.now) throw new ControllerError('CTO_CONTROLLER_CLOCK', `clock cannot go back from ${this.now} ms to ${now} ms (reset first)`);
      this.now = now;
      const poll = opts.poll ?? 'always';
      if (poll === 'always' || (poll === 'expiring' && this.offloadedExpiring(now))) await this.refreshFromHardware();
      const idle = this.device.pollIdleTimeouts?.() ?? [];
      this.st.ageing.idleNotifications += idle.length;
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

  /** Would a sweep at `now` expire a connection that has entries in hardware? */
  private offloadedExpiring(now: number): boolean {
    const t = this.ct.table;
    if (this.installed.size === 0 || now < t.minExpiration) return false;
    for (const id of this.installed.keys()) {
      const slot = this.slots.get(id);
      if (slot === undefined || t.id[slot] !== id || now >= t.expiration[slot]!) return true;
    }
    return false;
  }

  /** Direct counters → model refreshes (see top). */
  private async refreshFromHardware(): Promise<void> {
    if (!this.device.readHits || this.owner.size === 0) return;
    const tables = [...new Set(this.plan.ctTables.map((t) => `CtIngress.${t.name}`))];
    let hits: EntryHits[];
    try {
      hits = await this.device.readHits(tables);
    } catch (e) {
      this.st.failures.counterRead++;
      this.log(`reading direct counters failed: ${(e as Error).message}`);
      return;
    }
    this.st.ageing.counterPolls++;
    const credit = new Map<number, number>(); // connection id → time of its latest hit
    for (const h of hits) {
      const id = this.owner.get(h.key);
      if (id === undefined) continue;
      const prev = this.lastHits.get(h.key) ?? 0n;
      this.lastHits.set(h.key, h.packets);
      // A newer last-hit stamp is a hit too (its packets may have been counted at an earlier read).
      const prevUsed = this.lastUsed.get(h.key) ?? -Infinity;
      if (h.lastUsed !== undefined) this.lastUsed.set(h.key, h.lastUsed);
      if (h.packets <= prev && !(h.lastUsed !== undefined && h.lastUsed > prevUsed)) continue;
      const at = Math.min(h.lastUsed ?? this.now, this.now);
      credit.set(id, Math.max(credit.get(id) ?? -Infinity, at));
    }
    for (const [id, at] of credit) this.touchConnection(id, at);
    this.st.ageing.refreshedByHits += credit.size;
  }

  /**
   * Refresh connection `id`'s timer as a packet of it at `at` would have, with the class of the
   * state its entries keep; never earlier than it already expires (see top).
   */
  private touchConnection(id: number, at: number): void {
    const t = this.ct.table;
    const slot = this.slots.get(id);
    // Even if the model's timer already ran out (the hits happened at some point since the last
    // poll, which may be after the model's expiry): the hardware saw traffic, so the connection
    // is kept alive. It has not been swept (sweeps run after this refresh).
    if (slot === undefined || t.id[slot] !== id) return;
    const before = t.expiration[slot]!;
    t.setTimer(slot, hardwareTimeoutClass(this.ct.info(slot)), at);
    if (t.expiration[slot]! < before) t.expiration[slot] = before;
  }

  /**
   * A frame the hardware forwarded on `port` at the current clock, reported packet by packet by
   * an activity source that sees every packet (a 1:1 mirror): the model runs it as the
   * reference tracker would (full pipeline, outputs not sent) and entries follow the model.
   * Only for activity sources that really see every packet; counters are what a NIC gives.
   */
  accountForwarded(port: number, frame: Uint8Array): Promise<Verdict> {
    return this.serial(async () => {
      this.st.ageing.forwardedAccounted++;
      return this.runModel(port, frame);
    });
  }

  /**
   * Drive the model clock from a monotonic wall clock, calling `advance(elapsed ms)` every
   * `intervalMs` (bmv2 sweeps idle entries once a second, docs/p4-target-interfaces.md §4.10, so 1000
   * ms is the natural period). Returns a stop function. Errors are logged.
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
   * Rebuild the hardware from the model (a switch that restarted or lost its tables, a new
   * P4Runtime session of the `ctoffload controller` daemon): forget what the books say is
   * installed and write every live model connection's entries again (INSERT; ALREADY_EXISTS →
   * MODIFY; other failures leave the connection in the slow path, as at a punt). No connection
   * leaves the model. Resolves with the model connections seen and the entries installed.
   */
  resync(): Promise<{ connections: number; entries: number }> {
    return this.serial(async () => {
      this.st.reinstalls++;
      this.forgetInstalled();
      const touched = new Map<number, number>();
      for (const c of this.ct.connections(this.now)) touched.set(c.id, c.index);
      await this.sync(touched, new Set());
      return { connections: touched.size, entries: this.entryCount() };
    });
  }

  /**
   * Run a new policy from now on, under live connections (see "Policy changes" at the top).
   * Serialised with PacketIns and clock advances: no packet is served by a half-installed policy.
   * The new policy is validated against a scratch tracker first; if that throws, nothing has
   * changed. A failed static-entry write throws ControllerError CTO_CONTROLLER_POLICY_WRITE
   * with the model still on the old policy (the caller restores the old static entries).
   */
  replacePolicy(change: PolicyChange): Promise<PolicyChangeResult> {
    return this.serial(async () => {
      const policy = parsedPolicy(change.policy);
      this.engine.validate(policy);
      await change.prepare?.();
      const w0 = { ...this.st.writes };
      const del0 = this.st.writes.delete + this.st.failures.deleteNotFound;
      const infos = [...this.ct.connections(this.now)];
      const conns = new Map<number, number>(infos.map((c) => [c.id, c.index]));
      const out: PolicyChangeResult = { revalidated: conns.size, entriesRemoved: 0, entriesRewritten: 0, entriesAdded: 0, static: { inserted: 0, modified: 0, deleted: 0 } };
      if (change.reinstall) {
        // A new pipeline was pushed: the hardware is empty, every entry is written again (resync).
        this.engine.replacePolicy(policy);
        this.currentPlan = change.plan;
        this.st.reinstalls++;
        this.forgetInstalled();
        await this.sync(conns, new Set());
      } else {
        // 1. Entries the new plan no longer wants go first, before any rule changes: their
        //    connections punt meanwhile and the model (still the old policy) serves them.
        //    The entries computed here are what step 4 writes (computed once).
        const dels: { id: number; e: OffloadEntry }[] = [];
        const wants = new Map<number, OffloadEntry[]>();
        for (const info of infos) {
          const id = info.id;
          const slot = info.index;
          const list = this.build(info, change.plan, { idleTimeoutMs: this.hardwareTtlMs(slot, info) });
          wants.set(id, list);
          const inst = this.installed.get(id);
          if (!inst) continue;
          const want = new Set(list.map(keyOf));
          for (const [k, e] of inst.entries) if (!want.has(k)) dels.push({ id, e });
        }
        if (dels.length) {
          const fails = await this.apply('DELETE', dels.map((d) => d.e));
          dels.forEach((d, i) => {
            const f = fails.get(i);
            if (f && f.code !== STATUS_NOT_FOUND) return void this.sigs.delete(d.id);
            if (f) this.st.failures.deleteNotFound++;
            this.forget(d.id, d.e);
          });
        }
        // 2. The policy tables: the difference only.
        if (change.staticEntries) out.static = await this.writeStatic(change.staticEntries.from, change.staticEntries.to);
        // 3. The model runs the new policy over the same connections; 4. every connection's
        //    entries are recomputed for the new plan (MODIFY/INSERT what differs).
        this.engine.replacePolicy(policy);
        this.currentPlan = change.plan;
        this.sigs.clear();
        await this.sync(conns, new Set(), wants);
      }
      this.st.policy.replaced++;
      this.st.policy.revalidated += conns.size;
      out.entriesRemoved = this.st.writes.delete + this.st.failures.deleteNotFound - del0;
      out.entriesRewritten = this.st.writes.modify - w0.modify;
      out.entriesAdded = this.st.writes.insert - w0.insert;
      this.st.policy.entriesRemoved += out.entriesRemoved;
      this.st.policy.entriesRewritten += out.entriesRewritten + out.entriesAdded;
      return out;
    });
  }

  /**
   * Bring the policy tables from `from` to `to` (same program): DELETE, MODIFY, INSERT phases,
   * keyed by table, match and priority. Any failure but a benign one (DELETE NOT_FOUND, INSERT
   * ALREADY_EXISTS → MODIFY) throws: a policy table must be exactly the policy.
   */
  private async writeStatic(from: OffloadEntry[], to: OffloadEntry[]): Promise<PolicyChangeResult['static']> {
    const sk = (e: OffloadEntry): string => `${keyOf(e)}#${e.spec.priority ?? 0}`;
    const have = new Map(from.map((e) => [sk(e), e]));
    const want = new Map(to.map((e) => [sk(e), e]));
    const dels = [...have].filter(([k]) => !want.has(k)).map(([, e]) => e);
    const mods: OffloadEntry[] = [];
    const ins: OffloadEntry[] = [];
    for (const [k, e] of want) {
      const h = have.get(k);
      if (!h) ins.push(e);
      else if (bodyOf(h) !== bodyOf(e)) mods.push(e);
    }
    const phase = async (type: EntryOpType, list: OffloadEntry[]): Promise<OffloadEntry[]> => {
      if (!list.length) return [];
      let fails: OpFailure[];
      try {
        fails = await this.device.write(list.map((entry) => ({ type, entry })));
      } catch (e) {
        throw new ControllerError('CTO_CONTROLLER_POLICY_WRITE', `${type} of ${list.length} policy table entries failed: ${(e as Error).message}`);
      }
      const again: OffloadEntry[] = [];
      for (const f of fails) {
        if (type === 'DELETE' && f.code === STATUS_NOT_FOUND) continue;
        if (type === 'INSERT' && f.code === STATUS_ALREADY_EXISTS) {
          again.push(list[f.index]!);
          continue;
        }
        throw new ControllerError('CTO_CONTROLLER_POLICY_WRITE', `${type} ${list[f.index]?.comment ?? `#${f.index}`}: code ${f.code} ${f.message}`);
      }
      return again;
    };
    await phase('DELETE', dels);
    await phase('MODIFY', mods);
    const again = await phase('INSERT', ins);
    await phase('MODIFY', again);
    this.st.policy.staticWrites += dels.length + mods.length + ins.length;
    return { inserted: ins.length - again.length, modified: mods.length + again.length, deleted: dels.length };
  }

  /** Run `fn` on the serial chain: no PacketIn is served, no advance or write runs meanwhile. */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.serial(fn);
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
      this.forgetInstalled();
      this.slots.clear();
      this.engine.reset();
      this.now = 0;
    });
  }

  /** Resolves once everything queued before it (PacketIns being served, advances) is done. */
  idle(): Promise<void> {
    return this.serial(() => undefined);
  }

  /** The books of what is in hardware, emptied (the model's connections stay). */
  private forgetInstalled(): void {
    this.installed.clear();
    this.owner.clear();
    this.lastHits.clear();
    this.lastUsed.clear();
    this.sigs.clear();
    this.slowOnly.clear();
  }

  private entryCount(): number {
    let n = 0;
    for (const i of this.installed.values()) n += i.entries.size;
    return n;
  }

  status(): ControllerStatus {
    const entries = this.entryCount();
    let model = 0;
    for (const _ of this.ct.connections(this.now)) model++;
    return {
      now: this.now,
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
      unsolicitedPacketIns: this.st.unsolicited,
      packetInsDropped: this.device.packetIns.dropped ?? 0,
      writes: { ...this.st.writes },
      failures: { ...this.st.failures },
      ageingStats: { ...this.st.ageing },
      reinstalls: this.st.reinstalls,
      policyChanges: { ...this.st.policy },
    };
  }

  /**
   * Stop serving (the device's PacketIn source should be closed by its owner so that the loop
   * ends). Entries stay in hardware. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain.catch(() => undefined);
  }
}

function parsedPolicy(p: ControllerOptions['policy']): Policy {
  return 'flows' in p ? p : parsePolicy(p.text, p.source);
}

function describeMd(md: unknown): string {
  try {
    return JSON.stringify(md, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
  } catch {
    return String(md);
  }
}
