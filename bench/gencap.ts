/**
 * A mixed capture of any length, generated with the project's own tools and streamed in
 * constant memory (the benchmark's input for `replay`, and for `ovstest test-conntrack pcap`).
 *
 * Traffic, IPv4 and IPv6, as units of one conversation each (A on port 1, B on port 2):
 * - TCP sessions (55 % IPv4, 15 % IPv6): handshake, 100 bytes each way, FIN both ways (9
 *   packets, bench/conntrack.ts `tcpSessionFrames`' shape);
 * - UDP request/response (18 % IPv4, 7 % IPv6, 40/120-byte payloads);
 * - ICMP echo request/reply (5 %).
 * Up to `concurrent` units are in flight and their packets interleave (a seeded PRNG picks
 * the next one); every unit has its own addresses/ports, so the tracker sees one new
 * connection per unit. Packets are `spacingUs` apart (default 100 µs, a 10 000 packets/s
 * link): with OVS's timeouts (UDP 30-60 s, closed TCP 30 s, docs/conntrack-semantics.md §10) the
 * live connections level off at a few tens of thousands, whatever the capture's length.
 *
 * Frames: `buildFrame` (model/packet/build.ts) builds each kind's packets once as templates;
 * each unit copies them and patches addresses, ports, sequence numbers and the checksums
 * (model/packet/checksum.ts), about 100× faster than building every frame.
 *
 * Run: `node dist/bench/gencap.js --packets N [--format pcap|pcapng] [--out FILE|-]
 * [--spacing-us U] [--seed S] [--concurrent W]` (stdout by default).
 */
import { createWriteStream } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildFrame } from '../model/packet/build.js';
import { finishChecksum, pseudoSum4, pseudoSum6, sum16 } from '../model/packet/checksum.js';
import { CaptureWriter, type CaptureFormat } from '../model/packet/capture.js';

export interface GenOptions {
  packets: number;
  seed?: number;
  spacingUs?: number;
  concurrent?: number;
}

const A4 = '10.0.0.1';
const B4 = '192.168.0.1';
const A6 = '2001:db8:a::1';
const B6 = '2001:db8:b::1';

interface Tpl {
  frame: Uint8Array;
  /** true when A sends it */
  fromA: boolean;
  v6: boolean;
  proto: number;
  /** TCP: add A's / B's ISN to seq and (when ACK is set) the other's to ack. */
  ack: boolean;
}

function tcpTemplates(v6: boolean): Tpl[] {
  const a = v6 ? A6 : A4;
  const b = v6 ? B6 : B4;
  const data = 'd'.repeat(100);
  const mk = (fromA: boolean, flags: string, seq: number, ack: number, payload?: string): Tpl => ({
    frame: buildFrame({
      ip: fromA ? { src: a, dst: b } : { src: b, dst: a },
      tcp: { sport: fromA ? 40000 : 80, dport: fromA ? 80 : 40000, seq, ack, flags, win: 65535 },
      ...(payload ? { payload } : {}),
    }),
    fromA,
    v6,
    proto: 6,
    ack: flags.includes('A'),
  });
  return [
    mk(true, 'S', 0, 0),
    mk(false, 'SA', 0, 1),
    mk(true, 'A', 1, 1),
    mk(true, 'PA', 1, 1, data),
    mk(false, 'PA', 1, 101, data),
    mk(true, 'FA', 101, 101),
    mk(false, 'A', 101, 102),
    mk(false, 'FA', 101, 102),
    mk(true, 'A', 102, 102),
  ];
}

function udpTemplates(v6: boolean): Tpl[] {
  const a = v6 ? A6 : A4;
  const b = v6 ? B6 : B4;
  return [
    { frame: buildFrame({ ip: { src: a, dst: b }, udp: { sport: 40000, dport: 53 }, payload: 'q'.repeat(40) }), fromA: true, v6, proto: 17, ack: false },
    { frame: buildFrame({ ip: { src: b, dst: a }, udp: { sport: 53, dport: 40000 }, payload: 'r'.repeat(120) }), fromA: false, v6, proto: 17, ack: false },
  ];
}

function icmpTemplates(): Tpl[] {
  return [
    { frame: buildFrame({ ip: { src: A4, dst: B4 }, icmp: { type: 8, code: 0, id: 1, seq: 1 }, payload: 'p'.repeat(56) }), fromA: true, v6: false, proto: 1, ack: false },
    { frame: buildFrame({ ip: { src: B4, dst: A4 }, icmp: { type: 0, code: 0, id: 1, seq: 1 }, payload: 'p'.repeat(56) }), fromA: false, v6: false, proto: 1, ack: false },
  ];
}

const KINDS: { tpl: Tpl[]; share: number }[] = [];
function kinds(): { tpl: Tpl[]; share: number }[] {
  if (KINDS.length === 0) {
    KINDS.push(
      { tpl: tcpTemplates(false), share: 0.55 },
      { tpl: tcpTemplates(true), share: 0.15 },
      { tpl: udpTemplates(false), share: 0.18 },
      { tpl: udpTemplates(true), share: 0.07 },
      { tpl: icmpTemplates(), share: 0.05 },
    );
  }
  return KINDS;
}

const rd32 = (f: Uint8Array, o: number): number => ((f[o]! << 24) | (f[o + 1]! << 16) | (f[o + 2]! << 8) | f[o + 3]!) >>> 0;
function wr32(f: Uint8Array, o: number, v: number): void {
  f[o] = v >>> 24;
  f[o + 1] = (v >>> 16) & 255;
  f[o + 2] = (v >>> 8) & 255;
  f[o + 3] = v & 255;
}
const wr16 = (f: Uint8Array, o: number, v: number): void => {
  f[o] = (v >>> 8) & 255;
  f[o + 1] = v & 255;
};

