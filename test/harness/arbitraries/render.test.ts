/**
 * renderScenario on hand-written scenarios: exact sequence/ack/window numbers of the TCP
 * simulator, the FTP/TFTP/ICMP message formats of docs/conntrack-semantics.md §5.3 and §8, the
 * corruptions of §3, the port map, and robustness against scenarios that shrinking mangled.
 */
import { describe, expect, it } from 'vitest';
import { renderScenario, renderScenarioDetailed, describeScenario, type Flow, type Scenario, type TcpEvent, type TcpParams } from '../../../harness/arbitraries/index.js';
import {
  CT_FRAGMENT,
  CT_ICMP_BAD_INNER,
  CT_ICMP_INNER_SRC,
  CT_L3_BAD_CSUM,
  CT_L3_BAD_HEADER,
  CT_L3_TRUNCATED,
  CT_L4_BAD_CSUM,
  CT_L4_ZERO_PORT,
  CT_NOT_IP,
  CT_OK,
  ICMP_ERROR,
  ipv4ToString,
  PacketView,
} from '../../../model/packet/view.js';

const P: TcpParams = { isn: [1000, 5000], win: [65535, 65535], wscale: [null, null], mss: [1460, 1460], sackOk: [false, false] };

function scen(flows: Flow[], ports = { inside: [1], outside: [2] }): Scenario {
  return { v: 1, ports, flows };
}
function tcp(events: Partial<TcpEvent>[], params: Partial<TcpParams> = {}, extra: Partial<Flow> = {}): Flow {
  return {
    proto: 'tcp',
    family: 4,
    pair: 0,
    origin: 'inside',
    client: 0,
    server: 0,
    start: 0,
    sport: 40000,
    dport: 80,
    tcp: { ...P, ...params },
    events: events.map((e) => ({ gap: 1, dir: 'orig', ...e }) as TcpEvent),
    ...extra,
  } as Flow;
}

interface Seg {
  port: number;
  time: number;
  flags: number;
  seq: number;
  ack: number;
  win: number;
  len: number;
  wscale: number;
  sport: number;
  dport: number;
  src: string;
  dst: string;
  payload: string;
  status: number;
}
function decode(s: Scenario): Seg[] {
  const v = new PacketView();
  return renderScenario(s).map((st) => {
    v.parse(st.frame);
    return {
      port: st.port,
      time: st.time,
      flags: v.tcpFlags,
      seq: v.seq,
      ack: v.ack,
      win: v.win,
      len: v.payloadLen,
      wscale: v.wscale,
      sport: v.sport,
      dport: v.dport,
      src: ipv4ToString(v.src[0]!),
      dst: ipv4ToString(v.dst[0]!),
      payload: Buffer.from(st.frame.subarray(v.payloadOff, v.payloadOff + v.payloadLen)).toString('latin1'),
      status: v.ctStatus,
    };
  });
}
const pick = (xs: Seg[]): [number, number, number, number][] => xs.map((x) => [x.flags, x.seq, x.ack, x.len]);
const S = 0x02, A = 0x10, SA = 0x12, PA = 0x18, FA = 0x11, R = 0x04, RA = 0x14;
const OPEN: Partial<TcpEvent>[] = [{ kind: 'syn' }, { dir: 'reply', kind: 'synack' }, { kind: 'ack' }];

