/**
 * The reference connection tracker: OVS 3.1 userspace `ct()` semantics
 * (openvswitch/ovs lib/conntrack.c at v3.1.0: `conntrack_execute`, `process_one`,
 * `process_one_fast`, `conn_update_state`, `conn_not_found`, `write_ct_md`, `set_mark`,
 * `set_label`, `conn_clean`, `ct_sweep`, `conntrack_flush`; rules in
 * docs/conntrack-semantics.md §1, §2, §6, §7, §8).
 *
 * One core, one `L4Tracker` per protocol in a 256-slot table indexed by IP protocol with the
 * generic tracker as default (UDP included), exactly like `l4_protos[]`. The core never
 * branches on the protocol for tracking; it only distinguishes ICMP *errors* during key
 * extraction, as `conn_key_extract` does.
 *
 * Time: every call takes `now` in ms. Expiry model (§6.2 "Model rule"): an entry is gone as
 * soon as now ≥ expiration. Lookups skip such entries (lazy, `conn_expired`); `sweep(now)`
 * physically removes them and releases their zone-limit and global counts and their ALG
 * expectations. To make limit counts behave as if the sweeper ran at the very instant of
 * expiry, a commit that finds a limit reached sweeps first (only when something may have
 * expired) and checks again; an expectation whose parent has expired never matches.
 * Force-expired entries (TCP restart, `force`) leave the table at once; a TCP restart's limit
 * counts stay held until the clock next advances, as OVS's sweeper releases them (`remove`).
 */
import { CS_DST_NAT, CS_ESTABLISHED, CS_INVALID, CS_NEW, CS_RELATED, CS_REPLY_DIR, CS_SRC_NAT, CS_TRACKED } from '../ctstate.js';
import { CtoffloadError } from '../errors.js';
import { formatIpv6 } from '../packet/addr.js';
import {
  CT_OK,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  PacketView,
  ipv4ToString,
} from '../packet/view.js';
import { Expectations, algCtlType, handleFtpCtl, handleTftpCtl, recordedHelper } from './alg.js';
import {
  KEY_WORDS,
  K_DPORT,
  K_DST,
  K_META,
  K_SPORT,
  K_SRC,
  META_V6,
  extractKey,
  keyEq,
  keyHash,
  metaProto,
  metaV6,
  metaZone,
  reverseIcmpType,
} from './key.js';
import { icmp4Tracker, icmp6Tracker } from './icmp.js';
import { Ipf } from './ipf.js';
import { otherTracker } from './other.js';
import { NAT_ACTION_DST, NAT_ACTION_SRC, NatAllocator, natActionReverse, natPacket, natTupleAllowed, reverseInto, type NatChooser, type NatInfo } from './nat.js';
import { F_ALG_RELATED, F_LIVE, F_NAT, F_SEEN_REPLY, ConnTable } from './table.js';
import { tcpTracker } from './tcp.js';
import { TimeoutPolicies } from './timeouts.js';
import {
  ALG_FTP,
  ALG_NAMES,
  ALG_NONE,
  ALG_TFTP,
  CT_UPDATE_INVALID,
  CT_UPDATE_RESTART,
  CT_UPDATE_VALID,
  CT_UPDATE_VALID_NEW,
  CtArgs,
  CtMeta,
  labelToBigInt,
  type ConnInfo,
  type L4Tracker,
  type TimeoutAttr,
  type TupleInfo,
} from './types.js';

/** `l4_protos[]`: generic tracker everywhere, then TCP, ICMP and ICMPv6. */
export const L4_TRACKERS: readonly L4Tracker[] = (() => {
  const t: L4Tracker[] = new Array<L4Tracker>(256).fill(otherTracker);
  t[IPPROTO_TCP] = tcpTracker;
  t[IPPROTO_ICMP] = icmp4Tracker;
  t[IPPROTO_ICMPV6] = icmp6Tracker;
  return t;
})();

/** `ct_dpif_timeout_policy_support_ipproto`: policies reach TCP, UDP, ICMP and ICMPv6 only. */
function policySupported(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6;
}

/** Default of `dpctl/ct-set-maxconns` (lib/conntrack.c `DEFAULT_N_CONN_LIMIT`). */
export const DEFAULT_MAX_CONNS = 3_000_000;

/** Zone id of the default limit (`DEFAULT_ZONE`). */
const DEFAULT_ZONE = -1;

interface ZoneLimit {
  zone: number;
  limit: number;
  count: number;
  seq: number;
}

export class ConntrackConfigError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_CT_CONFIG', message);
  }
}

export interface ConntrackOptions {
  /** `hash_basis`; fixed by default so runs replay. */
  hashSalt?: number;
  /** Global limit (`ct-set-maxconns`), default 3 000 000. */
  maxConns?: number;
  /** Initial slots of the connection table (it doubles as needed). */
  initialCapacity?: number;
  /** dpctl/ct-{en,dis}able-tcp-seq-chk; default enabled. */
  tcpSeqCheck?: boolean;
}

