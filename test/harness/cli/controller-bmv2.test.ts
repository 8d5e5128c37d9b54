/**
 * `ctoffload controller` against a real simple_switch_grpc, as deployed: the daemon is a child
 * process (the built CLI), its clock is the wall clock, ageing comes from the switch's direct
 * counters and idle notifications, and packets go in and out through bmv2's dataplane gRPC
 * service. Every wait polls a condition with a generous deadline; figures (handshake → offload,
 * UDP expiry, restart recovery) are printed, never asserted as short.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildFrame, type FrameSpec } from '../../../model/packet/build.js';
import { P4RuntimeClient, openDataplane, type DataplaneChannel } from '../../../p4/index.js';
import { PROBE_F_PACKET_OUT, PROBE_MAGIC } from '../../../offload/index.js';
import { runStatus } from '../../../harness/cli/status.js';
import { describeWithTools, BMV2_TOOL, P4C_TOOL } from '../../support/tools.js';
import { DaemonProcess, TestSwitch, ensureBuilt, until } from './controller-support.js';

const TOOLS = [BMV2_TOOL, P4C_TOOL];

const dir = mkdtempSync(join(tmpdir(), 'cto-ctl-bmv2-'));
const POLICY = join(dir, 'fw.flows');
writeFileSync(
  POLICY,
  `# short UDP timeouts keep the ageing test fast (ctoffload directive, README)
timeout_policy short udp_first=1,udp_single=1,udp_multiple=2
table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=0,priority=0,actions=drop
table=1,priority=20,udp,in_port=1,tp_dst=5353,ct_state=+trk+new,actions=ct(commit,zone=5),output:2
table=1,priority=10,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=5,timeout=short),output:2
table=1,priority=10,ip,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=10,ip,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=0,actions=drop
`,
);

// The daemon runs the observation build (offload/probe.ts), proven equal to the production
// program but for observation (test/offload/observation-*.test.ts): its outputs carry the probe,
// so a hardware output can be told from the slow path's reinjected one (probe flag PACKET_OUT).
const OBSERVE = join(dir, 'observe.json');
writeFileSync(OBSERVE, JSON.stringify({ probe: true }));

const A = '10.0.0.1';
const B = '192.168.1.2';
const tcp = (from: 'a' | 'b', flags: string, seq: number, ack: number, sport: number, payload?: string): Uint8Array =>
  buildFrame({
    ...(from === 'a' ? { ip: { src: A, dst: B }, tcp: { sport, dport: 80, seq, ack, flags, win: 65535 } } : { ip: { src: B, dst: A }, tcp: { sport: 80, dport: sport, seq, ack, flags, win: 65535 } }),
    ...(payload ? { payload } : {}),
  } as FrameSpec);
const udp = (from: 'a' | 'b', sport: number, dport = 53): Uint8Array =>
  buildFrame(from === 'a' ? { ip: { src: A, dst: B }, udp: { sport, dport }, payload: 'query' } : { ip: { src: B, dst: A }, udp: { sport: dport, dport: sport }, payload: 'answer' });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fig = (s: string): void => void process.stderr.write(`[controller-bmv2 figure] ${s}\n`);

/** Conntrack entries of one connection (by its client port) in the switch. */
async function ctEntriesOf(sw: TestSwitch, sport: number): Promise<number> {
  return (await sw.ct()).filter((e) => e.match.sport?.kind === 'exact' && (e.match.sport.value === BigInt(sport) || e.match.dport?.kind === 'exact' && e.match.dport.value === BigInt(sport))).length;
}

describe('ctoffload controller (child process): usage errors', () => {
  beforeAll(() => ensureBuilt(), 600_000);

  it('a bad argument exits 2 with the option named, no stack trace', async () => {
    const d = new DaemonProcess(['--policy', POLICY, '--p4runtime', '127.0.0.1:1', '--poll-interval', 'soon']);
    const { code } = await d.exit;
    expect(code).toBe(2);
    expect(d.log).toMatch(/--poll-interval: "soon" is not a non-negative integer/);
    expect(d.log).not.toMatch(/\n\s+at /);
  });
});

