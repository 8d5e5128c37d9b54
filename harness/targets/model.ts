/**
 * The model as a Target: the in-process reference (model/pipeline + model/conntrack) behind
 * the same interface as OVS and bmv2, so one runner and one comparator serve all three.
 *
 * model/pipeline and model/conntrack were still being written when this file was; the target
 * therefore takes a small `ModelEngine` (load a policy, process one packet at a virtual time,
 * drop all conntrack state) and wiring the real Pipeline + Conntrack is an adapter of a few
 * lines. What this class adds is the Target contract shared with OvsTarget: trace time is
 * monotonic between resets, reset() brings trace time back to 0 with an empty tracker, and
 * send() before a successful load() is an error.
 */
import { CtoffloadError } from '../../model/errors.js';
import type { Verdict } from '../../model/verdict.js';
import { formatConnection, type Conntrack } from '../../model/conntrack/index.js';
import { natChooserFromOutputs } from './nat-choice.js';
import type { EntryHits, PolicySource, SendStep, Target, TargetState } from './target.js';

export interface ModelEngine {
  /** Parse and install a policy (throws the parser's CTO_FLOW_PARSE error as is). */
  load(policy: PolicySource): void;
  /** One packet at virtual time `now` (ms since the last reset). */
  process(port: number, frame: Uint8Array, now: number): Verdict;
  /**
   * Run another policy from now on, every connection kept (model/pipeline/engine.ts
   * replacePolicy); throws before changing anything when the policy is invalid.
   */
  replacePolicy?(policy: PolicySource): void;
  /** Remove every connection, expectation and limit count. */
  reset(): void;
  versions?(): Record<string, string>;
  /** Packets per policy flow line since load or the previous call (PipelineEngine.takeFlowHits). */
  takeFlowHits?(): Record<number, number>;
  /** The tracker behind it, when it has one (state snapshots). */
  readonly conntrack?: Conntrack | null;
}

export class ModelTargetError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_MODEL_STATE', message);
  }
}

export class ModelTarget implements Target {
  readonly name = 'model';
  private loaded = false;
  private closed = false;
  private prevTime = 0;

  constructor(private readonly engine: ModelEngine) {}

  async load(policy: PolicySource): Promise<void> {
    this.check();
    this.loaded = false;
    this.engine.load(policy);
    this.engine.reset();
    this.prevTime = 0;
    this.loaded = true;
  }

  /** The policy changes at the current trace time; connections and the clock stay (Target.replacePolicy). */
  async replacePolicy(policy: PolicySource): Promise<void> {
    this.check();
    if (!this.loaded) throw new ModelTargetError('replacePolicy() before a successful load()');
    if (!this.engine.replacePolicy) throw new ModelTargetError('this model engine cannot replace its policy');
    this.engine.replacePolicy(policy);
  }

  async send(step: SendStep): Promise<Verdict> {
    return this.sendNow(step);
  }

  private sendNow(step: SendStep): Verdict {
    this.check();
    if (!this.loaded) throw new ModelTargetError('send() before a successful load()');
    if (!Number.isFinite(step.time) || step.time < this.prevTime) {
      throw new ModelTargetError(`trace time ${step.time} ms is before the previous ${this.prevTime} ms (call reset())`);
    }
    this.prevTime = step.time;
    return this.engine.process(step.port, step.frame, step.time);
  }

  /** The tracker's live connections at `time` (when the engine exposes its tracker). */
  async snapshot(time = this.prevTime): Promise<TargetState> {
    this.check();
    if (!Number.isFinite(time) || time < this.prevTime) throw new ModelTargetError(`snapshot at ${time} ms is before the last packet's ${this.prevTime} ms`);
    const ct = this.engine.conntrack;
    if (!ct) return { sections: [] };
    const lines = [...ct.connections(time)].map(formatConnection);
    return { sections: [{ title: `conntrack (model, t=${time} ms): ${lines.length} connection(s)`, lines }] };
  }

  /** send() for each step in order, in one call (the runner's batches: no promise per packet). */
  async sendBatch(steps: readonly SendStep[]): Promise<Verdict[]> {
    const out: Verdict[] = [];
    for (const s of steps) out.push(this.sendNow(s));
    return out;
  }

  /**
   * Take the target's NAT translations for the next packet (./nat-choice.ts). Only a policy with
   * a NAT action ever asks; the chooser is replaced before every packet so a choice never leaks
   * into another packet.
   */
  adoptChoices(observed: Verdict): void {
    const ct = this.engine.conntrack;
    if (ct) ct.natChooser = natChooserFromOutputs(observed.outputs);
  }

  /** The engine's per-flow counts (the pipeline's n_packets observer); null when it keeps none. */
  async takeEntryHits(): Promise<EntryHits | null> {
    this.check();
    const flows = this.engine.takeFlowHits?.();
    return flows ? { flows, source: 'model flow lookups' } : null;
  }

  async reset(): Promise<void> {
    this.check();
    this.engine.reset();
    this.prevTime = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  async versions(): Promise<Record<string, string>> {
    return { model: 'ctoffload', ...(this.engine.versions?.() ?? {}) };
  }

  private check(): void {
    if (this.closed) throw new ModelTargetError('model target used after close()');
  }
}
