/**
 * TCP tracker: the pf-derived tracker of OVS 3.1 userspace (openvswitch/ovs
 * lib/conntrack-tcp.c at v3.1.0: `tcp_invalid_flags`, `tcp_get_wscale`, `tcp_conn_update`,
 * `tcp_valid_new`, `tcp_new_conn`; docs/conntrack-semantics.md §4). All sequence arithmetic is 32-bit
 * modular like the C code; `max_win` is a 16-bit column so C's truncation happens here too.
 */
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG, type PacketView } from '../packet/view.js';
import type { ConnTable } from './table.js';
import {
  CT_UPDATE_INVALID,
  CT_UPDATE_RESTART,
  CT_UPDATE_VALID,
  CT_UPDATE_VALID_NEW,
  type CtUpdate,
  type L4Tracker,
  type TcpInfo,
} from './types.js';
import {
  TM_TCP_CLOSE,
  TM_TCP_ESTABLISHED,
  TM_TCP_FIN_WAIT,
  TM_TCP_SYN_RECV,
  TM_TCP_SYN_SENT,
  TM_TCP_TIME_WAIT,
} from './timeouts.js';

/** lib/ct-dpif.h `CT_DPIF_TCP_STATES` numbering. */
export const TCPS_CLOSED = 0;
export const TCPS_LISTEN = 1;
export const TCPS_SYN_SENT = 2;
export const TCPS_SYN_RECV = 3;
export const TCPS_ESTABLISHED = 4;
export const TCPS_CLOSE_WAIT = 5;
export const TCPS_FIN_WAIT_1 = 6;
export const TCPS_CLOSING = 7;
export const TCPS_LAST_ACK = 8;
export const TCPS_FIN_WAIT_2 = 9;
export const TCPS_TIME_WAIT = 10;
export const TCP_STATE_NAMES = [
  'CLOSED', 'LISTEN', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'FIN_WAIT_1',
  'CLOSING', 'LAST_ACK', 'FIN_WAIT_2', 'TIME_WAIT',
] as const;

export const TCP_MAX_WSCALE = 14;
export const CT_WSCALE_FLAG = 0x80;
export const CT_WSCALE_UNKNOWN = 0x40;
export const CT_WSCALE_MASK = 0xf;
/** 0xffff + 1500: "1500 is an arbitrary fudge factor" (MAXACKWINDOW). */
export const MAXACKWINDOW = 0xffff + 1500;

/** `tcp_invalid_flags` (§4.2). */
export function tcpInvalidFlags(flags: number): boolean {
  if (flags & TCP_SYN) {
    if (flags & (TCP_RST | TCP_FIN)) return true;
  } else if (!(flags & (TCP_ACK | TCP_RST))) {
    return true;
  }
  if (!(flags & TCP_ACK) && flags & (TCP_FIN | TCP_PSH | TCP_URG)) return true;
  return false;
}

/**
 * `tcp_get_wscale` in the tracker's encoding: min(shift, 14) | 0x80 when the SYN carries a
 * window-scale option, else 0. The option walk itself (≥ 3 bytes left, EOL stops, NOP
 * advances 1, a later window option wins, lengths below 2 count as 2) is PacketView's
 * `wscale` (-1 = absent), the one home of TCP option parsing.
 */
export function tcpGetWscale(pkt: PacketView): number {
  return pkt.wscale < 0 ? 0 : Math.min(pkt.wscale, TCP_MAX_WSCALE) | CT_WSCALE_FLAG;
}

/** SEQ_GEQ / SEQ_GT on uint32 values (INT_MOD_GEQ). */
function seqGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}
function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

function divRoundUp(x: number, d: number): number {
  return Math.floor((x + d - 1) / d);
}

