/**
 * Flow lookup in one table: which flow of a table a packet hits.
 *
 * Semantics (the reference, `linearLookup`): the flows are sorted highest priority first, ties
 * by file order (compile.ts `compilePolicy`), and the first whose every match word equals the
 * packet's word under the flow's mask wins. The packet's side is a `FieldWords` array the
 * executor fills before the lookup (exec.ts `load`): 4 int32 words per match field id
 * (`fid * 4 + w`, word 0 most significant), ct_* fields already reading the translation's
 * current view of the ct metadata, absent fields reading 0. A flow only lists the words its
 * mask touches (`CompiledFlow.keyOff/keyMask/keyValue`), so a wildcarded or narrow field costs
 * nothing and the comparison stays in int32 arithmetic.
 *
 * Large tables use tuple space search, the idea of Open vSwitch's lib/classifier.c: flows are
 * grouped by their mask (the set of (word, mask) pairs, a `struct cls_subtable` there), each
 * group holds a hash table keyed by the masked values, so one probe per distinct mask answers
 * "which flows of this mask match"; subtables are visited by decreasing maximum priority and
 * the search stops once no later subtable can hold a better flow (classifier.c
 * `classifier_lookup__`: "if (subtable->max_priority <= hard_pri) break" — here `<`, because an
 * equal priority can still win on file order, our tie rule). Flows with identical mask and
 * masked values match exactly the same packets, so only the best of them (first in
 * priority/file order) is kept in the hash table. OVS's refinements (staged lookup, prefix
 * tries, the subtable ranking cache) are left out: policies here are static and the hash
 * probe already replaces the linear scan.
 *
 * A table with few flows keeps the linear scan (`FlowTable` chooses, `CLASSIFIER_MIN_FLOWS`):
 * a handful of flows of different masks is cheaper to compare than to hash once per mask.
 */
import type { CompiledFlow } from './compile.js';

/** Packet side of a lookup: 4 int32 words per match field id, word 0 most significant. */
export type FieldWords = Int32Array;

/**
 * `auto` (FlowTable's choice): tuple space search for a table of more than
 * CLASSIFIER_MIN_FLOWS flows that fall into at most half as many subtables (masks); the linear
 * scan otherwise. Measured on this project's pipeline bench setup (one ct stage, then the
 * table; in-cache working set): a subtable probe (hash + compare) costs about what 1–4 failed
 * flow comparisons cost, so with 16 flows of 16 masks the scan was ~25 % faster than the
 * classifier, with 64 flows of 64 masks they tied, with 64 flows of 16 masks the classifier
 * was ~7 % faster, with 128 flows of 32 masks ~40 %, and with 1 000+ flows of 8 masks the
 * classifier is the only usable option (bench/pipeline.ts "ACL policy").
 */
export const CLASSIFIER_MIN_FLOWS = 16;

/** How FlowTable looks flows up: `auto` as above; the others force one (tests). */
export type ClassifierMode = 'auto' | 'tuple-space' | 'linear';

/** Whether `a` wins over `b`: higher priority, then earlier in the file. */
export function flowBefore(a: CompiledFlow, b: CompiledFlow): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.index < b.index);
}

/** Does the packet whose fields are `fw` match flow `f`? */
export function flowMatches(f: CompiledFlow, fw: FieldWords): boolean {
  const off = f.keyOff;
  const mask = f.keyMask;
  const val = f.keyValue;
  for (let j = 0; j < off.length; j++) if ((fw[off[j]!]! & mask[j]!) !== val[j]) return false;
  return true;
}

/** The reference classifier: first match in priority/file order (`flows` sorted so). */
export function linearLookup(flows: readonly CompiledFlow[], fw: FieldWords): CompiledFlow | null {
  for (let i = 0; i < flows.length; i++) {
    const f = flows[i]!;
    if (flowMatches(f, fw)) return f;
  }
  return null;
}

