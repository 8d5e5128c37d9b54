/**
 * The bmv2 offload target's expected relaxations, as rows for the harness exceptions table
 * (harness/exceptions.ts `EXCEPTIONS`, harness/EXCEPTIONS.md). Kept next to the target so that
 * the rows and the target's documented behaviour change together; the static rows live in harness/exceptions.ts (the one table, so that no import cycle can
 * leave it half-built); this file keeps the policy-dependent `tcpSeqChkDisabledRule(policy)`
 * for runs with `tcpSeqCheck: false`.
 *
 * Every predicate is local to one packet (input frame, both verdicts) except the last, and
 * each requires that the bmv2 side's outputs carry no `inv` ct_state: the data plane never
 * reports inv (every packet it cannot judge is punted), so an inv on the bmv2 side always comes
 * from the slow path's model and is never excused.
 */
import { ContractEngine } from '../../contract.js';
import type { OffloadConfig } from '../../../offload/index.js';
import { diffVerdicts } from '../../compare/compare.js';
import type { ComparisonContext, DiffKind } from '../../compare/types.js';
import { EXCEPTIONS, type ExceptionRule } from '../../exceptions.js';
import type { PolicySource } from '../target.js';

export { HW_UNCHECKED_STATUSES } from '../../exceptions.js';

const OUTPUT_KINDS: readonly DiffKind[] = ['outputs-missing', 'outputs-extra', 'output-ct'];
const LOOKUP_KINDS: readonly DiffKind[] = ['lookup-count', 'lookup-table', 'ct-state', 'ct-zone', 'ct-mark', 'ct-label'];

/** The table's bmv2 rows. */
export const BMV2_EXCEPTIONS: readonly ExceptionRule[] = EXCEPTIONS.filter((x) => x.targets.includes('bmv2'));

/**
 * Row for runs with `tcpSeqCheck: false` — the deployed controller's default (OVS
 * `dpctl/ct-disable-tcp-seq-chk` semantics in the slow path, offload/controller/core.ts "TCP
 * sequence tracking"): a difference is excused iff the reference re-run with tcpSeqCheck off over
 * the same trace prefix (ctx.history + this step) — offload contract included — gives exactly
 * what bmv2 did (outputs, lookups, offload decision). Needs the policy and the offload configuration, hence a factory. Cost: one
 * model replay of the prefix per differing packet.
 */
export function tcpSeqChkDisabledRule(policy: PolicySource, config: OffloadConfig): ExceptionRule {
  return {
    id: 'bmv2-tcp-seq-chk-disabled',
    kind: 'expected-relaxation',
    targets: ['bmv2'],
    kinds: [...OUTPUT_KINDS, ...LOOKUP_KINDS, 'offload-contract'],
    reason: 'The slow path follows OVS ct-disable-tcp-seq-chk: no sequence/ACK/window checks anywhere (flag checks and the state machine stay), because the hardware never shows the controller the segments it decides.',
    source: 'docs/conntrack-semantics.md §4.9; offload/controller/core.ts "TCP sequence tracking"',
    predicate: (_d, ctx: ComparisonContext) => {
      const e = new ContractEngine(config, { tcpSeqCheck: false });
      e.load(policy);
      for (const h of ctx.history ?? []) e.process(h.port, Buffer.from(h.frame, 'hex'), h.time);
      const relaxed = e.process(ctx.step.port, ctx.step.frame, ctx.step.time);
      return diffVerdicts(relaxed, ctx.observed).length === 0;
    },
  };
}
