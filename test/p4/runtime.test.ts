/**
 * P4RuntimeClient against an in-process gRPC server that speaks p4.v1.P4Runtime with the
 * definitions of p4/proto (a real grpc-js server, not a mock of grpc internals): the client's
 * wiring — arbitration, election id on writes, per-update errors, stream demultiplexing,
 * digest acks, reconnect, deadlines — without bmv2.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  P4InfoIndex,
  P4RuntimeClient,
  WriteBatchError,
  encodeMessage,
  insert,
  serviceDefinition,
  tableEntry,
  waitForP4Runtime,
  type ArbitrationEvent,
  type StreamMessageResponse,
  type Update,
} from '../../p4/index.js';
import { handP4Info } from './fixtures/hand.p4info.js';
import { freePort } from './support/switch.js';

type Duplex = grpc.ServerDuplexStream<any, StreamMessageResponse>;

/** A P4Runtime server with PI's arbitration (highest live election id is primary) and a key set. */
class FakeP4Runtime {
  server = new grpc.Server();
  streams = new Map<Duplex, bigint>();
  writes: { electionId: bigint; updates: Update[] }[] = [];
  received: any[] = [];
  keys = new Set<string>();

  constructor() {
    this.server.addService(serviceDefinition('p4.v1.P4Runtime'), {
      Capabilities: (_call: unknown, cb: grpc.sendUnaryData<object>) => cb(null, { p4runtimeApiVersion: '1.3.0' }),
      Write: (call: grpc.ServerUnaryCall<any, object>, cb: grpc.sendUnaryData<object>) => this.write(call.request, cb),
      StreamChannel: (call: Duplex) => this.stream(call),
    });
  }

