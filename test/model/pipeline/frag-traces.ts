/**
 * Fragment traces shared by the model tests (frag.test.ts) and the differential against OVS
 * (test/harness/targets/ovs-frag.test.ts): policies plus input steps. Frames are built with
 * model/packet/build.ts and cut with the ipf tests' fragmenter; every non-final fragment is
 * above the default minimum size (1200 bytes of L3 for IPv4, 1280 for IPv6, §3.4) unless the
 * trace is about the minimum.
 */
import { buildFrame, type FrameSpec } from '../../../model/packet/build.js';
import { fragmentFrame } from '../conntrack/frag-helpers.js';

export interface FragStep {
  time: number;
  port: number;
  frame: Uint8Array;
}

export interface FragTrace {
  name: string;
  policy: string;
  steps: FragStep[];
}

export const A4 = { src: '10.1.1.1', dst: '10.1.1.2' };
export const R4 = { src: '10.1.1.2', dst: '10.1.1.1' };
export const A6 = { src: 'fd00::1', dst: 'fd00::2' };
export const R6 = { src: 'fd00::2', dst: 'fd00::1' };

/**
 * The firewall of docs/conntrack-semantics.md §9.3 with fragments in mind: table 0 tracks (zone 5) and
 * recirculates, table 1 commits new connections from port 1 and sends them to port 2, passes
 * established traffic both ways, and sends anything with the inv bit (tracked or not) to port 3
 * so invalid and expired fragments become visible as outputs.
 */
export const FIREWALL = `
table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=0,priority=10,ipv6,actions=ct(table=1,zone=5)
table=0,priority=0,actions=drop
table=1,priority=10,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=5),output:2
table=1,priority=10,ipv6,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=5),output:2
table=1,priority=10,ip,ct_state=+trk+est,actions=output:1,output:2
table=1,priority=10,ipv6,ct_state=+trk+est,actions=output:1,output:2
table=1,priority=5,ip,ct_state=+inv,actions=output:3
table=1,priority=5,ipv6,ct_state=+inv,actions=output:3
table=1,priority=0,actions=drop
`;

/**
 * Which original-direction tuple fields a released fragment shows (§1.6, ipf.ts "Flow
 * visibility"): ct_tp_dst → port 2, else ct_nw_proto → port 4, else port 3.
 */
export const TUPLE = `
table=0,priority=10,ip,actions=ct(table=1,zone=7)
table=0,priority=0,actions=drop
table=1,priority=20,ip,ct_state=+trk+new,ct_nw_proto=17,ct_tp_dst=2222,actions=output:2
table=1,priority=15,ip,ct_state=+trk+new,ct_nw_proto=17,actions=output:4
table=1,priority=10,ip,actions=output:3
table=1,priority=0,actions=drop
`;

export function bytes(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 255;
  return b;
}

export function udpFrame(ip: { src: string; dst: string }, n: number, id = 77, sport = 1111, dport = 2222): Uint8Array {
  const spec: FrameSpec = { ip: { ...ip, id }, udp: { sport, dport }, payload: bytes(n, id) };
  return buildFrame(spec);
}

export function tcpSynFrame(ip: { src: string; dst: string }, n: number, id = 78): Uint8Array {
  return buildFrame({ ip: { ...ip, id }, tcp: { sport: 40000, dport: 80, flags: 'S', seq: 1000 }, payload: bytes(n, id) });
}

/** Fragments of `frame` cut at `cuts` (IPv6 fragment header id = `id`). */
export function frags(frame: Uint8Array, cuts: number[], id?: number): Uint8Array[] {
  return fragmentFrame(frame, cuts, id);
}

const steps = (port: number, fs: Uint8Array[], order: number[], t0 = 0): FragStep[] =>
  order.map((i, k) => ({ time: t0 + k, port, frame: fs[i]! }));

