/**
 * The generic tracker (openvswitch/ovs lib/conntrack-other.c `ct_proto_other`): UDP and every
 * IP protocol without a tracker of its own. States FIRST → MULTIPLE → BIDIR; every packet is
 * accepted and refreshes the timer (docs/conntrack-semantics.md §5.1).
 */
import type { PacketView } from '../packet/view.js';
import type { ConnTable } from './table.js';
import { CT_UPDATE_VALID, CT_UPDATE_VALID_NEW, type CtUpdate, type L4Tracker } from './types.js';
import { TM_UDP_FIRST, TM_UDP_MULTIPLE, TM_UDP_SINGLE } from './timeouts.js';

export const OTHERS_FIRST = 0;
export const OTHERS_MULTIPLE = 1;
export const OTHERS_BIDIR = 2;
const NAMES = ['FIRST', 'MULTIPLE', 'BIDIR'];

/** `other_timeouts[]`: note the crossed names (MULTIPLE uses udp_single, BIDIR udp_multiple). */
const OTHER_TIMEOUTS = [TM_UDP_FIRST, TM_UDP_SINGLE, TM_UDP_MULTIPLE];

export const otherTracker: L4Tracker = {
  validNew(_pkt: PacketView): boolean {
    return true;
  },
  newConn(t: ConnTable, c: number, _pkt: PacketView, now: number): void {
    t.pstate[c] = OTHERS_FIRST;
    t.setTimer(c, OTHER_TIMEOUTS[OTHERS_FIRST]!, now);
  },
  update(t: ConnTable, c: number, _pkt: PacketView, reply: boolean, now: number): CtUpdate {
    let s = t.pstate[c]!;
    if (reply && s !== OTHERS_BIDIR) s = OTHERS_BIDIR;
    else if (s === OTHERS_FIRST) s = OTHERS_MULTIPLE;
    t.pstate[c] = s;
    t.setTimer(c, OTHER_TIMEOUTS[s]!, now);
    return s === OTHERS_BIDIR ? CT_UPDATE_VALID : CT_UPDATE_VALID_NEW;
  },
  protoState(t: ConnTable, c: number): string {
    return NAMES[t.pstate[c]!] ?? 'FIRST';
  },
};
