/**
 * renderScenario: the pure, deterministic function Scenario → Trace. Same scenario, same bytes.
 * It never throws on a scenario of the right shape, whatever fast-check's shrinking removed
 * (an event that lost its meaning is rendered as the nearest well-defined packet, see
 * _internals/tcp-sim.ts), and it tolerates hand-edited JSON (unknown kinds render nothing).
 */
import type { Trace } from '../../model/verdict.js';
import { hostAddr, hostMac, otherSide, portOf, routerAddr, ROUTER } from './_internals/addresses.js';
import { arpFrame, badVersionFrame, buildWith, embedOffender, icmpErrorCode, otherProtoFrame, runtFrame, withTags, type Built, type Hop } from './_internals/frames.js';
import { activeAnnounce, passiveAnnounce } from './_internals/ftp.js';
import { patternPayload, TcpPair, type TcpSegment } from './_internals/tcp-sim.js';
import type {
  AddressPools,
  Corruption,
  Dir,
  Family,
  Flow,
  FtpFlow,
  HeaderShape,
  IcmpErrorEvent,
  PortMap,
  RenderedScenario,
  Scenario,
  Side,
  StepInfo,
  TcpEvent,
} from './types.js';

export const DEFAULT_PORTS: PortMap = { inside: [1], outside: [2] };

interface Item extends StepInfo {
  time: number;
  port: number;
  frame: Uint8Array;
  n: number;
}

/** One end of a connection as the renderer sees it. */
interface End {
  side: Side;
  addr: string;
  mac: string;
  /** in_port of packets this end sends. */
  port: number;
}

interface Conn {
  family: Family;
  c: End;
  s: End;
  sport: number;
  dport: number;
  shape: HeaderShape | undefined;
}

function end(ports: PortMap, side: Side, family: Family, host: number, pair: number, pools: AddressPools | null): End {
  return { side, addr: hostAddr(side, family, host, pools), mac: hostMac(side, family, host), port: portOf(ports, side, pair) };
}

function hopOf(conn: Conn, dir: Dir): Hop {
  const [a, b] = dir === 'reply' ? [conn.s, conn.c] : [conn.c, conn.s];
  return { family: conn.family, src: a.addr, dst: b.addr, ethSrc: a.mac, ethDst: b.mac, shape: conn.shape };
}

/** The scenario's pools, or null (legacy layout) when absent or not an object. */
function poolsOf(a: unknown): AddressPools | null {
  return a && typeof a === 'object' && !Array.isArray(a) ? (a as AddressPools) : null;
}

function shapeOf(v: unknown): HeaderShape | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as HeaderShape) : undefined;
}

function int(v: unknown, dflt = 0): number {
  const n = Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : dflt;
}
function port16(v: unknown, dflt: number): number {
  const n = int(v, dflt);
  return n >= 1 && n <= 65535 ? n : dflt;
}
function dirOf(v: unknown): Dir {
  return v === 'reply' ? 'reply' : 'orig';
}
function badOf(v: unknown): Corruption | undefined {
  return v && typeof v === 'object' && typeof (v as { op?: unknown }).op === 'string' ? (v as Corruption) : undefined;
}

function sanitizePorts(p: unknown): PortMap {
  const list = (v: unknown, d: number[]): number[] => (Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && x >= 0) ? (v as number[]) : d);
  const o = (p ?? {}) as Partial<PortMap>;
  return { inside: list(o.inside, DEFAULT_PORTS.inside), outside: list(o.outside, DEFAULT_PORTS.outside) };
}

class FlowRenderer {
  private t: number;
  private n = 0;
  private ipId: number;
  /** Last clean IP frame per (connection, direction), for ICMP errors. */
  private last = new Map<string, Uint8Array>();

  constructor(
    private readonly fi: number,
    private readonly flow: Flow,
    private readonly ports: PortMap,
    private readonly pools: AddressPools | null,
    private readonly out: Item[],
  ) {
    this.t = Math.max(0, int(flow.start));
    this.ipId = (fi * 4099) & 0xffff;
  }

