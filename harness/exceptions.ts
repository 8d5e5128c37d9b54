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
 * `source` (a docs/conntrack-semantics.md / docs/p4-target-interfaces.md section or an upstream file). Then
 * add the same row to harness/EXCEPTIONS.md (the human-readable table) — a unit test checks that
 * both list the same ids.
 *
 * Things that are NOT exceptions because the comparator never compares them (documented in
 * harness/compare/compare.ts): `VerdictOutput.ct` when either side leaves it undefined (the OVS
 * target reads outputs from tx pcaps, which carry only bytes), output order across ports (both
 * sides are normalised to ascending port, controller last), and the original-direction tuple
 * (`ct_nw_src` …), which the Verdict does not carry; if it ever does, compare it only when
 * visible by docs/conntrack-semantics.md §1.6 (state has new, est or rpl, and ct_nw_proto ≠ 0).
 */
import type { ComparisonContext, Difference, DiffKind } from './compare/types.js';
import { CS_ESTABLISHED, CS_INVALID, CS_TRACKED } from '../model/ctstate.js';
import { CT_L3_BAD_HEADER, CT_L4_BAD_CSUM, CT_L4_TRUNCATED, CT_OK, PacketView } from '../model/packet/view.js';
import type { CtLookup, Verdict } from '../model/verdict.js';
import { IPF_EXPIRED_CT_STATE } from '../model/conntrack/ipf.js';

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

const OUTPUT_KINDS: readonly DiffKind[] = ['outputs-missing', 'outputs-extra', 'output-ct'];
const LOOKUP_KINDS: readonly DiffKind[] = ['lookup-count', 'lookup-table', 'ct-state', 'ct-zone', 'ct-mark', 'ct-label'];
/** PacketView statuses for checks the generated program does not make (offload/p4gen.ts design notes). */
export const HW_UNCHECKED_STATUSES: readonly number[] = [CT_L3_BAD_HEADER, CT_L4_TRUNCATED, CT_L4_BAD_CSUM];

const view = new PacketView();
const refSaysInvalid = (v: Verdict): boolean => v.lookups.some((l) => (l.state & CS_INVALID) !== 0);
/** bmv2 emitted at least one output and none carries inv: a hardware entry decided it. */
const decidedByEntry = (v: Verdict): boolean => v.outputs.length > 0 && v.outputs.every((o) => o.ct !== undefined && (o.ct.state & CS_INVALID) === 0);
const sameLookup = (a: CtLookup, b: CtLookup): boolean => a.table === b.table && a.state === b.state && a.zone === b.zone && a.mark === b.mark && a.label === b.label;

/**
 * For a lookup difference `d` (kinds in LOOKUP_KINDS): both sides' lookups agree up to the first
 * one where the reference says inv and bmv2 says what an entry says — tracked, not inv, and est
 * when `est` (an entry's state, offload/entries.ts) — in the same table and zone:
 * the hardware entry's answer for a packet the data plane cannot judge as the reference does —
 * and `d` is at or after that lookup (or is the count: from there on the two executions may
 * take different paths). Any other lookup difference is not the relaxation's.
 */
function entryAnsweredForInvalid(d: Difference, ctx: ComparisonContext, est: boolean): boolean {
  const e = ctx.expected.lookups;
  const o = ctx.observed.lookups;
  let i = 0;
  while (i < e.length && i < o.length && sameLookup(e[i]!, o[i]!)) i++;
  if (i >= e.length || i >= o.length) return false;
  const a = e[i]!;
  const b = o[i]!;
  if ((a.state & CS_INVALID) === 0 || (b.state & CS_INVALID) !== 0 || (b.state & CS_TRACKED) === 0 || (est && (b.state & CS_ESTABLISHED) === 0) || a.table !== b.table || a.zone !== b.zone) return false;
  return d.lookupIndex === undefined ? d.kind === 'lookup-count' : d.lookupIndex >= i;
}

/** Output differences: bmv2's outputs were decided by an entry; lookup differences: entryAnsweredForInvalid. */
const byEntry = (d: Difference, ctx: ComparisonContext, est: boolean, outputs: () => boolean): boolean =>
  LOOKUP_KINDS.includes(d.kind) ? entryAnsweredForInvalid(d, ctx, est) : outputs();

