/**
 * Packet I/O through bmv2's dataplane gRPC service (`--dp-grpc-server-addr`, docs/p4-target-interfaces.md §5.3).
 *
 * Exactness comes from two facts of the service:
 * - ids: a packet sent with a non-zero `id` has every output copy (unicast, multicast, clones,
 *   recirculations) returned with the same id;
 * - the half-close barrier: when the client half-closes `PacketStream`, the server waits until no
 *   packet is alive anywhere in bmv2 and only then ends the RPC with OK, so by then every output of
 *   every packet sent on that stream has arrived. A packet with no output by OK was dropped —
 *   known exactly, without sleeping.
 *
 * Rules this module follows (and callers must know):
 * - One PacketStream at a time per switch (a second one is refused), and output produced while
 *   no stream is open is discarded: every operation here runs under one lock, on its own stream,
 *   and opens the stream before sending.
 * - Egress queues drop silently past 64 packets (docs/p4-target-interfaces.md §5.3, the one silent-loss point): at most
 *   `window` (default 32, capped at 32) packets are in flight.
 * - PacketOuts injected through P4Runtime while id-tracked dataplane traffic is in flight get
 *   mislabelled ids, both ways (docs/p4-target-interfaces.md §5.3, observed). RULE: inject PacketOuts only inside
 *   `channel.exclusive(fn)` or `channel.captureUntracked(fn)`, which hold the lock so no
 *   dataplane packet is in flight meanwhile. A PacketOut travels on another connection and has no
 *   acknowledgement, so the dataplane barrier cannot tell whether it has been injected yet:
 *   `captureUntracked` waits for `expectOutputs` outputs before its barrier.
 * - Before a pipeline is loaded PacketStream answers UNAVAILABLE "not ready"; streams are retried
 *   until `readyDeadlineMs`.
 * - When the switch process dies, every pending operation fails with CTO_BMV2_EXIT (log tail
 *   included) as soon as the exit is seen.
 */
import * as grpc from '@grpc/grpc-js';
import { P4Error, codeName } from './errors.js';
import { makeGrpcClient, type ServiceClient } from './proto.js';
import type { Bmv2Switch } from './bmv2.js';

/** One output copy of a packet. */
export interface PacketOutput {
  /** Egress port. */
  port: number;
  bytes: Uint8Array;
}

/** Everything one injected packet produced, known exactly (after a drain barrier). */
export interface PacketResult {
  /** Dataplane id the packet was sent with (unique per channel). */
  id: bigint;
  /** Ingress port. */
  port: number;
  /** Output copies in arrival order; empty = the packet was dropped (or went to the CPU port). */
  outputs: PacketOutput[];
}

export interface PacketToSend {
  port: number;
  frame: Uint8Array;
}

/** A dataplane RPC failed for another reason than the switch dying. */
export class DataplaneError extends P4Error {
  constructor(
    message: string,
    readonly grpcCode?: number,
  ) {
    super('CTO_DATAPLANE', message);
  }
}

export interface DataplaneTarget {
  address: string;
  deviceId: bigint | number;
}

export interface DataplaneOptions {
  /** How long to retry a stream refused with UNAVAILABLE (no pipeline yet). Default 10 000 ms. */
  readyDeadlineMs?: number;
  /** Deadline of one stream (one batch). Default 60 000 ms. */
  streamDeadlineMs?: number;
}

/** Largest window: half the 64-packet egress queue (docs/p4-target-interfaces.md §5.3). */
export const MAX_WINDOW = 32;

type Duplex = grpc.ClientDuplexStream<object, { id?: bigint; port?: number; packet?: Uint8Array }>;