/** A NATed connection's node left behind by a force-expire (see `addGhost`). */
interface NatGhost {
  k: Uint32Array;
  rk: Uint32Array;
  rh: number;
  mark: number;
  label: Uint32Array;
}

export type ConntrackEvent = { kind: 'new' | 'destroy' | 'update'; conn: ConnInfo };

export class Conntrack {
  /** The storage; exported for trackers, tests and the benchmark's memory figure. */
  readonly table: ConnTable;
  readonly policies = new TimeoutPolicies();
  readonly expectations: Expectations;
  /**
   * The fragment reassembler (`ct->ipf`, lib/ipf.c): enabled for v4 and v6 as in OVS. It acts
   * only through `conntrackExecute` (./ipf.ts); `execute` alone treats fragments as invalid.
   * `flush` leaves held fragments alone, as `dpctl/flush-conntrack` does (§9.4).
   */
  readonly ipf = new Ipf();
  private readonly salt: number;
  private maxConns: number;
  private nextId = 1;
  private readonly zoneLimits = new Map<number, ZoneLimit>();
  /** Counts of TCP-restarted entries not yet released (see `remove`). */
  private readonly heldLimits: ZoneLimit[] = [];
  private heldGlobal = 0;
  private heldUntil = -Infinity;
  private zoneLimitSeq = 1;
  private readonly zonePolicy = new Map<number, number>();
  /** Parent original key of ALG data connections (by slot); rare, so a Map. */
  private readonly parentKeys = new Map<number, Uint32Array>();
  private readonly scratch = new Uint32Array(KEY_WORDS);
  /** Reply key of a NAT allocation and the reversed key of a NATed packet's lookup. */
  private readonly natScratch = new Uint32Array(KEY_WORDS);
  private readonly revScratch = new Uint32Array(KEY_WORDS);
  private readonly natAlloc: NatAllocator;
  /** NAT nodes of force-expired NATed connections, alive until the clock moves past `ghostUntil`. */
  private readonly natGhosts: NatGhost[] = [];
  private ghostUntil = -Infinity;
  private readonly lookupView = new PacketView();

  /**
   * Imposes the translation of a new NATed connection instead of allocating it (the OVS
   * oracle: OVS 3.1 salts its choice with a random `hash_basis`, docs/conntrack-semantics.md
   * §11.3). Returning undefined allocates as OVS would, null refuses the commit as exhaustion
   * does; a returned reply key that the action
   * could not have produced, or that is taken, is ignored and counted in `natRejectedChoices`.
   */
  natChooser?: NatChooser;
  natRejectedChoices = 0;

  /** Optional hook (tests, tools); nothing is built when it is unset. */
  onEvent?: (ev: ConntrackEvent) => void;
  /**
   * The same events as numbers, allocation-free: the offload controller's hook (its shadow
   * updates run once per hardware-forwarded packet and need only the id and the slot).
   */
  onSlotEvent?: (kind: 'new' | 'destroy' | 'update', id: number, slot: number) => void;

  constructor(opts: ConntrackOptions = {}) {
    this.salt = (opts.hashSalt ?? 0x2545f491) | 0;
    this.maxConns = opts.maxConns ?? DEFAULT_MAX_CONNS;
    this.table = new ConnTable(this.policies, opts.initialCapacity ?? 1024);
    this.table.tcpSeqCheck = opts.tcpSeqCheck ?? true;
    this.expectations = new Expectations(this.salt);
    this.natAlloc = new NatAllocator(this.salt);
  }

  get tcpSeqCheck(): boolean {
    return this.table.tcpSeqCheck;
  }
  set tcpSeqCheck(v: boolean) {
    this.table.tcpSeqCheck = v;
  }

  /** Live committed connections (expired ones count until a sweep removes them). */
  get size(): number {
    return this.table.count;
  }

  // ------------------------------------------------------------------ execute

