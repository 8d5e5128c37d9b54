/**
 * An independent checker of TCP bookkeeping in a rendered scenario, working from the decoded
 * frames only (PacketView), not from the simulator: each segment's seq continues the sender's
 * stream, each ACK acknowledges exactly what the peer has sent (SYN and FIN count one), data
 * stays within the receiver's advertised window, and a SYN after a close starts afresh.
 */
import { renderScenarioDetailed } from '../../../harness/arbitraries/index.js';
import type { Scenario, TcpEvent } from '../../../harness/arbitraries/index.js';
import { IPPROTO_TCP, PacketView, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../../model/packet/view.js';

interface SideState {
  started: boolean;
  /** null when the side started mid-stream (its ISN was never seen). */
  isn: number | null;
  maxEnd: number;
  synSeen: boolean;
  synWscale: number;
  fin: boolean;
  lastAck: number | null;
  lastWin: number;
  lastWasSyn: boolean;
}

const fresh = (): SideState => ({ started: false, isn: 0, maxEnd: 0, synSeen: false, synWscale: -1, fin: false, lastAck: null, lastWin: 0, lastWasSyn: false });
const diff = (a: number, b: number): number => (a - b) | 0;
const add = (a: number, b: number): number => (a + b) >>> 0;

export interface TcpCheckResult {
  checkedSeq: number;
  checkedAck: number;
  checkedWindow: number;
  errors: string[];
}

export function checkTcpBookkeeping(s: Scenario): TcpCheckResult {
  const r = renderScenarioDetailed(s);
  const v = new PacketView();
  const conns = new Map<string, { sides: [SideState, SideState]; closed: boolean }>();
  const res: TcpCheckResult = { checkedSeq: 0, checkedAck: 0, checkedWindow: 0, errors: [] };
  r.trace.forEach((st, k) => {
    const info = r.steps[k]!;
    const flow = s.flows[info.flow]!;
    if (flow.proto !== 'tcp' && flow.proto !== 'ftp') return;
    const ev = flow.events[info.event] as TcpEvent;
    if (ev.kind === 'icmpError' || ev.bad || info.anomaly) return;
    v.parse(st.frame);
    if (v.ipProto !== IPPROTO_TCP) {
      res.errors.push(`step ${k}: not TCP`);
      return;
    }
    const key = `${info.flow}/${ev.conn === 'data' ? 'd' : 'c'}`;
    let c = conns.get(key);
    if (!c) conns.set(key, (c = { sides: [fresh(), fresh()], closed: false }));
    const i = ev.dir === 'reply' ? 1 : 0;
    const fail = (m: string): void => void res.errors.push(`step ${k} (${info.label}): ${m}`);
    const f = v.tcpFlags;
    const syn = (f & TCP_SYN) !== 0;
    const fin = (f & TCP_FIN) !== 0 ? 1 : 0;
    const len = v.payloadLen;
    const rexmit = ev.kind === 'retransmit' || ev.kind === 'reorder';
    if (ev.kind === 'syn' && syn && (f & TCP_ACK) === 0 && c.closed) {
      c.sides = [fresh(), fresh()];
      c.closed = false;
    }
    const me = c.sides[i]!;
    const peer = c.sides[1 - i]!;
    if (syn) {
      if (!me.started) {
        me.started = true;
        me.isn = v.seq;
        me.maxEnd = add(v.seq, 1);
      } else if (me.isn === null) me.isn = v.seq;
      else if (v.seq !== me.isn) fail(`SYN seq ${v.seq} != ISN ${me.isn}`);
      else res.checkedSeq++;
      me.synSeen = true;
      me.synWscale = v.wscale;
    } else {
      if (!me.started) {
        me.started = true;
        me.isn = null;
        me.maxEnd = v.seq;
      }
      const end = add(v.seq, len + fin);
      if (!rexmit) {
        const want = ev.kind === 'fin' && me.fin && fin ? add(me.maxEnd, -1) : me.maxEnd;
        if (v.seq !== want) fail(`seq ${v.seq} != expected ${want}`);
        else res.checkedSeq++;
      }
      if (diff(end, me.maxEnd) > 0) me.maxEnd = end;
      if (fin) me.fin = true;
      // In window: the data ends within what the peer last allowed (RFC 9293 3.8.6).
      if (len > 0 && peer.lastAck !== null && me.synSeen && peer.synSeen && !rexmit) {
        const scaling = me.synWscale >= 0 && peer.synWscale >= 0;
        const wnd = peer.lastWin * 2 ** (scaling && !peer.lastWasSyn ? peer.synWscale : 0);
        if (diff(add(peer.lastAck, wnd), end) < 0) fail(`data end ${end} beyond peer window ${peer.lastAck}+${wnd}`);
        else res.checkedWindow++;
      }
    }
    if ((f & TCP_ACK) !== 0) {
      if (peer.started) {
        if (v.ack !== peer.maxEnd) fail(`ack ${v.ack} != peer's sent end ${peer.maxEnd}`);
        else res.checkedAck++;
      }
      me.lastAck = v.ack;
      me.lastWin = v.win;
      me.lastWasSyn = syn;
    }
    if ((f & TCP_RST) !== 0) c.closed = true;
    if (c.sides[0].fin && c.sides[1].fin) c.closed = true;
  });
  return res;
}
