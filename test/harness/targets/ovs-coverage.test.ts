/**
 * Coverage read from Open vSwitch itself: n_packets per user flow (OpenFlow flow statistics, what `ovs-ofctl dump-flows` shows),
 * recognised by the line cookie the OVS target gives each flow (harness/targets/ovs/rewrite.ts
 * `lineCookies`), after `revalidator/purge` pushed the datapath's statistics. OVS's counts
 * equal the model's per-flow n_packets, packet for packet; they are deltas; a conformance run
 * reports both sides per entry.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFrame, type FrameSpec } from '../../../model/packet/build.js';
import { parsePolicy } from '../../../model/pipeline/parse.js';
import { PipelineEngine } from '../../../model/pipeline/engine.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import { OvsTarget } from '../../../harness/targets/ovs/index.js';
import { INSTRUMENTATION_COOKIE, LINE_COOKIE_BASE, LINE_COOKIE_MASK, lineOfCookie, planOvsPolicy } from '../../../harness/targets/ovs/rewrite.js';
import { decodeFlowStats, flowStatsRequest } from '../../../harness/targets/ovs/openflow.js';
import type { SendStep } from '../../../harness/targets/target.js';
import { runConformance } from '../../../harness/runner/index.js';
import { describeWithTools, OVS_TOOL } from '../../support/tools.js';

const FIREWALL = { source: 'examples/firewall.flows', text: readFileSync(join(import.meta.dirname, '../../../examples/firewall.flows'), 'utf8') };

const A = '10.0.0.1';
const B = '192.168.1.2';
const udp = (from: 'a' | 'b'): FrameSpec =>
  from === 'a' ? { ip: { src: A, dst: B }, udp: { sport: 5000, dport: 53 }, payload: 'query' } : { ip: { src: B, dst: A }, udp: { sport: 53, dport: 5000 }, payload: 'answer' };
const step = (time: number, port: number, f: FrameSpec): SendStep => ({ time, port, frame: buildFrame(f) });
const TRACE = [step(0, 1, udp('a')), step(1, 2, udp('b')), step(2, 1, udp('a')), step(3, 2, udp('b')), step(4, 2, { ethType: 0x0806, payload: 'x'.repeat(28) })];

describe('line cookies (no OVS needed)', () => {
  it('give every user flow LINE_COOKIE_BASE | line; instrumentation keeps its own cookie', () => {
    const plan = planOvsPolicy(parsePolicy(FIREWALL.text, FIREWALL.source), { lineCookies: true });
    const user = plan.flows.filter((f) => f.cookie !== INSTRUMENTATION_COOKIE);
    expect(user.map((f) => lineOfCookie(f.cookie!))).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(user[0]!.cookie).toBe(LINE_COOKIE_BASE | 4n);
    expect(plan.flowsText).toContain('table=0,priority=10,cookie=0xc70ff10c00000004,ip,actions=ct(zone=1,table=253)');
    expect(lineOfCookie(INSTRUMENTATION_COOKIE)).toBeNull();
    expect(lineOfCookie(0x9n)).toBeNull();
    // Without the option the policy's own cookies stay (ovs-ofctl users read them).
    expect(planOvsPolicy(parsePolicy(FIREWALL.text, FIREWALL.source)).flows[0]!.cookie).toBeNull();
  });
});

describe('OpenFlow 1.3 flow statistics (no OVS needed)', () => {
  it('requests every table with a cookie filter and decodes each ofp_flow_stats', () => {
    const q = flowStatsRequest(7, LINE_COOKIE_BASE, LINE_COOKIE_MASK);
    expect(q.length).toBe(56);
    expect([q.readUInt8(0), q.readUInt8(1), q.readUInt16BE(2), q.readUInt32BE(4), q.readUInt16BE(8), q.readUInt8(16)]).toEqual([4, 18, 56, 7, 1, 0xff]);
    expect(q.readBigUInt64BE(32)).toBe(LINE_COOKIE_BASE);
    expect(q.readBigUInt64BE(40)).toBe(LINE_COOKIE_MASK);
    const entry = (table: number, priority: number, cookie: bigint, packets: bigint, extra = 0): Buffer => {
      const b = Buffer.alloc(56 + extra);
      b.writeUInt16BE(56 + extra, 0);
      b.writeUInt8(table, 2);
      b.writeUInt16BE(priority, 12);
      b.writeBigUInt64BE(cookie, 24);
      b.writeBigUInt64BE(packets, 32);
      b.writeUInt16BE(1, 48);
      b.writeUInt16BE(4, 50);
      return b;
    };
    const body = Buffer.concat([entry(0, 10, LINE_COOKIE_BASE | 4n, 12n), entry(1, 0, LINE_COOKIE_BASE | 12n, 0n, 16)]);
    expect(decodeFlowStats(body)).toEqual([
      { tableId: 0, priority: 10, cookie: LINE_COOKIE_BASE | 4n, packets: 12n },
      { tableId: 1, priority: 0, cookie: LINE_COOKIE_BASE | 12n, packets: 0n },
    ]);
    const bad = entry(0, 1, 1n, 1n);
    bad.writeUInt16BE(200, 0);
    expect(() => decodeFlowStats(bad)).toThrow(/bad ofp_flow_stats length 200/);
  });
});

describeWithTools('coverage from OVS n_packets', [OVS_TOOL], () => {
  let ovs: OvsTarget;
  let model: ModelTarget;

  beforeAll(async () => {
    ovs = await OvsTarget.create();
    await ovs.load(FIREWALL);
    model = new ModelTarget(new PipelineEngine());
    await model.load(FIREWALL);
  }, 120_000);

  afterAll(async () => {
    await ovs?.close();
  });

  it('OVS counts every flow as the model does; deltas', async () => {
    expect(await ovs.takeEntryHits()).toEqual({ flows: {}, source: 'OVS n_packets' });
    for (const s of TRACE) {
      await model.send(s);
      await ovs.send(s);
    }
    const ref = (await model.takeEntryHits())!.flows;
    const got = (await ovs.takeEntryHits())!.flows;
    expect(ref).toEqual({ 4: 4, 6: 1, 7: 1, 9: 1, 10: 2 });
    expect(got).toEqual(ref);
    expect((await ovs.takeEntryHits())!.flows).toEqual({});
    // reset() keeps the flows (and their counters): the next read is a delta again.
    await ovs.reset();
    await model.reset();
    for (const s of TRACE.slice(0, 2)) {
      await model.send(s);
      await ovs.send(s);
    }
    expect((await ovs.takeEntryHits())!.flows).toEqual((await model.takeEntryHits())!.flows);
  }, 120_000);

  it('a conformance run: OVS and the reference count every entry alike', async () => {
    const r = await runConformance({
      policy: FIREWALL, target: () => OvsTarget.create(), reference: async () => new ModelTarget(new PipelineEngine()), runs: 6, seed: 2, stateSnapshot: false,
    });
    expect(r.status).toBe('passed');
    const c = r.coverage!;
    expect(c.entrySources).toEqual({ reference: 'model flow lookups', target: 'OVS n_packets' });
    for (const [line, row] of Object.entries(c.entries!)) expect(row.target, `line ${line}`).toBe(row.reference);
    expect(c.entries!['4']!.reference).toBeGreaterThan(0);
  }, 300_000);
});
