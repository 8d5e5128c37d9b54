/**
 * Differences between two Verdicts for one input packet: what the comparator reports, what the
 * exceptions table (harness/exceptions.ts) may excuse, and what reports count by kind.
 */
import type { SendStep } from '../targets/target.js';
import type { StepInfo } from '../arbitraries/index.js';
import type { Verdict } from '../../model/verdict.js';
import type { PacketReport } from '../report/schema.js';

export type DiffKind =
  /** An output (port, bytes) of the reference has no counterpart in the target's outputs. */
  | 'outputs-missing'
  /** The target emitted an output the reference did not. */
  | 'outputs-extra'
  /** Same port, same position among the unmatched outputs, different bytes. */
  | 'output-bytes'
  /** Same outputs on a port, emitted in a different order. */
  | 'output-order'
  /** ct fields carried by an output differ (only when both sides report them). */
  | 'output-ct'
  /** Different number of recirculating ct lookups. */
  | 'lookup-count'
  /** The i-th lookup recirculated into a different table. */
  | 'lookup-table'
  | 'ct-state'
  | 'ct-zone'
  | 'ct-mark'
  | 'ct-label'
  /**
   * The offload decided the packet otherwise than its contract says (harness/contract.ts): a
   * punt of a packet the hardware should have decided, a hardware decision of a packet the
   * contract punts, or a punt for another reason. `expected` lists the allowed outcomes.
   */
  | 'offload-contract'
  /** A side threw or missed its deadline for this packet (message in `observed`/`expected`). */
  | 'target-error';

export const DIFF_KINDS: readonly DiffKind[] = [
  'outputs-missing', 'outputs-extra', 'output-bytes', 'output-order', 'output-ct',
  'lookup-count', 'lookup-table', 'ct-state', 'ct-zone', 'ct-mark', 'ct-label', 'offload-contract', 'target-error',
];

/** JSON-friendly value of one side (ct_state in `est|trk` form, marks/labels/bytes in hex). */
export type DiffValue = string | number | null;

export interface Difference {
  kind: DiffKind;
  /** Index into `lookups` (ct-* and lookup-table kinds). */
  lookupIndex?: number;
  /** Output port (output kinds). */
  port?: number;
  /** Position among the outputs on `port` after normalisation (output kinds). */
  outputIndex?: number;
  /** Reference side (the model). */
  expected: DiffValue;
  /** Target side (OVS, bmv2). */
  observed: DiffValue;
  /** One readable line, e.g. `lookup 0 (table 1): ct_state expected new|trk, observed est|trk`. */
  message: string;
}

/** What an exception predicate may look at besides the difference itself. */
export interface ComparisonContext {
  /** Name of the target under test (the observed side): 'ovs', 'bmv2', … */
  target: string;
  /** Name of the reference (normally 'model'). */
  reference: string;
  /** The input packet. */
  step: SendStep;
  /** 0-based index of the packet in its trace. */
  stepIndex: number;
  /** What the generator meant the packet to be (label, ctStatus, anomaly), when known. */
  info?: StepInfo;
  expected: Verdict;
  observed: Verdict;
  /**
   * The earlier packets of the same trace with both verdicts (oldest first), for rows whose
   * predicate depends on what came before (e.g. a count OVS releases only at its next sweep).
   */
  history?: readonly PacketReport[];
}

export interface ExcusedDifference {
  diff: Difference;
  /** Id of the exceptions-table row that excused it. */
  rule: string;
}

export interface Comparison {
  /** Differences no exception excuses: any entry means the packet disagrees. */
  differences: Difference[];
  /** Differences excused by a listed exception (counted per row in reports). */
  excused: ExcusedDifference[];
}
