/**
 * SP over IPC (p4/nanomsg.ts) without libnanomsg: wire format of docs/p4-target-interfaces.md §5.5, the decoder on split
 * and coalesced chunks, and our listener/connector talking to each other and to raw sockets that
 * misbehave (wrong header, wrong type, silence, oversize, second peer).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SpDecoder,
  SpPairListener,
  SpPairSocket,
  encodeSpFrame,
  parseSpHandshake,
  spHandshake,
} from '../../p4/nanomsg.js';
import { BMV2_MSG, decodeBmv2Message, encodeBmv2Message } from '../../p4/nanomsg-channel.js';

const dir = mkdtempSync(join(tmpdir(), 'nn-'));
let n = 0;
const addr = (): string => `ipc://${join(dir, `s${n++}.ipc`)}`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SP wire format (docs/p4-target-interfaces.md §5.5)', () => {
  it('PAIR handshake is 00 53 50 00 00 10 00 00', () => {
    expect(spHandshake().toString('hex')).toBe('0053500000100000');
    expect(parseSpHandshake(spHandshake())).toBe(16);
    expect(parseSpHandshake(spHandshake(0x51))).toBe(0x51);
  });

  it('rejects a header that is not SP', () => {
    expect(() => parseSpHandshake(Buffer.from('GET / HT'))).toThrow(expect.objectContaining({ code: 'CTO_NANOMSG_PROTOCOL' }));
    expect(() => parseSpHandshake(Buffer.from([0, 0x53, 0x50, 0, 0, 0x10, 0, 1]))).toThrow(/reserved/);
  });

  it('frame = 0x01, u64 BE length, payload', () => {
    expect(encodeSpFrame(Buffer.from('abc')).toString('hex')).toBe('01' + '0000000000000003' + '616263');
    expect(encodeSpFrame(new Uint8Array(0)).toString('hex')).toBe('010000000000000000');
  });
});

describe('SpDecoder', () => {
  const wire = Buffer.concat([spHandshake(), encodeSpFrame(Buffer.from('hello')), encodeSpFrame(Buffer.alloc(0)), encodeSpFrame(Buffer.alloc(300, 7))]);

  it('decodes byte by byte', () => {
    const d = new SpDecoder();
    const got: Buffer[] = [];
    for (const b of wire) got.push(...d.push(Buffer.from([b])));
    expect(got.map((m) => m.length)).toEqual([5, 0, 300]);
    expect(got[0]!.toString()).toBe('hello');
    expect(d.pending).toBe(0);
  });

  it('decodes everything in one chunk', () => {
    const d = new SpDecoder();
    expect(d.push(wire).map((m) => m.length)).toEqual([5, 0, 300]);
    expect(d.peerType).toBe(16);
  });

  it('refuses a non-PAIR peer, a bad message type, an oversize message', () => {
    expect(() => new SpDecoder().push(spHandshake(0x30))).toThrow(/not compatible with PAIR/);
    expect(() => new SpDecoder().push(Buffer.concat([spHandshake(), Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0])]))).toThrow(/message type 0x02/);
    const big = Buffer.concat([spHandshake(), Buffer.from([1, 0, 0, 0, 0, 0, 0x10, 0, 1])]);
    expect(() => new SpDecoder().push(big)).toThrow(/exceeds the 1048576-byte limit/);
    expect(() => new SpDecoder({ maxMessageSize: 4 }).push(Buffer.concat([spHandshake(), encodeSpFrame(Buffer.alloc(5))]))).toThrow(expect.objectContaining({ code: 'CTO_NANOMSG_PROTOCOL' }));
  });

  it('messages survive later reuse of the input chunk', () => {
    const d = new SpDecoder();
    const chunk = Buffer.from(wire);
    const got = d.push(chunk);
    chunk.fill(0);
    expect(got[0]!.toString()).toBe('hello');
  });
});

describe('bmv2 packet-in messages (docs/p4-target-interfaces.md §5.4)', () => {
  it('12-byte little-endian header, packet after it', () => {
    const m = encodeBmv2Message(BMV2_MSG.PACKET_IN, 1, Buffer.from([0xaa, 0xbb]));
    expect(m.toString('hex')).toBe('03000000' + '01000000' + '02000000' + 'aabb');
    expect(decodeBmv2Message(m)).toEqual({ type: 3, port: 1, more: 2, data: Buffer.from([0xaa, 0xbb]) });
  });

  it('INFO_REP carries the status int', () => {
    const rep = Buffer.from('06000000' + '00000000' + '00000000' + '01000000', 'hex');
    const d = decodeBmv2Message(rep);
    expect([d.type, Buffer.from(d.data).readInt32LE(0)]).toEqual([BMV2_MSG.INFO_REP, 1]);
  });

  it('rejects short messages and lengths beyond the data', () => {
    expect(() => decodeBmv2Message(Buffer.alloc(11))).toThrow(expect.objectContaining({ code: 'CTO_NANOMSG_PROTOCOL' }));
    expect(() => decodeBmv2Message(encodeBmv2Message(BMV2_MSG.PACKET_OUT, 2, Buffer.alloc(3), 60))).toThrow(/says 60 bytes but carries 3/);
  });
});

/** A raw Unix-socket server that runs `onConn` for each connection. */
async function rawServer(path: string, onConn: (s: Socket) => void): Promise<{ close(): Promise<void> }> {
  const srv = createServer((s) => {
    // Read (and drop) whatever comes, so the peer's close is seen and server.close() can finish.
    s.on('error', () => undefined);
    s.resume();
    onConn(s);
  });
  await new Promise<void>((r) => srv.listen(path, () => r()));
  return { close: () => new Promise<void>((r) => srv.close(() => r())) };
}

