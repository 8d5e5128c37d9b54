/**
 * The bmv2 offload target's expected relaxations, as rows for the harness exceptions table
 * (harness/exceptions.ts `EXCEPTIONS`, harness/EXCEPTIONS.md). Kept next to the target so that
 * the rows and the target's documented behaviour change together; the table owner adds them
 * with `...BMV2_EXCEPTIONS` (and `tcpSeqChkDisabledRule(policy)` when a run uses
 * `tcpSeqCheck: false`).
 *
 * Every predicate is local to one packet (input frame, both verdicts) except the last, and
 * each requires that the bmv2 side's outputs carry no `inv` ct_state: the data plane never
 * reports inv (every packet it cannot judge is punted), so an inv on the bmv2 side always comes
 * from the slow path's model and is never excused.
 */
import { CS_ESTABLISHED, CS_INVALID } from '../../model/ctstate.js';
import { CT_L3_BAD_HEADER, CT_L4_BAD_CSUM, CT_L4_TRUNCATED, CT_OK, PacketView } from '../../model/packet/view.js';
import { PipelineEngine } from '../../model/pipeline/engine.js';
import type { Verdict } from '../../model/verdict.js';
import { diffVerdicts } from '../compare/compare.js';
import type { ComparisonContext, DiffKind } from '../compare/types.js';
import type { ExceptionRule } from '../exceptions.js';
import type { PolicySource } from './target.js';

const OUTPUT_KINDS: readonly DiffKind[] = ['outputs-missing', 'outputs-extra', 'output-ct'];
const LOOKUP_KINDS: readonly DiffKind[] = ['lookup-count', 'lookup-table', 'ct-state', 'ct-zone', 'ct-mark', 'ct-label'];
/** PacketView statuses for checks the generated program does not make (offload/p4gen.ts design notes). */
export const HW_UNCHECKED_STATUSES: readonly number[] = [CT_L3_BAD_HEADER, CT_L4_TRUNCATED, CT_L4_BAD_CSUM];

const view = new PacketView();
const refSaysInvalid = (v: Verdict): boolean => v.lookups.some((l) => (l.state & CS_INVALID) !== 0);
/** bmv2 emitted at least one output and none carries inv: a hardware entry decided it. */
const decidedByEntry = (v: Verdict): boolean => v.outputs.length > 0 && v.outputs.every((o) => o.ct !== undefined && (o.ct.state & CS_INVALID) === 0);

export const BMV2_EXCEPTIONS: readonly ExceptionRule[] = [
  {
    id: 'bmv2-lookups-not-observed',
    kind: 'expected-relaxation',
    targets: ['bmv2'],
    kinds: LOOKUP_KINDS,
    reason:
      'The data plane reports ct fields only at output time (probe header), never per recirculating lookup, so the bmv2 Verdict has no lookups; the ct fields are compared through VerdictOutput.ct instead (output-ct).',
    source: 'harness/targets/bmv2.ts "Verdict"; offload/probe.ts',
    predicate: (_d, ctx) => ctx.observed.lookups.length === 0,
  },
  {
    id: 'bmv2-hw-no-tcp-seq-chk',
    kind: 'expected-relaxation',
    targets: ['bmv2'],
    kinds: OUTPUT_KINDS,
    reason:
      'Packets of an offloaded (established) TCP connection without SYN/FIN/RST are decided by its conntrack entry; the data plane cannot check sequence/ACK windows, so one the reference finds out of window (inv) is forwarded as est. The slow path keeps checking, so state never diverges (the model replays the packet and ignores it, as the reference does).',
    source: 'conntrack-semantics.md §4.4, §4.9; offload/p4gen.ts design notes ("no TCP window/sequence tracking on offloaded connections")',
    predicate: (_d, ctx) => {
      const v = view.parse(ctx.step.frame);
      return (
        v.ctStatus === CT_OK &&
        v.ipProto === 6 &&
        (v.tcpFlags & 0x07) === 0 &&
        (v.tcpFlags & 0x10) !== 0 &&
        refSaysInvalid(ctx.expected) &&
        decidedByEntry(ctx.observed) &&
        ctx.observed.outputs.every((o) => (o.ct!.state & CS_ESTABLISHED) !== 0)
      );
    },
  },
  {
    id: 'bmv2-no-length-checksum-validation',
    kind: 'expected-relaxation',
    targets: ['bmv2'],
    kinds: OUTPUT_KINDS,
    reason:
      'The data plane validates the IPv4 header checksum and IHL but not IPv4 total length / IPv6 payload length against the frame, TCP data offset against the segment, or L4 checksums; a packet of an offloaded connection failing only those checks is forwarded by its entry where the reference answers inv.',
    source: 'conntrack-semantics.md §3.1–§3.3; offload/p4gen.ts design notes ("no L4 checksum or length validation")',
    predicate: (_d, ctx) => HW_UNCHECKED_STATUSES.includes(view.parse(ctx.step.frame).ctStatus) && refSaysInvalid(ctx.expected) && decidedByEntry(ctx.observed),
  },
];

/**
 * Row for runs with `tcpSeqCheck: false` (OVS `dpctl/ct-disable-tcp-seq-chk` semantics in the
 * slow path too): a difference is excused iff the reference run with tcpSeqCheck off over the
 * same trace prefix (ctx.history + this step) gives bmv2's outputs. Needs the policy, hence a
 * factory. Cost: one model replay of the prefix per differing packet.
 */
export function tcpSeqChkDisabledRule(policy: PolicySource): ExceptionRule {
  return {
    id: 'bmv2-tcp-seq-chk-disabled',
    kind: 'expected-relaxation',
    targets: ['bmv2'],
    kinds: OUTPUT_KINDS,
    reason: 'With tcpSeqCheck off the slow path follows OVS ct-disable-tcp-seq-chk: no sequence/ACK/window checks anywhere (flag checks and the state machine stay).',
    source: 'conntrack-semantics.md §4.9; offload/controller.ts "TCP sequence tracking"',
    predicate: (_d, ctx: ComparisonContext) => {
      const e = new PipelineEngine({ conntrack: { tcpSeqCheck: false } });
      e.load(policy);
      for (const h of ctx.history ?? []) e.process(h.port, Buffer.from(h.frame, 'hex'), h.time);
      const relaxed = e.process(ctx.step.port, ctx.step.frame, ctx.step.time);
      return diffVerdicts({ ...relaxed, lookups: [] }, { ...ctx.observed, lookups: [] }).length === 0;
    },
  };
}