  /**
   * One ct() action on one packet (`conntrack_execute` for a batch of one). `md` carries what
   * earlier ct() calls on this packet left (the same-zone shortcut) and receives the result.
   * Never throws on any packet.
   */
  execute(pkt: PacketView, a: CtArgs, now: number, md: CtMeta): void {
    const t = this.table;
    const zone = a.zone & 0xffff;

    // §2.3 step 2, `process_one_fast`: an earlier ct on this packet found/created an entry in
    // this zone, no force, not an ALG control packet → no tracking, reload mark/label, exec.
    const c0 = md.conn;
    if (
      c0 >= 0 &&
      md.connId !== 0 &&
      t.id[c0] === md.connId &&
      metaZone(t.key[c0 * KEY_WORDS + K_META]!) === zone &&
      !a.force &&
      algCtlType(pkt, a.alg) === ALG_NONE
    ) {
      if (a.nat) {
        md.state = this.handleNat(pkt, c0, zone, md.reply, md.related, md.state, md.zone);
        md.conn = -1;
        md.connId = 0;
      }
      md.zone = zone;
      md.mark = t.mark[c0]!;
      this.copyLabelOut(c0, md);
      this.applyExec(c0, a, md);
      return;
    }

    // §2.3 step 3: parse/validation failure → inv|trk, fields zero. md.conn is left alone, as
    // `conntrack_execute` does not call `set_cached_conn` on this path.
    // Fragments reach this point only when the caller bypasses ipf (`conntrackExecute` in
    // ./ipf.ts holds and reassembles them first, §3.4) or ipf let them through (family
    // disabled, limits): then they are inv|trk, as `conn_key_extract` refuses fragments.
    if (pkt.ctStatus !== CT_OK) {
      md.state = CS_INVALID | CS_TRACKED;
      md.writeNone(zone);
      return;
    }

    // `process_one`. Entering a different zone resets ct_state first.
    let state = md.state !== 0 && md.zone !== zone ? 0 : md.state;
    let k = this.scratch;
    const related = extractKey(pkt, zone, k);
    let h = keyHash(k, 0, this.salt);
    let c: number;
    let reply: boolean;
    if ((state & (CS_SRC_NAT | CS_DST_NAT)) === 0) {
      c = t.lookup(k, h, now);
      reply = c >= 0 && t.lastReply;
    } else {
      // `initial_conn_lookup` of a packet an earlier ct() in this zone translated: look up its
      // reverse, and take the connection's own tuple for this direction as the key (§11.2).
      const rk = this.revScratch;
      reverseInto(k, rk);
      c = t.lookup(rk, h, now);
      reply = c >= 0 && !t.lastReply;
      if (c >= 0) {
        k = rk;
        if (reply) this.replyKeyInto(c, k);
        else k.set(t.key.subarray(c * KEY_WORDS, c * KEY_WORDS + KEY_WORDS));
        h = keyHash(k, 0, this.salt);
      }
    }

    // A NAT node left behind by a force-expired NATed connection (§11.5): OVS finds the node,
    // misses its expired parent ("Missing parent conn") and answers inv with no connection.
    if (c < 0 && this.natGhosts.length !== 0 && this.ghostAt(k, h, now)) {
      md.state = state | CS_INVALID | CS_TRACKED;
      md.writeNone(zone);
      return;
    }

    // §2.4: force + reply-direction match → the old entry goes, the packet starts anew.
    let ghostOf: NatGhost | null = null;
    if (a.force && reply && c >= 0) {
      if (t.flags[c]! & F_NAT) this.addGhost(c, now);
      this.remove(c);
      c = -1;
    }

    const ctl = algCtlType(pkt, a.alg);
    let create = false;
    if (c >= 0) {
      // `conn_update_state`
      if (related) {
        state |= CS_RELATED;
        if (reply) state |= CS_REPLY_DIR;
      } else {
        if (t.flags[c]! & F_ALG_RELATED) state |= CS_RELATED;
        const res = L4_TRACKERS[t.proto(c)]!.update(t, c, pkt, reply, now);
        if (res === CT_UPDATE_VALID) {
          state = (state | CS_ESTABLISHED) & ~CS_NEW;
          if (reply) state |= CS_REPLY_DIR;
        } else if (res === CT_UPDATE_INVALID) {
          state = CS_INVALID;
        } else if (res === CT_UPDATE_RESTART) {
          // §4.8: the old entry is expired now, whether or not this call commits.
          if (t.flags[c]! & F_NAT) ghostOf = this.addGhost(c, now);
          this.remove(c, now);
          c = -1;
          create = true;
        } else if (res === CT_UPDATE_VALID_NEW) {
          state |= CS_NEW;
        }
        if (c >= 0 && res !== CT_UPDATE_INVALID) {
          if (reply) t.flags[c] = t.flags[c]! | F_SEEN_REPLY;
          if (this.onEvent || this.onSlotEvent) this.emit('update', c, now);
        }
      }
      // `handle_nat` for an existing connection (also for a packet found invalid, as OVS).
      if (a.nat && !create && c >= 0) state = this.handleNat(pkt, c, zone, reply, related, state, md.zone);
    } else if (related) {
      // An ICMP error must refer to an entry; it never creates one (§5.3 step 5).
      state = CS_INVALID;
    } else {
      create = true;
    }

    let expIdx: ReturnType<Expectations['lookup']> = null;
    // `conn_lookup(ctx->key)` before `conn_not_found` also meets NAT nodes left behind by a
    // force-expired NATed connection: then nothing is created and the packet keeps the state
    // it has, with the dead connection's fields after a restart (§11.5).
    if (create && this.natGhosts.length !== 0 && this.ghostAt(k, h, now)) {
      md.state = state | CS_TRACKED;
      md.zone = zone;
      if (ghostOf) {
        md.label.set(ghostOf.label);
        md.mark = ghostOf.mark;
        if (a.setMark) {
          const m = a.markMask >>> 0;
          md.mark = ((a.markValue & m) | (md.mark & ~m)) >>> 0;
        }
        if (a.setLabel) for (let i = 0; i < 4; i++) md.label[i] = ((a.labelValue[i]! & a.labelMask[i]!) | (md.label[i]! & ~a.labelMask[i]!)) >>> 0;
        this.writeTuple(md, ghostOf.k, 0);
      } else {
        md.mark = 0;
        md.label.fill(0);
        this.writeTuple(md, k, 0);
      }
      md.conn = -1;
      md.connId = 0;
      return;
    }
    if (create) {
      expIdx = this.expectations.lookup(t, k, now);
      // `conn_not_found`
      const tr = L4_TRACKERS[metaProto(k[K_META]!)]!;
      if (!tr.validNew(pkt)) {
        state = CS_INVALID;
      } else {
        state = expIdx ? CS_NEW | CS_RELATED : CS_NEW;
        if (a.commit) {
          c = this.commitNew(tr, pkt, k, h, a, ctl, expIdx, now);
          // `nat_packet` right after the translation is chosen (conn_not_found).
          if (c >= 0 && a.nat && t.flags[c]! & F_NAT) state |= natPacket(pkt, t.natReply.get(c)!, 0, t.natAction[c]!, false);
        }
      }
    }

    // `write_ct_md`
    md.state = state | CS_TRACKED;
    md.zone = zone;
    if (c >= 0) {
      md.mark = t.mark[c]!;
      this.copyLabelOut(c, md);
      const pk = t.flags[c]! & F_ALG_RELATED ? this.parentKeys.get(c) : undefined;
      if (pk) this.writeTuple(md, pk, 0);
      else this.writeTuple(md, t.key, c * KEY_WORDS);
      this.applyExec(c, a, md);
      // `handle_alg_ctl`: control packets of an entry with a helper, committed or not.
      if (ctl !== ALG_NONE && t.helper[c] !== ALG_NONE) {
        const replyDir = (md.state & CS_REPLY_DIR) !== 0;
        if (ctl === ALG_FTP) {
          if (handleFtpCtl(t, this.expectations, c, pkt, replyDir, now)) md.state |= CS_TRACKED | CS_INVALID;
        } else if (ctl === ALG_TFTP) {
          handleTftpCtl(t, this.expectations, c, replyDir, now);
        }
      }
    } else if (expIdx) {
      md.mark = expIdx.mark;
      md.label.set(expIdx.label);
      this.writeTuple(md, expIdx.parentKey, 0);
    } else {
      md.mark = 0;
      const l = md.label;
      l[0] = l[1] = l[2] = l[3] = 0;
      this.writeTuple(md, k, 0);
    }
    // `set_cached_conn`: a ct() with nat leaves no cached connection.
    if (a.nat) {
      md.conn = -1;
      md.connId = 0;
    } else {
      md.conn = c;
      md.connId = c >= 0 ? t.id[c]! : 0;
      md.reply = reply;
      md.related = related;
    }
  }

