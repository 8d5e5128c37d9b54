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

  constructor(private readonly opts: PipelineEngineOptions = {}) {}

  /** Parse and install a policy (throws the parser's CTO_FLOW_PARSE error as is); state is fresh. */
  load(src: { text: string; source: string }): void {
    this.policy = parsePolicy(src.text, src.source);
    this.reset();
  }

  /** Use an already parsed policy. */
  loadPolicy(policy: Policy): void {
    this.policy = policy;
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

  /** A fresh tracker (no connections, expectations or limit counts) with the policy's directives. */
  reset(): void {
    if (!this.policy) return;
    this.pipeline = new Pipeline(this.policy, new Conntrack(this.opts.conntrack), this.opts.pipeline);
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
