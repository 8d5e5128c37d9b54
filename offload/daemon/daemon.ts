/**
 * `ctoffload controller`: the slow-path controller as a long-running daemon for a P4Runtime
 * target running the generated program (bmv2 `simple_switch_grpc` here). It owns one
 * SlowPathController (offload/controller/core.ts) for its whole life — the model of every connection
 * — and P4Runtime sessions that come and go under it (./device.ts).
 *
 * ## Start
 * 1. Session: StreamChannel + arbitration with our election id (docs/p4-target-interfaces.md §4.1);
 *    while another controller is primary we wait (backup) until the deadline.
 * 2. Pipeline: pushed, or attached to when the switch already runs this program (./pipeline.ts,
 *    §4.12) — attaching keeps every table, so a daemon restart does not flush the offload.
 * 3. Static entries of the policy tables (INSERT after a push; reconciled after an attach).
 * 4. The controller serves PacketIns with 'hits' ageing (direct counters §4.7 + idle-timeout
 *    notifications §4.10) and its clock follows the wall clock (below).
 * Any failure of 1–3 is retried with bounded exponential backoff until `connectTimeoutMs`.
 *
 * ## Clock
 * Every `pollIntervalMs` (default 1000 ms: bmv2 sweeps idle entries once a second, §4.10, so
 * polling faster finds nothing new) the model clock is advanced by the wall-clock time elapsed
 * while a session was up: the controller reads the direct counters (connections with hits are
 * refreshed), drains idle notifications and expires what the model says has expired (entries
 * deleted). While the switch is unreachable the model clock stands still: the daemon cannot see
 * hardware hits then, and expiring connections whose packets the hardware may still be
 * forwarding would lose them from the model.
 *
 * ## Lost session (switch restart, broken stream, primaryship lost)
 * The client is dropped, and a new session is established as at start (same deadline from the
 * moment of the loss). The pipeline is pushed again if the switch lost it, else attached to;
 * static entries reinstalled; then `SlowPathController.resync()` writes every model
 * connection's entries again. No connection leaves the model. If no session can be
 * established within `connectTimeoutMs` the daemon fails (CLI exit 3).
 *
 * ## Entries the controller does not own
 * Conntrack entries found in hardware that no model connection wants (left by an earlier
 * controller with `--on-exit keep`, or whose DELETE was lost with the session) keep
 * forwarding their packets; when the switch reports one idle (§4.10), the daemon deletes it.
 * Established connections left by an earlier daemon are never cut while they carry traffic.
 *
 * ## Policy change (SIGHUP in the CLI)
 * `replacePolicy(program, policy)`: when the new program has the running one's bmv2 JSON and
 * P4Info (the policy changed, the pipeline's shape did not), only the policy tables' difference
 * is written; otherwise the new pipeline is pushed (every table emptied) and the policy tables
 * and every connection's entries are written again. Either way every model connection is
 * revalidated against the new plan (offload/controller/core.ts "Policy changes"): the model's
 * connections stay, as OVS keeps its conntrack across flow changes. Invalid input never gets
 * here (the caller validates); a switch that refuses the change half-way is rebuilt for the
 * running policy as after a lost session, and the change is reported failed.
 *
 * ## Stop
 * `stop()` (SIGTERM/SIGINT in the CLI): the clock stops, then with `onExit: 'keep'` the entries
 * stay in hardware (idle ones are deleted by the next controller, above); with 'flush' every
 * entry the controller installed is deleted (`SlowPathController.reset()`). Bounded by
 * `stopTimeoutMs`.
 */
import { P4RuntimeClient, WriteBatchError, codeName, encodeP4Info, type ArbitrationEvent, type TableEntry } from '../../p4/index.js';
import { SlowPathController, entryKey, type ControllerStatus, type PolicyChangeResult } from '../controller/index.js';
import { SessionDevice } from './device.js';
import {
  DaemonTargetError,
  deletable,
  ctTableNames,
  ensurePipeline,
  installStaticEntries,
  programCookie,
  readConntrackEntries,
  type DaemonProgram,
  type PipelineMode,
  type PipelineOutcome,
} from './pipeline.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type DaemonLog = (level: LogLevel, msg: string) => void;
export type OnExit = 'keep' | 'flush';

