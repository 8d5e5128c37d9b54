/**
 * A small TCP endpoint pair: keeps snd_nxt / rcv_nxt / snd_una / the peer's window for both
 * sides so that the segments of a scenario carry correct sequence and acknowledgement numbers
 * and stay inside the receiver's advertised window (RFC 9293 3.8.6, RFC 7323 2 for scaling).
 * Deliberate anomalies (out-of-window, odd flags, inexact RST) are produced from the same
 * state but do not change it, so they are exactly what the scenario says.
 *
 * Every input is accepted: an event that makes no sense in the current state (data after the
 * side's own FIN, a retransmission with nothing sent yet, …) is rendered as the nearest
 * well-defined segment (a pure ACK) and says so in its note. Segments sent before any
 * handshake behave as if a handshake with the scenario's ISNs had happened unseen (mid-stream
 * pickup, docs/conntrack-semantics.md §4.5).
 */
import { tcpInvalidFlags } from '../../../model/conntrack/tcp.js';
import type { TcpOptionsSpec } from '../../../model/packet/build.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../../../model/packet/view.js';
import type { Family, TcpEvent, TcpParams } from '../types.js';

const F_FIN = TCP_FIN;
const F_SYN = TCP_SYN;
const F_RST = TCP_RST;
const F_PSH = TCP_PSH;
const F_ACK = TCP_ACK;

export interface TcpSegment {
  /** 0 = the connection's client (orig direction), 1 = its server (reply direction). */
  from: 0 | 1;
  flags: number;
  seq: number;
  ack: number;
  win: number;
  options?: TcpOptionsSpec;
  payload: Uint8Array;
  note: string;
  anomaly?: string;
}

const add = (a: number, b: number): number => (a + b) >>> 0;
/** a - b as a signed 32-bit distance (sequence space arithmetic, RFC 9293 3.4). */
const diff = (a: number, b: number): number => (a - b) | 0;


interface HistSeg {
  flags: number;
  seq: number;
  payload: Uint8Array;
  options?: TcpOptionsSpec;
}

class Peer {
  isn: number;
  sndNxt: number;
  sndUna: number;
  /** The other side's latest advertised window in bytes. */
  sndWnd: number;
  rcvNxt = 0;
  synced = false;
  synSent = false;
  finSent = false;
  finSeq = 0;
  history: HistSeg[] = [];
  constructor(isn: number, peerWin: number) {
    this.isn = isn >>> 0;
    this.sndNxt = this.isn;
    this.sndUna = this.isn;
    this.sndWnd = Math.min(65535, peerWin);
  }
}

/** Payload bytes as a function of the sequence number, so a retransmission repeats its bytes. */
export function patternPayload(seq: number, len: number): Uint8Array {
  const p = new Uint8Array(len);
  for (let k = 0; k < len; k++) p[k] = 97 + (add(seq, k) % 26);
  return p;
}

function sanitizeParams(p: TcpParams): TcpParams {
  const num = (v: unknown, d: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);
  const ws = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? Math.min(14, Math.max(0, Math.trunc(v))) : null);
  const pair = <T>(a: unknown, f: (x: unknown) => T): [T, T] => {
    const arr = Array.isArray(a) ? a : [];
    return [f(arr[0]), f(arr[1])];
  };
  return {
    isn: pair(p?.isn, (v) => num(v, 0) >>> 0),
    win: pair(p?.win, (v) => Math.min(1 << 30, Math.max(1, Math.trunc(num(v, 65535))))),
    wscale: pair(p?.wscale, ws),
    mss: pair(p?.mss, (v) => (typeof v === 'number' && Number.isFinite(v) ? Math.min(65535, Math.max(1, Math.trunc(v))) : null)),
    sackOk: pair(p?.sackOk, (v) => v === true),
  };
}

export class TcpPair {
  private readonly p: TcpParams;
  private peers: [Peer, Peer];
  private closed = false;
  private gen = 0;
  private readonly defaultMss: number;

