/**
 * Differential: registers, metadata, move, ct(zone=FIELD) and conjunctive matches through the
 * model and through Open vSwitch 3.1 (harness/targets/ovs, dummy datapath). The policies pin
 * the OVS facts of docs/policy-language.md: registers frozen at ct(table=…) (later writes in the
 * same translation do not reach the recirculated copy), the zone read from a register when the
 * ct() is translated, and the conjunction rules of lib/classifier.c (the conj_id search is an
 * ordinary search; hard flows hidden behind a soft flow of the same match; different
 * priorities = different conjunctions; one flow with several conjunction actions).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithTools, OVS_TOOL } from '../../support/tools.js';
import { OvsTarget } from '../../../harness/targets/ovs/target.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import { PipelineEngine } from '../../../model/pipeline/index.js';
import { PORT_CONTROLLER, type Verdict } from '../../../model/verdict.js';
import { formatCtState } from '../../../model/ctstate.js';
import { TCP_ACK, TCP_SYN, tcp4, udp4 } from './frames.js';
import type { SendStep } from '../../../harness/targets/target.js';

function norm(v: Verdict): string[] {
  const key = (p: number): number => (p === PORT_CONTROLLER ? Infinity : p);
  const outs = [...v.outputs].sort((a, b) => key(a.port) - key(b.port)).map((o) => `out ${o.port}:${Buffer.from(o.bytes).toString('hex').slice(0, 24)}`);
  const lks = v.lookups.map((l) => `lookup table=${l.table} ${formatCtState(l.state)} zone=${l.zone} mark=${l.mark}`).sort();
  return [...outs, ...lks];
}

const u = (port: number, src: string, dst: string, sport: number, dport: number, time = 0): SendStep => ({ port, time, frame: udp4({ src, dst, sport, dport }) });

interface Case {
  name: string;
  policy: string[];
  steps: SendStep[];
  /** What the model must do (pins the fact, so agreement is not vacuous): output ports per step. */
  ports: number[][];
}

const conjBase = [
  'table=0,priority=10,ip,nw_src=10.0.0.1,actions=conjunction(1,1/2)',
  'table=0,priority=10,ip,nw_src=10.0.0.3,actions=conjunction(1,1/2)',
  'table=0,priority=10,udp,tp_dst=53,actions=conjunction(1,2/2)',
  'table=0,priority=10,udp,tp_dst=54,actions=conjunction(1,2/2)',
  'table=0,priority=7,conj_id=1,ip,actions=output:3',
  'table=0,priority=1,actions=output:4',
];
const conjSteps = [u(1, '10.0.0.1', '10.0.0.9', 1000, 53), u(1, '10.0.0.3', '10.0.0.9', 1000, 54), u(1, '10.0.0.1', '10.0.0.9', 1000, 55), u(1, '10.0.0.2', '10.0.0.9', 1000, 53)];