/** The traces compared against OVS; the model tests assert their expected outcome. */
export function fragTraces(): FragTrace[] {
  const u4 = frags(udpFrame(A4, 2000, 101), [1400]);
  const t4 = frags(tcpSynFrame(A4, 3000, 102), [1280, 2560]);
  const u6 = frags(udpFrame(A6, 2000, 103), [1400], 0x103);
  const t6 = frags(tcpSynFrame(A6, 3000, 104), [1280, 2560], 0x104);
  const small4 = frags(udpFrame(A4, 1000, 105), [800]);
  const small6 = frags(udpFrame(A6, 1000, 106), [800], 0x106);
  const lone4 = frags(udpFrame(A4, 2000, 107, 3333, 4444), [1400]);
  const lone6 = frags(udpFrame(A6, 2000, 108, 3333, 4444), [1400], 0x108);
  const tup = frags(udpFrame(A4, 2000, 109), [1400]);
  const il = frags(udpFrame(A4, 2000, 110), [1400]);
  const two = frags(udpFrame(A4, 2000, 111), [1400]);
  const dup = frags(udpFrame(A4, 3000, 112), [1280, 2560]);
  const ping = frags(buildFrame({ ip: { ...A4, id: 113 }, icmp: { type: 8, id: 7, seq: 1 }, payload: bytes(2000, 113) }), [1400]);
  const pong = buildFrame({ ip: { ...R4, id: 114 }, icmp: { type: 0, id: 7, seq: 1 }, payload: bytes(64, 114) });
  const z = frags(udpFrame(A6, 2000, 115), [1400], 0x115);
  const xa = frags(udpFrame(A4, 2000, 116), [1400]);
  const xb = frags(udpFrame(A4, 2000, 117, 6000, 7000), [1400]);
  return [
    {
      name: 'IPv4 UDP in order, then an unfragmented reply and request',
      policy: FIREWALL,
      steps: [...steps(1, u4, [0, 1]), { time: 10, port: 2, frame: udpFrame(R4, 10, 1, 2222, 1111) }, { time: 11, port: 1, frame: udpFrame(A4, 10, 2) }],
    },
    { name: 'IPv4 TCP SYN, 3 fragments reversed', policy: FIREWALL, steps: steps(1, t4, [2, 1, 0]) },
    { name: 'IPv6 UDP out of order, then an unfragmented reply', policy: FIREWALL, steps: [...steps(1, u6, [1, 0]), { time: 10, port: 2, frame: udpFrame(R6, 10, 1, 2222, 1111) }] },
    { name: 'IPv6 TCP SYN, 3 fragments middle-last-first', policy: FIREWALL, steps: steps(1, t6, [1, 2, 0]) },
    { name: 'too-small non-final fragments (IPv4, IPv6)', policy: FIREWALL, steps: [{ time: 0, port: 1, frame: small4[0]! }, { time: 1, port: 1, frame: small6[0]! }] },
    {
      name: 'IPv4 first fragment expires, released into a later packet 15 001 ms on',
      policy: FIREWALL,
      steps: [
        { time: 0, port: 1, frame: lone4[0]! },
        { time: 15_000, port: 1, frame: udpFrame(A4, 10, 3, 5000, 53) },
        { time: 15_001, port: 1, frame: udpFrame(A4, 10, 4, 5001, 53) },
        { time: 15_002, port: 1, frame: udpFrame(A4, 10, 5, 5002, 53) },
      ],
    },
    {
      name: 'IPv6 first fragment expires, released into an IPv4 packet',
      policy: FIREWALL,
      steps: [
        { time: 0, port: 1, frame: lone6[0]! },
        { time: 15_001, port: 1, frame: udpFrame(A4, 10, 6, 5003, 53) },
      ],
    },
    { name: 'tuple visibility of released fragments', policy: TUPLE, steps: steps(1, tup, [0, 1]) },
    {
      name: 'a duplicate fragment is inv|trk and passed on; the list still completes',
      policy: FIREWALL,
      steps: steps(1, dup, [0, 0, 2, 1]),
    },
    {
      name: 'fragmented ICMP echo request, unfragmented echo reply',
      policy: FIREWALL,
      steps: [...steps(1, ping, [1, 0]), { time: 5, port: 2, frame: pong }],
    },
    {
      name: 'two zones: ct(zone=1,table=1) then ct(zone=2,commit,table=2), IPv6',
      policy: `
table=0,priority=10,ipv6,actions=ct(table=1,zone=1)
table=1,priority=10,ipv6,ct_state=+trk+new,actions=ct(commit,zone=2,table=2)
table=2,priority=10,ipv6,ct_state=+trk+new,actions=output:2
table=2,priority=5,ipv6,actions=output:3
`,
      steps: steps(1, z, [1, 0]),
    },
    {
      name: 'an expired fragment is released into the ct() call of a fragment that is itself held',
      policy: FIREWALL,
      steps: [{ time: 0, port: 1, frame: xa[0]! }, { time: 15_001, port: 1, frame: xb[0]! }, { time: 15_002, port: 1, frame: xb[1]! }],
    },
    {
      name: 'released fragments interleave per action (output:2 twice)',
      policy: 'table=0,priority=10,ip,actions=ct(commit,zone=3),output:2,output:2\ntable=0,priority=0,actions=drop\n',
      steps: steps(1, il, [0, 1]),
    },
    {
      name: 'fragments of one datagram from two ports: pass 0 reassembles, table 1 runs with the completing packet\'s in_port',
      policy: FIREWALL,
      steps: [{ time: 0, port: 3, frame: two[0]! }, { time: 1, port: 1, frame: two[1]! }],
    },
    {
      name: 'reassembly disabled for IPv4 (ipf v4=off): every v4 fragment inv|trk, v6 still reassembled',
      policy: `ipf v4=off\n${FIREWALL}`,
      steps: [...steps(1, u4, [0, 1]), ...steps(1, u6, [0, 1], 2)],
    },
  ];
}
