/**
 * The issue-6 figures: packets per second checked end to end against bmv2, next to bmv2's own
 * rate for the same packets without checking, and the time from a seeded defect to its shrunk
 * counterexample.
 *
 * 1. Hardware workload: 16 UDP connections of the firewall policy are established (2 punts
 *    each), then 3 000 packets on them, alternating connections and directions, 1 ms apart,
 *    all decided in hardware. "Checked" is the runner's own loop (harness/runner runTrace:
 *    the default bmv2 run of harness/targets/bmv2/setup.ts — the deployed controller core with
 *    hardware ageing (direct counters) against the reference with the offload contract —,
 *    per-packet comparison of outputs, bytes, probe ct fields, lookups and the offload decision), timed as (whole trace) − (the
 *    establishing prefix alone), median of 7 after a warm-up run; with speculative rounds (the default) and in
 *    strict lock-step (window 1). "bmv2 alone" sends the same 3 000 packets through the same
 *    switch and program with the dataplane channel's windowed mode (≤ 32 in flight, no tags
 *    checked, no controller, no model): the rate bmv2 itself sustains. Cost = alone/checked − 1 per
 *    run (the two back to back), median over the runs.
 * 2. Generated traffic: `runConformance` on the selftest's two-zone firewall, 60 traces of the
 *    default generator (punts, expiries, FIN/RST…), speculative vs lock-step, packets/s as the
 *    runner reports them.
 * 3. Seeded defect → shrunk counterexample: `runSelftest` (every deliberately broken offload
 *    variant, 30 traces each, seed 1, in the default configuration): search + shrink time per
 *    variant.
 * Skips with a note when simple_switch_grpc or p4c-bm2-ss is absent.
 */
import { pathToFileURL } from 'node:url';
import { buildFrame } from '../model/packet/build.js';
import type { Trace } from '../model/verdict.js';
import type { RenderedScenario } from '../harness/arbitraries/index.js';
import { runConformance } from '../harness/runner/conformance.js';
import { Side } from '../harness/runner/side.js';
import { runTrace } from '../harness/runner/trace.js';
import { runSelftest, SELFTEST_POLICY } from '../harness/selftest/index.js';
import { bmv2Run, type Bmv2Target } from '../harness/targets/bmv2/index.js';
import { median, missingBmv2Tools } from './common.js';
import { FIREWALL_POLICY } from './pipeline.js';
import type { BenchResult } from './result.js';

/** Outbound connections committed in zone 1, replies by ct_state=+trk+est. */
const POLICY = { source: 'bench-firewall.flows', text: FIREWALL_POLICY };
const CONNS = 16;
const DATA = 3000;
const RUNS = 7;

const NAMES: [string, string][] = [
  ['hardware workload: checked end to end, speculative rounds', 'packets/s'],
  ['hardware workload: checked end to end, lock-step', 'packets/s'],
  ['hardware workload: bmv2 alone (windowed ≤ 32, no checks)', 'packets/s'],
  ['harness cost on top of bmv2 alone (speculative rounds)', '%'],
  ['generated traces (selftest firewall): checked, speculative', 'packets/s'],
  ['generated traces (selftest firewall): checked, lock-step', 'packets/s'],
  ['seeded defect → shrunk counterexample (slowest variant)', 'ms'],
];

function udp(k: number, from: 'a' | 'b', seq: number): Uint8Array {
  const a = { ip: `10.0.1.${k + 1}`, port: 5000 + k };
  const b = { ip: '192.168.1.2', port: 53 };
  const payload = `seq ${seq}`;
  return from === 'a'
    ? buildFrame({ ip: { src: a.ip, dst: b.ip }, udp: { sport: a.port, dport: b.port }, payload })
    : buildFrame({ ip: { src: b.ip, dst: a.ip }, udp: { sport: b.port, dport: a.port }, payload });
}

/** Establishing prefix (request + reply per connection) and the hardware data that follows. */
function workload(): { est: Trace; data: Trace } {
  const est: Trace = [];
  for (let k = 0; k < CONNS; k++) {
    est.push({ time: 2 * k, port: 1, frame: udp(k, 'a', 0) });
    est.push({ time: 2 * k + 1, port: 2, frame: udp(k, 'b', 0) });
  }
  const data: Trace = [];
  for (let i = 0; i < DATA; i++) {
    const k = i % CONNS;
    const fromA = Math.floor(i / CONNS) % 2 === 0;
    data.push({ time: 100 + i, port: fromA ? 1 : 2, frame: udp(k, fromA ? 'a' : 'b', i) });
  }
  return { est, data };
}

const rendered = (trace: Trace): RenderedScenario => ({ trace, steps: [] });