const CASES: Case[] = [
  {
    name: 'load/move into registers, matched by later tables; registers start at 0',
    policy: [
      'table=0,priority=10,in_port=1,actions=load:0x7->NXM_NX_REG5[],move:NXM_OF_IN_PORT[]->NXM_NX_REG6[0..15],resubmit(,1)',
      'table=0,priority=5,actions=resubmit(,1)',
      'table=1,priority=10,reg5=7,reg6=1,actions=output:3',
      'table=1,priority=9,reg5=0,actions=output:4',
    ],
    steps: [u(1, '10.0.0.1', '10.0.0.2', 1, 2), u(2, '10.0.0.1', '10.0.0.2', 1, 2)],
    ports: [[3], [4]],
  },
  {
    name: 'masked set_field, xreg halves, metadata, overlapping move',
    policy: [
      'table=0,actions=set_field:0xab/0xf0->reg1,load:0x1->xreg1,set_field:0x100000000/0x100000000->metadata,load:0x1234->NXM_NX_REG0[0..15],move:NXM_NX_REG0[0..15]->NXM_NX_REG0[8..23],resubmit(,1)',
      'table=1,priority=10,reg0=0x123434,reg1=0xa0/0xf0,reg2=0,reg3=1,metadata=0x100000000,actions=output:3',
      'table=1,priority=1,actions=output:4',
    ],
    steps: [u(1, '10.0.0.1', '10.0.0.2', 1, 2)],
    ports: [[3]],
  },
  {
    name: 'registers frozen at ct(table=…): the recirculated copy does not see later writes',
    policy: [
      'table=0,ip,actions=load:0x1->NXM_NX_REG3[],ct(table=1),load:0x2->NXM_NX_REG3[],resubmit(,2)',
      'table=1,priority=10,reg3=1,actions=output:3',
      'table=1,priority=1,actions=output:4',
      'table=2,priority=10,reg3=2,actions=output:5',
      'table=2,priority=1,actions=output:6',
    ],
    steps: [u(1, '10.0.0.1', '10.0.0.2', 1, 2)],
    ports: [[3, 5]],
  },
  {
    name: 'ct(zone=NXM_NX_REG6[0..15]): zone read at translation, ct_zone is that zone, zones separate connections',
    policy: [
      'table=0,priority=10,in_port=1,ip,actions=load:0x11->NXM_NX_REG6[0..15],resubmit(,1)',
      'table=0,priority=10,in_port=2,ip,actions=load:0x22->NXM_NX_REG6[0..15],resubmit(,1)',
      'table=0,priority=10,in_port=5,ip,actions=move:NXM_NX_REG6[0..15]->NXM_NX_REG7[16..31],resubmit(,1)',
      'table=1,ip,actions=ct(commit,zone=NXM_NX_REG6[0..15],table=2)',
      'table=2,ct_zone=0x11,actions=output:3',
      'table=2,ct_zone=0x22,actions=output:4',
      'table=2,ct_zone=0,actions=output:6',
    ],
    steps: [u(1, '10.0.0.1', '10.0.0.2', 1, 2), u(2, '10.0.0.1', '10.0.0.2', 1, 2), u(1, '10.0.0.1', '10.0.0.2', 1, 2, 10), u(5, '10.0.0.1', '10.0.0.2', 1, 2, 20)],
    ports: [[3], [4], [3], [6]],
  },
  { name: 'conjunction: all clauses → conj_id flow; a clause missing → rest of table', policy: conjBase, steps: conjSteps, ports: [[3], [3], [4], [4]] },
  {
    name: 'conjunction: a hard flow at the clauses\' priority wins; one between clauses and conj_id flow wins the conj_id search',
    policy: [...conjBase, 'table=0,priority=10,udp,tp_dst=53,nw_src=10.0.0.1,actions=output:5', 'table=0,priority=8,udp,tp_src=1000,actions=output:6'],
    steps: conjSteps,
    ports: [[5], [6], [6], [6]],
  },
  {
    name: 'conjunction: no conj_id flow → as if no match; clauses at two priorities are two conjunctions',
    policy: [
      'table=0,priority=10,ip,nw_src=10.0.0.1,actions=conjunction(1,1/2)',
      'table=0,priority=10,udp,tp_dst=53,actions=conjunction(1,2/2)',
      'table=0,priority=10,ip,nw_src=10.0.0.3,actions=conjunction(2,1/2)',
      'table=0,priority=9,udp,tp_dst=54,actions=conjunction(2,2/2)',
      'table=0,priority=7,conj_id=2,actions=output:3',
      'table=0,priority=1,actions=output:4',
    ],
    steps: [u(1, '10.0.0.1', '10.0.0.9', 1000, 53), u(1, '10.0.0.3', '10.0.0.9', 1000, 54)],
    ports: [[4], [4]],
  },
  {
    name: 'conjunction: one flow in two conjunctions; a hard flow hidden behind a clause flow of the same match',
    policy: [
      'table=0,priority=10,ip,nw_src=10.0.0.1,actions=conjunction(1,1/2),conjunction(2,1/2)',
      'table=0,priority=10,udp,tp_dst=53,actions=conjunction(1,2/2)',
      'table=0,priority=10,udp,tp_dst=80,actions=conjunction(2,2/2)',
      'table=0,priority=9,udp,tp_dst=80,actions=output:6',
      'table=0,priority=7,conj_id=1,actions=output:3',
      'table=0,priority=5,conj_id=2,actions=output:5',
      'table=0,priority=1,actions=output:4',
    ],
    steps: [u(1, '10.0.0.1', '10.0.0.9', 1000, 53), u(1, '10.0.0.1', '10.0.0.9', 1000, 80), u(1, '10.0.0.2', '10.0.0.9', 1000, 80)],
    ports: [[3], [5], [6]],
  },
  {
    name: 'move from ct_zone/ct_mark: the recirculated copy reads its ct fields; after ct() in the same pass they read 0',
    policy: [
      'table=0,priority=10,ip,actions=ct(commit,zone=9,exec(set_field:0x44->ct_mark),table=1),move:NXM_NX_CT_ZONE[]->NXM_NX_REG2[0..15],resubmit(,2)',
      'table=1,priority=10,ip,actions=move:NXM_NX_CT_ZONE[]->NXM_NX_REG2[0..15],move:NXM_NX_CT_MARK[]->NXM_NX_REG3[],resubmit(,3)',
      'table=2,priority=10,reg2=0,actions=output:5',
      'table=2,priority=1,actions=output:6',
      'table=3,priority=10,reg2=9,reg3=0x44,actions=output:3',
      'table=3,priority=1,actions=output:4',
    ],
    steps: [u(1, '10.0.0.1', '10.0.0.2', 1, 2)],
    ports: [[3, 5]],
  },
  {
    name: 'resubmit(,T,ct): the lookup uses the original-direction tuple; skipped without one',
    policy: [
      'table=0,priority=10,ip,actions=ct(commit,table=1)',
      'table=1,priority=20,ct_state=+trk+new,udp,tp_dst=54,actions=ct(commit),resubmit(,2,ct),output:6',
      'table=1,priority=10,ct_state=+trk+new,ip,actions=resubmit(,2,ct)',
    'table=1,priority=10,ct_state=+trk+est,ip,actions=resubmit(,2,ct)',
      'table=2,priority=10,udp,nw_src=10.0.0.1,tp_dst=53,actions=output:3',
      'table=2,priority=5,udp,nw_src=10.0.0.2,actions=output:4',
      'table=2,priority=1,actions=output:5',
    ],
    steps: [u(1, '10.0.0.1', '10.0.0.2', 1000, 53), u(2, '10.0.0.2', '10.0.0.1', 53, 1000, 1), u(1, '10.0.0.1', '10.0.0.2', 1000, 54, 2)],
    ports: [[3], [3], [6]],
  },
];

