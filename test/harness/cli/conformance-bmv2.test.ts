/** `ctoffload conformance --target bmv2` end to end through main(), generated and --artifacts. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { main } from '../../../harness/cli/main.js';
import { describeWithTools, BMV2_TOOL, P4C_TOOL } from '../../support/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'cto-conf-bmv2-'));
const POLICY = join(dir, 'fw.flows');
writeFileSync(
  POLICY,
  `table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=0,priority=0,actions=drop
table=1,priority=10,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=5),output:2
table=1,priority=10,ct_state=+trk+est,in_port=1,actions=output:2
table=1,priority=10,ct_state=+trk+est,in_port=2,actions=output:1
table=1,priority=0,actions=drop
`,
);

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

describeWithTools(
  'ctoffload conformance --target bmv2 (real simple_switch_grpc + p4c)',
  [
    BMV2_TOOL,
    P4C_TOOL,
  ],
  () => {
    it('agrees with the model on generated traffic, from a generated program and from --artifacts', async () => {
      const g = await run('conformance', '--target', 'bmv2', '--policy', POLICY, '--seed', '3', '--runs', '8', '--json');
      expect(g.code, g.err).toBe(0);
      const s = JSON.parse(g.out) as { status: string; packets: number; disagreements: number; targetCounters: Record<string, number> };
      expect(s.status).toBe('passed');
      expect(s.packets).toBeGreaterThan(50);
      expect(s.disagreements).toBe(0);
      // the target's own counters: every packet a step, nothing unattributed or left over
      expect(s.targetCounters).toMatchObject({ steps: s.packets, strayOutputs: 0, strayPacketIns: 0, resetLeftovers: 0 });

      // artifacts must be an observation build: a production one is refused with the way out
      const prodArt = join(dir, 'prod-art');
      expect((await run('generate', '--policy', POLICY, '--out', prodArt)).code).toBe(0);
      const p = await run('conformance', '--target', 'bmv2', '--policy', POLICY, '--artifacts', prodArt, '--runs', '1');
      expect(p.code).toBe(2);
      expect(p.err).toMatch(/observation build.*generate --probe/);
      const art = join(dir, 'art');
      expect((await run('generate', '--policy', POLICY, '--out', art, '--probe')).code).toBe(0);
      const a = await run('conformance', '--target', 'bmv2', '--policy', POLICY, '--artifacts', art, '--seed', '4', '--runs', '5', '--json');
      expect(a.code, a.err).toBe(0);
      expect((JSON.parse(a.out) as { status: string }).status).toBe('passed');

      // strict lock-step: the same traces, the same answer
      const l = await run('conformance', '--target', 'bmv2', '--policy', POLICY, '--seed', '3', '--runs', '8', '--window', '1', '--json');
      expect(l.code, l.err).toBe(0);
      expect((JSON.parse(l.out) as { packets: number }).packets).toBe(s.packets);

      const bad = await run('conformance', '--target', 'bmv2', '--policy', POLICY, '--artifacts', join(dir, 'nothere'), '--runs', '1');
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/nothere/);
    }, 120_000);
  },
);
