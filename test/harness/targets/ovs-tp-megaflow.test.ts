/**
 * An OVS 3.1 defect found by `ctoffload conformance --target ovs --policy
 * examples/zones-timeouts.flows --traffic examples/zones-timeouts.traffic.json --runs 7 --seed 3`
 * (exit 3: "trace 6 failed at packet 26 but agreed when run again on fresh targets"):
 * docs/conntrack-semantics.md §6.3. ofproto/ofproto-dpif-xlate.c `put_ct_timeout` adds the
 * zone's timeout policy to the datapath ct action only for TCP/UDP/ICMP/ICMPv6
 * (`ct_dpif_timeout_policy_support_ipproto`) and, for the userspace datapath's generic policy,
 * leaves nw_proto wildcarded. A megaflow translated for another protocol (GRE here) therefore
 * carries a ct(commit) WITHOUT the policy and is reused for the zone's ICMP/TCP/UDP packets,
 * whose entries then get the default timeouts. Trace 6 met such a megaflow left by trace 4's
 * GRE packet (megaflows survive `dpctl/flush-conntrack`, §9.4).
 *
 * The model follows the policy's intent (§6.3) and cannot know OVS's flow cache, so the OVS
 * target disables megaflows for a policy with timeout policies (harness/targets/ovs/target.ts
 * load()). Asserted: the policy applies with and without the other-protocol packet first under
 * the target's configuration, and the defect itself with megaflows re-enabled.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithTools, OVS_TOOL } from '../../support/tools.js';
import { OvsTarget } from '../../../harness/targets/ovs/target.js';
import { buildFrame } from '../../../model/packet/build.js';

const POLICY = {
  source: 'tp-megaflow.flows',
  text: [
    'timeout_policy short icmp_first=5,icmp_reply=5',
    'table=0,priority=10,ip,in_port=3,actions=ct(table=1,zone=2)',
    'table=0,priority=0,actions=drop',
    'table=1,priority=10,ip,in_port=3,ct_state=+trk+new,actions=ct(commit,zone=2,timeout=short),output:4',
    'table=1,priority=0,actions=drop',
    '',
  ].join('\n'),
};
const ip = { src: '10.51.51.51', dst: '63.255.253.170' };
const gre = (): Uint8Array => buildFrame({ ip: { ...ip, proto: 47 }, payload: new Uint8Array([0, 0, 8, 0]) });
const echo = (): Uint8Array => buildFrame({ ip, icmp: { type: 8, id: 2, seq: 2 }, payload: 'abcdefgh' });

/** The `timeout=` of the ICMP entry in OVS's dump, in seconds. */
async function icmpTimeout(ovs: OvsTarget, time: number): Promise<number> {
  const lines = (await ovs.snapshot(time)).sections[0]!.lines.filter((l) => l.startsWith('icmp,'));
  expect(lines, 'one ICMP entry').toHaveLength(1);
  return Number(/timeout=(\d+)/.exec(lines[0]!)![1]);
}

describeWithTools('OVS 3.1: a zone timeout policy leaks through a megaflow translated for another protocol', [OVS_TOOL], () => {
  let ovs: OvsTarget;
  beforeAll(async () => {
    ovs = await OvsTarget.create();
  }, 30_000);
  afterAll(async () => {
    await ovs?.close();
  });

  it('ICMP alone: its entry gets the zone policy (icmp_first=5)', async () => {
    await ovs.load(POLICY); // a policy with timeout policies restarts OVS: no cached megaflows
    expect((await ovs.send({ time: 0, port: 3, frame: echo() })).outputs.map((o) => o.port)).toEqual([4]);
    expect(await icmpTimeout(ovs, 0)).toBeLessThanOrEqual(5);
  }, 60_000);

  it('the OVS target (megaflows disabled for a policy with timeout policies): GRE first, then ICMP still gets the policy', async () => {
    await ovs.load(POLICY);
    expect((await ovs.send({ time: 0, port: 3, frame: gre() })).outputs.map((o) => o.port)).toEqual([4]);
    expect((await ovs.send({ time: 1, port: 3, frame: echo() })).outputs.map((o) => o.port)).toEqual([4]);
    expect(await icmpTimeout(ovs, 1)).toBeLessThanOrEqual(5);
  }, 60_000);

  it('the defect itself, megaflows enabled: GRE first, then ICMP through the same megaflow gets the default (60 s)', async () => {
    await ovs.load(POLICY);
    expect(await ovs.instance.appctl('upcall/enable-megaflows')).toMatch(/megaflows enabled/);
    expect((await ovs.send({ time: 0, port: 3, frame: gre() })).outputs.map((o) => o.port)).toEqual([4]);
    expect((await ovs.send({ time: 1, port: 3, frame: echo() })).outputs.map((o) => o.port)).toEqual([4]);
    expect(await icmpTimeout(ovs, 1)).toBeGreaterThan(5);
    // Still there after the policy's 5 s: the reply would be est|rpl where the policy says inv.
    expect(await icmpTimeout(ovs, 6_001)).toBeGreaterThan(0);
  }, 60_000);
});