  constructor(params: TcpParams, private readonly family: Family) {
    this.p = sanitizeParams(params);
    this.defaultMss = family === 6 ? 1220 : 536; // RFC 9293 3.7.1 default send MSS / IPv6 minimum MTU − 60
    this.peers = [new Peer(this.p.isn[0], this.p.win[1]), new Peer(this.p.isn[1], this.p.win[0])];
  }

  /** An independent copy (to render a corrupted copy of a segment without touching the state). */
  clone(): TcpPair {
    const c = new TcpPair(this.p, this.family);
    const copy = (x: Peer): Peer => Object.assign(Object.create(Peer.prototype) as Peer, x, { history: x.history.slice() });
    c.peers = [copy(this.peers[0]), copy(this.peers[1])];
    c.closed = this.closed;
    c.gen = this.gen;
    return c;
  }

  /** Window scaling is in effect when both SYNs carry the option (RFC 7323 2.2). */
  private get scaling(): boolean {
    return this.p.wscale[0] !== null && this.p.wscale[1] !== null;
  }

  private shift(i: 0 | 1): number {
    return this.scaling ? this.p.wscale[i]! : 0;
  }

  /** The 16-bit window field side i advertises (unscaled on SYNs, RFC 7323 2.2). */
  private winField(i: 0 | 1, syn: boolean): number {
    const buf = this.p.win[i];
    if (syn) return Math.max(1, Math.min(65535, buf));
    return Math.max(1, Math.min(65535, Math.floor(buf / 2 ** this.shift(i))));
  }

  private mssTo(i: 0 | 1): number {
    return this.p.mss[i] ?? this.defaultMss;
  }

  /** Side i's first non-SYN segment: as if its SYN had gone unseen. */
  private prepare(i: 0 | 1): void {
    const me = this.peers[i];
    if (!me.synSent) {
      me.synSent = true;
      me.sndNxt = add(me.isn, 1);
      me.sndUna = me.sndNxt;
    }
    if (!me.synced) {
      me.synced = true;
      me.rcvNxt = add(this.peers[1 - i]!.isn, 1);
    }
  }

  private reincarnate(): void {
    // A new connection on the same tuple (TIME_WAIT reuse): fresh ISNs well beyond the old
    // sequence space of each side, as RFC 6191 / RFC 9293 3.4.1 expect of a reusing stack.
    this.gen++;
    const isn0 = add(this.peers[0].sndNxt, 0x40000 + 7919 * this.gen);
    const isn1 = add(this.peers[1].sndNxt, 0x40000 + 104729 * this.gen);
    this.peers = [new Peer(isn0, this.p.win[1]), new Peer(isn1, this.p.win[0])];
    this.closed = false;
  }

  private synOptions(i: 0 | 1, synAck: boolean): TcpOptionsSpec {
    const o: TcpOptionsSpec = {};
    const other = (1 - i) as 0 | 1;
    if (this.p.mss[i] !== null) o.mss = this.p.mss[i]!;
    // A SYN-ACK carries wscale / SACK-permitted only if the SYN offered them (RFC 7323 1.3, RFC 2018 2).
    if (this.p.wscale[i] !== null && (!synAck || this.p.wscale[other] !== null)) o.wscale = this.p.wscale[i]!;
    if (this.p.sackOk[i] && (!synAck || this.p.sackOk[other])) o.sackOk = true;
    return o;
  }

  /** The receiver takes in a segment that was sent normally (not a stray anomaly). */
  private deliver(s: TcpSegment): void {
    const i = s.from;
    const r = this.peers[1 - i]!;
    const syn = (s.flags & F_SYN) !== 0 ? 1 : 0;
    const fin = (s.flags & F_FIN) !== 0 ? 1 : 0;
    const end = add(s.seq, s.payload.length + syn + fin);
    if (!r.synced) {
      r.synced = true;
      r.rcvNxt = end;
    } else if (diff(s.seq, r.rcvNxt) <= 0 && diff(end, r.rcvNxt) > 0) {
      r.rcvNxt = end;
    }
    if ((s.flags & F_ACK) !== 0) {
      if (diff(s.ack, r.sndUna) > 0) r.sndUna = s.ack;
      r.sndWnd = s.win * 2 ** (syn ? 0 : this.shift(i));
    }
  }