  private get family(): Family {
    return this.flow.family === 6 ? 6 : 4;
  }

  private get origin(): Side {
    return this.flow.origin === 'outside' ? 'outside' : 'inside';
  }

  /** The flow's main connection (client → server). */
  conn(sport: number, dport: number): Conn {
    const f = this.flow;
    const o = this.origin;
    return {
      family: this.family,
      c: end(this.ports, o, this.family, int(f.client), int(f.pair), this.pools),
      s: end(this.ports, otherSide(o), this.family, int(f.server), int(f.pair), this.pools),
      sport,
      dport,
      shape: shapeOf(f.shape),
    };
  }

  advance(gap: unknown): void {
    this.t += Math.max(0, int(gap));
  }

  nextId(): number {
    this.ipId = (this.ipId + 1) & 0xffff;
    return this.ipId;
  }

  emit(ei: number, port: number, b: Built, label: string, anomaly?: string): void {
    const it: Item = { time: this.t, port, frame: b.frame, flow: this.fi, event: ei, n: this.n++, label: `${this.flow.proto}#${this.fi} ${label}`, ctStatus: b.ctStatus };
    if (anomaly) it.anomaly = anomaly;
    this.out.push(it);
  }

  remember(key: string, frame: Uint8Array): void {
    this.last.set(key, frame);
  }

  /** An ICMP error about `offender` (a clean frame sent in `dir` on `conn`). */
  icmpError(ei: number, conn: Conn, dir: Dir, ev: Omit<IcmpErrorEvent, 'gap' | 'dir' | 'bad'>, offender: Uint8Array, bad: Corruption | undefined): void {
    const sender = dir === 'reply' ? conn.s : conn.c; // gets the error
    const target = dir === 'reply' ? conn.c : conn.s; // the offender's destination
    const fromRouter = ev.from === 'router';
    const src = fromRouter ? routerAddr(target.side, conn.family, this.pools) : target.addr;
    const mac = fromRouter ? hostMac(target.side, conn.family, ROUTER) : target.mac;
    const variant = ev.variant === 'noFlow' || ev.variant === 'badSource' || ev.variant === 'short' ? ev.variant : 'ok';
    const type = ev.type === 'timeExceeded' || ev.type === 'tooBig' ? ev.type : 'unreach';
    const { inner, ctStatus } = embedOffender(offender, conn.family, variant, ev.full === true);
    const code = icmpErrorCode(conn.family, type, fromRouter ? 'router' : 'host');
    const hop: Hop = { family: conn.family, src, dst: sender.addr, ethSrc: mac, ethDst: sender.mac, shape: conn.shape };
    const b = buildWith(hop, { icmpError: { type: code.type, code: code.code, rest: code.rest, inner } }, this.nextId(), bad, ctStatus);
    const anomaly = variant === 'noFlow' ? 'ICMP error about an untracked flow' : undefined;
    this.emit(ei, target.port, b, `${dir} icmpError ${type}/${variant} from ${fromRouter ? 'router' : 'host'}${bad ? ` bad=${bad.op}` : ''}`, anomaly);
  }

  // ---------------------------------------------------------------- TCP and FTP

  tcpSegFrame(conn: Conn, seg: TcpSegment, bad: Corruption | undefined): Built {
    const dir: Dir = seg.from === 1 ? 'reply' : 'orig';
    const [sport, dport] = dir === 'orig' ? [conn.sport, conn.dport] : [conn.dport, conn.sport];
    return buildWith(
      hopOf(conn, dir),
      { tcp: { sport, dport, seq: seg.seq, ack: seg.ack, flags: seg.flags, win: seg.win, ...(seg.options ? { options: seg.options } : {}) }, payload: seg.payload },
      this.nextId(),
      bad,
    );
  }

