/**
 * The exceptions table: every deliberate difference between the reference model and a target,
 * listed ONCE, with the reason, the source and a precise predicate. The comparator
 * (harness/compare/) excuses a difference only when a row here matches it, and every report
 * counts how often each row applied — so a relaxation never hides silently.
 *
 * Row kinds:
 *  - `expected-relaxation`: the target is right by its own definition and cannot (or need not)
 *    behave like the reference, e.g. a hardware target that does not check TCP sequence windows
 *    (bmv2 offload rows will look like that);
 *  - `defect`: a known bug (in the target, or in the model while it waits for a fix), listed so
 *    that runs stay useful meanwhile; each such row names where it is tracked.
 *
 * How to add a row: give it a stable `id` (kebab case, never reused), the `targets` it applies
 * to (observed-side names), the difference `kinds` it may excuse, a `predicate` as narrow as the
 * fact allows (look at the packet, the lookup index, both verdicts), the `reason` and the
 * `source` (a conntrack-semantics.md / p4-target-interfaces.md section or an upstream file). Then
 * add the same row to harness/EXCEPTIONS.md (the human-readable table) — a unit test checks that
 * both list the same ids.
 *
 * Things that are NOT exceptions because the comparator never compares them (documented in
 * harness/compare/compare.ts): `VerdictOutput.ct` when either side leaves it undefined (the OVS
 * target reads outputs from tx pcaps, which carry only bytes), output order across ports (both
 * sides are normalised to ascending port, controller last), and the original-direction tuple
 * (`ct_nw_src` …), which the Verdict does not carry; if it ever does, compare it only when
 * visible by conntrack-semantics.md §1.6 (state has new, est or rpl, and ct_nw_proto ≠ 0).
 */
import type { ComparisonContext, Difference, DiffKind } from './compare/types.js';
import { CS_ESTABLISHED, CS_INVALID, CS_NEW, CS_TRACKED } from '../model/ctstate.js';
import { PacketView } from '../model/packet/index.js';

export type ExceptionKind = 'expected-relaxation' | 'defect';

export interface ExceptionRule {
  /** Stable id, used in reports and counts. */
  id: string;
  kind: ExceptionKind;
  /** Observed-side target names the row applies to ('ovs', 'bmv2'). */
  targets: readonly string[];
  /** Difference kinds the row may excuse (checked before the predicate). */
  kinds: readonly DiffKind[];
  /** One or two sentences: what differs and why that is acceptable for now. */
  reason: string;
  /** Where the fact comes from (doc section, upstream file, issue). */
  source: string;
  /** True when this row excuses `d` for the packet in `ctx`. Keep it narrow. */
  predicate(d: Difference, ctx: ComparisonContext): boolean;
}

const NEW_TRK = CS_NEW | CS_TRACKED;
const INV_TRK = CS_INVALID | CS_TRACKED;
const TCP_FLAGS_SYN_ACK_RST_FIN = 0x17;
const TCP_SYN = 0x02;

/** Direction-independent connection key of a frame (proto + sorted endpoints), or null. */
function connKey(frameHex: string, view: PacketView): string | null {
  const b = Uint8Array.from(Buffer.from(frameHex, 'hex'));
  view.parse(b);
  if (!view.flowL3) return null;
  const a = `${Array.from(view.src).join('.')}:${view.flowL4 ? view.sport : 0}`;
  const z = `${Array.from(view.dst).join('.')}:${view.flowL4 ? view.dport : 0}`;
  return `${view.ipProto}|${a < z ? `${a}|${z}` : `${z}|${a}`}`;
}

function firstState(v: { lookups: readonly { state: number }[] } | null | undefined): number {
  return v && v.lookups.length ? v.lookups[0]!.state : -1;
}

/**
 * OVS 3.1 replaces a closed TCP connection on a reopening pure SYN with `conn_force_expire`
 * (lib/conntrack.c `conn_update_state`, CT_UPDATE_NEW; §4.8) and releases its zone-limit count
 * only when the sweeper deletes it (§6.2, §7); with the clock stopped (§9.6) the sweeper runs
 * only at the next `time/warp`. So a commit at the SYN's own trace time may be refused by OVS
 * (zone full because of the replaced entry) and accepted by the model (which releases the count
 * at once, §6.2 "Model rule"); a later packet of that connection is then `new|trk` on OVS and
 * established (or `inv` against the model's entry) on the model. Predicate, all of:
 *  1. OVS's first lookup is exactly new|trk, or inv|trk (no entry: a packet that may not create
 *     one, such as a SYN-ACK, §4.3), and the model's differs (it has one);
 *  2. an earlier packet C of the same connection was new|trk on both sides (the commit the
 *     model accepted and OVS refused);
 *  3. an earlier packet S, at C's trace time and no later than C, is a pure TCP SYN seen new|trk
 *     on both sides whose connection had been established before (a reuse, §4.8).
 * Found by the differential run on a zone-limited policy (two independent seeds, shrunk to 9 and
 * 10 packets; `dpctl/ct-get-nconns` counted the replaced entry while `dump-conntrack` did not).
 * `ct(commit,force)` does not behave this way (checked: the count is released at once).
 * If the model chooses to hold the count until the next clock advance, delete this row.
 */
