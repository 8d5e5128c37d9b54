/**
 * One bmv2 dataplane `PacketStream` (docs/p4-target-interfaces.md §5.3) driven step by step, for the bmv2 Target's
 * per-packet protocol: write a few packets, wait for a given output (the echo barrier), let the
 * slow path reinject meanwhile (the stream stays open, so PacketOut outputs are not discarded),
 * then half-close and wait for OK — bmv2's drain barrier (`block_until_all_packets_processed`).
 *
 * p4/dataplane.ts's DataplaneChannel runs each batch inside one call and cannot interleave a
 * wait for a specific output with work on another connection, hence this small driver. The
 * two never run at once on one switch (bmv2 allows one PacketStream at a time): the target
 * serialises them.
 */
import * as grpc from '@grpc/grpc-js';
import { CtoffloadError } from '../../../model/errors.js';
import { makeGrpcClient, type ServiceClient } from '../../../p4/index.js';

export class Bmv2StreamError extends CtoffloadError {
  constructor(
    message: string,
    readonly grpcCode?: number,
  ) {
    super('CTO_BMV2_STREAM', message);
  }
}

export interface StreamOutput {
  id: bigint;
  port: number;
  packet: Uint8Array;
}

type Duplex = grpc.ClientDuplexStream<object, { id?: bigint; port?: number; packet?: Uint8Array }>;

export function dataplaneClient(address: string): ServiceClient {
  return makeGrpcClient('p4.bm.DataplaneInterface', address, {
    channelOptions: { 'grpc.use_local_subchannel_pool': 1, 'grpc.enable_retries': 0 },
  });
}

export class StepStream {
  private readonly call: Duplex;
  private status: grpc.StatusObject | undefined;
  private ended = false;
  private readonly waiters = new Set<() => void>();
  private readonly done: Promise<void>;
  private settle!: () => void;

  constructor(
    client: ServiceClient,
    private readonly deviceId: bigint,
    private readonly onOutput: (o: StreamOutput) => void,
    deadlineMs = 60_000,
  ) {
    this.done = new Promise<void>((r) => (this.settle = r));
    this.call = (client.PacketStream as (m: grpc.Metadata, o: grpc.CallOptions) => Duplex).call(client, new grpc.Metadata(), { deadline: Date.now() + deadlineMs });
    this.call.on('data', (res: { id?: bigint; port?: number; packet?: Uint8Array }) => {
      this.onOutput({ id: res.id ?? 0n, port: res.port ?? 0, packet: res.packet ?? new Uint8Array(0) });
      this.wake();
    });
    this.call.on('end', () => {
      this.ended = true;
      this.finish();
    });
    this.call.on('error', () => undefined); // reported through 'status'
    this.call.on('status', (st: grpc.StatusObject) => {
      this.status = st;
      this.finish();
    });
  }

  private finish(): void {
    if (this.status && (this.ended || this.status.code !== grpc.status.OK)) this.settle();
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private failure(): Bmv2StreamError | undefined {
    const st = this.status;
    if (!st || st.code === grpc.status.OK) return undefined;
    return new Bmv2StreamError(`dataplane PacketStream ended: ${grpc.status[st.code] ?? st.code}${st.details ? `: ${st.details}` : ''}`, st.code);
  }

  /** The RPC has ended (OK, error or deadline): no more writes. */
  get isEnded(): boolean {
    return this.status !== undefined;
  }

  async write(id: bigint, port: number, frame: Uint8Array): Promise<void> {
    const f = this.failure();
    if (f) throw f;
    if (this.status) throw new Bmv2StreamError('dataplane PacketStream already closed');
    if (!this.call.write({ id, deviceId: this.deviceId, port, packet: frame })) {
      await new Promise<void>((r) => this.call.once('drain', () => r()));
    }
  }

  /** Resolve once `pred()` holds (checked at each output); reject on stream failure or deadline. */
  waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        const f = this.failure();
        if (pred()) done(resolve);
        else if (f) done(() => reject(f));
        else if (this.status) done(() => reject(new Bmv2StreamError(`dataplane stream ended before ${what}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Bmv2StreamError(`${what}: nothing within ${timeoutMs} ms`))), timeoutMs);
      const done = (fn: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        fn();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** A promise that rejects when the stream ends with an error (never resolves). */
  whenFailed(): Promise<never> {
    return new Promise<never>((_, reject) => {
      const check = (): void => {
        const f = this.failure();
        if (f) {
          this.waiters.delete(check);
          reject(f);
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Half-close and wait for OK: every output of every packet in bmv2 has been received. */
  async close(timeoutMs = 30_000): Promise<void> {
    if (!this.status) this.call.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.done,
      new Promise<void>((_, reject) => {
        timer = setTimeout(() => reject(new Bmv2StreamError(`dataplane drain barrier not reached within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    const f = this.failure();
    if (f) throw f;
  }

  cancel(): void {
    if (!this.status) this.call.cancel();
  }
}