  tcpEvent(ei: number, key: string, conn: Conn, pair: TcpPair, ev: TcpEvent, announce: () => string, tag: string): void {
    const dir = dirOf(ev.dir);
    const i = dir === 'reply' ? 1 : 0;
    const bad = badOf(ev.bad);
    if (ev.kind === 'icmpError') {
      const off = this.last.get(`${key}/${dir}`) ?? this.tcpSegFrame(conn, pair.peek(i), undefined).frame;
      this.icmpError(ei, conn, dir, ev, off, bad);
      return;
    }
    const text = ev.kind === 'announce' ? announce() : '';
    const e: TcpEvent = ev.kind !== 'announce' ? ev : text ? { gap: 0, dir, kind: 'data', len: 0, text } : { gap: 0, dir, kind: 'ack' };
    // A corrupted copy is rendered from a scratch copy of the endpoints: the receiver drops it.
    const segs = (bad ? pair.clone() : pair).step(i as 0 | 1, e);
    for (const seg of segs) {
      const b = this.tcpSegFrame(conn, seg, bad);
      if (!bad && !seg.anomaly) this.remember(`${key}/${dir}`, b.frame);
      const what = ev.kind === 'announce' && text ? `announce ${JSON.stringify(text)}` : seg.note;
      this.emit(ei, (dir === 'orig' ? conn.c : conn.s).port, b, `${tag}${dir} ${what} seq=${seg.seq} ack=${seg.ack} win=${seg.win}${bad ? ` bad=${bad.op}` : ''}`, seg.anomaly);
    }
  }

  tcp(f: Extract<Flow, { proto: 'tcp' }>): void {
    const conn = this.conn(port16(f.sport, 40000), port16(f.dport, 80));
    const pair = new TcpPair(f.tcp, this.family);
    (Array.isArray(f.events) ? f.events : []).forEach((ev, ei) => {
      this.advance(ev.gap);
      this.tcpEvent(ei, 'c', conn, pair, ev, () => '', '');
    });
  }

  ftp(f: FtpFlow): void {
    const ctl = this.conn(port16(f.sport, 40000), 21);
    const ftp = f.ftp ?? ({} as FtpFlow['ftp']);
    const mode = ftp.mode === 'passive' ? 'passive' : 'active';
    const p = port16(ftp.port, 50000);
    const fam = this.family;
    // The announced host: the announcer itself, or another host of its side (a wrong address).
    const announcer = mode === 'active' ? ctl.c : ctl.s;
    const wrong = ftp.wrongHost === null || ftp.wrongHost === undefined ? null : int(ftp.wrongHost);
    // 229 names no address (RFC 2428 3): a passive IPv6 data connection goes to the server.
    const useWrong = wrong !== null && !(mode === 'passive' && fam === 6);
    const announced: End = useWrong ? { ...announcer, addr: hostAddr(announcer.side, fam, wrong, this.pools), mac: hostMac(announcer.side, fam, wrong) } : announcer;
    const text = mode === 'active' ? activeAnnounce(fam, announced.addr, p) : passiveAnnounce(fam, announced.addr, p);
    // §8.3: PORT/EPRT → the server connects to the client's port P; 227/229 → the client connects to P.
    const dataConn: Conn =
      mode === 'active'
        ? { family: fam, c: ctl.s, s: announced, sport: port16(ftp.dataSport, 20), dport: p, shape: ctl.shape }
        : { family: fam, c: ctl.c, s: announced, sport: port16(ftp.dataSport, 40100), dport: p, shape: ctl.shape };
    const ctlPair = new TcpPair(f.tcp, fam);
    const dataPair = new TcpPair(ftp.data, fam);
    (Array.isArray(f.events) ? f.events : []).forEach((ev, ei) => {
      this.advance(ev.gap);
      if (ev.conn === 'data') this.tcpEvent(ei, 'd', dataConn, dataPair, ev, () => '', 'data-conn ');
      else this.tcpEvent(ei, 'c', ctl, ctlPair, ev, () => text, '');
    });
  }

  // ---------------------------------------------------------------- datagram protocols

