/**
 * Lookup in a table that holds `conjunction(id,k/n)` flows: OVS's conjunctive match
 * (lib/classifier.c `classifier_lookup__`, `find_conjunctive_match`; the rules are in
 * docs/policy-language.md §4).
 *
 * A flow whose actions are conjunctions is a "soft" match: it never runs. The lookup:
 * 1. the best "hard" (ordinary) flow matching the packet, priority `hp` (none: −∞);
 * 2. the soft flows matching the packet with priority > hp, by decreasing priority; at each
 *    priority p, the soft flows of p in file order add their clauses per conjunction id (a
 *    conjunction with more clauses than there are matching soft flows at p is skipped, and a
 *    flow stops adding after the clause that completes an id, as `find_conjunctive_match`
 *    returns there); when every clause 1…n of an id is seen, the table is searched again with
 *    conj_id = id, ignoring soft flows — and ignoring hard flows hidden behind a soft flow of
 *    the same match and higher priority, which that search cannot reach (classifier.c's
 *    per-subtable search only sees the head of a list of identical matches). A hit is the
 *    answer; a miss lets the search go on;
 * 3. otherwise the hard flow of step 1.
 * Which of several ids completing at one priority wins is undefined in OVS (subtable order);
 * here the first soft flow in file order decides. ovs-fields(7) asks for conjunctive flows that
 * do not overlap at one priority, and then the order does not matter.
 *
 * Cost: a table without conjunction flows never gets here (compile.ts keeps the plain
 * FlowTable). Here the soft flows are scanned linearly; scratch arrays are reused, so a
 * lookup allocates nothing.
 */
import { FlowTable, type ClassifierMode, type FieldWords, flowMatches } from './classifier.js';
import type { CompiledFlow } from './compile.js';
import { matchFieldOrder } from './ast.js';

const F_CONJ_ID = matchFieldOrder('conj_id');

function sameMatch(a: CompiledFlow, b: CompiledFlow): boolean {
  if (a.keyOff.length !== b.keyOff.length) return false;
  for (let j = 0; j < a.keyOff.length; j++) {
    if (a.keyOff[j] !== b.keyOff[j] || a.keyMask[j] !== b.keyMask[j] || a.keyValue[j] !== b.keyValue[j]) return false;
  }
  return true;
}

export class ConjunctiveTable {
  /** All flows, priority/file order (as FlowTable.flows). */
  readonly flows: readonly CompiledFlow[];
  /** Field ids any flow reads, plus conj_id. */
  readonly fids: Int32Array;
  /** Hard flows. */
  readonly hard: FlowTable;
  /** Hard flows the conj_id search can reach. */
  private readonly rerun: FlowTable;
  /** Soft flows, priority/file order. */
  private readonly soft: readonly CompiledFlow[];
  /** Smallest n among each soft flow's conjunctions (classifier.c `min_n_clauses`). */
  private readonly minN: Int32Array;
  /** The conjunction id of the last lookup's answer, or -1 (trace). */
  lastConjId = -1;

  // scratch: per conjunction id seen at one priority, its clause bits (64 as two words)
  private ids = new Float64Array(8);
  private lo = new Int32Array(8);
  private hi = new Int32Array(8);
  private n = 0;

  constructor(flows: readonly CompiledFlow[], mode: ClassifierMode = 'auto') {
    this.flows = flows;
    const hard = flows.filter((f) => f.conj === null);
    this.soft = flows.filter((f) => f.conj !== null);
    this.minN = Int32Array.from(this.soft, (f) => Math.min(...f.conj!.map((c) => c.nClauses)));
    this.hard = new FlowTable(hard, mode);
    this.rerun = new FlowTable(hard.filter((h) => !this.soft.some((s) => s.priority > h.priority && sameMatch(s, h))), mode);
    const used = new Set<number>([F_CONJ_ID]);
    for (const f of flows) for (let j = 0; j < f.keyOff.length; j++) used.add(f.keyOff[j]! >> 2);
    this.fids = Int32Array.from([...used].sort((a, b) => a - b));
  }

  /** The classifier of the hard flows (tests). */
  get classifier(): FlowTable['classifier'] {
    return this.hard.classifier;
  }

  lookup(fw: FieldWords): CompiledFlow | null {
    this.lastConjId = -1;
    const hard = this.hard.lookup(fw);
    const hp = hard === null ? -1 : hard.priority;
    const soft = this.soft;
    let i = 0;
    while (i < soft.length && soft[i]!.priority > hp) {
      const p = soft[i]!.priority;
      let end = i;
      let nMatch = 0;
      while (end < soft.length && soft[end]!.priority === p) {
        if (flowMatches(soft[end]!, fw)) nMatch++;
        end++;
      }
      if (nMatch >= 2) {
        const r = this.atPriority(i, end, nMatch, fw);
        if (r !== null) return r;
      }
      i = end;
    }
    return hard;
  }

  /** Step 2 at one priority: soft flows [from, to) of which `nMatch` match. */
  private atPriority(from: number, to: number, nMatch: number, fw: FieldWords): CompiledFlow | null {
    this.n = 0;
    const soft = this.soft;
    for (let i = from; i < to; i++) {
      const f = soft[i]!;
      if (nMatch < this.minN[i]! || !flowMatches(f, fw)) continue;
      const conj = f.conj!;
      for (let c = 0; c < conj.length; c++) {
        const cj = conj[c]!;
        if (cj.nClauses > nMatch) continue;
        const k = this.slot(cj.id, cj.nClauses);
        const bit = cj.clause - 1;
        if (bit < 32) this.lo[k]! |= 1 << bit;
        else this.hi[k]! |= 1 << (bit - 32);
        if ((this.lo[k]! & this.hi[k]!) === -1) {
          const off = F_CONJ_ID * 4 + 3;
          fw[off] = cj.id | 0;
          const r = this.rerun.lookup(fw);
          fw[off] = 0;
          if (r !== null) {
            this.lastConjId = cj.id;
            return r;
          }
          break; // find_conjunctive_match returned: this flow's other conjunctions are not counted
        }
      }
    }
    return null;
  }

  /** Index of `id` in the scratch, added with the bits above `n` set ("UINT64_MAX << n"). */
  private slot(id: number, n: number): number {
    for (let k = 0; k < this.n; k++) if (this.ids[k] === id) return k;
    if (this.n === this.ids.length) {
      const grow = <T extends Float64Array | Int32Array>(a: T, b: T): T => (b.set(a), b);
      this.ids = grow(this.ids, new Float64Array(this.n * 2));
      this.lo = grow(this.lo, new Int32Array(this.n * 2));
      this.hi = grow(this.hi, new Int32Array(this.n * 2));
    }
    const k = this.n++;
    this.ids[k] = id;
    this.lo[k] = n >= 32 ? 0 : n === 0 ? -1 : ~((1 << n) - 1) | 0;
    this.hi[k] = n >= 64 ? 0 : n <= 32 ? -1 : ~((1 << (n - 32)) - 1) | 0;
    return k;
  }
}
