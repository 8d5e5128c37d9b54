/**
 * ICMP / ICMPv6 query tracker (openvswitch/ovs lib/conntrack-icmp.c `ct_proto_icmp4/6`):
 * FIRST until the first reply, then REPLY; timers icmp_first / icmp_reply refreshed on every
 * packet (docs/conntrack-semantics.md §5.2). ICMP *errors* never reach a tracker: the core resolves
 * them to the quoted connection (§5.3).
 */
import type { PacketView } from '../packet/view.js';
import type { ConnTable } from './table.js';
import { CT_UPDATE_VALID, CT_UPDATE_VALID_NEW, type CtUpdate, type L4Tracker } from './types.js';
import { TM_ICMP_FIRST, TM_ICMP_REPLY } from './timeouts.js';

export const ICMPS_FIRST = 0;
export const ICMPS_REPLY = 1;
const ICMP_TIMEOUTS = [TM_ICMP_FIRST, TM_ICMP_REPLY];

function makeIcmpTracker(validTypes: readonly number[]): L4Tracker {
  return {
    /**
     * `icmp4_valid_new` (echo 8, timestamp 13, info 15) / `icmp6_valid_new` (echo 128). OVS
     * picks the tracker by IP protocol number alone and reads the first L4 byte as the type, so
     * the byte is read here too (an IPv6 packet with protocol 1 reaches the ICMPv4 tracker).
     */
    validNew(pkt: PacketView): boolean {
      if (pkt.l4Len < 1) return false;
      return validTypes.includes(pkt.buf[pkt.l4Off]!);
    },
    newConn(t: ConnTable, c: number, _pkt: PacketView, now: number): void {
      t.pstate[c] = ICMPS_FIRST;
      t.setTimer(c, ICMP_TIMEOUTS[ICMPS_FIRST]!, now);
    },
    /** `icmp_conn_update`. */
    update(t: ConnTable, c: number, _pkt: PacketView, reply: boolean, now: number): CtUpdate {
      let ret: CtUpdate = CT_UPDATE_VALID;
      const s = t.pstate[c]!;
      if (reply && s === ICMPS_FIRST) t.pstate[c] = ICMPS_REPLY;
      else if (s === ICMPS_FIRST) ret = CT_UPDATE_VALID_NEW;
      t.setTimer(c, ICMP_TIMEOUTS[t.pstate[c]!]!, now);
      return ret;
    },
    protoState(t: ConnTable, c: number): string {
      return t.pstate[c] === ICMPS_REPLY ? 'REPLY' : 'FIRST';
    },
  };
}

/** `ct_proto_icmp4` */
export const icmp4Tracker: L4Tracker = makeIcmpTracker([8, 13, 15]);
/** `ct_proto_icmp6` */
export const icmp6Tracker: L4Tracker = makeIcmpTracker([128]);
