/**
 * The controller's device for a daemon whose P4Runtime session comes and goes: one
 * ControllerDevice that lives as long as the SlowPathController, delegating to the session of
 * the moment (offload/controller-p4rt.ts `p4runtimeDevice` over a P4RuntimeClient). A lost
 * session is replaced by a new client (fresh gRPC channels: a channel whose server went away
 * backs off for seconds before it reconnects, docs/p4-target-interfaces.md §5.2), so the controller
 * never sees the swap:
 *
 * - PacketIns of every session are pumped into one queue, in arrival order.
 * - While no session is primary, writes fail per op with UNAVAILABLE (known not applied: the
 *   controller keeps the connection in the slow path, and the daemon's resync after the
 *   reconnect writes it again), PacketOuts are dropped and counted (the switch cannot take
 *   them; PacketIns go to the primary only, §4.1, so none arrive meanwhile either).
 * - Idle-timeout notifications (§4.10) are drained for the controller (keys) and kept for the
 *   daemon, which deletes entries the controller does not own when the switch reports them
 *   idle (entries left by an earlier controller, `--on-exit keep`).
 */
import { BoundedQueue, P4RuntimeClient, describeTableEntry, type TableEntry } from '../../p4/index.js';
import { STATUS_RESOURCE_EXHAUSTED, STATUS_UNKNOWN, entryKey, type ControllerDevice, type EntryHits, type EntryOp, type OpFailure, type RawPacketIn } from '../controller/index.js';
import { p4runtimeDevice } from '../controller/index.js';
import { matchSpecOf, type DaemonProgram } from './pipeline.js';

/** google.rpc.Code UNAVAILABLE: the op was not sent (no session). */
export const STATUS_UNAVAILABLE = 14;

export class SessionDevice implements ControllerDevice {
  readonly packetIns: BoundedQueue<RawPacketIn>;
  /** PacketOuts the controller sent while no session could take them. */
  packetOutsLost = 0;
  /** INSERTs the switch refused as a full table would (cheap to watch; status() walks the model). */
  insertsRefused = 0;
  /** Idle notifications since the last `takeIdle`, by controller key (raw entry for a DELETE). */
  private readonly idle = new Map<string, TableEntry>();
  private client: P4RuntimeClient | undefined;
  private inner: ControllerDevice | undefined;

  constructor(
    private program: DaemonProgram,
    private readonly deadlineMs: number,
    queueCapacity = 4096,
    private readonly onPacketOutLost: (why: string) => void = () => undefined,
  ) {
    this.packetIns = new BoundedQueue(queueCapacity);
  }

  /** The session of the moment (undefined while reconnecting). */
  get session(): P4RuntimeClient | undefined {
    return this.client;
  }

  get connected(): boolean {
    return !!this.client?.isPrimary;
  }

  /** Use `client` from now on; its PacketIns are pumped into `packetIns` until it closes. */
  attach(client: P4RuntimeClient): void {
    this.client = client;
    this.inner = p4runtimeDevice(client, this.program.p4info, { deadlineMs: this.deadlineMs });
    void (async () => {
      for await (const p of client.packetIns) this.packetIns.push(p);
    })().catch(() => undefined);
  }

  /**
   * Run `program` from now on (a policy change; a new pipeline was pushed when its P4Info
   * differs): entries and notifications are named through its P4Info.
   */
  setProgram(program: DaemonProgram): void {
    this.program = program;
    if (this.client) this.inner = p4runtimeDevice(this.client, program.p4info, { deadlineMs: this.deadlineMs });
  }

  /** No session until the next `attach` (the old client is closed by its owner). */
  detach(): void {
    this.client = undefined;
    this.inner = undefined;
  }

  /** End: the controller's serve loop finishes once the queue is drained. */
  close(): void {
    this.detach();
    this.packetIns.close();
  }

  async write(ops: EntryOp[]): Promise<OpFailure[]> {
    const d = this.inner;
    if (!d || !this.connected) return ops.map((_, index) => ({ index, code: STATUS_UNAVAILABLE, message: 'no P4Runtime session (reconnecting)' }));
    const fails = await d.write(ops);
    // Table full: RESOURCE_EXHAUSTED by the spec, UNKNOWN on PI (offload/controller.ts).
    for (const f of fails) if (ops[f.index]?.type === 'INSERT' && (f.code === STATUS_RESOURCE_EXHAUSTED || f.code === STATUS_UNKNOWN)) this.insertsRefused++;
    return fails;
  }

  packetOut(payload: Uint8Array, metadata: Record<string, bigint>): void {
    try {
      if (!this.inner || !this.connected) throw new Error('no P4Runtime session (reconnecting)');
      this.inner.packetOut(payload, metadata);
    } catch (e) {
      this.packetOutsLost++;
      this.onPacketOutLost((e as Error).message);
    }
  }

  readHits(tables: string[]): Promise<EntryHits[]> {
    const d = this.inner;
    if (!d?.readHits) return Promise.reject(new Error('no P4Runtime session (reconnecting)'));
    return d.readHits(tables);
  }

  pollIdleTimeouts(): string[] {
    const c = this.client;
    if (!c) return [];
    const keys: string[] = [];
    for (let ev = c.idleTimeouts.poll(); ev; ev = c.idleTimeouts.poll()) {
      for (const raw of ev.entries) {
        let key: string;
        try {
          const d = describeTableEntry(this.program.p4info, raw);
          key = entryKey(d.table, matchSpecOf(d));
        } catch {
          continue; // an entry the P4Info cannot name: not ours to judge
        }
        keys.push(key);
        if (this.idle.size < 65536) this.idle.set(key, raw);
      }
    }
    return keys;
  }

  /** Idle notifications kept since the last call (see top). */
  takeIdle(): Map<string, TableEntry> {
    const m = new Map(this.idle);
    this.idle.clear();
    return m;
  }
}
