/**
 * P4Runtime client on @grpc/grpc-js + protobufjs (P4Runtime spec; docs/p4-target-interfaces.md
 * §1, §3, §4, §6).
 *
 * - Session: one StreamChannel, opened on its own gRPC connection (a local subchannel pool),
 *   so that a unary call wedged by an oversized error trailer cannot take the arbitration
 *   stream down with it (docs/p4-target-interfaces.md §3). Arbitration follows spec §5 through ArbitrationState.
 * - Reconnect: if the stream ends while we did not ask for it, a new stream (on a new channel,
 *   avoiding gRPC's connection backoff, docs/p4-target-interfaces.md §5.2) is opened with backoff and arbitration is
 *   re-sent, until close(). Primaryship is lost meanwhile (`isPrimary` false, events say so).
 * - Write and SetForwardingPipelineConfig carry our election id and are refused locally when we
 *   are not primary (the server would answer PERMISSION_DENIED "Not primary", §4.2).
 * - Writes are split into batches of ≤ 500 updates and per-update errors are decoded from
 *   `grpc-status-details-bin` into WriteBatchError (p4/write-error.ts).
 * - Stream messages are sorted by kind into bounded queues (p4/stream.ts), also emitted as events.
 * - Every unary call and Read has a deadline; connect has a deadline; nothing waits forever.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { ArbitrationState, toUint128, type ArbitrationEvent, type ElectionId } from './arbitration.js';
import { decodeDigestList, decodePacketIn, describeTableEntry, packetOut, type DecodedDigestList, type DecodedPacketIn, type DecodedTableEntry } from './entities.js';
import type { P4Value } from './bytes.js';
import { P4Error, P4RuntimeNotPrimaryError, P4RuntimeRpcError, P4RuntimeStreamError, P4RuntimeTimeoutError, codeName } from './errors.js';
import type {
  DigestList,
  Entity,
  ForwardingPipelineConfig,
  IdleTimeoutNotification,
  PacketIn,
  PacketOut,
  PipelineAction,
  PipelineResponseType,
  StreamError,
  StreamMessageRequest,
  StreamMessageResponse,
  TableEntry,
  Update,
} from './messages.js';
import { P4InfoIndex, type P4InfoSource } from './p4info.js';
import { makeGrpcClient, type ServiceClient } from './proto.js';
import { BoundedQueue } from './stream.js';
import { DEFAULT_WRITE_BATCH, writeInBatches, type WriteResult } from './write-error.js';

export interface ReconnectPolicy {
  /** First delay before re-opening a lost stream (ms). Default 100. */
  initialMs?: number;
  /** Largest delay (ms); the delay doubles per failed attempt. Default 2000. */
  maxMs?: number;
}

export interface ConnectOptions {
  /** Non-zero device id (bmv2 `--device-id`). */
  deviceId: bigint | number;
  /** 128-bit election id: the highest live one is primary (spec §5). */
  electionId: ElectionId;
  /** Role name; omit for the default role (PI ignores roles, docs/p4-target-interfaces.md §4.1). */
  role?: string;
  /** Deadline for connect: stream open + first arbitration answer. Default 10 000 ms. */
  deadlineMs?: number;
  /** Default deadline of every unary call and Read. Default 10 000 ms. */
  rpcDeadlineMs?: number;
  /** Re-open the stream when it breaks. Default on; `false` to disable. */
  reconnect?: boolean | ReconnectPolicy;
  /** Capacity of each stream-message queue (oldest dropped when full). Default 1024. */
  queueCapacity?: number;
  /** Ack every DigestList as soon as it is queued (spec §9.8). Default true. */
  autoAckDigests?: boolean;
  /** P4Info for names in packet I/O, digests and idle notifications (set by setPipeline too). */
  p4info?: P4InfoIndex;
  channelOptions?: Partial<grpc.ChannelOptions>;
}

export interface PacketInEvent extends DecodedPacketIn {
  raw: PacketIn;
}

export interface DigestEvent extends DecodedDigestList {
  raw: DigestList;
}

export interface IdleTimeoutEvent {
  entries: TableEntry[];
  /** Entries by name, when the P4Info is known. */
  decoded?: DecodedTableEntry[];
  timestamp: bigint;
}

export interface PipelineConfig {
  /** The P4Info: an index, or binary / JSON / text P4Info. */
  p4info?: P4InfoIndex | P4InfoSource;
  /** Target config; for bmv2, the bytes of the bmv2 JSON. */
  deviceConfig?: Uint8Array;
  cookie?: bigint;
}

