/**
 * Differential: NAT through the model and through Open vSwitch 3.1 (dummy datapath, userspace
 * conntrack), packet by packet, with the reference adopting OVS's translation for each packet
 * (Target.adoptChoices, harness/targets/nat-choice.ts; docs/conntrack-semantics.md §11.3).
 * Includes a translation of OVS's own autotest `ofproto-dpif - nat - ofproto/trace`
 * (tests/ofproto-dpif.at), run on real packets instead of ofproto/trace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithTools, OVS_TOOL } from '../../support/tools.js';
import { OvsTarget } from '../../../harness/targets/ovs/target.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import { CS_DST_NAT, CS_ESTABLISHED, CS_NEW, CS_RELATED, CS_REPLY_DIR, CS_SRC_NAT, CS_TRACKED } from '../../../model/ctstate.js';
import { buildFrame, ipPacketOf } from '../../../model/packet/build.js';
import { PacketView, ipv4ToString } from '../../../model/packet/view.js';
import { PipelineEngine } from '../../../model/pipeline/index.js';
import type { SendStep } from '../../../harness/targets/target.js';
import type { Verdict } from '../../../model/verdict.js';

function norm(v: Verdict): { outputs: string[]; lookups: string[] } {
  return {
    outputs: v.outputs.map((o) => `${o.port}:${Buffer.from(o.bytes).toString('hex')}`),
    lookups: v.lookups.map((l) => `table=${l.table} ct_state=${l.state} zone=${l.zone} mark=${l.mark} label=${l.label}`),
  };
}

const udp = (src: string, dst: string, sport: number, dport: number): Uint8Array =>
  buildFrame({ ip: { src, dst }, udp: { sport, dport }, payload: 'nat' });
const tcp = (src: string, dst: string, sport: number, dport: number, flags: string, seq: number, ack = 0): Uint8Array =>
  buildFrame({ ip: { src, dst }, tcp: { sport, dport, flags, seq, ack, win: 65535 } });

describeWithTools('NAT: model vs OVS 3.1', [OVS_TOOL], () => {
  let ovs: OvsTarget;
  let model: ModelTarget;
  beforeAll(async () => {
    ovs = await OvsTarget.create();
    model = new ModelTarget(new PipelineEngine());
  }, 30_000);
  afterAll(async () => {
    await ovs?.close();
    await model?.close();
  });

  /** Each step to OVS first, then to the model told OVS's verdict; both verdicts back. */
  async function run(text: string, steps: SendStep[]): Promise<{ ovs: Verdict[]; model: Verdict[] }> {
    const src = { text, source: 'nat.flows' };
    await ovs.load(src);
    await model.load(src);
    const got = { ovs: [] as Verdict[], model: [] as Verdict[] };
    for (const s of steps) {
      const o = await ovs.send(s);
      model.adoptChoices(o);
      got.ovs.push(o);
      got.model.push(await model.send(s));
    }
    return got;
  }

  it('ofproto-dpif - nat - ofproto/trace (IPv4), on real packets', async () => {
    // tests/ofproto-dpif.at: SNAT then DNAT into ranges; ofproto/trace assumes each range's
    // minimum and expects output 3. The datapath picks from the ranges by hash, so port 3 is
    // reached only when both choices are the minimums; otherwise the priority-90 flow (port 2).
    const flows = `table=0,priority=100,ip,nw_src=1.1.1.1,ct_state=-trk,action=ct(commit,nat(src=10.0.0.1-10.0.0.42:1000-1042),table=0)
table=0,priority=100,udp,ct_state=+trk,nw_src=10.0.0.1,nw_dst=1.1.1.2,tp_src=1000,tp_dst=200,action=ct(commit,nat(dst=20.0.0.1-20.0.0.42:2000-2042),table=0)
table=0,priority=100,udp,ct_state=+trk,nw_src=10.0.0.1,nw_dst=20.0.0.1,tp_src=1000,tp_dst=2000,action=3
table=0,priority=90,ip,ct_state=+trk,action=2`;
    const got = await run(flows, [{ time: 0, port: 1, frame: udp('1.1.1.1', '1.1.1.2', 100, 200) }]);
    expect(got.model.map(norm)).toEqual(got.ovs.map(norm));
    const out = got.ovs[0]!.outputs;
    expect(out).toHaveLength(1);
    const v = new PacketView().parse(out[0]!.bytes);
    const a = ipv4ToString(v.src[0]!);
    expect(Number(a.split('.')[3])).toBeGreaterThanOrEqual(1);
    expect(Number(a.split('.')[3])).toBeLessThanOrEqual(42);
    expect(v.sport).toBeGreaterThanOrEqual(1000);
    expect(v.sport).toBeLessThanOrEqual(1042);
    expect(out[0]!.port).toBe(a === '10.0.0.1' && v.sport === 1000 && ipv4ToString(v.dst[0]!) === '20.0.0.1' && v.dport === 2000 ? 3 : 2);
    expect(got.ovs[0]!.lookups[0]!.state).toBe(CS_NEW | CS_TRACKED | CS_SRC_NAT);
  }, 60_000);

  it('ofproto-dpif - nat - ofproto/trace (IPv6), on real packets', async () => {
    const flows = `table=0,priority=100,ip6,ipv6_src=1::1,ct_state=-trk,action=ct(commit,nat(src=[10::1]-[10::42]:1000-1042),table=0)
table=0,priority=100,udp6,ct_state=+trk,ipv6_src=10::1,ipv6_dst=1::2,tp_src=1000,tp_dst=200,action=ct(commit,nat(dst=[20::1]-[20::42]:2000-2042),table=0)
table=0,priority=100,udp6,ct_state=+trk,ipv6_src=10::1,ipv6_dst=20::1,tp_src=1000,tp_dst=2000,action=3
table=0,priority=90,ip6,ct_state=+trk,action=2`;
    const got = await run(flows, [{ time: 0, port: 1, frame: udp('1::1', '1::2', 100, 200) }]);
    expect(got.model.map(norm)).toEqual(got.ovs.map(norm));
    expect(got.ovs[0]!.outputs).toHaveLength(1);
    expect(new PacketView().parse(got.ovs[0]!.outputs[0]!.bytes).ctStatus).toBe(0);
  }, 60_000);

  it('SNAT with a one-port range: exhaustion, reverse translation, ICMP error about the connection', async () => {
    const flows = `table=0,priority=10,ip,actions=ct(nat,table=1)
table=1,priority=10,in_port=1,ip,ct_state=+trk+new,actions=ct(commit,nat(src=10.1.1.240:3000)),output:2
table=1,priority=10,in_port=1,ip,ct_state=+trk+est,actions=output:2
table=1,priority=10,in_port=2,ip,ct_state=+trk+est,actions=output:1
table=1,priority=10,in_port=2,ip,ct_state=+trk+rel,actions=output:1`;
    const syn = tcp('10.1.1.1', '10.1.1.2', 40000, 80, 'S', 100);
    const steps: SendStep[] = [
      { time: 0, port: 1, frame: syn },
      // A second client: the only port is taken → exhaustion, untranslated, new|trk.
      { time: 1, port: 1, frame: tcp('10.1.1.3', '10.1.1.2', 40000, 80, 'S', 500) },
      { time: 2, port: 2, frame: tcp('10.1.1.2', '10.1.1.240', 80, 3000, 'SA', 900, 101) },
      { time: 3, port: 1, frame: tcp('10.1.1.1', '10.1.1.2', 40000, 80, 'A', 101, 901) },
    ];
    const first = await run(flows, steps.slice(0, 1));
    const translated = first.ovs[0]!.outputs[0]!.bytes;
    // The whole translated segment is quoted: with only 8 bytes of TCP, OVS 3.1 writes the
    // quoted TCP checksum past the packet's end when it translates the quoted port back, and
    // ovs-vswitchd was seen to die soon after (docs/conntrack-semantics.md §11.4).
    const err = buildFrame({ ip: { src: '10.1.1.2', dst: '10.1.1.240' }, icmpError: { type: 3, code: 3, inner: ipPacketOf(translated) } });
    const got = await run(flows, [...steps, { time: 4, port: 2, frame: err }]);
    expect(got.model.map(norm)).toEqual(got.ovs.map(norm));
    const st = got.ovs.map((v) => v.lookups.at(-1)!.state);
    expect(st).toEqual([
      CS_NEW | CS_TRACKED,
      CS_NEW | CS_TRACKED,
      CS_ESTABLISHED | CS_REPLY_DIR | CS_TRACKED | CS_DST_NAT,
      CS_ESTABLISHED | CS_TRACKED | CS_SRC_NAT,
      CS_RELATED | CS_REPLY_DIR | CS_TRACKED | CS_DST_NAT,
    ]);
    // Exhaustion: the second client's SYN left untranslated.
    expect(ipv4ToString(new PacketView().parse(got.ovs[1]!.outputs[0]!.bytes).src[0]!)).toBe('10.1.1.3');
    // The ICMP error reached the client with its embedded header translated back.
    const e = new PacketView().parse(got.ovs[4]!.outputs[0]!.bytes);
    expect(ipv4ToString(e.dst[0]!)).toBe('10.1.1.1');
    expect(ipv4ToString(e.innerSrc[0]!)).toBe('10.1.1.1');
    expect(e.innerSport).toBe(40000);
    expect(e.ctStatus).toBe(0);
  }, 60_000);

  it("system-traffic.at 'conntrack - ICMP related with NAT' (IP flows), on the dummy datapath", async () => {
    // UDP ns0→ns1 is SNATed into a range and marked; ns1's port unreachable comes back to the
    // chosen address, is found related (ct_mark=1) and reverse translated to 10.1.1.1.
    const flows = `in_port=1,udp,action=ct(commit,nat(src=10.1.1.240-10.1.1.254),exec(set_field:1->ct_mark)),2
in_port=2,icmp,ct_state=-trk,action=ct(table=0,nat)
in_port=2,icmp,nw_dst=10.1.1.1,ct_state=+trk+rel,ct_mark=1,action=1`;
    const udpOut = buildFrame({ ip: { src: '10.1.1.1', dst: '10.1.1.2' }, udp: { sport: 45000, dport: 10000 }, payload: 'a\n' });
    const first = await run(flows, [{ time: 0, port: 1, frame: udpOut }]);
    const sent = first.ovs[0]!.outputs[0]!.bytes;
    const chosen = ipv4ToString(new PacketView().parse(sent).src[0]!);
    expect(Number(chosen.split('.')[3])).toBeGreaterThanOrEqual(240);
    const unreach = buildFrame({ ip: { src: '10.1.1.2', dst: chosen }, icmpError: { type: 3, code: 3, inner: ipPacketOf(sent) } });
    const got = await run(flows, [{ time: 0, port: 1, frame: udpOut }, { time: 1, port: 2, frame: unreach }]);
    expect(got.model.map(norm)).toEqual(got.ovs.map(norm));
    const back = got.ovs[1]!.outputs;
    expect(back.map((o) => o.port)).toEqual([1]);
    const e = new PacketView().parse(back[0]!.bytes);
    expect(ipv4ToString(e.dst[0]!)).toBe('10.1.1.1');
    expect(ipv4ToString(e.innerSrc[0]!)).toBe('10.1.1.1');
    expect(e.ctStatus).toBe(0);
    expect(got.ovs[1]!.lookups[0]).toMatchObject({ state: CS_RELATED | CS_REPLY_DIR | CS_TRACKED | CS_DST_NAT, mark: 1 });
  }, 60_000);

  it("system-traffic.at 'conntrack - SNAT with port range with exhaustion' (IP flows)", async () => {
    const flows = `in_port=1,tcp,action=ct(commit,zone=1,nat(src=10.1.1.240:34568,random)),2
in_port=2,ct_state=-trk,tcp,tp_dst=34567,action=ct(table=0,zone=1,nat)
in_port=2,ct_state=-trk,tcp,tp_dst=34568,action=ct(table=0,zone=1,nat)
in_port=2,ct_state=+trk,ct_zone=1,tcp,action=1`;
    const got = await run(flows, [
      { time: 0, port: 1, frame: tcp('10.1.1.1', '10.1.1.2', 50000, 80, 'S', 10) },
      { time: 1, port: 2, frame: tcp('10.1.1.2', '10.1.1.240', 80, 34568, 'SA', 70, 11) },
      // A second connection (the second wget): the one port is taken.
      { time: 2, port: 1, frame: tcp('10.1.1.1', '10.1.1.2', 50001, 80, 'S', 500) },
    ]);
    expect(got.model.map(norm)).toEqual(got.ovs.map(norm));
    const o1 = new PacketView().parse(got.ovs[0]!.outputs[0]!.bytes);
    expect([ipv4ToString(o1.src[0]!), o1.sport]).toEqual(['10.1.1.240', 34568]);
    expect(got.ovs[1]!.outputs.map((o) => o.port)).toEqual([1]);
    const o3 = new PacketView().parse(got.ovs[2]!.outputs[0]!.bytes);
    expect([ipv4ToString(o3.src[0]!), o3.sport]).toEqual(['10.1.1.1', 50001]); // exhausted: untranslated
    const dump = await ovs.instance.appctl('dpctl/dump-conntrack');
    expect(dump.trim().split('\n').filter((l) => l.startsWith('tcp'))).toHaveLength(1);
    expect(dump).toMatch(/reply=\(src=10\.1\.1\.2,dst=10\.1\.1\.240,sport=80,dport=34568\)/);
  }, 60_000);

  it("system-traffic.at 'conntrack - simple DNAT' (IP flows), a TCP handshake", async () => {
    const flows = `priority=100 in_port=1,ip,nw_dst=10.1.1.64,action=ct(zone=1,nat(dst=10.1.1.2),commit),2
priority=10 in_port=1,ip,action=ct(commit,zone=1),2
priority=100 in_port=2,ct_state=-trk,ip,action=ct(table=0,nat,zone=1)
priority=100 in_port=2,ct_state=+trk+est,ct_zone=1,ip,action=1`;
    const got = await run(flows, [
      { time: 0, port: 1, frame: tcp('10.1.1.1', '10.1.1.64', 40000, 80, 'S', 10) },
      { time: 1, port: 2, frame: tcp('10.1.1.2', '10.1.1.1', 80, 40000, 'SA', 70, 11) },
      { time: 2, port: 1, frame: tcp('10.1.1.1', '10.1.1.64', 40000, 80, 'A', 11, 71) },
    ]);
    expect(got.model.map(norm)).toEqual(got.ovs.map(norm));
    const o = got.ovs.map((v) => new PacketView().parse(v.outputs[0]!.bytes));
    expect(ipv4ToString(o[0]!.dst[0]!)).toBe('10.1.1.2');
    expect([ipv4ToString(o[1]!.src[0]!), got.ovs[1]!.outputs[0]!.port]).toEqual(['10.1.1.64', 1]);
    expect(got.ovs[1]!.lookups[0]!.state).toBe(CS_ESTABLISHED | CS_REPLY_DIR | CS_TRACKED | CS_SRC_NAT);
    expect(ipv4ToString(o[2]!.dst[0]!)).toBe('10.1.1.2');
  }, 60_000);

  it("system-traffic.at 'conntrack - DNAT with additional SNAT': the second ct(commit,nat(src)) finds the DNATed connection", async () => {
    // "Be sure all ct() actions but src nat are executed": the packet is already translated in
    // this zone, so the later ct() looks it up by its reverse (§11.2) and only exec runs.
    const flows = `table=0,priority=30,in_port=1,ip,nw_dst=172.1.1.2,actions=ct(commit,nat(dst=10.1.1.2:80),table=1)
table=0,priority=20,in_port=2,ip,actions=ct(nat),1
table=0,priority=1,actions=drop
table=1,ip,actions=ct(commit,nat(src=10.1.1.240),exec(set_field:0xac->ct_mark,set_field:0xac->ct_label),table=2)
table=2,in_port=1,ip,ct_mark=0xac,ct_label=0xac,actions=2`;
    const got = await run(flows, [
      { time: 0, port: 1, frame: tcp('10.1.1.1', '172.1.1.2', 40000, 8080, 'S', 10) },
      { time: 1, port: 2, frame: tcp('10.1.1.2', '10.1.1.1', 80, 40000, 'SA', 70, 11) },
    ]);
    expect(got.model.map(norm)).toEqual(got.ovs.map(norm));
    const o0 = new PacketView().parse(got.ovs[0]!.outputs[0]!.bytes);
    expect([ipv4ToString(o0.src[0]!), ipv4ToString(o0.dst[0]!), o0.dport]).toEqual(['10.1.1.1', '10.1.1.2', 80]);
    expect(got.ovs[0]!.lookups.map((l) => l.mark)).toEqual([0, 0xac]);
    const o1 = new PacketView().parse(got.ovs[1]!.outputs[0]!.bytes);
    expect([ipv4ToString(o1.src[0]!), o1.sport, got.ovs[1]!.outputs[0]!.port]).toEqual(['172.1.1.2', 8080, 1]);
  }, 60_000);

  it('bare ct(commit,nat) on a new connection: no translation, and replies do not find it (§11.2)', async () => {
    const flows = `table=0,priority=10,in_port=1,ip,actions=ct(commit,nat),output:2
table=0,priority=10,in_port=2,ip,actions=ct(nat,table=1)
table=1,priority=10,ip,actions=output:1`;
    const got = await run(flows, [
      { time: 0, port: 1, frame: udp('10.0.0.1', '10.0.0.2', 1000, 53) },
      { time: 1, port: 2, frame: udp('10.0.0.2', '10.0.0.1', 53, 1000) },
    ]);
    expect(got.model.map(norm)).toEqual(got.ovs.map(norm));
    expect(got.ovs[0]!.outputs[0]!.bytes).toEqual(udp('10.0.0.1', '10.0.0.2', 1000, 53));
    expect(got.ovs[1]!.lookups[0]!.state).toBe(CS_NEW | CS_TRACKED);
  }, 60_000);
});

describe('adoptChoices without a NAT commit changes nothing', () => {
  it('the model target ignores a verdict for a packet that commits no NAT', async () => {
    const m = new ModelTarget(new PipelineEngine());
    await m.load({ text: 'ip,actions=ct(commit),output:2', source: 'x.flows' });
    m.adoptChoices({ outputs: [{ port: 9, bytes: new Uint8Array(60) }], lookups: [] });
    const v = await m.send({ time: 0, port: 1, frame: udp('10.0.0.1', '10.0.0.2', 1, 2) });
    expect(v.outputs.map((o) => o.port)).toEqual([2]);
  });
});
