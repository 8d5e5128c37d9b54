/**
 * A counterexample against bmv2 carries the hardware's table state just before the failing
 * packet (read back over P4Runtime) next to the reference's connections: with the selftest's
 * "stale entries kept after expiry" defect, the hardware table still holds an entry of a
 * connection that neither the reference nor the controller's model has any more.
 */
import { expect, it } from 'vitest';
import { PipelineEngine } from '../../../model/pipeline/engine.js';
import { runConformance } from '../../../harness/runner/index.js';
import { SELFTEST_POLICY, SELFTEST_TRAFFIC, faultDecorators } from '../../../harness/selftest/index.js';
import { createBmv2Target } from '../../../harness/targets/bmv2/index.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import { summaryText } from '../../../harness/cli/conformance.js';
import { describeWithTools, BMV2_TOOL, P4C_TOOL } from '../../support/tools.js';

describeWithTools('bmv2 counterexample state (hardware tables + models)', [BMV2_TOOL, P4C_TOOL], () => {
  it('shows the stale hardware entry the defect left behind, before the failing packet', async () => {
    const r = await runConformance({
      policy: SELFTEST_POLICY,
      reference: async () => new ModelTarget(new PipelineEngine()),
      target: () => createBmv2Target({ decorators: faultDecorators('keepStaleEntries') }),
      traffic: SELFTEST_TRAFFIC.keepStaleEntries,
      runs: 30,
      seed: 1,
    });
    expect(r.status).toBe('failed');
    const cx = r.counterexample!;
    const st = cx.state!;
    expect(st.note).toBeUndefined(); // the re-run failed at the same packet
    expect(st.step).toBe(cx.failingStep);
    expect(st.reference.name).toBe('model');
    expect(st.target.name).toBe('bmv2');
    const hw = st.target.sections.filter((s) => s.title.startsWith('hardware table CtIngress.'));
    expect(hw.length).toBeGreaterThan(0);
    const entries = hw.flatMap((s) => s.lines);
    // the stale entry: installed in hardware, while the controller's model has expired it
    expect(entries.length).toBeGreaterThan(0);
    for (const l of entries) expect(l).toMatch(/ → CtIngress\.\w+\(.*\)/);
    // at the failing packet's time the connection has expired in the reference and in the
    // controller's model (clocks advanced to it), yet its entries are still in hardware
    const t = cx.packets[cx.failingStep]!.time;
    const slow = st.target.sections.find((s) => s.title.startsWith('slow-path controller model'))!;
    expect(slow.title).toContain(`t=${t} ms`);
    expect(slow.lines).toEqual([]);
    const ref = st.reference.sections[0]!;
    expect(ref.title).toBe(`conntrack (model, t=${t} ms): 0 connection(s)`);
    // the CLI's text summary prints it
    const text = summaryText(r);
    expect(text).toContain(`state just before packet ${cx.failingStep}:`);
    expect(text).toContain(hw[0]!.title);
  }, 180_000);
});