  /**
   * `handle_nat`: translate a packet of NATed connection `c` unless an earlier ct() in this
   * zone already did (its ct_state carries snat/dnat); returns the new ct_state.
   */
  private handleNat(pkt: PacketView, c: number, zone: number, reply: boolean, related: boolean, state: number, mdZone: number): number {
    const t = this.table;
    const action = t.natAction[c]!;
    if (action === 0 || ((state & (CS_SRC_NAT | CS_DST_NAT)) !== 0 && zone === mdZone)) return state;
    state &= ~(CS_SRC_NAT | CS_DST_NAT);
    // nat_packet: replies take the original key and the reversed action.
    if (reply) return state | natPacket(pkt, t.key, c * KEY_WORDS, natActionReverse(action), related);
    return state | natPacket(pkt, t.natReply.get(c)!, 0, action, related);
  }

  /**
   * OVS force-expires a connection on a TCP restart or `force` (`conn_force_expire`) but its
   * NAT node (`nat_conn`, which never expires by itself) stays in the table until the sweeper
   * cleans the connection, i.e. until the clock next moves (§4.8, §11.5). Kept here as ghosts:
   * both keys, hashed by the reply key as the node is, with the dead connection's fields.
   */
  private addGhost(c: number, now: number): NatGhost {
    const t = this.table;
    const rk = t.natReply.get(c)!;
    const g: NatGhost = {
      k: t.key.slice(c * KEY_WORDS, c * KEY_WORDS + KEY_WORDS),
      rk: rk.slice(),
      rh: keyHash(rk, 0, this.salt),
      mark: t.mark[c]!,
      label: t.label.slice(c * 4, c * 4 + 4),
    };
    if (now > this.ghostUntil) this.natGhosts.length = 0;
    this.natGhosts.push(g);
    this.ghostUntil = now;
    return g;
  }

