/**
 * nanomsg scalability protocols (SP) over IPC, PAIR only, on node:net (docs/p4-target-interfaces.md §5.5; nanomsg
 * `rfc/sp-ipc-mapping-01.txt`, `rfc/sp-protocol-ids-01.txt`, `src/transports/utils/streamhdr.c`,
 * `src/transports/ipc/sipc.c`). Enough to talk to bmv2's `--packet-in ipc://…` socket and to
 * nanocat, without libnanomsg.
 *
 * Wire format on a Unix-domain stream socket:
 * - handshake: each side sends `00 53 50 00 | type (u16 BE) | 00 00` and waits (≤ 1000 ms, as
 *   nanomsg does) for the peer's; PAIR is protocol 1, role 0 → type 16; PAIR accepts only PAIR;
 * - then every message, both ways: `0x01` (message type; nanomsg asserts on anything else),
 *   payload length as u64 BE, payload. PAIR adds no header inside the payload.
 * - nanomsg closes the connection on a message over its receive limit (1 MiB default); we do
 *   the same with `maxMessageSize`.
 */
import { EventEmitter } from 'node:events';
import { existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { P4Error } from './errors.js';

/** SP socket type of PAIR (protocol 1 × 16 + role 0). */
export const SP_PAIR = 16;
export const SP_HANDSHAKE_LEN = 8;
/** In-band message type of the IPC transport (the only one nanomsg accepts). */
export const SP_IPC_MSG = 0x01;
export const SP_FRAME_HEADER_LEN = 9;
/** nanomsg's default NN_RCVMAXSIZE. */
export const DEFAULT_MAX_MESSAGE = 1024 * 1024;
/** nanomsg waits this long for the peer's protocol header. */
export const HANDSHAKE_TIMEOUT_MS = 1000;

/** A peer broke the SP wire protocol (bad header, wrong socket type, bad framing, oversize). */
export class NanomsgProtocolError extends P4Error {
  constructor(message: string) {
    super('CTO_NANOMSG_PROTOCOL', message);
  }
}

/** Handshake or connect did not complete within its deadline. */
export class NanomsgTimeoutError extends P4Error {
  constructor(message: string) {
    super('CTO_NANOMSG_TIMEOUT', message);
  }
}

/** The connection is gone (peer closed, or closed locally). */
export class NanomsgClosedError extends P4Error {
  constructor(message: string) {
    super('CTO_NANOMSG_CLOSED', message);
  }
}

/** The 8-byte SP protocol header for `socketType`. */
export function spHandshake(socketType = SP_PAIR): Buffer {
  const b = Buffer.from([0x00, 0x53, 0x50, 0x00, 0, 0, 0, 0]);
  b.writeUInt16BE(socketType, 4);
  return b;
}

/** Parse a peer's protocol header; returns its socket type or throws CTO_NANOMSG_PROTOCOL. */
export function parseSpHandshake(b: Uint8Array): number {
  if (b.length < SP_HANDSHAKE_LEN) throw new NanomsgProtocolError(`SP header too short (${b.length} bytes)`);
  if (b[0] !== 0x00 || b[1] !== 0x53 || b[2] !== 0x50 || b[3] !== 0x00) {
    throw new NanomsgProtocolError(`not an SP peer: header starts ${Buffer.from(b.subarray(0, 4)).toString('hex')} (want 00535000)`);
  }
  if (b[6] !== 0 || b[7] !== 0) throw new NanomsgProtocolError(`SP header reserved bytes are ${Buffer.from(b.subarray(6, 8)).toString('hex')} (want 0000)`);
  return (b[4]! << 8) | b[5]!;
}

/** One IPC frame: 0x01, u64 BE length, payload. */
export function encodeSpFrame(payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(SP_FRAME_HEADER_LEN + payload.length);
  b[0] = SP_IPC_MSG;
  b.writeBigUInt64BE(BigInt(payload.length), 1);
  b.set(payload, SP_FRAME_HEADER_LEN);
  return b;
}

/**
 * Incremental decoder of one direction of an SP IPC connection: the peer's 8-byte protocol
 * header, then frames. Accepts bytes split or coalesced arbitrarily (TCP-like stream). Throws
 * CTO_NANOMSG_PROTOCOL on the first violation; after that the connection must be dropped.
 */
export class SpDecoder {
  /** Peer socket type once the handshake bytes are in, else undefined. */
  peerType: number | undefined;
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(
    private readonly opts: { maxMessageSize?: number; acceptTypes?: readonly number[]; handshake?: boolean } = {},
  ) {
    if (opts.handshake === false) this.peerType = SP_PAIR;
  }

  /** Feed bytes; returns the complete messages they finish (payloads, in order). */
  push(chunk: Uint8Array): Buffer[] {
    if (chunk.length) {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.buffered += chunk.length;
    }
    const out: Buffer[] = [];
    if (this.peerType === undefined) {
      if (this.buffered < SP_HANDSHAKE_LEN) return out;
      const type = parseSpHandshake(this.take(SP_HANDSHAKE_LEN));
      const accept = this.opts.acceptTypes ?? [SP_PAIR];
      if (!accept.includes(type)) throw new NanomsgProtocolError(`peer socket type ${type} is not compatible with PAIR (${accept.join(', ')})`);
      this.peerType = type;
    }
    const max = this.opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE;
    while (this.buffered >= SP_FRAME_HEADER_LEN) {
      const head = this.peek(SP_FRAME_HEADER_LEN);
      if (head[0] !== SP_IPC_MSG) throw new NanomsgProtocolError(`IPC message type 0x${head[0]!.toString(16).padStart(2, '0')} (only 0x01 exists)`);
      const len = head.readBigUInt64BE(1);
      if (len > BigInt(max)) throw new NanomsgProtocolError(`message of ${len} bytes exceeds the ${max}-byte limit`);
      const n = Number(len);
      if (this.buffered < SP_FRAME_HEADER_LEN + n) break;
      this.take(SP_FRAME_HEADER_LEN);
      out.push(this.take(n));
    }
    return out;
  }

  /** Bytes received but not yet part of a complete message. */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    return all.subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= n) {
      // Copy: the caller may keep the message while the chunk is reused by the stream.
      const msg = Buffer.from(first.subarray(0, n));
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return msg;
    }
    const all = Buffer.concat(this.chunks);
    const msg = Buffer.from(all.subarray(0, n));
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    this.buffered -= n;
    return msg;
  }
}

