/**
 * The generator against the oracle: realistic TCP and FTP sessions (no deliberate anomaly,
 * no corruption, short gaps, one flow at a time) must never be `inv` in OVS 3.1's tracker,
 * i.e. they are in-window by construction as docs/conntrack-semantics.md §4.4 judges windows.
 *
 * Simultaneous open is the one realistic exchange OVS may call invalid: the responder's pure
 * SYN is "valid-new" (§4.4 step 1) and leaves its seqlo at 0, so the originator's SYN-ACK has
 * ackskew = 0 − ack, which fails test (c) unless the responder's ISN is below 67035. The
 * generator keeps producing it (it is what the issue asks for and a good differential case);
 * this suite pins the observation and leaves those scenarios out of the "never inv" check.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeScenario, renderScenarioDetailed, scenarioArb, type Scenario, type TcpEvent } from '../../../harness/arbitraries/index.js';
import { OvsTarget } from '../../../harness/targets/ovs/target.js';
import { CS_INVALID, formatCtState } from '../../../model/ctstate.js';

/** A SYN from one side answered by a SYN from the other before anything else. */
function hasSimultaneousOpen(s: Scenario): boolean {
  return s.flows.some((f) => {
    let synDir: string | null = null;
    for (const e of f.events as TcpEvent[]) {
      if (e.kind === 'syn' && synDir !== null && e.dir !== synDir && !e.bad) return true;
      synDir = e.kind === 'syn' ? e.dir : e.kind === 'retransmit' ? synDir : null;
    }
    return false;
  });
}
import { describeWithTools, OVS_TOOL } from '../../support/tools.js';

const POLICY = `
table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=0,priority=10,ipv6,actions=ct(table=1,zone=5)
table=0,priority=0,actions=drop
table=1,priority=10,ip,in_port=1,actions=ct(commit,zone=5),output:2
table=1,priority=10,ipv6,in_port=1,actions=ct(commit,zone=5),output:2
table=1,priority=10,ip,in_port=2,actions=ct(commit,zone=5),output:1
table=1,priority=10,ipv6,in_port=2,actions=ct(commit,zone=5),output:1
table=1,priority=0,actions=drop
`;

describeWithTools('generated TCP sessions through OVS 3.1', [OVS_TOOL], () => {
  let t: OvsTarget;
  beforeAll(async () => {
    t = await OvsTarget.create();
    await t.load({ text: POLICY, source: 'realism.flows' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('realistic sessions (with retransmissions and reordering) are never invalid', async () => {
    const arb = scenarioArb({
      include: { udp: false, icmp: false, tftp: false, icmpErrors: false, malformed: false },
      flows: { min: 1, max: 1 },
      events: { min: 0, max: 5 },
      longGapRate: 0,
      outsideOrigin: 0,
    });
    let packets = 0;
    const failures: string[] = [];
    for (const g of fc.sample(arb, { seed: Number(process.env.CTO_SEED ?? 4242), numRuns: Number(process.env.CTO_RUNS ?? 40) })) {
      // Keep the benign anomalies (retransmission, reordering); drop the deliberately invalid ones.
      const s: Scenario = { ...g, flows: g.flows.map((f) => ({ ...f, events: (f.events as TcpEvent[]).filter((e) => e.kind !== 'oow' && !(e.kind === 'rst' && e.seqDelta !== 0)) }) as typeof f) };
      if (hasSimultaneousOpen(s)) continue;
      await t.reset();
      const r = renderScenarioDetailed(s);
      const seen: string[] = [];
      for (let k = 0; k < r.trace.length; k++) {
        const v = await t.send(r.trace[k]!);
        const st = v.lookups[0]?.state ?? 0;
        seen.push(`${r.steps[k]!.label} → ${formatCtState(st)}`);
        packets++;
        if (st & CS_INVALID) {
          failures.push(`OVS called a realistic packet invalid:\n${seen.join('\n')}\n${describeScenario(s)}`);
          break;
        }
      }
    }
    expect(failures, failures.join('\n\n')).toEqual([]);
    expect(packets).toBeGreaterThan(200);
  });

  it('simultaneous open: the originator SYN-ACK is est or inv depending on the responder ISN [obs]', async () => {
    const simOpen = (serverIsn: number): Scenario => ({
      v: 1,
      ports: { inside: [1], outside: [2] },
      flows: [
        {
          proto: 'tcp', family: 4, pair: 0, origin: 'inside', client: 0, server: 0, start: 0, sport: 40000, dport: 80,
          tcp: { isn: [1000, serverIsn], win: [65535, 65535], wscale: [null, null], mss: [null, null], sackOk: [false, false] },
          events: [
            { gap: 1, dir: 'orig', kind: 'syn' },
            { gap: 1, dir: 'reply', kind: 'syn' },
            { gap: 1, dir: 'orig', kind: 'synack' },
          ],
        },
      ],
    });
    const states = async (s: Scenario): Promise<string[]> => {
      await t.reset();
      const out: string[] = [];
      for (const st of renderScenarioDetailed(s).trace) out.push(formatCtState((await t.send(st)).lookups[0]?.state ?? 0));
      return out;
    };
    expect(await states(simOpen(5000))).toEqual(['new|trk', 'new|trk', 'est|trk']);
    expect(await states(simOpen(5_000_000))).toEqual(['new|trk', 'new|trk', 'inv|trk']);
  });
});