  async listen(): Promise<string> {
    const port = await freePort();
    await new Promise<void>((res, rej) => this.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
    return `127.0.0.1:${port}`;
  }

  primaryId(): bigint | undefined {
    let best: bigint | undefined;
    for (const id of this.streams.values()) if (best === undefined || id > best) best = id;
    return best;
  }

  announce(): void {
    const p = this.primaryId();
    for (const [s, id] of this.streams) {
      s.write({ arbitration: { deviceId: 1n, electionId: { high: p! >> 64n, low: p! & ((1n << 64n) - 1n) }, status: id === p ? { code: 0, message: 'Is primary' } : { code: 6, message: 'Is backup' } } });
    }
  }

  stream(call: Duplex): void {
    call.on('data', (msg: any) => {
      this.received.push(msg);
      if (msg.arbitration) {
        const id = ((msg.arbitration.electionId?.high ?? 0n) << 64n) | (msg.arbitration.electionId?.low ?? 0n);
        if ([...this.streams.values()].includes(id) && this.streams.get(call) !== id) {
          call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'Election id already exists' });
          return;
        }
        this.streams.set(call, id);
        this.announce();
      }
    });
    const gone = () => {
      if (this.streams.delete(call) && this.streams.size) this.announce();
    };
    call.on('end', () => {
      gone();
      call.end();
    });
    call.on('cancelled', gone);
    call.on('error', gone);
  }

  write(req: any, cb: grpc.sendUnaryData<object>): void {
    const id = ((req.electionId?.high ?? 0n) << 64n) | (req.electionId?.low ?? 0n);
    if (!req.electionId || id !== this.primaryId()) return cb({ code: grpc.status.PERMISSION_DENIED, details: 'Not primary' });
    this.writes.push({ electionId: id, updates: req.updates });
    const errs = (req.updates as Update[]).map((u) => {
      const k = Buffer.from(u.entity.tableEntry!.match![0]!.exact!.value).toString('hex');
      if (this.keys.has(k)) return { canonicalCode: 6, message: 'Match entry exists', space: 'fake' };
      this.keys.add(k);
      return {};
    });
    if (errs.every((e) => !e.canonicalCode)) return cb(null, {});
    const md = new grpc.Metadata();
    md.set('grpc-status-details-bin', Buffer.from(encodeMessage('google.rpc.Status', { code: 2, details: errs.map((e) => ({ typeUrl: 'type.googleapis.com/p4.v1.Error', value: encodeMessage('p4.v1.Error', e) })) })));
    cb({ code: grpc.status.UNKNOWN, details: '', metadata: md });
  }

  push(msg: StreamMessageResponse): void {
    for (const s of this.streams.keys()) s.write(msg);
  }

  /** End every session stream with an error, as a dying server would. */
  breakStreams(): void {
    for (const s of [...this.streams.keys()]) {
      this.streams.delete(s);
      s.emit('error', { code: grpc.status.UNAVAILABLE, details: 'going away' });
    }
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

const idx = P4InfoIndex.from(handP4Info());
const entry = (k: number) => insert(tableEntry(idx, 'ct_table', { match: { src: k, dst: 1, zone: 1 }, action: 'drop' }));

describe('P4RuntimeClient (in-process P4Runtime server)', () => {
  let fake: FakeP4Runtime;
  let address: string;
  const clients: P4RuntimeClient[] = [];
  const connect = async (electionId: bigint, extra: object = {}) => {
    const c = await P4RuntimeClient.connect(address, { deviceId: 1n, electionId, p4info: idx, deadlineMs: 5000, reconnect: { initialMs: 20, maxMs: 100 }, ...extra });
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    fake = new FakeP4Runtime();
    address = await fake.listen();
  });
  afterEach(() => {
    clients.splice(0).forEach((c) => c.close());
    fake.stop();
  });

  it('arbitrates, carries the election id on every Write and decodes per-update errors', async () => {
    const c = await connect((1n << 64n) + 5n);
    expect(c.isPrimary).toBe(true);
    expect(fake.received[0].arbitration).toMatchObject({ deviceId: 1n, electionId: { high: 1n, low: 5n } });
    expect(fake.received[0].arbitration.role).toBeUndefined();
    await c.write([entry(1), entry(2)]);
    const err = (await c.write([entry(3), entry(1), entry(4), entry(2)], { batchSize: 2 }).catch((e) => e)) as WriteBatchError;
    expect(err).toBeInstanceOf(WriteBatchError);
    expect(err.failures.map((f) => [f.index, f.codeName, f.message])).toEqual([
      [1, 'ALREADY_EXISTS', 'Match entry exists'],
      [3, 'ALREADY_EXISTS', 'Match entry exists'],
    ]);
    expect(fake.writes.map((w) => [w.electionId, w.updates.length])).toEqual([
      [(1n << 64n) + 5n, 2],
      [(1n << 64n) + 5n, 2],
      [(1n << 64n) + 5n, 2],
    ]);
  });

  it('surfaces backup/primary changes as events and refuses writes while backup', async () => {
    const a = await connect(10n);
    const seen: string[] = [];
    a.on('arbitration', (ev: ArbitrationEvent) => seen.push(`${ev.role}:${ev.primaryElectionId}`));
    const b = await connect(20n);
    expect(b.isPrimary).toBe(true);
    await expect.poll(() => a.isPrimary).toBe(false);
    await expect(a.write([entry(1)])).rejects.toMatchObject({ code: 'CTO_P4RT_NOT_PRIMARY' });
    expect(() => a.sendPacketOut(Uint8Array.of(1), { egress_port: 1, pad: 0 })).toThrow(/needs primaryship/);
    b.close();
    await a.waitPrimary(5000);
    expect(seen).toEqual(['backup:20', 'primary:10']);
    await expect(connect(10n, { reconnect: false })).rejects.toMatchObject({ code: 'CTO_P4RT_STREAM', grpcCode: grpc.status.INVALID_ARGUMENT });
  });

  it('sorts stream messages into typed queues, names them from the P4Info and acks digests', async () => {
    const c = await connect(1n);
    c.sendPacketOut(Uint8Array.of(0xab), { egress_port: 3, pad: 0 });
    await expect.poll(() => fake.received.find((m) => m.packet)).toBeTruthy();
    expect(fake.received.find((m) => m.packet).packet).toEqual({ payload: Buffer.from([0xab]), metadata: [{ metadataId: 1, value: Buffer.from([3]) }, { metadataId: 2, value: Buffer.from([0]) }] });

    fake.push({ packet: { payload: Uint8Array.of(1, 2), metadata: [{ metadataId: 1, value: Uint8Array.of(7) }, { metadataId: 2, value: Uint8Array.of(0) }] } });
    fake.push({ digest: { digestId: 0x17000001, listId: 3n, timestamp: 5n, data: [{ struct: { members: [{ bitstring: Uint8Array.of(0xaa) }, { bitstring: Uint8Array.of(9) }] } }] } });
    fake.push({ idleTimeoutNotification: { tableEntry: [tableEntry(idx, 'ct_table', { match: { src: 1, dst: 2, zone: 3 }, idleTimeoutNs: 1_000_000_000n })], timestamp: 77n } });
    fake.push({ error: { canonicalCode: 3, message: 'bad packet', packetOut: { packetOut: { payload: Uint8Array.of(1) } } } });

    const pin = await c.packetIns.next(2000);
    expect(pin).toMatchObject({ metadata: { ingress_port: 7n, pad: 0n } });
    expect(Buffer.from(pin!.payload)).toEqual(Buffer.from([1, 2]));
    const dig = await c.digests.next(2000);
    expect(dig).toMatchObject({ digest: 'learn_t', listId: 3n, samples: [{ src: 0xaan, port: 9n }] });
    const idle = await c.idleTimeouts.next(2000);
    expect(idle!.timestamp).toBe(77n);
    expect(idle!.decoded![0]).toMatchObject({ table: 'MyIngress.ct_table', idleTimeoutNs: 1_000_000_000n, match: { 'meta.zone': { kind: 'exact', value: 3n } } });
    const se = await c.streamErrors.next(2000);
    expect(se).toMatchObject({ canonicalCode: 3, message: 'bad packet', details: 'packetOut' });
    await expect.poll(() => fake.received.find((m) => m.digestAck)?.digestAck).toEqual({ digestId: 0x17000001, listId: 3n });
  });

  it('re-opens the stream and re-arbitrates after the server breaks it', async () => {
    const c = await connect(9n);
    const disconnected = new Promise((r) => c.once('disconnect', r));
    fake.breakStreams();
    await disconnected;
    await c.waitPrimary(5000);
    expect(fake.received.filter((m) => m.arbitration).length).toBe(2);
    await c.write([entry(1)]);
  });

  it('gives up at the deadline when nothing listens, and close() ends the queues', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const t0 = Date.now();
    await expect(P4RuntimeClient.connect(dead, { deviceId: 1n, electionId: 1n, deadlineMs: 600 })).rejects.toMatchObject({ code: 'CTO_P4RT_TIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(30_000); // gave up rather than hung (generous: a loaded machine is slow, never 50× slow)
    await expect(waitForP4Runtime(dead, 300)).rejects.toMatchObject({ code: 'CTO_P4RT_TIMEOUT' });
    expect(await waitForP4Runtime(address, 2000)).toBe('1.3.0');
    const c = await connect(1n);
    const pending = c.packetIns.next();
    c.close();
    expect(await pending).toBeUndefined();
    expect(c.isPrimary).toBe(false);
    await expect(c.write([entry(1)])).rejects.toMatchObject({ code: 'CTO_P4RT_NOT_PRIMARY' });
  });
});