export interface DaemonOptions {
  program: DaemonProgram;
  /** The policy text (the controller's model runs it). */
  policy: { text: string; source: string };
  /** P4Runtime server, `host:port`. */
  address: string;
  deviceId: bigint;
  electionId: { high: bigint; low: bigint };
  pipeline?: PipelineMode;
  /** Model clock / counter poll period (ms). Default 1000. */
  pollIntervalMs?: number;
  /** Deadline to establish a session, at start and after each loss (ms). Default 30 000. */
  connectTimeoutMs?: number;
  /** Backoff between session attempts: 100 ms doubling up to this (ms). Default 2000. */
  backoffMaxMs?: number;
  /** Deadline of every RPC (ms). Default 10 000. */
  rpcTimeoutMs?: number;
  /** Sequence checks in the model (default false, offload/controller.ts "TCP sequence tracking"). */
  tcpSeqCheck?: boolean;
  log?: DaemonLog;
}

export type DaemonState = 'starting' | 'ready' | 'reconnecting' | 'stopping' | 'stopped' | 'failed';

export interface DaemonStatus {
  state: DaemonState;
  /** A primary session is up. */
  connected: boolean;
  address: string;
  deviceId: string;
  electionId: string;
  cookie: string;
  /** How the pipeline was obtained at the last (re)connect. */
  pipeline: PipelineOutcome['action'] | undefined;
  pipelinePushes: number;
  reconnects: number;
  /** Duration of the last recovery (loss → entries rebuilt), ms. */
  lastRecoveryMs: number | undefined;
  /** Entries the last resync wrote back. */
  lastResyncEntries: number | undefined;
  sessionFailures: number;
  staleEntriesDeleted: number;
  /** Policy changes applied (`replacePolicy`). */
  policyReloads: number;
  /** Policy changes refused or failed (the running policy stayed). */
  policyReloadsFailed: number;
  packetOutsLost: number;
  uptimeS: number;
  controller: ControllerStatus | undefined;
}

/** The outcome of `run()`: why the daemon ended. */
export interface DaemonEnd {
  /** 'stopped': stop() was called; 'failed': the target could not be (re)gained. */
  how: 'stopped' | 'failed';
  error?: Error;
  /** stop() could not do what on-exit asked (flush incomplete, deadline passed). */
  incomplete?: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

function fmtId(e: { high: bigint; low: bigint }): string {
  return `${e.high},${e.low}`;
}

export class ControllerDaemon {
  /** Cookie of the running program (changes with the policy, ./pipeline.ts). */
  cookie: bigint;
  private readonly o: Required<Omit<DaemonOptions, 'log'>> & { log: DaemonLog };
  private readonly device: SessionDevice;
  private ctl: SlowPathController | undefined;
  private state: DaemonState = 'starting';
  private client: P4RuntimeClient | undefined;
  /** A client being set up (closed by stop() to cut a connect short). */
  private pending: P4RuntimeClient | undefined;
  private lastPipeline: PipelineOutcome['action'] | undefined;
  private readonly counts = { pipelinePushes: 0, reconnects: 0, sessionFailures: 0, staleEntriesDeleted: 0, policyReloads: 0, policyReloadsFailed: 0 };
  private lastRecoveryMs: number | undefined;
  private lastResyncEntries: number | undefined;
  private readonly started = performance.now();
  private tickTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private lastTick = 0;
  private modelTime = 0;
  private lastTableFull = 0;
  private stopping: Promise<DaemonEnd> | undefined;
  private settle!: (end: DaemonEnd) => void;
  /** Resolves when the daemon has ended (stopped or failed). */
  readonly done: Promise<DaemonEnd>;

  constructor(opts: DaemonOptions) {
    this.o = {
      pipeline: 'auto',
      pollIntervalMs: 1000,
      connectTimeoutMs: 30_000,
      backoffMaxMs: 2000,
      rpcTimeoutMs: 10_000,
      tcpSeqCheck: false,
      log: () => undefined,
      ...opts,
    };
    this.cookie = programCookie(opts.program);
    this.device = new SessionDevice(opts.program, this.o.rpcTimeoutMs, 4096, (why) => this.o.log('debug', `PacketOut dropped: ${why}`));
    this.done = new Promise((r) => (this.settle = r));
  }

