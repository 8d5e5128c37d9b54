/**
 * Part b of the observation/production equality (formulation: test/offload/observation-equality.ts):
 * the other half of the compile matrix, the bmv2 target suites' policy, and two observation
 * builds broken on purpose that the check must reject.
 */
import { expect, it } from 'vitest';
import { describeWithTools, P4C_TOOL } from '../support/tools.js';
import { matrixPart } from './matrix-policies.js';
import { compareBuilds, equalitySuite, fromMatrix, fromText } from './observation-suite.js';
import { compileOffload } from '../../offload/generate.js';

const TARGET_POLICY = `table=0,priority=10,ip,actions=ct(zone=1,table=1)
table=0,priority=10,ipv6,actions=ct(zone=1,table=1)
table=0,priority=0,actions=drop
table=1,priority=10,in_port=1,ip,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=10,in_port=1,ipv6,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=10,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=8,ct_state=+trk+rel,actions=output:1
table=1,priority=5,ct_state=+trk+inv,actions=controller
table=1,priority=0,actions=drop
`;

describeWithTools('observation build = production build but for observation (p4c, part b)', [P4C_TOOL], () => {
  equalitySuite([...matrixPart(1, 2).map(fromMatrix), fromText('bmv2-target.flows (the bmv2 target suites)', TARGET_POLICY)]);

  it('rejects observation builds that are not: production state read from observation, or steered by it', async () => {
    const probe = compileOffload(TARGET_POLICY, 'bmv2-target.flows', { probe: true }).p4;
    const prod = compileOffload(TARGET_POLICY, 'bmv2-target.flows', { probe: false }).p4;
    const record = 'hdr.lookups[0].table_id = meta.table_id;';
    const drop = 'if (hdr.probe.isValid() && (hdr.probe.flags & 0x08) != 0) {';
    expect(probe).toContain(record);
    expect(probe).toContain(drop);
    // 1. a production field written from observation state
    const reads = await compareBuilds(probe.replace(record, `${record}\n meta.out_port = (bit<9>)meta.obs.lookups;`), prod);
    expect(reads.ok).toBe(false);
    // 2. observation state deciding a drop (no longer "probe invalid ⇒ the production branch")
    const steers = await compareBuilds(probe.replace(drop, 'if (meta.obs.lookups == 1) {'), prod);
    expect(steers.ok).toBe(false);
    expect(steers.problems.join('\n')).toMatch(/observation state steers production code|differs|vs/);
  }, 240_000);
});
