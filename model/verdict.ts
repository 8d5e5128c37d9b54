/**
 * Verdict: what a target did with one input packet. The model, the OVS target and the bmv2
 * target all produce this type, so one comparator serves all (docs/architecture.md, "Contracts").
 */

/** OpenFlow's OFPP_CONTROLLER (0xfffffffd): the port number used for a `controller` output. */
export const PORT_CONTROLLER = 0xfffffffd;

/** The ct fields a packet carried at one point of the pipeline. */
export interface CtFields {
  /** ct_state bits (model/ctstate.ts); 0 = untracked. */
  state: number;
  zone: number;
  mark: number;
  /** 128-bit ct_label. */
  label: bigint;
}

/** One `ct` lookup as seen by the table the packet recirculated into (`ct(table=T)`). */
export interface CtLookup extends CtFields {
  /** Table the tracked copy entered, or -1 for a `ct` without `table=` (result not observable). */
  table: number;
}

export interface VerdictOutput {
  /** Output port; PORT_CONTROLLER for `controller`. */
  port: number;
  bytes: Uint8Array;
  /** ct fields of the packet at the moment it was output (what a probe header reports). */
  ct?: CtFields;
}

/**
 * How an offload decided one packet: the observed side (a target with a slow path) reports its
 * punts; the reference side, when it knows the offload configuration, reports what the offload
 * contract allows (harness/contract.ts).
 */
export interface OffloadDecision {
  /** Observed: punt reason names of the packet, in order ([] = decided in hardware). */
  punts?: string[];
  /** Expected: the outcomes the contract allows: 'hardware' and/or punt reason names; ['*'] = not judged. */
  allowed?: string[];
  /** Observed: connections the controller keeps in the slow path after a failed INSERT (table full). */
  slowPathOnly?: number;
}

export interface Verdict {
  /** Packets that left, in the order the pipeline emitted them. */
  outputs: VerdictOutput[];
  /** ct lookups in execution order (only those that recirculated, i.e. had `table=`). */
  lookups: CtLookup[];
  /** Offload decision (targets with a slow path, and a reference that knows the contract). */
  offload?: OffloadDecision;
}

/** The Trace contract: what generators produce, shrinking reduces and pcapng stores. */
export interface TraceStep {
  /** Virtual time in milliseconds (monotonic non-decreasing along a trace). */
  time: number;
  port: number;
  frame: Uint8Array;
}
export type Trace = TraceStep[];