  get controller(): SlowPathController | undefined {
    return this.ctl;
  }

  /**
   * Establish the first session, load the pipeline, start serving. Rejects with
   * DaemonTargetError when the target cannot be reached within the connect deadline.
   */
  async start(): Promise<void> {
    const o = this.o;
    o.log('info', `starting: P4Runtime ${o.address} device ${o.deviceId} election id ${fmtId(o.electionId)}, program cookie 0x${this.cookie.toString(16)}, ${o.program.entries.length} static entries, poll ${o.pollIntervalMs} ms`);
    let s: Session;
    try {
      s = await this.establish(Date.now() + o.connectTimeoutMs);
    } catch (e) {
      if (this.stopping) return;
      this.state = 'failed';
      this.settle({ how: 'failed', error: e as Error });
      throw e;
    }
    if (this.stopping) {
      s.client.close();
      return;
    }
    this.ctl = new SlowPathController({
      plan: o.program.plan,
      policy: o.policy,
      device: this.device,
      tcpSeqCheck: o.tcpSeqCheck,
      log: (m) => o.log('warn', m),
    });
    if (s.pipeline.action === 'attached') {
      // Conntrack entries already there belong to no model connection yet (see top).
      try {
        const left = await readConntrackEntries(s.client, o.program, o.rpcTimeoutMs);
        if (left.length) o.log('info', `${left.length} conntrack entr${left.length === 1 ? 'y' : 'ies'} left in hardware by an earlier controller: kept while they carry traffic, deleted when the switch reports them idle`);
      } catch (e) {
        o.log('warn', `could not read the conntrack tables: ${(e as Error).message}`);
      }
    }
    // 'ready' first: use() reports a session already lost, which must win.
    this.state = 'ready';
    this.use(s);
    o.log('info', `serving PacketIns (ageing: direct counters + idle notifications, clock: wall clock every ${o.pollIntervalMs} ms)`);
    this.lastTick = performance.now();
    this.scheduleTick();
  }

  // ------------------------------------------------------------------------------- sessions

  /** Session attempts with bounded backoff until `deadline` (see top). */
  private async establish(deadline: number): Promise<Session> {
    const o = this.o;
    let delay = 100;
    let lastMsg = '';
    for (let attempt = 1; ; attempt++) {
      if (this.stopping) throw new DaemonTargetError('stopped while connecting', true);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new DaemonTargetError(`no usable P4Runtime session with ${o.address} within ${o.connectTimeoutMs} ms (${attempt - 1} attempts)${lastMsg ? `: ${lastMsg}` : ''}`);
      let client: P4RuntimeClient | undefined;
      try {
        client = await P4RuntimeClient.connect(o.address, {
          deviceId: o.deviceId,
          electionId: o.electionId,
          deadlineMs: remaining,
          rpcDeadlineMs: o.rpcTimeoutMs,
          reconnect: false,
          p4info: o.program.p4info,
          queueCapacity: 4096,
        });
        this.pending = client;
        if (this.stopping) throw new DaemonTargetError('stopped while connecting', true);
        if (!client.isPrimary) {
          o.log('warn', `${o.address}: backup (primary election id ${client.arbitration.primaryElectionId ?? '?'}); waiting to become primary`);
          await client.waitPrimary(Math.max(1, deadline - Date.now()));
        }
        const pipeline = await ensurePipeline(client, o.program, this.cookie, o.pipeline, o.rpcTimeoutMs);
        const st = await installStaticEntries(client, o.program, pipeline.action === 'attached', o.rpcTimeoutMs);
        if (pipeline.action === 'pushed') this.counts.pipelinePushes++;
        o.log(
          'info',
          `pipeline ${pipeline.action} (${pipeline.why}); static entries: ${st.inserted} inserted, ${st.modified} modified, ${st.deleted} deleted`,
        );
        this.pending = undefined;
        return { client, pipeline };
      } catch (e) {
        this.pending = undefined;
        client?.close();
        if (e instanceof DaemonTargetError && e.final) throw e;
        this.counts.sessionFailures++;
        const msg = (e as Error).message.split('\n')[0]!;
        // One line per new reason, not one per attempt.
        o.log(msg === lastMsg ? 'debug' : 'warn', `session attempt ${attempt} with ${o.address} failed: ${msg}`);
        lastMsg = msg;
        const left = deadline - Date.now();
        if (left <= 0) continue;
        await sleep(Math.min(delay, left));
        delay = Math.min(delay * 2, o.backoffMaxMs);
      }
    }
  }

