/**
 * Coverage read from the switch itself (harness/targets/bmv2/entry-hits.ts): the direct
 * counters of the generated program's policy stage tables and conntrack tables, read over
 * P4Runtime and mapped back to policy lines. An entry the model hits is counted by the switch
 * when the hardware decides the packet; a commit is never done in hardware (the slow path's
 * model runs those flows), so the switch never counts the commit flow; counts are deltas;
 * a reset forgets the conntrack entries' bases. Then a whole conformance run (lock-step, so
 * nothing is sent twice): every packet's table-0 lookup is counted once by both sides.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildFrame, type FrameSpec } from '../../../model/packet/build.js';
import { PipelineEngine } from '../../../model/pipeline/engine.js';
import { ModelTarget } from '../../../harness/targets/model.js';
import { Bmv2Target, bmv2Run, createBmv2Target } from '../../../harness/targets/bmv2/index.js';
import type { SendStep } from '../../../harness/targets/target.js';
import { runConformance } from '../../../harness/runner/index.js';
import { runConformanceCli } from '../../../harness/cli/conformance.js';
import { describeWithTools, BMV2_TOOL, P4C_TOOL } from '../../support/tools.js';

const FIREWALL = { source: 'examples/firewall.flows', text: readFileSync(join(import.meta.dirname, '../../../examples/firewall.flows'), 'utf8') };
// examples/firewall.flows lines: 4 table 0 ip → ct(table=1); 7 table 1 +new from port 1 → commit;
// 9 table 1 +est from port 1; 10 table 1 +est from port 2.

const A = '10.0.0.1';
const B = '192.168.1.2';
const udp = (from: 'a' | 'b'): FrameSpec =>
  from === 'a' ? { ip: { src: A, dst: B }, udp: { sport: 5000, dport: 53 }, payload: 'query' } : { ip: { src: B, dst: A }, udp: { sport: 53, dport: 5000 }, payload: 'answer' };
const step = (time: number, port: number, f: FrameSpec): SendStep => ({ time, port, frame: buildFrame(f) });
/** New (punt), reply (establishes: both directions installed), then one packet each way in hardware. */
const TRACE = [step(0, 1, udp('a')), step(1, 2, udp('b')), step(2, 1, udp('a')), step(3, 2, udp('b'))];
const tcp = (from: 'a' | 'b', flags: string, seq: number, ack: number, payload?: string): FrameSpec => ({
  ...(from === 'a' ? { ip: { src: A, dst: B }, tcp: { sport: 40000, dport: 80, seq, ack, flags, win: 65535 } } : { ip: { src: B, dst: A }, tcp: { sport: 80, dport: 40000, seq, ack, flags, win: 65535 } }),
  ...(payload ? { payload } : {}),
});
/** Handshake, data both ways in hardware, then FIN: the controller deletes the connection's entries. */
const TCP_SESSION = [
  step(0, 1, tcp('a', 'S', 1000, 0)), step(1, 2, tcp('b', 'SA', 5000, 1001)), step(2, 1, tcp('a', 'A', 1001, 5001)),
  step(3, 1, tcp('a', 'PA', 1001, 5001, 'GET /')), step(4, 2, tcp('b', 'A', 5001, 1006)), step(5, 2, tcp('b', 'PA', 5001, 1006, 'HTTP/1.0 200')),
  step(6, 1, tcp('a', 'A', 1006, 5013)), step(7, 1, tcp('a', 'FA', 1006, 5013)), step(8, 2, tcp('b', 'FA', 5013, 1007)), step(9, 1, tcp('a', 'A', 1007, 5014)),
];

