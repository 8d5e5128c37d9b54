/**
 * The one home of the match fields a compiled policy table can key on: OVS field name (also
 * the P4Info match-field name, via `@name`), bit width and the P4 metadata it reads. The
 * ingress prologue fills `meta.fk` once per packet the way OVS fills its flow key
 * (lib/flow.c `miniflow_extract`): dl_type is the innermost EtherType after VLAN tags,
 * tp_src/tp_dst hold the ICMP type/code for ICMP (OVS stores icmp_type/icmp_code there).
 */

export interface KeyField {
  name: KeyFieldName;
  width: number;
  /** P4 expression of the value (a metadata field). */
  expr: string;
  comment: string;
}

export type KeyFieldName =
  | 'in_port'
  | 'dl_src'
  | 'dl_dst'
  | 'dl_type'
  | 'dl_vlan'
  | 'nw_src'
  | 'nw_dst'
  | 'ipv6_src'
  | 'ipv6_dst'
  | 'nw_proto'
  | 'nw_tos'
  | 'nw_ttl'
  | 'tp_src'
  | 'tp_dst'
  | 'tcp_flags'
  | 'ct_state'
  | 'ct_zone'
  | 'ct_mark'
  | 'ct_label';

/** Canonical key order (P4Info match-field ids follow it). */
export const KEY_FIELDS: readonly KeyField[] = [
  { name: 'in_port', width: 9, expr: 'meta.fk.in_port', comment: 'ingress port (bmv2 ports are 9 bits)' },
  { name: 'dl_src', width: 48, expr: 'meta.fk.dl_src', comment: 'Ethernet source' },
  { name: 'dl_dst', width: 48, expr: 'meta.fk.dl_dst', comment: 'Ethernet destination' },
  { name: 'dl_type', width: 16, expr: 'meta.fk.dl_type', comment: 'EtherType after VLAN tags' },
  { name: 'dl_vlan', width: 16, expr: 'meta.fk.vlan_tci', comment: 'outer 802.1Q TCI with OVS CFI bit 0x1000 when tagged' },
  { name: 'nw_src', width: 32, expr: 'meta.fk.nw_src', comment: 'IPv4 source' },
  { name: 'nw_dst', width: 32, expr: 'meta.fk.nw_dst', comment: 'IPv4 destination' },
  { name: 'ipv6_src', width: 128, expr: 'meta.fk.ipv6_src', comment: 'IPv6 source' },
  { name: 'ipv6_dst', width: 128, expr: 'meta.fk.ipv6_dst', comment: 'IPv6 destination' },
  { name: 'nw_proto', width: 8, expr: 'meta.fk.nw_proto', comment: 'IP protocol / IPv6 next header' },
  { name: 'nw_tos', width: 8, expr: 'meta.fk.nw_tos', comment: 'IPv4 TOS / IPv6 traffic class' },
  { name: 'nw_ttl', width: 8, expr: 'meta.fk.nw_ttl', comment: 'IPv4 TTL / IPv6 hop limit' },
  { name: 'tp_src', width: 16, expr: 'meta.fk.tp_src', comment: 'L4 source port; ICMP type' },
  { name: 'tp_dst', width: 16, expr: 'meta.fk.tp_dst', comment: 'L4 destination port; ICMP code' },
  { name: 'tcp_flags', width: 12, expr: 'meta.fk.tcp_flags', comment: 'TCP flags (12 bits, as OVS)' },
  { name: 'ct_state', width: 8, expr: 'meta.ct.state', comment: 'ct_state bits (OVS defines 8)' },
  { name: 'ct_zone', width: 16, expr: 'meta.ct.zone', comment: 'zone of the last ct()' },
  { name: 'ct_mark', width: 32, expr: 'meta.ct.mark', comment: 'ct_mark' },
  { name: 'ct_label', width: 128, expr: 'meta.ct.label', comment: 'ct_label' },
];

const BY_NAME = new Map(KEY_FIELDS.map((f) => [f.name, f]));

export function keyField(name: KeyFieldName): KeyField {
  return BY_NAME.get(name)!;
}

export function isKeyFieldName(s: string): s is KeyFieldName {
  return BY_NAME.has(s as KeyFieldName);
}

export function fullMask(width: number): bigint {
  return (1n << BigInt(width)) - 1n;
}