  private record(i: 0 | 1, s: TcpSegment): void {
    this.peers[i].history.push({ flags: s.flags, seq: s.seq, payload: s.payload, ...(s.options ? { options: s.options } : {}) });
  }

  private make(i: 0 | 1, flags: number, seq: number, ack: number, payload: Uint8Array, note: string, options?: TcpOptionsSpec): TcpSegment {
    const syn = (flags & F_SYN) !== 0;
    const s: TcpSegment = { from: i, flags, seq: seq >>> 0, ack: (flags & F_ACK) !== 0 ? ack >>> 0 : 0, win: this.winField(i, syn), payload, note };
    if (options && Object.keys(options).length > 0) s.options = options;
    return s;
  }

  private pureAck(i: 0 | 1, why: string): TcpSegment {
    this.prepare(i);
    const me = this.peers[i];
    const s = this.make(i, F_ACK, me.sndNxt, me.rcvNxt, new Uint8Array(0), why);
    this.record(i, s);
    this.deliver(s);
    return s;
  }

  /** Room in the peer's window for new data from side i. */
  private room(i: 0 | 1): number {
    const me = this.peers[i];
    return Math.max(0, diff(add(me.sndUna, me.sndWnd), me.sndNxt));
  }

  private dataSeg(i: 0 | 1, len: number, text?: string): TcpSegment | null {
    const me = this.peers[i];
    let payload: Uint8Array;
    if (text !== undefined) payload = new TextEncoder().encode(text);
    else {
      const n = Math.min(Math.max(0, Math.trunc(len)), this.mssTo((1 - i) as 0 | 1), this.room(i));
      if (n === 0) return null;
      payload = patternPayload(me.sndNxt, n);
    }
    const s = this.make(i, F_PSH | F_ACK, me.sndNxt, me.rcvNxt, payload, `data ${payload.length}`);
    me.sndNxt = add(me.sndNxt, payload.length);
    this.record(i, s);
    return s;
  }