  /** Make `s` the current session and watch it for loss. */
  private use(s: Session): void {
    const c = s.client;
    this.client = c;
    this.lastPipeline = s.pipeline.action;
    this.device.attach(c);
    c.on('disconnect', (ev: { code: number; message: string }) => this.lost(c, `stream ended: ${codeName(ev.code)}${ev.message ? ` (${ev.message})` : ''}`));
    c.on('arbitration', (ev: ArbitrationEvent) => {
      if (ev.role === 'backup') this.lost(c, `primaryship lost to election id ${ev.primaryElectionId ?? '?'}`);
    });
    this.o.log('info', `connected to ${this.o.address} as primary (election id ${fmtId(this.o.electionId)})`);
    if (!c.isPrimary) this.lost(c, 'not primary any more');
  }

  private lost(c: P4RuntimeClient, why: string): void {
    if (this.client !== c || this.stopping || this.state === 'failed') return;
    const o = this.o;
    const t0 = Date.now();
    this.client = undefined;
    this.device.detach();
    c.close();
    this.state = 'reconnecting';
    o.log('warn', `connection lost: ${why}; reconnecting (deadline ${o.connectTimeoutMs} ms, model clock paused)`);
    void (async () => {
      let s: Session;
      try {
        s = await this.establish(t0 + o.connectTimeoutMs);
      } catch (e) {
        if (this.stopping) return;
        this.fail(e as Error);
        return;
      }
      if (this.stopping) {
        s.client.close();
        return;
      }
      this.state = 'ready';
      this.use(s);
      let r: { connections: number; entries: number };
      try {
        r = await this.ctl!.resync();
      } catch (e) {
        o.log('error', `writing the connections back failed: ${(e as Error).message}`);
        return;
      }
      this.counts.reconnects++;
      this.lastRecoveryMs = Date.now() - t0;
      this.lastResyncEntries = r.entries;
      o.log('info', `reconnected after ${this.lastRecoveryMs} ms (pipeline ${s.pipeline.action}): ${r.connections} model connection${r.connections === 1 ? '' : 's'}, ${r.entries} entr${r.entries === 1 ? 'y' : 'ies'} written back`);
    })();
  }

  private fail(e: Error): void {
    if (this.state === 'failed' || this.stopping) return;
    this.state = 'failed';
    this.o.log('error', `giving up: ${e.message}`);
    if (this.tickTimer) clearTimeout(this.tickTimer);
    void this.shutdown().then(() => this.settle({ how: 'failed', error: e }));
  }

  // ---------------------------------------------------------------------------------- clock

  private scheduleTick(): void {
    if (this.stopping || this.state === 'failed') return;
    this.tickTimer = setTimeout(() => {
      this.ticking = this.tick().finally(() => this.scheduleTick());
    }, this.o.pollIntervalMs);
  }

  private async tick(): Promise<void> {
    const now = performance.now();
    const dt = now - this.lastTick;
    this.lastTick = now;
    const ctl = this.ctl;
    // Paused while no session is up (see top).
    if (!ctl || this.state !== 'ready' || !this.device.connected) return;
    this.modelTime += dt;
    try {
      await ctl.advance(Math.max(ctl.clock, Math.floor(this.modelTime)));
      await this.deleteIdleStrays();
    } catch (e) {
      this.o.log('warn', `clock tick failed: ${(e as Error).message}`);
    }
    const refused = this.device.insertsRefused;
    if (refused > this.lastTableFull) {
      this.o.log('warn', `conntrack table full: ${refused - this.lastTableFull} INSERTs refused since the last report; ${ctl.status().slowPathOnly} connection(s) served by the slow path only`);
      this.lastTableFull = refused;
    }
  }