  /** The ghost a lookup of `k` (hash `h`) meets: same hash as the node, either key. */
  private ghostAt(k: Uint32Array, h: number, now: number): NatGhost | null {
    if (now > this.ghostUntil) {
      this.natGhosts.length = 0;
      return null;
    }
    for (const g of this.natGhosts) if (g.rh === h && (keyEq(g.rk, 0, k, 0) || keyEq(g.k, 0, k, 0))) return g;
    return null;
  }

  /** The reply key of connection `c` into `out`: the NAT reply key or the reversed original. */
  private replyKeyInto(c: number, out: Uint32Array): void {
    const t = this.table;
    if (t.flags[c]! & F_NAT) out.set(t.natReply.get(c)!);
    else reverseInto(t.key.subarray(c * KEY_WORDS, c * KEY_WORDS + KEY_WORDS), out);
  }

  /**
   * The reply key of a new NATed connection (`nat_get_unique_tuple`, or the chooser's), into
   * `natScratch`; false on tuple space exhaustion.
   */
  private natTuple(k: Uint32Array, ni: NatInfo, now: number): boolean {
    const t = this.table;
    const rk = this.natScratch;
    const taken = (x: Uint32Array): boolean => {
      const xh = keyHash(x, 0, this.salt);
      return t.lookup(x, xh, now) >= 0 || (this.natGhosts.length !== 0 && this.ghostAt(x, xh, now) !== null);
    };
    const imposed = this.natChooser?.(k, ni);
    if (imposed === null) return false;
    if (imposed) {
      if (natTupleAllowed(k, ni, imposed) && !taken(imposed)) {
        rk.set(imposed.subarray(0, KEY_WORDS));
        return true;
      }
      this.natRejectedChoices++;
    }
    return this.natAlloc.uniqueTuple(k, ni, taken, rk);
  }

  /** Creation part of `conn_not_found` once the packet may start a connection and commits. */
  private commitNew(
    tr: L4Tracker,
    pkt: PacketView,
    k: Uint32Array,
    h: number,
    a: CtArgs,
    ctl: number,
    exp: ReturnType<Expectations['lookup']>,
    now: number,
  ): number {
    const t = this.table;
    const zone = metaZone(k[K_META]!);
    // §7: zone limit (own, else the one shared default counter), then the global limit.
    if (this.heldGlobal !== 0) this.releaseHeld(now);
    let zl = this.zoneLimits.get(zone) ?? this.zoneLimits.get(DEFAULT_ZONE);
    if (zl && zl.count >= zl.limit) {
      if (!(now >= t.minExpiration && this.sweep(now) > 0 && zl.count < zl.limit)) return -1;
    }
    if (t.count + this.heldGlobal >= this.maxConns) {
      if (!(now >= t.minExpiration && this.sweep(now) > 0 && t.count + this.heldGlobal < this.maxConns)) return -1;
      zl = this.zoneLimits.get(zone) ?? this.zoneLimits.get(DEFAULT_ZONE);
      if (zl && zl.count >= zl.limit) return -1;
    }
    // NAT: the translation is chosen before the entry exists; exhaustion refuses the commit
    // with nothing counted (conn_not_found `nat_res_exhaustion`, §11.3). ALG data connections
    // through NAT are not modelled (the parser refuses alg= with nat, §11.6).
    const ni = a.nat;
    if (ni && !this.natTuple(k, ni, now)) return -1;
    const c = t.alloc(k, h, this.nextId);
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    if (ni) t.setNatReply(c, this.natScratch, keyHash(this.natScratch, 0, this.salt), ni.action);
    const proto = metaProto(k[K_META]!);
    if (policySupported(proto)) {
      t.tp[c] = a.timeoutPolicy >= 0 ? a.timeoutPolicy : (this.zonePolicy.get(zone) ?? -1);
    }
    tr.newConn(t, c, pkt, now);
    t.helper[c] = recordedHelper(a.alg, ctl);
    if (exp) {
      t.flags[c] = t.flags[c]! | F_ALG_RELATED;
      t.mark[c] = exp.mark;
      t.label.set(exp.label, c * 4);
      t.parentId[c] = exp.parentId;
      this.parentKeys.set(c, exp.parentKey);
    }
    if (zl) {
      t.admitZone[c] = zl.zone;
      t.limitSeq[c] = zl.seq;
      zl.count++;
    }
    if (this.onEvent || this.onSlotEvent) this.emit('new', c, now);
    return c;
  }

