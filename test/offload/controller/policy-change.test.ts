/**
 * The controller core under a policy change (`replacePolicy`), against an in-memory switch
 * table: only the policy tables' difference is written, every connection is revalidated for
 * the new plan (entries the new plan does not want are removed before any rule changes), the
 * model keeps its connections (OVS keeps conntrack across flow changes), and an invalid policy
 * or a refused write leaves the running policy in place.
 */
import { describe, expect, it } from 'vitest';
import { buildFrame } from '../../../model/packet/build.js';
import { BoundedQueue } from '../../../p4/index.js';
import { SlowPathController, compileOffload, entryKey, PUNT, STATUS_ALREADY_EXISTS, type ControllerDevice, type EntryOp, type OpFailure, type RawPacketIn, type ServedPacketIn } from '../../../offload/index.js';

const BASE = `table=0,priority=10,ip,actions=ct(zone=1,table=1)
table=0,priority=0,actions=drop
table=1,priority=10,in_port=1,udp,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=10,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=0,actions=drop
`;
const NO_EST_FROM_1 = BASE.replace('table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2\n', '');
const ZONE_2 = BASE.replace(/zone=1/g, 'zone=2');

const udp = (from: 'a' | 'b', sport = 5000): Uint8Array =>
  buildFrame(from === 'a' ? { ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport, dport: 53 }, payload: 'q' } : { ip: { src: '10.0.0.2', dst: '10.0.0.1' }, udp: { sport: 53, dport: sport }, payload: 'r' });

class Dev implements ControllerDevice {
  readonly packetIns = new BoundedQueue<RawPacketIn>(64);
  readonly table = new Map<string, EntryOp['entry']>();
  /** Ops of these types fail (a switch refusing the change). */
  refuse = new Set<string>();
  async write(ops: EntryOp[]): Promise<OpFailure[]> {
    const fails: OpFailure[] = [];
    ops.forEach((op, index) => {
      const k = `${entryKey(op.entry.table, op.entry.spec.match ?? {})}#${op.entry.spec.priority ?? 0}`;
      if (this.refuse.has(op.type)) fails.push({ index, code: 3, message: 'refused' });
      else if (op.type === 'INSERT' && this.table.has(k)) fails.push({ index, code: STATUS_ALREADY_EXISTS, message: 'exists' });
      else if (op.type === 'DELETE') this.table.delete(k);
      else this.table.set(k, op.entry);
    });
    return fails;
  }
  packetOut(): void {}
  punt(port: number, frame: Uint8Array): void {
    this.packetIns.push({ payload: frame, metadata: { ingress_port: BigInt(port), pad: 0n, reason: BigInt(PUNT.CT_MISS), stage: 0n, table_id: 0n, ct_state: 0n, ct_zone: 0n, ct_mark: 0n, ct_label: 0n, tag: 0n } });
  }
  conntrack(): number {
    return [...this.table.values()].filter((e) => e.table.includes('conntrack')).length;
  }
  policyRules(): string[] {
    return [...this.table.values()].filter((e) => !e.table.includes('conntrack')).map((e) => e.comment.replace(/^[^:]+:\d+: /, '')).sort();
  }
}

async function setup() {
  const prog = compileOffload(BASE, 'base.flows');
  const dev = new Dev();
  await dev.write(prog.entries.map((entry) => ({ type: 'INSERT' as const, entry })));
  const events: ServedPacketIn[] = [];
  const ctl = new SlowPathController({ plan: prog.plan, policy: { text: BASE, source: 'base.flows' }, device: dev, onServed: (e) => events.push(e) });
  dev.punt(1, udp('a'));
  dev.punt(2, udp('b'));
  for (let i = 0; i < 10_000 && events.length < 2; i++) await new Promise((r) => setImmediate(r));
  await ctl.idle();
  expect(dev.conntrack()).toBe(2);
  return { prog, dev, ctl };
}