  /** Delete conntrack entries the switch reported idle that no model connection owns (see top). */
  private async deleteIdleStrays(): Promise<void> {
    const idle = this.device.takeIdle();
    if (!idle.size || !this.ctl) return;
    const ctTables = new Set(ctTableNames(this.o.program.plan));
    await this.ctl.exclusive(async () => {
      const owned = new Set<string>();
      for (const list of this.ctl!.installedEntries().values()) for (const e of list) owned.add(entryKey(e.table, e.spec.match ?? {}));
      const strays: TableEntry[] = [];
      for (const [k, raw] of idle) {
        if (!ctTables.has(k.slice(0, k.indexOf('|'))) || owned.has(k)) continue;
        strays.push(raw);
      }
      const c = this.client;
      if (!strays.length || !c?.isPrimary) return;
      let failed = 0;
      try {
        await c.write(strays.map(deletable), { deadlineMs: this.o.rpcTimeoutMs });
      } catch (e) {
        if (!(e instanceof WriteBatchError)) throw e;
        failed = e.failures.filter((f) => f.code !== 5 /* NOT_FOUND: already gone */).length;
      }
      this.counts.staleEntriesDeleted += strays.length - failed;
      this.o.log('info', `deleted ${strays.length - failed} idle conntrack entr${strays.length - failed === 1 ? 'y' : 'ies'} no model connection owns${failed ? ` (${failed} failed)` : ''}`);
    });
  }

  // -------------------------------------------------------------------------- policy change

  /** A new policy the caller refused before it got here (invalid): counted as a failed reload. */
  noteRejectedPolicy(): void {
    this.counts.policyReloadsFailed++;
  }

  /**
   * Run a new policy (see "Policy change" at the top). `next` is the new program, already
   * validated by the caller (parsed, compiled; p4c run when its shape differs). Rejects — with
   * the running policy still in place, in the model and in the switch — when there is no session
   * or the switch refused the change; `policyReloadsFailed` counts it either way.
   */
  async replacePolicy(next: DaemonProgram, policy: { text: string; source: string }): Promise<PolicyReload> {
    const o = this.o;
    const ctl = this.ctl;
    const c = this.client;
    try {
      if (!ctl || this.state !== 'ready' || !c?.isPrimary) throw new DaemonTargetError(`no P4Runtime session (${this.state}): the policy cannot be changed now`);
      const cur = o.program;
      const sameShape = sameBytes(next.json, cur.json) && sameBytes(encodeP4Info(next.p4info.p4info), encodeP4Info(cur.p4info.p4info));
      const cookie = programCookie(next);
      const t0 = performance.now();
      let r: PolicyChangeResult;
      try {
        r = sameShape
          ? await ctl.replacePolicy({ plan: next.plan, policy, staticEntries: { from: cur.entries, to: next.entries } })
          : await ctl.replacePolicy({
              plan: next.plan,
              policy,
              reinstall: true,
              prepare: async () => {
                // SetForwardingPipelineConfig empties every table (docs/p4-target-interfaces.md §4.12).
                await c.setPipeline({ p4info: next.p4info, deviceConfig: next.json, cookie }, 'VERIFY_AND_COMMIT', { deadlineMs: Math.max(o.rpcTimeoutMs, 30_000) });
                this.counts.pipelinePushes++;
                this.device.setProgram(next);
                await installStaticEntries(c, next, false, o.rpcTimeoutMs);
              },
            });
      } catch (e) {
        if ((e as { code?: string }).code === 'CTO_CONTROLLER_POLICY_WRITE' || !sameShape) {
          // The switch may hold part of the change: rebuild it for the running program as after
          // a lost session (pipeline attached or pushed, static entries reconciled, resync).
          this.device.setProgram(cur);
          this.lost(c, `policy change failed half-way (${(e as Error).message}); restoring the running policy`);
        }
        throw e;
      }
      o.program = next;
      o.policy = policy;
      this.cookie = cookie;
      this.device.setProgram(next);
      this.counts.policyReloads++;
      const ms = performance.now() - t0;
      return { pipeline: sameShape ? 'kept' : 'pushed', ms, ...r };
    } catch (e) {
      this.counts.policyReloadsFailed++;
      throw e;
    }
  }

