/**
 * The real differential property: the reference model against Open vSwitch 3.1 (userspace
 * conntrack, dummy datapath) over generated traces, for three policies — the §9.3-style pass-all
 * policy, a stateful firewall with FTP/TFTP helpers, marks, labels, resubmit and controller
 * output, and a zone-limited policy with a short timeout policy. Small run counts with fixed
 * seeds (the same seeds ran 400 / 300 / 300 traces by hand without an unexcused disagreement,
 * see harness/EXCEPTIONS.md for the one row the third needs); a failure prints the shrunk
 * counterexample and its replay command.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { summaryText } from '../../../harness/cli/conformance.js';
import { checkReport, type ConformanceReport } from '../../../harness/report/index.js';
import { runConformance } from '../../../harness/runner/index.js';
import { OvsTarget } from '../../../harness/targets/ovs/index.js';
import { describeWithTools, OVS_TOOL } from '../../support/tools.js';
import { modelTarget, POLICY } from './fake-target.js';

const FIREWALL = {
  source: 'firewall.flows',
  text: `table=0,priority=10,ip,actions=ct(table=1,zone=7)
table=0,priority=10,ipv6,actions=ct(table=1,zone=7)
table=0,priority=0,actions=drop
table=1,priority=20,ct_state=+new+trk,tcp,tp_dst=21,in_port=1,actions=ct(commit,zone=7,alg=ftp,exec(set_field:0x21->ct_mark)),output:2
table=1,priority=20,ct_state=+new+trk,tcp6,tp_dst=21,in_port=1,actions=ct(commit,zone=7,alg=ftp,exec(set_field:0x21->ct_mark)),output:2
table=1,priority=20,ct_state=+new+trk,udp,tp_dst=69,in_port=1,actions=ct(commit,zone=7,alg=tftp),output:2
table=1,priority=20,ct_state=+new+trk,udp6,tp_dst=69,in_port=1,actions=ct(commit,zone=7,alg=tftp),output:2
table=1,priority=10,ct_state=+new+trk,ip,in_port=1,actions=ct(commit,zone=7,exec(set_field:0x1->ct_mark,set_field:0x5->ct_label)),output:2
table=1,priority=10,ct_state=+new+trk,ipv6,in_port=1,actions=ct(commit,zone=7,exec(set_field:0x1->ct_mark)),output:2
table=1,priority=15,ct_state=+new+rel+trk,ip,actions=ct(commit,zone=7),resubmit(,2)
table=1,priority=15,ct_state=+new+rel+trk,ipv6,actions=ct(commit,zone=7),resubmit(,2)
table=1,priority=10,ct_state=+est+trk,actions=resubmit(,2)
table=1,priority=10,ct_state=+rel+trk,actions=resubmit(,2)
table=1,priority=5,ct_state=+inv+trk,actions=controller
table=1,priority=0,actions=drop
table=2,priority=10,in_port=1,actions=output:2
table=2,priority=10,in_port=2,actions=output:1
table=2,priority=0,actions=drop
`,
};

/** Short timeouts (zone timeout policy) and a zone limit: ageing and refused commits (§6, §7). */
const LIMITED = {
  source: 'limited.flows',
  text: `timeout_policy short tcp_syn_sent=2,tcp_established=3,tcp_fin_wait=2,tcp_time_wait=2,tcp_close=1,udp_first=2,udp_single=2,udp_multiple=3,icmp_first=2,icmp_reply=2
zone_limit zone=9,limit=3
table=0,priority=10,ip,actions=ct(table=1,zone=9)
table=0,priority=10,ipv6,actions=ct(table=1,zone=9)
table=0,priority=0,actions=drop
table=1,priority=10,ct_state=+new+trk,ip,in_port=1,actions=ct(commit,zone=9,timeout=short,table=2)
table=1,priority=10,ct_state=+new+trk,ipv6,in_port=1,actions=ct(commit,zone=9,timeout=short,table=2)
table=1,priority=10,ct_state=+est+trk,actions=resubmit(,3)
table=1,priority=10,ct_state=+rel+trk,actions=resubmit(,3)
table=1,priority=5,ct_state=+inv+trk,actions=controller
table=1,priority=0,actions=drop
table=2,priority=10,actions=output:2
table=3,priority=10,in_port=1,actions=output:2
table=3,priority=10,in_port=2,actions=output:1
table=3,priority=0,actions=drop
`,
};
const LIMITED_TRAFFIC = { flows: { min: 1, max: 6 }, timeouts: [1, 2, 3], longGapRate: 0.2 };

const ovs = (): Promise<OvsTarget> => OvsTarget.create();
const dir = mkdtempSync(join(tmpdir(), 'cto-ovs-diff-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeWithTools('model vs OVS 3.1 over generated traffic', [OVS_TOOL], () => {
  for (const [policy, seed, runs, traffic] of [[POLICY, 7, 25, {}], [FIREWALL, 11, 25, {}], [LIMITED, 5, 20, LIMITED_TRAFFIC]] as const) {
    it(`${policy.source}: every packet of ${runs} traces agrees (seed ${seed})`, async () => {
      const rep = join(dir, policy.source);
      const r = await runConformance({ policy, reference: modelTarget, target: ovs, runs, seed, traffic, reportDir: rep, packetTimeoutMs: 10_000 });
      const report = JSON.parse(readFileSync(join(rep, 'report.json'), 'utf8')) as ConformanceReport;
      expect(checkReport(report)).toEqual([]);
      expect(r.versions.ovs!['ovs-vswitchd']).toContain('3.1');
      expect(r.counts.traces).toBe(runs);
      expect(r.counts.packets).toBeGreaterThan(runs);
      expect(r.status, summaryText(r, rep)).toBe('passed');
      expect(r.counts.agreements).toBe(r.counts.packets);
    }, 55_000);
  }
});
