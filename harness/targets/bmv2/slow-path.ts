/**
 * The harness's view of the deployed controller core (offload/controller/core.ts): everything
 * the conformance run needs to attribute and order the slow path's work, built around the core
 * from outside, at its device (docs/architecture.md, "The seam"). The core is the one a
 * `ctoffload controller` daemon runs; nothing here changes what it decides.
 *
 * ## PacketIns: tags, holding, barriers
 * The adapter reads the switch's PacketIns itself and hands the core its own PacketIn source:
 * - a PacketIn whose tag `isHeld` names (an input of a speculative round, ./target.ts) is parked
 *   unserved and `onHeld(tag)` reports it; `release(tag)` hands it to the core and resolves once
 *   the core has served it completely (model run, entries written, PacketOuts sent);
 *   `discard(tag)` drops it (an input the round threw away). Nothing is ever served out of
 *   order or for a discarded input.
 * - a reason-0 PacketIn (the observation build's echo, a ping, a drop report) never reaches the
 *   core: a ping or echo resolves its waiter once every PacketIn queued before it has been
 *   served (the core takes the next PacketIn only after finishing the previous one); an input's
 *   drop report is recorded for its tag.
 * `barrier()` sends a PacketOut DIRECT to the CPU port with a fresh tag; the program sends it
 * straight back as a reason-0 PacketIn (offload/p4gen.ts: DIRECT skips the pipeline), so when
 * it is passed every earlier PacketIn has been handled.
 *
 * ## What the core did, per tag
 * The core's `onServed` events (what a daemon logs) are filed by the packet_in tag: punt
 * reasons, the model's verdicts, PacketOuts sent, `controller` outputs (`takeTag`). Entry
 * writes are counted at the device (`writeSeq`): unchanged ⇔ the hardware tables did not change.
 *
 * ## Hardware activity (ageing), docs/offload-design.md "Ageing"
 * - 'counters' (default: the deployed configuration): the core reads the conntrack tables'
 *   direct counters from bmv2 (`poll: 'expiring'`, before any sweep that would expire an
 *   offloaded connection). bmv2 stamps its entries' last hit only in its own wall clock
 *   (P4Runtime `time_since_last_hit`, docs/p4-target-interfaces.md §4.10), not in the trace's
 *   virtual time, so the adapter supplies that stamp in virtual time: an entry's `lastUsed` is
 *   the trace time of the latest accepted input the hardware decided whose tuple is the
 *   entry's (`noteForwarded`), reported only for entries whose counter is non-zero — the
 *   counters stay the only evidence that the hardware hit anything. A counter that moved with
 *   no accepted input of its tuple counts inputs a round still has in flight or discarded (sent
 *   again later): reported as not hit, as one input at a time would have it. Matching by tuple ignores
 *   the zone: the same tuple decided in hardware in two zones at different times credits both
 *   zones' entries at the later time (documented limit).
 * - 'packets' (oracle mode, `--ageing exact`): no counters; every input the hardware decided
 *   is run through the core's model (`accountForwarded`), as a 1:1 mirror would report it. This
 *   feeds the controller more than a NIC does and is never the default.
 */
import { PORT_CONTROLLER, type CtLookup, type Verdict, type VerdictOutput } from '../../../model/verdict.js';
import { L3_NONE, type PacketView } from '../../../model/packet/view.js';
import { tupleOf } from '../../contract.js';
import {
  SlowPathController,
  packetOutDirect,
  splitObservedPayload,
  type ControllerDevice,
  type ControllerStatus,
  type EntryBuilder,
  type EntryHits,
  type HardwarePoll,
  type Plan,
  type RawPacketIn,
  type ServedPacketIn,
} from '../../../offload/index.js';
import type { Policy } from '../../../model/pipeline/ast.js';
import { CtoffloadError } from '../../../model/errors.js';

/** What the slow path did for one tag (attribution of an input's outcome). */
export interface TagRecord {
  /** Punt reasons seen for this tag (not CONTROLLER). */
  punts: number[];
  /** Outputs to PORT_CONTROLLER: hardware `controller` outputs and the model's. */
  controllerOutputs: VerdictOutput[];
  /** PacketOuts sent for this tag. */
  packetOuts: number;
  /** Model verdicts of the punts (slow path), in order. */
  verdicts: Verdict[];
  /** The hardware dropped it and said so (observation build's drop report). */
  dropped: boolean;
  /**
   * The ct lookups the hardware reported with its drop report or its `controller` output (the
   * observation build's probe in front of the frame, offload/probe.ts); undefined otherwise.
   */
  lookups?: CtLookup[];
}

