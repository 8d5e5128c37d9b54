/**
 * Plan → P4-16 v1model program (as the typed AST of offload/p4ast.ts). See offload/compile.ts
 * for the execution model and offload/punt.ts / offload/probe.ts for the wire contracts; the
 * design notes are repeated in the comment block at the top of every generated program.
 */
import type { OffloadConfig } from './config.js';
import { DROP_PORT } from './config.js';
import { OP, type Plan, type StageTablePlan } from './compile.js';
import { KEY_FIELDS, keyField } from './fields.js';
import {
  apply,
  assign,
  blank,
  call,
  comment,
  iff,
  type ActionDecl,
  type ControlDecl,
  type Decl,
  type HeaderDecl,
  type P4Program,
  type ParserState,
  type Stmt,
  type TableDecl,
} from './p4ast.js';
import { PACKET_IN_FIELDS, PACKET_OUT_DIRECT, PACKET_OUT_FIELDS, PROBE_F_ECHO, PROBE_F_OUTPUT, PROBE_F_REPORT_DROP, PROBE_F_PACKET_OUT, PROBE_FIELDS, PROBE_LOOKUP_FIELDS, PROBE_MAGIC, PROBE_VERSION } from './probe.js';
import { PUNT, PUNT_REASONS, type PuntReasonName } from './punt.js';

export const INGRESS = 'CtIngress';
export const EGRESS = 'CtEgress';

/** Names of the conntrack table's key fields (P4Info match fields, in order) and widths. */
export const CT_KEY = [
  ['zone', 16, 'meta.ctk.zone'],
  ['l3', 16, 'meta.ctk.l3'],
  ['proto', 8, 'meta.ctk.proto'],
  ['src', 128, 'meta.ctk.src'],
  ['dst', 128, 'meta.ctk.dst'],
  ['sport', 16, 'meta.ctk.sport'],
  ['dport', 16, 'meta.ctk.dport'],
] as const;

const hex = (n: number, w = 0): string => `0x${n.toString(16).padStart(w, '0')}`;
const header = (name: string, fields: readonly (readonly [string, number])[], comment?: string[], annotations?: string[]): HeaderDecl => ({
  kind: 'header',
  name,
  fields: fields.map(([n, w]) => ({ name: n, width: w })),
  ...(comment ? { comment } : {}),
  ...(annotations ? { annotations } : {}),
});