  // ----------------------------------------------------------------------------------- stop

  /**
   * Stop (idempotent): clock off, then the on-exit policy for the conntrack entries, bounded by
   * `stopTimeoutMs`; the session is closed. Resolves with how it ended (also `done`).
   */
  stop(onExit: OnExit = 'keep', stopTimeoutMs = 10_000): Promise<DaemonEnd> {
    if (this.stopping) return this.stopping;
    this.stopping = (async (): Promise<DaemonEnd> => {
      const o = this.o;
      const wasFailed = this.state === 'failed';
      this.state = 'stopping';
      if (this.tickTimer) clearTimeout(this.tickTimer);
      this.pending?.close();
      o.log('info', `stopping (on-exit ${onExit})`);
      let incomplete: string | undefined;
      const work = (async (): Promise<void> => {
        await this.ticking.catch(() => undefined);
        const ctl = this.ctl;
        if (!ctl) return;
        const st = ctl.status();
        if (onExit === 'keep') {
          o.log('info', `leaving ${st.entriesInstalled} conntrack entr${st.entriesInstalled === 1 ? 'y' : 'ies'} of ${st.connectionsOffloaded} connection(s) in hardware (on-exit keep)`);
          return;
        }
        if (!this.device.connected) {
          incomplete = `cannot flush ${st.entriesInstalled} conntrack entries: no P4Runtime session`;
          return;
        }
        const del0 = st.writes.delete + st.failures.deleteNotFound;
        await ctl.reset();
        const after = ctl.status();
        const deleted = after.writes.delete + after.failures.deleteNotFound - del0;
        o.log('info', `flushed ${deleted} of ${st.entriesInstalled} conntrack entries (on-exit flush)`);
        if (deleted < st.entriesInstalled) incomplete = `flushed only ${deleted} of ${st.entriesInstalled} conntrack entries`;
      })();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        work.then(
          () => false,
          (e: unknown) => {
            incomplete = `on-exit ${onExit} failed: ${(e as Error).message}`;
            return false;
          },
        ),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), stopTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) incomplete = `on-exit ${onExit} did not finish within ${stopTimeoutMs} ms`;
      if (incomplete) o.log('error', incomplete);
      await this.shutdown();
      this.state = 'stopped';
      o.log('info', 'stopped');
      const end: DaemonEnd = wasFailed ? { how: 'failed' } : { how: 'stopped' };
      if (incomplete) end.incomplete = incomplete;
      this.settle(end);
      return end;
    })();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.device.close();
    // Bounded, and the timer must not keep the process alive once close() won.
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.ctl?.close(), new Promise<void>((r) => (t = setTimeout(r, 2000)))]);
    clearTimeout(t);
    c?.close();
  }

  // --------------------------------------------------------------------------------- status

  status(): DaemonStatus {
    const o = this.o;
    return {
      state: this.state,
      connected: this.device.connected,
      address: o.address,
      deviceId: o.deviceId.toString(),
      electionId: fmtId(o.electionId),
      cookie: `0x${this.cookie.toString(16)}`,
      pipeline: this.lastPipeline,
      pipelinePushes: this.counts.pipelinePushes,
      reconnects: this.counts.reconnects,
      lastRecoveryMs: this.lastRecoveryMs,
      lastResyncEntries: this.lastResyncEntries,
      sessionFailures: this.counts.sessionFailures,
      staleEntriesDeleted: this.counts.staleEntriesDeleted,
      policyReloads: this.counts.policyReloads,
      policyReloadsFailed: this.counts.policyReloadsFailed,
      packetOutsLost: this.device.packetOutsLost,
      uptimeS: (performance.now() - this.started) / 1000,
      controller: this.ctl?.status(),
    };
  }
}

/** What a policy change did (`ControllerDaemon.replacePolicy`). */
export interface PolicyReload extends PolicyChangeResult {
  /** 'kept': same program, policy tables rewritten; 'pushed': a new pipeline (its shape changed). */
  pipeline: 'kept' | 'pushed';
  ms: number;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

interface Session {
  client: P4RuntimeClient;
  pipeline: PipelineOutcome;
}

export { DaemonTargetError };
