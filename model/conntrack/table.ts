/**
 * ConnTable: struct-of-arrays storage of connections plus the chained hash table over them.
 *
 * OVS allocates one `struct conn` per entry and links it into a cmap by `conn_key_hash`
 * (lib/conntrack.c). Here every field is a typed-array column indexed by a connection index
 * (ConnIndex); free indices sit on a stack. The hash table is an array of bucket heads plus a
 * `next` column (separate chaining), keyed by the symmetric hash of key.ts, so one probe finds
 * a packet in either direction. Only the original key is stored; the reply key is the same
 * words with the endpoints swapped — except for a NATed connection, whose reply key (the
 * translated tuple, OVS's `rev_key`) is kept in `natReply` and indexed by its own hash in
 * `natIndex`, as OVS inserts a second node (`nat_conn`) for it (docs/conntrack-semantics.md §11.2).
 *
 * Columns grow by doubling (copy), never shrink; nothing is allocated per packet.
 */
import { KEY_WORDS, K_META, keyEq, keyEqReversed, metaProto } from './key.js';
import type { TimeoutPolicies } from './timeouts.js';

/** Bits of the `flags` column. */
export const F_LIVE = 1;
export const F_SEEN_REPLY = 2;
export const F_ALG_RELATED = 4;
/** NATed: the reply key is `natReply.get(c)`, not the reversed original key. */
export const F_NAT = 8;

export class ConnTable {
  cap = 0;
  /** Live (committed, not yet removed) connections. */
  count = 0;

  // ---- core columns
  key = new Uint32Array(0);
  hash = new Uint32Array(0);
  next = new Int32Array(0);
  /** Absolute expiry in ms; the entry is gone when now ≥ expiration (`conn_expired`). */
  expiration = new Float64Array(0);
  /** Timeout policy id (-1 = defaults), `conn->tp_id`. */
  tp = new Int32Array(0);
  mark = new Uint32Array(0);
  /** 4 words per connection, word 0 most significant. */
  label = new Uint32Array(0);
  /** Unique id of the connection occupying the slot (0 = free). */
  id = new Uint32Array(0);
  flags = new Uint8Array(0);
  /** ALG helper recorded at creation (ALG_*). */
  helper = new Uint8Array(0);
  /** Zone-limit bookkeeping (`admit_zone`, `zone_limit_seq`): -2 = not counted, -1 = default. */
  admitZone = new Int32Array(0);
  limitSeq = new Uint32Array(0);
  /** ConnInfo.id of the parent control connection (0 = none). */
  parentId = new Uint32Array(0);
  /** `conn->nat_action` (model/conntrack/nat.ts NAT_ACTION_*), 0 = none. */
  natAction = new Uint8Array(0);

  // ---- protocol columns
  /** State of the generic and ICMP trackers (FIRST/MULTIPLE/BIDIR, FIRST/REPLY). */
  pstate = new Uint8Array(0);
  /** TCP peers, index 2c = originator, 2c+1 = responder (`struct tcp_peer`). */
  seqlo = new Uint32Array(0);
  seqhi = new Uint32Array(0);
  /** `uint16_t max_win`: a Uint16Array so that OVS's 16-bit truncation happens here too. */
  maxWin = new Uint16Array(0);
  wscale = new Uint8Array(0);
  tstate = new Uint8Array(0);

  // ---- hash table and free list
  buckets = new Int32Array(0);
  mask = 0;
  private freeStack = new Int32Array(0);
  private freeTop = 0;

  /** A lower bound of all expirations set since the last full sweep (skip useless sweeps). */
  minExpiration = Infinity;

  /** dpctl/ct-{en,dis}able-tcp-seq-chk, read by the TCP tracker. */
  tcpSeqCheck = true;

  constructor(
    readonly policies: TimeoutPolicies,
    initialCapacity: number,
  ) {
    this.grow(Math.max(16, initialCapacity | 0));
  }

