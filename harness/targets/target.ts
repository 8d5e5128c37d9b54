/**
 * Target: something that takes a policy, accepts one packet on a port and returns its Verdict,
 * advances time, resets state and shuts down cleanly (docs/architecture.md, "Target").
 * Implementations: the model (harness/targets/model.ts), Open vSwitch with the dummy datapath
 * (harness/targets/ovs/), bmv2 (generated program + slow-path controller).
 */
import type { Verdict } from '../../model/verdict.js';

/** Policy text in our OVS flow syntax subset, plus the name errors should point at. */
export interface PolicySource {
  text: string;
  /** File name or label used in error messages (`policy.flows:3:7: …`). */
  source: string;
}

/** One packet handed to a target: trace time in ms (monotonic), ingress port, raw frame. */
export interface SendStep {
  time: number;
  port: number;
  frame: Uint8Array;
}

/**
 * What a target holds at one point of a trace, for counterexample reports: sections of text
 * lines (a conntrack dump, a hardware table's entries), each titled.
 */
export interface TargetState {
  sections: { title: string; lines: string[] }[];
}

/**
 * What a target counted of the policy's entries (coverage, docs/report-schema.md "Coverage"):
 * read from its own counters where it has them (bmv2's direct counters, OVS's n_packets), not
 * inferred from Verdicts.
 */
export interface EntryHits {
  /**
   * Packets per policy flow, by the flow's 1-based line in the policy source; flows not hit may
   * be left out. Absent when the target cannot count per flow (bmv2 without policy counters).
   */
  flows?: Record<number, number>;
  /**
   * Packets per action of the target's policy entries (bmv2: the P4 action each stage table
   * entry runs, `flow_ct`, `flow_punt`…, every action of an installed entry listed, 0 = never);
   * absent when the target has no such actions.
   */
  actions?: Record<string, number>;
  /**
   * Packets that hit an entry of each of the target's own conntrack tables (bmv2: P4 table name
   * → the sum of its entries' direct counters); absent when the target has no such tables.
   */
  ctTables?: Record<string, number>;
  /** Where the counts come from, for reports (`direct counters`, `OVS n_packets`). */
  source: string;
}

export interface Target {
  /** 'model' | 'ovs' | 'bmv2'. */
  readonly name: string;
  /**
   * Install a policy (replacing any previous one) and start from a fresh state at trace time 0.
   * Throws a CTO_* error carrying the target's own message when the target rejects it.
   */
  load(policy: PolicySource): Promise<void>;
  /**
   * Optional: run another policy from the current point of the trace on, conntrack state and
   * clock kept (OVS keeps its conntrack entries when flows change, docs/conntrack-semantics.md
   * §9.8): the next packet of a connection is decided by the new policy with its ct_state, mark
   * and label as they were. The policy is validated before anything changes: when it throws
   * (a CTO_* error naming the policy's source), the running policy stays. After a successful
   * call no packet is decided by the old policy.
   */
  replacePolicy?(policy: PolicySource): Promise<void>;
  /**
   * Advance the target's clock to `step.time` (trace time, never decreasing between resets),
   * inject the frame on `step.port` and return what happened to it.
   */
  send(step: SendStep): Promise<Verdict>;
  /**
   * Optional: the same as calling send() for each step in order (same Verdicts), faster — the
   * target may keep several inputs in flight (bmv2's speculative rounds). The runner uses it
   * when present; a rejection concerns the whole batch.
   */
  sendBatch?(steps: readonly SendStep[]): Promise<Verdict[]>;
  /**
   * Optional: the state at trace time `time` (connections, table entries), for counterexample
   * reports: the clock moves to `time` as send() would move it (expired entries go), nothing is
   * sent. `time` is never before the last packet's; omitted, the clock stays.
   */
  snapshot?(time?: number): Promise<TargetState>;
  /** Flush conntrack state and bring the clock back to trace time 0; the policy stays. */
  reset(): Promise<void>;
  /** Release every resource (processes, sockets, temporary files). Idempotent. */
  close(): Promise<void>;
  /**
   * Optional: the target's own counters since it was created (bmv2: rounds, inputs resent,
   * stray outputs…), summed over every instance of a run into the report.
   */
  counters?(): Record<string, number>;
  /**
   * Optional: the largest trace time (ms) this target can be driven to, when below
   * model/clock.ts MAX_TRACE_TIME_MS (the OVS oracle's warps). The runner and the CLIs reject
   * longer traces as input errors (CTO_TIME_RANGE) before sending anything.
   */
  readonly maxTimeMs?: number;
  /**
   * Optional, on a reference: the target's Verdict for the packet about to be sent, so that
   * choices OVS leaves to chance (a NAT translation, docs/conntrack-semantics.md §11.3) are
   * taken from the target for that packet (harness/targets/nat-choice.ts). The runner uses it
   * when the target has `randomChoices`, sending each packet to the target first.
   */
  adoptChoices?(observed: Verdict): void;
  /**
   * The target makes choices the reference cannot predict (OVS: NAT allocation salted at
   * random). Targets without it (bmv2, whose slow path runs the reference's own allocation)
   * must match the reference's choices exactly.
   */
  readonly randomChoices?: boolean;
  /**
   * Optional: policy-entry coverage counted since load() or the previous call (resets do not
   * clear it). Observation from outside: reading counters, never changing what runs. The
   * runner calls it at the end of every trace.
   */
  takeEntryHits?(): Promise<EntryHits | null>;
  /** Versions of the software behind the target, for reports. */
  versions?(): Promise<Record<string, string>>;
}
