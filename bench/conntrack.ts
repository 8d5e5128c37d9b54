/**
 * Benchmarks of the reference connection tracker (model/conntrack).
 *
 * 1. The workload of OVS's `ovstest test-conntrack benchmark N_THREADS N_PKTS BATCH [CHANGE]`
 *    (openvswitch/ovs tests/test-conntrack.c): one thread, the same 42-byte UDP frame
 *    10.1.1.1:1 → 10.1.1.2:2 (ports +i per batch slot when CHANGE=1), batches of 32, zone 0,
 *    commit on every call, a fixed `now`. OVS reuses the packets and their metadata, so after
 *    the first batch every packet takes `process_one_fast` (md.conn cached, same zone): that
 *    variant is "as OVS". The "full" variant clears the metadata per packet so that every
 *    packet is parsed, hashed, looked up and tracked, which is what a real pipeline pays.
 * 2. TCP sessions: handshake, 100-byte data both ways, FIN close both ways (9 packets per
 *    session) over 4096 distinct tuples; each round reopens every tuple with a SYN (TIME_WAIT
 *    reuse), so creation, tracking and removal are all exercised.
 * 3. Memory per connection: 1 000 000 distinct committed UDP connections; both the typed-array
 *    capacity of the table (exact) and the process.memoryUsage() delta (heap + ArrayBuffers)
 *    are reported.
 *
 * Throughput counts PacketView.parse + Conntrack.execute per packet, on one core (the
 * `ct-only` figure leaves the parse out).
 */
import { pathToFileURL } from 'node:url';
import { buildFrame } from '../model/packet/build.js';
import { PacketView } from '../model/packet/view.js';
import { Conntrack, CtArgs, CtMeta } from '../model/conntrack/index.js';

import type { BenchResult } from './result.js';
export type { BenchResult };

/** tests/test-conntrack.c `payload`: eth + IPv4 10.1.1.1 → 10.1.1.2 UDP 1 → 2, checksum 0. */
const OVS_PAYLOAD = '50540000000a50540000000908004500001c000000000011a4cd0a0101010a0101020001000200080000';

function hex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function ovsBatch(batch: number, change: boolean): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < batch; i++) {
    const f = hex(OVS_PAYLOAD);
    if (change) {
      const dport = 2 + i; // udp->udp_dst = htons(ntohs(udp->udp_dst) + i)
      f[36] = dport >> 8;
      f[37] = dport & 0xff;
    }
    frames.push(f);
  }
  return frames;
}

function runOvsBenchmark(nPkts: number, batch: number, change: boolean, keepMd: boolean): number {
  const ct = new Conntrack();
  const frames = ovsBatch(batch, change);
  const views = frames.map(() => new PacketView());
  const mds = frames.map(() => new CtMeta());
  const args = new CtArgs();
  args.commit = true;
  const now = 1_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < nPkts; i += batch) {
    for (let j = 0; j < batch; j++) {
      const md = mds[j]!;
      if (!keepMd) md.clear();
      ct.execute(views[j]!.parse(frames[j]!), args, now, md);
    }
  }
  const ns = Number(process.hrtime.bigint() - t0);
  return (nPkts / ns) * 1e9;
}

export function tcpSessionFrames(k: number): Uint8Array[] {
  const a = `10.${(k >> 8) & 255}.${k & 255}.1`;
  const b = '192.168.0.1';
  const sport = 10000 + (k % 50000);
  const isnA = (k * 7919) >>> 0;
  const isnB = (k * 104729 + 12345) >>> 0;
  const data = 'd'.repeat(100);
  const A = (flags: string, seq: number, ack: number, payload?: string) =>
    buildFrame({ ip: { src: a, dst: b }, tcp: { sport, dport: 80, seq: seq >>> 0, ack: ack >>> 0, flags, win: 65535 }, ...(payload ? { payload } : {}) });
  const B = (flags: string, seq: number, ack: number, payload?: string) =>
    buildFrame({ ip: { src: b, dst: a }, tcp: { sport: 80, dport: sport, seq: seq >>> 0, ack: ack >>> 0, flags, win: 65535 }, ...(payload ? { payload } : {}) });
  return [
    A('S', isnA, 0),
    B('SA', isnB, isnA + 1),
    A('A', isnA + 1, isnB + 1),
    A('PA', isnA + 1, isnB + 1, data),
    B('PA', isnB + 1, isnA + 101, data),
    A('FA', isnA + 101, isnB + 101),
    B('A', isnB + 101, isnA + 102),
    B('FA', isnB + 101, isnA + 102),
    A('A', isnA + 102, isnB + 102),
  ];
}