  private grow(newCap: number): void {
    const old = this.cap;
    const g32 = (a: Uint32Array, w = 1): Uint32Array<ArrayBuffer> => {
      const n = new Uint32Array(newCap * w);
      n.set(a);
      return n;
    };
    const gi32 = (a: Int32Array, w = 1): Int32Array<ArrayBuffer> => {
      const n = new Int32Array(newCap * w);
      n.set(a);
      return n;
    };
    const g8 = (a: Uint8Array, w = 1): Uint8Array<ArrayBuffer> => {
      const n = new Uint8Array(newCap * w);
      n.set(a);
      return n;
    };
    this.key = g32(this.key, KEY_WORDS);
    this.hash = g32(this.hash);
    this.next = gi32(this.next);
    const exp = new Float64Array(newCap);
    exp.set(this.expiration);
    this.expiration = exp;
    this.tp = gi32(this.tp);
    this.mark = g32(this.mark);
    this.label = g32(this.label, 4);
    this.id = g32(this.id);
    this.flags = g8(this.flags);
    this.helper = g8(this.helper);
    this.admitZone = gi32(this.admitZone);
    this.limitSeq = g32(this.limitSeq);
    this.parentId = g32(this.parentId);
    this.natAction = g8(this.natAction);
    this.pstate = g8(this.pstate);
    this.seqlo = g32(this.seqlo, 2);
    this.seqhi = g32(this.seqhi, 2);
    const mw = new Uint16Array(newCap * 2);
    mw.set(this.maxWin);
    this.maxWin = mw;
    this.wscale = g8(this.wscale, 2);
    this.tstate = g8(this.tstate, 2);
    // Free stack: new slots pushed so that the lowest index comes out first.
    const fs = new Int32Array(newCap);
    fs.set(this.freeStack.subarray(0, this.freeTop));
    for (let i = newCap - 1; i >= old; i--) fs[this.freeTop++] = i;
    this.freeStack = fs;
    this.cap = newCap;
    // Load factor ≤ 1: bucket count is the next power of two ≥ capacity.
    let nb = 16;
    while (nb < newCap) nb <<= 1;
    if (nb !== this.buckets.length) this.rehash(nb);
  }

  private rehash(nb: number): void {
    this.buckets = new Int32Array(nb).fill(-1);
    this.mask = nb - 1;
    for (let c = 0; c < this.cap; c++) {
      if (this.flags[c]! & F_LIVE) {
        const b = this.hash[c]! & this.mask;
        this.next[c] = this.buckets[b]!;
        this.buckets[b] = c;
      }
    }
  }

  /**
   * Find the live, unexpired entry whose original or reply key equals `k` (`conn_key_lookup`).
   * Returns the index and sets `lastReply`; -1 when nothing matches. Expired entries are
   * skipped, not removed (the sweep does that).
   */
  lastReply = false;
  lookup(k: Uint32Array, h: number, now: number): number {
    const key = this.key;
    for (let c = this.buckets[h & this.mask]!; c >= 0; c = this.next[c]!) {
      if (this.hash[c] !== h || now >= this.expiration[c]!) continue;
      const o = c * KEY_WORDS;
      if (keyEq(key, o, k, 0)) {
        this.lastReply = false;
        return c;
      }
      if (keyEqReversed(k, 0, key, o) && (this.flags[c]! & F_NAT) === 0) {
        this.lastReply = true;
        return c;
      }
    }
    return this.natReply.size === 0 ? -1 : this.lookupNat(k, h, now);
  }

  /** NATed connections' reply keys (`natReply`), indexed by hash: the `nat_conn` nodes. */
  readonly natReply = new Map<number, Uint32Array>();
  private readonly natIndex = new Map<number, number[]>();