describe('SpPairListener / SpPairSocket over a Unix socket', () => {
  it('exchange both ways, including a 1 MiB message and many small ones', async () => {
    const a = addr();
    const l = await SpPairListener.listen(a);
    try {
      const [server, client] = await Promise.all([l.accept(2000), SpPairSocket.connect(a)]);
      client.send(Buffer.from('ping'));
      expect((await server.recv(2000)).toString()).toBe('ping');
      const big = Buffer.alloc(1024 * 1024, 0x5a);
      server.send(big);
      expect((await client.recv(2000)).equals(big)).toBe(true);
      for (let i = 0; i < 500; i++) client.send(Buffer.from(String(i)));
      const got: string[] = [];
      for (let i = 0; i < 500; i++) got.push((await server.recv(2000)).toString());
      expect(got).toEqual(Array.from({ length: 500 }, (_, i) => String(i)));
      client.close();
      await expect(server.recv(2000)).rejects.toMatchObject({ code: 'CTO_NANOMSG_CLOSED' });
    } finally {
      await l.close();
    }
  });

  it('a second peer is refused while one is connected (PAIR is exclusive)', async () => {
    const a = addr();
    const l = await SpPairListener.listen(a);
    try {
      const first = await SpPairSocket.connect(a);
      await l.accept(2000);
      await expect(SpPairSocket.connect(a, { handshakeTimeoutMs: 500 })).rejects.toMatchObject({ code: 'CTO_NANOMSG_PROTOCOL' });
      expect(first.isOpen).toBe(true);
      first.close();
    } finally {
      await l.close();
    }
  });

  it('a peer that never sends its header times out after the handshake deadline', async () => {
    const path = join(dir, `raw${n++}.ipc`);
    const srv = await rawServer(path, () => undefined);
    try {
      await expect(SpPairSocket.connect(`ipc://${path}`, { handshakeTimeoutMs: 100 })).rejects.toMatchObject({ code: 'CTO_NANOMSG_TIMEOUT' });
    } finally {
      await srv.close();
    }
  });

  it('a peer of another socket type is refused', async () => {
    const path = join(dir, `raw${n++}.ipc`);
    const srv = await rawServer(path, (s) => s.write(spHandshake(0x70))); // PUSH
    try {
      await expect(SpPairSocket.connect(`ipc://${path}`)).rejects.toThrow(/socket type 112 is not compatible/);
    } finally {
      await srv.close();
    }
  });

  it('a message coalesced with the peer header is delivered; oversize drops the connection', async () => {
    const path = join(dir, `raw${n++}.ipc`);
    const srv = await rawServer(path, (s) => {
      s.write(Buffer.concat([spHandshake(), encodeSpFrame(Buffer.from('early'))]));
      setTimeout(() => s.write(Buffer.from([1, 0, 0, 0, 0, 0, 0, 1, 0])), 20); // 256-byte message announced
    });
    try {
      const c = await SpPairSocket.connect(`ipc://${path}`, { maxMessageSize: 100 });
      expect((await c.recv(1000)).toString()).toBe('early');
      await expect(c.recv(1000)).rejects.toMatchObject({ code: 'CTO_NANOMSG_PROTOCOL' });
      expect(c.isOpen).toBe(false);
    } finally {
      await srv.close();
    }
  });

  it('listen removes a stale socket file but refuses a live one', async () => {
    const a = addr();
    const l1 = await SpPairListener.listen(a);
    await expect(SpPairListener.listen(a)).rejects.toMatchObject({ code: 'CTO_NANOMSG_ADDRESS' });
    await l1.close();
    // A stale file: a socket whose server died without unlinking.
    const path = a.slice(6);
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(path, () => r()));
    (srv as unknown as { _handle: { close(): void } })._handle.close(); // leave the file behind
    const l2 = await SpPairListener.listen(a);
    const c = await SpPairSocket.connect(a);
    await l2.accept(1000);
    c.close();
    await l2.close();
  });
});