describe('controller core: policy change', () => {
  it('a rule removed: only its policy-table entry is deleted; the connection stays offloaded and the model now drops it', async () => {
    const { prog, dev, ctl } = await setup();
    const next = compileOffload(NO_EST_FROM_1, 'next.flows');
    const r = await ctl.replacePolicy({ plan: next.plan, policy: { text: NO_EST_FROM_1, source: 'next.flows' }, staticEntries: { from: prog.entries, to: next.entries } });
    expect(r).toMatchObject({ revalidated: 1, entriesRemoved: 0, static: { deleted: 1, inserted: 0 } });
    expect(dev.policyRules()).not.toContain('table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2');
    expect(dev.policyRules()).toHaveLength(next.entries.length);
    // OVS keeps the connection; the new flows decide its next packet (+est, no rule → drop)
    expect(ctl.status().modelConnections).toBe(1);
    expect(dev.conntrack()).toBe(2);
    const v = await ctl.accountForwarded(1, udp('a'));
    expect(v.outputs).toEqual([]);
    const back = await ctl.accountForwarded(2, udp('b'));
    expect(back.outputs.map((o) => o.port)).toEqual([1]);
    expect(ctl.status().policyChanges).toMatchObject({ replaced: 1, revalidated: 1, staticWrites: 1 });
    await ctl.close();
  });

  it('revalidation: entries the new plan does not want (zone no longer looked up) are removed; the model keeps the connection', async () => {
    const { prog, dev, ctl } = await setup();
    const next = compileOffload(ZONE_2, 'zone2.flows');
    const r = await ctl.replacePolicy({ plan: next.plan, policy: { text: ZONE_2, source: 'zone2.flows' }, staticEntries: { from: prog.entries, to: next.entries } });
    expect(r.revalidated).toBe(1);
    expect(r.entriesRemoved).toBe(2);
    expect(dev.conntrack()).toBe(0);
    expect(ctl.installedEntries().size).toBe(0);
    expect(ctl.status()).toMatchObject({ modelConnections: 1, connectionsOffloaded: 0, policyChanges: { entriesRemoved: 2 } });
    await ctl.close();
  });

  it('reinstall (a new pipeline was pushed): prepare runs first, then every connection is written again', async () => {
    const { dev, ctl } = await setup();
    const next = compileOffload(NO_EST_FROM_1, 'next.flows');
    const order: string[] = [];
    const r = await ctl.replacePolicy({
      plan: next.plan,
      policy: { text: NO_EST_FROM_1, source: 'next.flows' },
      reinstall: true,
      prepare: async () => {
        order.push('prepare');
        dev.table.clear(); // what a pipeline push does
      },
    });
    expect(order).toEqual(['prepare']);
    expect(r).toMatchObject({ revalidated: 1, entriesAdded: 2 });
    expect(dev.conntrack()).toBe(2);
    expect(ctl.status().reinstalls).toBe(1);
    await ctl.close();
  });

  it('an invalid policy is refused before anything changes (error names file:line:col)', async () => {
    const { prog, dev, ctl } = await setup();
    const before = [...dev.table.keys()].sort();
    const bad = 'table=0,priority=10,ip,actions=ct(zone=1,table=1)\ntable=1,priority=x,actions=drop\n';
    await expect(ctl.replacePolicy({ plan: prog.plan, policy: { text: bad, source: 'bad.flows' }, staticEntries: { from: prog.entries, to: [] } })).rejects.toThrow(/bad\.flows:2:\d+/);
    expect([...dev.table.keys()].sort()).toEqual(before);
    expect(ctl.status().policyChanges.replaced).toBe(0);
    expect((await ctl.accountForwarded(1, udp('a'))).outputs.map((o) => o.port)).toEqual([2]);
    await ctl.close();
  });

  it('a policy-table write the switch refuses throws CTO_CONTROLLER_POLICY_WRITE; the model stays on the running policy', async () => {
    const { prog, dev, ctl } = await setup();
    const next = compileOffload(NO_EST_FROM_1, 'next.flows');
    dev.refuse.add('DELETE');
    await expect(ctl.replacePolicy({ plan: next.plan, policy: { text: NO_EST_FROM_1, source: 'next.flows' }, staticEntries: { from: prog.entries, to: next.entries } })).rejects.toMatchObject({ code: 'CTO_CONTROLLER_POLICY_WRITE' });
    expect(ctl.plan).toBe(prog.plan);
    expect((await ctl.accountForwarded(1, udp('a'))).outputs.map((o) => o.port)).toEqual([2]);
    await ctl.close();
  });
});
