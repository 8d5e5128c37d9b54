/**
 * Policy pipeline throughput: a stateful firewall policy (outbound TCP allowed, replies by
 * ct_state=+trk+est) over many concurrent TCP sessions, run through Pipeline.process with the
 * conntrack model. Counts whole-pipeline packets/s (parse, two table passes, one ct lookup,
 * commit on the first packet, the Verdict), the figure a user replaying captures sees.
 */
import { pathToFileURL } from 'node:url';
import { Conntrack } from '../model/conntrack/index.js';
import { Pipeline, parsePolicy } from '../model/pipeline/index.js';
import { tcpSessionFrames } from './conntrack.js';
import type { BenchResult } from './result.js';

export const FIREWALL_POLICY = `
table=0,priority=100,ip,in_port=1,actions=ct(zone=1,table=1)
table=0,priority=100,ip,in_port=2,actions=ct(zone=1,table=1)
table=0,priority=0,actions=drop
table=1,priority=100,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=100,ip,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=100,ip,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=0,actions=drop
`;

function runFirewall(sessions: number, rounds: number): { pps: number; packets: number; dropped: number } {
  const policy = parsePolicy(FIREWALL_POLICY, 'bench-firewall.flows');
  // Frames of one session alternate A (port 1) and B (port 2); A's frames come from 10.x.
  const sess = Array.from({ length: sessions }, (_, k) => tcpSessionFrames(k));
  const ports = sess[0]!.map((f) => (f[26] === 10 ? 1 : 2));
  let packets = 0;
  let dropped = 0;
  let ns = 0n;
  for (let r = 0; r < rounds; r++) {
    const pipeline = new Pipeline(policy, new Conntrack());
    const t0 = process.hrtime.bigint();
    for (let step = 0; step < ports.length; step++) {
      const port = ports[step]!;
      for (let k = 0; k < sessions; k++) {
        const v = pipeline.process(sess[k]![step]!, port, 1000 + step);
        if (v.outputs.length === 0) dropped++;
      }
    }
    ns += process.hrtime.bigint() - t0;
    packets += sessions * ports.length;
  }
  return { pps: packets / (Number(ns) / 1e9), packets, dropped };
}

export async function benchPipeline(): Promise<BenchResult[]> {
  runFirewall(2000, 1); // warm-up: JIT
  const r = runFirewall(20_000, 3);
  return [
    {
      name: 'firewall policy, 20 000 TCP sessions (9 packets each)',
      value: Math.round(r.pps),
      unit: 'packets/s',
      note: `${r.packets} packets, ${r.dropped} dropped (expected 0)`,
    },
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await benchPipeline()) console.log(`${r.name}: ${r.value} ${r.unit}${r.note ? ` (${r.note})` : ''}`);
}