export const tcpTracker: L4Tracker = {
  /** `tcp_valid_new`: any valid flag combination except SYN+ACK (§4.3). */
  validNew(pkt: PacketView): boolean {
    const f = pkt.tcpFlags;
    if (tcpInvalidFlags(f)) return false;
    return !(f & TCP_SYN && f & TCP_ACK);
  },

  /** `tcp_new_conn` (§4.3). */
  newConn(t: ConnTable, c: number, pkt: PacketView, now: number): void {
    const s = 2 * c;
    const d = s + 1;
    const f = pkt.tcpFlags;
    const seq = pkt.seq;
    t.seqlo[s] = seq;
    t.seqhi[s] = seq + pkt.payloadLen + 1;
    t.seqlo[d] = 0;
    t.wscale[s] = 0;
    t.wscale[d] = 0;
    if (f & TCP_SYN) {
      t.seqhi[s] = t.seqhi[s]! + 1;
      t.wscale[s] = tcpGetWscale(pkt);
    } else {
      t.wscale[s] = CT_WSCALE_UNKNOWN;
      t.wscale[d] = CT_WSCALE_UNKNOWN;
    }
    let mw = Math.max(pkt.win, 1);
    const sws = t.wscale[s]! & CT_WSCALE_MASK;
    if (sws) mw = divRoundUp(mw, 1 << sws);
    t.maxWin[s] = mw;
    if (f & TCP_FIN) t.seqhi[s] = t.seqhi[s]! + 1;
    t.seqhi[d] = 1;
    t.maxWin[d] = 1;
    t.tstate[s] = TCPS_SYN_SENT;
    t.tstate[d] = TCPS_CLOSED;
    t.setTimer(c, TM_TCP_SYN_SENT, now);
  },

  /** `tcp_conn_update` (§4.4). */
  update(t: ConnTable, c: number, pkt: PacketView, reply: boolean, now: number): CtUpdate {
    const si = reply ? 2 * c + 1 : 2 * c; // sender
    const di = reply ? 2 * c : 2 * c + 1; // receiver
    const flags = pkt.tcpFlags;
    const seqlo = t.seqlo;
    const seqhi = t.seqhi;
    const maxWin = t.maxWin;
    const wscale = t.wscale;
    const st = t.tstate;

    if (tcpInvalidFlags(flags)) return CT_UPDATE_INVALID;

    // Step 1: pure SYN.
    if ((flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      if (st[di]! >= TCPS_FIN_WAIT_2 && st[si]! >= TCPS_FIN_WAIT_2) {
        st[si] = TCPS_CLOSED;
        st[di] = TCPS_CLOSED;
        return CT_UPDATE_RESTART;
      } else if (st[si]! <= TCPS_SYN_SENT) {
        st[si] = TCPS_SYN_SENT;
        t.setTimer(c, TM_TCP_SYN_SENT, now);
        return CT_UPDATE_VALID_NEW;
      }
    }

    // Step 2: window shifts.
    let sws = 0;
    let dws = 0;
    if (wscale[si]! & CT_WSCALE_FLAG && wscale[di]! & CT_WSCALE_FLAG && !(flags & TCP_SYN)) {
      sws = wscale[si]! & CT_WSCALE_MASK;
      dws = wscale[di]! & CT_WSCALE_MASK;
    } else if (wscale[si]! & CT_WSCALE_UNKNOWN && wscale[di]! & CT_WSCALE_UNKNOWN && !(flags & TCP_SYN)) {
      sws = TCP_MAX_WSCALE;
      dws = TCP_MAX_WSCALE;
    }

    let win = pkt.win;
    const origSeq = pkt.seq;
    let seq = origSeq;
    let ack = pkt.ack;
    const pLen = pkt.payloadLen;
    let end: number;
    let checkAckskew = true;

    if (st[si]! < TCPS_SYN_SENT) {
      // Step 3: first packet from this end.
      end = (seq + pLen) >>> 0;
      if (flags & TCP_SYN) {
        end = (end + 1) >>> 0;
        if (wscale[di]! & CT_WSCALE_FLAG) {
          wscale[si] = tcpGetWscale(pkt);
          if (wscale[si]! & CT_WSCALE_FLAG) {
            // Remove scale factor from initial window.
            sws = wscale[si]! & CT_WSCALE_MASK;
            win = divRoundUp(win, 1 << sws) & 0xffff;
            dws = wscale[di]! & CT_WSCALE_MASK;
          } else {
            // Fix up the other window; "in case of a retrans SYN|ACK".
            maxWin[di] = maxWin[di]! << (wscale[di]! & CT_WSCALE_MASK);
            wscale[di] = 0;
          }
        }
      }
      if (flags & TCP_FIN) end = (end + 1) >>> 0;
      seqlo[si] = seq;
      st[si] = TCPS_SYN_SENT;
      // May need to slide the window (seqhi set by an accepted packet of the other side).
      const w = Math.max(1, maxWin[di]! << dws);
      if (seqhi[si] === 1 || seqGeq((end + w) >>> 0, seqhi[si]!)) {
        seqhi[si] = (end + w) >>> 0;
        checkAckskew = false;
      }
      if (win > maxWin[si]!) maxWin[si] = win;
    } else {
      end = (seq + pLen) >>> 0;
      if (flags & TCP_SYN) end = (end + 1) >>> 0;
      if (flags & TCP_FIN) end = (end + 1) >>> 0;
    }

    // Step 4: ACK substitution.
    if ((flags & TCP_ACK) === 0) {
      ack = seqlo[di]!;
    } else if (ack === 0 && (flags & (TCP_ACK | TCP_RST)) === (TCP_ACK | TCP_RST)) {
      // Broken stacks do not set ack.
      ack = seqlo[di]!;
    }

    // Step 5: ease sequencing restrictions on empty segments.
    if (seq === end) {
      seq = seqlo[si]!;
      end = seq;
    }

    // Step 6-7.
    const ackskew = checkAckskew ? (seqlo[di]! - ack) | 0 : 0;
    const dwin = maxWin[di]! << dws;
    if (
      (seqGeq(seqhi[si]!, end) &&
        seqGeq(seq, (seqlo[si]! - dwin) >>> 0) &&
        ackskew >= -MAXACKWINDOW &&
        ackskew <= MAXACKWINDOW << sws &&
        ((flags & TCP_RST) === 0 ||
          origSeq === seqlo[si] ||
          origSeq === ((seqlo[si]! + 1) >>> 0) ||
          ((origSeq + 1) >>> 0) === seqlo[si])) ||
      !t.tcpSeqCheck
    ) {
      if (maxWin[si]! < win) maxWin[si] = win;
      if (seqGt(end, seqlo[si]!)) seqlo[si] = end;
      const ws = win << sws;
      if (seqGeq((ack + ws) >>> 0, seqhi[di]!)) seqhi[di] = (ack + Math.max(ws, 1)) >>> 0;

      if (flags & TCP_SYN && st[si]! < TCPS_SYN_SENT) st[si] = TCPS_SYN_SENT;
      if (flags & TCP_FIN && st[si]! < TCPS_CLOSING) st[si] = TCPS_CLOSING;
      if (flags & TCP_ACK) {
        if (st[di] === TCPS_SYN_SENT) st[di] = TCPS_ESTABLISHED;
        else if (st[di] === TCPS_CLOSING) st[di] = TCPS_FIN_WAIT_2;
      }
      if (flags & TCP_RST) {
        st[si] = TCPS_TIME_WAIT;
        st[di] = TCPS_TIME_WAIT;
      }

      // §4.10 timer choice.
      const ss = st[si]!;
      const ds = st[di]!;
      let tm: number;
      if (ss >= TCPS_FIN_WAIT_2 && ds >= TCPS_FIN_WAIT_2) tm = TM_TCP_CLOSE;
      else if (ss >= TCPS_CLOSING && ds >= TCPS_CLOSING) tm = TM_TCP_TIME_WAIT;
      else if (ss < TCPS_ESTABLISHED || ds < TCPS_ESTABLISHED) tm = TM_TCP_SYN_RECV;
      else if (ss >= TCPS_CLOSING || ds >= TCPS_CLOSING) tm = TM_TCP_FIN_WAIT;
      else tm = TM_TCP_ESTABLISHED;
      t.setTimer(c, tm, now);
      return CT_UPDATE_VALID;
    }

    // Step 8: loose test (peer not answered yet, pickup, stray packets after close).
    if (
      (st[di]! < TCPS_SYN_SENT || st[di]! >= TCPS_FIN_WAIT_2 || st[si]! >= TCPS_FIN_WAIT_2) &&
      seqGeq((seqhi[si]! + MAXACKWINDOW) >>> 0, end) &&
      seqGeq(seq, (seqlo[si]! - MAXACKWINDOW) >>> 0)
    ) {
      if (maxWin[si]! < win) maxWin[si] = win;
      if (seqGt(end, seqlo[si]!)) seqlo[si] = end;
      const ws = win << sws;
      if (seqGeq((ack + ws) >>> 0, seqhi[di]!)) seqhi[di] = (ack + Math.max(ws, 1)) >>> 0;
      if (flags & TCP_FIN && st[si]! < TCPS_CLOSING) st[si] = TCPS_CLOSING;
      if (flags & TCP_RST) {
        st[si] = TCPS_TIME_WAIT;
        st[di] = TCPS_TIME_WAIT;
      }
      return CT_UPDATE_VALID;
    }
    return CT_UPDATE_INVALID;
  },

  /** dump-conntrack's single state: max of the peers, coalesced (lib/ct-dpif.c). */
  protoState(t: ConnTable, c: number): string {
    let s = Math.max(t.tstate[2 * c]!, t.tstate[2 * c + 1]!);
    if (s === TCPS_FIN_WAIT_2) s = TCPS_TIME_WAIT;
    else if (s === TCPS_SYN_RECV) s = TCPS_ESTABLISHED;
    return TCP_STATE_NAMES[s] ?? 'CLOSED';
  },

  tcpInfo(t: ConnTable, c: number): TcpInfo {
    const fl = (w: number): string[] => {
      const out: string[] = [];
      if (w & CT_WSCALE_FLAG) out.push('WINDOW_SCALE');
      if (w & CT_WSCALE_UNKNOWN) out.push('BE_LIBERAL');
      return out;
    };
    const o = 2 * c;
    return {
      stateOrig: TCP_STATE_NAMES[t.tstate[o]!] ?? 'CLOSED',
      stateReply: TCP_STATE_NAMES[t.tstate[o + 1]!] ?? 'CLOSED',
      wscaleOrig: t.wscale[o]! & CT_WSCALE_MASK,
      wscaleReply: t.wscale[o + 1]! & CT_WSCALE_MASK,
      flagsOrig: fl(t.wscale[o]!),
      flagsReply: fl(t.wscale[o + 1]!),
      seqloOrig: t.seqlo[o]!,
      seqhiOrig: t.seqhi[o]!,
      maxWinOrig: t.maxWin[o]!,
      seqloReply: t.seqlo[o + 1]!,
      seqhiReply: t.seqhi[o + 1]!,
      maxWinReply: t.maxWin[o + 1]!,
    };
  },
};