describeWithTools('coverage from the bmv2 switch\'s direct counters', [BMV2_TOOL, P4C_TOOL], () => {
  let bmv2: Bmv2Target;
  let model: ModelTarget;

  beforeAll(async () => {
    bmv2 = await createBmv2Target({ policy: FIREWALL, window: 1 });
    model = new ModelTarget(new PipelineEngine());
    await model.load(FIREWALL);
  }, 120_000);

  afterAll(async () => {
    await bmv2?.close();
  });

  it('counts the entries the hardware ran, by policy line; deltas; reset forgets conntrack entries', async () => {
    // Nothing since load (the load-time checks are the base).
    const none = await bmv2.takeEntryHits();
    expect(none).toMatchObject({ flows: {}, ctTables: { conntrack_s0: 0 }, source: 'direct counters' });
    expect(Object.values(none!.actions!).every((n) => n === 0)).toBe(true);
    expect(Object.keys(none!.actions!)).toEqual(expect.arrayContaining(['flow_ct', 'flow_ct_commit_output', 'flow_output', 'flow_drop']));
    for (const s of TRACE) {
      await model.send(s);
      await bmv2.send(s);
    }
    const ref = (await model.takeEntryHits())!.flows!;
    const hw = (await bmv2.takeEntryHits())!;
    // Every input is looked up in the stage-0 copy of table 0 once, punted or not.
    expect(ref[4]).toBe(4);
    expect(hw.flows![4]).toBe(4);
    // The model committed the first packet (line 7); commits are the slow path's: never in hardware.
    expect(ref[7]).toBe(1);
    expect(hw.flows![7]).toBeUndefined();
    // The last two packets were decided in hardware: its +est entries counted them.
    expect(hw.flows![9]).toBe(1);
    expect(hw.flows![10]).toBeGreaterThanOrEqual(1);
    expect(ref[9]).toBe(1);
    expect(ref[10]).toBe(2);
    expect(hw.ctTables!.conntrack_s0).toBe(2);
    // Per P4 action: four ct lookups from table 0, two hardware outputs, no commit in hardware.
    expect(hw.actions).toMatchObject({ flow_ct: 4, flow_output: hw.flows![9]! + hw.flows![10]!, flow_ct_commit_output: 0 });
    // Deltas: nothing new.
    expect(await bmv2.takeEntryHits()).toMatchObject({ flows: {}, ctTables: { conntrack_s0: 0 }, source: 'direct counters' });
    // After a reset the same connection's entries are new ones: counted from zero again.
    await bmv2.reset();
    await model.reset();
    for (const s of TRACE) {
      await model.send(s);
      await bmv2.send(s);
    }
    const again = (await bmv2.takeEntryHits())!;
    expect(again.flows![4]).toBe(4);
    expect(again.ctTables!.conntrack_s0).toBe(2);
  }, 120_000);

  it('counts the hits of conntrack entries the controller deleted during the trace', async () => {
    await bmv2.reset();
    await bmv2.takeEntryHits();
    for (const s of TCP_SESSION) await bmv2.send(s);
    expect(bmv2.controller!.status().connectionsOffloaded).toBe(0); // the FIN deleted its entries
    const h = (await bmv2.takeEntryHits())!;
    // The four data packets were decided in hardware by the +est flows, each after a hit of the
    // connection's entry; those entries were gone by the end of the trace.
    expect(h.flows![9]! + h.flows![10]!).toBe(4);
    expect(h.ctTables!.conntrack_s0).toBeGreaterThanOrEqual(4);
  }, 120_000);

  it('a conformance run reports both sides per entry; table 0 is counted alike (lock-step)', async () => {
    const run = bmv2Run(FIREWALL, { window: 1 });
    // Packets the program punts before its first policy lookup (FRAGMENT, UNTRACKABLE: IPv6
    // extension headers, bad IPv4 headers) run table 0 in the slow path only, so the switch's
    // table-0 counters miss them by design (docs/report-schema.md "Coverage"); traffic without
    // those shapes makes the two counts comparable one for one.
    const traffic = { include: { headerShapes: false, malformed: false } };
    const r = await runConformance({ policy: FIREWALL, target: run.target, reference: run.reference, exceptions: run.exceptions, runs: 8, seed: 3, stateSnapshot: false, traffic });
    expect(r.status).toBe('passed');
    const c = r.coverage!;
    expect((c.punts.FRAGMENT ?? 0) + (c.punts.UNTRACKABLE ?? 0), 'punts before table 0').toBe(0);
    expect(c.entrySources).toEqual({ reference: 'model flow lookups', target: 'direct counters' });
    expect(c.entries!['4']!.reference).toBeGreaterThan(0);
    for (const line of ['4', '5', '6']) expect(c.entries![line]!.target, `line ${line}`).toBe(c.entries![line]!.reference);
    expect(c.entries!['7']!.target).toBe(0);
    expect(c.ctTables!.conntrack_s0).toBeGreaterThan(0);
    expect(c.actions!.flow_ct).toBe(c.entries!['4']!.target! + c.entries!['5']!.target!);
    expect(c.actions!.flow_ct_commit_output).toBe(0);
    expect(c.entryReadFailures).toBeUndefined();
  }, 300_000);

  it('conformance --target bmv2 --min-coverage names the entries the switch never counted (exit 5)', async () => {
    const x = { o: '', e: '', out: (t: string) => void (x.o += t), err: (t: string) => void (x.e += t) };
    const policy = join(import.meta.dirname, '../../../examples/firewall.flows');
    expect(await runConformanceCli(['--target', 'bmv2', '--policy', policy, '--runs', '5', '--seed', '3', '--window', '1', '--min-coverage', 'entries=50,target-entries=100,ct-tables=100'], x)).toBe(5);
    expect(x.o).toContain('PASSED');
    // Commits run in the slow path: the switch never counts line 7 (ct(commit) from port 1).
    expect(x.o).toMatch(/target-entries: \d+\/9 = [\d.]+% < required 100%; never hit: .*firewall\.flows:7/);
    expect(x.o).not.toMatch(/^ {4}(entries|ct-tables):/m);
  }, 300_000);
});
