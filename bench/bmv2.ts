/**
 * bmv2 packet channels: packets/s through a one-table program (ingress port → egress port,
 * test/p4/fixtures/fwd.p4's shape, inlined) on simple_switch_grpc, 60-byte frames, logging
 * off, every output checked against the expected port (losses reported in the note):
 * - dataplane gRPC, exact per packet: send() — one stream and one drain barrier per packet;
 * - dataplane gRPC, exact lock-step batches of 32: sendBatch() — barrier per 32 packets;
 * - dataplane gRPC, windowed ≤ 32 in flight: sendWindowed() — one stream, exact at the end;
 * - nanomsg `--packet-in`, ≤ 32 in flight: NanomsgPacketChannel.sendWindowed();
 * plus switch start-up (spawn → Capabilities answers) and pipeline load times.
 * Skips with a note when simple_switch_grpc or p4c-bm2-ss is absent. docs/p4-target-interfaces.md §5.6 has Python grpcio
 * figures for comparison (~1 000–1 200 packets/s for one packet per stream, ~3 000–4 300 with
 * ≤ 32 in flight, nanomsg ≤ 32 in flight ~7 000).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bmv2Switch } from '../p4/bmv2.js';
import { openDataplane, type PacketResult } from '../p4/dataplane.js';
import { openNanomsg } from '../p4/nanomsg-channel.js';
import { compileP4 } from '../p4/p4c.js';
import { median, missingBmv2Tools, oneTableProgram } from './common.js';
import type { BenchResult } from './result.js';

export type { BenchResult };

const PROGRAM = oneTableProgram(`
    action forward(bit<9> port) { sm.egress_spec = port; }
    action drop() { mark_to_drop(sm); }
    table port_map {
        key = { sm.ingress_port: exact; }
        actions = { forward; drop; }
        default_action = drop();
        const entries = { 1 : forward(2); 2 : forward(1); }
    }
    apply { port_map.apply(); }`);

const NAMES: [string, string][] = [
  ['bmv2 start-up (spawn → P4Runtime ready)', 'ms'],
  ['bmv2 pipeline load (SetForwardingPipelineConfig + check)', 'ms'],
  ['dataplane exact, 1 packet per barrier', 'packets/s'],
  ['dataplane exact, lock-step batches of 32', 'packets/s'],
  ['dataplane windowed, ≤ 32 in flight', 'packets/s'],
  ['nanomsg --packet-in, ≤ 32 in flight', 'packets/s'],
];

function frame(seq: number): Uint8Array {
  const b = Buffer.alloc(60);
  b.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], 0);
  b.writeUInt16BE(0x0800, 12);
  b.writeUInt32BE(seq, 14);
  return b;
}


function lost(results: PacketResult[]): number {
  return results.filter((r) => r.outputs.length !== 1 || r.outputs[0]!.port !== (r.port === 1 ? 2 : 1)).length;
}

export async function benchBmv2(): Promise<BenchResult[]> {
  const skip = missingBmv2Tools();
  if (skip) return NAMES.map(([name, unit]) => ({ name, value: 0, unit, note: skip }));
  const cacheDir = mkdtempSync(join(tmpdir(), 'ctoffload-bench-bmv2-'));
  const out: BenchResult[] = [];
  const switches: Bmv2Switch[] = [];
  try {
    const prog = await compileP4({ source: PROGRAM, name: 'bench_fwd.p4' }, { cacheDir });
    const startups: number[] = [];
    const loads: number[] = [];
    let sw: Bmv2Switch | undefined;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const s = await Bmv2Switch.start({ logLevel: 'off' });
      switches.push(s);
      startups.push(performance.now() - t0);
      const t1 = performance.now();
      await s.loadPipeline({ json: prog.json, p4info: prog.p4info });
      loads.push(performance.now() - t1);
      if (i < 2) await s.stop();
      else sw = s;
    }
    out.push({ name: NAMES[0]![0], value: Math.round(median(startups)), unit: 'ms', note: `median of 3: ${startups.map((x) => x.toFixed(0)).join(', ')} ms` });
    out.push({ name: NAMES[1]![0], value: Math.round(median(loads)), unit: 'ms', note: `median of 3, shape check + post-load Read included: ${loads.map((x) => x.toFixed(1)).join(', ')} ms` });

    const ch = await openDataplane(sw!);
    const packets = (n: number) => Array.from({ length: n }, (_, i) => ({ port: 1 + (i % 2), frame: frame(i) }));
    const modes: { name: string; n: number; run: (p: ReturnType<typeof packets>) => Promise<PacketResult[]> }[] = [
      {
        name: NAMES[2]![0],
        n: 500,
        run: async (p) => {
          const res: PacketResult[] = [];
          for (const x of p) res.push(await ch.send(x.port, x.frame));
          return res;
        },
      },
      { name: NAMES[3]![0], n: 3000, run: (p) => ch.sendBatch(p, { window: 32 }) },
      { name: NAMES[4]![0], n: 3000, run: (p) => ch.sendWindowed(p, { window: 32 }) },
    ];
    for (const m of modes) {
      const rates: number[] = [];
      let loss = 0;
      const barriers0 = ch.stats.barriers;
      for (let run = 0; run < 3; run++) {
        const p = packets(m.n);
        const t0 = performance.now();
        const res = await m.run(p);
        rates.push(m.n / ((performance.now() - t0) / 1000));
        loss += lost(res);
      }
      out.push({
        name: m.name,
        value: Math.round(median(rates)),
        unit: 'packets/s',
        note: `${m.n} packets per run, median of 3 (${rates.map((r) => Math.round(r)).join(', ')}); ${loss} lost or misrouted in ${3 * m.n}; ${ch.stats.barriers - barriers0} drain barriers`,
      });
    }
    ch.close();
    await sw!.stop();

    const nsw = await Bmv2Switch.start({ logLevel: 'off', packetIo: 'nanomsg' });
    switches.push(nsw);
    const nch = await openNanomsg(nsw);
    await nsw.loadPipeline({ json: prog.json, p4info: prog.p4info });
    await nch.info(); // messages are read once the pipeline is in (docs/p4-target-interfaces.md §5.4)
    const rates: number[] = [];
    let missing = 0;
    let stalls = 0;
    for (let run = 0; run < 3; run++) {
      const p = packets(3000);
      const t0 = performance.now();
      const r = await nch.sendWindowed(p, { window: 32, settleMs: 2000 });
      rates.push(p.length / ((performance.now() - t0) / 1000));
      missing += p.length - r.outputs.length;
      stalls += r.stalls;
    }
    nch.close();
    out.push({
      name: NAMES[5]![0],
      value: Math.round(median(rates)),
      unit: 'packets/s',
      note: `3000 packets per run, median of 3 (${rates.map((r) => Math.round(r)).join(', ')}); ${missing} outputs missing, ${stalls} stalls; no ids or barrier on this channel`,
    });
    return out;
  } catch (e) {
    const done = new Set(out.map((r) => r.name));
    return [...out, ...NAMES.filter(([n]) => !done.has(n)).map(([name, unit]) => ({ name, value: 0, unit, note: `failed: ${(e as Error).message.split('\n')[0]}` }))];
  } finally {
    await Promise.all(switches.map((s) => s.stop().catch(() => undefined)));
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