function designNotes(plan: Plan): string[] {
  const c = plan.config;
  const zones = plan.offloadedZones.length ? plan.offloadedZones.join(', ') : '(none)';
  const lines = [
    `ctoffload: conntrack offload program for bmv2 simple_switch_grpc (v1model), generated from ${plan.source}.`,
    '',
    'Design (offload/compile.ts has the full notes):',
    '- Established connections are decided in hardware; new, closing and unusual packets go to the',
    '  software slow path (the reference model), which commits, installs the entries of both',
    '  directions and reinjects the packet with a PacketOut. Commit never happens in hardware.',
    '- A packet is decided completely in hardware or punted whole: outputs are collected during the',
    '  pass and only emitted if nothing punted; a punt sends the unmodified frame to the CPU port',
    '  with a packet_in header {ingress_port, reason, stage, table_id, ct fields, tag}.',
    '- The policy runs in one pass: its recirculation graph (goto_table, resubmit, ct(table=T)) is',
    `  unrolled into ${plan.stages} stage(s); stage s applies the P4 table stage<s>_table<T> for the current`,
    '  policy table T, then, if the flow asked for ct(), the conntrack table of the zone set for that',
    '  stage. After ct() the rest of the action list runs on the untracked packet (OVS fork,',
    '  docs/conntrack-semantics.md §1.2); ct(table=T) continues at T in the next stage with the hit\'s fields.',
    '- Conntrack tables: exact key zone, l3 (EtherType), proto, src, dst (128 bits, IPv4 in the low',
    '  32), sport, dport (ICMP queries: sport = id, dport = type<<8|code); action ct_hit(state,',
    '  mark, label) with the ct_state of that direction (reply entries carry rpl); support_timeout',
    '  for ageing (idle-timeout notifications), a direct counter per table. One entry per direction.',
    '- Hardware relaxations (documented, expected): no TCP window/sequence tracking on offloaded',
    '  connections, no L4 checksum or length validation (IPv4 header checksum is verified), timers',
    '  of offloaded connections are idle timeouts refreshed by any hit.',
    '- Outputs to the input port are skipped (OVS "skipping output to input port"); at most one',
    '  output per packet in hardware (more: MULTI_OUTPUT punt).',
    '',
    'Configuration:',
    `- offload: ${c.offload}; offloaded zones: ${zones}; zone sets: ${plan.zoneSets.map((s) => `${s.name}{${s.zones.join(',')}}`).join(' ') || '(none)'}`,
    `- CPU port ${c.cpuPort} (bmv2 --cpu-port), drop port ${DROP_PORT}; max stages ${c.maxStages}`,
    c.probe
      ? '- OBSERVATION BUILD (probe on), FOR TESTING ONLY: input probes (ECHO, REPORT_DROP) and a probe header with the ct lookups on every output (offload/probe.ts); deploy the production build (probe off)'
      : '- production build: no probe, no test machinery',
    `- slow path: tcpFlags=${c.slowPath.tcpFlags} icmpErrors=${c.slowPath.icmpErrors} fragments=${c.slowPath.fragments} policyMiss=${c.slowPath.policyMiss}`,
    `- table sizes: conntrack ${c.tableSizes.conntrack}, policy ${c.tableSizes.policy}`,
    '',
    'Punt reasons (packet_in.reason):',
    ...PUNT_REASONS.map((r) => `  ${String(r.code).padStart(2)} ${r.name}: ${r.why}`),
  ];
  if (plan.diagnostics.length) {
    lines.push('', 'Compiler notes:');
    for (const d of plan.diagnostics) lines.push(`- ${d.line ? `${plan.source}:${d.line}: ` : ''}${d.message}`);
  }
  return lines.map((l) => l.replace(/\*\//g, '* /'));
}

function headers(cfg: OffloadConfig, stages: number): Decl[] {
  const decls: Decl[] = [
    header('packet_out_t', PACKET_OUT_FIELDS, ['Controller → switch (offload/probe.ts). mode 0 DIRECT: send to egress_port with these probe fields; 1 PIPELINE: run the policy with in_port = ingress_port.'], ['@controller_header("packet_out")']),
    header('packet_in_t', PACKET_IN_FIELDS, ['Switch → controller (offload/probe.ts, reasons offload/punt.ts). pad is a real field: PI sizes the header from P4Info.'], ['@controller_header("packet_in")']),
  ];
  if (cfg.probe) {
    decls.push(
      header('probe_t', PROBE_FIELDS, [`OBSERVATION ONLY. Probe prepended to every dataplane output (offload/probe.ts): magic ${hex(PROBE_MAGIC)}, version ${PROBE_VERSION}; lookups = records that follow.`]),
      header('lookup_t', PROBE_LOOKUP_FIELDS, ['OBSERVATION ONLY. One recirculating ct lookup (offload/probe.ts), pushed on the front of hdr.lookups.']),
    );
  }
  decls.push(
    header('ethernet_t', [['dst_addr', 48], ['src_addr', 48], ['ether_type', 16]]),
    header('vlan_t', [['tci', 16], ['ether_type', 16]], ['802.1Q / 802.1ad tag (up to two are parsed)']),
    header('ipv4_t', [['version', 4], ['ihl', 4], ['diffserv', 8], ['total_len', 16], ['identification', 16], ['flags', 3], ['frag_offset', 13], ['ttl', 8], ['protocol', 8], ['hdr_checksum', 16], ['src_addr', 32], ['dst_addr', 32]]),
    { kind: 'header', name: 'ipv4_options_t', fields: [{ name: 'options', width: 320, varbit: true }] },
    header('ipv6_t', [['version', 4], ['traffic_class', 8], ['flow_label', 20], ['payload_len', 16], ['next_hdr', 8], ['hop_limit', 8], ['src_addr', 128], ['dst_addr', 128]]),
    header('tcp_t', [['src_port', 16], ['dst_port', 16], ['seq_no', 32], ['ack_no', 32], ['data_offset', 4], ['flags', 12], ['window', 16], ['checksum', 16], ['urgent_ptr', 16]], ['TCP; flags are the 12 bits OVS calls tcp_flags (FIN 0x001, SYN 0x002, RST 0x004, ACK 0x010)']),
    header('udp_t', [['src_port', 16], ['dst_port', 16], ['length', 16], ['checksum', 16]]),
    header('icmp_t', [['type', 8], ['code', 8], ['checksum', 16], ['id', 16], ['seq', 16]], ['ICMP and ICMPv6 (queries carry id/seq; for errors the last 4 bytes are unused/MTU/pointer)']),
  );
  const hdrMembers = [
    { type: 'packet_out_t', name: 'packet_out' },
    { type: 'packet_in_t', name: 'packet_in' },
    ...(cfg.probe ? [{ type: 'probe_t', name: 'probe' }, { type: `lookup_t[${stages}]`, name: 'lookups', comment: 'one slot per stage: a stage recirculates at most once' }] : []),
    { type: 'ethernet_t', name: 'ethernet' },
    { type: 'vlan_t', name: 'vlan0' },
    { type: 'vlan_t', name: 'vlan1' },
    { type: 'ipv4_t', name: 'ipv4' },
    { type: 'ipv4_options_t', name: 'ipv4_opts' },
    { type: 'ipv6_t', name: 'ipv6' },
    { type: 'tcp_t', name: 'tcp' },
    { type: 'udp_t', name: 'udp' },
    { type: 'icmp_t', name: 'icmp' },
  ];
  const bits = (name: string, w: number, comment?: string) => ({ type: `bit<${w}>`, name, ...(comment ? { comment } : {}) });
  decls.push(
    { kind: 'struct', name: 'headers_t', members: hdrMembers },
    {
      kind: 'struct',
      name: 'flow_key_t',
      comment: ['What the policy tables match on, filled once per packet (OVS flow key; offload/fields.ts).'],
      members: KEY_FIELDS.filter((k) => k.expr.startsWith('meta.fk.')).map((k) => bits(k.expr.slice('meta.fk.'.length), k.width, k.comment)),
    },
    { kind: 'struct', name: 'ct_key_t', comment: ['Conntrack lookup key (docs/conntrack-semantics.md §2.1).'], members: CT_KEY.map(([n, w]) => bits(n, w)) },
    { kind: 'struct', name: 'ct_fields_t', comment: ['ct fields of a packet (0 = untracked).'], members: [bits('state', 8), bits('zone', 16), bits('mark', 32), bits('label', 128)] },
    {
      kind: 'struct',
      name: 'op_t',
      comment: ['What the matched flow asked for (written by the flow_* actions, executed by the stage code).'],
      members: [bits('flags', 16, 'OP_*'), bits('port', 9), bits('zone', 16), bits('next_table', 8), bits('mark', 32), bits('mark_mask', 32), bits('label', 128), bits('label_mask', 128), bits('reason', 8)],
    },
    {
      kind: 'struct',
      name: 'metadata_t',
      members: [
        { type: 'flow_key_t', name: 'fk' },
        { type: 'ct_key_t', name: 'ctk' },
        { type: 'ct_fields_t', name: 'ct', comment: 'ct fields of the current thread' },
        { type: 'op_t', name: 'op' },
        { type: 'ct_fields_t', name: 'hit', comment: 'result of the last conntrack hit' },
        bits('ct_hit', 1),
        bits('cached', 1, 'an earlier ct() of this packet hit an entry (OVS md.conn)'),
        bits('cached_zone', 16),
        bits('ctk_reason', 8, '0: trackable; else the punt reason of a ct() on this packet'),
        bits('tcp_punt', 1, 'SYN/FIN/RST set or ACK clear'),
        bits('frag', 1),
        bits('ipv6_ext', 1),
        bits('l3_bad', 1),
        bits('run', 1, 'a policy thread is still running'),
        bits('table_id', 8, 'policy table of the running thread'),
        bits('out_count', 8),
        bits('out_port', 9),
        { type: 'ct_fields_t', name: 'out_ct', comment: 'ct fields at the output (probe)' },
        bits('punt', 8, 'punt reason, 0 = none'),
        bits('punt_stage', 8),
        bits('punt_table', 8),
        { type: 'ct_fields_t', name: 'punt_ct' },
        bits('drop_all', 1),
        bits('direct', 1, 'PacketOut DIRECT: no pipeline'),
        bits('tag', 32, 'tag of the input (probe or packet_out)'),
        bits('cpu_reason', 8),
        { type: 'ct_fields_t', name: 'cpu_ct' },
        ...(cfg.probe ? [{ type: 'obs_t', name: 'obs', comment: 'OBSERVATION ONLY (probe): never read by the program\'s own decisions' }] : []),
      ],
    },
  );
  if (cfg.probe) {
    // obs_t goes just before metadata_t, which uses it.
    decls.splice(decls.length - 1, 0, { kind: 'struct', name: 'obs_t', comment: ['Observation state of the probe build (offload/probe.ts).'], members: [bits('lookups', 8, 'valid records in hdr.lookups')] });
  }
  return decls;
}

function constants(cfg: OffloadConfig): Decl[] {
  const out: Decl[] = [
    { kind: 'const', type: 'bit<9>', name: 'CPU_PORT', value: String(cfg.cpuPort), comment: 'must equal simple_switch_grpc --cpu-port' },
    ...(cfg.probe
      ? [
          { kind: 'const', type: 'bit<16>', name: 'PROBE_MAGIC', value: hex(PROBE_MAGIC, 4) } as const,
          { kind: 'const', type: 'bit<8>', name: 'PROBE_VERSION', value: String(PROBE_VERSION) } as const,
        ]
      : []),
    { kind: 'const', type: 'bit<6>', name: 'PACKET_OUT_DIRECT', value: String(PACKET_OUT_DIRECT) },
  ];
  for (const r of PUNT_REASONS) out.push({ kind: 'const', type: 'bit<8>', name: `PUNT_${r.name}`, value: String(r.code) });
  for (const [k, v] of Object.entries(OP)) out.push({ kind: 'const', type: 'bit<16>', name: `OP_${k}`, value: hex(v, 3) });
  return out;
}

function parser(cfg: OffloadConfig): Decl {
  const st = (name: string, body: Stmt[], transition: ParserState['transition'], comment?: string): ParserState => ({ name, body, transition, ...(comment ? { comment } : {}) });
  const toL3 = (sel: string) => ({ select: sel, cases: [{ value: '0x0800', state: 'parse_ipv4' }, { value: '0x86dd', state: 'parse_ipv6' }, { value: 'default', state: 'accept' }] });
  const states: ParserState[] = [
    st('start', [], { select: 'standard_metadata.ingress_port', cases: [{ value: 'CPU_PORT', state: 'parse_packet_out' }, { value: 'default', state: cfg.probe ? 'check_probe' : 'parse_ethernet' }] }),
    st('parse_packet_out', [call('packet.extract(hdr.packet_out)')], 'parse_ethernet'),
  ];
  if (cfg.probe) {
    states.push(
      st('check_probe', [], { select: 'packet.lookahead<bit<24>>()', cases: [{ value: hex((PROBE_MAGIC << 8) | PROBE_VERSION, 6), state: 'parse_probe' }, { value: 'default', state: 'parse_ethernet' }] }, 'a frame starting with magic+version carries an input probe (offload/probe.ts)'),
      st('parse_probe', [call('packet.extract(hdr.probe)')], 'parse_ethernet'),
    );
  }
  states.push(
    st('parse_ethernet', [call('packet.extract(hdr.ethernet)'), assign('meta.fk.dl_type', 'hdr.ethernet.ether_type')], {
      select: 'hdr.ethernet.ether_type',
      cases: [{ value: '0x8100', state: 'parse_vlan0' }, { value: '0x88a8', state: 'parse_vlan0' }, { value: '0x0800', state: 'parse_ipv4' }, { value: '0x86dd', state: 'parse_ipv6' }, { value: 'default', state: 'accept' }],
    }),
    st('parse_vlan0', [call('packet.extract(hdr.vlan0)'), assign('meta.fk.dl_type', 'hdr.vlan0.ether_type'), assign('meta.fk.vlan_tci', 'hdr.vlan0.tci | 0x1000')], {
      select: 'hdr.vlan0.ether_type',
      cases: [{ value: '0x8100', state: 'parse_vlan1' }, { value: '0x0800', state: 'parse_ipv4' }, { value: '0x86dd', state: 'parse_ipv6' }, { value: 'default', state: 'accept' }],
    }, 'OVS: dl_type is the innermost EtherType, vlan_tci the outer tag with the CFI bit set'),
    st('parse_vlan1', [call('packet.extract(hdr.vlan1)'), assign('meta.fk.dl_type', 'hdr.vlan1.ether_type')], toL3('hdr.vlan1.ether_type')),
    st('parse_ipv4', [call('packet.extract(hdr.ipv4)')], {
      select: 'hdr.ipv4.ihl',
      cases: [{ value: '5', state: 'parse_ipv4_frag' }, { value: '0 &&& 0xc', state: 'ipv4_bad' }, { value: '4', state: 'ipv4_bad' }, { value: 'default', state: 'parse_ipv4_options' }],
    }),
    st('ipv4_bad', [assign('meta.l3_bad', '1')], 'accept', 'IHL < 5: conntrack answers inv (docs/conntrack-semantics.md §3.1)'),
    st('parse_ipv4_options', [call('packet.extract(hdr.ipv4_opts, (bit<32>)(((bit<16>)hdr.ipv4.ihl - 5) << 5))')], 'parse_ipv4_frag'),
    st('parse_ipv4_frag', [], {
      select: 'hdr.ipv4.flags[0:0], hdr.ipv4.frag_offset',
      cases: [{ value: '(0, 0)', state: 'parse_ipv4_l4' }, { value: 'default', state: 'ip_fragment' }],
    }, 'MF set or offset != 0: a fragment (reassembly is software only)'),
    st('parse_ipv4_l4', [], {
      select: 'hdr.ipv4.protocol',
      cases: [{ value: '6', state: 'parse_tcp' }, { value: '17', state: 'parse_udp' }, { value: '1', state: 'parse_icmp' }, { value: 'default', state: 'accept' }],
    }),
    st('ip_fragment', [assign('meta.frag', '1')], 'accept'),
    st('parse_ipv6', [call('packet.extract(hdr.ipv6)')], {
      select: 'hdr.ipv6.next_hdr',
      cases: [
        { value: '6', state: 'parse_tcp' },
        { value: '17', state: 'parse_udp' },
        { value: '58', state: 'parse_icmp' },
        { value: '44', state: 'ip_fragment' },
        { value: '0', state: 'ipv6_ext' },
        { value: '43', state: 'ipv6_ext' },
        { value: '60', state: 'ipv6_ext' },
        { value: '51', state: 'ipv6_ext' },
        { value: 'default', state: 'accept' },
      ],
    }),
    st('ipv6_ext', [assign('meta.ipv6_ext', '1')], 'accept', 'extension headers are not walked in hardware: the packet is punted'),
    st('parse_tcp', [call('packet.extract(hdr.tcp)')], 'accept'),
    st('parse_udp', [call('packet.extract(hdr.udp)')], 'accept'),
    st('parse_icmp', [call('packet.extract(hdr.icmp)')], 'accept'),
  );
  return {
    kind: 'parser',
    name: 'CtParser',
    params: 'packet_in packet, out headers_t hdr, inout metadata_t meta, inout standard_metadata_t standard_metadata',
    states,
    comment: ['Ethernet / 802.1Q / IPv4 / IPv6 / TCP / UDP / ICMP / ICMPv6, plus the controller and probe headers.', 'A truncated packet sets standard_metadata.parser_error; ingress punts it.'],
  };
}

const IPV4_FIELDS = ['version', 'ihl', 'diffserv', 'total_len', 'identification', 'flags', 'frag_offset', 'ttl', 'protocol', 'src_addr', 'dst_addr'].map((f) => `hdr.ipv4.${f}`);

function verifyChecksum(): Decl {
  const list = IPV4_FIELDS.join(', ');
  return {
    kind: 'control',
    name: 'CtVerifyChecksum',
    params: 'inout headers_t hdr, inout metadata_t meta',
    counters: [],
    actions: [],
    tables: [],
    comment: ['IPv4 header checksum (conntrack answers inv on a bad one, docs/conntrack-semantics.md §3.1). L4 checksums are not verified in hardware.'],
    apply: [
      call(`verify_checksum(hdr.ipv4.isValid() && !hdr.ipv4_opts.isValid(), { ${list} }, hdr.ipv4.hdr_checksum, HashAlgorithm.csum16)`),
      call(`verify_checksum(hdr.ipv4_opts.isValid(), { ${list}, hdr.ipv4_opts.options }, hdr.ipv4.hdr_checksum, HashAlgorithm.csum16)`),
    ],
  };
}

/** Statements that record a punt (first reason wins) and stop the thread. */
function punt(reason: string, stage: string): Stmt[] {
  // Every punt stops the thread (run = 0) and all later code is guarded by `run == 1` or
  // `punt == 0`, so the first reason is the one reported.
  return [call(`punt_to_cpu(${reason}, ${stage})`)];
}

const PUNT_ACTION: ActionDecl = {
  name: 'punt_to_cpu',
  params: [{ name: 'reason', width: 8 }, { name: 'stage', width: 8 }],
  body: [assign('meta.punt', 'reason'), assign('meta.punt_stage', 'stage'), assign('meta.punt_table', 'meta.table_id'), assign('meta.punt_ct', 'meta.ct'), assign('meta.run', '0')],
  comment: ['send the whole packet to the slow path (called directly, never from a table)'],
};

/** A punt reason that the config may turn into a hardware drop. */
function puntOrDrop(reason: PuntReasonName, enabled: boolean, stage: string): Stmt[] {
  return enabled ? punt(`PUNT_${reason}`, stage) : [comment(`slowPath disabled for ${reason}: dropped in hardware`), assign('meta.drop_all', '1'), assign('meta.run', '0')];
}

const clearCt = (lhs: string): Stmt[] => [assign(`${lhs}.state`, '0'), assign(`${lhs}.zone`, '0'), assign(`${lhs}.mark`, '0'), assign(`${lhs}.label`, '0')];

function recordOutput(port: string): Stmt[] {
  return [
    iff(`${port} != meta.fk.in_port || ${port} == CPU_PORT`, [assign('meta.out_count', 'meta.out_count + 1'), assign('meta.out_port', port), assign('meta.out_ct', 'meta.ct')], [
      comment('OVS skips an output to the input port (ofproto-dpif-xlate "skipping output to input port")'),
    ]),
  ];
}

function flowActions(): ActionDecl[] {
  const set = (flags: string, extra: [string, string][] = []): Stmt[] => [assign('meta.op.flags', flags), ...extra.map(([l, r]) => assign(`meta.op.${l}`, r))];
  return [
    { name: 'flow_drop', params: [], body: set('0'), comment: ['drop (or an empty action list): the thread ends'] },
    { name: 'flow_output', params: [{ name: 'port', width: 9 }], body: set('OP_OUTPUT', [['port', 'port']]), comment: ['output:port'] },
    { name: 'flow_controller', params: [], body: set('OP_CONTROLLER', [['port', 'CPU_PORT']]), comment: ['controller: an output to the controller (packet_in reason CONTROLLER)'] },
    { name: 'flow_goto', params: [{ name: 'next_table', width: 8 }], body: set('OP_GOTO', [['next_table', 'next_table']]), comment: ['goto_table:T, or resubmit(,T) as the last action'] },
    { name: 'flow_ct', params: [{ name: 'zone', width: 16 }, { name: 'next_table', width: 8 }], body: set('OP_CT | OP_RECIRC', [['zone', 'zone'], ['next_table', 'next_table']]), comment: ['ct(zone=Z,table=T): lookup, continue at T with the ct fields'] },
    {
      name: 'flow_ct_commit_output',
      params: [{ name: 'zone', width: 16 }, { name: 'port', width: 9 }],
      body: set('OP_CT | OP_COMMIT | OP_OUTPUT', [['zone', 'zone'], ['port', 'port']]),
      comment: ['ct(commit,zone=Z),output:P: a no-op commit on a hit (punted on a miss), then output untracked'],
    },
    {
      name: 'flow_general',
      params: [
        { name: 'flags', width: 16 },
        { name: 'port', width: 9 },
        { name: 'zone', width: 16 },
        { name: 'next_table', width: 8 },
        { name: 'mark', width: 32 },
        { name: 'mark_mask', width: 32 },
        { name: 'label', width: 128 },
        { name: 'label_mask', width: 128 },
      ],
      body: set('flags', [['port', 'port'], ['zone', 'zone'], ['next_table', 'next_table'], ['mark', 'mark'], ['mark_mask', 'mark_mask'], ['label', 'label'], ['label_mask', 'label_mask']]),
      comment: ['Any other supported action list: [ct_clear] [ct(...)] [output|controller] [goto_table], flags OP_*'],
    },
    { name: 'flow_punt', params: [{ name: 'reason', width: 8 }], body: set('OP_PUNT', [['reason', 'reason']]), comment: ['a flow the hardware cannot express: always the slow path'] },
    { name: 'flow_miss', params: [], body: set('OP_MISS'), comment: ['no flow matched (OpenFlow table miss)'] },
  ];
}

function stageTable(st: StageTablePlan, cfg: OffloadConfig, source: string): TableDecl {
  const lines = [`policy table ${st.policyTable} at stage ${st.stage}`];
  for (const f of st.flows) {
    lines.push(`${source}:${f.flow.line}: ${f.flow.text}`);
    lines.push(`    -> ${f.hw.action}: ${f.hw.note}`);
  }
  return {
    name: st.name,
    keys: st.keys.map((n) => ({ expr: keyField(n).expr, match: 'ternary' as const, name: n })),
    actions: [
      { name: 'flow_drop' },
      { name: 'flow_output' },
      { name: 'flow_controller' },
      { name: 'flow_goto' },
      { name: 'flow_ct' },
      { name: 'flow_ct_commit_output' },
      { name: 'flow_general' },
      { name: 'flow_punt' },
      { name: 'flow_miss', annotation: '@defaultonly' },
    ],
    defaultAction: { name: 'flow_miss', args: [], isConst: true },
    size: Math.max(cfg.tableSizes.policy, st.flows.length),
    ...(cfg.policyCounters ? { counters: `${st.name}_counter` } : {}),
    comment: lines,
  };
}

/**
 * OBSERVATION ONLY (probe build): record the lookup the tracked copy just entered its table with
 * (offload/probe.ts lookup record). Writes only hdr.lookups and meta.obs, reads only what the
 * statements before it wrote; nothing else reads them (test/offload/observation-equality.ts, run with p4c by observation-equality-{a,b}.test.ts).
 */
function observeLookup(cfg: OffloadConfig): Stmt[] {
  if (!cfg.probe) return [];
  return [
    call('hdr.lookups.push_front(1)'),
    call('hdr.lookups[0].setValid()'),
    assign('hdr.lookups[0].table_id', 'meta.table_id'),
    assign('hdr.lookups[0].ct_state', 'meta.ct.state'),
    assign('hdr.lookups[0].ct_zone', 'meta.ct.zone'),
    assign('hdr.lookups[0].ct_mark', 'meta.ct.mark'),
    assign('hdr.lookups[0].ct_label', 'meta.ct.label'),
    assign('meta.obs.lookups', 'meta.obs.lookups + 1'),
  ];
}

function stageCode(plan: Plan, s: number): Stmt[] {
  const cfg = plan.config;
  const S = String(s);
  const tables = plan.stageTables.filter((t) => t.stage === s);
  const cts = plan.ctTables.filter((t) => t.stage === s);
  let dispatch: Stmt[] = [assign('meta.op.flags', 'OP_MISS')];
  for (const t of [...tables].reverse()) dispatch = [iff(`meta.table_id == ${t.policyTable}`, [apply(t.name)], dispatch)];
  let lookup: Stmt[] = punt('PUNT_ZONE_NOT_OFFLOADED', S);
  for (const c of [...cts].reverse()) lookup = [iff(c.zones.map((z) => `meta.op.zone == ${z}`).join(' || '), [apply(c.name)], lookup)];
  const exec: Stmt[] = [
    iff('(meta.op.flags & OP_PUNT) != 0', punt('meta.op.reason', S), [
      iff('(meta.op.flags & OP_MISS) != 0', cfg.slowPath.policyMiss ? punt('PUNT_POLICY_MISS', S) : [comment('slowPath.policyMiss off: a miss ends the thread (drop)'), assign('meta.run', '0')]),
    ]),
    iff('meta.run == 1 && (meta.op.flags & OP_CLEAR) != 0', [comment('ct_clear also detaches the cached connection'), ...clearCt('meta.ct'), assign('meta.cached', '0')]),
    iff('meta.run == 1 && (meta.op.flags & OP_CT) != 0', [
      iff('meta.ctk_reason == PUNT_ICMP_ERROR', puntOrDrop('ICMP_ERROR', cfg.slowPath.icmpErrors, S), [
        iff('meta.ctk_reason != 0', punt('meta.ctk_reason', S), [
          iff('meta.cached == 1 && meta.cached_zone == meta.op.zone', [comment('same-zone shortcut: OVS does not run the tracker again (docs/conntrack-semantics.md §2.3 step 2)'), assign('meta.ct_hit', '1')], [
            assign('meta.ctk.zone', 'meta.op.zone'),
            assign('meta.ct_hit', '0'),
            ...lookup,
          ]),
          iff('meta.run == 1', [
            iff('meta.ct_hit == 0', punt('PUNT_CT_MISS', S), [
              comment('the hit\'s fields, so that a punt below reports them'),
              assign('meta.ct', 'meta.hit'),
              assign('meta.ct.zone', 'meta.op.zone'),
              ...(() => {
                let chain: Stmt[] = [assign('meta.cached', '1'), assign('meta.cached_zone', 'meta.op.zone')];
                chain = [iff('(meta.op.flags & OP_EXEC_LABEL) != 0 && (meta.hit.label & meta.op.label_mask) != meta.op.label', punt('PUNT_EXEC', S), chain)];
                chain = [iff('(meta.op.flags & OP_EXEC_MARK) != 0 && (meta.hit.mark & meta.op.mark_mask) != meta.op.mark', punt('PUNT_EXEC', S), chain)];
                if (cfg.slowPath.tcpFlags) chain = [iff('meta.tcp_punt == 1', punt('PUNT_TCP_FLAGS', S), chain)];
                return chain;
              })(),
            ]),
          ]),
        ]),
      ]),
      comment('the rest of the action list runs on the untracked packet (docs/conntrack-semantics.md §1.2)'),
      ...clearCt('meta.ct'),
    ]),
    iff('meta.run == 1', [
      iff('(meta.op.flags & (OP_OUTPUT | OP_CONTROLLER)) != 0', recordOutput('meta.op.port')),
      iff('(meta.op.flags & OP_RECIRC) != 0', [comment('ct(table=T): the tracked packet continues at T'), assign('meta.ct', 'meta.hit'), assign('meta.ct.zone', 'meta.op.zone'), assign('meta.table_id', 'meta.op.next_table'), ...observeLookup(cfg)], [
        iff('(meta.op.flags & OP_GOTO) != 0', [assign('meta.table_id', 'meta.op.next_table')], [assign('meta.run', '0')]),
      ]),
    ]),
  ];
  const desc = tables.map((t) => `table ${t.policyTable}`).join(', ') || 'no policy table reachable';
  return [
    blank(),
    comment(`===== stage ${s}: ${desc}${cts.length ? `; conntrack ${cts.map((c) => c.name).join(', ')}` : ''}`),
    iff('meta.run == 1', [assign('meta.op.flags', '0'), ...dispatch, ...exec]),
  ];
}

function prologue(cfg: OffloadConfig): Stmt[] {
  return [
    comment('---- flow key and conntrack key, once per packet (OVS miniflow_extract / conn_key_extract)'),
    iff('hdr.ethernet.isValid()', [assign('meta.fk.dl_src', 'hdr.ethernet.src_addr'), assign('meta.fk.dl_dst', 'hdr.ethernet.dst_addr')]),
    iff(
      'hdr.ipv4.isValid()',
      [
        assign('meta.fk.nw_src', 'hdr.ipv4.src_addr'),
        assign('meta.fk.nw_dst', 'hdr.ipv4.dst_addr'),
        assign('meta.fk.nw_proto', 'hdr.ipv4.protocol'),
        assign('meta.ctk.l3', '0x0800'),
        assign('meta.ctk.proto', 'hdr.ipv4.protocol'),
        assign('meta.ctk.src', '(bit<128>)hdr.ipv4.src_addr'),
        assign('meta.ctk.dst', '(bit<128>)hdr.ipv4.dst_addr'),
      ],
      [
        iff('hdr.ipv6.isValid()', [
          assign('meta.fk.ipv6_src', 'hdr.ipv6.src_addr'),
          assign('meta.fk.ipv6_dst', 'hdr.ipv6.dst_addr'),
          assign('meta.fk.nw_proto', 'hdr.ipv6.next_hdr'),
          assign('meta.ctk.l3', '0x86dd'),
          assign('meta.ctk.proto', 'hdr.ipv6.next_hdr'),
          assign('meta.ctk.src', 'hdr.ipv6.src_addr'),
          assign('meta.ctk.dst', 'hdr.ipv6.dst_addr'),
        ]),
      ],
    ),
    iff(
      'hdr.tcp.isValid()',
      [
        assign('meta.fk.tp_src', 'hdr.tcp.src_port'),
        assign('meta.fk.tp_dst', 'hdr.tcp.dst_port'),
        assign('meta.fk.tcp_flags', 'hdr.tcp.flags'),
        assign('meta.ctk.sport', 'hdr.tcp.src_port'),
        assign('meta.ctk.dport', 'hdr.tcp.dst_port'),
        comment('SYN/FIN/RST change the TCP state; no ACK is invalid unless SYN/RST (docs/conntrack-semantics.md §4.2)'),
        iff('(hdr.tcp.flags & 0x007) != 0 || (hdr.tcp.flags & 0x010) == 0', [assign('meta.tcp_punt', '1')]),
      ],
      [
        iff(
          'hdr.udp.isValid()',
          [assign('meta.fk.tp_src', 'hdr.udp.src_port'), assign('meta.fk.tp_dst', 'hdr.udp.dst_port'), assign('meta.ctk.sport', 'hdr.udp.src_port'), assign('meta.ctk.dport', 'hdr.udp.dst_port')],
          [
            iff('hdr.icmp.isValid()', [
              comment('OVS keeps icmp_type/icmp_code in tp_src/tp_dst; the ct key uses id and type<<8|code'),
              assign('meta.fk.tp_src', '(bit<16>)hdr.icmp.type'),
              assign('meta.fk.tp_dst', '(bit<16>)hdr.icmp.code'),
              assign('meta.ctk.sport', 'hdr.icmp.id'),
              assign('meta.ctk.dport', 'hdr.icmp.type ++ hdr.icmp.code'),
            ]),
          ],
        ),
      ],
    ),
    comment('why a ct() on this packet cannot be decided in hardware (0: it can)'),
    iff('meta.ctk.l3 == 0 || meta.l3_bad == 1 || standard_metadata.checksum_error == 1', [assign('meta.ctk_reason', 'PUNT_UNTRACKABLE')], [
      iff(
        '(meta.ctk.l3 == 0x0800 && hdr.icmp.isValid() && (hdr.icmp.type == 3 || hdr.icmp.type == 4 || hdr.icmp.type == 5 || hdr.icmp.type == 11 || hdr.icmp.type == 12)) || (meta.ctk.l3 == 0x86dd && hdr.icmp.isValid() && hdr.icmp.type >= 1 && hdr.icmp.type <= 4)',
        [assign('meta.ctk_reason', 'PUNT_ICMP_ERROR')],
      ),
    ]),
    comment('packets whose flow key the parser cannot fill as OVS would are never decided in hardware'),
    iff('standard_metadata.parser_error != error.NoError || meta.ipv6_ext == 1', punt('PUNT_UNTRACKABLE', '0'), [
      iff('meta.frag == 1', puntOrDrop('FRAGMENT', cfg.slowPath.fragments, '0')),
    ]),
  ];
}

function ingress(plan: Plan): ControlDecl {
  const cfg = plan.config;
  const counters: ControlDecl['counters'] = [];
  const tables: TableDecl[] = [];
  for (const c of plan.ctTables) {
    counters.push({ name: `${c.name}_counter`, type: 'packets_and_bytes' });
    tables.push({
      name: c.name,
      keys: CT_KEY.map(([n, , e]) => ({ expr: e, match: 'exact' as const, name: n })),
      actions: [{ name: 'ct_hit' }, { name: 'ct_miss', annotation: '@defaultonly' }],
      defaultAction: { name: 'ct_miss', args: [], isConst: true },
      size: c.size,
      supportTimeout: true,
      counters: `${c.name}_counter`,
      comment: [`conntrack: zone set '${c.set}' (zones ${c.zones.join(', ')}) looked up at stage ${c.stage}; one entry per direction (offload/entries.ts connectionEntries)`],
    });
  }
  for (const st of plan.stageTables) {
    if (cfg.policyCounters) counters.push({ name: `${st.name}_counter`, type: 'packets_and_bytes' });
    tables.push(stageTable(st, cfg, plan.source));
  }
  const actions: ActionDecl[] = [
    {
      name: 'ct_hit',
      params: [{ name: 'state', width: 8 }, { name: 'mark', width: 32 }, { name: 'label', width: 128 }],
      body: [assign('meta.ct_hit', '1'), assign('meta.hit.state', 'state'), assign('meta.hit.mark', 'mark'), assign('meta.hit.label', 'label')],
      comment: ['an offloaded connection in this direction: its ct_state (trk|est[|rpl][|rel]), mark and label'],
    },
    { name: 'ct_miss', params: [], body: [assign('meta.ct_hit', '0')] },
    ...flowActions(),
    PUNT_ACTION,
  ];
  const stages: Stmt[] = [];
  for (let s = 0; s < plan.stages; s++) stages.push(...stageCode(plan, s));
  const body: Stmt[] = [
    assign('meta.fk.in_port', 'standard_metadata.ingress_port'),
    // Registers and metadata start at 0 for every packet (docs/policy-language.md §1.1); only
    // the fields some table keys on exist in meta.fk.
    ...KEY_FIELDS.filter((k) => k.name === 'metadata' || k.name.startsWith('reg')).filter((k) => plan.stageTables.some((t) => t.keys.includes(k.name))).map((k) => assign(k.expr, '0')),
    assign('meta.run', '1'),
    assign('meta.table_id', '0'),
    assign('meta.punt', '0'),
    assign('meta.out_count', '0'),
    assign('meta.drop_all', '0'),
    assign('meta.direct', '0'),
    assign('meta.cached', '0'),
    ...clearCt('meta.ct'),
    ...(cfg.probe
      ? [
          assign('meta.obs.lookups', '0'),
          comment('OBSERVATION ONLY: an input probe (offload/probe.ts) stays valid through ingress; egress rewrites or removes it'),
          iff('hdr.probe.isValid()', [
            assign('meta.tag', 'hdr.probe.tag'),
            iff(`(hdr.probe.flags & ${hex(PROBE_F_ECHO, 2)}) != 0`, [
              comment('ECHO (offload/probe.ts): straight to the CPU as a reason-0 PacketIn, an ordering barrier for the harness'),
              assign('meta.direct', '1'),
              assign('meta.cpu_reason', '0'),
              assign('standard_metadata.egress_spec', 'CPU_PORT'),
            ]),
          ]),
        ]
      : []),
    iff('hdr.packet_out.isValid()', [
      assign('meta.tag', 'hdr.packet_out.tag'),
      iff(
        'hdr.packet_out.mode == PACKET_OUT_DIRECT',
        [
          comment('the slow path decided: send as is, the probe reports the model\'s ct fields'),
          assign('meta.direct', '1'),
          assign('standard_metadata.egress_spec', 'hdr.packet_out.egress_port'),
          assign('meta.out_ct.state', 'hdr.packet_out.ct_state'),
          assign('meta.out_ct.zone', 'hdr.packet_out.ct_zone'),
          assign('meta.out_ct.mark', 'hdr.packet_out.ct_mark'),
          assign('meta.out_ct.label', 'hdr.packet_out.ct_label'),
        ],
        [comment('PIPELINE: run the policy as if the packet arrived on ingress_port'), assign('meta.fk.in_port', 'hdr.packet_out.ingress_port')],
      ),
      call('hdr.packet_out.setInvalid()'),
    ]),
    iff('meta.direct == 0', [
      ...prologue(cfg),
      ...stages,
      blank(),
      comment('---- verdict: all hardware outputs, or one punt to the CPU'),
      iff('meta.run == 1', punt('PUNT_STAGE_LIMIT', String(plan.stages))),
      iff('meta.punt == 0 && meta.drop_all == 0 && meta.out_count > 1', punt('PUNT_MULTI_OUTPUT', String(plan.stages))),
      iff(
        'meta.punt != 0',
        [assign('standard_metadata.egress_spec', 'CPU_PORT'), assign('meta.cpu_reason', 'meta.punt'), assign('meta.cpu_ct', 'meta.punt_ct')],
        [
          iff('meta.drop_all == 1 || meta.out_count == 0', cfg.probe
            ? [
                iff(`hdr.probe.isValid() && (hdr.probe.flags & ${hex(PROBE_F_REPORT_DROP, 2)}) != 0`, [comment('OBSERVATION ONLY. REPORT_DROP (offload/probe.ts): the harness learns of the drop'), assign('standard_metadata.egress_spec', 'CPU_PORT'), assign('meta.cpu_reason', '0')], [call('mark_to_drop(standard_metadata)')]),
              ]
            : [call('mark_to_drop(standard_metadata)')], [
            iff(
              'meta.out_port == CPU_PORT',
              [assign('standard_metadata.egress_spec', 'CPU_PORT'), assign('meta.cpu_reason', 'PUNT_CONTROLLER'), assign('meta.punt_stage', '0'), assign('meta.cpu_ct', 'meta.out_ct')],
              [assign('standard_metadata.egress_spec', 'meta.out_port')],
            ),
          ]),
        ],
      ),
    ]),
  ];
  return {
    kind: 'control',
    name: INGRESS,
    params: 'inout headers_t hdr, inout metadata_t meta, inout standard_metadata_t standard_metadata',
    counters,
    actions,
    tables,
    apply: body,
    comment: ['Ingress: PacketOut handling, flow/ct keys, the unrolled policy stages, the verdict.'],
  };
}

function egress(cfg: OffloadConfig, stages: number): ControlDecl {
  const toCpu: Stmt[] = [
    call('hdr.packet_in.setValid()'),
    assign('hdr.packet_in.ingress_port', 'meta.fk.in_port'),
    assign('hdr.packet_in.pad', '0'),
    assign('hdr.packet_in.reason', 'meta.cpu_reason'),
    assign('hdr.packet_in.stage', 'meta.punt_stage'),
    assign('hdr.packet_in.table_id', 'meta.punt_table'),
    assign('hdr.packet_in.ct_state', 'meta.cpu_ct.state'),
    assign('hdr.packet_in.ct_zone', 'meta.cpu_ct.zone'),
    assign('hdr.packet_in.ct_mark', 'meta.cpu_ct.mark'),
    assign('hdr.packet_in.ct_label', 'meta.cpu_ct.label'),
    assign('hdr.packet_in.tag', 'meta.tag'),
  ];
  // OBSERVATION ONLY (probe build): the probe and its lookup records (offload/probe.ts).
  const probe = (flags: Stmt[], ct: string): Stmt[] => [
    call('hdr.probe.setValid()'),
    assign('hdr.probe.magic', 'PROBE_MAGIC'),
    assign('hdr.probe.version', 'PROBE_VERSION'),
    ...flags,
    assign('hdr.probe.tag', 'meta.tag'),
    assign('hdr.probe.ct_state', `${ct}.state`),
    assign('hdr.probe.lookups', 'meta.obs.lookups'),
    assign('hdr.probe.ct_zone', `${ct}.zone`),
    assign('hdr.probe.ct_mark', `${ct}.mark`),
    assign('hdr.probe.ct_label', `${ct}.label`),
  ];
  const cpuProbe: Stmt[] = cfg.probe
    ? [
        comment('OBSERVATION ONLY: a PacketIn that is not a punt carries the probe and the lookups in front of the frame; a punt carries the bare frame'),
        iff(
          'meta.cpu_reason == 0 || meta.cpu_reason == PUNT_CONTROLLER',
          probe([iff('meta.cpu_reason == PUNT_CONTROLLER', [assign('hdr.probe.flags', String(PROBE_F_OUTPUT))], [iff('meta.direct == 1', [assign('hdr.probe.flags', String(PROBE_F_ECHO))], [assign('hdr.probe.flags', String(PROBE_F_REPORT_DROP))])])], 'meta.cpu_ct'),
          [call('hdr.probe.setInvalid()'), call(`hdr.lookups.pop_front(${stages})`)],
        ),
      ]
    : [];
  const outProbe: Stmt[] = cfg.probe
    ? [
        comment('OBSERVATION ONLY: the probe on every dataplane output'),
        ...probe([iff('meta.direct == 1', [assign('hdr.probe.flags', String(PROBE_F_OUTPUT | PROBE_F_PACKET_OUT))], [assign('hdr.probe.flags', String(PROBE_F_OUTPUT))])], 'meta.out_ct'),
      ]
    : [];
  return {
    kind: 'control',
    name: EGRESS,
    params: 'inout headers_t hdr, inout metadata_t meta, inout standard_metadata_t standard_metadata',
    counters: [],
    actions: [],
    tables: [],
    apply: [iff('standard_metadata.egress_port == CPU_PORT', [...toCpu, ...cpuProbe], outProbe)],
    comment: [cfg.probe ? 'Egress: packet_in header towards the CPU; observation build: the probe (and lookups) on every output and non-punt PacketIn.' : 'Egress: packet_in header towards the CPU.'],
  };
}

function deparser(cfg: OffloadConfig): Decl {
  const order = ['packet_in', ...(cfg.probe ? ['probe', 'lookups'] : []), 'ethernet', 'vlan0', 'vlan1', 'ipv4', 'ipv4_opts', 'ipv6', 'tcp', 'udp', 'icmp'];
  return {
    kind: 'control',
    name: 'CtDeparser',
    params: 'packet_out packet, in headers_t hdr',
    counters: [],
    actions: [],
    tables: [],
    apply: order.map((h) => call(`packet.emit(hdr.${h})`)),
  };
}

/** The whole program for a plan. */
export function generateProgram(plan: Plan): P4Program {
  const cfg = plan.config;
  return {
    preamble: designNotes(plan),
    includes: ['#include <core.p4>', '#define V1MODEL_VERSION 20200408', '#include <v1model.p4>'],
    decls: [
      ...constants(cfg),
      ...headers(cfg, plan.stages),
      parser(cfg),
      verifyChecksum(),
      ingress(plan),
      egress(cfg, plan.stages),
      { kind: 'control', name: 'CtComputeChecksum', params: 'inout headers_t hdr, inout metadata_t meta', counters: [], actions: [], tables: [], apply: [comment('headers are never modified: nothing to recompute')] },
      deparser(cfg),
    ],
    main: 'V1Switch(CtParser(), CtVerifyChecksum(), CtIngress(), CtEgress(), CtComputeChecksum(), CtDeparser()) main;',
  };
}

export { PUNT };