export interface PipelineReply {
  p4info?: P4InfoIndex;
  deviceConfig?: Uint8Array;
  cookie?: bigint;
  raw: ForwardingPipelineConfig | undefined;
}

export interface WriteOptions {
  /** Updates per Write RPC, 1..500 (default 400, docs/p4-target-interfaces.md §3). */
  batchSize?: number;
  /** Deadline per Write RPC (ms). */
  deadlineMs?: number;
}

const STREAM_CHANNEL_OPTIONS: Partial<grpc.ChannelOptions> = {
  // A connection of its own for the session stream (grpc-js otherwise shares subchannels
  // between clients with the same target and options).
  'grpc.use_local_subchannel_pool': 1,
  // No client keepalive pings: gRPC C-core servers (PI) answer pings more frequent than every
  // 5 min on an idle connection with GOAWAY "too_many_pings", which would end the session.
};

type Call = grpc.ClientDuplexStream<StreamMessageRequest, StreamMessageResponse>;

/** Unary call with a deadline; rejects with the raw grpc-js error. */
function unaryRaw<T>(client: ServiceClient, method: string, req: object, deadlineMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fn = client[method] as (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: T) => void) => void;
    fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

function rpcError(method: string, err: unknown): P4Error {
  if (err instanceof P4Error) return err;
  const e = err as grpc.ServiceError;
  return new P4RuntimeRpcError(method, typeof e.code === 'number' ? e.code : 2, e.details ?? String(e.message ?? err), { cause: err });
}

export class P4RuntimeClient extends EventEmitter {
  readonly address: string;
  readonly deviceId: bigint;
  readonly arbitration: ArbitrationState;
  /** P4Info used for names (PacketIn/Out, digests, idle notifications). */
  p4info: P4InfoIndex | undefined;

  /** Stream messages by kind (bounded; `dropped` counts overflow). */
  readonly packetIns: BoundedQueue<PacketInEvent>;
  readonly digests: BoundedQueue<DigestEvent>;
  readonly idleTimeouts: BoundedQueue<IdleTimeoutEvent>;
  readonly streamErrors: BoundedQueue<StreamError>;
  readonly arbitrationUpdates: BoundedQueue<ArbitrationEvent>;

  private readonly rpcDeadlineMs: number;
  private readonly reconnect: Required<ReconnectPolicy> | null;
  private readonly autoAck: boolean;
  private readonly channelOptions: Partial<grpc.ChannelOptions>;
  private readonly rpc: ServiceClient;
  private streamClient: ServiceClient | undefined;
  private call: Call | undefined;
  private closing = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoffMs = 0;
  private readonly droppedCalls = new WeakSet<Call>();
  private firstArbitration: { resolve(ev: ArbitrationEvent): void; reject(e: unknown): void } | undefined;

  private constructor(address: string, opts: ConnectOptions) {
    super();
    this.address = address;
    this.deviceId = BigInt(opts.deviceId);
    this.arbitration = new ArbitrationState(this.deviceId, opts.electionId, opts.role ?? '');
    this.p4info = opts.p4info;
    this.rpcDeadlineMs = opts.rpcDeadlineMs ?? 10_000;
    const r = opts.reconnect ?? true;
    this.reconnect = r === false ? null : { initialMs: 100, maxMs: 2000, ...(r === true ? {} : r) };
    this.autoAck = opts.autoAckDigests ?? true;
    this.channelOptions = opts.channelOptions ?? {};
    const cap = opts.queueCapacity ?? 1024;
    this.packetIns = new BoundedQueue(cap);
    this.digests = new BoundedQueue(cap);
    this.idleTimeouts = new BoundedQueue(cap);
    this.streamErrors = new BoundedQueue(cap);
    this.arbitrationUpdates = new BoundedQueue(cap);
    // No transparent retries: a Write is not idempotent (a re-sent INSERT would come back
    // ALREADY_EXISTS), and docs/p4-target-interfaces.md §3 saw a retry after the grpc-js trailer hang.
    this.rpc = makeGrpcClient('p4.v1.P4Runtime', address, { channelOptions: { 'grpc.enable_retries': 0, ...this.channelOptions } });
  }