export interface SpSocketOptions {
  /** Largest message accepted (default 1 MiB, nanomsg's NN_RCVMAXSIZE). */
  maxMessageSize?: number;
  /** Deadline for the peer's protocol header (default 1000 ms, as nanomsg). */
  handshakeTimeoutMs?: number;
}

/** Path of an `ipc://PATH` address (or a bare path). */
export function ipcPath(address: string): string {
  return address.startsWith('ipc://') ? address.slice('ipc://'.length) : address;
}

/**
 * One established SP PAIR connection. Events: 'message' (Buffer), 'close' (Error | undefined:
 * why, when it was not a local close()).
 */
export class SpPairSocket extends EventEmitter {
  private readonly decoder: SpDecoder;
  private closedWith: Error | null | undefined; // undefined = open; null = closed locally
  private readonly queue: Buffer[] = [];
  private waiters: { resolve(m: Buffer): void; reject(e: Error): void }[] = [];

  private constructor(
    private readonly sock: Socket,
    decoder: SpDecoder,
    leftovers: Buffer[],
  ) {
    super();
    this.decoder = decoder;
    sock.setNoDelay?.(true);
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new NanomsgClosedError('peer closed the connection')));
    for (const m of leftovers) this.deliver(m);
    // Messages that arrived before anyone listened (e.g. coalesced with the peer's header) go to
    // the first 'message' listener, right after it is added.
    this.on('newListener', (event: string | symbol) => {
      if (event !== 'message' || this.queue.length === 0) return;
      setImmediate(() => {
        while (this.queue.length && this.listenerCount('message') > 0) this.emit('message', this.queue.shift()!);
      });
    });
  }

  /**
   * Complete the handshake on a connected stream socket: send our header, wait for the peer's
   * (PAIR only) within the deadline. Messages coalesced with the peer's header are kept.
   */
  static handshake(sock: Socket, opts: SpSocketOptions = {}): Promise<SpPairSocket> {
    const decoder = new SpDecoder({ maxMessageSize: opts.maxMessageSize });
    const timeoutMs = opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    return new Promise<SpPairSocket>((resolve, reject) => {
      const early: Buffer[] = [];
      const cleanup = (): void => {
        clearTimeout(timer);
        sock.off('data', onData);
        sock.off('error', onError);
        sock.off('close', onClose);
      };
      const failWith = (e: Error): void => {
        cleanup();
        sock.destroy();
        reject(e);
      };
      const onData = (d: Buffer): void => {
        try {
          early.push(...decoder.push(d));
        } catch (e) {
          failWith(e as Error);
          return;
        }
        if (decoder.peerType !== undefined) {
          cleanup();
          resolve(new SpPairSocket(sock, decoder, early));
        }
      };
      const refused = (why: string): NanomsgProtocolError =>
        new NanomsgProtocolError(`peer ${why} the connection during the SP handshake (incompatible socket type, or a PAIR that already has a peer)`);
      const onError = (e: Error): void => {
        const code = (e as NodeJS.ErrnoException).code;
        failWith(code === 'EPIPE' || code === 'ECONNRESET' ? refused('reset') : e);
      };
      const onClose = (): void => failWith(refused('closed'));
      const timer = setTimeout(() => failWith(new NanomsgTimeoutError(`no SP protocol header from the peer within ${timeoutMs} ms`)), timeoutMs);
      sock.on('data', onData);
      sock.on('error', onError);
      sock.on('close', onClose);
      sock.write(spHandshake(SP_PAIR));
    });
  }

  /** Connect to a PAIR socket bound at `address` (`ipc://PATH`) and handshake. */
  static connect(address: string, opts: SpSocketOptions = {}): Promise<SpPairSocket> {
    return new Promise<Socket>((resolve, reject) => {
      const s = createConnection(ipcPath(address));
      const onErr = (e: Error): void => reject(e);
      s.once('error', onErr);
      s.once('connect', () => {
        s.off('error', onErr);
        resolve(s);
      });
    }).then((s) => SpPairSocket.handshake(s, opts));
  }

  get isOpen(): boolean {
    return this.closedWith === undefined;
  }

  /** Queue one message. Returns false when the kernel buffer is full (wait for drained()). */
  send(payload: Uint8Array): boolean {
    if (this.closedWith !== undefined) throw this.closedError();
    return this.sock.write(encodeSpFrame(payload));
  }

  /** Resolves when queued output has been handed to the kernel. */
  drained(): Promise<void> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedError());
    if (!this.sock.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        this.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.sock.off('drain', onDrain);
        reject(this.closedError());
      };
      this.sock.once('drain', onDrain);
      this.once('close', onClose);
    });
  }

  /** Next message (queued ones first); rejects on close or after `timeoutMs`. */
  recv(timeoutMs?: number): Promise<Buffer> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    if (this.closedWith !== undefined) return Promise.reject(this.closedError());
    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const w = {
        resolve: (x: Buffer) => {
          if (timer) clearTimeout(timer);
          resolve(x);
        },
        reject: (e: Error) => {
          if (timer) clearTimeout(timer);
          reject(e);
        },
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(new NanomsgTimeoutError(`no message within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.waiters.push(w);
    });
  }

  /** Messages until the connection closes. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      try {
        yield await this.recv();
      } catch (e) {
        if (e instanceof NanomsgClosedError) return;
        throw e;
      }
    }
  }

  close(): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = null;
    this.sock.end();
    this.sock.destroy();
    this.rejectWaiters();
    this.emit('close', undefined);
  }

  private closedError(): Error {
    return this.closedWith ?? new NanomsgClosedError('connection closed');
  }

  private onData(d: Buffer): void {
    let msgs: Buffer[];
    try {
      msgs = this.decoder.push(d);
    } catch (e) {
      // As nanomsg does: a protocol violation (incl. oversize) drops the connection.
      this.fail(e as Error);
      this.sock.destroy();
      return;
    }
    for (const m of msgs) this.deliver(m);
  }

  /** To 'message' listeners if any (in order: after queued ones), else to recv(), else queued. */
  private deliver(m: Buffer): void {
    if (this.listenerCount('message') > 0) {
      if (this.queue.length) this.queue.push(m); // a flush is scheduled (newListener)
      else this.emit('message', m);
      return;
    }
    const w = this.waiters.shift();
    if (w) w.resolve(m);
    else this.queue.push(m);
  }

  private fail(e: Error): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = e;
    this.rejectWaiters();
    this.emit('close', e);
  }

  private rejectWaiters(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.reject(this.closedError());
  }
}

/**
 * A bound PAIR socket: listens on `ipc://PATH` and keeps at most one peer at a time (nanomsg's
 * PAIR refuses a second pipe, `nn_excl_add`): further connections are closed at once.
 * Events: 'peer' (SpPairSocket) for each established peer; 'error'.
 */
export class SpPairListener extends EventEmitter {
  private current: SpPairSocket | undefined;
  private readonly peerWaiters: ((s: SpPairSocket) => void)[] = [];

  private constructor(
    readonly address: string,
    private readonly server: Server,
    private readonly opts: SpSocketOptions,
  ) {
    super();
    server.on('connection', (sock) => this.onConnection(sock));
    server.on('error', (e) => this.emit('error', e));
  }

  /**
   * Bind `address`. A stale socket file (nobody listening) is removed first, as nanomsg does;
   * a live one makes bind fail with EADDRINUSE.
   */
  static async listen(address: string, opts: SpSocketOptions = {}): Promise<SpPairListener> {
    const path = ipcPath(address);
    if (existsSync(path)) {
      const alive = await new Promise<boolean>((resolve) => {
        const s = createConnection(path);
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (alive) throw new P4Error('CTO_NANOMSG_ADDRESS', `${address}: address in use`);
      unlinkSync(path);
    }
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new SpPairListener(address.startsWith('ipc://') ? address : `ipc://${address}`, server, opts);
  }

  /** The connected peer, if any. */
  get peer(): SpPairSocket | undefined {
    return this.current?.isOpen ? this.current : undefined;
  }

  /** The current peer, or the next one to connect (rejects after `timeoutMs`). */
  accept(timeoutMs = 10_000): Promise<SpPairSocket> {
    const p = this.peer;
    if (p) return Promise.resolve(p);
    return new Promise<SpPairSocket>((resolve, reject) => {
      const t = setTimeout(() => {
        const i = this.peerWaiters.indexOf(w);
        if (i >= 0) this.peerWaiters.splice(i, 1);
        reject(new NanomsgTimeoutError(`no PAIR peer connected to ${this.address} within ${timeoutMs} ms`));
      }, timeoutMs);
      const w = (s: SpPairSocket): void => {
        clearTimeout(t);
        resolve(s);
      };
      this.peerWaiters.push(w);
    });
  }

  async close(): Promise<void> {
    this.current?.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    try {
      unlinkSync(ipcPath(this.address));
    } catch {
      // already gone (net removes it on close)
    }
  }

  private onConnection(sock: Socket): void {
    if (this.peer) {
      sock.destroy();
      return;
    }
    SpPairSocket.handshake(sock, this.opts).then(
      (s) => {
        if (this.peer) {
          s.close();
          return;
        }
        this.current = s;
        this.emit('peer', s);
        for (const w of this.peerWaiters.splice(0)) w(s);
      },
      (e) => this.emit('handshakeError', e),
    );
  }
}