interface StreamRun {
  /** Write one request; resolves when grpc-js accepted it (respects backpressure). */
  write(id: bigint, port: number, frame: Uint8Array): Promise<void>;
  /** Half-close and resolve at OK (all outputs delivered), reject on any other status. */
  barrier(): Promise<void>;
  /** Abort (cancels the RPC). */
  cancel(): void;
  /** True once any response arrived (a retry would then duplicate packets). */
  readonly gotData: boolean;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class DataplaneChannel {
  readonly address: string;
  readonly deviceId: bigint;
  /** Outputs that carried an id this channel did not send (id 0: PacketOuts, or stale ids). */
  readonly untracked: PacketOutput[] = [];
  /** Counts since opening. */
  readonly stats = { packets: 0, outputs: 0, streams: 0, barriers: 0, retries: 0 };

  private readonly client: ServiceClient;
  private readonly sw: Bmv2Switch | undefined;
  private readonly readyDeadlineMs: number;
  private readonly streamDeadlineMs: number;
  private nextId = 1n;
  private lock: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly openStreams = new Set<Duplex>();

  constructor(target: Bmv2Switch | DataplaneTarget, opts: DataplaneOptions = {}) {
    if ('grpcAddress' in target) {
      if (!target.dataplaneAddress) throw new DataplaneError(`switch (pid ${target.pid}) was started without the dataplane service (packetIo '${target.packetIo}')`);
      this.sw = target;
      this.address = target.dataplaneAddress;
      this.deviceId = target.deviceId;
    } else {
      this.address = target.address;
      this.deviceId = BigInt(target.deviceId);
    }
    this.readyDeadlineMs = opts.readyDeadlineMs ?? 10_000;
    this.streamDeadlineMs = opts.streamDeadlineMs ?? 60_000;
    // A connection of its own; no retries (a re-sent PacketStream would re-inject packets).
    this.client = makeGrpcClient('p4.bm.DataplaneInterface', this.address, {
      channelOptions: { 'grpc.use_local_subchannel_pool': 1, 'grpc.enable_retries': 0 },
    });
  }

  /** Run `fn` alone: no other operation of this channel (hence no dataplane packet) in flight. */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.closed) return Promise.reject(new DataplaneError('dataplane channel closed'));
    const run = this.lock.then(() => this.guard(Promise.resolve().then(fn)));
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Empty stream + barrier, retried while the service answers "not ready". */
  ready(): Promise<void> {
    return this.exclusive(() => this.withStream(async (s) => s.barrier()));
  }

  /** Send one packet and return everything it produced (one stream, one barrier). */
  async send(port: number, frame: Uint8Array): Promise<PacketResult> {
    return (await this.sendBatch([{ port, frame }]))[0]!;
  }

  /**
   * Exact lock-step mode: packets go in groups of ≤ `window` (default 32), each group on its own
   * stream ended by the barrier, so at most `window` packets are ever in bmv2 and every result
   * is exact. Results in input order.
   */
  async sendBatch(packets: readonly PacketToSend[], opts: { window?: number } = {}): Promise<PacketResult[]> {
    const window = clampWindow(opts.window);
    return this.exclusive(async () => {
      const out: PacketResult[] = [];
      for (let i = 0; i < packets.length; i += window) {
        const group = packets.slice(i, i + window);
        const results = group.map((p) => this.newResult(p.port));
        const byId = new Map(results.map((r) => [r.id, r]));
        await this.withStream(async (s) => {
          for (let j = 0; j < group.length; j++) await s.write(results[j]!.id, group[j]!.port, group[j]!.frame);
          await s.barrier();
        }, byId);
        out.push(...results);
      }
      return out;
    });
  }

  /**
   * Windowed streaming mode for throughput: one stream, at most `window` (≤ 32) packets in
   * flight. A packet stops counting as in flight when an output with its id or a later id
   * arrives (bmv2 has one ingress thread fed in order, so a later packet's output means this one
   * has left the ingress pipeline). When the window stays full for `stallMs` (a tail of
   * dropped packets produces nothing to wait for) the stream is drained with the barrier and a
   * new one opened. The timer only decides when to drain; every result is still exact, as the
   * last barrier settles everything. Results in input order.
   */
  async sendWindowed(packets: readonly PacketToSend[], opts: { window?: number; stallMs?: number } = {}): Promise<PacketResult[]> {
    const window = clampWindow(opts.window);
    const stallMs = opts.stallMs ?? 5;
    return this.exclusive(async () => {
      const results = packets.map((p) => this.newResult(p.port));
      const byId = new Map(results.map((r) => [r.id, r]));
      let i = 0;
      while (i < packets.length) {
        // One stream per round; a round ends at a stall or at the end.
        const roundStart = i;
        let watermark = -1; // index in `results` of the highest id seen in an output
        let wake: (() => void) | undefined;
        const onOutput = (id: bigint): void => {
          const r = byId.get(id);
          if (!r) return;
          const idx = Number(id - results[0]!.id);
          if (idx > watermark) watermark = idx;
          wake?.();
        };
        await this.withStream(async (s) => {
          // Re-run from the round's start if the stream was refused "not ready" (nothing sent).
          i = roundStart;
          const base = i;
          while (i < packets.length) {
            while (i - Math.max(watermark + 1, base) >= window) {
              const progressed = await new Promise<boolean>((resolve) => {
                const t = setTimeout(() => resolve(false), stallMs);
                wake = () => {
                  clearTimeout(t);
                  resolve(true);
                };
              });
              wake = undefined;
              if (!progressed && i - Math.max(watermark + 1, base) >= window) {
                await s.barrier();
                return; // next round on a new stream
              }
            }
            await s.write(results[i]!.id, packets[i]!.port, packets[i]!.frame);
            i++;
          }
          await s.barrier();
        }, byId, onOutput);
      }
      return results;
    });
  }

