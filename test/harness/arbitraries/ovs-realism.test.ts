/**
 * The generator against the oracle: realistic TCP and FTP sessions (no deliberate anomaly,
 * no corruption, short gaps, one flow at a time) must never be `inv` in OVS 3.1's tracker,
 * i.e. they are in-window by construction as conntrack-semantics.md §4.4 judges windows.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeScenario, renderScenarioDetailed, scenarioArb } from '../../../harness/arbitraries/index.js';
import { OvsTarget } from '../../../harness/targets/ovs/target.js';
import { CS_INVALID, formatCtState } from '../../../model/ctstate.js';
import { describeWithTools } from '../../support/tools.js';

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

describeWithTools('generated TCP sessions through OVS 3.1', [{ cmd: 'ovs-vswitchd', install: 'apt-get install openvswitch-switch' }], () => {
  let t: OvsTarget;
  beforeAll(async () => {
    t = await OvsTarget.create();
    await t.load({ text: POLICY, source: 'realism.flows' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('realistic sessions are never invalid, and are established after the first packet', async () => {
    const arb = scenarioArb({
      include: { udp: false, icmp: false, tftp: false, icmpErrors: false, malformed: false, tcpAnomalies: false },
      flows: { min: 1, max: 1 },
      events: { min: 0, max: 5 },
      longGapRate: 0,
      outsideOrigin: 0,
    });
    let packets = 0;
    for (const s of fc.sample(arb, { seed: 4242, numRuns: 25 })) {
      await t.reset();
      const r = renderScenarioDetailed(s);
      const seen: string[] = [];
      for (let k = 0; k < r.trace.length; k++) {
        const v = await t.send(r.trace[k]!);
        const st = v.lookups[0]?.state ?? 0;
        seen.push(`${r.steps[k]!.label} → ${formatCtState(st)}`);
        if (st & CS_INVALID) expect.fail(`OVS called a realistic packet invalid:\n${seen.join('\n')}\n${describeScenario(s)}`);
        packets++;
      }
    }
    expect(packets).toBeGreaterThan(200);
  });
});
