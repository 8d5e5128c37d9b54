/**
 * `ctoffload controller` (child process) against a real simple_switch_grpc under a policy change
 * (issue 15): the policy file is rewritten and the daemon is sent SIGHUP while a connection is
 * offloaded. Every wait is for a log line, a metric or an entry count (deadlines only fail a
 * test, they never decide it).
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildFrame, type FrameSpec } from '../../../model/packet/build.js';
import { openDataplane, type DataplaneChannel } from '../../../p4/index.js';
import { PROBE_F_PACKET_OUT, PROBE_MAGIC } from '../../../offload/index.js';
import { describeWithTools, BMV2_TOOL, P4C_TOOL } from '../../support/tools.js';
import { DaemonProcess, TestSwitch, ensureBuilt, until } from './controller-support.js';

const TOOLS = [BMV2_TOOL, P4C_TOOL];
const dir = mkdtempSync(join(tmpdir(), 'cto-ctl-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const EST_FROM_1 = 'table=1,priority=10,ip,in_port=1,ct_state=+trk+est,actions=output:2\n';
const BASE = `table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=0,priority=0,actions=drop
table=1,priority=10,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=5),output:2
${EST_FROM_1}table=1,priority=10,ip,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=0,actions=drop
`;
/** The allow rule of the offloaded direction removed: same program shape. */
const NO_EST = BASE.replace(EST_FROM_1, '');
/** Another zone tracked too: the program's shape changes (zone sets), zone 5 stays offloaded. */
const MORE_ZONES = BASE.replace('table=0,priority=0,actions=drop', 'table=0,priority=20,udp,tp_dst=9999,actions=ct(table=1,zone=9)\ntable=0,priority=0,actions=drop');
/** Zone 5 replaced by zone 6: connections of zone 5 are no longer looked up in hardware. */
const ZONE_6 = BASE.replace(/zone=5/g, 'zone=6');

const OBSERVE = join(dir, 'observe.json');
writeFileSync(OBSERVE, JSON.stringify({ probe: true }));

const A = '10.0.0.1';
const B = '192.168.1.2';
const tcp = (from: 'a' | 'b', flags: string, seq: number, ack: number, sport: number, payload?: string): Uint8Array =>
  buildFrame({
    ...(from === 'a' ? { ip: { src: A, dst: B }, tcp: { sport, dport: 80, seq, ack, flags, win: 65535 } } : { ip: { src: B, dst: A }, tcp: { sport: 80, dport: sport, seq, ack, flags, win: 65535 } }),
    ...(payload ? { payload } : {}),
  } as FrameSpec);

const fig = (s: string): void => void process.stderr.write(`[controller-policy-bmv2 figure] ${s}\n`);

describe('ctoffload controller (child process): SIGHUP before the daemon serves', () => {
  beforeAll(() => ensureBuilt(), 600_000);

  it('is logged and ignored (never the default termination); the daemon still stops cleanly on SIGTERM', async () => {
    const file = join(dir, 'early.flows');
    writeFileSync(file, BASE);
    // nothing listens on port 1: the daemon stays in its connect loop
    const d = new DaemonProcess(['--policy', file, '--p4runtime', '127.0.0.1:1', '--connect-timeout', '120000', '--log-level', 'debug']);
    try {
      await d.waitLine(/starting: P4Runtime 127\.0\.0\.1:1/, 120_000);
      d.kill('SIGHUP');
      await d.waitLine(/SIGHUP while starting: ignored/);
      d.kill('SIGTERM');
      const end = await d.exit;
      expect(end.signal).toBeNull();
      expect(end.code).toBe(0);
    } finally {
      await d.destroy();
    }
  }, 300_000);
});