  private lookupNat(k: Uint32Array, h: number, now: number): number {
    const cs = this.natIndex.get(h);
    if (!cs) return -1;
    for (const c of cs) {
      if (now >= this.expiration[c]!) continue;
      if (keyEq(this.natReply.get(c)!, 0, k, 0)) {
        this.lastReply = true;
        return c;
      }
    }
    return -1;
  }

  /** Record the reply key `rk` (hash `h`) of NATed connection `c` with its `nat_action`. */
  setNatReply(c: number, rk: Uint32Array, h: number, action: number): void {
    this.flags[c] = this.flags[c]! | F_NAT;
    this.natAction[c] = action;
    this.natReply.set(c, rk.slice(0, KEY_WORDS));
    this.natHash.set(c, h);
    const cs = this.natIndex.get(h);
    if (cs) cs.push(c);
    else this.natIndex.set(h, [c]);
  }

  private readonly natHash = new Map<number, number>();

  private clearNat(c: number): void {
    const h = this.natHash.get(c)!;
    const cs = this.natIndex.get(h);
    if (cs) {
      const i = cs.indexOf(c);
      if (i >= 0) cs.splice(i, 1);
      if (cs.length === 0) this.natIndex.delete(h);
    }
    this.natReply.delete(c);
    this.natHash.delete(c);
  }

  /** Take a slot, copy the key in, link it. Protocol columns are the tracker's to fill. */
  alloc(k: Uint32Array, h: number, id: number): number {
    if (this.freeTop === 0) this.grow(this.cap * 2);
    const c = this.freeStack[--this.freeTop]!;
    this.key.set(k.subarray(0, KEY_WORDS), c * KEY_WORDS);
    this.hash[c] = h;
    this.id[c] = id;
    this.flags[c] = F_LIVE;
    this.mark[c] = 0;
    this.label.fill(0, c * 4, c * 4 + 4);
    this.tp[c] = -1;
    this.helper[c] = 0;
    this.admitZone[c] = -2;
    this.limitSeq[c] = 0;
    this.parentId[c] = 0;
    this.natAction[c] = 0;
    this.pstate[c] = 0;
    const b = h & this.mask;
    this.next[c] = this.buckets[b]!;
    this.buckets[b] = c;
    this.count++;
    return c;
  }

  /** Unlink and free a slot (the core has released its counts and expectations). */
  free(c: number): void {
    const b = this.hash[c]! & this.mask;
    let p = this.buckets[b]!;
    if (p === c) this.buckets[b] = this.next[c]!;
    else {
      while (p >= 0 && this.next[p] !== c) p = this.next[p]!;
      if (p >= 0) this.next[p] = this.next[c]!;
    }
    if (this.flags[c]! & F_NAT) this.clearNat(c);
    this.flags[c] = 0;
    this.id[c] = 0;
    this.next[c] = -1;
    this.freeStack[this.freeTop++] = c;
    this.count--;
  }

  isLive(c: number): boolean {
    return c >= 0 && c < this.cap && (this.flags[c]! & F_LIVE) !== 0;
  }

  proto(c: number): number {
    return metaProto(this.key[c * KEY_WORDS + K_META]!);
  }

  /** `conn_update_expiration` / `conn_init_expiration`: now + the policy's value for `tm`. */
  setTimer(c: number, tm: number, now: number): void {
    const e = now + this.policies.ms(this.tp[c]!, tm);
    this.expiration[c] = e;
    if (e < this.minExpiration) this.minExpiration = e;
  }

  /** Bytes held by the typed-array columns (for the benchmark's memory figure). */
  bytes(): number {
    let n = 0;
    for (const a of [
      this.key, this.hash, this.next, this.expiration, this.tp, this.mark, this.label, this.id,
      this.flags, this.helper, this.admitZone, this.limitSeq, this.parentId, this.natAction, this.pstate,
      this.seqlo, this.seqhi, this.maxWin, this.wscale, this.tstate, this.buckets, this.freeStack,
    ]) n += a.byteLength;
    return n;
  }
}
