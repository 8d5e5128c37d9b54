import { readFileSync } from 'node:fs';
import { it } from 'vitest';
import { renderScenarioDetailed } from '../../../harness/arbitraries/index.js';
import { OvsTarget } from '../../../harness/targets/ovs/index.js';
import { parsePolicy } from '../../../model/pipeline/index.js';
import { runTrace, Side } from '../../../harness/runner/index.js';
import { modelTarget } from './fake-target.js';
it('probe warp', async () => {
  const cx = JSON.parse(readFileSync('/tmp/cx5.json', 'utf8'));
  const policy = { text: readFileSync('/tmp/p2.flows', 'utf8'), source: 'p2' };
  let inst: OvsTarget | null = null;
  const ref = new Side('reference', modelTarget, policy, 30000);
  const tgt = new Side('target', async () => (inst = await OvsTarget.create({ configFor: (p) => parsePolicy(p.text, p.source) })), policy, 30000);
  const r = renderScenarioDetailed(cx.scenario);
  for (let k = 0; k < 40; k++) {
    const out = await runTrace(ref, tgt, r, { exceptions: [], packetTimeoutMs: 10000, label: `rep ${k}` });
    if (out.status !== 'pass') {
      console.log(k, out.status, out.packets[out.packets.length - 1]!.differences.map((d) => d.message));
      break;
    }
  }
  console.log('done');
  await ref.close(); await tgt.close();
}, 120000);
