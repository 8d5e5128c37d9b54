import { describe, expect, it } from 'vitest';
import {
  counterEntry,
  decodeDigestList,
  decodePacketIn,
  describeTableEntry,
  digestEntry,
  directCounterEntry,
  insert,
  modify,
  packetOut,
  remove,
  tableEntry,
  tableReadRequest,
} from '../../p4/entities.js';
import { P4InfoIndex } from '../../p4/p4info.js';
import { decodeMessage, encodeMessage } from '../../p4/proto.js';
import { handP4Info } from './fixtures/hand.p4info.js';

const idx = P4InfoIndex.from(handP4Info());
const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('hex');
const err = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
  return 'no error';
};

describe('tableEntry', () => {
  it('builds an exact-match entry with canonical values, action, TTL and counter', () => {
    const e = tableEntry(idx, 'ct_table', {
      match: { 'hdr.ipv4.src': '10.0.0.1', 'hdr.ipv4.dst': '10.0.0.2', zone: 5 },
      action: 'set_ct',
      params: { mark: 0, port: 3 },
      idleTimeoutNs: 1_000_000_000n,
      counterData: { packetCount: 0 },
    });
    expect(e.tableId).toBe(0x02000001);
    expect(e.match!.map((m) => [m.fieldId, hex(m.exact!.value)])).toEqual([[1, '0a000001'], [2, '0a000002'], [3, '05']]);
    expect(e.action!.action!.actionId).toBe(0x01000001);
    expect(e.action!.action!.params!.map((p) => [p.paramId, hex(p.value)])).toEqual([[1, '03'], [2, '00']]);
    expect(e.priority).toBeUndefined();
    expect(e.idleTimeoutNs).toBe(1_000_000_000n);
    expect(e.counterData).toEqual({ packetCount: 0n });
    // It encodes with the real definitions and reads back the same.
    const back = decodeMessage<any>('p4.v1.TableEntry', encodeMessage('p4.v1.TableEntry', e));
    expect(describeTableEntry(idx, back)).toEqual({
      table: 'MyIngress.ct_table',
      match: {
        'hdr.ipv4.src': { kind: 'exact', value: 0x0a000001n },
        'hdr.ipv4.dst': { kind: 'exact', value: 0x0a000002n },
        'meta.zone': { kind: 'exact', value: 5n },
      },
      action: 'MyIngress.set_ct',
      params: { port: 3n, mark: 0n },
      priority: 0,
      isDefaultAction: false,
      idleTimeoutNs: 1_000_000_000n,
      counterData: { byteCount: 0n, packetCount: 0n },
    });
  });

  it('enforces exact fields and value widths, naming table and field', () => {
    expect(err(() => tableEntry(idx, 'ct_table', { match: { src: '10.0.0.1', dst: 1 }, action: 'drop' }))).toBe(
      "CTO_P4_ENTITY: table 'MyIngress.ct_table', field 'meta.zone': EXACT field missing (exact fields cannot be omitted)",
    );
    expect(err(() => tableEntry(idx, 'ct_table', { match: { src: 1, dst: 1, zone: 70000 }, action: 'drop' }))).toMatch(
      /^CTO_P4_VALUE: table 'MyIngress.ct_table', field 'meta.zone': value 70000 does not fit in bit<16>/,
    );
    expect(err(() => tableEntry(idx, 'ct_table', { match: { src: 1, dst: 1, zone: 1, bogus: 1 }, action: 'drop' }))).toMatch(
      /^CTO_P4INFO_UNKNOWN_NAME: table 'MyIngress.ct_table': no match field named 'bogus'/,
    );
    expect(err(() => tableEntry(idx, 'ct_table', { match: { src: 1, 'hdr.ipv4.src': 2, dst: 1, zone: 1 } }))).toMatch(/field 'hdr.ipv4.src': given twice/);
  });

  it('enforces priority iff a TERNARY/RANGE/OPTIONAL field exists (spec §9.1)', () => {
    expect(err(() => tableEntry(idx, 'MyIngress.acl.filter', { match: { ether_type: 0x800 }, action: 'drop' }))).toMatch(
      /CTO_P4_ENTITY: table 'MyIngress.acl.filter': priority > 0 required: the table has TERNARY field 'hdr.ethernet.ether_type', RANGE field 'hdr.ipv4.protocol', OPTIONAL field 'hdr.ipv4.dst'/,
    );
    expect(err(() => tableEntry(idx, 'ct_table', { match: { src: 1, dst: 1, zone: 1 }, action: 'drop', priority: 10 }))).toMatch(/priority must be 0/);
    expect(err(() => tableEntry(idx, 'MyIngress.acl.filter', { action: 'drop', priority: -1 }))).toMatch(/priority -1 is not an int32/);
    const e = tableEntry(idx, 'MyIngress.acl.filter', { match: {}, action: 'drop', priority: 7 });
    expect(e.match).toEqual([]);
    expect(e.priority).toBe(7);
  });

  it('builds ternary, range, optional and LPM fields in canonical form', () => {
    const acl = tableEntry(idx, 'MyIngress.acl.filter', {
      match: { ether_type: { value: 0x0800, mask: 0xff00 }, protocol: { low: 6, high: 17 }, 'hdr.ipv4.dst': '10.0.0.9' },
      action: 'drop',
      priority: 1,
    });
    expect(acl.match!.map((m) => m.fieldMatchType ?? Object.keys(m).find((k) => k !== 'fieldId'))).toEqual(['ternary', 'range', 'optional']);
    expect(hex(acl.match![0]!.ternary!.value)).toBe('0800');
    expect(hex(acl.match![0]!.ternary!.mask)).toBe('ff00');
    expect([hex(acl.match![1]!.range!.low), hex(acl.match![1]!.range!.high)]).toEqual(['06', '11']);
    expect(hex(acl.match![2]!.optional!.value)).toBe('0a000009');
    const r = tableEntry(idx, 'routes', { match: { 'hdr.ipv6.dst': 'fd00::/8' }, action: 'set_nhop', params: { dmac: '00:00:00:00:00:03' } });
    expect(r.match![0]!.lpm).toEqual({ value: Uint8Array.from(Buffer.from('fd' + '00'.repeat(15), 'hex')), prefixLen: 8 });
    expect(hex(r.action!.action!.params![0]!.value)).toBe('03');
    const full = tableEntry(idx, 'routes', { match: { 'hdr.ipv6.dst': { value: '::1' } }, action: 'drop' });
    expect(full.match![0]!.lpm!.prefixLen).toBe(128);
  });

  it('rejects the don\'t-care equivalents and non-canonical masked values (spec §9.1.1)', () => {
    const acl = (match: Record<string, unknown>): string => err(() => tableEntry(idx, 'MyIngress.acl.filter', { match: match as never, action: 'drop', priority: 1 }));
    expect(acl({ ether_type: { value: 0, mask: 0 } })).toMatch(/field 'hdr.ethernet.ether_type': ternary mask 0 means "don't care": omit the field/);
    expect(acl({ ether_type: { value: 0x0801, mask: 0xff00 } })).toMatch(/ternary value 0x801 has bits outside mask 0xff00/);
    expect(acl({ protocol: { low: 0, high: 255 } })).toMatch(/field 'hdr.ipv4.protocol': a range covering the whole domain/);
    expect(acl({ protocol: { low: 9, high: 3 } })).toMatch(/range low 9 > high 3/);
    expect(acl({ protocol: { low: 9, high: 256 } })).toMatch(/CTO_P4_VALUE.*field 'hdr.ipv4.protocol': value 256 does not fit in bit<8>/);
    const route = (m: unknown): string => err(() => tableEntry(idx, 'routes', { match: { 'hdr.ipv6.dst': m as never }, action: 'drop' }));
    expect(route('::/0')).toMatch(/field 'hdr.ipv6.dst': LPM prefix length 0 means "don't care"/);
    expect(route('fd00::1/8')).toMatch(/has bits set beyond the \/8 prefix/);
    expect(route({ value: 1, prefixLen: 129 })).toMatch(/prefix length 129 is outside 1..128/);
  });

  it('checks actions, params and their scopes', () => {
    const ct = { src: 1, dst: 2, zone: 3 };
    expect(err(() => tableEntry(idx, 'ct_table', { match: ct, action: 'set_nhop', params: { dmac: 1 } }))).toMatch(
      /table 'MyIngress.ct_table': action 'MyIngress.set_nhop' is not an action of this table \(allowed: MyIngress.set_ct, MyIngress.drop, NoAction\)/,
    );
    expect(err(() => tableEntry(idx, 'ct_table', { match: ct, action: 'set_ct', params: { port: 1 } }))).toMatch(/action 'MyIngress.set_ct' is missing param 'mark'/);
    expect(err(() => tableEntry(idx, 'ct_table', { match: ct, action: 'set_ct', params: { port: 1, mark: 2, extra: 3 } }))).toMatch(
      /CTO_P4INFO_UNKNOWN_NAME: action 'MyIngress.set_ct': no param named 'extra'/,
    );
    expect(err(() => tableEntry(idx, 'ct_table', { match: ct, action: 'set_ct', params: { port: 512, mark: 0 } }))).toMatch(
      /CTO_P4_VALUE: action 'MyIngress.set_ct', param 'port': value 512 does not fit in bit<9>/,
    );
    expect(err(() => tableEntry(idx, 'ct_table', { match: ct, action: 'NoAction' }))).toMatch(/@defaultonly and cannot be used in an entry/);
    expect(err(() => tableEntry(idx, 'MyIngress.acl.filter', { isDefaultAction: true, action: 'punt' }))).toMatch(/@tableonly and cannot be the default action/);
    expect(err(() => tableEntry(idx, 'MyEgress.acl.filter', { isDefaultAction: true, action: 'NoAction' }))).toMatch(/the default action is const \(NoAction\)/);
    expect(err(() => tableEntry(idx, 'ct_table', { match: ct, params: { port: 1 } }))).toMatch(/params given without an action/);
  });

  it('checks idle timeout, direct counter and the default entry', () => {
    expect(err(() => tableEntry(idx, 'routes', { match: { 'hdr.ipv6.dst': '::1' }, action: 'drop', idleTimeoutNs: 1e9 }))).toMatch(
      /table 'MyIngress.routes': idle timeout set on a table without support_timeout/,
    );
    expect(err(() => tableEntry(idx, 'routes', { match: { 'hdr.ipv6.dst': '::1' }, action: 'drop', counterData: {} }))).toMatch(/counter_data set on a table without a direct counter/);
    expect(err(() => tableEntry(idx, 'ct_table', { match: { src: 1, dst: 1, zone: 1 }, action: 'drop', idleTimeoutNs: -5 }))).toMatch(/not a non-negative int64/);
    expect(err(() => tableEntry(idx, 'ct_table', { isDefaultAction: true, match: { src: 1 }, action: 'drop' }))).toMatch(/the default entry has no match fields/);
    expect(err(() => tableEntry(idx, 'ct_table', { isDefaultAction: true, action: 'drop', idleTimeoutNs: 5 }))).toMatch(/cannot have an idle timeout/);
    const d = tableEntry(idx, 'ct_table', { isDefaultAction: true, action: 'NoAction' });
    expect(d).toEqual({ tableId: 0x02000001, isDefaultAction: true, action: { action: { actionId: 0x01000003, params: [] } } });
    expect(err(() => insert(d))).toMatch(/the default entry accepts only MODIFY, not INSERT/);
    expect(modify(d).type).toBe('MODIFY');
  });
});