describeWithTools('ctoffload controller (child process) against simple_switch_grpc', TOOLS, () => {
  let sw: TestSwitch | undefined;
  let dp: DataplaneChannel | undefined;
  const daemons: DaemonProcess[] = [];

  beforeAll(() => ensureBuilt(), 600_000);

  afterEach(async () => {
    dp?.close();
    dp = undefined;
    for (const d of daemons.splice(0)) await d.destroy();
    await sw?.dispose();
    sw = undefined;
  });

  function daemon(...extra: string[]): DaemonProcess {
    const d = new DaemonProcess(['--policy', POLICY, '--p4runtime', sw!.address, '--metrics', '127.0.0.1:0', '--log-level', 'debug', ...(extra.includes('--config') ? [] : ['--config', OBSERVE]), ...extra]);
    daemons.push(d);
    return d;
  }

  async function ready(d: DaemonProcess): Promise<void> {
    await d.waitLine(/serving PacketIns/, 120_000);
    await until('the metrics URL', () => d.metricsUrl);
    dp ??= await openDataplane({ address: sw!.dataplaneAddress, deviceId: 1 }, { readyDeadlineMs: 30_000 });
  }

  /**
   * Send one frame; resolves with the ports of its hardware outputs. The daemon's PacketOuts
   * (slow-path outputs, probe flag PACKET_OUT) are left out: one injected while our packet is in
   * flight can swap dataplane ids with it (docs/p4-target-interfaces.md §5.3), so outputs that came
   * back untracked during the send count too, told apart by the probe flag.
   */
  async function send(port: number, frame: Uint8Array): Promise<number[]> {
    const u0 = dp!.untracked.length;
    const r = await dp!.send(port, frame);
    const slow = (b: Uint8Array): boolean => b.length >= 4 && ((b[0]! << 8) | b[1]!) === PROBE_MAGIC && (b[3]! & PROBE_F_PACKET_OUT) !== 0;
    return [...r.outputs, ...dp!.untracked.slice(u0)].filter((o) => !slow(o.bytes)).map((o) => o.port);
  }

  /** Send a punted frame and wait until the daemon has taken its PacketIn. */
  async function punt(d: DaemonProcess, port: number, frame: Uint8Array): Promise<void> {
    const n = await d.metric('packet_ins_total');
    const out = await send(port, frame);
    expect(out, 'a punted packet has no hardware output').toEqual([]);
    await until('the PacketIn to be served', async () => (await d.metric('packet_ins_total')) > n);
  }

  /** TCP handshake through the slow path; resolves once both entries are in the switch. */
  async function handshake(d: DaemonProcess, sport: number): Promise<number> {
    await punt(d, 1, tcp('a', 'S', 1000, 0, sport));
    await punt(d, 2, tcp('b', 'SA', 5000, 1001, sport));
    const t0 = performance.now();
    await send(1, tcp('a', 'A', 1001, 5001, sport));
    await until(`both entries of TCP connection :${sport} in the switch`, async () => (await ctEntriesOf(sw!, sport)) === 2);
    return performance.now() - t0;
  }

  it('TCP: after the handshake the session is decided in hardware (no PacketIn for data, entries present)', async () => {
    sw = await TestSwitch.create();
    const d = daemon();
    await ready(d);
    expect(d.log).toMatch(/pipeline pushed \(the switch had no pipeline\); static entries: \d+ inserted/);
    const ms = await handshake(d, 40000);
    fig(`handshake ACK sent → both conntrack entries in the switch: ${ms.toFixed(0)} ms`);
    const pins = await d.metric('packet_ins_total');
    for (let i = 0; i < 5; i++) {
      expect(await send(1, tcp('a', 'PA', 1001 + i * 4, 5001, 40000, 'data'))).toEqual([2]);
      expect(await send(2, tcp('b', 'A', 5001, 1005 + i * 4, 40000))).toEqual([1]);
    }
    expect(await d.metric('packet_ins_total')).toBe(pins);
    const ents = await sw.ct();
    expect(ents).toHaveLength(2);
    expect(ents.every((e) => (e.counterData?.packetCount ?? 0n) >= 5n)).toBe(true);
    expect(await d.metric('entries_installed')).toBe(2);
    expect(await d.metric('model_connections')).toBe(1);
    // the wall clock polls the direct counters and sees the hits
    await until('a direct-counter poll that refreshed the connection', async () => (await d.metric('refreshed_by_hits_total')) >= 1);
    expect(await d.metric('punts_total', 'CT_MISS')).toBe(3);
    // ctoffload status shows the running daemon
    let out = '';
    expect(await runStatus(['--metrics-url', d.metricsUrl!], { out: (x) => void (out += x), err: () => undefined })).toBe(0);
    const st = JSON.parse(out) as { controller: Record<string, unknown> };
    expect(st.controller).toMatchObject({ up: 1, entries_installed: 2, model_connections: 1, punts_total: { CT_MISS: 3 } });
  }, 180_000);

  it('UDP: aged out by the wall clock (model timeout 2 s, poll 1 s); entries deleted; the next packet punts again', async () => {
    sw = await TestSwitch.create();
    const d = daemon('--poll-interval', '1000');
    await ready(d);
    // On a loaded machine the 2 s timeout may run out between the exchange and the hardware
    // packet: then that packet punts and starts over; retry until one is decided in hardware.
    let hw: number[] = [];
    for (let i = 0; i < 10 && hw.length === 0; i++) {
      await punt(d, 1, udp('a', 7000));
      await punt(d, 2, udp('b', 7000));
      hw = await send(1, udp('a', 7000));
    }
    expect(hw).toEqual([2]);
    const tLast = performance.now();
    await until('the UDP entries to age out', async () => (await ctEntriesOf(sw!, 7000)) === 0, 60_000, 50);
    const agedMs = performance.now() - tLast;
    fig(`UDP (udp_multiple=2 s, poll 1000 ms): entries gone ${agedMs.toFixed(0)} ms after the last hardware packet`);
    expect(await d.metric('expired_connections_total')).toBeGreaterThanOrEqual(1);
    expect(await d.metric('model_connections')).toBe(0);
    await punt(d, 1, udp('a', 7000)); // a new connection, through the slow path
  }, 180_000);

  it('switch restart: the daemon reconnects, re-pushes the pipeline and writes every connection back; none lost from the model', async () => {
    sw = await TestSwitch.create();
    const d = daemon('--connect-timeout', '60000');
    await ready(d);
    for (const sport of [41001, 41002, 41003]) await handshake(d, sport);
    expect(await sw.ct()).toHaveLength(6);
    expect(await d.metric('model_connections')).toBe(3);
    dp!.close();
    dp = undefined;
    const lines = d.lines.length;
    await sw.stop('SIGKILL');
    await d.waitLine(/connection lost: /, 60_000, lines);
    const t0 = performance.now();
    await sw.start();
    const rec = await d.waitLine(/reconnected after \d+ ms \(pipeline pushed\): 3 model connections, 6 entries written back/, 90_000, lines);
    fig(`switch restart: P4Runtime up again → daemon reconnected and 6 entries written back: ${(rec.t - t0).toFixed(0)} ms (daemon's own loss → rebuilt: ${/after (\d+) ms/.exec(rec.text)![1]} ms)`);
    expect(await sw.ct()).toHaveLength(6);
    expect(await d.metric('model_connections')).toBe(3);
    expect(await d.metric('reconnects_total')).toBe(1);
    expect(await d.metric('pipeline_pushes_total')).toBe(2);
    expect(await d.metric('up')).toBe(1);
    // the connections are decided in hardware again, without a PacketIn
    dp = await openDataplane({ address: sw.dataplaneAddress, deviceId: 1 }, { readyDeadlineMs: 30_000 });
    const pins = await d.metric('packet_ins_total');
    for (const sport of [41001, 41002, 41003]) expect(await send(1, tcp('a', 'PA', 1001, 5001, sport, 'after'))).toEqual([2]);
    expect(await d.metric('packet_ins_total')).toBe(pins);
  }, 240_000);

  it('primaryship lost to a higher election id: the daemon waits as backup, then regains it, attaches (tables kept) and writes back', async () => {
    sw = await TestSwitch.create();
    const d = daemon('--connect-timeout', '60000');
    await ready(d);
    await handshake(d, 44000);
    const lines = d.lines.length;
    const other = await P4RuntimeClient.connect(sw.address, { deviceId: 1n, electionId: { high: 2n, low: 0n }, reconnect: false, deadlineMs: 10_000 });
    try {
      expect(other.isPrimary).toBe(true);
      await d.waitLine(/connection lost: primaryship lost to election id 36893488147419103232/, 60_000, lines);
      await d.waitLine(/backup \(primary election id 36893488147419103232\); waiting to become primary/, 60_000, lines);
      expect(await d.metric('up')).toBe(0);
    } finally {
      other.close();
    }
    const rec = await d.waitLine(/reconnected after \d+ ms \(pipeline attached\): 1 model connection, 2 entries written back/, 60_000, lines);
    fig(`primaryship regained → ${/after (\d+) ms/.exec(rec.text)![1]} ms from loss to entries written back (attached, tables kept)`);
    expect(await d.metric('pipeline_pushes_total')).toBe(1);
    expect(await ctEntriesOf(sw, 44000)).toBe(2);
    expect(await send(1, tcp('a', 'PA', 1001, 5001, 44000, 'x'))).toEqual([2]);
  }, 180_000);

  it('SIGTERM with --on-exit keep: exit 0, entries stay and keep forwarding; a new daemon attaches without wiping them', async () => {
    sw = await TestSwitch.create();
    const d = daemon();
    await ready(d);
    await handshake(d, 42000);
    const t0 = performance.now();
    d.kill('SIGTERM');
    const { code } = await d.exit;
    fig(`SIGTERM (keep) → exit: ${(performance.now() - t0).toFixed(0)} ms`);
    expect(code).toBe(0);
    expect(d.log).toMatch(/leaving 2 conntrack entries of 1 connection\(s\) in hardware \(on-exit keep\)/);
    expect(d.log).toMatch(/stopped$/m);
    expect(await ctEntriesOf(sw, 42000)).toBe(2);
    expect(await send(1, tcp('a', 'PA', 1001, 5001, 42000, 'still'))).toEqual([2]);
    // a second daemon finds its program loaded and keeps the tables
    const d2 = daemon();
    await d2.waitLine(/serving PacketIns/, 120_000);
    expect(d2.log).toMatch(/pipeline attached \(cookie 0x[0-9a-f]+ matches\)/);
    expect(d2.log).toMatch(/2 conntrack entries left in hardware by an earlier controller/);
    expect(await ctEntriesOf(sw, 42000)).toBe(2);
    expect(await send(1, tcp('a', 'PA', 1005, 5001, 42000, 'again'))).toEqual([2]);
  }, 180_000);

  it('entries left by an earlier daemon are deleted once the switch reports them idle (idle-timeout notifications)', async () => {
    sw = await TestSwitch.create();
    const d = daemon();
    await ready(d);
    // port 5353: no timeout policy, so the model and the entries' idle timeout are udp_multiple = 30 s
    await punt(d, 1, udp('a', 7200, 5353));
    await punt(d, 2, udp('b', 7200, 5353));
    await until('the UDP entries in the switch', async () => (await ctEntriesOf(sw!, 7200)) === 2);
    const tLast = performance.now();
    d.kill('SIGTERM');
    expect((await d.exit).code).toBe(0);
    const d2 = daemon();
    await d2.waitLine(/2 conntrack entries left in hardware by an earlier controller/, 120_000);
    // one notification or two (bmv2 sweeps per entry, PI batches for 100 ms): wait for both deletions
    await until('both idle entries deleted', async () => (await d2.metric('stale_entries_deleted_total')) === 2, 120_000, 250);
    fig(`entries left by an earlier daemon (idle timeout 30 s): deleted ${((performance.now() - tLast) / 1000).toFixed(1)} s after their last packet`);
    expect(d2.log).toMatch(/deleted [12] idle conntrack entr(y|ies) no model connection owns/);
    expect(await ctEntriesOf(sw, 7200)).toBe(0);
    expect(await d2.metric('idle_notifications_total')).toBeGreaterThanOrEqual(2);
  }, 240_000);

  it('SIGTERM with --on-exit flush: exit 0, every conntrack entry it installed is deleted, the policy stays', async () => {
    sw = await TestSwitch.create();
    const d = daemon('--on-exit', 'flush');
    await ready(d);
    await handshake(d, 43000);
    await handshake(d, 43001);
    expect(await sw.ct()).toHaveLength(4);
    d.kill('SIGTERM');
    const { code } = await d.exit;
    expect(code).toBe(0);
    expect(d.log).toMatch(/flushed 4 of 4 conntrack entries \(on-exit flush\)/);
    expect(await sw.ct()).toHaveLength(0);
    expect((await sw.read('stage')).length).toBeGreaterThan(0);
  }, 180_000);

  it('table full: a connection whose INSERT the switch refuses stays in the slow path, logged and counted', async () => {
    sw = await TestSwitch.create();
    const cfg = join(dir, 'small.json');
    writeFileSync(cfg, JSON.stringify({ tableSizes: { conntrack: 2 }, probe: true }));
    const d = daemon('--config', cfg);
    await ready(d);
    await handshake(d, 45000); // 2 entries: the table is full
    await punt(d, 1, tcp('a', 'S', 1000, 0, 45001));
    await punt(d, 2, tcp('b', 'SA', 5000, 1001, 45001));
    await punt(d, 1, tcp('a', 'A', 1001, 5001, 45001));
    await d.waitLine(/conntrack table full: \d+ INSERTs refused since the last report; 1 connection\(s\) served by the slow path only/);
    expect(await d.metric('failures_total', 'table_full')).toBeGreaterThanOrEqual(1);
    expect(await d.metric('slow_path_only')).toBe(1);
    expect(await d.metric('model_connections')).toBe(2);
    expect(await ctEntriesOf(sw, 45001)).toBe(0);
    // its data still flows, through the slow path
    const outs = await d.metric('packet_outs_total');
    await punt(d, 1, tcp('a', 'PA', 1001, 5001, 45001, 'slow'));
    await until('the PacketOut of the slow-path data packet', async () => (await d.metric('packet_outs_total')) > outs);
  }, 180_000);

  it('an unreachable switch: exit 3 after --connect-timeout, the address named', async () => {
    sw = await TestSwitch.create();
    const addr = sw.address;
    await sw.stop('SIGKILL');
    const d = new DaemonProcess(['--policy', POLICY, '--p4runtime', addr, '--connect-timeout', '3000']);
    daemons.push(d);
    const { code } = await d.exit;
    expect(code).toBe(3);
    expect(d.log).toMatch(new RegExp(`no usable P4Runtime session with ${addr.replace(/\./g, '\\.')} within 3000 ms`));
    expect(d.log).not.toMatch(/\n\s+at /);
  }, 120_000);
});
