/**
 * `ctoffload replay` as users run it: whole processes (start-up, reading the capture, the
 * model, writing every row), timed with GNU time (`/usr/bin/time`: wall, user + sys CPU, peak
 * RSS), next to Open vSwitch's own C tracker on the same file in the same run.
 *
 * 1. The anchor: a mixed capture of 440 000 packets (bench/gencap.ts: TCP sessions, UDP, ICMP,
 *    IPv4 and IPv6; classic pcap, since `ovstest` reads no pcapng) through
 *    `ovstest test-conntrack pcap FILE` (openvswitch/ovs tests/test-conntrack.c `test_pcap`,
 *    docs/conntrack-semantics.md §9.7: every packet committed in zone 0 on the real clock, one
 *    "N: ct_state" line per packet) and through
 *    `ctoffload replay` with the same semantics as a policy (`ct(commit,table=1)` for ip and
 *    ipv6), text rows. Both write to /dev/null. Runs alternate (ovstest, ours) `PAIRS` times;
 *    the figures are medians, the ratio is ours / ovstest of the median CPU time (user + sys,
 *    less sensitive than wall time to other load on the machine) and of wall time. The two
 *    outputs' ct_state counts are compared once (they must agree).
 *    ovstest is found through CTOFFLOAD_OVSTEST or PATH; without it the figure says
 *    "anchor absent" (and a loud line goes to stderr). Debian ships no ovstest binary:
 *    ../shared/tools/build-ovstest.sh builds one from openvswitch-source.
 * 2. Rates: packets/s (wall) of `replay` with text rows and with `--json`.
 * 3. Peak RSS of `replay --pcap -` reading 10^5 and 10^6 packets generated on the fly
 *    through a pipe (and 10^7 with CTOFFLOAD_BENCH_LARGE=1: about a minute on 2 cores): it
 *    must stay flat (≤ 200 MB), the capture's length must not matter.
 * 4. With CTOFFLOAD_BENCH_LARGE=1, the ratio once more on a capture 10× larger, where V8's
 *    warm-up (the first ~16 000 packets run before the hot path is optimized, about 0.3 s of
 *    CPU) weighs less. Not like for like in one respect: ovstest's clock is the wall clock, so
 *    it keeps every connection, while the replay's clock is the capture's and expires them.
 *
 * Where the time goes (node --cpu-prof of the 440 000-packet text run, and /usr/bin/time of
 * `replay --help` and of a 10-packet capture): start-up about 0.19 s of CPU against 0.09 s for
 * `node -e 0` — some 40 ES modules of the model at 1.5-2 ms each (no npm package: the report
 * writer, offload, P4Runtime and fast-check load only with the commands that use them, held so
 * by test/harness/cli/startup-imports.test.ts; through signals.ts they once cost replay
 * 0.57 s of start-up); then per packet about 45 % tracker and pipeline
 * (model/conntrack, model/pipeline), 10-13 % rows, 8 % capture reading, 10 % garbage
 * collection. This machine (a Firecracker VM) takes about 11 µs per first touch of a page, so
 * memory newly written costs CPU too: the streaming tracker starts at 64 Ki slots
 * (model/replay.ts STREAM_INITIAL_CONNECTIONS: no doubling copies), the capture reader reuses
 * one view per frame length (model/packet/capreader.ts), and rows written to standard output
 * reuse their buffers (harness/cli/replay.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { whichSync } from '../p4/which.js';
import { median } from './common.js';
import type { BenchResult } from './result.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const MAIN = join(HERE, '..', 'harness', 'cli', 'main.js');
const GENCAP = join(HERE, 'gencap.js');
const TIME = '/usr/bin/time';

/** ovstest's semantics as a policy: every IP packet committed in zone 0 (ct(commit)), state reported in table 1. */
export const OVSTEST_POLICY = `table=0,priority=10,ip,actions=ct(commit,table=1)
table=0,priority=10,ipv6,actions=ct(commit,table=1)
table=0,priority=0,actions=drop
table=1,priority=0,actions=drop
`;