/** Template `t` of unit `k`: its own A address and port, its ISNs, checksums recomputed. */
function instantiate(t: Tpl, k: number): Uint8Array {
  const f = t.frame.slice();
  const l3 = 14;
  const l4 = t.v6 ? l3 + 40 : l3 + 20;
  // A's address: 10.k (24 bits) / 2001:db8:a::k; B stays the server.
  const aOff = t.v6 ? (t.fromA ? l3 + 8 + 12 : l3 + 24 + 12) : t.fromA ? l3 + 12 : l3 + 16;
  if (t.v6) wr32(f, aOff, k >>> 0);
  else wr32(f, aOff, ((10 << 24) | (k & 0xffffff)) >>> 0);
  if (t.proto === 1) {
    wr16(f, l4 + 4, k & 0xffff); // echo id
  } else {
    const aPort = 1024 + (k % 60000);
    wr16(f, t.fromA ? l4 : l4 + 2, aPort);
  }
  if (t.proto === 6) {
    const isnA = Math.imul(k, 7919) >>> 0;
    const isnB = (Math.imul(k, 104729) + 12345) >>> 0;
    wr32(f, l4 + 4, (rd32(f, l4 + 4) + (t.fromA ? isnA : isnB)) >>> 0);
    if (t.ack) wr32(f, l4 + 8, (rd32(f, l4 + 8) + (t.fromA ? isnB : isnA)) >>> 0);
  }
  const l4Len = f.length - l4;
  if (!t.v6) {
    f[l3 + 10] = 0;
    f[l3 + 11] = 0;
    wr16(f, l3 + 10, finishChecksum(sum16(f, l3, 20)));
  }
  const ck = t.proto === 6 ? l4 + 16 : t.proto === 17 ? l4 + 6 : l4 + 2;
  f[ck] = 0;
  f[ck + 1] = 0;
  const pseudo = t.proto === 1 ? 0 : t.v6 ? pseudoSum6(f, l3, t.proto, l4Len) : pseudoSum4(f, l3, t.proto, l4Len);
  let c = finishChecksum(sum16(f, l4, l4Len, pseudo));
  if (c === 0 && t.proto === 17) c = 0xffff;
  wr16(f, ck, c);
  return f;
}

export interface GenPacket {
  sec: number;
  nsec: number;
  port: number;
  data: Uint8Array;
  origLen: number;
}

/** The capture's packets, one at a time (constant memory: `concurrent` units in flight). */
export function* mixedPackets(o: GenOptions): Generator<GenPacket> {
  const ks = kinds();
  let seed = (o.seed ?? 1) >>> 0 || 1;
  const rnd = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  const spacingNs = Math.round((o.spacingUs ?? 100) * 1000);
  const w = o.concurrent ?? 64;
  const units: { tpl: Tpl[]; k: number; step: number }[] = [];
  let nextK = 0;
  const newUnit = (): { tpl: Tpl[]; k: number; step: number } => {
    const r = rnd();
    let acc = 0;
    let kind = ks[ks.length - 1]!;
    for (const x of ks) {
      acc += x.share;
      if (r < acc) {
        kind = x;
        break;
      }
    }
    return { tpl: kind.tpl, k: nextK++, step: 0 };
  };
  for (let i = 0; i < w; i++) units.push(newUnit());
  let sec = 1_700_000_000;
  let nsec = 0;
  const pkt: GenPacket = { sec, nsec, port: 1, data: new Uint8Array(0), origLen: 0 };
  for (let n = 0; n < o.packets; n++) {
    const slot = Math.floor(rnd() * w);
    const u = units[slot]!;
    const t = u.tpl[u.step]!;
    pkt.data = instantiate(t, u.k);
    pkt.origLen = pkt.data.length;
    pkt.port = t.fromA ? 1 : 2;
    pkt.sec = sec;
    pkt.nsec = nsec;
    yield pkt;
    if (++u.step === u.tpl.length) units[slot] = newUnit();
    nsec += spacingNs;
    while (nsec >= 1e9) {
      nsec -= 1e9;
      sec++;
    }
  }
}

/** Writes the capture to a stream, waiting on its backpressure. */
export async function writeMixedCapture(out: NodeJS.WritableStream, format: CaptureFormat, o: GenOptions): Promise<void> {
  const w = new CaptureWriter(format, { nanos: false });
  const flush = async (): Promise<void> => {
    if (!out.write(w.take())) await new Promise<void>((res) => out.once('drain', () => res()));
  };
  for (const p of mixedPackets(o)) {
    w.write(p);
    if (w.pending >= 1 << 16) await flush();
  }
  await flush();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      packets: { type: 'string', default: '100000' },
      format: { type: 'string', default: 'pcap' },
      out: { type: 'string', default: '-' },
      'spacing-us': { type: 'string', default: '100' },
      seed: { type: 'string', default: '1' },
      concurrent: { type: 'string', default: '64' },
    },
  });
  const format = values.format === 'pcapng' ? 'pcapng' : 'pcap';
  const out = values.out === '-' ? process.stdout : createWriteStream(values.out!);
  out.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  await writeMixedCapture(out, format, {
    packets: Number(values.packets),
    spacingUs: Number(values['spacing-us']),
    seed: Number(values.seed),
    concurrent: Number(values.concurrent),
  });
  if (out !== process.stdout) await new Promise<void>((res) => out.end(() => res()));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