describe('TCP rendering', () => {
  it('handshake, data and a close initiated by the client: every number exact', () => {
    const segs = decode(scen([tcp([...OPEN, { kind: 'data', len: 100 }, { dir: 'reply', kind: 'ack' }, { kind: 'fin' }, { dir: 'reply', kind: 'ack' }, { dir: 'reply', kind: 'fin' }, { kind: 'ack' }])]));
    expect(pick(segs)).toEqual([
      [S, 1000, 0, 0],
      [SA, 5000, 1001, 0],
      [A, 1001, 5001, 0],
      [PA, 1001, 5001, 100],
      [A, 5001, 1101, 0],
      [FA, 1101, 5001, 0],
      [A, 5001, 1102, 0], // the FIN consumed one sequence number
      [FA, 5001, 1102, 0],
      [A, 1102, 5002, 0],
    ]);
    expect(segs.map((x) => x.port)).toEqual([1, 2, 1, 1, 2, 1, 2, 2, 1]);
    expect(segs.map((x) => x.time)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([segs[0]!.src, segs[0]!.dst, segs[0]!.sport, segs[0]!.dport]).toEqual(['10.0.0.1', '192.0.2.1', 40000, 80]);
    expect([segs[1]!.src, segs[1]!.dst, segs[1]!.sport, segs[1]!.dport]).toEqual(['192.0.2.1', '10.0.0.1', 80, 40000]);
    expect(segs.every((x) => x.status === CT_OK)).toBe(true);
  });

  it('close initiated by the server, and a simultaneous close', () => {
    const a = decode(scen([tcp([...OPEN, { dir: 'reply', kind: 'fin' }, { kind: 'ack' }, { kind: 'fin' }, { dir: 'reply', kind: 'ack' }])]));
    expect(pick(a.slice(3))).toEqual([
      [FA, 5001, 1001, 0],
      [A, 1001, 5002, 0],
      [FA, 1001, 5002, 0],
      [A, 5002, 1002, 0],
    ]);
    const b = decode(scen([tcp([...OPEN, { kind: 'fin' }, { dir: 'reply', kind: 'fin' }, { kind: 'ack' }, { dir: 'reply', kind: 'ack' }])]));
    expect(pick(b.slice(3))).toEqual([
      [FA, 1001, 5001, 0],
      [FA, 5001, 1002, 0],
      [A, 1002, 5002, 0],
      [A, 5002, 1002, 0],
    ]);
  });

  it('simultaneous open: both SYNs, then both SYN-ACKs repeat the ISNs', () => {
    const segs = decode(scen([tcp([{ kind: 'syn' }, { dir: 'reply', kind: 'syn' }, { kind: 'synack' }, { dir: 'reply', kind: 'synack' }, { kind: 'data', len: 5 }])]));
    expect(pick(segs)).toEqual([
      [S, 1000, 0, 0],
      [S, 5000, 0, 0],
      [SA, 1000, 5001, 0],
      [SA, 5000, 1001, 0],
      [PA, 1001, 5001, 5],
    ]);
  });

  it('reuse after close: a SYN on the closed tuple starts a new incarnation with fresh ISNs', () => {
    const segs = decode(
      scen([tcp([...OPEN, { kind: 'fin' }, { dir: 'reply', kind: 'ack' }, { dir: 'reply', kind: 'fin' }, { kind: 'ack' }, { kind: 'syn' }, { dir: 'reply', kind: 'synack' }, { kind: 'ack' }])]),
    );
    const [syn2, synack2, ack2] = segs.slice(7);
    expect(syn2!.flags).toBe(S);
    expect(syn2!.seq - 1002).toBeGreaterThan(0x10000); // well beyond the old sequence space
    expect(synack2!.ack).toBe(syn2!.seq + 1);
    expect(synack2!.seq).not.toBe(5000);
    expect([ack2!.seq, ack2!.ack]).toEqual([syn2!.seq + 1, synack2!.seq + 1]);
    expect([syn2!.sport, syn2!.dport]).toEqual([40000, 80]);
    // After an exact RST, the server may reuse the tuple in the other direction.
    const r = decode(scen([tcp([...OPEN, { kind: 'rst', seqDelta: 0, ack: false }, { dir: 'reply', kind: 'syn' }])]));
    expect(r[3]!.flags).toBe(R);
    expect(r[3]!.seq).toBe(1001);
    expect(r[4]!.flags).toBe(S);
    expect(r[4]!.seq).not.toBe(5000);
    expect(r[4]!.port).toBe(2);
  });

  it('RST: exact at snd_nxt, RST+ACK acks rcv_nxt, an inexact one is flagged and changes nothing', () => {
    const d = renderScenarioDetailed(scen([tcp([...OPEN, { kind: 'rst', seqDelta: 2, ack: true }, { kind: 'data', len: 3 }, { dir: 'reply', kind: 'rst', seqDelta: 0, ack: true }])]));
    const segs = decode(scen([tcp([...OPEN, { kind: 'rst', seqDelta: 2, ack: true }, { kind: 'data', len: 3 }, { dir: 'reply', kind: 'rst', seqDelta: 0, ack: true }])]));
    expect(pick(segs.slice(3))).toEqual([
      [RA, 1003, 5001, 0],
      [PA, 1001, 5001, 3],
      [RA, 5001, 1004, 0],
    ]);
    expect(d.steps[3]!.anomaly).toBe('inexact RST');
    expect(d.steps[5]!.anomaly).toBeUndefined();
  });

  it('window scaling: options on the SYNs, unscaled SYN windows, scaled windows afterwards', () => {
    const segs = decode(scen([tcp(OPEN, { win: [1 << 20, 1 << 16], wscale: [7, 2], sackOk: [true, true] })]));
    expect(segs[0]!.wscale).toBe(7);
    expect(segs[1]!.wscale).toBe(2);
    expect(segs[0]!.win).toBe(65535);
    expect(segs[1]!.win).toBe(65535);
    expect(segs[2]!.win).toBe((1 << 20) >> 7);
    // The client did not offer scaling: the SYN-ACK must not carry it and windows stay unscaled.
    const n = decode(scen([tcp([...OPEN, { dir: 'reply', kind: 'ack' }], { win: [1 << 20, 1 << 16], wscale: [null, 2] })]));
    expect(n[1]!.wscale).toBe(-1);
    expect(n[2]!.win).toBe(65535);
    expect(n[3]!.win).toBe(65535);
  });

  it('data is clamped to the peer window; with no room left it becomes a pure ACK', () => {
    const d = renderScenarioDetailed(scen([tcp([...OPEN, { kind: 'data', len: 1400 }, { kind: 'data', len: 10 }, { dir: 'reply', kind: 'ack' }, { kind: 'data', len: 10 }], { win: [65535, 1000] })]));
    const segs = decode(scen([tcp([...OPEN, { kind: 'data', len: 1400 }, { kind: 'data', len: 10 }, { dir: 'reply', kind: 'ack' }, { kind: 'data', len: 10 }], { win: [65535, 1000] })]));
    expect(segs[3]!.len).toBe(1000);
    expect([segs[4]!.flags, segs[4]!.len]).toEqual([A, 0]);
    expect(d.steps[4]!.label).toContain('no window room');
    expect(segs[5]!.ack).toBe(2001);
    expect([segs[6]!.seq, segs[6]!.len]).toEqual([2001, 10]);
    // The MSS of the receiver bounds a segment too.
    const m = decode(scen([tcp([...OPEN, { kind: 'data', len: 1400 }], { mss: [1460, 536] })]));
    expect(m[3]!.len).toBe(536);
  });

  it('retransmission repeats an earlier segment byte for byte with the current ack', () => {
    const segs = decode(scen([tcp([...OPEN, { kind: 'data', len: 20 }, { kind: 'data', len: 30 }, { dir: 'reply', kind: 'data', len: 7 }, { kind: 'retransmit', back: 1 }, { kind: 'data', len: 1 }])]));
    const [d1, , , rx, next] = segs.slice(3);
    expect([rx!.flags, rx!.seq, rx!.len, rx!.payload]).toEqual([d1!.flags, d1!.seq, d1!.len, d1!.payload]);
    expect(rx!.ack).toBe(5008);
    expect(next!.seq).toBe(1051);
  });

  it('reordering sends the later segment first; the peer then acks both', () => {
    const segs = decode(scen([tcp([...OPEN, { kind: 'reorder', lens: [10, 20] }, { dir: 'reply', kind: 'ack' }])]));
    expect(pick(segs.slice(3))).toEqual([
      [PA, 1011, 5001, 20],
      [PA, 1001, 5001, 10],
      [A, 5001, 1031, 0],
    ]);
  });

  it('out-of-window segments, odd flags and corrupted copies leave the endpoint state alone', () => {
    const d = renderScenarioDetailed(
      scen([
        tcp([
          ...OPEN,
          { kind: 'oow', seqDelta: 1 << 24, ackDelta: -100000, len: 5 },
          { kind: 'flags', flags: 0x03 },
          { kind: 'data', len: 9, bad: { op: 'l4Checksum' } },
          { kind: 'data', len: 9 },
        ]),
      ]),
    );
    const segs = decode(scen([tcp([...OPEN, { kind: 'oow', seqDelta: 1 << 24, ackDelta: -100000, len: 5 }, { kind: 'flags', flags: 0x03 }, { kind: 'data', len: 9, bad: { op: 'l4Checksum' } }, { kind: 'data', len: 9 }])]));
    expect([segs[3]!.seq, segs[3]!.ack, segs[3]!.len]).toEqual([1001 + (1 << 24), (5001 - 100000) >>> 0, 5]);
    expect(d.steps[3]!.anomaly).toBe('out of window');
    expect(segs[4]!.flags).toBe(0x03);
    expect(d.steps[4]!.anomaly).toBe('invalid TCP flags');
    expect([segs[5]!.seq, segs[5]!.status]).toEqual([1001, CT_L4_BAD_CSUM]);
    expect([segs[6]!.seq, segs[6]!.len, segs[6]!.status]).toEqual([1001, 9, CT_OK]);
  });

  it('mid-stream: segments without a handshake continue the scenario ISNs', () => {
    const segs = decode(scen([tcp([{ kind: 'data', len: 4 }, { dir: 'reply', kind: 'ack' }, { dir: 'reply', kind: 'data', len: 2 }, { kind: 'ack' }])]));
    expect(pick(segs)).toEqual([
      [PA, 1001, 5001, 4],
      [A, 5001, 1005, 0],
      [PA, 5001, 1005, 2],
      [A, 1005, 5003, 0],
    ]);
  });
});

describe('corruptions (docs/conntrack-semantics.md §3)', () => {
  const one = (bad: NonNullable<TcpEvent['bad']>, family: 4 | 6 = 4): number[] => {
    const d = renderScenarioDetailed(scen([tcp([{ kind: 'syn', bad }], {}, { family })]));
    const v = new PacketView().parse(d.trace[0]!.frame);
    return [v.ctStatus, d.steps[0]!.ctStatus];
  };
  it('each op yields the status it promises', () => {
    expect(one({ op: 'ipChecksum' })).toEqual([CT_L3_BAD_CSUM, CT_L3_BAD_CSUM]);
    expect(one({ op: 'ipChecksum' }, 6)).toEqual([CT_L4_BAD_CSUM, CT_L4_BAD_CSUM]);
    expect(one({ op: 'l4Checksum' })).toEqual([CT_L4_BAD_CSUM, CT_L4_BAD_CSUM]);
    expect(one({ op: 'zeroPort' })).toEqual([CT_L4_ZERO_PORT, CT_L4_ZERO_PORT]);
    expect(one({ op: 'zeroPort' }, 6)).toEqual([CT_L4_ZERO_PORT, CT_L4_ZERO_PORT]);
    expect(one({ op: 'truncate', bytes: 1 })).toEqual([CT_L3_BAD_HEADER, CT_L3_BAD_HEADER]);
    expect(one({ op: 'truncate', bytes: 1 }, 6)).toEqual([CT_L3_BAD_HEADER, CT_L3_BAD_HEADER]);
    expect(one({ op: 'truncate', bytes: 10_000 })[0]).toBe(one({ op: 'truncate', bytes: 10_000 })[1]);
    expect(one({ op: 'truncate', bytes: 10_000 })[0]).not.toBe(CT_OK);
    expect(one({ op: 'badIhl' })).toEqual([CT_L3_BAD_HEADER, CT_L3_BAD_HEADER]);
    expect(one({ op: 'badIhl' }, 6)).toEqual([CT_L3_BAD_HEADER, CT_L3_BAD_HEADER]);
    expect(one({ op: 'fragment' })).toEqual([CT_FRAGMENT, CT_FRAGMENT]);
    expect(one({ op: 'fragment' }, 6)).toEqual([CT_FRAGMENT, CT_FRAGMENT]);
  });

  it('noise: ARP and runts never reach the tracker; a contradicting version nibble is tracked anyway', () => {
    const d = renderScenarioDetailed(
      scen([{ proto: 'noise', family: 4, pair: 0, origin: 'inside', client: 0, server: 0, start: 0, events: [{ gap: 0, dir: 'orig', kind: 'arp' }, { gap: 0, dir: 'reply', kind: 'runt' }, { gap: 0, dir: 'orig', kind: 'badVersion' }] }]),
    );
    const v = new PacketView();
    expect(d.trace.map((t) => v.parse(t.frame).ctStatus)).toEqual([CT_NOT_IP, CT_L3_TRUNCATED, CT_OK]);
    expect(d.trace.every((t) => t.frame.length >= 14)).toBe(true);
    expect(d.trace.map((t) => t.port)).toEqual([1, 2, 1]);
    expect(v.parse(d.trace[0]!.frame).ethType).toBe(0x0806);
  });
});

describe('ICMP errors (§5.3)', () => {
  const flow = (variant: 'ok' | 'noFlow' | 'badSource' | 'short', family: 4 | 6 = 4, from: 'host' | 'router' = 'router', dir: 'orig' | 'reply' = 'orig', full = false): Flow =>
    tcp([...OPEN, { kind: 'data', len: 50 }, { dir, kind: 'icmpError', type: 'timeExceeded', from, variant, full } as Partial<TcpEvent>], {}, { family });

  it('embeds the last packet of the direction, sent back from a router on the far side', () => {
    const d = renderScenarioDetailed(scen([flow('ok')]));
    const v = new PacketView().parse(d.trace[4]!.frame);
    expect(v.ctStatus).toBe(CT_OK);
    expect(v.icmpClass).toBe(ICMP_ERROR);
    expect([v.icmpType, v.icmpCode]).toEqual([11, 0]);
    expect(ipv4ToString(v.src[0]!)).toBe('192.0.2.254');
    expect(ipv4ToString(v.dst[0]!)).toBe('10.0.0.1');
    expect([v.innerSport, v.innerDport]).toEqual([40000, 80]);
    expect(ipv4ToString(v.innerSrc[0]!)).toBe('10.0.0.1');
    expect(v.l3End - v.innerOff).toBe(28); // IPv4 header + 8 bytes (RFC 792)
    expect(d.trace[4]!.port).toBe(2);
    const full = renderScenarioDetailed(scen([flow('ok', 4, 'router', 'orig', true)]));
    const fv = new PacketView().parse(full.trace[4]!.frame);
    expect(fv.l3End - fv.innerOff).toBe(20 + 20 + 50);
  });

  it('an error about a reply packet goes to the server, from the client host itself', () => {
    const d = renderScenarioDetailed(scen([flow('ok', 4, 'host', 'reply')]));
    const v = new PacketView().parse(d.trace[4]!.frame);
    expect([ipv4ToString(v.src[0]!), ipv4ToString(v.dst[0]!)]).toEqual(['10.0.0.1', '192.0.2.1']);
    expect([v.innerSport, v.innerDport]).toEqual([80, 40000]);
    expect(d.trace[4]!.port).toBe(1);
  });

  it('variants: untracked flow, wrong inner source, too short; IPv6 quotes the full TCP header', () => {
    const st = (f: Flow): [number, number] => {
      const d = renderScenarioDetailed(scen([f]));
      return [new PacketView().parse(d.trace[4]!.frame).ctStatus, d.steps[4]!.ctStatus];
    };
    const nf = renderScenarioDetailed(scen([flow('noFlow')]));
    const nv = new PacketView().parse(nf.trace[4]!.frame);
    expect(nv.ctStatus).toBe(CT_OK);
    expect(nv.innerSport).not.toBe(40000);
    expect(nf.steps[4]!.anomaly).toContain('untracked');
    expect(st(flow('badSource'))).toEqual([CT_ICMP_INNER_SRC, CT_ICMP_INNER_SRC]);
    expect(st(flow('short'))).toEqual([CT_ICMP_BAD_INNER, CT_ICMP_BAD_INNER]);
    expect(st(flow('short', 6))).toEqual([CT_ICMP_BAD_INNER, CT_ICMP_BAD_INNER]);
    const v6 = renderScenarioDetailed(scen([flow('ok', 6)]));
    const v = new PacketView().parse(v6.trace[4]!.frame);
    expect(v.ctStatus).toBe(CT_OK);
    expect([v.icmpType, v.l3End - v.innerOff]).toEqual([3, 60]);
  });

  it('an error before any packet of the flow quotes the packet the sender would send', () => {
    const d = renderScenarioDetailed(scen([tcp([{ kind: 'icmpError', type: 'unreach', from: 'host', variant: 'ok', full: false } as Partial<TcpEvent>])]));
    const v = new PacketView().parse(d.trace[0]!.frame);
    expect([v.ctStatus, v.icmpType, v.icmpCode, v.innerSport, v.innerDport]).toEqual([CT_OK, 3, 3, 40000, 80]);
  });
});

describe('FTP (§8.2, §8.3) and TFTP', () => {
  const ftp = (mode: 'active' | 'passive', family: 4 | 6, wrongHost: number | null = null): Flow => ({
    proto: 'ftp',
    family,
    pair: 0,
    origin: 'inside',
    client: 0,
    server: 1,
    start: 0,
    sport: 40000,
    tcp: P,
    ftp: { mode, port: 50000, dataSport: mode === 'active' ? 20 : 40123, wrongHost, data: { ...P, isn: [7000, 9000] } },
    events: [
      ...OPEN.map((e) => ({ gap: 0, dir: 'orig', ...e }) as TcpEvent),
      { gap: 0, dir: mode === 'active' ? 'orig' : 'reply', kind: 'announce' },
      { gap: 0, dir: 'orig', kind: 'syn', conn: 'data' },
      { gap: 0, dir: 'reply', kind: 'synack', conn: 'data' },
    ],
  });

  it('active IPv4: PORT names the client and P; the server connects from port 20 to it', () => {
    const segs = decode(scen([ftp('active', 4)]));
    expect(segs[3]!.payload).toBe('PORT 10,0,0,1,195,80\r\n');
    expect([segs[3]!.dport, segs[3]!.port]).toEqual([21, 1]);
    expect([segs[4]!.src, segs[4]!.sport, segs[4]!.dst, segs[4]!.dport, segs[4]!.port, segs[4]!.seq]).toEqual(['192.0.2.2', 20, '10.0.0.1', 50000, 2, 7000]);
    expect([segs[5]!.flags, segs[5]!.ack, segs[5]!.port]).toEqual([SA, 7001, 1]);
  });

  it('passive IPv4: 227 names the server; the client connects to it', () => {
    const segs = decode(scen([ftp('passive', 4)]));
    expect(segs[3]!.payload).toBe('227 Entering Passive Mode (192,0,2,2,195,80).\r\n');
    expect([segs[3]!.sport, segs[3]!.port]).toEqual([21, 2]);
    expect([segs[4]!.src, segs[4]!.sport, segs[4]!.dst, segs[4]!.dport, segs[4]!.port]).toEqual(['10.0.0.1', 40123, '192.0.2.2', 50000, 1]);
  });

  it('a wrong PORT address: the data connection goes to the announced (wrong) host', () => {
    const segs = decode(scen([ftp('active', 4, 2)]));
    expect(segs[3]!.payload).toBe('PORT 10,0,0,3,195,80\r\n');
    expect(segs[4]!.dst).toBe('10.0.0.3');
  });

  it('IPv6: EPRT and 229 (which carries no address)', () => {
    const payload = (f: Flow): string => {
      const v = new PacketView();
      const t = renderScenario(scen([f]))[3]!;
      v.parse(t.frame);
      return Buffer.from(t.frame.subarray(v.payloadOff, v.payloadOff + v.payloadLen)).toString();
    };
    expect(payload(ftp('active', 6))).toBe('EPRT |2|fd00::1|50000|\r\n');
    expect(payload(ftp('passive', 6, 2))).toBe('229 Entering Extended Passive Mode (|||50000|)\r\n');
  });

  it('TFTP: RRQ to 69, the server answers from its TID, the client acks to the TID', () => {
    const d = decode(
      scen([{ proto: 'tftp', family: 4, pair: 0, origin: 'inside', client: 0, server: 0, start: 0, sport: 40001, tid: 51000, events: [{ gap: 0, dir: 'orig', kind: 'rrq' }, { gap: 0, dir: 'reply', kind: 'tftpData', block: 1, len: 100 }, { gap: 0, dir: 'orig', kind: 'tftpAck', block: 1 }] }]),
    );
    expect(d.map((x) => [x.sport, x.dport, x.port])).toEqual([
      [40001, 69, 1],
      [51000, 40001, 2],
      [40001, 51000, 1],
    ]);
    expect(d[0]!.payload).toBe('\x00\x01file.bin\x00octet\x00');
    expect(d[1]!.len).toBe(104);
  });
});

describe('ports, zones and echo', () => {
  it('pair and origin choose the in_ports and the address pools', () => {
    const segs = decode(scen([tcp(OPEN, {}, { pair: 1, origin: 'outside', client: 1, server: 2 })], { inside: [1, 3], outside: [2, 4] }));
    expect(segs.map((s) => s.port)).toEqual([4, 3, 4]);
    expect([segs[0]!.src, segs[0]!.dst]).toEqual(['192.0.2.2', '10.0.0.3']);
  });

  it('ICMP echo request and reply carry the flow id', () => {
    const v = new PacketView();
    const t = renderScenario(scen([{ proto: 'icmp', family: 6, pair: 0, origin: 'inside', client: 0, server: 0, start: 5, id: 77, events: [{ gap: 0, dir: 'orig', kind: 'echo', seq: 1, len: 8 }, { gap: 3, dir: 'reply', kind: 'echo', seq: 1, len: 8 }] }]));
    expect(t.map((s) => [v.parse(s.frame).icmpType, v.icmpId, v.ctStatus, s.time, s.port])).toEqual([
      [128, 77, CT_OK, 5, 1],
      [129, 77, CT_OK, 8, 2],
    ]);
  });
});

describe('robustness and description', () => {
  it('scenarios that shrinking (or a hand edit) left odd still render without throwing', () => {
    const odd = scen([
      tcp([{ dir: 'reply', kind: 'synack' }, { kind: 'fin' }, { kind: 'data', len: 5 }, { kind: 'fin' }, { dir: 'reply', kind: 'retransmit', back: 9 }, { kind: 'announce' }, { kind: 'reorder', lens: [0, 0] }, { kind: 'nonsense' } as unknown as TcpEvent, { gap: -5, kind: 'ack' }]),
      tcp([{ kind: 'data', len: 3 }], {}, { pair: 99, client: 1000 }),
      { proto: 'quic' } as unknown as Flow,
      { proto: 'udp', events: [{ kind: 'dgram', len: 1e9 }] } as unknown as Flow,
    ]);
    const d = renderScenarioDetailed(odd);
    expect(d.trace.length).toBeGreaterThan(5);
    const v = new PacketView();
    d.trace.forEach((st, k) => expect(v.parse(st.frame).ctStatus, d.steps[k]!.label).toBe(d.steps[k]!.ctStatus));
    expect(d.steps.find((s) => s.label.includes('data after own FIN'))).toBeDefined();
    expect(renderScenario({ v: 1 } as unknown as Scenario)).toEqual([]);
  });

  it('describeScenario lists every flow and event, and marks gaps at a timeout', () => {
    const s = scen([tcp([...OPEN, { gap: 30_001, kind: 'data', len: 10, bad: { op: 'truncate', bytes: 3 } }])]);
    const text = describeScenario(s, { rendered: true });
    expect(text).toContain('flow 0: tcp/IPv4 10.0.0.1:40000 → 192.0.2.1:80');
    expect(text).toContain('≈ 30 s + 1 ms');
    expect(text).toContain('BAD:truncate(3)');
    expect(text.split('\n').filter((l) => /^\s+\d+ \+/.test(l))).toHaveLength(4);
    expect(text).toContain('trace: 4 frame(s)');
  });
});