  /** Render one event from side i. Returns the segments to send, in wire order. */
  step(i: 0 | 1, ev: TcpEvent): TcpSegment[] {
    const me = this.peers[i];
    switch (ev.kind) {
      case 'syn': {
        if (this.closed) this.reincarnate();
        const m = this.peers[i];
        const retx = m.synSent;
        if (!retx) {
          m.synSent = true;
          m.sndNxt = add(m.isn, 1);
        }
        const s = this.make(i, F_SYN, m.isn, 0, new Uint8Array(0), retx ? 'syn (again)' : 'syn', this.synOptions(i, false));
        this.record(i, s);
        this.deliver(s);
        return [s];
      }
      case 'synack': {
        if (!me.synced) {
          me.synced = true;
          me.rcvNxt = add(this.peers[1 - i]!.isn, 1);
        }
        if (!me.synSent) {
          me.synSent = true;
          me.sndNxt = add(me.isn, 1);
        }
        const s = this.make(i, F_SYN | F_ACK, me.isn, me.rcvNxt, new Uint8Array(0), 'synack', this.synOptions(i, true));
        this.record(i, s);
        this.deliver(s);
        return [s];
      }
      case 'ack':
        return [this.pureAck(i, 'ack')];
      case 'data': {
        this.prepare(i);
        if (me.finSent) return [this.pureAck(i, 'ack (data after own FIN)')];
        const s = this.dataSeg(i, ev.len, ev.text);
        if (!s) return [this.pureAck(i, 'ack (no window room for data)')];
        this.deliver(s);
        return [s];
      }
      case 'fin': {
        this.prepare(i);
        const again = me.finSent;
        if (!again) {
          me.finSent = true;
          me.finSeq = me.sndNxt;
          me.sndNxt = add(me.sndNxt, 1);
        }
        const s = this.make(i, F_FIN | F_ACK, me.finSeq, me.rcvNxt, new Uint8Array(0), again ? 'fin (again)' : 'fin');
        this.record(i, s);
        this.deliver(s);
        if (this.peers[0].finSent && this.peers[1].finSent) this.closed = true;
        return [s];
      }
      case 'rst': {
        this.prepare(i);
        const delta = Math.trunc(Number(ev.seqDelta) || 0);
        const flags = ev.ack ? F_RST | F_ACK : F_RST;
        const s = this.make(i, flags, add(me.sndNxt, delta), me.rcvNxt, new Uint8Array(0), delta === 0 ? 'rst' : `rst seq${delta > 0 ? '+' : ''}${delta}`);
        // RFC 5961 3.2: only a RST at exactly rcv_nxt resets the receiver.
        if (delta === 0) this.closed = true;
        else s.anomaly = 'inexact RST';
        return [s];
      }
      case 'retransmit': {
        const h = me.history;
        if (h.length === 0) return [this.pureAck(i, 'ack (nothing to retransmit)')];
        const back = Math.min(h.length - 1, Math.max(0, Math.trunc(Number(ev.back) || 0)));
        const o = h[h.length - 1 - back]!;
        const s = this.make(i, o.flags, o.seq, me.rcvNxt, o.payload, `retransmit seq=${o.seq} len=${o.payload.length}`, o.options);
        this.deliver(s);
        return [s];
      }
      case 'reorder': {
        this.prepare(i);
        if (me.finSent) return [this.pureAck(i, 'ack (data after own FIN)')];
        const lens = Array.isArray(ev.lens) ? ev.lens : [1, 1];
        const a = this.dataSeg(i, Number(lens[0]) || 0);
        if (!a) return [this.pureAck(i, 'ack (no window room for data)')];
        const b = this.dataSeg(i, Number(lens[1]) || 0);
        if (!b) {
          this.deliver(a);
          return [a];
        }
        b.note += ' (reordered: sent before the previous segment)';
        a.note += ' (reordered)';
        this.deliver(b);
        this.deliver(a);
        // The receiver had b queued out of order; once a fills the hole both are acknowledged.
        const r = this.peers[1 - i]!;
        const endA = add(a.seq, a.payload.length);
        if (r.rcvNxt === endA) r.rcvNxt = add(b.seq, b.payload.length);
        return [b, a];
      }
      case 'oow': {
        this.prepare(i);
        const len = Math.min(Math.max(0, Math.trunc(Number(ev.len) || 0)), this.mssTo((1 - i) as 0 | 1));
        const seq = add(me.sndNxt, Math.trunc(Number(ev.seqDelta) || 0));
        const s = this.make(i, len > 0 ? F_PSH | F_ACK : F_ACK, seq, add(me.rcvNxt, Math.trunc(Number(ev.ackDelta) || 0)), patternPayload(seq, len), `oow seq${fmtDelta(ev.seqDelta)} ack${fmtDelta(ev.ackDelta)} len=${len}`);
        s.anomaly = 'out of window';
        return [s];
      }
      case 'flags': {
        this.prepare(i);
        const flags = Math.trunc(Number(ev.flags) || 0) & 0xfff;
        const s = this.make(i, flags, me.sndNxt, me.rcvNxt, new Uint8Array(0), `flags 0x${flags.toString(16)}`, (flags & F_SYN) !== 0 ? this.synOptions(i, false) : undefined);
        if (tcpInvalidFlags(flags)) s.anomaly = 'invalid TCP flags';
        else s.anomaly = 'unusual TCP flags';
        return [s];
      }
      default:
        return [];
    }
  }

  /** A pure ACK side i would send now, without sending it (ICMP errors about a silent side). */
  peek(i: 0 | 1): TcpSegment {
    const me = this.peers[i];
    const ack = me.synced ? me.rcvNxt : add(this.peers[1 - i]!.isn, 1);
    return this.make(i, F_ACK, me.synSent ? me.sndNxt : add(me.isn, 1), ack, new Uint8Array(0), 'ack');
  }
}

function fmtDelta(v: unknown): string {
  const n = Math.trunc(Number(v) || 0);
  return n >= 0 ? `+${n}` : `${n}`;
}