function runTcpSessions(tuples: number, rounds: number, preParsed = false): { pps: number; packets: number; bad: number } {
  const ct = new Conntrack();
  const sessions = Array.from({ length: tuples }, (_, k) => tcpSessionFrames(k));
  // preParsed: one PacketView per frame, parsed before the clock starts (tracker cost only).
  const views = preParsed ? sessions.map((s) => s.map((f) => new PacketView().parse(f))) : [];
  const view = new PacketView();
  const md = new CtMeta();
  const commit = new CtArgs();
  commit.commit = true;
  const lookup = new CtArgs();
  // A-side packets commit, B-side only look up (the usual firewall policy).
  const fromA = [true, false, true, true, false, true, false, false, true];
  let now = 0;
  let packets = 0;
  let bad = 0;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < tuples; k++) {
      const s = sessions[k]!;
      for (let p = 0; p < 9; p++) {
        md.clear();
        ct.execute(preParsed ? views[k]![p]! : view.parse(s[p]!), fromA[p] ? commit : lookup, now, md);
        if (md.state & 0x10) bad++;
        packets++;
      }
      now += 1;
    }
  }
  const ns = Number(process.hrtime.bigint() - t0);
  return { pps: (packets / ns) * 1e9, packets, bad };
}

function memoryPerConnection(n: number): { tableBytes: number; processBytes: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage();
  const ct = new Conntrack({ initialCapacity: 1024 });
  const view = new PacketView();
  const md = new CtMeta();
  const args = new CtArgs();
  args.commit = true;
  const f = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1, dport: 1 }, ethSrc: '00:00:00:00:00:01' });
  // Vary source address and ports in place; UDP checksum 0 (none) keeps the frame valid.
  f[40] = 0;
  f[41] = 0;
  for (let i = 0; i < n; i++) {
    f[28] = 10 + ((i >>> 24) & 0x7f);
    f[29] = (i >>> 16) & 255;
    f[30] = (i >>> 8) & 255;
    f[31] = i & 255;
    // fix the IPv4 header checksum for the new source address
    f[24] = 0;
    f[25] = 0;
    let sum = 0;
    for (let o = 14; o < 34; o += 2) sum += (f[o]! << 8) | f[o + 1]!;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const c = ~sum & 0xffff;
    f[24] = c >> 8;
    f[25] = c & 255;
    md.clear();
    ct.execute(view.parse(f), args, 0, md);
  }
  gc?.();
  const after = process.memoryUsage();
  if (ct.size !== n) throw new Error(`memory benchmark created ${ct.size} of ${n} connections`);
  const processBytes = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers);
  return { tableBytes: ct.table.bytes() / n, processBytes: processBytes / n };
}

export async function benchConntrack(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const N = 4_000_000;
  // Warm-up so the JIT has seen every path.
  runOvsBenchmark(200_000, 32, true, false);
  out.push({ name: 'conntrack.ovs-benchmark.as-ovs', value: runOvsBenchmark(N, 32, false, true), unit: 'packets/s', note: 'test-conntrack benchmark 1 4000000 32: md kept → process_one_fast' });
  out.push({ name: 'conntrack.ovs-benchmark.change.as-ovs', value: runOvsBenchmark(N, 32, true, true), unit: 'packets/s', note: 'CHANGE=1 (32 connections), md kept' });
  out.push({ name: 'conntrack.ovs-benchmark.full', value: runOvsBenchmark(N, 32, false, false), unit: 'packets/s', note: 'same frames, md cleared: parse + hash + lookup + UDP update per packet' });
  out.push({ name: 'conntrack.ovs-benchmark.change.full', value: runOvsBenchmark(N, 32, true, false), unit: 'packets/s', note: 'CHANGE=1, md cleared' });
  runTcpSessions(256, 2);
  const tcp = runTcpSessions(4096, 30);
  out.push({ name: 'conntrack.tcp-sessions', value: tcp.pps, unit: 'packets/s', note: `${tcp.packets} packets, 4096 tuples × 30 rounds (SYN…FIN/ACK, reopen by TIME_WAIT reuse); ${tcp.bad} inv` });
  const tcpCt = runTcpSessions(4096, 30, true);
  out.push({ name: 'conntrack.tcp-sessions.ct-only', value: tcpCt.pps, unit: 'packets/s', note: 'same workload, frames parsed beforehand: Conntrack.execute alone' });
  const mem = memoryPerConnection(1_000_000);
  out.push({ name: 'conntrack.memory.table', value: Math.round(mem.tableBytes), unit: 'bytes/connection', note: 'typed-array capacity of the table at 1e6 UDP connections (power-of-two growth included)' });
  out.push({ name: 'conntrack.memory.process', value: Math.round(mem.processBytes), unit: 'bytes/connection', note: 'process.memoryUsage heapUsed+arrayBuffers delta for 1e6 connections' + ((globalThis as { gc?: unknown }).gc ? '' : ' (run with --expose-gc for a cleaner figure)') });
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await benchConntrack();
  for (const r of results) {
    const v = r.unit === 'packets/s' ? `${(r.value / 1e6).toFixed(2)} M` : String(r.value);
    console.log(`${r.name.padEnd(40)} ${v.padStart(10)} ${r.unit}${r.note ? `  (${r.note})` : ''}`);
  }
}
