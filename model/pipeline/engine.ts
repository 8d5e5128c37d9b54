/**
 * The policy + tracker pair behind one interface (load a policy, process a packet at a virtual
 * time, reset all conntrack state). It has the shape of harness/targets/model.ts `ModelEngine`,
 * so the model Target is `new ModelTarget(new PipelineEngine())`.
 */
import { Conntrack, type ConntrackOptions } from '../conntrack/index.js';
import { CtoffloadError } from '../errors.js';
import type { Verdict } from '../verdict.js';
import type { Policy } from './ast.js';
import { Pipeline, type PipelineOptions, type PipelineResult } from './exec.js';
import { parsePolicy } from './parse.js';

export interface PipelineEngineOptions {
  conntrack?: ConntrackOptions;
  pipeline?: PipelineOptions;
}

export class PipelineEngine {
  private policy: Policy | null = null;
  private pipeline: Pipeline | null = null;
  /** Packets per policy flow (index in policy.flows) since load or the last takeFlowHits(). */
  private readonly hits: number[] = [];

  constructor(private readonly opts: PipelineEngineOptions = {}) {}

  /** Parse and install a policy (throws the parser's CTO_FLOW_PARSE error as is); state is fresh. */
  load(src: { text: string; source: string }): void {
    this.loadPolicy(parsePolicy(src.text, src.source));
  }

  /** Use an already parsed policy. */
  loadPolicy(policy: Policy): void {
    this.policy = policy;
    this.hits.length = 0;
    this.reset();
  }

  process(port: number, frame: Uint8Array, now: number): Verdict {
    return this.current().process(frame, port, now);
  }

  processTraced(port: number, frame: Uint8Array, now: number): PipelineResult {
    return this.current().processTraced(frame, port, now);
  }

  /** The flows visited and ct() calls of one packet, without the readable trace. */
  processFlows(port: number, frame: Uint8Array, now: number): PipelineResult {
    return this.current().processFlows(frame, port, now);
  }

  /**
   * Run another policy from now on over the same tracker (its connections, expectations and
   * limit counts stay), as OVS does when its flows change (docs/conntrack-semantics.md §9.8).
   * Validated first (parsed, compiled over a scratch tracker): on error the running policy stays.
   * Per-flow counts not yet taken belong to the old policy's lines and are dropped.
   */
  replacePolicy(src: { text: string; source: string }): void {
    this.replaceParsed(parsePolicy(src.text, src.source));
  }

  /** replacePolicy() of an already parsed policy (offload/controller/engine.ts LiveEngine). */
  replaceParsed(policy: Policy): void {
    this.validate(policy);
    const ct = this.current().conntrack;
    this.policy = policy;
    this.hits.length = 0;
    this.pipeline = new Pipeline(policy, ct, { ...this.opts.pipeline, flowHits: this.hits });
  }

  /**
   * Throws what installing `policy` would throw (unknown timeout policy, bad directive), without
   * touching the running tracker: it is compiled over a scratch one.
   */
  validate(policy: Policy): void {
    new Pipeline(policy, new Conntrack(this.opts.conntrack), this.opts.pipeline);
  }

  /** A fresh tracker (no connections, expectations or limit counts) with the policy's directives. */
  reset(): void {
    if (!this.policy) return;
    this.pipeline = new Pipeline(this.policy, new Conntrack(this.opts.conntrack), { ...this.opts.pipeline, flowHits: this.hits });
  }

  /**
   * Coverage: packets that hit each policy flow (as OVS's n_packets: every table lookup whose
   * match it was, resubmits and recirculations included) since load() or the previous call,
   * by the flow's 1-based line in the policy source; flows not hit are left out. Resets keep
   * counting (the counts belong to the policy, not to the connections).
   */
  takeFlowHits(): Record<number, number> {
    const out: Record<number, number> = {};
    const flows = this.policy?.flows ?? [];
    for (let i = 0; i < this.hits.length; i++) {
      const n = this.hits[i]!;
      if (n > 0 && flows[i]) {
        out[flows[i]!.pos.line] = n;
        this.hits[i] = 0;
      }
    }
    return out;
  }

  get conntrack(): Conntrack | null {
    return this.pipeline?.conntrack ?? null;
  }

  versions(): Record<string, string> {
    return { reference: 'OVS 3.1 userspace conntrack semantics' };
  }

  private current(): Pipeline {
    if (!this.pipeline) throw new CtoffloadError('CTO_PIPELINE_STATE', 'PipelineEngine: process() before load()');
    return this.pipeline;
  }
}
