/**
 * The controller's model: a policy pipeline over one conntrack tracker, where — unlike
 * model/pipeline's PipelineEngine, whose `load` starts a fresh tracker — the policy can be
 * replaced while the tracker and every connection in it stay. That is what OVS does when its
 * flows change (docs/conntrack-semantics.md §9: conntrack entries survive a flow change; the new
 * flows decide the next packets, with the connection's ct_state, mark and label as they were).
 *
 * Timeout policies and zone limits are configuration of the tracker (OVSDB objects in OVS, not
 * flows): a new policy's directives are applied on top (a policy it redefines takes the new
 * values; one it no longer names stays defined, as it is used by the connections that have it).
 */
import { CtoffloadError } from '../../model/errors.js';
import type { ConntrackOptions, Conntrack } from '../../model/conntrack/index.js';
import { PipelineEngine } from '../../model/pipeline/engine.js';
import type { Policy } from '../../model/pipeline/ast.js';
import type { Verdict } from '../../model/verdict.js';

/** The controller's view of model/pipeline/engine.ts PipelineEngine (one home for policy replacement). */
export class LiveEngine {
  private readonly engine: PipelineEngine;

  constructor(ctOpts: ConntrackOptions = {}) {
    this.engine = new PipelineEngine({ conntrack: ctOpts });
  }

  /** A policy over a fresh tracker. */
  load(policy: Policy): void {
    this.engine.loadPolicy(policy);
  }

  /**
   * Throws what installing `policy` would throw (unknown timeout policy, bad directive), without
   * touching the running tracker: it is compiled over a scratch one.
   */
  validate(policy: Policy): void {
    this.engine.validate(policy);
  }

  /** Run `policy` from now on over the same tracker (validated again: nothing changes on error). */
  replacePolicy(policy: Policy): void {
    this.engine.replaceParsed(policy);
  }

  /** A fresh tracker with the current policy. */
  reset(): void {
    this.engine.reset();
  }

  process(port: number, frame: Uint8Array, now: number): Verdict {
    return this.engine.process(port, frame, now);
  }

  get conntrack(): Conntrack {
    const ct = this.engine.conntrack;
    if (!ct) throw new CtoffloadError('CTO_PIPELINE_STATE', 'LiveEngine: used before load()');
    return ct;
  }
}