  /** exec(set_field:…->ct_mark / ct_label) after lookup/creation (`set_mark`, `set_label`). */
  private applyExec(c: number, a: CtArgs, md: CtMeta): void {
    if (!a.setMark && !a.setLabel) return;
    const t = this.table;
    if (t.flags[c]! & F_ALG_RELATED) {
      // ALG data connections keep the parent's values; exec writes are ignored (§1.7).
      if (a.setMark) md.mark = t.mark[c]!;
      if (a.setLabel) this.copyLabelOut(c, md);
      return;
    }
    if (a.setMark) {
      const m = a.markMask >>> 0;
      md.mark = ((a.markValue & m) | (md.mark & ~m)) >>> 0;
      t.mark[c] = md.mark;
    }
    if (a.setLabel) {
      for (let i = 0; i < 4; i++) {
        const m = a.labelMask[i]!;
        const v = ((a.labelValue[i]! & m) | (md.label[i]! & ~m)) >>> 0;
        md.label[i] = v;
        t.label[c * 4 + i] = v;
      }
    }
    if (this.onEvent || this.onSlotEvent) this.emit('update', c, undefined);
  }

  private copyLabelOut(c: number, md: CtMeta): void {
    const l = this.table.label;
    const o = c * 4;
    md.label[0] = l[o]!;
    md.label[1] = l[o + 1]!;
    md.label[2] = l[o + 2]!;
    md.label[3] = l[o + 3]!;
  }

  /**
   * The `md.ct_state == CS_INVALID` branch of `conntrack_execute`: a packet ipf marked invalid
   * (bad or too small fragment, overlap) gets inv|trk with no entry (`write_ct_md(pkt, zone,
   * NULL, NULL, NULL)`), before any same-zone shortcut.
   */
  writeInvalid(md: CtMeta, zone: number): void {
    md.state = CS_INVALID | CS_TRACKED;
    md.writeNone(zone & 0xffff);
  }

  /** Original-direction tuple from a key (§1.6); ICMP: type and code of the originator. */
  private writeTuple(md: CtMeta, key: Uint32Array, o: number): void {
    const meta = key[o + K_META]!;
    const v6 = (meta & META_V6) !== 0;
    const proto = (meta >>> 16) & 0xff;
    md.origL3 = v6 ? 6 : 4;
    md.origProto = proto;
    const s = md.origSrc;
    const d = md.origDst;
    s[0] = key[o + 1]!;
    s[1] = key[o + 2]!;
    s[2] = key[o + 3]!;
    s[3] = key[o + 4]!;
    d[0] = key[o + 6]!;
    d[1] = key[o + 7]!;
    d[2] = key[o + 8]!;
    d[3] = key[o + 9]!;
    const sw = key[o + K_SPORT]!;
    if ((proto === IPPROTO_ICMP && !v6) || (proto === IPPROTO_ICMPV6 && v6)) {
      md.origSport = sw >>> 24;
      md.origDport = (sw >>> 16) & 0xff;
    } else {
      md.origSport = sw & 0xffff;
      md.origDport = key[o + K_DPORT]! & 0xffff;
    }
  }

  // ------------------------------------------------------------------ removal

  /**
   * `conn_clean`: unlink, release counts and expectations. With `heldUntilAfter` (a TCP restart,
   * §4.8) the entry leaves the table at once but its zone-limit and global counts stay held
   * until the clock moves past that instant: OVS 3.1 force-expires the old entry
   * (`conn_force_expire`) and only the sweeper (`conn_clean`) releases its counts, and the
   * sweeper runs on the next clock advance (observed on the oracle: after a reopening SYN,
   * `ct-get-nconns` read 3 while `dump-conntrack` listed 2, and a commit at the same instant
   * was refused by the zone limit). `force` (§2.4) releases at once, as observed.
   */
  private remove(c: number, heldUntilAfter?: number): void {
    const t = this.table;
    if (this.onEvent || this.onSlotEvent) this.emit('destroy', c, undefined);
    if (t.helper[c] !== ALG_NONE) this.expectations.removeByParent(t.id[c]!);
    const az = t.admitZone[c]!;
    if (az !== -2) {
      const zl = this.zoneLimits.get(az);
      if (zl && zl.seq === t.limitSeq[c]) {
        if (heldUntilAfter === undefined) zl.count--;
        else this.heldLimits.push(zl);
      }
    }
    if (heldUntilAfter !== undefined) {
      this.heldGlobal++;
      this.heldUntil = heldUntilAfter;
    }
    if (t.flags[c]! & F_ALG_RELATED) this.parentKeys.delete(c);
    t.free(c);
  }