async function checkedRate(window: number, w: { est: Trace; data: Trace }): Promise<{ pps: number; note: string; rates?: number[]; raw?: number[] }> {
  const run = bmv2Run(POLICY, { window });
  const ref = new Side('reference', run.reference, POLICY, 120_000);
  const tgt = new Side('target', run.target, POLICY, 120_000);
  const o = { exceptions: run.exceptions, packetTimeoutMs: 20_000 };
  const rates: number[] = [];
  const raw: number[] = [];
  try {
    // Run 0 warms up (JIT, gRPC channels) and is not counted; then 5 measured runs.
    for (let run = 0; run <= RUNS; run++) {
      let t = performance.now();
      const full = await runTrace(ref, tgt, rendered([...w.est, ...w.data]), { ...o, label: `bench full ${run}` });
      const tFull = performance.now() - t;
      if (full.status !== 'pass') throw new Error(`the bench trace disagreed at packet ${full.failingStep}: ${full.packets.at(-1)?.differences[0]?.message ?? full.status}`);
      t = performance.now();
      const est = await runTrace(ref, tgt, rendered(w.est), { ...o, label: `bench prefix ${run}` });
      const tEst = performance.now() - t;
      if (est.status !== 'pass') throw new Error('the establishing prefix disagreed');
      if (run > 0) rates.push(DATA / ((tFull - tEst) / 1000));
      if (window > 1) {
        // bmv2 alone, same switch and program, the connections established just above.
        const b = (await tgt.get()) as Bmv2Target;
        t = performance.now();
        const res = await b.rawSend(w.data, 32);
        if (run > 0) raw.push(DATA / ((performance.now() - t) / 1000));
        const bad = res.filter((r) => r.outputs.length !== 1).length;
        if (bad) throw new Error(`bmv2 alone: ${bad} of ${DATA} packets without exactly one output`);
      }
    }
    const b = (await tgt.get()) as Bmv2Target;
    const s = b.stats;
    return {
      pps: median(rates),
      raw,
      rates,
      note: `median of ${RUNS} after a warm-up run (${rates.map((r) => Math.round(r)).join(', ')}); ${CONNS} UDP connections, ${DATA} hardware packets per run; target totals: ${s.rounds} rounds, ${s.discarded} inputs resent, ${s.hardwareOutputs} hardware outputs, ${s.strayOutputs} stray`,
    };
  } finally {
    await Promise.all([ref.close(), tgt.close()]);
  }
}

async function generatedRate(window: number): Promise<{ pps: number; note: string }> {
  const run = bmv2Run(SELFTEST_POLICY, { window });
  const r = await runConformance({
    policy: SELFTEST_POLICY,
    reference: run.reference,
    target: run.target,
    exceptions: run.exceptions,
    runs: 60,
    seed: 11,
    traffic: { ports: { inside: [1, 3], outside: [2, 4] } },
    stateSnapshot: false,
  });
  const c = r.counts;
  const pps = (c.packets * 1000) / Math.max(1, r.timing.searchMs);
  return { pps, note: `${c.traces} traces, ${c.packets} packets in ${r.timing.searchMs} ms of search, status ${r.status}, ${c.disagreements} disagreements; one job` };
}

export async function benchHarness(): Promise<BenchResult[]> {
  const skip = missingBmv2Tools();
  if (skip) return NAMES.map(([name, unit]) => ({ name, value: 0, unit, note: skip }));
  const out: BenchResult[] = [];
  const push = (i: number, value: number, note: string): void => {
    out.push({ name: NAMES[i]![0], value: Math.round(value), unit: NAMES[i]![1], note });
  };
  try {
    const w = workload();
    const spec = await checkedRate(32, w);
    push(0, spec.pps, spec.note);
    const lock = await checkedRate(1, w);
    push(1, lock.pps, lock.note);
    const raw = median(spec.raw!);
    push(2, raw, `median of ${RUNS} after a warm-up run (${spec.raw!.map((r) => Math.round(r)).join(', ')}); the same ${DATA} packets, same switch, program and entries; p4/dataplane.ts sendWindowed`);
    // Per run, checked and alone ran back to back on the same switch: their ratio is steadier
    // than the ratio of two medians on a shared 2-core machine.
    const costs = spec.raw!.map((r, i) => (r / spec.rates![i]! - 1) * 100);
    push(3, median(costs), `median over ${RUNS} runs of (alone / checked − 1), each pair back to back: ${costs.map((c) => c.toFixed(0)).join(', ')} % (the goal: < 20 %)`);
    const gs = await generatedRate(32);
    push(4, gs.pps, gs.note);
    const gl = await generatedRate(1);
    push(5, gl.pps, gl.note);
    const st = await runSelftest({ runs: 30, seed: 1, baseline: false });
    const times = st.variants.map((v) => `${v.variant} ${v.outcome} in ${v.elapsedMs} ms (${v.counterexamplePackets ?? '-'} packets)`);
    push(6, Math.max(...st.variants.map((v) => v.elapsedMs)), `search + shrink, 30 traces, seed 1, p4c cached: ${times.join('; ')}`);
    return out;
  } catch (e) {
    const done = new Set(out.map((r) => r.name));
    return [...out, ...NAMES.filter(([n]) => !done.has(n)).map(([name, unit]) => ({ name, value: 0, unit, note: `failed: ${(e as Error).message.split('\n')[0]}` }))];
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await benchHarness()) console.log(`${r.name}: ${r.value} ${r.unit}${r.note ? ` (${r.note})` : ''}`);
}