  udp(f: Extract<Flow, { proto: 'udp' }>): void {
    const conn = this.conn(port16(f.sport, 40000), port16(f.dport, 53));
    (Array.isArray(f.events) ? f.events : []).forEach((ev, ei) => {
      this.advance(ev.gap);
      const dir = dirOf(ev.dir);
      const bad = badOf(ev.bad);
      const from = dir === 'orig' ? conn.c : conn.s;
      const [sport, dport] = dir === 'orig' ? [conn.sport, conn.dport] : [conn.dport, conn.sport];
      const clean = (): Built => buildWith(hopOf(conn, dir), { udp: { sport, dport }, payload: new Uint8Array(0) }, 0, undefined);
      if (ev.kind === 'icmpError') return this.icmpError(ei, conn, dir, ev, this.last.get(dir) ?? clean().frame, bad);
      if (ev.kind !== 'dgram') return;
      const len = Math.min(1400, Math.max(0, int(ev.len)));
      const none = ev.noChecksum === true && this.family === 4; // IPv6 requires a UDP checksum (RFC 8200 8.1)
      const b = buildWith(hopOf(conn, dir), { udp: { sport, dport, checksum: none ? 'none' : 'auto' }, payload: patternPayload(ei, len) }, this.nextId(), bad);
      if (!bad) this.remember(dir, b.frame);
      this.emit(ei, from.port, b, `${dir} udp ${len}${none ? ' (no checksum)' : ''}${bad ? ` bad=${bad.op}` : ''}`);
    });
  }

  tftp(f: Extract<Flow, { proto: 'tftp' }>): void {
    const cport = port16(f.sport, 40000);
    const tid = port16(f.tid, 50000);
    const conn69 = this.conn(cport, 69);
    const connTid = this.conn(cport, tid);
    const enc = new TextEncoder();
    (Array.isArray(f.events) ? f.events : []).forEach((ev, ei) => {
      this.advance(ev.gap);
      const dir = dirOf(ev.dir);
      const bad = badOf(ev.bad);
      // RFC 1350 4: the request goes to 69, everything after it between the client port and the TID.
      const conn = ev.kind === 'rrq' ? conn69 : connTid;
      if (ev.kind === 'icmpError') {
        const off = this.last.get(dir) ?? buildWith(hopOf(conn69, dir), { udp: { sport: dir === 'orig' ? cport : tid, dport: dir === 'orig' ? 69 : cport } }, 0, undefined).frame;
        return this.icmpError(ei, dir === 'orig' ? conn69 : connTid, dir, ev, off, bad);
      }
      let payload: Uint8Array;
      let what: string;
      if (ev.kind === 'rrq') {
        payload = Uint8Array.from([0, 1, ...enc.encode('file.bin'), 0, ...enc.encode('octet'), 0]);
        what = 'RRQ file.bin';
      } else if (ev.kind === 'tftpData') {
        const block = int(ev.block, 1) & 0xffff;
        const len = Math.min(512, Math.max(0, int(ev.len)));
        payload = new Uint8Array(4 + len);
        payload.set([0, 3, block >> 8, block & 0xff], 0);
        payload.set(patternPayload(block, len), 4);
        what = `DATA #${block} ${len}`;
      } else if (ev.kind === 'tftpAck') {
        const block = int(ev.block, 1) & 0xffff;
        payload = Uint8Array.from([0, 4, block >> 8, block & 0xff]);
        what = `ACK #${block}`;
      } else return;
      const [sport, dport] = dir === 'orig' ? [conn.sport, conn.dport] : [conn.dport, conn.sport];
      const b = buildWith(hopOf(conn, dir), { udp: { sport, dport }, payload }, this.nextId(), bad);
      if (!bad) this.remember(dir, b.frame);
      this.emit(ei, (dir === 'orig' ? conn.c : conn.s).port, b, `${dir} tftp ${what}${bad ? ` bad=${bad.op}` : ''}`);
    });
  }

