/**
 * Public shapes of the reference connection tracker: the per-call arguments of a `ct()` action
 * (CtArgs), the per-packet ct metadata (CtMeta, what OVS keeps in `struct pkt_metadata`), the
 * dump record (ConnInfo) and the tracker interface every protocol implements (L4Tracker,
 * openvswitch/ovs lib/conntrack-private.h `struct ct_l4_proto`).
 */
import type { PacketView } from '../packet/view.js';
import type { NatInfo } from './nat.js';
import type { ConnTable } from './table.js';

/** `alg=` of a ct() call; recorded on the entry it creates (docs/conntrack-semantics.md §8.1). */
export const ALG_NONE = 0;
export const ALG_FTP = 1;
export const ALG_TFTP = 2;
export const ALG_NAMES = [null, 'ftp', 'tftp'] as const;

/**
 * Arguments of one ct() action. Reusable: the pipeline keeps one per ct() action and only
 * flips fields, so a call allocates nothing.
 */
export class CtArgs {
  zone = 0;
  commit = false;
  force = false;
  alg = ALG_NONE;
  /**
   * Timeout policy id from `Conntrack.timeoutPolicyId(name)`; -1 = the zone's binding
   * (`ovs-vsctl add-zone-tp`), else the defaults. `ct(…,timeout=NAME)` is the project's own
   * extension (OVS 3.1 `parse_CT` has no such keyword): it attaches NAME to the connections this
   * call creates, exactly what the zone binding does in OVS (docs/conntrack-semantics.md §1.1).
   */
  timeoutPolicy = -1;
  /** exec(set_field:markValue/markMask->ct_mark) */
  setMark = false;
  markValue = 0;
  markMask = 0;
  /** exec(set_field:V/M->ct_label); word 0 = most significant 32 bits. */
  setLabel = false;
  readonly labelValue = new Uint32Array(4);
  readonly labelMask = new Uint32Array(4);
  /** `nat…` of the call (`nat_action_info`), null without one (docs/conntrack-semantics.md §11). */
  nat: NatInfo | null = null;
}

/** Per-packet ct metadata, reused across packets; `clear()` is ct_clear / an untracked packet. */
export class CtMeta {
  /** ct_state bits (model/ctstate.ts); 0 = untracked. */
  state = 0;
  zone = 0;
  mark = 0;
  /** ct_label, word 0 = most significant 32 bits. */
  readonly label = new Uint32Array(4);
  /** Original-direction tuple (ct_nw_src … ct_tp_dst, §1.6); 0 when none. See `tupleVisible`. */
  origL3 = 0;
  origProto = 0;
  readonly origSrc = new Uint32Array(4);
  readonly origDst = new Uint32Array(4);
  origSport = 0;
  origDport = 0;
  /**
   * Connection found or created by the last ct() on this packet (OVS `md.conn`), -1 = none.
   * Used for the same-zone shortcut (`process_one_fast`, §2.3 step 2).
   */
  conn = -1;
  /** Identity of `conn` (ConnInfo.id) so a slot freed and reused since is never taken for it. */
  connId = 0;
  /** `md.reply` / `md.icmp_related` of the cached lookup (the same-zone shortcut's NAT uses them). */
  reply = false;
  related = false;

  clear(): void {
    this.state = 0;
    this.writeNone(0);
    this.conn = -1;
    this.connId = 0;
  }

  /**
   * ct_zone = `zone`, every other ct field but ct_state zero (mark, label, original tuple): the
   * fields `write_ct_md(pkt, zone, NULL, NULL, NULL)` (lib/conntrack.c) leaves for a packet
   * without a connection. ct_state and the cached connection are the caller's business.
   */
  writeNone(zone: number): void {
    // Element writes rather than fill(): this runs once per packet and fill() on a 4-element
    // typed array costs more than the writes themselves.
    this.zone = zone;
    this.mark = 0;
    const l = this.label;
    l[0] = l[1] = l[2] = l[3] = 0;
    this.origL3 = 0;
    this.origProto = 0;
    const s = this.origSrc;
    s[0] = s[1] = s[2] = s[3] = 0;
    const d = this.origDst;
    d[0] = d[1] = d[2] = d[3] = 0;
    this.origSport = 0;
    this.origDport = 0;
  }

  /** Copy every field of `src` (a recirculated or released copy of a packet carries its md). */
  copyFrom(src: CtMeta): void {
    // Element copies rather than set(), for the reason given in clear(): the pipeline copies
    // the metadata twice per recirculation.
    this.state = src.state;
    this.zone = src.zone;
    this.mark = src.mark;
    copy4(this.label, src.label);
    this.origL3 = src.origL3;
    this.origProto = src.origProto;
    copy4(this.origSrc, src.origSrc);
    copy4(this.origDst, src.origDst);
    this.origSport = src.origSport;
    this.origDport = src.origDport;
    this.conn = src.conn;
    this.connId = src.connId;
    this.reply = src.reply;
    this.related = src.related;
  }