  /**
   * Open the session: StreamChannel + arbitration, retrying while the server is unavailable,
   * until the first arbitration answer (primary or backup) or the deadline.
   */
  static async connect(address: string, opts: ConnectOptions): Promise<P4RuntimeClient> {
    const c = new P4RuntimeClient(address, opts);
    const deadline = Date.now() + (opts.deadlineMs ?? 10_000);
    try {
      await c.establish(deadline);
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  get isPrimary(): boolean {
    return this.arbitration.isPrimary;
  }

  get electionId(): bigint {
    return this.arbitration.electionId;
  }

  /** Wait until we are primary (or throw after `timeoutMs`). */
  async waitPrimary(timeoutMs = 10_000): Promise<void> {
    if (this.isPrimary) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('arbitration', on);
        reject(new P4RuntimeTimeoutError(`not primary after ${timeoutMs} ms (role ${this.arbitration.role})`));
      }, timeoutMs);
      const on = (ev: ArbitrationEvent): void => {
        if (ev.role === 'primary') {
          clearTimeout(t);
          this.off('arbitration', on);
          resolve();
        }
      };
      this.on('arbitration', on);
    });
  }

  /** Re-arbitrate on the open stream with another election id. */
  setElectionId(id: ElectionId): void {
    this.send({ arbitration: this.arbitration.request(id) });
  }

  private async establish(deadline: number): Promise<void> {
    let delay = this.reconnect?.initialMs ?? 100;
    for (;;) {
      if (this.closing) throw new P4RuntimeStreamError('client closed while connecting', grpc.status.CANCELLED);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new P4RuntimeTimeoutError(`P4Runtime ${this.address}: no arbitration answer before the deadline`);
      try {
        await this.openStream(remaining);
        return;
      } catch (e) {
        if (this.closing) throw e;
        // Server not (yet) listening: retry on a new channel. Anything else (duplicate
        // election id, too many streams…) is final.
        const code = (e as P4RuntimeStreamError).grpcCode;
        if (!(e instanceof P4RuntimeStreamError) || (code !== grpc.status.UNAVAILABLE && code !== grpc.status.DEADLINE_EXCEEDED && code !== grpc.status.CANCELLED)) throw e;
        if (e instanceof P4RuntimeStreamError && code === grpc.status.DEADLINE_EXCEEDED && Date.now() >= deadline) {
          throw new P4RuntimeTimeoutError(`P4Runtime ${this.address}: ${e.message}`);
        }
        await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
        delay = Math.min(delay * 2, this.reconnect?.maxMs ?? 2000);
      }
    }
  }

  /** Open a stream on a fresh channel, send arbitration, resolve at the first answer. */
  private openStream(timeoutMs: number): Promise<ArbitrationEvent> {
    this.dropStream();
    const client = makeGrpcClient('p4.v1.P4Runtime', this.address, { channelOptions: { ...this.channelOptions, ...STREAM_CHANNEL_OPTIONS } });
    this.streamClient = client;
    const call = (client.StreamChannel as () => Call).call(client);
    this.call = call;
    let ended = false;
    const onEnd = (code: number, details: string): void => {
      // A stream we dropped ourselves (timeout, close, replacement) is not a session loss.
      if (ended || this.droppedCalls.has(call)) return;
      ended = true;
      if (this.call === call) this.call = undefined;
      this.streamEnded(code, details);
    };
    call.on('data', (msg: StreamMessageResponse) => this.dispatch(msg));
    call.on('error', (err: grpc.ServiceError) => onEnd(err.code ?? grpc.status.UNKNOWN, err.details ?? err.message));
    call.on('status', (st: grpc.StatusObject) => onEnd(st.code, st.details));
    call.on('end', () => onEnd(grpc.status.OK, 'stream ended by the server'));
    return new Promise<ArbitrationEvent>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.firstArbitration = undefined;
        this.dropStream();
        reject(new P4RuntimeStreamError(`no arbitration answer within ${timeoutMs} ms`, grpc.status.DEADLINE_EXCEEDED));
      }, timeoutMs);
      this.firstArbitration = {
        resolve: (ev) => {
          clearTimeout(timer);
          this.backoffMs = 0;
          resolve(ev);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      call.write({ arbitration: this.arbitration.request() });
    });
  }

  private dropStream(): void {
    const call = this.call;
    this.call = undefined;
    if (call) {
      this.droppedCalls.add(call);
      call.removeAllListeners('data');
      call.on('error', () => {});
      call.cancel();
    }
    this.streamClient?.close();
    this.streamClient = undefined;
  }

  private streamEnded(code: number, details: string): void {
    const first = this.firstArbitration;
    this.firstArbitration = undefined;
    if (first) {
      first.reject(new P4RuntimeStreamError(`StreamChannel ended before arbitration: ${codeName(code)} (${code})${details ? `: ${details}` : ''}`, code));
      this.arbitration.onStreamEnd(code, details);
      return;
    }
    if (this.closing) return;
    this.publishArbitration(this.arbitration.onStreamEnd(code, details));
    this.emit('disconnect', { code, message: details });
    if (this.reconnect) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closing || this.reconnectTimer) return;
    const r = this.reconnect!;
    this.backoffMs = this.backoffMs ? Math.min(this.backoffMs * 2, r.maxMs) : r.initialMs;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closing) return;
      this.emit('reconnecting', { delayMs: this.backoffMs });
      this.openStream(Math.max(this.rpcDeadlineMs, 1000)).then(
        () => this.emit('reconnected'),
        () => {
          // openStream's failure already went through streamEnded (or timed out): try again.
          if (!this.call) this.scheduleReconnect();
        },
      );
    }, this.backoffMs);
  }

  private publishArbitration(ev: ArbitrationEvent): void {
    this.arbitrationUpdates.push(ev);
    this.emit('arbitration', ev);
  }

  private dispatch(msg: StreamMessageResponse): void {
    try {
      if (msg.arbitration) {
        const ev = this.arbitration.onUpdate(msg.arbitration);
        this.publishArbitration(ev);
        const first = this.firstArbitration;
        this.firstArbitration = undefined;
        first?.resolve(ev);
      } else if (msg.packet) {
        const d = this.p4info ? decodePacketIn(this.p4info, msg.packet) : { payload: msg.packet.payload ?? new Uint8Array(0), metadata: Object.fromEntries((msg.packet.metadata ?? []).map((m) => [`#${m.metadataId}`, BigInt('0x' + (Buffer.from(m.value ?? []).toString('hex') || '0'))])) };
        const ev: PacketInEvent = { ...d, raw: msg.packet };
        this.packetIns.push(ev);
        this.emit('packetIn', ev);
      } else if (msg.digest) {
        const d = this.p4info
          ? decodeDigestList(this.p4info, msg.digest)
          : { digest: `#${msg.digest.digestId}`, digestId: msg.digest.digestId ?? 0, listId: msg.digest.listId ?? 0n, timestamp: msg.digest.timestamp ?? 0n, samples: [] };
        const ev: DigestEvent = { ...d, raw: msg.digest };
        if (this.autoAck && this.isPrimary) this.ackDigest(ev.digestId, ev.listId);
        this.digests.push(ev);
        this.emit('digest', ev);
      } else if (msg.idleTimeoutNotification) {
        const n: IdleTimeoutNotification = msg.idleTimeoutNotification;
        const ev: IdleTimeoutEvent = { entries: n.tableEntry ?? [], timestamp: n.timestamp ?? 0n };
        if (this.p4info) {
          try {
            ev.decoded = ev.entries.map((e) => describeTableEntry(this.p4info!, e));
          } catch {
            // an entry the P4Info cannot name: keep the raw entries only
          }
        }
        this.idleTimeouts.push(ev);
        this.emit('idleTimeout', ev);
      } else if (msg.error) {
        this.streamErrors.push(msg.error);
        this.emit('streamError', msg.error);
      } else if (msg.other) {
        this.emit('other', msg.other);
      }
    } catch (e) {
      // A malformed server message must not crash the process: report it and carry on.
      this.emit('protocolError', e);
    }
  }

  private send(msg: StreamMessageRequest): void {
    if (!this.call) throw new P4RuntimeStreamError(`StreamChannel to ${this.address} is not open (role ${this.arbitration.role})`);
    this.call.write(msg);
  }

  private requirePrimary(what: string): void {
    if (!this.isPrimary) {
      throw new P4RuntimeNotPrimaryError(
        `${what} needs primaryship, but this client (election id ${this.electionId}) is ${this.arbitration.role}` +
          (this.arbitration.primaryElectionId !== undefined ? ` (primary: ${this.arbitration.primaryElectionId})` : ''),
      );
    }
  }

  private electionFields(): { deviceId: bigint; electionId: { high: bigint; low: bigint }; role?: string } {
    const f: { deviceId: bigint; electionId: { high: bigint; low: bigint }; role?: string } = { deviceId: this.deviceId, electionId: toUint128(this.electionId) };
    if (this.arbitration.roleName) f.role = this.arbitration.roleName;
    return f;
  }

  // --- unary RPCs -----------------------------------------------------------------------------

  /**
   * Write `updates` (in order) in batches of ≤ 500; throws WriteBatchError with per-update
   * failures indexed in `updates`.
   */
  async write(updates: Update[], opts: WriteOptions = {}): Promise<WriteResult> {
    this.requirePrimary('Write');
    const deadline = opts.deadlineMs ?? this.rpcDeadlineMs;
    const base = this.electionFields();
    return writeInBatches(updates, (batch) => unaryRaw<void>(this.rpc, 'Write', { ...base, updates: batch, atomicity: 'CONTINUE_ON_ERROR' }, deadline), opts.batchSize ?? DEFAULT_WRITE_BATCH);
  }

  /** SetForwardingPipelineConfig (spec §14); on success the P4Info becomes this client's index. */
  async setPipeline(config: PipelineConfig, action: PipelineAction = 'VERIFY_AND_COMMIT', opts: { deadlineMs?: number } = {}): Promise<void> {
    this.requirePrimary('SetForwardingPipelineConfig');
    let index: P4InfoIndex | undefined;
    const req: Record<string, unknown> = { ...this.electionFields(), action };
    if (action === 'COMMIT') {
      // Spec §14: COMMIT applies the saved config and takes none.
      if (config.p4info || config.deviceConfig) throw new P4Error('CTO_P4RT_PIPELINE', 'COMMIT takes no config (it applies the one saved by VERIFY_AND_SAVE)');
    } else {
      if (!config.p4info) throw new P4Error('CTO_P4RT_PIPELINE', `${action} needs a P4Info`);
      index = config.p4info instanceof P4InfoIndex ? config.p4info : P4InfoIndex.from(config.p4info);
      const fpc: Record<string, unknown> = { p4info: index.p4info, p4DeviceConfig: config.deviceConfig ?? new Uint8Array(0) };
      if (config.cookie !== undefined) fpc.cookie = { cookie: config.cookie };
      req.config = fpc;
    }
    try {
      await unaryRaw<void>(this.rpc, 'SetForwardingPipelineConfig', req, opts.deadlineMs ?? Math.max(this.rpcDeadlineMs, 30_000));
    } catch (e) {
      throw rpcError('SetForwardingPipelineConfig', e);
    }
    if (index && action !== 'VERIFY') this.p4info = index;
  }

  /** GetForwardingPipelineConfig (spec §15). */
  async getPipeline(responseType: PipelineResponseType = 'ALL', opts: { deadlineMs?: number } = {}): Promise<PipelineReply> {
    let res: { config?: ForwardingPipelineConfig };
    try {
      res = await unaryRaw(this.rpc, 'GetForwardingPipelineConfig', { deviceId: this.deviceId, responseType }, opts.deadlineMs ?? this.rpcDeadlineMs);
    } catch (e) {
      throw rpcError('GetForwardingPipelineConfig', e);
    }
    const cfg = res.config;
    const out: PipelineReply = { raw: cfg };
    if (cfg?.p4info) out.p4info = new P4InfoIndex(cfg.p4info);
    if (cfg?.p4DeviceConfig && cfg.p4DeviceConfig.length) out.deviceConfig = cfg.p4DeviceConfig;
    if (cfg?.cookie) out.cookie = cfg.cookie.cookie ?? 0n;
    return out;
  }

  /**
   * PI only (p4.server.v1.ServerConfig, docs/p4-target-interfaces.md §4.8): StreamError reports are off by default;
   * ENABLED sends them (e.g. for a PacketOut with an unknown metadata id), DETAILED adds detail.
   */
  async setStreamErrorReporting(level: 'DISABLED' | 'ENABLED' | 'DETAILED', opts: { deadlineMs?: number } = {}): Promise<void> {
    const cfg = makeGrpcClient('p4.server.v1.ServerConfig', this.address, { channelOptions: this.channelOptions });
    try {
      await unaryRaw<void>(cfg, 'Set', { deviceId: this.deviceId, config: { stream: { errorReporting: level } } }, opts.deadlineMs ?? this.rpcDeadlineMs);
    } catch (e) {
      throw rpcError('ServerConfig.Set', e);
    } finally {
      cfg.close();
    }
  }

  /** Capabilities (spec §17): the server's P4Runtime API version (PI: always "1.3.0"). */
  async capabilities(opts: { deadlineMs?: number } = {}): Promise<string> {
    try {
      const res = await unaryRaw<{ p4runtimeApiVersion?: string }>(this.rpc, 'Capabilities', { deviceId: this.deviceId }, opts.deadlineMs ?? this.rpcDeadlineMs);
      return res.p4runtimeApiVersion ?? '';
    } catch (e) {
      throw rpcError('Capabilities', e);
    }
  }

  /**
   * Read (spec §13) as an async iterable of entities. Wildcards follow spec §9.1.6: e.g.
   * `{ tableEntry: { tableId: 0 } }` reads every table. Breaking out of the loop cancels the call.
   */
  async *read(entities: Entity[], opts: { deadlineMs?: number } = {}): AsyncGenerator<Entity> {
    const req: Record<string, unknown> = { deviceId: this.deviceId, entities };
    if (this.arbitration.roleName) req.role = this.arbitration.roleName;
    const call = (this.rpc.Read as (r: object, o: grpc.CallOptions) => grpc.ClientReadableStream<{ entities?: Entity[] }>).call(this.rpc, req, {
      deadline: Date.now() + (opts.deadlineMs ?? this.rpcDeadlineMs),
    });
    let done = false;
    try {
      for await (const res of call) {
        for (const e of res.entities ?? []) yield e;
      }
      done = true;
    } catch (e) {
      done = true;
      throw rpcError('Read', e);
    } finally {
      if (!done) call.cancel();
    }
  }

  /** Read and collect (convenience over `read`). */
  async readAll(entities: Entity[], opts: { deadlineMs?: number } = {}): Promise<Entity[]> {
    const out: Entity[] = [];
    for await (const e of this.read(entities, opts)) out.push(e);
    return out;
  }

  // --- stream messages ------------------------------------------------------------------------

  /** PacketOut with `packet_out` fields by name (needs the P4Info and primaryship). */
  sendPacketOut(payload: Uint8Array, metadata: Record<string, P4Value> = {}): void {
    if (!this.p4info) throw new P4Error('CTO_P4RT_NO_P4INFO', 'PacketOut by name needs a P4Info: call setPipeline or pass p4info');
    this.sendPacketOutRaw(packetOut(this.p4info, payload, metadata));
  }

  /** PacketOut as a message (PI silently drops those of a backup, so we refuse them here). */
  sendPacketOutRaw(p: PacketOut): void {
    this.requirePrimary('PacketOut');
    this.send({ packet: p });
  }

  /** DigestListAck (spec §9.8); sent automatically unless `autoAckDigests: false`. */
  ackDigest(digestId: number, listId: bigint): void {
    this.send({ digestAck: { digestId, listId } });
  }

  /** End the session: half-close and cancel the stream, close channels and queues. Idempotent. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const first = this.firstArbitration;
    this.firstArbitration = undefined;
    first?.reject(new P4RuntimeStreamError('client closed', grpc.status.CANCELLED));
    const call = this.call;
    if (call) {
      try {
        call.end();
      } catch {
        // already ended
      }
    }
    this.dropStream();
    this.rpc.close();
    const ev = this.arbitration.onStreamEnd(grpc.status.CANCELLED, 'client closed');
    this.arbitrationUpdates.push(ev);
    for (const q of [this.packetIns, this.digests, this.idleTimeouts, this.streamErrors, this.arbitrationUpdates]) q.close();
    this.emit('close');
  }
}

/**
 * Wait until a P4Runtime server answers Capabilities, polling with a NEW channel per attempt:
 * a gRPC channel whose first connection was refused backs off (1 s, ×1.6) before retrying,
 * while a fresh channel connects at once (docs/p4-target-interfaces.md §5.2). Resolves with the API version.
 */
export async function waitForP4Runtime(address: string, deadlineMs: number, opts: { intervalMs?: number } = {}): Promise<string> {
  const deadline = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    const client = makeGrpcClient('p4.v1.P4Runtime', address, { channelOptions: { 'grpc.use_local_subchannel_pool': 1, 'grpc.initial_reconnect_backoff_ms': 50 } });
    try {
      const res = await unaryRaw<{ p4runtimeApiVersion?: string }>(client, 'Capabilities', {}, Math.min(remaining, 1000));
      return res.p4runtimeApiVersion ?? '';
    } catch (e) {
      last = e;
    } finally {
      client.close();
    }
    await new Promise((r) => setTimeout(r, Math.min(opts.intervalMs ?? 50, Math.max(0, deadline - Date.now()))));
  }
  const why = last ? `: last error ${(last as grpc.ServiceError).details ?? String(last)}` : '';
  throw new P4RuntimeTimeoutError(`P4Runtime server at ${address} did not answer Capabilities within ${deadlineMs} ms${why}`);
}