  /** Release counts held by restarted entries once the clock has moved on (the sweep ran). */
  private releaseHeld(now: number): void {
    if (this.heldGlobal === 0 || now <= this.heldUntil) return;
    for (const zl of this.heldLimits) if (this.zoneLimits.get(zl.zone) === zl) zl.count--;
    this.heldLimits.length = 0;
    this.heldGlobal = 0;
  }

  /**
   * Remove every entry with now ≥ expiration and return how many (`ct_sweep`). The model's
   * sweeper runs at the expiry instant (§6.2): call it whenever the harness advances time.
   */
  sweep(now: number): number {
    const t = this.table;
    if (this.heldGlobal !== 0) this.releaseHeld(now);
    if (now < t.minExpiration) return 0;
    let n = 0;
    let min = Infinity;
    const exp = t.expiration;
    for (let c = 0; c < t.cap; c++) {
      if (!(t.flags[c]! & F_LIVE)) continue;
      const e = exp[c]!;
      if (now >= e) {
        this.remove(c);
        n++;
      } else if (e < min) min = e;
    }
    t.minExpiration = min;
    return n;
  }

  /** `dpctl/flush-conntrack [zone=N]`: entries and their expectations; limits stay. */
  flush(zone?: number): void {
    const t = this.table;
    // Flushing cleans force-expired entries too (`conntrack_flush` → `conn_clean`).
    if (this.heldGlobal !== 0) {
      this.heldUntil = -Infinity;
      this.releaseHeld(0);
    }
    for (let c = 0; c < t.cap; c++) {
      if (!(t.flags[c]! & F_LIVE)) continue;
      if (zone === undefined || metaZone(t.key[c * KEY_WORDS + K_META]!) === zone) this.remove(c);
    }
    if (zone === undefined) this.expectations.clear();
    this.natGhosts.length = 0;
  }

  // ------------------------------------------------------------------ limits

  /** `dpctl/ct-set-limits zone=N,limit=L`: creates (count 0) or changes (count kept). */
  setZoneLimit(zone: number, limit: number): void {
    if (!Number.isInteger(zone) || zone < 0 || zone > 0xffff) throw new ConntrackConfigError(`zone ${zone} out of range 0-65535`);
    this.setLimit(zone, limit);
  }

  /** `dpctl/ct-set-limits default=L`: one counter shared by every zone without its own (§7). */
  setDefaultLimit(limit: number): void {
    this.setLimit(DEFAULT_ZONE, limit);
  }

  private setLimit(zone: number, limit: number): void {
    if (!Number.isInteger(limit) || limit < 0 || limit > 0xffffffff) throw new ConntrackConfigError(`limit ${limit} out of range`);
    const zl = this.zoneLimits.get(zone);
    if (zl) zl.limit = limit;
    else this.zoneLimits.set(zone, { zone, limit, count: 0, seq: this.zoneLimitSeq++ });
  }

  /** `dpctl/ct-del-limits zone=N`: the zone falls back to the default; the default cannot go. */
  deleteZoneLimit(zone: number): void {
    if (zone >= 0 && zone <= 0xffff) this.zoneLimits.delete(zone);
  }

  /**
   * `zone_limit_get`: the zone's own limit, else the default's (with the shared count), else
   * undefined (dpctl prints `default limit=0`). With `now`, expired entries are swept first.
   */
  getZoneLimit(zone: number, now?: number): { limit: number; count: number } | undefined {
    if (now !== undefined) this.sweep(now);
    const zl = this.zoneLimits.get(zone) ?? this.zoneLimits.get(DEFAULT_ZONE);
    return zl ? { limit: zl.limit, count: zl.count } : undefined;
  }

  getDefaultLimit(): { limit: number; count: number } | undefined {
    const zl = this.zoneLimits.get(DEFAULT_ZONE);
    return zl ? { limit: zl.limit, count: zl.count } : undefined;
  }

  /** `dpctl/ct-set-maxconns`. */
  setMaxConns(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new ConntrackConfigError(`maxconns ${n} out of range`);
    this.maxConns = n;
  }

  getMaxConns(): number {
    return this.maxConns;
  }

  // ------------------------------------------------------------------ timeout policies

  defineTimeoutPolicy(name: string, attrs: Partial<Record<TimeoutAttr, number>>): number {
    return this.policies.define(name, attrs);
  }

  deleteTimeoutPolicy(name: string): boolean {
    return this.policies.delete(name);
  }

  timeoutPolicyId(name: string): number {
    return this.policies.id(name);
  }

  /** `ovs-vsctl add-zone-tp` / `del-zone-tp` (name null). */
  bindZoneTimeoutPolicy(zone: number, name: string | null): void {
    if (name === null) {
      this.zonePolicy.delete(zone);
      return;
    }
    const id = this.policies.id(name);
    if (id < 0) throw new ConntrackConfigError(`unknown timeout policy "${name}"`);
    this.zonePolicy.set(zone, id);
  }

