/**
 * Timeout policy attributes and their OVS 3.1 userspace defaults
 * (openvswitch/ovs lib/conntrack-tp.c `ct_dpif_netdev_tp_def`; docs/conntrack-semantics.md §6.1).
 * Trackers name the attribute (not the internal CT_TM_* class) because the mapping is 1:1 in
 * `tm_to_ct_dpif_tp`, crossed names included: the UDP MULTIPLE state uses `udp_single` and
 * BIDIR uses `udp_multiple`.
 */
import { CtoffloadError } from '../errors.js';
import type { TimeoutAttr } from './types.js';

export const TM_TCP_SYN_SENT = 0; // CT_TM_TCP_FIRST_PACKET
export const TM_TCP_SYN_RECV = 1; // CT_TM_TCP_OPENING
export const TM_TCP_ESTABLISHED = 2; // CT_TM_TCP_ESTABLISHED
export const TM_TCP_FIN_WAIT = 3; // CT_TM_TCP_CLOSING
export const TM_TCP_TIME_WAIT = 4; // CT_TM_TCP_FIN_WAIT
export const TM_TCP_CLOSE = 5; // CT_TM_TCP_CLOSED
export const TM_UDP_FIRST = 6; // CT_TM_OTHER_FIRST
export const TM_UDP_SINGLE = 7; // CT_TM_OTHER_MULTIPLE
export const TM_UDP_MULTIPLE = 8; // CT_TM_OTHER_BIDIR
export const TM_ICMP_FIRST = 9; // CT_TM_ICMP_FIRST
export const TM_ICMP_REPLY = 10; // CT_TM_ICMP_REPLY
export const N_TIMEOUT_ATTRS = 11;

export const TIMEOUT_ATTRS: readonly TimeoutAttr[] = [
  'tcp_syn_sent',
  'tcp_syn_recv',
  'tcp_established',
  'tcp_fin_wait',
  'tcp_time_wait',
  'tcp_close',
  'udp_first',
  'udp_single',
  'udp_multiple',
  'icmp_first',
  'icmp_reply',
];

/** Defaults in seconds, indexed by TM_*. */
export const DEFAULT_TIMEOUTS_S: readonly number[] = [30, 30, 86400, 900, 45, 30, 60, 60, 30, 60, 30];

/** Default timeouts in ms (the unit of every expiry computation). */
export const DEFAULT_TIMEOUTS_MS = Float64Array.from(DEFAULT_TIMEOUTS_S, (s) => s * 1000);

export class TimeoutPolicyError extends CtoffloadError {
  constructor(
    message: string,
    readonly policy: string,
    readonly attr?: string,
  ) {
    super('CTO_CT_TIMEOUT_POLICY', message);
  }
}

/**
 * Policies by id. A policy is a full table of 11 values: attributes it does not name take the
 * defaults (`init_default_tp` then `update_existing_tp`). Redefining a name replaces the whole
 * policy under the same id (`timeout_policy_update` deletes and re-creates), so entries that
 * carry the id see the new values at their next refresh; a deleted policy leaves its id to the
 * defaults (`conn_update_expiration` falls back when the lookup fails).
 */
export class TimeoutPolicies {
  private readonly tables: (Float64Array | null)[] = [];
  private readonly names: string[] = [];
  private readonly byName = new Map<string, number>();

  define(name: string, attrs: Partial<Record<TimeoutAttr, number>>): number {
    const t = Float64Array.from(DEFAULT_TIMEOUTS_MS);
    for (const [k, v] of Object.entries(attrs)) {
      const i = TIMEOUT_ATTRS.indexOf(k as TimeoutAttr);
      if (i < 0) throw new TimeoutPolicyError(`timeout policy ${name}: unknown attribute "${k}"`, name, k);
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
        throw new TimeoutPolicyError(`timeout policy ${name}: ${k} must be an integer number of seconds`, name, k);
      }
      t[i] = v * 1000;
    }
    let id = this.byName.get(name);
    if (id === undefined) {
      id = this.tables.length;
      this.tables.push(t);
      this.names.push(name);
      this.byName.set(name, id);
    } else {
      this.tables[id] = t;
    }
    return id;
  }

  delete(name: string): boolean {
    const id = this.byName.get(name);
    if (id === undefined || this.tables[id] === null) return false;
    this.tables[id] = null;
    return true;
  }

  id(name: string): number {
    const id = this.byName.get(name);
    return id === undefined || this.tables[id] === null ? -1 : id;
  }

  name(id: number): string | null {
    return id >= 0 && id < this.names.length ? this.names[id]! : null;
  }

  /** Timeout in ms of attribute `tm` for policy `id` (-1 or deleted → default). */
  ms(id: number, tm: number): number {
    if (id >= 0) {
      const t = this.tables[id];
      if (t) return t[tm]!;
    }
    return DEFAULT_TIMEOUTS_MS[tm]!;
  }
}