  icmp(f: Extract<Flow, { proto: 'icmp' }>): void {
    const conn = this.conn(0, 0);
    const id = int(f.id) & 0xffff;
    const v6 = this.family === 6;
    (Array.isArray(f.events) ? f.events : []).forEach((ev, ei) => {
      this.advance(ev.gap);
      const dir = dirOf(ev.dir);
      const bad = badOf(ev.bad);
      const type = dir === 'orig' ? (v6 ? 128 : 8) : v6 ? 129 : 0;
      if (ev.kind === 'icmpError') {
        const off = this.last.get(dir) ?? buildWith(hopOf(conn, dir), { icmp: { type, id } }, 0, undefined).frame;
        return this.icmpError(ei, conn, dir, ev, off, bad);
      }
      if (ev.kind !== 'echo') return;
      const seq = int(ev.seq) & 0xffff;
      const len = Math.min(1400, Math.max(0, int(ev.len)));
      const b = buildWith(hopOf(conn, dir), { icmp: { type, id, seq }, payload: patternPayload(seq, len) }, this.nextId(), bad);
      if (!bad) this.remember(dir, b.frame);
      this.emit(ei, (dir === 'orig' ? conn.c : conn.s).port, b, `${dir} echo-${dir === 'orig' ? 'request' : 'reply'} id=${id} seq=${seq} ${len}${bad ? ` bad=${bad.op}` : ''}`);
    });
  }

  noise(f: Extract<Flow, { proto: 'noise' }>): void {
    const conn = this.conn(0, 0);
    (Array.isArray(f.events) ? f.events : []).forEach((ev, ei) => {
      this.advance(ev.gap);
      const dir = dirOf(ev.dir);
      const hop = hopOf(conn, dir);
      const raw =
        ev.kind === 'arp' ? arpFrame(hop) : ev.kind === 'runt' ? runtFrame(hop, this.nextId()) : ev.kind === 'badVersion' ? badVersionFrame(hop, this.nextId()) : ev.kind === 'otherProto' ? otherProtoFrame(hop, this.nextId()) : null;
      const why =
        ev.kind === 'badVersion' ? 'IP version nibble contradicts the EtherType (OVS ignores it)' : ev.kind === 'otherProto' ? 'an IP protocol other than TCP/UDP/ICMP (GRE)' : 'not a trackable IP packet';
      // otherProtoFrame is built through buildWith (tagged already); the others get the tags here.
      const b = raw && ev.kind !== 'otherProto' ? { ...raw, frame: withTags(raw.frame, hop.shape) } : raw;
      if (b) this.emit(ei, (dir === 'orig' ? conn.c : conn.s).port, b, `${dir} ${ev.kind}`, why);
    });
  }

  render(): void {
    const f = this.flow;
    switch (f.proto) {
      case 'tcp':
        return this.tcp(f);
      case 'ftp':
        return this.ftp(f);
      case 'udp':
        return this.udp(f);
      case 'tftp':
        return this.tftp(f);
      case 'icmp':
        return this.icmp(f);
      case 'noise':
        return this.noise(f);
      default:
        return;
    }
  }
}

/** Render with per-step intent (labels, expected ctStatus) for reports and tests. */
export function renderScenarioDetailed(s: Scenario): RenderedScenario {
  const ports = sanitizePorts(s?.ports);
  const pools = poolsOf(s?.addrs);
  const flows: Flow[] = Array.isArray(s?.flows) ? s.flows : [];
  const items: Item[] = [];
  flows.forEach((f, fi) => {
    if (f && typeof f === 'object') new FlowRenderer(fi, f, ports, pools, items).render();
  });
  // Merge the flows by time; ties keep flow order, then event order: time is monotonic.
  items.sort((a, b) => a.time - b.time || a.flow - b.flow || a.n - b.n);
  const trace: Trace = items.map((it) => ({ time: it.time, port: it.port, frame: it.frame }));
  const steps: StepInfo[] = items.map((it) => {
    const st: StepInfo = { flow: it.flow, event: it.event, label: it.label, ctStatus: it.ctStatus };
    if (it.anomaly) st.anomaly = it.anomaly;
    return st;
  });
  return { trace, steps };
}

/** Scenario → Trace (pure and deterministic). */
export function renderScenario(s: Scenario): Trace {
  return renderScenarioDetailed(s).trace;
}
