/**
 * bmv2 packet I/O over its nanomsg PAIR socket (`--packet-in ipc://…`, docs/p4-target-interfaces.md §5.4; behavioral-model
 * `src/bm_sim/dev_mgr_packet_in.cpp`): the second packet channel, on p4/nanomsg.ts.
 *
 * Message = 12-byte header of three C `int`s in host byte order (little-endian on x86-64, as PTF
 * packs them: `struct.pack("<iii", …)`) — type, port, more — then the packet for PACKET_IN /
 * PACKET_OUT (`more` = its length; bmv2 trusts `more`, not the message size).
 *
 * Unlike the dataplane gRPC service there are no ids and no drain barrier: a dropped packet is
 * only "no output seen yet". Use it for throughput and as an independent check of the dataplane
 * channel. bmv2 binds, we connect; bmv2 sends with a blocking send and a PAIR with no peer blocks,
 * so a dropped connection stalls all of bmv2's output (docs/p4-target-interfaces.md §5.4): the channel reconnects at once.
 */
import { P4Error } from './errors.js';
import { NanomsgClosedError, SpPairSocket, ipcPath, type SpSocketOptions } from './nanomsg.js';
import type { Bmv2Switch } from './bmv2.js';
import type { PacketOutput, PacketToSend } from './dataplane.js';

/** Message types (dev_mgr_packet_in.cpp `PacketInMsgType`… names as in bmv2). */
export const BMV2_MSG = {
  PORT_ADD: 0,
  PORT_REMOVE: 1,
  PORT_SET_STATUS: 2,
  PACKET_IN: 3,
  PACKET_OUT: 4,
  INFO_REQ: 5,
  INFO_REP: 6,
} as const;
export type Bmv2MsgType = (typeof BMV2_MSG)[keyof typeof BMV2_MSG];

export const BMV2_MSG_HEADER_LEN = 12;

export interface Bmv2Message {
  type: number;
  port: number;
  /** Packet length (PACKET_IN/OUT), status (PORT_SET_STATUS), else 0. */
  more: number;
  /** Packet bytes (PACKET_IN/OUT) or trailing data (INFO_REP's status int). */
  data: Uint8Array;
}

export function encodeBmv2Message(type: number, port: number, data: Uint8Array = new Uint8Array(0), more = data.length): Buffer {
  const b = Buffer.allocUnsafe(BMV2_MSG_HEADER_LEN + data.length);
  b.writeInt32LE(type, 0);
  b.writeInt32LE(port, 4);
  b.writeInt32LE(more, 8);
  b.set(data, BMV2_MSG_HEADER_LEN);
  return b;
}

/** Decode a message from bmv2; throws CTO_NANOMSG_PROTOCOL when it is malformed. */
export function decodeBmv2Message(b: Uint8Array): Bmv2Message {
  if (b.length < BMV2_MSG_HEADER_LEN) throw new P4Error('CTO_NANOMSG_PROTOCOL', `bmv2 message of ${b.length} bytes is shorter than its 12-byte header`);
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const type = buf.readInt32LE(0);
  const port = buf.readInt32LE(4);
  const more = buf.readInt32LE(8);
  let data = buf.subarray(BMV2_MSG_HEADER_LEN);
  if (type === BMV2_MSG.PACKET_OUT || type === BMV2_MSG.PACKET_IN) {
    if (more < 0 || more > data.length) throw new P4Error('CTO_NANOMSG_PROTOCOL', `bmv2 packet message says ${more} bytes but carries ${data.length}`);
    data = data.subarray(0, more);
  }
  return { type, port, more, data };
}

