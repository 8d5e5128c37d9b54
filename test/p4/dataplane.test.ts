/**
 * Dataplane channel against an in-process fake of bmv2's DataplaneInterface that keeps the
 * semantics of docs/p4-target-interfaces.md §5.3: outputs carry the request id, a half-close ends the stream with OK only
 * after every output was written, one stream at a time, "not ready" (UNAVAILABLE) until ready,
 * requests for another device ignored. Port map: 1→2, 2→1, 5→{6,7} (two copies); others drop.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DataplaneChannel, openDataplane } from '../../p4/dataplane.js';
import { serviceDefinition } from '../../p4/proto.js';
import { frame, seqOf } from './support/frames.js';

interface Req {
  id?: bigint;
  deviceId?: bigint;
  port?: number;
  packet?: Uint8Array;
}

class FakeDataplane {
  server = new grpc.Server();
  address = '';
  notReady = 0;
  active: grpc.ServerDuplexStream<Req, object> | undefined;
  streams = 0;
  /** Packets received per stream. */
  perStream: number[] = [];

  async start(): Promise<void> {
    this.server.addService(serviceDefinition('p4.bm.DataplaneInterface'), {
      PacketStream: (call: grpc.ServerDuplexStream<Req, object>) => this.onStream(call),
      SetPortOperStatus: (call: grpc.ServerUnaryCall<{ port?: number; operStatus?: string }, object>, cb: grpc.sendUnaryData<object>) => {
        if (call.request.operStatus === 'OPER_STATUS_UNKNOWN' || !call.request.operStatus) cb({ code: grpc.status.INVALID_ARGUMENT, details: 'bad status' });
        else cb(null, {});
      },
    });
    const port = await new Promise<number>((resolve, reject) => this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    this.address = `127.0.0.1:${port}`;
  }

  /** Emit an output with id 0 on the open stream (stands for a P4Runtime PacketOut's output). */
  injectUntracked(port: number): void {
    this.active?.write({ id: 0n, deviceId: 1n, port, packet: frame(999) });
  }

  private onStream(call: grpc.ServerDuplexStream<Req, object>): void {
    this.streams++;
    if (this.notReady > 0) {
      this.notReady--;
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'not ready' });
      return;
    }
    if (this.active) {
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'only one client authorized at a time' });
      return;
    }
    this.active = call;
    const idx = this.perStream.push(0) - 1;
    let pending = 0;
    let halfClosed = false;
    const maybeEnd = (): void => {
      if (halfClosed && pending === 0) {
        this.active = undefined;
        call.end();
      }
    };
    call.on('data', (r: Req) => {
      if (r.deviceId !== 1n || !r.packet?.length) return;
      this.perStream[idx]!++;
      const outs = r.port === 1 ? [2] : r.port === 2 ? [1] : r.port === 5 ? [6, 7] : [];
      for (const p of outs) {
        pending++;
        setImmediate(() => {
          call.write({ id: r.id ?? 0n, deviceId: 1n, port: p, packet: r.packet });
          pending--;
          maybeEnd();
        });
      }
    });
    call.on('end', () => {
      halfClosed = true;
      // Like block_until_all_packets_processed: OK only once everything was written.
      setImmediate(maybeEnd);
    });
    call.on('error', () => undefined);
    call.on('cancelled', () => {
      this.active = undefined;
    });
  }
}