const ovsReuseCountHeld: ExceptionRule = {
  id: 'ovs-reuse-count-held-until-sweep',
  kind: 'expected-relaxation',
  targets: ['ovs'],
  kinds: ['ct-state', 'lookup-count', 'lookup-table', 'ct-zone', 'ct-mark', 'ct-label', 'outputs-missing', 'outputs-extra', 'output-bytes', 'output-order'],
  reason:
    'OVS 3.1 keeps the zone-limit count of a TCP connection replaced by a reopening SYN until its sweeper runs (only at the next time warp under the harness clock), so a commit at that trace time can be refused by OVS and not by the model.',
  source: 'conntrack-semantics.md §4.8, §6.2, §7, §9.6; openvswitch/ovs lib/conntrack.c conn_update_state (conn_force_expire), conn_clean',
  predicate(_d, ctx) {
    const hist = ctx.history;
    if (!hist || hist.length < 1) return false;
    // 1. OVS has no entry for this connection — exactly new|trk, or inv|trk for a packet that
    //    may not create one (a SYN-ACK, §4.3) — while the model, which has one, says otherwise.
    const exp = firstState(ctx.expected);
    const obs = firstState(ctx.observed);
    if (exp < 0 || exp === NEW_TRK || (obs !== NEW_TRK && obs !== INV_TRK) || exp === obs) return false;
    const view = new PacketView();
    const key = connKey(Buffer.from(ctx.step.frame).toString('hex'), view);
    if (key === null) return false;
    const keys = hist.map((p) => connKey(p.frame, view));
    const isReuseSyn = (s: number): boolean => {
      const p = hist[s]!;
      view.parse(Uint8Array.from(Buffer.from(p.frame, 'hex')));
      if (view.ipProto !== 6 || !view.flowL4 || (view.tcpFlags & TCP_FLAGS_SYN_ACK_RST_FIN) !== TCP_SYN) return false;
      if (firstState(p.expected) !== NEW_TRK || firstState(p.observed) !== NEW_TRK) return false;
      return hist.slice(0, s).some((q, i) => keys[i] === keys[s] && (firstState(q.expected) & CS_ESTABLISHED) !== 0);
    };
    // 2./3. Some earlier packet C of this connection was new|trk on both sides (the commit the
    // model accepted) at the trace time of a reopening SYN S with S ≤ C. (Every packet after C
    // agreed or was excused: the runner stops a trace at the first real difference.)
    for (let c = hist.length - 1; c >= 0; c--) {
      if (keys[c] !== key || firstState(hist[c]!.expected) !== NEW_TRK || firstState(hist[c]!.observed) !== NEW_TRK) continue;
      for (let s = c; s >= 0 && hist[s]!.time === hist[c]!.time; s--) if (isReuseSyn(s)) return true;
    }
    return false;
  },
};

/**
 * The table. The model follows OVS 3.1 userspace (conntrack-semantics.md §10 middle column,
 * oddities included); rows here are the differences found by differential runs that are the
 * oracle's, not the model's. bmv2 offload rows (e.g. sequence checks not done in the data
 * plane) are added by the offload work once that target exists.
 */
export const EXCEPTIONS: readonly ExceptionRule[] = [ovsReuseCountHeld];

/** The first row that excuses `d` for `ctx`, or null. */
export function findException(rules: readonly ExceptionRule[], d: Difference, ctx: ComparisonContext): ExceptionRule | null {
  for (const r of rules) {
    if (!r.targets.includes(ctx.target)) continue;
    if (!r.kinds.includes(d.kind)) continue;
    if (r.predicate(d, ctx)) return r;
  }
  return null;
}

/** Checks a table for duplicate ids and empty fields (run by tests and by the runner at start). */
export function validateExceptions(rules: readonly ExceptionRule[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const r of rules) {
    if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(r.id)) problems.push(`${r.id}: id must be kebab case`);
    if (seen.has(r.id)) problems.push(`${r.id}: listed twice`);
    seen.add(r.id);
    if (!r.reason.trim()) problems.push(`${r.id}: no reason`);
    if (!r.source.trim()) problems.push(`${r.id}: no source`);
    if (r.targets.length === 0) problems.push(`${r.id}: no targets`);
    if (r.kinds.length === 0) problems.push(`${r.id}: no difference kinds`);
  }
  return problems;
}
