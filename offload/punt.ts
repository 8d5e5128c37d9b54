/**
 * Slow-path (punt) reasons: the `reason` field of the `packet_in` controller header, and what
 * the slow-path controller must do for each. One home for the codes; the generated program
 * declares them as `const bit<8> PUNT_*` from this table.
 *
 * Every punted packet reaches the CPU port *unmodified* (input probe stripped) with no
 * hardware output sent for it: the hardware decides a packet completely or not at all, so the
 * controller always runs the reference model on the original packet from table 0 (in_port =
 * `packet_in.ingress_port`), installs/removes entries for the connection the model touched
 * (`connectionEntries`), and emits the model's verdict with one PacketOut (mode DIRECT) per
 * output, carrying the ct fields and the tag for the probe. `CONTROLLER` is the one exception:
 * it is an output, not a punt.
 */

export interface PuntReason {
  code: number;
  name: string;
  /** What the hardware saw. */
  why: string;
  /** What the slow-path controller must do. */
  controller: string;
}

export const PUNT_REASONS = [
  {
    code: 1,
    name: 'CT_MISS',
    why: 'a ct() lookup found no entry: new connection, connection not (yet) offloaded, or ct(commit) on a packet without entry',
    controller: 'run the model; if it committed or updated a connection that is now offloadable, INSERT its entries (both directions); reinject the verdict',
  },
  {
    code: 2,
    name: 'TCP_FLAGS',
    why: 'a TCP packet with SYN, FIN or RST (or without ACK) hit an entry: a state transition the hardware cannot track',
    controller: 'run the model; if the connection is no longer offloadable (closing, reset, restarted) DELETE its entries, else MODIFY them; reinject the verdict',
  },
  {
    code: 3,
    name: 'ICMP_ERROR',
    why: 'an ICMP/ICMPv6 error reached a ct() lookup (needs the related lookup of the embedded header)',
    controller: 'run the model (rel|rpl|trk or inv|trk); reinject the verdict; no entry changes',
  },
  {
    code: 4,
    name: 'FRAGMENT',
    why: 'an IPv4/IPv6 fragment (reassembly and first-fragment L4 fields are software only)',
    controller: 'run the model (it may hold the fragment and release several packets later); reinject what it releases',
  },
  {
    code: 5,
    name: 'UNTRACKABLE',
    why: 'a ct() lookup on a packet the parser could not key: IPv6 extension headers, truncated L4 header, bad IPv4 header checksum, non-IP',
    controller: 'run the model (normally inv|trk); reinject the verdict',
  },
  {
    code: 6,
    name: 'ZONE_NOT_OFFLOADED',
    why: 'a ct() in a zone the configuration does not offload',
    controller: 'run the model; never install entries for that zone',
  },
  {
    code: 7,
    name: 'ACTION',
    why: 'a flow whose match or action list the hardware cannot express (force, zone from a field, output before ct(), fork with goto, unsupported field…)',
    controller: 'run the model; reinject the verdict',
  },
  {
    code: 8,
    name: 'ALG',
    why: 'ct(alg=ftp|tftp): ALG control traffic needs payload inspection',
    controller: 'run the model (it parses the control payload and creates expectations); reinject the verdict; never offload helper connections',
  },
  {
    code: 9,
    name: 'EXEC',
    why: 'ct(commit,exec(set_field:…->ct_mark/ct_label)) would change the stored mark/label',
    controller: 'run the model (it stores the new mark/label); MODIFY the connection entries with the new values; reinject',
  },
  {
    code: 10,
    name: 'POLICY_MISS',
    why: 'no flow of a policy table matched (OpenFlow table miss)',
    controller: 'run the model (its table-miss behaviour decides); reinject the verdict',
  },
  {
    code: 11,
    name: 'MULTI_OUTPUT',
    why: 'the packet would leave on more than one port (hardware emits at most one output per packet)',
    controller: 'run the model; reinject every output it produced, one PacketOut each',
  },
  {
    code: 12,
    name: 'STAGE_LIMIT',
    why: 'the packet needs more policy-table visits than the unrolled stages (deep or cyclic goto/ct(table=) chains)',
    controller: 'run the model; reinject the verdict',
  },
  {
    code: 14,
    name: 'REGISTERS',
    why: 'a flow that writes registers/metadata (load, set_field, move into reg0-15, xreg, metadata): the program keys on registers but keeps them 0 (nothing writes them in hardware)',
    controller: 'run the model (it keeps the registers per translation and across recirculation); reinject the verdict',
  },
  {
    code: 15,
    name: 'CONJUNCTION',
    why: 'a conjunction(id,k/n) clause flow or a conj_id= flow: conjunctive matching is not compiled to tables yet',
    controller: 'run the model (OVS conjunctive-match lookup); reinject the verdict',
  },
  {
    code: 16,
    name: 'ZONE_FROM_FIELD',
    why: 'ct(zone=FIELD[a..b]): the zone is read from a register when the action runs, and the conntrack tables key on a zone known at compile time',
    controller: 'run the model; reinject the verdict',
  },
  {
    code: 13,
    name: 'CONTROLLER',
    why: 'the policy output the packet to the controller (`controller` action): this is an output, not a punt',
    controller: 'report an output to PORT_CONTROLLER with the packet_in ct fields; do NOT run the model again',
  },
  {
    code: 17,
    name: 'NAT',
    why: 'a ct() with nat: the translation (address/port rewrite, checksums, ICMP error payloads) is done by the software tracker for now',
    controller: 'run the model (it translates the packet); reinject the verdict; never install entries for a NATed connection',
  },
] as const satisfies readonly PuntReason[];

export type PuntReasonName = (typeof PUNT_REASONS)[number]['name'];

export const PUNT: { readonly [K in PuntReasonName]: number } = Object.fromEntries(PUNT_REASONS.map((r) => [r.name, r.code])) as never;

export function puntReasonName(code: number): string {
  return PUNT_REASONS.find((r) => r.code === code)?.name ?? `REASON_${code}`;
}
