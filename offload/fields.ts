/**
 * The match fields a compiled policy table can key on, and the P4 facts about each: its P4
 * metadata expression and hardware width. The names and their canonical order are the model's
 * (model/pipeline/ast.ts `MATCH_FIELDS`, the one list of match fields; P4Info match-field names
 * are the same OVS names, via `@name`); this file only says which of them the hardware keys on
 * and how. The AST's ct tuple fields (ct_nw_src, ct_tp_dst, …) are not keyed in hardware: a flow
 * matching them is a slow-path punt (offload/from-policy.ts).
 *
 * The ingress prologue fills `meta.fk` once per packet the way OVS fills its flow key
 * (lib/flow.c `miniflow_extract`): dl_type is the innermost EtherType after VLAN tags,
 * tp_src/tp_dst hold the ICMP type/code for ICMP (OVS stores icmp_type/icmp_code there).
 */
import { type MatchFieldInfo, type MatchFieldName, MATCH_FIELDS, type RegisterName, fullMask } from '../model/pipeline/ast.js';

export { fullMask };

interface P4Key {
  /** P4 expression of the value (a metadata field). */
  expr: string;
  comment: string;
  /** Hardware width when it differs from the model's field width. */
  width?: number;
}

/** P4 facts per keyable field; the keys must be model field names (`satisfies`). */
const P4_KEYS = {
  in_port: { expr: 'meta.fk.in_port', comment: 'ingress port (bmv2 ports are 9 bits)', width: 9 },
  dl_src: { expr: 'meta.fk.dl_src', comment: 'Ethernet source' },
  dl_dst: { expr: 'meta.fk.dl_dst', comment: 'Ethernet destination' },
  dl_type: { expr: 'meta.fk.dl_type', comment: 'EtherType after VLAN tags' },
  dl_vlan: { expr: 'meta.fk.vlan_tci', comment: 'outer 802.1Q TCI with OVS CFI bit 0x1000 when tagged' },
  nw_src: { expr: 'meta.fk.nw_src', comment: 'IPv4 source' },
  nw_dst: { expr: 'meta.fk.nw_dst', comment: 'IPv4 destination' },
  ipv6_src: { expr: 'meta.fk.ipv6_src', comment: 'IPv6 source' },
  ipv6_dst: { expr: 'meta.fk.ipv6_dst', comment: 'IPv6 destination' },
  nw_proto: { expr: 'meta.fk.nw_proto', comment: 'IP protocol / IPv6 next header' },
  tp_src: { expr: 'meta.fk.tp_src', comment: 'L4 source port; ICMP type' },
  tp_dst: { expr: 'meta.fk.tp_dst', comment: 'L4 destination port; ICMP code' },
  tcp_flags: { expr: 'meta.fk.tcp_flags', comment: 'TCP flags (12 bits, as OVS)' },
  ct_state: { expr: 'meta.ct.state', comment: 'ct_state bits (OVS defines 8)', width: 8 },
  ct_zone: { expr: 'meta.ct.zone', comment: 'zone of the last ct()' },
  ct_mark: { expr: 'meta.ct.mark', comment: 'ct_mark' },
  ct_label: { expr: 'meta.ct.label', comment: 'ct_label' },
  // Registers and metadata (docs/policy-language.md §5): the program never writes them (every
  // load/set_field/move is a REGISTERS punt), so a packet the hardware still decides has them
  // all 0, as OVS gives a new packet; the prologue sets them to 0.
  metadata: { expr: 'meta.fk.metadata', comment: 'OpenFlow metadata (0: written only in the slow path)' },
  ...(Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`reg${i}`, { expr: `meta.fk.reg${i}`, comment: `register ${i} (0: written only in the slow path)` }])) as Record<RegisterName, P4Key>),
} as const satisfies Partial<Record<MatchFieldName, P4Key>>;

/** A model match field the hardware keys on. */
export type KeyFieldName = keyof typeof P4_KEYS;

export interface KeyField {
  name: KeyFieldName;
  /** Width of the P4 key (bits). */
  width: number;
  /** P4 expression of the value (a metadata field). */
  expr: string;
  comment: string;
}

export function isKeyFieldName(s: string): s is KeyFieldName {
  return Object.hasOwn(P4_KEYS, s);
}

/** Canonical key order, the model's field order (P4Info match-field ids follow it). */
export const KEY_FIELDS: readonly KeyField[] = MATCH_FIELDS.filter((f): f is MatchFieldInfo & { name: KeyFieldName } => isKeyFieldName(f.name)).map((f) => {
  const k: P4Key = P4_KEYS[f.name];
  return { name: f.name, width: k.width ?? f.width, expr: k.expr, comment: k.comment };
});

const BY_NAME = new Map(KEY_FIELDS.map((f) => [f.name, f]));

export function keyField(name: KeyFieldName): KeyField {
  return BY_NAME.get(name)!;
}
