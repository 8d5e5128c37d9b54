/** The compile matrix: policies that must all compile with p4c-bm2-ss (test/offload/p4c-matrix*.test.ts). */
import type { PolicyIR } from '../../offload/ir.js';
import { ALLOW_OUTBOUND, IP, IPV6, TCP, UDP, controller, cs, ct, ctClear, drop, gotoT, m, out, policy, resubmit } from './ir-helpers.js';

export interface MatrixCase {
  name: string;
  policy: PolicyIR;
  config?: Record<string, unknown>;
  /** Local names of tables that must be in the P4Info. */
  tables: string[];
}

export const MATRIX_A: MatrixCase[] = [
  { name: 'allow-outbound TCP with replies', policy: ALLOW_OUTBOUND, tables: ['conntrack_s0', 'stage0_table0', 'stage1_table1'] },
  {
    name: 'multiple zones (per-port zones, split zone sets)',
    policy: policy([
      [0, 10, [m('in_port', 1), ...IP], [ct(1, { table: 1 })]],
      [0, 10, [m('in_port', 2), ...IP], [ct(2, { table: 1 })]],
      [0, 10, [m('in_port', 3), ...IP], [ct(3, { table: 1 })]],
      [1, 10, [cs('+trk+new'), m('ct_zone', 1)], [ct(1, { commit: true }), out(2)]],
      [1, 10, [cs('+trk+est')], [out(4)]],
      [1, 0, [], [drop]],
    ]),
    config: { zoneSets: [{ name: 'tenant_a', zones: [1], size: 4096 }, { name: 'tenant_b', zones: [2, 3] }] },
    tables: ['tenant_a_s0', 'tenant_b_s0', 'stage1_table1'],
  },
  {
    name: 'ct_mark / ct_label matches and exec writes',
    policy: policy([
      [0, 10, IP, [ct(5, { table: 1 })]],
      [1, 20, [cs('+trk+est'), m('ct_mark', 1, 0xff), m('ct_label', 1n << 64n, 1n << 64n)], [out(2)]],
      [1, 10, [cs('+trk+new')], [ct(5, { commit: true, mark: { value: 1, mask: 0xff }, label: { value: 1n << 64n, mask: 1n << 64n } }), out(2)]],
      [1, 0, [], [drop]],
    ]),
    tables: ['conntrack_s0', 'stage1_table1'],
  },
  {
    name: 'IPv6 TCP/UDP with prefixes and ports',
    policy: policy([
      [0, 10, [...IPV6, m('ipv6_src', 0xfd00n << 112n, 0xff00n << 112n)], [ct(7, { table: 1 })]],
      [1, 10, [...IPV6, m('nw_proto', 6), m('tp_dst', 443), cs('+trk+new')], [ct(7, { commit: true }), out(3)]],
      [1, 10, [...IPV6, m('nw_proto', 17), m('tp_dst', 0x0400, 0xfc00), cs('+trk+new')], [ct(7, { commit: true }), out(3)]],
      [1, 5, [cs('+trk+est')], [out(3)]],
    ]),
    tables: ['conntrack_s0', 'stage1_table1'],
  },
  {
    name: 'ICMP and ICMPv6 (type/code in tp_src/tp_dst), all-committed',
    policy: policy([
      [0, 10, [...IP, m('nw_proto', 1), m('tp_src', 8)], [ct(1, { table: 1 })]],
      [0, 10, [...IPV6, m('nw_proto', 58), m('tp_src', 128)], [ct(1, { table: 1 })]],
      [0, 9, [...IP, m('nw_proto', 1)], [ct(1, { table: 1 })]],
      [1, 10, [cs('+trk+new')], [ct(1, { commit: true }), out(2)]],
      [1, 10, [cs('+trk+est')], [out(2)]],
      [1, 10, [cs('+trk+rel')], [out(2)]],
    ]),
    config: { offload: 'all-committed' },
    tables: ['conntrack_s0', 'stage0_table0', 'stage1_table1'],
  },
  {
    name: 'unsupported actions are punted',
    policy: policy([
      [0, 10, TCP, [ct(1, { commit: true, alg: 'ftp' }), out(2)]],
      [0, 10, UDP, [ct(1, { commit: true, force: true }), out(2)]],
      [0, 9, IP, [out(2), out(3)]],
      [0, 8, [], [out(2), ct(1, { table: 1 })], ['ct_nw_src']],
      [0, 7, [], [{ kind: 'unsupported', text: 'in_port' }]],
      [1, 1, [], [drop]],
    ]),
    tables: ['stage0_table0'],
  },
];

export const MATRIX_B: MatrixCase[] = [
  {
    name: 'nested ct recirculation 2 deep (zone 1 then zone 2)',
    policy: policy([
      [0, 10, IP, [ct(1, { table: 1 })]],
      [1, 10, [cs('+trk+est')], [ct(2, { table: 2 })]],
      [1, 10, [cs('+trk+new')], [ct(1, { commit: true }), gotoT(3)]],
      [2, 10, [cs('+trk+est'), m('ct_zone', 2)], [out(2)]],
      [3, 10, [], [ct(2, { commit: true, table: 2 })]],
    ]),
    tables: ['conntrack_s0', 'conntrack_s1', 'conntrack_s2', 'stage2_table2', 'stage3_table2'],
  },
  {
    name: 'controller action and ct_clear',
    policy: policy([
      [0, 10, IP, [ct(1, { table: 1 })]],
      [0, 5, [], [controller]],
      [1, 10, [cs('+trk+inv')], [controller]],
      [1, 10, [cs('+trk+est')], [ctClear, out(2)]],
    ]),
    tables: ['conntrack_s0', 'stage0_table0', 'stage1_table1'],
  },
  { name: 'drop only', policy: policy([[0, 0, [], [drop]]]), tables: ['stage0_table0'] },
  {
    name: 'many tables with a goto chain and a resubmit cycle (stage limit), probe off',
    policy: policy([
      [0, 10, [m('in_port', 1)], [gotoT(1)]],
      [0, 10, [m('in_port', 2)], [gotoT(5)]],
      [1, 10, [...IP, m('nw_src', 0x0a000000, 0xff000000)], [gotoT(2)]],
      [2, 10, [m('dl_dst', 0x020000000001n)], [gotoT(3)]],
      [3, 10, [m('dl_vlan', 0x1000 | 10, 0x1fff)], [ct(4, { table: 4 })]],
      [4, 10, [cs('+trk+est'), m('tcp_flags', 0x010, 0x010)], [out(7)]],
      [5, 10, [], [resubmit(6)]],
      [6, 10, [], [resubmit(5)]],
    ]),
    config: { probe: false, maxStages: 6, policyCounters: false },
    tables: ['stage0_table0', 'stage4_table4', 'conntrack_s3', 'stage5_table5'],
  },
  {
    name: 'no offloaded zones at all, policy misses dropped',
    policy: policy([
      [0, 10, IP, [ct(9, { table: 1 })]],
      [1, 10, [cs('+trk')], [out(1)]],
    ]),
    config: { zones: [], slowPath: { policyMiss: false, tcpFlags: false, fragments: false, icmpErrors: false }, cpuPort: 64 },
    // the ct() in a zone that is not offloaded is a static punt: table 1 is never reached
    tables: ['stage0_table0'],
  },
];

/** All cases, cut into the three p4c-matrix-*.test.ts files (p4c takes 3–7 s per program). */
export const MATRIX: MatrixCase[] = [...MATRIX_A, ...MATRIX_B];
export const matrixPart = (part: number, parts = 3): MatrixCase[] => MATRIX.filter((_, i) => i % parts === part);
