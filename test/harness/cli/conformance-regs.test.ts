/**
 * The generated-policy examples (registers, zones from a register, conjunctions, ct_mark
 * blocking; docs/policy-language.md) end to end: `ctoffload conformance` against bmv2 (the
 * offload punts them with their own reasons, REGISTERS first) and against OVS 3.1.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { main } from '../../../harness/cli/main.js';
import { describeWithTools, BMV2_TOOL, OVS_TOOL, P4C_TOOL } from '../../support/tools.js';

const ex = (f: string): string => fileURLToPath(new URL(`../../../examples/${f}`, import.meta.url));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

interface Summary {
  status: string;
  packets: number;
  disagreements: number;
  offloadRatio?: number;
  targetCounters?: Record<string, number>;
}

/** Register and metadata matches on the hardware path: keys on metadata the program zeroes. */
const HW_REGS = `table=0,priority=10,ip,actions=ct(zone=3,table=1)
table=0,priority=0,actions=drop
table=1,priority=10,ct_state=+trk+new,in_port=1,reg6=0,ip,actions=ct(commit,zone=3),output:2
table=1,priority=10,ct_state=+trk+est,reg6=0,metadata=0,in_port=1,actions=output:2
table=1,priority=10,ct_state=+trk+est,reg6=0,in_port=2,actions=output:1
table=1,priority=20,reg6=0x5,actions=output:3
table=1,priority=0,actions=drop
`;

describeWithTools('conformance of the Neutron example against bmv2', [BMV2_TOOL, P4C_TOOL], () => {
  it('agrees with the model; register flows are punted as REGISTERS', async () => {
    const r = await run('conformance', '--target', 'bmv2', '--policy', ex('neutron-sg.flows'), '--traffic', ex('neutron-sg.traffic.json'), '--seed', '1', '--runs', '20', '--json');
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out) as Summary;
    expect(s.status).toBe('passed');
    expect(s.disagreements).toBe(0);
    expect(s.packets).toBeGreaterThan(200);
    expect(s.targetCounters).toMatchObject({ steps: s.packets, strayOutputs: 0, strayPacketIns: 0 });
    expect(s.targetCounters!['punt REGISTERS']).toBeGreaterThan(100);
  }, 300_000);

  it('register and metadata matches are decided in hardware (keys on zeroed metadata) and agree', async () => {
    const f = join(mkdtempSync(join(tmpdir(), 'cto-regs-')), 'hw-regs.flows');
    writeFileSync(f, HW_REGS);
    const r = await run('conformance', '--target', 'bmv2', '--policy', f, '--seed', '1', '--runs', '10', '--json');
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out) as Summary;
    expect(s.status).toBe('passed');
    expect(s.disagreements).toBe(0);
    expect(s.targetCounters!.hardwareOutputs).toBeGreaterThan(10);
    expect(s.offloadRatio).toBeGreaterThan(0.2);
  }, 300_000);
});

describeWithTools('conformance of the Neutron and OVN examples against OVS 3.1', [OVS_TOOL], () => {
  for (const name of ['neutron-sg', 'ovn-acl']) {
    it(`${name}: agrees with the model`, async () => {
      const r = await run('conformance', '--target', 'ovs', '--policy', ex(`${name}.flows`), '--traffic', ex(`${name}.traffic.json`), '--seed', '2', '--runs', '20', '--json');
      expect(r.code, r.err).toBe(0);
      const s = JSON.parse(r.out) as Summary;
      expect(s.status).toBe('passed');
      expect(s.disagreements).toBe(0);
      expect(s.packets).toBeGreaterThan(200);
    }, 300_000);
  }
});
