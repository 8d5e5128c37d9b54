/**
 * The runner with a target that has sendBatch (bmv2's speculative rounds): batches are used,
 * results are exactly those of packet-by-packet sending (same counterexample, path and failing
 * packet), a failing batch is a target-error naming the packets sent together, and the state
 * snapshot re-run goes packet by packet.
 */
import { describe, expect, it } from 'vitest';
import type { Verdict } from '../../../model/verdict.js';
import { renderScenarioDetailed, scenarioArb } from '../../../harness/arbitraries/index.js';
import fc from 'fast-check';
import { runConformance, runTrace, Side } from '../../../harness/runner/index.js';
import type { SendStep } from '../../../harness/targets/target.js';
import { DefectTarget, estAfterRstBecomesNew, modelTarget, POLICY, type Defect } from './fake-target.js';

class BatchingTarget extends DefectTarget {
  batches: number[] = [];
  failBatches = false;

  constructor(defect: Defect) {
    super(DefectTarget.model(defect), (_s, v) => v, 'batching');
  }

  async sendBatch(steps: readonly SendStep[]): Promise<Verdict[]> {
    this.batches.push(steps.length);
    if (this.failBatches) throw new Error('switch went away');
    const out: Verdict[] = [];
    for (const s of steps) out.push(await this.send(s));
    return out;
  }
}

describe('runner with a batching target', () => {
  it('finds and shrinks the same counterexample as packet-by-packet sending, through batches', async () => {
    const made: BatchingTarget[] = [];
    const batching = async (): Promise<BatchingTarget> => {
      const t = new BatchingTarget(estAfterRstBecomesNew);
      made.push(t);
      return t;
    };
    const opts = { policy: POLICY, reference: modelTarget, runs: 150, seed: 42 } as const;
    const [plain, batched] = await Promise.all([
      runConformance({ ...opts, target: async () => DefectTarget.model(estAfterRstBecomesNew) }),
      runConformance({ ...opts, target: batching }),
    ]);
    expect(batched.status).toBe('failed');
    const a = plain.counterexample!;
    const b = batched.counterexample!;
    expect(b.path).toBe(a.path);
    expect(b.failingStep).toBe(a.failingStep);
    expect(b.packets).toEqual(a.packets);
    expect(batched.counts.traces).toBe(plain.counts.traces);
    const sizes = made.flatMap((t) => t.batches);
    expect(sizes.length).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4096);
    // the state snapshot re-run went one packet at a time, and recorded the model's side
    expect(b.state!.step).toBe(b.failingStep);
    expect(b.state!.target.note).toBe('batching cannot report its state');
  });

  it('a failing batch is a target-error naming the packets sent together; the trace still ends', async () => {
    const [sc] = fc.sample(scenarioArb({ flows: { min: 2, max: 2 }, events: { min: 2, max: 4 } }), { numRuns: 1, seed: 5 });
    const rendered = renderScenarioDetailed(sc!);
    expect(rendered.trace.length).toBeGreaterThan(3);
    const ref = new Side('reference', modelTarget, POLICY, 10_000);
    const tgt = new Side('target', async () => Object.assign(new BatchingTarget((_s, v) => v), { failBatches: true }), POLICY, 10_000);
    const out = await runTrace(ref, tgt, rendered, { exceptions: [], packetTimeoutMs: 5000, label: 'trace 0', batch: 3 });
    expect(out.status).toBe('fail');
    expect(out.targetError).toBe(true);
    expect(out.failingStep).toBe(0);
    const d = out.packets[0]!.differences[0]!;
    expect(d.kind).toBe('target-error');
    expect(d.message).toContain('packets 0–2 (sent together');
    expect(d.message).toContain('switch went away');
    await Promise.all([ref.close(), tgt.close()]);
  });

  it('batch: 1 and snapshotBefore send one packet at a time', async () => {
    const [sc] = fc.sample(scenarioArb({ flows: { min: 2, max: 2 }, events: { min: 2, max: 4 } }), { numRuns: 1, seed: 6 });
    const rendered = renderScenarioDetailed(sc!);
    for (const o of [{ batch: 1 }, { snapshotBefore: 2 }]) {
      const t = new BatchingTarget((_s, v) => v);
      const ref = new Side('reference', modelTarget, POLICY, 10_000);
      const tgt = new Side('target', async () => t, POLICY, 10_000);
      const out = await runTrace(ref, tgt, rendered, { exceptions: [], packetTimeoutMs: 5000, label: 'trace 0', ...o });
      expect(out.status).toBe('pass');
      expect(t.batches).toEqual([]);
      expect(t.sends).toBe(rendered.trace.length);
      if ('snapshotBefore' in o) expect(out.snapshot!.reference.sections[0]!.title).toContain('conntrack (model');
      await Promise.all([ref.close(), tgt.close()]);
    }
  });
});
