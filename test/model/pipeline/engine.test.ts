import { describe, expect, expectTypeOf, it } from 'vitest';
import { ModelTarget } from '../../../harness/targets/model.js';
import type { PolicyConfig } from '../../../harness/targets/ovs/rewrite.js';
import { FlowParseError } from '../../../model/errors.js';
import { buildFrame } from '../../../model/packet/build.js';
import { type Policy, PipelineEngine, parsePolicy } from '../../../model/pipeline/index.js';

const FW = `
timeout_policy t udp_first=1
zone_limit default=10
table=0,ip,actions=ct(table=1,zone=2)
table=1,ip,in_port=1,ct_state=+new,actions=ct(commit,zone=2,timeout=t),output:2
table=1,ip,ct_state=+est,actions=output:1
`;
const ab = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 2 } });
const ba = buildFrame({ ip: { src: '10.0.0.2', dst: '10.0.0.1' }, udp: { sport: 2, dport: 1 } });

describe('PipelineEngine as the model Target engine', () => {
  it('drives ModelTarget: load, send, reset', async () => {
    const t = new ModelTarget(new PipelineEngine());
    await t.load({ text: FW, source: 'fw.flows' });
    expect((await t.send({ time: 0, port: 1, frame: ab })).outputs.map((o) => o.port)).toEqual([2]);
    expect((await t.send({ time: 500, port: 2, frame: ba })).outputs.map((o) => o.port)).toEqual([1]);
    await t.reset();
    expect((await t.send({ time: 0, port: 2, frame: ba })).outputs).toEqual([]);
    await expect(t.load({ text: 'ip,actions=bogus', source: 'bad.flows' })).rejects.toBeInstanceOf(FlowParseError);
  });

  it('a parsed Policy is the OVS target PolicyConfig (same directive fields)', () => {
    const p = parsePolicy(FW, 'fw.flows');
    expectTypeOf<Policy>().toMatchTypeOf<PolicyConfig>();
    const cfg: PolicyConfig = p;
    expect(cfg.timeoutPolicies.get('t')).toEqual({ udp_first: 1 });
    expect(cfg.defaultLimit).toBe(10);
    expect([...cfg.directiveLines!].sort()).toEqual([2, 3]);
  });
});