// Murmur3-style word hashing, as OVS's lib/hash.h `hash_add` / `hash_finish` (mhash).
function hashAdd(h: number, w: number): number {
  let k = Math.imul(w, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function hashFinish(h: number, n: number): number {
  h ^= n * 4;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** One mask (`struct cls_subtable`): open-addressing hash of masked values → best flow. */
export class Subtable {
  /** Key words: offsets into FieldWords and their masks (the subtable's mask). */
  readonly off: Int32Array;
  readonly mask: Int32Array;
  /** Highest priority of the subtable's flows. */
  maxPriority: number;
  /** Rules with distinct masked values (`struct cls_match` heads). */
  private n = 0;
  private keys: Int32Array;
  private hashes: Int32Array;
  private best: CompiledFlow[] = [];
  /** Slot → rule number + 1 (0 = empty); power-of-two size, load ≤ 1/2. */
  private slots: Int32Array;
  private slotMask: number;

  constructor(off: Int32Array, mask: Int32Array, flows: readonly CompiledFlow[]) {
    this.off = off;
    this.mask = mask;
    this.maxPriority = -1;
    let cap = 8;
    while (cap < flows.length * 2) cap *= 2;
    this.slots = new Int32Array(cap);
    this.slotMask = cap - 1;
    this.keys = new Int32Array(Math.max(1, flows.length) * off.length);
    this.hashes = new Int32Array(Math.max(1, flows.length));
    for (const f of flows) this.insert(f);
  }

  /** Number of distinct masked values held. */
  get size(): number {
    return this.n;
  }

  private insert(f: CompiledFlow): void {
    const nw = this.off.length;
    // The flow's values are already masked and in the subtable's word order (same mask).
    const v = f.keyValue;
    let h = 0;
    for (let j = 0; j < nw; j++) h = hashAdd(h, v[j]!);
    h = hashFinish(h, nw);
    if (f.priority > this.maxPriority) this.maxPriority = f.priority;
    for (let p = h & this.slotMask; ; p = (p + 1) & this.slotMask) {
      const s = this.slots[p]!;
      if (s === 0) {
        const r = this.n++;
        this.slots[p] = r + 1;
        this.hashes[r] = h;
        for (let j = 0; j < nw; j++) this.keys[r * nw + j] = v[j]!;
        this.best[r] = f;
        return;
      }
      const r = s - 1;
      if (this.hashes[r] === h && this.sameKey(r, v)) {
        if (flowBefore(f, this.best[r]!)) this.best[r] = f;
        return;
      }
    }
  }

  private sameKey(r: number, v: Int32Array): boolean {
    const nw = this.off.length;
    for (let j = 0; j < nw; j++) if (this.keys[r * nw + j] !== v[j]) return false;
    return true;
  }

  /** The best flow of this mask matching the packet, or null. */
  find(fw: FieldWords): CompiledFlow | null {
    const off = this.off;
    const mask = this.mask;
    const nw = off.length;
    let h = 0;
    for (let j = 0; j < nw; j++) h = hashAdd(h, fw[off[j]!]! & mask[j]!);
    h = hashFinish(h, nw);
    const slots = this.slots;
    const keys = this.keys;
    for (let p = h & this.slotMask; ; p = (p + 1) & this.slotMask) {
      const s = slots[p]!;
      if (s === 0) return null;
      const r = s - 1;
      if (this.hashes[r] === h) {
        const b = r * nw;
        let j = 0;
        while (j < nw && keys[b + j] === (fw[off[j]!]! & mask[j]!)) j++;
        if (j === nw) return this.best[r]!;
      }
    }
  }
}

/** Tuple space search over the flows of one table. */
export class TupleSpaceClassifier {
  /** By decreasing maxPriority. */
  readonly subtables: Subtable[];

  constructor(flows: readonly CompiledFlow[]) {
    const groups = new Map<string, CompiledFlow[]>();
    for (const f of flows) {
      let sig = '';
      for (let j = 0; j < f.keyOff.length; j++) sig += `${f.keyOff[j]}:${f.keyMask[j]},`;
      let g = groups.get(sig);
      if (!g) groups.set(sig, (g = []));
      g.push(f);
    }
    this.subtables = [...groups.values()].map((g) => new Subtable(g[0]!.keyOff, g[0]!.keyMask, g));
    this.subtables.sort((a, b) => b.maxPriority - a.maxPriority);
  }

  lookup(fw: FieldWords): CompiledFlow | null {
    let best: CompiledFlow | null = null;
    const subs = this.subtables;
    for (let i = 0; i < subs.length; i++) {
      const s = subs[i]!;
      if (best !== null && s.maxPriority < best.priority) break;
      const f = s.find(fw);
      if (f !== null && (best === null || flowBefore(f, best))) best = f;
    }
    return best;
  }
}

/**
 * One compiled table: its flows in priority/file order, the match fields any of them reads
 * (the executor loads exactly those before a lookup) and, for a large table, the classifier.
 */
export class FlowTable {
  readonly flows: readonly CompiledFlow[];
  /** Field ids read by at least one flow, ascending. */
  readonly fids: Int32Array;
  readonly classifier: TupleSpaceClassifier | null;

  constructor(flows: readonly CompiledFlow[], mode: ClassifierMode = 'auto') {
    this.flows = flows;
    const used = new Set<number>();
    for (const f of flows) for (let j = 0; j < f.keyOff.length; j++) used.add(f.keyOff[j]! >> 2);
    this.fids = Int32Array.from([...used].sort((a, b) => a - b));
    let cls: TupleSpaceClassifier | null = null;
    if (mode === 'tuple-space' || (mode === 'auto' && flows.length > CLASSIFIER_MIN_FLOWS)) {
      cls = new TupleSpaceClassifier(flows);
      if (mode === 'auto' && cls.subtables.length * 2 > flows.length) cls = null;
    }
    this.classifier = cls;
  }

  lookup(fw: FieldWords): CompiledFlow | null {
    return this.classifier === null ? linearLookup(this.flows, fw) : this.classifier.lookup(fw);
  }
}