describe('DataplaneChannel (fake DataplaneInterface)', () => {
  const fake = new FakeDataplane();
  let ch: DataplaneChannel;

  beforeAll(async () => {
    await fake.start();
  });
  afterAll(() => {
    ch?.close();
    fake.server.forceShutdown();
  });
  beforeEach(() => {
    fake.perStream = [];
  });

  it('retries "not ready" until the service answers, then sends', async () => {
    fake.notReady = 3;
    ch = await openDataplane({ address: fake.address, deviceId: 1 });
    expect(ch.stats.retries).toBe(3);
    const r = await ch.send(1, frame(1));
    expect(r.outputs.map((o) => o.port)).toEqual([2]);
    expect(seqOf(r.outputs[0]!.bytes)).toBe(1);
  });

  it('exact results: forwarded, dropped, and two copies of one packet', async () => {
    const [a, b, c] = await ch.sendBatch([
      { port: 2, frame: frame(10) },
      { port: 9, frame: frame(11) },
      { port: 5, frame: frame(12) },
    ]);
    expect(a!.outputs.map((o) => o.port)).toEqual([1]);
    expect(b!.outputs).toEqual([]);
    expect(c!.outputs.map((o) => [o.port, seqOf(o.bytes)])).toEqual([
      [6, 12],
      [7, 12],
    ]);
    expect(new Set([a!.id, b!.id, c!.id]).size).toBe(3);
    expect(fake.perStream).toEqual([3]);
  });

  it('lock-step batches hold at most `window` packets per stream (capped at 32)', async () => {
    const packets = Array.from({ length: 100 }, (_, i) => ({ port: 1, frame: frame(i) }));
    await ch.sendBatch(packets, { window: 1000 });
    expect(fake.perStream).toEqual([32, 32, 32, 4]);
    fake.perStream = [];
    await ch.sendBatch(packets.slice(0, 10), { window: 4 });
    expect(fake.perStream).toEqual([4, 4, 2]);
  });

  it('windowed mode: exact results with drops mixed in and a tail of drops (stall → barrier)', async () => {
    const packets = Array.from({ length: 300 }, (_, i) => ({ port: i >= 250 ? 9 : [1, 2, 9, 5][i % 4]!, frame: frame(i) }));
    const res = await ch.sendWindowed(packets, { window: 8, stallMs: 2 });
    res.forEach((r, i) => {
      const p = packets[i]!.port;
      const want = p === 1 ? [2] : p === 2 ? [1] : p === 5 ? [6, 7] : [];
      expect(r.outputs.map((o) => o.port), `packet ${i}`).toEqual(want);
      for (const o of r.outputs) expect(seqOf(o.bytes)).toBe(i);
    });
    // The 50 trailing drops cannot be credited by outputs: at least one stall barrier.
    expect(fake.perStream.length).toBeGreaterThan(1);
    expect(fake.perStream.reduce((a, b) => a + b, 0)).toBe(300);
  });

  it('concurrent calls are serialised on one stream at a time', async () => {
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => ch.send(1, frame(i))));
    expect(all.map((r) => seqOf(r.outputs[0]!.bytes))).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('captureUntracked collects id-0 outputs produced while it holds the channel', async () => {
    const outs = await ch.captureUntracked(
      async () => {
        // The server registers the stream asynchronously (so does bmv2): inject once it has.
        while (!fake.active) await new Promise((r) => setTimeout(r, 1));
        fake.injectUntracked(3);
      },
      { expectOutputs: 1 },
    );
    expect(outs.map((o) => [o.port, seqOf(o.bytes)])).toEqual([[3, 999]]);
    expect(ch.untracked.length).toBeGreaterThanOrEqual(1);
  });

  it('a stream refused for another reason fails with CTO_DATAPLANE', async () => {
    // Occupy the single stream slot with a raw client.
    // Held until released, and known to be open (fn runs on the open stream): no sleep decides
    // which client gets the slot (issue 12: deadlines must not decide outcomes under load).
    const other = new DataplaneChannel({ address: fake.address, deviceId: 1 });
    let release!: () => void;
    let opened!: () => void;
    const isOpen = new Promise<void>((r) => (opened = r));
    const streamsBefore = fake.streams;
    const hold = other.captureUntracked(() => {
      opened();
      return new Promise<void>((r) => (release = r));
    });
    await isOpen;
    await expect.poll(() => fake.streams).toBeGreaterThan(streamsBefore);
    await expect(ch.send(1, frame(0))).rejects.toMatchObject({ code: 'CTO_DATAPLANE', grpcCode: grpc.status.RESOURCE_EXHAUSTED });
    release();
    await hold;
    other.close();
    // The channel is usable afterwards.
    expect((await ch.send(1, frame(0))).outputs).toHaveLength(1);
  });

  it('SetPortOperStatus', async () => {
    await expect(ch.setPortOperStatus(3, false)).resolves.toBeUndefined();
  });

  it('refuses an empty packet and a bad window', async () => {
    await expect(ch.send(1, new Uint8Array(0))).rejects.toMatchObject({ code: 'CTO_DATAPLANE' });
    await expect(ch.sendBatch([{ port: 1, frame: frame(0) }], { window: 0 })).rejects.toThrow(/window must be ≥ 1/);
  });
});