const ANCHOR_PACKETS = 440_000;
const PAIRS = 5;

interface Run {
  wall: number;
  cpu: number;
  rssMb: number;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs `shell` (a bash command line) under GNU time, measuring `timed` (the part after `|`, if any, is what `timed` names). */
function timed(cmd: string): Run {
  const dir = mkdtempSync(join(tmpdir(), 'cto-bench-t-'));
  const out = join(dir, 'time');
  try {
    const r = spawnSync('bash', ['-c', cmd.replace('@TIME@', `${TIME} -o ${q(out)} -f '%e %U %S %M'`)], { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`bench command failed (${r.status}): ${cmd}\n${r.stderr.toString().slice(-2000)}`);
    const [wall, user, sys, rss] = readFileSync(out, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
    return { wall: wall!, cpu: user! + sys!, rssMb: rss! / 1024 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function findOvstest(): string | null {
  const env = process.env.CTOFFLOAD_OVSTEST;
  if (env) return whichSync(env) ? env : null;
  return whichSync('ovstest') ? 'ovstest' : null;
}

/** ct_state counts of ovstest's "N: state" lines. */
function ovstestStates(ovstest: string, file: string): Record<string, number> {
  const text = execFileSync(ovstest, ['test-conntrack', 'pcap', file], { maxBuffer: 1 << 30 }).toString();
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(': ');
    if (i < 0) continue;
    const s = line.slice(i + 2);
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return counts;
}

function ourStates(policy: string, file: string): Record<string, number> {
  const out = execFileSync(process.execPath, [MAIN, 'replay', '--policy', policy, '--pcap', file, '--summary', '--json'], { maxBuffer: 1 << 24 }).toString();
  return (JSON.parse(out) as { ct_state: Record<string, number> }).ct_state;
}

const same = (a: Record<string, number>, b: Record<string, number>): boolean =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

export async function benchReplay(): Promise<BenchResult[]> {
  if (!whichSync(TIME)) return [{ name: 'replay vs ovstest', value: 0, unit: '', note: `skipped: ${TIME} (GNU time) not found` }];
  const dir = mkdtempSync(join(tmpdir(), 'cto-bench-replay-'));
  const out: BenchResult[] = [];
  try {
    const policy = join(dir, 'ovstest.flows');
    writeFileSync(policy, OVSTEST_POLICY);
    const cap = join(dir, 'mixed.pcap');
    execFileSync(process.execPath, [GENCAP, '--packets', String(ANCHOR_PACKETS), '--out', cap]);
    const ours = `@TIME@ ${q(process.execPath)} ${q(MAIN)} replay --policy ${q(policy)} --pcap ${q(cap)} > /dev/null`;
    const oursJson = `${ours.replace(' > /dev/null', '')} --json > /dev/null`;
    const ovstest = findOvstest();
    if (!ovstest) {
      process.stderr.write('\n*** ANCHOR ABSENT: ovstest not found (set CTOFFLOAD_OVSTEST or put ovstest on PATH; ../shared/tools/build-ovstest.sh builds it). No ratio to OVS\'s C tracker is reported. ***\n\n');
    }
    const o: Run[] = [];
    const m: Run[] = [];
    const j: Run[] = [];
    for (let i = 0; i < PAIRS; i++) {
      if (ovstest) o.push(timed(`@TIME@ ${q(ovstest)} test-conntrack pcap ${q(cap)} > /dev/null`));
      m.push(timed(ours));
      j.push(timed(oursJson));
    }
    const med = (rs: Run[], k: keyof Run): number => median(rs.map((r) => r[k]));
    const r2 = (x: number): number => Math.round(x * 100) / 100;
    const packets = `${ANCHOR_PACKETS.toLocaleString('en-US')} packets`;
    if (ovstest) {
      const agree = same(ovstestStates(ovstest, cap), ourStates(policy, cap));
      out.push({ name: `ovstest test-conntrack pcap, ${packets}: CPU`, value: r2(med(o, 'cpu')), unit: 's', note: `wall ${med(o, 'wall').toFixed(2)} s, peak RSS ${med(o, 'rssMb').toFixed(0)} MB` });
      out.push({ name: `ctoffload replay (text rows), same file: CPU`, value: r2(med(m, 'cpu')), unit: 's', note: `wall ${med(m, 'wall').toFixed(2)} s, peak RSS ${med(m, 'rssMb').toFixed(0)} MB` });
      out.push({
        name: 'ratio ours / ovstest, CPU (goal ≤ 1.0, bar ≤ 2.0)',
        value: r2(med(m, 'cpu') / med(o, 'cpu')),
        unit: '×',
        note: `wall ratio ${(med(m, 'wall') / med(o, 'wall')).toFixed(2)}×; medians of ${PAIRS} alternating runs; ct_state counts ${agree ? 'agree' : 'DISAGREE'}`,
      });
    } else {
      out.push({ name: 'ratio ours / ovstest', value: 0, unit: '', note: 'anchor absent: ovstest not found (CTOFFLOAD_OVSTEST or PATH)' });
    }
    out.push({ name: `replay, text rows (${packets}, whole process)`, value: Math.round(ANCHOR_PACKETS / med(m, 'wall')), unit: 'packets/s', note: `CPU ${med(m, 'cpu').toFixed(2)} s` });
    out.push({ name: `replay --json (${packets}, whole process)`, value: Math.round(ANCHOR_PACKETS / med(j, 'wall')), unit: 'packets/s', note: `CPU ${med(j, 'cpu').toFixed(2)} s, peak RSS ${med(j, 'rssMb').toFixed(0)} MB` });
    const large = process.env.CTOFFLOAD_BENCH_LARGE === '1';
    if (ovstest && large) {
      // The same comparison at 10× the size, one run each: the JIT's warm-up (~0.3 s) weighs less.
      // ovstest keeps every connection (its clock is the wall clock), ours expires them on capture time.
      const big = join(dir, 'mixed-10x.pcap');
      execFileSync(process.execPath, [GENCAP, '--packets', String(ANCHOR_PACKETS * 10), '--out', big]);
      const ob = timed(`@TIME@ ${q(ovstest)} test-conntrack pcap ${q(big)} > /dev/null`);
      const mb = timed(`@TIME@ ${q(process.execPath)} ${q(MAIN)} replay --policy ${q(policy)} --pcap ${q(big)} > /dev/null`);
      rmSync(big, { force: true });
      out.push({
        name: `ratio ours / ovstest, CPU, ${(ANCHOR_PACKETS * 10).toLocaleString('en-US')} packets`,
        value: r2(mb.cpu / ob.cpu),
        unit: '×',
        note: `ovstest ${ob.cpu.toFixed(2)} s / ${ob.rssMb.toFixed(0)} MB, ours ${mb.cpu.toFixed(2)} s / ${mb.rssMb.toFixed(0)} MB; one run each`,
      });
    }
    const sizes = [100_000, 1_000_000, ...(large ? [10_000_000] : [])];
    for (const n of sizes) {
      const r = timed(`${q(process.execPath)} ${q(GENCAP)} --packets ${n} | @TIME@ ${q(process.execPath)} ${q(MAIN)} replay --policy ${q(policy)} --pcap - > /dev/null`);
      out.push({ name: `peak RSS, replay --pcap - of ${n.toLocaleString('en-US')} packets through a pipe`, value: Math.round(r.rssMb), unit: 'MB', note: `bar ≤ 200 MB; ${Math.round(n / r.wall).toLocaleString('en-US')} packets/s incl. generation on the other end of the pipe` });
    }
    if (!large) out.push({ name: 'peak RSS for 10 000 000 packets; ratio at 4 400 000', value: 0, unit: '', note: 'opt-in: CTOFFLOAD_BENCH_LARGE=1 (about a minute more on 2 cores)' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await benchReplay()) console.log(`${r.name}: ${r.value} ${r.unit}${r.note ? ` (${r.note})` : ''}`);
}