describeWithTools('ctoffload controller (child process): policy change on SIGHUP, against simple_switch_grpc', TOOLS, () => {
  let sw: TestSwitch | undefined;
  let dp: DataplaneChannel | undefined;
  const daemons: DaemonProcess[] = [];
  let n = 0;

  beforeAll(() => ensureBuilt(), 600_000);

  afterEach(async () => {
    dp?.close();
    dp = undefined;
    for (const d of daemons.splice(0)) await d.destroy();
    await sw?.dispose();
    sw = undefined;
  });

  /** A daemon on a policy file of its own (rewritten by the test). */
  async function start(text: string, ...extra: string[]): Promise<{ d: DaemonProcess; file: string }> {
    sw = await TestSwitch.create();
    const file = join(dir, `policy-${n++}.flows`);
    writeFileSync(file, text);
    const d = new DaemonProcess(['--policy', file, '--p4runtime', sw.address, '--metrics', '127.0.0.1:0', '--log-level', 'debug', '--config', OBSERVE, ...extra]);
    daemons.push(d);
    await d.waitLine(/serving PacketIns/, 120_000);
    await until('the metrics URL', () => d.metricsUrl);
    dp = await openDataplane({ address: sw.dataplaneAddress, deviceId: 1 }, { readyDeadlineMs: 30_000 });
    return { d, file };
  }

  /** Hardware outputs of one frame (the daemon's PacketOuts, probe flag PACKET_OUT, left out). */
  async function send(port: number, frame: Uint8Array): Promise<number[]> {
    const u0 = dp!.untracked.length;
    const r = await dp!.send(port, frame);
    const slow = (b: Uint8Array): boolean => b.length >= 4 && ((b[0]! << 8) | b[1]!) === PROBE_MAGIC && (b[3]! & PROBE_F_PACKET_OUT) !== 0;
    return [...r.outputs, ...dp!.untracked.slice(u0)].filter((o) => !slow(o.bytes)).map((o) => o.port);
  }

  async function punt(d: DaemonProcess, port: number, frame: Uint8Array): Promise<void> {
    const pins = await d.metric('packet_ins_total');
    expect(await send(port, frame), 'a punted packet has no hardware output').toEqual([]);
    await until('the PacketIn to be served', async () => (await d.metric('packet_ins_total')) > pins);
  }

  async function ctEntriesOf(sport: number): Promise<number> {
    return (await sw!.ct()).filter((e) => e.match.sport?.kind === 'exact' && (e.match.sport.value === BigInt(sport) || (e.match.dport?.kind === 'exact' && e.match.dport.value === BigInt(sport)))).length;
  }

  /** TCP handshake through the slow path, then data decided in hardware. */
  async function offloaded(d: DaemonProcess, sport: number): Promise<void> {
    await punt(d, 1, tcp('a', 'S', 1000, 0, sport));
    await punt(d, 2, tcp('b', 'SA', 5000, 1001, sport));
    await send(1, tcp('a', 'A', 1001, 5001, sport));
    await until(`both entries of :${sport} in the switch`, async () => (await ctEntriesOf(sport)) === 2);
    const pins = await d.metric('packet_ins_total');
    expect(await send(1, tcp('a', 'PA', 1001, 5001, sport, 'before'))).toEqual([2]);
    expect(await d.metric('packet_ins_total')).toBe(pins);
  }

  async function hup(d: DaemonProcess, file: string, text: string, expect: RegExp): Promise<{ text: string; ms: number }> {
    writeFileSync(file, text);
    const from = d.lines.length;
    const t0 = performance.now();
    d.kill('SIGHUP');
    const line = await d.waitLine(expect, 180_000, from);
    return { text: line.text, ms: line.t - t0 };
  }

  it('the allow rule removed: the next packet of the offloaded connection is not forwarded by hardware (dropped, as the new policy says)', async () => {
    const { d, file } = await start(BASE);
    await offloaded(d, 46000);
    const stage0 = (await sw!.read('stage')).length;
    const r = await hup(d, file, NO_EST, /policy reloaded from .* \(pipeline kept, \d+ ms\): 1 connection\(s\) revalidated, 0 conntrack entries removed, 0 rewritten; policy tables 0 inserted, 0 modified, 1 deleted/);
    fig(`SIGHUP → rule removed from the switch (pipeline kept): ${r.ms.toFixed(0)} ms`);
    const pins = await d.metric('packet_ins_total');
    // The new flows decide, with the connection still +est (OVS keeps it): no rule → drop.
    expect(await send(1, tcp('a', 'PA', 1007, 5001, 46000, 'after'))).toEqual([]);
    expect(await d.metric('packet_ins_total')).toBe(pins);
    // the other direction's rule is still there
    expect(await send(2, tcp('b', 'A', 5001, 1007, 46000))).toEqual([1]);
    expect(await d.metric('model_connections')).toBe(1);
    expect(await d.metric('policy_reloads_total', 'ok')).toBe(1);
    expect(await d.metric('connections_revalidated_total')).toBe(1);
    expect(await d.metric('pipeline_pushes_total')).toBe(1);
    expect((await sw!.read('stage')).length).toBe(stage0 - 1);
  }, 300_000);

  it('an invalid policy is refused with file:line:col and the running policy keeps forwarding', async () => {
    const { d, file } = await start(BASE);
    await offloaded(d, 46100);
    const r = await hup(d, file, `${BASE}table=1,priority=x,actions=drop\n`, /policy reload from .* rejected: .*policy-\d+\.flows:7:\d+.*; the running policy stays/);
    expect(r.text).not.toMatch(/\n\s+at /);
    expect(await d.metric('policy_reloads_total', 'failed')).toBe(1);
    expect(await d.metric('policy_reloads_total', 'ok')).toBe(0);
    const pins = await d.metric('packet_ins_total');
    expect(await send(1, tcp('a', 'PA', 1007, 5001, 46100, 'still'))).toEqual([2]);
    expect(await d.metric('packet_ins_total')).toBe(pins);
    expect(await ctEntriesOf(46100)).toBe(2);
  }, 300_000);

  it('a change of program shape pushes the new pipeline and writes the connections back; a zone no longer looked up loses its entries (punted next)', async () => {
    const { d, file } = await start(BASE);
    await offloaded(d, 46200);
    const r = await hup(d, file, MORE_ZONES, /policy reloaded from .* \(pipeline pushed, \d+ ms\): 1 connection\(s\) revalidated, 0 conntrack entries removed, [1-9]\d* rewritten/);
    fig(`SIGHUP → new pipeline pushed and 1 connection written back: ${r.ms.toFixed(0)} ms (p4c included)`);
    expect(await d.metric('pipeline_pushes_total')).toBe(2);
    expect(await ctEntriesOf(46200)).toBeGreaterThanOrEqual(2);
    let pins = await d.metric('packet_ins_total');
    expect(await send(1, tcp('a', 'PA', 1007, 5001, 46200, 'pushed'))).toEqual([2]);
    expect(await d.metric('packet_ins_total')).toBe(pins);
    // zone 5 → zone 6: the connection stays in the model (zone 5) but no entry may say anything
    // about it; its next packet is a zone-6 CT_MISS the slow path decides
    await hup(d, file, ZONE_6, /policy reloaded from .* \(pipeline pushed, \d+ ms\): 1 connection\(s\) revalidated/);
    expect(await ctEntriesOf(46200)).toBe(0);
    pins = await d.metric('packet_ins_total');
    await punt(d, 1, tcp('a', 'PA', 1013, 5001, 46200, 'zone6'));
    expect(await d.metric('packet_ins_total')).toBe(pins + 1);
    expect(await d.metric('policy_reloads_total', 'ok')).toBe(2);
  }, 400_000);

  it('--watch: the policy file replaced (rename, as editors and deploy tools do) is reloaded without a signal', async () => {
    const { d, file } = await start(BASE, '--watch');
    await d.waitLine(/watching .* for changes/);
    await offloaded(d, 46300);
    const from = d.lines.length;
    const tmp = `${file}.new`;
    writeFileSync(tmp, NO_EST);
    renameSync(tmp, file);
    await d.waitLine(/policy reloaded from .* \(pipeline kept, \d+ ms\): 1 connection\(s\) revalidated, 0 conntrack entries removed, 0 rewritten; policy tables 0 inserted, 0 modified, 1 deleted/, 180_000, from);
    const pins = await d.metric('packet_ins_total');
    expect(await send(1, tcp('a', 'PA', 1007, 5001, 46300, 'after'))).toEqual([]);
    expect(await d.metric('packet_ins_total')).toBe(pins);
    expect(await d.metric('policy_reloads_total', 'ok')).toBe(1);
  }, 300_000);
});
