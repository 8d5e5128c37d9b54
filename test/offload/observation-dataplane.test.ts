/**
 * The observation build behaves as the production build on plain frames, on real bmv2: two
 * simple_switch_grpc, one running each build of the same policy with the same table entries
 * (the static ones plus, per trace, the entries of every connection the reference model holds
 * at the end of the trace), get the same plain (unprobed) frames. For every frame the outputs
 * must be the same (the observation build's minus their probe, which must be there, of this
 * version, untagged) and so must the PacketIns (metadata equal; payload equal once
 * `splitObservedPayload` removed the probe the observation build puts on non-punt PacketIns).
 * The static half of the claim (P4Info equal, pipelines equal but for observation) is
 * test/offload/observation-equality-*.test.ts.
 *
 * No timing: each frame's outputs are exact (dataplane half-close barrier, docs/p4-target-interfaces.md §5.3), and its
 * PacketIns are exactly those that arrive before a ping's (a PacketOut DIRECT to the CPU port,
 * injected after the barrier; one P4Runtime stream delivers in order, docs/p4-target-interfaces.md §4.8).
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { scenarioArb, renderScenarioDetailed } from '../../harness/arbitraries/index.js';
import { PipelineEngine } from '../../model/pipeline/engine.js';
import type { TraceStep } from '../../model/verdict.js';
import {
  compileOffload,
  connectionEntries,
  decodeProbe,
  packetOutDirect,
  PROBE_F_OUTPUT,
  splitObservedPayload,
  toUpdates,
  type OffloadEntry,
  type OffloadProgram,
} from '../../offload/index.js';
import { Bmv2Switch, P4InfoIndex, P4RuntimeClient, compileP4, openDataplane, type DataplaneChannel } from '../../p4/index.js';
import { describeWithTools, BMV2_TOOL, P4C_TOOL } from '../support/tools.js';

const TOOLS = [BMV2_TOOL, P4C_TOOL];

const TARGET_POLICY = {
  source: 'bmv2-target.flows',
  text: `table=0,priority=10,ip,actions=ct(zone=1,table=1)
table=0,priority=10,ipv6,actions=ct(zone=1,table=1)
table=0,priority=0,actions=drop
table=1,priority=10,in_port=1,ip,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=10,in_port=1,ipv6,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=10,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=8,ct_state=+trk+rel,actions=output:1
table=1,priority=5,ct_state=+trk+inv,actions=controller
table=1,priority=0,actions=drop
`,
};
/** Replies of established connections go to the controller from hardware: PacketIns that carry the probe. */
const CONTROLLER_POLICY = {
  source: 'controller.flows',
  text: `table=0,priority=10,ip,actions=ct(zone=1,table=1)
table=0,priority=0,actions=drop
table=1,priority=10,in_port=1,ip,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=10,in_port=2,ct_state=+trk+est,actions=controller
table=1,priority=0,actions=drop
`,
};
const fixture = (name: string): { source: string; text: string } => ({ source: name, text: readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8') });

const CASES: { policy: { source: string; text: string }; config?: Record<string, unknown>; traces: number; seed: number; probedPacketIns?: boolean }[] = [
  { policy: TARGET_POLICY, traces: 12, seed: 11 },
  { policy: CONTROLLER_POLICY, traces: 12, seed: 44, probedPacketIns: true },
  { policy: fixture('two-zones.flows'), traces: 12, seed: 22 },
  { policy: fixture('two-zones.flows'), config: { offload: 'all-committed' }, traces: 8, seed: 33 },
];

const PING_FRAME = (() => {
  const f = new Uint8Array(60);
  f.set([0x02, 0, 0, 0, 0xec, 0x50], 0);
  f.set([0x02, 0, 0, 0, 0xec, 0x51], 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  return f;
})();

interface Side {
  name: 'production' | 'observation';
  sw: Bmv2Switch;
  client: P4RuntimeClient;
  channel: DataplaneChannel;
  prog?: OffloadProgram;
  p4info?: P4InfoIndex;
}

interface PacketInSeen {
  metadata: Record<string, bigint>;
  payload: Uint8Array;
}

describeWithTools('observation build = production build on plain frames (two bmv2 switches)', TOOLS, () => {
  const sides: Side[] = [];
  let pingTag = 0xfff80000;

  beforeAll(async () => {
    for (const name of ['production', 'observation'] as const) {
      const sw = await Bmv2Switch.start({ cpuPort: 510, packetIo: 'dataplane', logLevel: 'warn' });
      const client = await P4RuntimeClient.connect(sw.grpcAddress, { deviceId: sw.deviceId, electionId: { high: 0n, low: 1n }, deadlineMs: 10_000, reconnect: false });
      sides.push({ name, sw, client, channel: undefined as unknown as DataplaneChannel });
    }
  }, 60_000);

  afterAll(async () => {
    for (const s of sides) {
      s.channel?.close();
      s.client.close();
      await s.sw.stop();
    }
  });

  async function load(s: Side, prog: OffloadProgram): Promise<void> {
    const r = await compileP4({ source: prog.p4, name: 'ctoffload.p4' });
    const p4info = P4InfoIndex.from(r.p4info);
    await s.sw.loadPipeline({ json: r.json, p4info }, { client: s.client });
    if (prog.entries.length) await s.client.write(toUpdates(prog.entries, p4info, 'INSERT'));
    s.channel ??= await openDataplane(s.sw);
    await s.channel.ready();
    s.prog = prog;
    s.p4info = p4info;
  }

  /** The PacketIns `step` caused: everything before the ping's own (see top). */
  async function packetInsUntilPing(s: Side): Promise<PacketInSeen[]> {
    const tag = pingTag++;
    s.client.sendPacketOut(PING_FRAME, packetOutDirect(510, undefined, tag));
    const seen: PacketInSeen[] = [];
    for (;;) {
      const ev = await s.client.packetIns.next(10_000);
      if (!ev) throw new Error(`${s.name}: the ping's PacketIn (tag 0x${tag.toString(16)}) did not come back`);
      if (ev.metadata.tag === BigInt(tag)) return seen;
      seen.push({ metadata: ev.metadata, payload: ev.payload });
    }
  }

  async function send(s: Side, step: TraceStep): Promise<{ outputs: { port: number; bytes: Uint8Array }[]; packetIns: PacketInSeen[] }> {
    const r = await s.channel.send(step.port, step.frame);
    return { outputs: r.outputs, packetIns: await packetInsUntilPing(s) };
  }

  for (const [ci, c] of CASES.entries()) {
    it(`case ${ci}: ${c.policy.source}${c.config ? ` ${JSON.stringify(c.config)}` : ''}: ${c.traces} generated traces`, async () => {
      const [prod, obs] = sides as [Side, Side];
      const progs = [compileOffload(c.policy.text, c.policy.source, { ...c.config, probe: false }), compileOffload(c.policy.text, c.policy.source, { ...c.config, probe: true })] as const;
      await Promise.all([load(prod, progs[0]), load(obs, progs[1])]);
      const n = { frames: 0, outputs: 0, packetIns: 0, probedPacketIns: 0, lookupsReported: 0, entries: 0 };
      const traffic = scenarioArb({ flows: { min: 1, max: 3 }, events: { min: 0, max: 5 } });
      for (const [k, sc] of fc.sample(traffic, { numRuns: c.traces, seed: c.seed }).entries()) {
        const { trace } = renderScenarioDetailed(sc);
        if (!trace.length) continue;
        // The reference's connections at the end of the trace, in both switches' tables.
        const engine = new PipelineEngine();
        engine.load(c.policy);
        for (const st of trace) engine.process(st.port, st.frame, st.time);
        const last = trace[trace.length - 1]!.time;
        const entries: OffloadEntry[] = [...engine.conntrack!.connections(last)].flatMap((conn) => connectionEntries(conn, progs[0].plan));
        n.entries += entries.length;
        if (entries.length) await Promise.all([prod, obs].map((s) => s.client.write(toUpdates(entries, s.p4info!, 'INSERT'))));
        for (const [i, st] of trace.entries()) {
          const at = `trace ${k} frame ${i}`;
          const p = await send(prod, st);
          const o = await send(obs, st);
          n.frames++;
          // outputs: the observation build's carry a probe (this version, OUTPUT, tag 0 for a plain input)
          const stripped = o.outputs.map((x) => {
            const d = decodeProbe(x.bytes);
            expect(d, `${at}: observation output without a probe`).not.toBeNull();
            expect(d!.probe.flags, at).toBe(PROBE_F_OUTPUT);
            expect(d!.probe.tag, at).toBe(0);
            expect(d!.probe.lookups.length, at).toBeLessThanOrEqual(progs[1].plan.stages);
            n.lookupsReported += d!.probe.lookups.length;
            return { port: x.port, bytes: [...d!.frame] };
          });
          expect(stripped, at).toEqual(p.outputs.map((x) => ({ port: x.port, bytes: [...x.bytes] })));
          n.outputs += p.outputs.length;
          // PacketIns: same metadata; same payload once the observation probe is removed
          expect(o.packetIns.length, `${at}: PacketIns`).toBe(p.packetIns.length);
          o.packetIns.forEach((x, j) => {
            const y = p.packetIns[j]!;
            expect(x.metadata, at).toEqual(y.metadata);
            const split = splitObservedPayload(x.payload, Number(x.metadata.reason), true);
            expect(split, `${at}: observation PacketIn (reason ${x.metadata.reason}) without its probe`).not.toBeNull();
            expect([...split!.frame], at).toEqual([...y.payload]);
            if (split!.lookups) {
              n.probedPacketIns++;
              n.lookupsReported += split!.lookups.length;
            }
          });
          n.packetIns += p.packetIns.length;
        }
        if (entries.length) await Promise.all([prod, obs].map((s) => s.client.write(toUpdates(entries, s.p4info!, 'DELETE'))));
      }
      process.stderr.write(`\n[observation = production, case ${ci}] ${JSON.stringify(n)}\n`);
      expect(n.frames).toBeGreaterThan(20);
      expect(n.outputs).toBeGreaterThan(0);
      expect(n.packetIns).toBeGreaterThan(0);
      expect(n.lookupsReported).toBeGreaterThan(0);
      if (c.probedPacketIns) expect(n.probedPacketIns).toBeGreaterThan(0);
    }, 300_000);
  }
});
