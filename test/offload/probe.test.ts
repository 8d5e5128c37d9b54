import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PACKET_IN_FIELDS, PACKET_OUT_FIELDS, PROBE_FIELDS, PROBE_LEN, addInputProbe, decodePacketIn, decodeProbe, encodeProbe, packetOutDirect } from '../../offload/probe.js';
import { PUNT, PUNT_REASONS, puntReasonName } from '../../offload/punt.js';

describe('probe header', () => {
  it('field table and encoder agree on the 32-byte layout', () => {
    expect(PROBE_FIELDS.reduce((s, [, w]) => s + w, 0)).toBe(PROBE_LEN * 8);
    const b = encodeProbe({ flags: 1, tag: 0x01020304, state: 0x2a, zone: 0x0506, mark: 0x0708090a, label: 0x0b0c0d0e0f101112131415161718191an });
    expect([...b.subarray(0, 16)]).toEqual([0x63, 0x74, 1, 1, 1, 2, 3, 4, 0x2a, 0, 5, 6, 7, 8, 9, 10]);
    expect(b[16]).toBe(0x0b);
    expect(b[31]).toBe(0x1a);
  });

  it('decode(encode(p)) = p, frame preserved', () => {
    fc.assert(
      fc.property(
        fc.record({ flags: fc.integer({ min: 0, max: 255 }), tag: fc.nat({ max: 0xffffffff }), state: fc.integer({ min: 0, max: 255 }), zone: fc.integer({ min: 0, max: 0xffff }), mark: fc.nat({ max: 0xffffffff }), label: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }) }),
        fc.uint8Array({ maxLength: 80 }),
        (p, frame) => {
          const d = decodeProbe(encodeProbe(p, frame))!;
          expect(d.probe).toEqual(p);
          expect([...d.frame]).toEqual([...frame]);
        },
      ),
    );
  });

  it('frames without the magic are not probed', () => {
    expect(decodeProbe(new Uint8Array(60))).toBeNull();
    expect(decodeProbe(addInputProbe(new Uint8Array(0), 1).subarray(0, 31))).toBeNull();
    expect(decodeProbe(addInputProbe(new Uint8Array([1, 2]), 7))!.probe.tag).toBe(7);
  });
});

describe('controller headers and punt reasons', () => {
  it('packet_in/packet_out are whole bytes (bmv2) and metadata helpers use their names', () => {
    expect(PACKET_IN_FIELDS.reduce((s, [, w]) => s + w, 0) % 8).toBe(0);
    expect(PACKET_OUT_FIELDS.reduce((s, [, w]) => s + w, 0) % 8).toBe(0);
    expect(Object.keys(packetOutDirect(3, undefined, 9))).toEqual(PACKET_OUT_FIELDS.map(([n]) => n));
    const pin = decodePacketIn({ ingress_port: 4, reason: PUNT.CT_MISS, stage: 1, table_id: 0, ct_state: 0x21, ct_zone: 1, ct_mark: 0, ct_label: 3n, tag: 77 });
    expect(pin).toEqual({ ingressPort: 4, reason: 1, stage: 1, tableId: 0, ct: { state: 0x21, zone: 1, mark: 0, label: 3n }, tag: 77 });
  });

  it('reason codes are unique, non-zero and fit 8 bits', () => {
    const codes = PUNT_REASONS.map((r) => r.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes.every((c) => c > 0 && c < 256)).toBe(true);
    expect(puntReasonName(PUNT.TCP_FLAGS)).toBe('TCP_FLAGS');
    expect(puntReasonName(200)).toBe('REASON_200');
  });
});