/** Expected relaxations of the bmv2 offload target (harness/targets/bmv2/target.ts, offload/p4gen.ts). */
const BMV2_ROWS: readonly ExceptionRule[] = [
  {
    id: 'bmv2-hw-no-tcp-seq-chk',
    kind: 'expected-relaxation',
    targets: ['bmv2'],
    kinds: [...OUTPUT_KINDS, ...LOOKUP_KINDS],
    reason:
      'Packets of an offloaded (established) TCP connection without SYN/FIN/RST are decided by its conntrack entry; the data plane cannot check sequence/ACK windows, so one the reference finds out of window (inv) is forwarded as est (its lookup reports est). The slow path keeps checking, so state never diverges (the model replays the packet and ignores it, as the reference does).',
    source: 'docs/conntrack-semantics.md §4.4, §4.9; offload/p4gen.ts design notes ("no TCP window/sequence tracking on offloaded connections")',
    predicate: (d, ctx) => {
      const v = view.parse(ctx.step.frame);
      return (
        v.ctStatus === CT_OK &&
        v.ipProto === 6 &&
        (v.tcpFlags & 0x07) === 0 &&
        (v.tcpFlags & 0x10) !== 0 &&
        refSaysInvalid(ctx.expected) &&
        byEntry(d, ctx, true, () => decidedByEntry(ctx.observed) && ctx.observed.outputs.every((o) => (o.ct!.state & CS_ESTABLISHED) !== 0))
      );
    },
  },
  {
    id: 'bmv2-no-length-checksum-validation',
    kind: 'expected-relaxation',
    targets: ['bmv2'],
    kinds: [...OUTPUT_KINDS, ...LOOKUP_KINDS],
    reason:
      'The data plane validates the IPv4 header checksum and IHL but not IPv4 total length / IPv6 payload length against the frame, TCP data offset against the segment, or L4 checksums; a packet of an offloaded connection failing only those checks is forwarded by its entry (its lookup reports the entry\'s state) where the reference answers inv.',
    source: 'docs/conntrack-semantics.md §3.1–§3.3; offload/p4gen.ts design notes ("no L4 checksum or length validation")',
    predicate: (d, ctx) => HW_UNCHECKED_STATUSES.includes(view.parse(ctx.step.frame).ctStatus) && refSaysInvalid(ctx.expected) && byEntry(d, ctx, false, () => decidedByEntry(ctx.observed)),
  },
];

/**
 * Offload-contract rows (harness/contract.ts): the only punts of a packet the contract has the
 * hardware decide that the offload may make.
 */
const CONTRACT_ROWS: readonly ExceptionRule[] = [
  {
    id: 'bmv2-contract-table-full',
    kind: 'expected-relaxation',
    targets: ['bmv2'],
    kinds: ['offload-contract'],
    reason:
      'An INSERT the conntrack table refused (full) leaves the connection in the slow path: its packets punt as CT_MISS until an insert succeeds. Excused only while the controller reports such connections.',
    source: 'offload/controller/core.ts (table-full degradation); docs/p4-target-interfaces.md §3, §4.4',
    predicate: (_d, ctx) => ctx.observed.offload?.punts?.[0] === 'CT_MISS' && (ctx.observed.offload.slowPathOnly ?? 0) > 0,
  },
];

/**
 * Known OVS 3.1 defects (the oracle's, not the model's): each recognises the defect's exact
 * signature in the observed verdict.
 */
const OVS_ROWS: readonly ExceptionRule[] = [
  {
    id: 'ovs-expired-fragment-uninit-ct-fields',
    kind: 'defect',
    targets: ['ovs'],
    kinds: ['ct-zone', 'ct-mark', 'ct-label'],
    reason:
      'An ipf fragment list that expires is released with md.ct_state = CS_INVALID and nothing else written; a fragment that was untracked when held never had ct_zone/ct_mark/ct_label initialised (pkt_metadata_init zeroes only up to ct_state), so OVS reports heap leftovers (zone 1, mark 0x6d6c6b6a, payload bytes as label were seen). The reference reports 0, the values of an untracked packet. Upstream defect, not reported by us yet; tracked in docs/conntrack-semantics.md §3.4.',
    source: 'docs/conntrack-semantics.md §3.4 ("Expired fragments: ct_zone, ct_mark and ct_label are undefined"); openvswitch/ovs v3.1 lib/packets.h pkt_metadata_init, lib/ipf.c ipf_process_frag / ipf_send_frags_in_list',
    // The signature: this lookup is `inv` WITHOUT `trk` on both sides in the same table — only
    // an expired fragment's (OVS: ipf_send_frags_in_list is the one writer of a bare
    // CS_INVALID that reaches a lookup; conntrack_execute adds trk to every other inv; model:
    // IPF_EXPIRED_CT_STATE) — and the reference carries the untracked values 0/0/0, i.e. the
    // fragment was untracked when held (one held while tracked carries fields OVS did write:
    // those are compared). ct_state, the table, the lookup count and outputs stay compared.
    predicate: (d, ctx) => {
      if (d.lookupIndex === undefined) return false;
      const a = ctx.expected.lookups[d.lookupIndex];
      const b = ctx.observed.lookups[d.lookupIndex];
      return (
        a !== undefined && b !== undefined &&
        a.state === IPF_EXPIRED_CT_STATE && b.state === IPF_EXPIRED_CT_STATE && a.table === b.table &&
        a.zone === 0 && a.mark === 0 && a.label === 0n
      );
    },
  },
];

/**
 * The table. The model follows OVS 3.1 userspace (docs/conntrack-semantics.md §10 middle column,
 * oddities included); rows here are the differences found by differential runs that are the
 * oracle's, not the model's. bmv2 offload rows (e.g. sequence checks not done in the data
 * plane) are added by the offload work once that target exists.
 */
export const EXCEPTIONS: readonly ExceptionRule[] = [...BMV2_ROWS, ...CONTRACT_ROWS, ...OVS_ROWS];

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
