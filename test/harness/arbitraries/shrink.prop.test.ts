/**
 * Shrinking produces minimal traces: failures shrink to a handful of frames, gaps shrink to the
 * exact timeout boundary, every shrink candidate renders, and seed + path replay a failure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeScenario, renderScenario, renderScenarioDetailed, scenarioArb, traceArb, type Scenario, type TrafficOptions } from '../../../harness/arbitraries/index.js';
import { CT_OK, IPPROTO_TCP, PacketView, TCP_RST } from '../../../model/packet/view.js';

const view = new PacketView();

/** The property under test fails when a TCP RST follows three data-carrying TCP frames. */
function rstAfterThreeData(trace: { frame: Uint8Array }[]): boolean {
  let data = 0;
  for (const st of trace) {
    view.parse(st.frame);
    if (view.ctStatus !== CT_OK || view.ipProto !== IPPROTO_TCP) continue;
    if ((view.tcpFlags & TCP_RST) !== 0 && data >= 3) return false;
    if (view.payloadLen > 0) data++;
  }
  return true;
}

const OPTS: TrafficOptions = { ports: { inside: [1, 3], outside: [2, 4] }, events: { min: 2, max: 8 } };

describe('shrinking', () => {
  it('a trace failing on "RST after 3 data packets" shrinks to a minimal one', () => {
    const out = fc.check(
      fc.property(scenarioArb(OPTS), (s) => rstAfterThreeData(renderScenario(s))),
      { seed: 20261128, numRuns: 500 },
    );
    expect(out.failed).toBe(true);
    const s = out.counterexample![0];
    const trace = renderScenario(s);
    // Minimal: three data frames and the RST (a reorder event gives two of the data frames at once).
    expect(trace.length, describeScenario(s, { rendered: true })).toBeLessThanOrEqual(4);
    expect(s.flows).toHaveLength(1);
    expect(rstAfterThreeData(trace)).toBe(false);
    expect(out.numShrinks).toBeGreaterThan(0);
    if (process.env.CTO_SHOW_SHRUNK) console.log(describeScenario(s, { rendered: true }));

    // Seed + path replay the same counterexample (docs/style.md §3).
    const again = fc.check(
      fc.property(scenarioArb(OPTS), (x) => rstAfterThreeData(renderScenario(x))),
      { seed: out.seed, path: out.counterexamplePath!, numRuns: 500 },
    );
    expect(again.failed).toBe(true);
    expect(again.counterexample![0]).toEqual(s);
  });

  it('the same failure found through traceArb also shrinks to a minimal trace', () => {
    const out = fc.check(fc.property(traceArb(OPTS), (t) => rstAfterThreeData(t)), { seed: 7, numRuns: 500 });
    expect(out.failed).toBe(true);
    expect(out.counterexample![0].length).toBeLessThanOrEqual(4);
  });

  it('a gap failure shrinks to the exact timeout boundary', () => {
    // Fails when two consecutive frames are ≥ 45 s apart: the minimum is exactly 45 000 ms.
    const arb = scenarioArb({ include: { tcp: false, ftp: false, tftp: false, icmp: false, malformed: false, icmpErrors: false }, longGapRate: 0.3, jitter: 500 });
    const out = fc.check(
      fc.property(arb, (s) => {
        const t = renderScenario(s);
        for (let k = 1; k < t.length; k++) if (t[k]!.time - t[k - 1]!.time >= 45_000) return false;
        return true;
      }),
      { seed: 3, numRuns: 300 },
    );
    expect(out.failed).toBe(true);
    const t = renderScenario(out.counterexample![0]);
    expect(t).toHaveLength(2);
    expect(t[1]!.time - t[0]!.time).toBe(45_000);
    expect(t[0]!.time).toBe(0);
  });

  it('every shrink candidate (three levels deep) renders frames with their intended status', () => {
    const arb = scenarioArb({ ports: { inside: [1, 3], outside: [2, 4] } });
    let candidates = 0;
    const check = (s: Scenario): void => {
      const r = renderScenarioDetailed(s);
      r.trace.forEach((st, k) => {
        if (view.parse(st.frame).ctStatus !== r.steps[k]!.ctStatus) throw new Error(`${r.steps[k]!.label}\n${describeScenario(s)}`);
      });
      candidates++;
    };
    for (const s of fc.sample(arb, { seed: 11, numRuns: 6 })) {
      let level: Scenario[] = [s];
      for (let depth = 0; depth < 3; depth++) {
        const next: Scenario[] = [];
        for (const x of level) {
          let n = 0;
          for (const c of arb.shrink(x, undefined)) {
            check(c.value);
            if (n++ % 13 === 0) next.push(c.value);
            if (n > 30) break;
          }
        }
        level = next.slice(0, 4);
      }
    }
    expect(candidates).toBeGreaterThan(150);
  });

  it('a scenario read back from JSON can be shrunk without context', () => {
    const arb = scenarioArb();
    const [s] = fc.sample(arb, { seed: 5, numRuns: 1 });
    const back = JSON.parse(JSON.stringify(s)) as unknown;
    expect(arb.canShrinkWithoutContext(back)).toBe(true);
    expect(arb.canShrinkWithoutContext({ v: 2, flows: [] })).toBe(false);
    const first = [...arb.shrink(back as Scenario, undefined).take(1)];
    expect(first).toHaveLength(1);
  });
});