describeWithTools('registers and conjunctions: model vs OVS 3.1', [OVS_TOOL], () => {
  let ovs: OvsTarget;
  let model: ModelTarget;
  beforeAll(async () => {
    ovs = await OvsTarget.create();
    model = new ModelTarget(new PipelineEngine());
  }, 60_000);
  afterAll(async () => {
    await ovs?.close();
    await model?.close();
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const src = { text: c.policy.join('\n') + '\n', source: 'regs.flows' };
      await ovs.load(src);
      await model.load(src);
      const got = { ovs: [] as string[][], model: [] as string[][], ports: [] as number[][] };
      for (const s of c.steps) {
        got.ovs.push(norm(await ovs.send(s)));
        const m = await model.send(s);
        got.model.push(norm(m));
        got.ports.push(m.outputs.map((o) => o.port).sort((a, b) => a - b));
      }
      expect(got.ports).toEqual(c.ports);
      expect(got.model).toEqual(got.ovs);
    }, 120_000);
  }

  it('the Neutron example: TCP to port 2 accepted through conjunctions, its reply through ct_zone 645; SG1 on a port it may not use is dropped', async () => {
    const fs = await import('node:fs');
    const text = fs.readFileSync(new URL('../../../examples/neutron-sg.flows', import.meta.url), 'utf8');
    const src = { text, source: 'neutron-sg.flows' };
    await ovs.load(src);
    await model.load(src);
    const out = { srcMac: '02:00:00:02:04:03', dstMac: '02:00:00:01:04:03' };
    const back = { srcMac: '02:00:00:01:04:03', dstMac: '02:00:00:02:04:03' };
    const steps: SendStep[] = [
      { port: 3, time: 0, frame: tcp4({ src: '192.0.2.3', dst: '10.0.0.3', sport: 40000, dport: 80, flags: TCP_SYN, seq: 1000, ack: 0, ...out }) },
      { port: 2, time: 1, frame: tcp4({ src: '10.0.0.3', dst: '192.0.2.3', sport: 80, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 5000, ack: 1001, ...back }) },
      { port: 3, time: 2, frame: tcp4({ src: '192.0.2.3', dst: '10.0.0.3', sport: 40000, dport: 80, flags: TCP_ACK, seq: 1001, ack: 5001, ...out }) },
      // 192.0.2.1 (SG1) to TCP 100: no rule (SG1 may use 80 only) → dropped
      { port: 3, time: 3, frame: tcp4({ src: '192.0.2.1', dst: '10.0.0.3', sport: 40001, dport: 100, flags: TCP_SYN, seq: 1, ack: 0, ...out }) },
    ];
    const o: string[][] = [];
    const m: string[][] = [];
    const ports: number[][] = [];
    for (const s of steps) {
      o.push(norm(await ovs.send(s)));
      const v = await model.send(s);
      m.push(norm(v));
      ports.push(v.outputs.map((x) => x.port));
    }
    expect(ports).toEqual([[2], [3], [2], []]);
    expect(m).toEqual(o);
  }, 120_000);
});