  // ------------------------------------------------------------------ inspection

  /** Dump like `dpctl/dump-conntrack -m`; with `now`, expired entries are left out. */
  *connections(now?: number): Iterable<ConnInfo> {
    const t = this.table;
    for (let c = 0; c < t.cap; c++) {
      if (!(t.flags[c]! & F_LIVE)) continue;
      if (now !== undefined && now >= t.expiration[c]!) continue;
      yield this.info(c, now);
    }
  }

  /** The entry a packet would match in `zone` (an ICMP error: the entry it refers to). */
  lookup(pkt: PacketView, zone: number, now: number): ConnInfo | undefined {
    if (pkt.ctStatus !== CT_OK) return undefined;
    const k = new Uint32Array(KEY_WORDS);
    extractKey(pkt, zone & 0xffff, k);
    const c = this.table.lookup(k, keyHash(k, 0, this.salt), now);
    return c >= 0 ? this.info(c, now) : undefined;
  }

  /** Lookup by raw frame bytes (convenience for tests and the controller). */
  lookupFrame(frame: Uint8Array, zone: number, now: number): ConnInfo | undefined {
    return this.lookup(this.lookupView.parse(frame), zone, now);
  }

  /** ConnInfo of a slot (slow path: allocates). */
  info(c: number, now?: number): ConnInfo {
    const t = this.table;
    const o = c * KEY_WORDS;
    const meta = t.key[o + K_META]!;
    const proto = metaProto(meta);
    const v6 = metaV6(meta);
    const tr = L4_TRACKERS[proto]!;
    const orig = tupleInfo(t.key, o, false);
    const nk = t.flags[c]! & F_NAT ? t.natReply.get(c) : undefined;
    const reply = nk ? tupleInfo(nk, 0, false) : tupleInfo(t.key, o, true);
    const pk = this.parentKeys.get(c);
    const helper = ALG_NAMES[t.helper[c]!] ?? null;
    const info: ConnInfo = {
      id: t.id[c]!,
      index: c,
      zone: metaZone(meta),
      l3: v6 ? 6 : 4,
      proto,
      orig,
      reply,
      mark: t.mark[c]!,
      label: labelToBigInt(t.label, c * 4),
      expiration: t.expiration[c]!,
      timeoutPolicy: this.policies.name(t.tp[c]!),
      seenReply: (t.flags[c]! & F_SEEN_REPLY) !== 0,
      protoState: tr.protoState(t, c),
      helper,
      parentId: t.parentId[c] ? t.parentId[c]! : null,
      related: (t.flags[c]! & F_ALG_RELATED) !== 0,
    };
    if (now !== undefined) info.timeout = Math.max(0, Math.floor((t.expiration[c]! - now) / 1000));
    if (tr.tcpInfo) info.tcp = tr.tcpInfo(t, c);
    if (pk) info.parent = tupleInfo(pk, 0, false);
    const na = t.natAction[c]!;
    if (na & NAT_ACTION_SRC) info.nat = 'src';
    else if (na & NAT_ACTION_DST) info.nat = 'dst';
    return info;
  }

  private emit(kind: 'new' | 'destroy' | 'update', c: number, now: number | undefined): void {
    this.onSlotEvent?.(kind, this.table.id[c]!, c);
    if (this.onEvent) this.onEvent({ kind, conn: this.info(c, now) });
  }
}

function addrText(key: Uint32Array, off: number, v6: boolean): string {
  if (!v6) return ipv4ToString(key[off]!);
  const b = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const w = key[off + i]!;
    b[4 * i] = w >>> 24;
    b[4 * i + 1] = (w >>> 16) & 255;
    b[4 * i + 2] = (w >>> 8) & 255;
    b[4 * i + 3] = w & 255;
  }
  return formatIpv6(b);
}

/** One direction of a stored key as text; `reversed` gives the reply tuple. */
function tupleInfo(key: Uint32Array, o: number, reversed: boolean): TupleInfo {
  const meta = key[o + K_META]!;
  const v6 = metaV6(meta);
  const proto = metaProto(meta);
  const so = reversed ? K_DST : K_SRC;
  const dso = reversed ? K_SRC : K_DST;
  const sw = key[o + (reversed ? K_DPORT : K_SPORT)]!;
  const dw = key[o + (reversed ? K_SPORT : K_DPORT)]!;
  const out: TupleInfo = {
    src: addrText(key, o + so, v6),
    dst: addrText(key, o + dso, v6),
    sport: sw & 0xffff,
    dport: dw & 0xffff,
  };
  if ((proto === IPPROTO_ICMP && !v6) || (proto === IPPROTO_ICMPV6 && v6)) {
    out.icmpType = sw >>> 24;
    out.icmpCode = (sw >>> 16) & 0xff;
  }
  return out;
}

export { reverseIcmpType };