export interface NanomsgChannelOptions extends SpSocketOptions {
  /** How long to keep trying to connect (the socket file appears when bmv2 binds). Default 10 000 ms. */
  connectDeadlineMs?: number;
  /** Reconnect at once when the connection drops (default true; see the module comment). */
  reconnect?: boolean;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class NanomsgPacketChannel {
  /** PACKET_OUT messages not yet taken, in arrival order. */
  private readonly outputs: PacketOutput[] = [];
  private readonly infoReplies: number[] = [];
  private wake: (() => void) | undefined;
  private sock: SpPairSocket | undefined;
  private closed = false;
  private reconnecting: Promise<void> | undefined;
  readonly stats = { sent: 0, received: 0, reconnects: 0 };

  private constructor(
    readonly address: string,
    private readonly sw: Bmv2Switch | undefined,
    private readonly opts: NanomsgChannelOptions,
  ) {}

  /** Connect to a switch started with packetIo 'nanomsg' (or to an `ipc://` address). */
  static async open(target: Bmv2Switch | string, opts: NanomsgChannelOptions = {}): Promise<NanomsgPacketChannel> {
    let address: string;
    let sw: Bmv2Switch | undefined;
    if (typeof target === 'string') address = target;
    else {
      if (!target.packetInAddress) throw new P4Error('CTO_NANOMSG_ADDRESS', `switch (pid ${target.pid}) was started without --packet-in (packetIo '${target.packetIo}')`);
      address = target.packetInAddress;
      sw = target;
    }
    const ch = new NanomsgPacketChannel(address, sw, opts);
    await ch.connect(opts.connectDeadlineMs ?? 10_000);
    return ch;
  }

  private async connect(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    let last: unknown;
    for (;;) {
      if (this.sw?.exit) throw this.sw.exitError('while connecting to --packet-in');
      try {
        const s = await this.guard(SpPairSocket.connect(this.address, this.opts));
        this.attach(s);
        return;
      } catch (e) {
        if ((e as P4Error).code === 'CTO_BMV2_EXIT') throw e;
        last = e;
      }
      if (Date.now() >= deadline) break;
      await sleep(20);
    }
    throw new P4Error('CTO_NANOMSG_TIMEOUT', `cannot connect to ${this.address} (${ipcPath(this.address)}) within ${deadlineMs} ms: ${(last as Error)?.message}`);
  }

  private attach(s: SpPairSocket): void {
    this.sock = s;
    s.on('message', (m: Buffer) => this.onMessage(m));
    s.on('close', () => {
      if (this.closed || (this.opts.reconnect ?? true) === false) return;
      this.stats.reconnects++;
      this.reconnecting = this.connect(this.opts.connectDeadlineMs ?? 10_000).finally(() => (this.reconnecting = undefined));
      this.reconnecting.catch(() => undefined);
    });
  }

  private onMessage(m: Buffer): void {
    let msg: Bmv2Message;
    try {
      msg = decodeBmv2Message(m);
    } catch {
      return; // not ours to crash on; bmv2 only sends well-formed messages
    }
    if (msg.type === BMV2_MSG.PACKET_OUT) {
      this.stats.received++;
      this.outputs.push({ port: msg.port, bytes: msg.data });
    } else if (msg.type === BMV2_MSG.INFO_REP) {
      this.infoReplies.push(msg.data.length >= 4 ? Buffer.from(msg.data).readInt32LE(0) : -1);
    }
    this.wake?.();
  }

  private guard<T>(p: Promise<T>): Promise<T> {
    return this.sw ? this.sw.guard(p, 'during nanomsg packet I/O') : p;
  }

  private async socket(): Promise<SpPairSocket> {
    if (this.closed) throw new NanomsgClosedError('channel closed');
    if (this.reconnecting) await this.guard(this.reconnecting);
    if (!this.sock?.isOpen) {
      if (this.sw?.exit) throw this.sw.exitError('during nanomsg packet I/O');
      throw new NanomsgClosedError(`connection to ${this.address} lost`);
    }
    return this.sock;
  }

  /** Inject `frame` on ingress `port` (PACKET_IN). */
  async send(port: number, frame: Uint8Array): Promise<void> {
    const s = await this.socket();
    this.stats.sent++;
    if (!s.send(encodeBmv2Message(BMV2_MSG.PACKET_IN, port, frame))) await this.guard(s.drained());
  }

  /** Outputs received so far (taken: the internal list is emptied). */
  take(): PacketOutput[] {
    return this.outputs.splice(0);
  }

  /** Wait until at least `n` outputs are buffered or `timeoutMs` passes; returns the count. */
  async waitOutputs(n: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.outputs.length < n) {
      if (this.sw?.exit) throw this.sw.exitError('during nanomsg packet I/O');
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.guard(this.nextEvent(left));
    }
    return this.outputs.length;
  }

  private nextEvent(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /**
   * Send one packet and collect outputs until `expect` arrived or `timeoutMs` passed. Without a
   * barrier, a packet that produces fewer outputs than expected costs the whole timeout.
   */
  async sendAndCollect(port: number, frame: Uint8Array, opts: { expect?: number; timeoutMs?: number } = {}): Promise<PacketOutput[]> {
    this.take();
    await this.send(port, frame);
    await this.waitOutputs(opts.expect ?? 1, opts.timeoutMs ?? 1000);
    return this.take();
  }

  /**
   * Throughput mode: keep at most `window` (≤ 32: the egress queue drops past 64, docs/p4-target-interfaces.md §5.3)
   * packets without an output in flight, each output freeing one slot. When nothing arrives for
   * `stallMs` with the window full, the oldest slot is written off (counted in `stalls`). Returns
   * the outputs (arrival order) after waiting `settleMs` for stragglers.
   */
  async sendWindowed(packets: readonly PacketToSend[], opts: { window?: number; stallMs?: number; settleMs?: number } = {}): Promise<{ outputs: PacketOutput[]; stalls: number }> {
    const window = Math.max(1, Math.min(32, opts.window ?? 32));
    const stallMs = opts.stallMs ?? 20;
    this.take();
    let credited = 0;
    let stalls = 0;
    const outs: PacketOutput[] = [];
    for (let i = 0; i < packets.length; i++) {
      while (i - credited >= window) {
        const before = this.outputs.length;
        if (before === 0) await this.waitOutputs(1, stallMs);
        const got = this.take();
        outs.push(...got);
        if (got.length === 0) {
          stalls++;
          credited++;
        } else credited += got.length;
        void before;
      }
      await this.send(packets[i]!.port, packets[i]!.frame);
    }
    const want = packets.length - credited;
    await this.waitOutputs(want, opts.settleMs ?? 200);
    outs.push(...this.take());
    return { outputs: outs, stalls };
  }

  /** INFO_REQ → the status int of bmv2's INFO_REP (1 = NOT_SUPPORTED in bmv2 1.15). */
  async info(timeoutMs = 2000): Promise<number> {
    const s = await this.socket();
    const had = this.infoReplies.length;
    s.send(encodeBmv2Message(BMV2_MSG.INFO_REQ, 0));
    const deadline = Date.now() + timeoutMs;
    while (this.infoReplies.length === had) {
      const left = deadline - Date.now();
      if (left <= 0) throw new P4Error('CTO_NANOMSG_TIMEOUT', `no INFO_REP within ${timeoutMs} ms (pipeline not loaded yet? bmv2 reads messages only after, docs/p4-target-interfaces.md §5.4)`);
      await this.guard(this.nextEvent(left));
    }
    return this.infoReplies.shift()!;
  }

  close(): void {
    this.closed = true;
    this.sock?.close();
    this.wake?.();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Connect to a switch's `--packet-in` socket (see NanomsgPacketChannel). */
export function openNanomsg(target: Bmv2Switch | string, opts: NanomsgChannelOptions = {}): Promise<NanomsgPacketChannel> {
  return NanomsgPacketChannel.open(target, opts);
}
