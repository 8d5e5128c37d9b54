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
import { Conntrack, type ConntrackOptions } from '../../model/conntrack/index.js';
import { CtoffloadError } from '../../model/errors.js';
import { Pipeline } from '../../model/pipeline/exec.js';
import type { Policy } from '../../model/pipeline/ast.js';
import type { Verdict } from '../../model/verdict.js';

export class LiveEngine {
  private pipeline: Pipeline | null = null;

  constructor(private readonly ctOpts: ConntrackOptions = {}) {}

  /** A policy over a fresh tracker. */
  load(policy: Policy): void {
    this.pipeline = new Pipeline(policy, new Conntrack(this.ctOpts));
  }

  /**
   * Throws what installing `policy` would throw (unknown timeout policy, bad directive), without
   * touching the running tracker: it is compiled over a scratch one.
   */
  validate(policy: Policy): void {
    new Pipeline(policy, new Conntrack(this.ctOpts));
  }

  /** Run `policy` from now on over the same tracker (validate first: this one mutates). */
  replacePolicy(policy: Policy): void {
    this.pipeline = new Pipeline(policy, this.current().conntrack);
  }

  /** A fresh tracker with the current policy. */
  reset(): void {
    if (this.pipeline) this.pipeline = new Pipeline(this.pipeline.policy, new Conntrack(this.ctOpts));
  }

  process(port: number, frame: Uint8Array, now: number): Verdict {
    return this.current().process(frame, port, now);
  }

  get conntrack(): Conntrack {
    return this.current().conntrack;
  }

  private current(): Pipeline {
    if (!this.pipeline) throw new CtoffloadError('CTO_PIPELINE_STATE', 'LiveEngine: used before load()');
    return this.pipeline;
  }
}
