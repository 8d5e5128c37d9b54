/**
 * NanomsgPacketChannel against a fake bmv2 built on SpPairListener (bmv2 binds, we connect,
 * docs/p4-target-interfaces.md §5.4): port 1 → PACKET_OUT on port 2, other ports dropped, INFO_REQ → INFO_REP status 1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpPairListener, type SpPairSocket } from '../../p4/nanomsg.js';
import { BMV2_MSG, NanomsgPacketChannel, decodeBmv2Message, encodeBmv2Message } from '../../p4/nanomsg-channel.js';
import { frame, seqOf } from './support/frames.js';

describe('NanomsgPacketChannel (fake bmv2)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nnch-'));
  const address = `ipc://${join(dir, 'bmv2.ipc')}`;
  let fake: SpPairListener;
  let peers = 0;
  let current: SpPairSocket | undefined;
  let ch: NanomsgPacketChannel;

  beforeAll(async () => {
    fake = await SpPairListener.listen(address);
    fake.on('peer', (s: SpPairSocket) => {
      peers++;
      current = s;
      s.on('message', (m: Buffer) => {
        const msg = decodeBmv2Message(m);
        if (msg.type === BMV2_MSG.INFO_REQ) s.send(Buffer.concat([encodeBmv2Message(BMV2_MSG.INFO_REP, 0, new Uint8Array(0), 0), Buffer.from([1, 0, 0, 0])]));
        else if (msg.type === BMV2_MSG.PACKET_IN && msg.port === 1) s.send(encodeBmv2Message(BMV2_MSG.PACKET_OUT, 2, msg.data));
      });
    });
    ch = await NanomsgPacketChannel.open(address);
  });

  afterAll(async () => {
    ch.close();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('INFO_REQ / INFO_REP', async () => {
    expect(await ch.info()).toBe(1);
  });

  it('sends a packet and collects its output', async () => {
    const outs = await ch.sendAndCollect(1, frame(5), { expect: 1, timeoutMs: 2000 });
    expect(outs.map((o) => [o.port, seqOf(o.bytes)])).toEqual([[2, 5]]);
  });

  it('windowed sending: every output, drops written off by stalls', async () => {
    const packets = Array.from({ length: 200 }, (_, i) => ({ port: i >= 190 ? 9 : 1, frame: frame(i) }));
    const { outputs, stalls } = await ch.sendWindowed(packets, { window: 4, stallMs: 5, settleMs: 50 });
    expect(outputs.map((o) => seqOf(o.bytes))).toEqual(Array.from({ length: 190 }, (_, i) => i));
    // Only the last 10 are drops; the final 4 (≤ window) are never waited for in the loop.
    expect(stalls).toBe(6);
  });

  it('reconnects at once when the connection drops', async () => {
    const before = peers;
    current!.close();
    const deadline = Date.now() + 5000;
    while (peers === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(peers).toBe(before + 1);
    expect(ch.stats.reconnects).toBe(1);
    const outs = await ch.sendAndCollect(1, frame(77), { expect: 1, timeoutMs: 2000 });
    expect(outs.map((o) => seqOf(o.bytes))).toEqual([77]);
  });
});
