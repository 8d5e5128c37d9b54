/**
 * Test targets with a known, injected defect: a wrapper around the model target that changes
 * its Verdicts in one precise situation, so the runner's search, shrinking and replay can be
 * checked against a defect whose minimal trigger is known.
 */
import { CS_ESTABLISHED, CS_NEW } from '../../../model/ctstate.js';
import type { Verdict } from '../../../model/verdict.js';
import { PipelineEngine } from '../../../model/pipeline/index.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import type { PolicySource, SendStep, Target } from '../../../harness/targets/target.js';

/** TCP flags of an Ethernet/IPv4|IPv6 frame without extension headers, or -1. */
export function tcpFlags(f: Uint8Array): number {
  const type = (f[12]! << 8) | f[13]!;
  if (type === 0x0800 && f.length >= 34 && f[23] === 6) {
    const ihl = (f[14]! & 0x0f) * 4;
    return f.length >= 14 + ihl + 14 ? f[14 + ihl + 13]! : -1;
  }
  if (type === 0x86dd && f.length >= 54 + 14 && f[20] === 6) return f[54 + 13]!;
  return -1;
}

export const TCP_RST = 0x04;

export type Defect = (step: SendStep, v: Verdict, seen: SendStep[]) => Verdict;

/** After any TCP RST in the trace, an `est` lookup is reported as `new` (est bit → new bit). */
export const estAfterRstBecomesNew: Defect = (step, v, seen) => {
  if (!seen.some((s) => s !== step && tcpFlags(s.frame) >= 0 && (tcpFlags(s.frame) & TCP_RST) !== 0)) return v;
  return {
    outputs: v.outputs,
    lookups: v.lookups.map((l) => ((l.state & CS_ESTABLISHED) !== 0 ? { ...l, state: (l.state & ~CS_ESTABLISHED) | CS_NEW } : l)),
  };
};

export class DefectTarget implements Target {
  readonly name: string;
  private seen: SendStep[] = [];
  sends = 0;
  /** Milliseconds to stall on the k-th send (tests of deadlines); -1 = never. */
  hangOn = -1;

  constructor(private readonly inner: Target, private readonly defect: Defect, name = 'fake') {
    this.name = name;
  }

  static model(defect: Defect, name = 'fake'): DefectTarget {
    return new DefectTarget(new ModelTarget(new PipelineEngine()), defect, name);
  }

  async load(p: PolicySource): Promise<void> {
    this.seen = [];
    await this.inner.load(p);
  }

  async send(step: SendStep): Promise<Verdict> {
    this.sends++;
    if (this.hangOn >= 0 && this.sends === this.hangOn) await new Promise(() => {});
    this.seen.push(step);
    return this.defect(step, await this.inner.send(step), this.seen);
  }

  async reset(): Promise<void> {
    this.seen = [];
    await this.inner.reset();
  }

  async close(): Promise<void> {
    await this.inner.close();
  }

  async versions(): Promise<Record<string, string>> {
    return { fake: 'defect-injecting model wrapper' };
  }
}

export const modelTarget = async (): Promise<Target> => new ModelTarget(new PipelineEngine());

/** §9.3-style policy: table 1 sees every lookup; both directions commit and pass. */
export const POLICY = {
  source: 'test.flows',
  text: `table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=0,priority=10,ipv6,actions=ct(table=1,zone=5)
table=0,priority=0,actions=drop
table=1,priority=10,ip,in_port=1,actions=ct(commit,zone=5),output:2
table=1,priority=10,ipv6,in_port=1,actions=ct(commit,zone=5),output:2
table=1,priority=10,ip,in_port=2,actions=ct(commit,zone=5),output:1
table=1,priority=10,ipv6,in_port=2,actions=ct(commit,zone=5),output:1
table=1,priority=0,actions=drop
`,
};
