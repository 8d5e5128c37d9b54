import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  PACKET_IN_FIELDS,
  PACKET_OUT_FIELDS,
  PROBE_F_OUTPUT,
  PROBE_F_REPORT_DROP,
  PROBE_FIELDS,
  PROBE_LEN,
  PROBE_LOOKUP_FIELDS,
  PROBE_LOOKUP_LEN,
  PROBE_MAX_LOOKUPS,
  PROBE_VERSION,
  addInputProbe,
  decodePacketIn,
  decodeProbe,
  encodeProbe,
  packetOutDirect,
  splitObservedPayload,
} from '../../offload/probe.js';
import { PUNT, PUNT_REASONS, puntReasonName } from '../../offload/punt.js';
import type { CtLookup } from '../../model/verdict.js';

const u32 = fc.nat({ max: 0xffffffff });
const label = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
const lookupArb: fc.Arbitrary<CtLookup> = fc.record({ table: fc.integer({ min: 0, max: 254 }), state: fc.integer({ min: 0, max: 255 }), zone: fc.integer({ min: 0, max: 0xffff }), mark: u32, label });

describe('probe header', () => {
  it('field tables and encoder agree on the layout: 32-byte fixed part, 24-byte lookup records', () => {
    expect(PROBE_FIELDS.reduce((s, [, w]) => s + w, 0)).toBe(PROBE_LEN * 8);
    expect(PROBE_LOOKUP_FIELDS.reduce((s, [, w]) => s + w, 0)).toBe(PROBE_LOOKUP_LEN * 8);
    expect(PROBE_VERSION).toBe(2);
    const b = encodeProbe({ flags: 1, tag: 0x01020304, state: 0x2a, zone: 0x0506, mark: 0x0708090a, label: 0x0b0c0d0e0f101112131415161718191an });
    expect([...b.subarray(0, 16)]).toEqual([0x63, 0x74, 2, 1, 1, 2, 3, 4, 0x2a, 0, 5, 6, 7, 8, 9, 10]);
    expect(b[16]).toBe(0x0b);
    expect(b[31]).toBe(0x1a);
    expect(b.length).toBe(PROBE_LEN);
  });

  it('lookup records follow the fixed part, most recent first, count at offset 9', () => {
    const first: CtLookup = { table: 1, state: 0x21, zone: 5, mark: 0x11223344, label: 0n };
    const second: CtLookup = { table: 7, state: 0x22, zone: 0x0102, mark: 0, label: (1n << 127n) | 0xabn };
    const frame = Uint8Array.of(0xde, 0xad);
    const b = encodeProbe({ flags: PROBE_F_OUTPUT, tag: 9, state: 0x22, zone: 0x0102, mark: 0, label: 0n, lookups: [first, second] }, frame);
    expect(b.length).toBe(PROBE_LEN + 2 * PROBE_LOOKUP_LEN + 2);
    expect(b[9]).toBe(2);
    // record 0 is the most recent lookup (the program pushes each on the front of a header stack)
    expect([...b.subarray(32, 40)]).toEqual([7, 0x22, 0x01, 0x02, 0, 0, 0, 0]);
    expect(b[40]).toBe(0x80);
    expect(b[55]).toBe(0xab);
    expect([...b.subarray(56, 64)]).toEqual([1, 0x21, 0, 5, 0x11, 0x22, 0x33, 0x44]);
    expect([...b.subarray(80)]).toEqual([0xde, 0xad]);
    const d = decodeProbe(b)!;
    expect(d.probe.lookups).toEqual([first, second]); // execution order
    expect([...d.frame]).toEqual([0xde, 0xad]);
  });

  it('decode(encode(p)) = p, frame preserved, lookups in execution order', () => {
    fc.assert(
      fc.property(
        fc.record({ flags: fc.integer({ min: 0, max: 255 }), tag: u32, state: fc.integer({ min: 0, max: 255 }), zone: fc.integer({ min: 0, max: 0xffff }), mark: u32, label, lookups: fc.array(lookupArb, { maxLength: PROBE_MAX_LOOKUPS }) }),
        fc.uint8Array({ maxLength: 80 }),
        (p, frame) => {
          const d = decodeProbe(encodeProbe(p, frame))!;
          expect(d.probe).toEqual(p);
          expect([...d.frame]).toEqual([...frame]);
        },
      ),
    );
  });

  it('no lookups given: decodes as an empty list', () => {
    expect(decodeProbe(addInputProbe(Uint8Array.of(1), 3))!.probe).toEqual({ flags: 0, tag: 3, state: 0, zone: 0, mark: 0, label: 0n, lookups: [] });
  });

  it('frames without the magic, of another version, or shorter than their records are not probed', () => {
    expect(decodeProbe(new Uint8Array(60))).toBeNull();
    expect(decodeProbe(addInputProbe(new Uint8Array(0), 1).subarray(0, 31))).toBeNull();
    expect(decodeProbe(addInputProbe(new Uint8Array([1, 2]), 7))!.probe.tag).toBe(7);
    const v1 = addInputProbe(new Uint8Array(40), 7);
    v1[2] = 1;
    expect(decodeProbe(v1)).toBeNull();
    const two = encodeProbe({ flags: 1, tag: 1, state: 0, zone: 0, mark: 0, label: 0n, lookups: [{ table: 1, state: 0x21, zone: 0, mark: 0, label: 0n }, { table: 2, state: 0x21, zone: 0, mark: 0, label: 0n }] });
    expect(decodeProbe(two.subarray(0, PROBE_LEN + PROBE_LOOKUP_LEN))).toBeNull();
    const many = new Uint8Array(PROBE_LEN + PROBE_LOOKUP_LEN * 40);
    many.set(addInputProbe(new Uint8Array(0), 1));
    many[9] = 33;
    expect(decodeProbe(many)).toBeNull();
    expect(() => encodeProbe({ flags: 0, tag: 0, state: 0, zone: 0, mark: 0, label: 0n, lookups: new Array(33).fill({ table: 0, state: 0, zone: 0, mark: 0, label: 0n }) })).toThrow(RangeError);
  });

  it('splitObservedPayload: probe stripped from non-punt PacketIns of observation builds only', () => {
    const frame = Uint8Array.of(1, 2, 3);
    const lk: CtLookup = { table: 1, state: 0x22, zone: 3, mark: 4, label: 5n };
    const probed = encodeProbe({ flags: PROBE_F_REPORT_DROP, tag: 8, state: 0, zone: 0, mark: 0, label: 0n, lookups: [lk] }, frame);
    for (const reason of [0, PUNT.CONTROLLER]) {
      const r = splitObservedPayload(probed, reason, true)!;
      expect([...r.frame]).toEqual([1, 2, 3]);
      expect(r.lookups).toEqual([lk]);
      expect(splitObservedPayload(frame, reason, true)).toBeNull(); // the probe is missing: malformed
    }
    // punts carry the bare frame; production builds never carry a probe
    expect(splitObservedPayload(frame, PUNT.CT_MISS, true)).toEqual({ frame });
    expect(splitObservedPayload(probed, PUNT.CONTROLLER, false)).toEqual({ frame: probed });
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