export type ActivityMode = 'counters' | 'packets';

export interface ObservedSlowPathOptions {
  plan: Plan;
  policy: Policy | { text: string; source: string };
  /** The switch (p4runtimeDevice). */
  device: ControllerDevice;
  activity: ActivityMode;
  tcpSeqCheck?: boolean;
  entryBuilder?: EntryBuilder;
  /** Wraps the device the core sees (the self-test's device faults). */
  wrapDevice?: (d: ControllerDevice) => ControllerDevice;
  /** Deadline of a barrier or echo (ms). */
  pingTimeoutMs: number;
  log?: (msg: string) => void;
}

export class SlowPathError extends CtoffloadError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/** Tags of barrier pings: the top of the 32-bit space, never an input tag (echo tags sit just below). */
export const PING_TAG_BASE = 0xfff00000;

type Queued = { pi: RawPacketIn } | { marker: () => void };

const emptyRecord = (): TagRecord => ({ punts: [], controllerOutputs: [], packetOuts: 0, verdicts: [], dropped: false });

export class ObservedSlowPath {
  readonly core: SlowPathController;
  readonly activity: ActivityMode;
  private readonly raw: ControllerDevice;
  private readonly pingTimeoutMs: number;
  private readonly log: (msg: string) => void;
  /** The core's PacketIn source: what the adapter passed on, and markers of waiters. */
  private readonly queue: Queued[] = [];
  private wakeCore: (() => void) | undefined;
  private ended = false;
  private holdIf: ((tag: number) => boolean) | undefined;
  private onHeld: ((tag: number) => void) | undefined;
  private readonly held = new Map<number, RawPacketIn[]>();
  private readonly tags = new Map<number, TagRecord>();
  private readonly waiters = new Map<number, { arrived: boolean; resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private writes = 0;
  private pingSeq = 0;
  /** 'counters': trace time of the latest accepted hardware-decided input per tuple (see top). */
  private readonly lastSeen = new Map<string, number>();
  readonly stats = { heldDiscarded: 0, dropReports: 0, unattributedHitEntries: 0, missingProbe: 0 };

  constructor(opts: ObservedSlowPathOptions) {
    this.raw = opts.device;
    this.activity = opts.activity;
    this.pingTimeoutMs = opts.pingTimeoutMs;
    this.log = opts.log ?? (() => undefined);
    const inner: ControllerDevice = {
      write: (ops) => {
        this.writes++;
        return this.raw.write(ops);
      },
      packetOut: (p, md) => this.raw.packetOut(p, md),
      packetIns: { next: () => this.nextForCore() },
      pollIdleTimeouts: this.raw.pollIdleTimeouts?.bind(this.raw),
    };
    if (opts.activity === 'counters' && this.raw.readHits) inner.readHits = (tables) => this.readHits(tables);
    this.core = new SlowPathController({
      plan: opts.plan,
      policy: opts.policy,
      device: opts.wrapDevice ? opts.wrapDevice(inner) : inner,
      tcpSeqCheck: opts.tcpSeqCheck,
      entryBuilder: opts.entryBuilder,
      onServed: (e) => this.file(e),
      log: opts.log,
    });
    void this.pumpPacketIns(); // ends with the switch's PacketIn source
  }

  // ------------------------------------------------------------------ PacketIn routing

  private async pumpPacketIns(): Promise<void> {
    for (;;) {
      let pi: RawPacketIn | undefined;
      try {
        pi = await this.raw.packetIns.next();
      } catch (e) {
        this.log(`PacketIn source failed: ${(e as Error).message}`);
        break;
      }
      if (pi === undefined) break;
      this.route(pi);
    }
    this.ended = true;
    this.wakeCore?.();
  }

  private route(pi: RawPacketIn): void {
    const md = pi.metadata;
    if (!md || typeof md.tag !== 'bigint' || typeof md.reason !== 'bigint') return this.toCore({ pi });
    const tag = Number(md.tag);
    if (md.reason === 0n) {
      const w = this.waiters.get(tag);
      if (w) {
        w.arrived = true;
        return this.toCore({ marker: () => this.settle(tag) });
      }
    }
    if (this.holdIf?.(tag)) {
      const list = this.held.get(tag);
      if (list) list.push(pi);
      else this.held.set(tag, [pi]);
      this.onHeld?.(tag);
      return;
    }
    if (md.reason === 0n) return this.dropReport(tag, pi);
    this.toCore({ pi });
  }

  /** An input's drop report (observation build): filed with the lookups its probe carries. */
  private dropReport(tag: number, pi: RawPacketIn): void {
    this.stats.dropReports++;
    const rec = this.record(tag);
    rec.dropped = true;
    const lookups = this.observed(pi.payload, 0)?.lookups;
    if (lookups) rec.lookups = lookups;
  }

  /** A non-punt PacketIn's payload split into the observation build's probe lookups and the frame. */
  private observed(payload: Uint8Array, reason: number): { frame: Uint8Array; lookups?: CtLookup[] } | null {
    const r = splitObservedPayload(payload, reason, this.core.plan.config.probe);
    if (!r) {
      this.stats.missingProbe++;
      this.log(`PacketIn (reason ${reason}) without the probe an observation build puts on it`);
    }
    return r;
  }

  private toCore(q: Queued): void {
    this.queue.push(q);
    const w = this.wakeCore;
    this.wakeCore = undefined;
    w?.();
  }

  /** The core's PacketIn source: markers are passed (their waiters resolved), never served. */
  private async nextForCore(): Promise<RawPacketIn | undefined> {
    for (;;) {
      const q = this.queue.shift();
      if (q) {
        if ('marker' in q) {
          q.marker();
          continue;
        }
        return q.pi;
      }
      if (this.ended) return undefined;
      await new Promise<void>((r) => (this.wakeCore = r));
    }
  }

  private settle(tag: number): void {
    const w = this.waiters.get(tag);
    if (!w) return;
    this.waiters.delete(tag);
    clearTimeout(w.timer);
    w.resolve();
  }

  /** The core served a PacketIn: file it under its tag. */
  private file(e: ServedPacketIn): void {
    if (!e.meta) return;
    const rec = this.record(e.meta.tag);
    if (e.kind === 'controller') {
      // The observation build puts its probe (with the hardware's lookups) in front of the frame.
      const obs = this.observed(e.payload, e.meta.reason);
      if (!obs) return;
      rec.controllerOutputs.push({ port: PORT_CONTROLLER, bytes: obs.frame, ct: e.meta.ct });
      if (obs.lookups) rec.lookups = obs.lookups;
    } else if (e.kind === 'punt' && e.verdict) {
      rec.punts.push(e.meta.reason);
      rec.verdicts.push(e.verdict);
      rec.packetOuts += e.packetOuts;
      for (const o of e.verdict.outputs) if (o.port === PORT_CONTROLLER) rec.controllerOutputs.push(o);
    }
  }

  private record(tag: number): TagRecord {
    let r = this.tags.get(tag);
    if (!r) {
      r = emptyRecord();
      this.tags.set(tag, r);
      // Bounded: the target takes its records input by input.
      if (this.tags.size > 4096) this.tags.delete(this.tags.keys().next().value!);
    }
    return r;
  }

  // ------------------------------------------------------------------ the target's protocol

  /** Park every PacketIn whose tag satisfies `isHeld` and report its arrival (see top). */
  hold(isHeld: (tag: number) => boolean, onHeld: (tag: number) => void): void {
    this.holdIf = isHeld;
    this.onHeld = onHeld;
  }

  /** Serve the held PacketIns of `tag` now; resolves once the core has served them. */
  async release(tag: number): Promise<void> {
    const list = this.held.get(tag) ?? [];
    this.held.delete(tag);
    let any = false;
    for (const pi of list) {
      if (pi.metadata.reason === 0n) {
        this.dropReport(tag, pi);
        continue;
      }
      this.toCore({ pi });
      any = true;
    }
    if (!any) return;
    await new Promise<void>((resolve) => this.toCore({ marker: resolve }));
  }

  /** Drop the held PacketIns of `tag` (an input the harness discarded); returns how many. */
  discard(tag: number): number {
    const n = this.held.get(tag)?.length ?? 0;
    this.held.delete(tag);
    this.stats.heldDiscarded += n;
    return n;
  }

  /** What the slow path did for `tag` since the last take (and forget it). */
  takeTag(tag: number): TagRecord {
    const r = this.tags.get(tag) ?? emptyRecord();
    this.tags.delete(tag);
    return r;
  }

  /** Entry writes so far: unchanged ⇔ the hardware tables did not change. */
  get writeSeq(): number {
    return this.writes;
  }

  get clock(): number {
    return this.core.clock;
  }

  /**
   * Resolve when a reason-0 PacketIn with `tag` has been passed by the core (every PacketIn
   * before it served). Register before it can arrive. Rejects after the ping deadline.
   */
  waitEcho(tag: number, what = 'echo', hint = 'does the program keep the probe ECHO path of offload/probe.ts?'): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(tag);
        reject(new SlowPathError('CTO_CONTROLLER_BARRIER', `${what} 0x${tag.toString(16)} not echoed within ${this.pingTimeoutMs} ms (${hint})`));
      }, this.pingTimeoutMs);
      this.waiters.set(tag, { arrived: false, resolve, reject, timer });
    });
  }

  /** Ordering barrier on the PacketIn stream (see top). */
  barrier(cpuPort: number): Promise<void> {
    const tag = (PING_TAG_BASE + (this.pingSeq++ & 0xfffff)) >>> 0;
    const done = this.waitEcho(tag, 'barrier ping', "is the generated program's DIRECT-to-CPU path intact?");
    try {
      this.raw.packetOut(new Uint8Array(60), packetOutDirect(cpuPort, undefined, tag));
    } catch (e) {
      const w = this.waiters.get(tag);
      if (w) {
        clearTimeout(w.timer);
        this.waiters.delete(tag);
        w.reject(e as Error);
      }
    }
    return done;
  }

  /** Advance the core's clock; in 'counters' mode the core reads counters only before an expiry. */
  advance(now: number): Promise<void> {
    const poll: HardwarePoll = this.activity === 'counters' ? 'expiring' : 'never';
    return this.core.advance(now, { poll });
  }

  /**
   * An accepted input the hardware decided, at the core's clock: 'counters' notes its tuple's
   * time for the virtual-time last-hit stamp; 'packets' runs it through the core's model.
   */
  async noteForwarded(view: PacketView, port: number, frame: Uint8Array): Promise<void> {
    if (this.activity === 'packets') {
      await this.core.accountForwarded(port, frame);
      return;
    }
    const t = view.l3 === L3_NONE ? '' : tupleOf(view);
    if (t) this.lastSeen.set(t, this.core.clock);
  }

  /** 'counters': the switch's counters, with the virtual-time last-hit stamp (see top). */
  private async readHits(tables: string[]): Promise<EntryHits[]> {
    const hits = await this.raw.readHits!(tables);
    for (const h of hits) {
      if (h.packets === 0n) continue;
      const t = this.lastSeen.get(keyTuple(h.key));
      if (t !== undefined) {
        h.lastUsed = t;
        continue;
      }
      // Hits with no accepted input behind them come from inputs still in flight or discarded
      // by a round (sent again later): as sent one at a time, they have not happened yet.
      this.stats.unattributedHitEntries++;
      h.packets = 0n;
    }
    return hits;
  }

  status(): ControllerStatus {
    return this.core.status();
  }

  /** Forget every connection and tag (the core's reset: entries deleted, clock 0). */
  async reset(): Promise<void> {
    await this.core.reset();
    this.tags.clear();
    this.lastSeen.clear();
    for (const tag of [...this.held.keys()]) this.discard(tag);
  }

  async close(): Promise<void> {
    for (const [tag, w] of this.waiters) {
      this.waiters.delete(tag);
      clearTimeout(w.timer);
      w.reject(new SlowPathError('CTO_CONTROLLER_CLOSED', 'controller closed while a barrier was pending'));
    }
    await this.core.close();
    this.ended = true;
    this.wakeCore?.();
  }
}

/** The same tuple from an entry key (`entryKey`: `table|k=hex,…`). */
function keyTuple(key: string): string {
  const m = new Map<string, string>();
  for (const kv of key.slice(key.indexOf('|') + 1).split(',')) {
    const i = kv.indexOf('=');
    m.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return ['l3', 'proto', 'src', 'dst', 'sport', 'dport'].map((k) => m.get(k) ?? '').join(',');
}
