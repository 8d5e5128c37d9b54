/** Pins the public surface of model/packet (docs/style.md §5: the public types are tested). */
import { describe, expectTypeOf, it, expect } from 'vitest';
import * as packet from '../../../model/packet/index.js';
import type { CaptureRecord, Frame, FrameSpec, Layer, TcpOption } from '../../../model/packet/index.js';

describe('model/packet index', () => {
  it('exports the codec, builder, view, checksums and capture API', () => {
    expectTypeOf(packet.buildFrame).toEqualTypeOf<(spec: FrameSpec) => Uint8Array>();
    expectTypeOf(packet.ipPacketOf).toEqualTypeOf<(frame: Uint8Array) => Uint8Array>();
    expectTypeOf(packet.decodeFrame).toEqualTypeOf<(bytes: Uint8Array) => Frame>();
    expectTypeOf(packet.encodeFrame).toEqualTypeOf<(frame: Frame) => Uint8Array>();
    expectTypeOf<Frame['layers']>().toEqualTypeOf<Layer[]>();
    expectTypeOf<Extract<TcpOption, { kind: 'wscale' }>>().toEqualTypeOf<{ kind: 'wscale'; shift: number }>();
    expectTypeOf<CaptureRecord>().toEqualTypeOf<{ timeNs: bigint; port: number; data: Uint8Array; origLen: number; comment?: string }>();
    expectTypeOf(packet.readCapture).parameters.toEqualTypeOf<[Uint8Array, string, packet.ReadCaptureOptions?]>();
    expectTypeOf(packet.readCaptureFile).returns.toEqualTypeOf<Promise<CaptureRecord[]>>();
    expectTypeOf(packet.writePcapng).returns.toEqualTypeOf<Uint8Array>();
    expectTypeOf(packet.writePcap).returns.toEqualTypeOf<Uint8Array>();
    for (const name of ['PacketView', 'sum16', 'finishChecksum', 'pseudoSum4', 'pseudoSum6', 'checksumOk', 'parseTcpFlags', 'completeFrame', 'readPcap', 'readPcapng', 'detectCaptureFormat']) {
      expect(typeof (packet as Record<string, unknown>)[name]).toBe('function');
    }
  });
});