  /**
   * Open a stream, run `fn` (which injects packets by other means, e.g. P4Runtime PacketOuts),
   * wait until `expectOutputs` untracked outputs arrived (default 0: the PacketOut may not even
   * have been injected when the barrier runs — see the module comment), then drain with the
   * barrier. Returns the untracked outputs seen on that stream. Runs under the lock, so no
   * id-tracked packet is in flight (no mislabelling, docs/p4-target-interfaces.md §5.3).
   * Limit: bmv2 registers a new stream asynchronously and sends nothing that would confirm it
   * (no response headers before the first output), so output produced within the first moment
   * after the stream is opened could still be discarded (docs/p4-target-interfaces.md §5.3: no stream, no output). For
   * dataplane-visible results, prefer injecting on the dataplane itself.
   */
  captureUntracked(fn: () => Promise<void> | void, opts: { expectOutputs?: number; deadlineMs?: number } = {}): Promise<PacketOutput[]> {
    const expect = opts.expectOutputs ?? 0;
    const deadlineMs = opts.deadlineMs ?? 5000;
    return this.exclusive(async () => {
      const seen: PacketOutput[] = [];
      let wake: (() => void) | undefined;
      await this.withStream(
        async (s) => {
          await fn();
          const deadline = Date.now() + deadlineMs;
          while (seen.length < expect) {
            const left = deadline - Date.now();
            if (left <= 0) break;
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, left);
              wake = () => {
                clearTimeout(t);
                resolve();
              };
            });
            wake = undefined;
          }
          await s.barrier();
        },
        new Map(),
        undefined,
        (o) => {
          seen.push(o);
          wake?.();
        },
      );
      return seen;
    });
  }

  /** `SetPortOperStatus` (docs/p4-target-interfaces.md §5.3): up/down notify bmv2's port monitor. */
  setPortOperStatus(port: number, up: boolean): Promise<void> {
    return this.guard(
      new Promise<void>((resolve, reject) => {
        const fn = this.client.SetPortOperStatus as (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void;
        fn.call(this.client, { deviceId: this.deviceId, port, operStatus: up ? 'OPER_STATUS_UP' : 'OPER_STATUS_DOWN' }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err) =>
          err ? reject(new DataplaneError(`SetPortOperStatus: ${codeName(err.code)}: ${err.details}`, err.code)) : resolve(),
        );
      }),
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.openStreams) s.cancel();
    this.client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private newResult(port: number): PacketResult {
    const id = this.nextId++;
    return { id, port, outputs: [] };
  }

  /** `p`, failing with CTO_BMV2_EXIT as soon as the switch (if known) exits. */
  private guard<T>(p: Promise<T>): Promise<T> {
    return this.sw ? this.sw.guard(p, 'during dataplane packet I/O') : p;
  }

  /**
   * Run `body` on a fresh PacketStream. Outputs whose id is in `byId` are appended to that
   * result; others go to `untracked` (and `onUntracked`). Retries while the service is not ready,
   * as long as nothing was received.
   */
  private async withStream(
    body: (s: StreamRun) => Promise<void>,
    byId: Map<bigint, PacketResult> = new Map(),
    onOutput?: (id: bigint) => void,
    onUntracked?: (o: PacketOutput) => void,
  ): Promise<void> {
    const readyDeadline = Date.now() + this.readyDeadlineMs;
    for (;;) {
      if (this.closed) throw new DataplaneError('dataplane channel closed');
      const s = this.openStream(byId, onOutput, onUntracked);
      try {
        await body(s);
        return;
      } catch (e) {
        s.cancel();
        const code = (e as DataplaneError).grpcCode;
        if (code === grpc.status.UNAVAILABLE && !s.gotData && Date.now() < readyDeadline && !this.sw?.exit) {
          // "not ready": no pipeline yet (docs/p4-target-interfaces.md §5.2), or the server is still starting.
          this.stats.retries++;
          await sleep(20);
          continue;
        }
        if (this.sw && (e as P4Error).code !== 'CTO_BMV2_EXIT') {
          const dead = await this.sw.deathCause(300, 'during dataplane packet I/O');
          if (dead) throw dead;
        }
        throw e;
      }
    }
  }

  private openStream(byId: Map<bigint, PacketResult>, onOutput?: (id: bigint) => void, onUntracked?: (o: PacketOutput) => void): StreamRun {
    const call = (this.client.PacketStream as (m: grpc.Metadata, o: grpc.CallOptions) => Duplex).call(this.client, new grpc.Metadata(), {
      deadline: Date.now() + this.streamDeadlineMs,
    });
    this.openStreams.add(call);
    this.stats.streams++;
    let gotData = false;
    let ended = false;
    let status: grpc.StatusObject | undefined;
    let failure: DataplaneError | undefined;
    let settle: (() => void) | undefined;
    const done = new Promise<void>((resolve) => (settle = resolve));
    const finish = (): void => {
      // OK needs both: the status and the end of the read side (all data consumed).
      if (status && (ended || status.code !== grpc.status.OK)) {
        this.openStreams.delete(call);
        settle!();
      }
    };
    call.on('data', (res: { id?: bigint; port?: number; packet?: Uint8Array }) => {
      gotData = true;
      this.stats.outputs++;
      const id = res.id ?? 0n;
      const out: PacketOutput = { port: res.port ?? 0, bytes: res.packet ?? new Uint8Array(0) };
      const r = byId.get(id);
      if (r) {
        r.outputs.push(out);
        onOutput?.(id);
      } else {
        this.untracked.push(out);
        onUntracked?.(out);
      }
    });
    call.on('end', () => {
      ended = true;
      finish();
    });
    call.on('error', () => {
      // Reported through 'status' as well; listening keeps grpc-js from throwing.
    });
    call.on('status', (st: grpc.StatusObject) => {
      status = st;
      if (st.code !== grpc.status.OK) failure = new DataplaneError(`PacketStream: ${codeName(st.code)}${st.details ? `: ${st.details}` : ''}`, st.code);
      finish();
    });
    const failed = done.then(() => {
      if (failure) throw failure;
    });
    failed.catch(() => undefined);
    const deviceId = this.deviceId;
    const stats = this.stats;
    return {
      get gotData() {
        return gotData;
      },
      write: async (id, port, frame) => {
        if (frame.length === 0) throw new DataplaneError('empty packet (bmv2 ignores it silently)');
        if (status) return failed; // ended early: report why
        stats.packets++;
        const ok = call.write({ id, deviceId, port, packet: frame });
        if (!ok) await Promise.race([new Promise<void>((r) => call.once('drain', () => r())), failed]);
      },
      barrier: async () => {
        stats.barriers++;
        if (!status) call.end();
        await failed;
      },
      cancel: () => {
        if (!status) call.cancel();
        this.openStreams.delete(call);
      },
    };
  }
}

function clampWindow(w: number | undefined): number {
  const n = Math.floor(w ?? MAX_WINDOW);
  if (!(n >= 1)) throw new DataplaneError(`window must be ≥ 1, got ${w}`);
  return Math.min(n, MAX_WINDOW);
}

/**
 * Open the dataplane channel of a switch (or of an address + device id) and check it with an
 * empty stream and barrier, retrying while bmv2 answers "not ready" (no pipeline loaded yet).
 */
export async function openDataplane(target: Bmv2Switch | DataplaneTarget, opts: DataplaneOptions & { waitReady?: boolean } = {}): Promise<DataplaneChannel> {
  const ch = new DataplaneChannel(target, opts);
  if (opts.waitReady ?? true) {
    try {
      await ch.ready();
    } catch (e) {
      ch.close();
      throw e;
    }
  }
  return ch;
}