describe('update helpers and other entities', () => {
  it('wraps entries and checks INSERT needs an action', () => {
    const key = tableEntry(idx, 'ct_table', { match: { src: 1, dst: 2, zone: 3 } });
    expect(err(() => insert(key))).toMatch(/INSERT needs an action/);
    expect(remove(key)).toEqual({ type: 'DELETE', entity: { tableEntry: key } });
    expect(err(() => insert({ counterEntry: counterEntry(idx, 'misses', 1) }))).toMatch(/accept only MODIFY/);
  });

  it('builds counter, direct counter, digest and read entities', () => {
    expect(counterEntry(idx, 'misses', 3)).toEqual({ counterId: 0x12000001, index: { index: 3n } });
    expect(counterEntry(idx, 'misses')).toEqual({ counterId: 0x12000001 });
    expect(err(() => counterEntry(idx, 'misses', 8))).toMatch(/CTO_P4_VALUE: counter 'MyIngress.misses': index 8 outside 0..7/);
    expect(directCounterEntry(idx, 'ct_table')).toEqual({ tableEntry: { tableId: 0x02000001 } });
    expect(err(() => directCounterEntry(idx, 'routes'))).toMatch(/no direct counter/);
    expect(digestEntry(idx, 'learn_t')).toEqual({ digestId: 0x17000001, config: { maxTimeoutNs: 0n, maxListSize: 1, ackTimeoutNs: 0n } });
    expect(tableReadRequest(idx)).toEqual({ tableId: 0 });
    expect(tableReadRequest(idx, 'ct_table', { counterData: true, withTimeSinceLastHit: true })).toEqual({ tableId: 0x02000001, counterData: {}, timeSinceLastHit: {} });
    // A read key may omit nothing but also needs no action.
    expect(tableReadRequest(idx, 'ct_table', { match: { src: 1, dst: 2, zone: 3 } }).match).toHaveLength(3);
  });
});

