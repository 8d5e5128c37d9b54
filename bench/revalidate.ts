/**
 * The controller's cost of a policy change under live connections (issue 15):
 * `SlowPathController.replacePolicy` revalidating every tracked connection, for 10^4 and 10^5
 * offloaded UDP connections.
 *
 * The switch is an in-memory table that accepts every write at once, so the figure is the
 * controller's own work (walking the tracker, recomputing each connection's entries for the new
 * plan, diffing them with what is installed, building the writes), not P4Runtime's or the
 * switch's: `npm run bench -- p4runtime` measures those writes on bmv2. Two changes:
 *  - "rule removed": the allow rule of one direction goes; the connections' entries stay as they
 *    are (the policy tables decide), so every connection is checked and nothing is rewritten;
 *  - "zone dropped": the zone of every connection is no longer tracked in hardware, so every
 *    connection loses its two entries (2·N DELETEs built and applied to the table).
 * Connections revalidated per second = N / wall time of one `replacePolicy`.
 */
import { pathToFileURL } from 'node:url';
import { buildFrame } from '../model/packet/build.js';
import { BoundedQueue } from '../p4/index.js';
import { SlowPathController, compileOffload, entryKey, type ControllerDevice, type EntryOp, type OpFailure, type RawPacketIn } from '../offload/index.js';
import type { BenchResult } from './result.js';

const EST_FROM_1 = 'table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2\n';
const BASE = `table=0,priority=10,ip,actions=ct(zone=1,table=1)
table=0,priority=0,actions=drop
table=1,priority=10,in_port=1,udp,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
${EST_FROM_1}table=1,priority=10,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=0,actions=drop
`;
const CHANGES: { name: string; text: string }[] = [
  { name: 'rule removed', text: BASE.replace(EST_FROM_1, '') },
  { name: 'zone dropped', text: BASE.replace(/zone=1/g, 'zone=2') },
];

/** A switch table in memory: every write applies at once. */
class MemoryDevice implements ControllerDevice {
  readonly packetIns = new BoundedQueue<RawPacketIn>(1);
  readonly table = new Map<string, EntryOp['entry']>();
  async write(ops: EntryOp[]): Promise<OpFailure[]> {
    for (const op of ops) {
      const k = `${entryKey(op.entry.table, op.entry.spec.match ?? {})}#${op.entry.spec.priority ?? 0}`;
      if (op.type === 'DELETE') this.table.delete(k);
      else this.table.set(k, op.entry);
    }
    return [];
  }
  packetOut(): void {}
}

const ip = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

async function once(n: number, change: { name: string; text: string }): Promise<BenchResult> {
  const base = compileOffload(BASE, 'base.flows');
  const dev = new MemoryDevice();
  await dev.write(base.entries.map((entry) => ({ type: 'INSERT' as const, entry })));
  const ctl = new SlowPathController({ plan: base.plan, policy: { text: BASE, source: 'base.flows' }, device: dev, serve: false });
  for (let i = 0; i < n; i++) {
    const a = ip(i + 1);
    await ctl.accountForwarded(1, buildFrame({ ip: { src: a, dst: '192.168.0.1' }, udp: { sport: 1000 + (i % 50_000), dport: 53 }, payload: 'q' }));
    await ctl.accountForwarded(2, buildFrame({ ip: { src: '192.168.0.1', dst: a }, udp: { sport: 53, dport: 1000 + (i % 50_000) }, payload: 'r' }));
  }
  const st = ctl.status();
  if (st.connectionsOffloaded !== n) throw new Error(`bench setup: ${st.connectionsOffloaded} of ${n} connections offloaded`);
  const next = compileOffload(change.text, 'next.flows');
  const t0 = performance.now();
  const r = await ctl.replacePolicy({ plan: next.plan, policy: { text: change.text, source: 'next.flows' }, staticEntries: { from: base.entries, to: next.entries } });
  const s = (performance.now() - t0) / 1000;
  await ctl.close();
  if (r.revalidated !== n) throw new Error(`revalidated ${r.revalidated} of ${n}`);
  return {
    name: `revalidate ${n.toLocaleString('en-US')} connections, ${change.name}`,
    value: Math.round(n / s),
    unit: 'connections/s',
    note: `${Math.round(s * 1000)} ms; ${r.entriesRemoved} entries removed, ${r.entriesRewritten + r.entriesAdded} rewritten; in-memory switch`,
  };
}

export async function benchRevalidate(): Promise<BenchResult[]> {
  await once(1000, CHANGES[0]!); // warm-up (JIT): not reported
  const out: BenchResult[] = [];
  for (const n of [10_000, 100_000]) for (const c of CHANGES) out.push(await once(n, c));
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchRevalidate()) process.stdout.write(`${r.name}: ${r.value} ${r.unit} (${r.note})\n`);
}