  /** ct_label as a bigint (tests, verdicts; not the hot path). */
  labelBigInt(): bigint {
    return labelToBigInt(this.label, 0);
  }

  /**
   * Whether OVS exposes the original-direction tuple for this state: `is_ct_valid` (lib/flow.h)
   * needs new, est or rpl, and ct_nw_proto must be non-zero (§1.6).
   */
  tupleVisible(): boolean {
    return (this.state & 0x0b) !== 0 && this.origProto !== 0;
  }
}

function copy4(d: Uint32Array, s: Uint32Array): void {
  d[0] = s[0]!;
  d[1] = s[1]!;
  d[2] = s[2]!;
  d[3] = s[3]!;
}

/** ct_clear and `notrack`: the packet becomes untracked (lib/conntrack.c `conntrack_clear`). */
export function ctClear(md: CtMeta): void {
  md.clear();
}

export function labelToBigInt(words: Uint32Array, off: number): bigint {
  let v = 0n;
  for (let i = 0; i < 4; i++) v = (v << 32n) | BigInt(words[off + i]! >>> 0);
  return v;
}

export function bigIntToLabel(v: bigint, out: Uint32Array, off = 0): void {
  for (let i = 3; i >= 0; i--) {
    out[off + i] = Number(v & 0xffffffffn);
    v >>= 32n;
  }
}

export type TimeoutAttr =
  | 'tcp_syn_sent'
  | 'tcp_syn_recv'
  | 'tcp_established'
  | 'tcp_fin_wait'
  | 'tcp_time_wait'
  | 'tcp_close'
  | 'udp_first'
  | 'udp_single'
  | 'udp_multiple'
  | 'icmp_first'
  | 'icmp_reply';

export interface TupleInfo {
  src: string;
  dst: string;
  /** Ports; for ICMP the id on both sides (see `icmpType`/`icmpCode`). */
  sport: number;
  dport: number;
  icmpType?: number;
  icmpCode?: number;
}

export interface TcpInfo {
  stateOrig: string;
  stateReply: string;
  wscaleOrig: number;
  wscaleReply: number;
  /** dump-conntrack -m flags per peer: WINDOW_SCALE (0x80 seen) and BE_LIBERAL (0x40). */
  flagsOrig: string[];
  flagsReply: string[];
  seqloOrig: number;
  seqhiOrig: number;
  maxWinOrig: number;
  seqloReply: number;
  seqhiReply: number;
  maxWinReply: number;
}

/** One entry as `dpctl/dump-conntrack -m` would describe it. */
export interface ConnInfo {
  /** Unique per created connection (never reused), OVS's `id=` analogue. */
  id: number;
  /** Storage slot (reused after removal). */
  index: number;
  zone: number;
  l3: 4 | 6;
  proto: number;
  orig: TupleInfo;
  reply: TupleInfo;
  mark: number;
  label: bigint;
  /** Absolute expiry time in ms (entry is gone when now ≥ expiration). */
  expiration: number;
  /** `timeout=` of `dump-conntrack -s`: whole seconds left (floor), when `now` was given. */
  timeout?: number;
  timeoutPolicy: string | null;
  seenReply: boolean;
  /** NATed connection: `src` / `dst` (the reply tuple is the translated one), else absent. */
  nat?: 'src' | 'dst';
  protoState: string;
  tcp?: TcpInfo;
  helper: 'ftp' | 'tftp' | null;
  parentId: number | null;
  /** Original tuple of the parent control connection (ALG data connections). */
  parent?: TupleInfo;
  related: boolean;
}

/** `enum ct_update_res` (lib/conntrack-private.h), with NEW renamed to what it means. */
export const CT_UPDATE_INVALID = 0;
export const CT_UPDATE_VALID = 1;
/** TCP SYN on a closed entry: expire it and handle the packet as having no entry (§4.8). */
export const CT_UPDATE_RESTART = 2;
export const CT_UPDATE_VALID_NEW = 3;
export type CtUpdate = 0 | 1 | 2 | 3;

export type ConnIndex = number;

/**
 * The four-slot protocol interface (`struct ct_l4_proto`). Differs from OVS in one detail:
 * the core allocates the slot (it owns the struct-of-arrays storage) and `newConn` only
 * initialises the protocol columns and the timer.
 */
export interface L4Tracker {
  /** May this packet create a connection (`valid_new`)? */
  validNew(pkt: PacketView): boolean;
  /** Initialise a freshly allocated connection from its first packet (`new_conn`). */
  newConn(t: ConnTable, c: ConnIndex, pkt: PacketView, now: number): void;
  /** `conn_update`: a packet of an existing entry; `reply` = reply direction. */
  update(t: ConnTable, c: ConnIndex, pkt: PacketView, reply: boolean, now: number): CtUpdate;
  /** Text state for dumps (`conn_get_protoinfo` and friends). */
  protoState(t: ConnTable, c: ConnIndex): string;
  tcpInfo?(t: ConnTable, c: ConnIndex): TcpInfo;
}