describe('packet I/O and digests by name', () => {
  it('PacketOut needs every packet_out field, encoded canonically', () => {
    const p = packetOut(idx, Uint8Array.of(1, 2, 3), { egress_port: 3, pad: 0 });
    expect(p.metadata).toEqual([{ metadataId: 1, value: Uint8Array.of(3) }, { metadataId: 2, value: Uint8Array.of(0) }]);
    expect(err(() => packetOut(idx, Uint8Array.of(1), { egress_port: 3 }))).toBe("CTO_P4_VALUE: PacketOut: missing packet_out field 'pad'");
    expect(err(() => packetOut(idx, Uint8Array.of(1), { egress_port: 600, pad: 0 }))).toMatch(/packet_out field 'egress_port': value 600 does not fit in bit<9>/);
    expect(err(() => packetOut(idx, Uint8Array.of(1), { egress: 1, pad: 0 }))).toMatch(/CTO_P4INFO_UNKNOWN_NAME: controller header 'packet_out': no metadata field named 'egress'.*'egress_port'/);
  });

  it('PacketIn and DigestList decode to names', () => {
    expect(decodePacketIn(idx, { payload: Uint8Array.of(9), metadata: [{ metadataId: 1, value: Uint8Array.of(7) }, { metadataId: 2, value: Uint8Array.of(0) }, { metadataId: 9, value: Uint8Array.of(1) }] })).toEqual({
      payload: Uint8Array.of(9),
      metadata: { ingress_port: 7n, pad: 0n, '#9': 1n },
    });
    const d = decodeDigestList(idx, {
      digestId: 0x17000001,
      listId: 4n,
      timestamp: 99n,
      data: [{ struct: { members: [{ bitstring: Uint8Array.of(0xaa, 0xbb) }, { bitstring: Uint8Array.of(2) }] } }],
    });
    expect(d).toEqual({ digest: 'learn_t', digestId: 0x17000001, listId: 4n, timestamp: 99n, samples: [{ src: 0xaabbn, port: 2n }] });
  });
});
