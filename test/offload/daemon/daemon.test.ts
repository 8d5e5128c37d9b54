/**
 * The daemon's pieces that need no switch: SlowPathController.resync() / exclusive() (the
 * daemon-support block) against a fake device whose tables can be wiped like a restarted
 * switch's, the session device with no session, the program cookie, and the Prometheus
 * rendering of a status.
 */
import { describe, expect, it } from 'vitest';
import { buildFrame } from '../../../model/packet/build.js';
import { BoundedQueue, P4InfoIndex } from '../../../p4/index.js';
import {
  SessionDevice,
  SlowPathController,
  compileOffload,
  daemonRegistry,
  entryKey,
  programCookie,
  PUNT,
  STATUS_ALREADY_EXISTS,
  STATUS_NOT_FOUND,
  STATUS_UNAVAILABLE,
  type ControllerDevice,
  type DaemonProgram,
  type DaemonStatus,
  type EntryHits,
  type EntryOp,
  type OpFailure,
  type RawPacketIn,
} from '../../../offload/index.js';

const POLICY = {
  source: 'daemon.flows',
  text: `timeout_policy short udp_first=1,udp_single=1,udp_multiple=2
table=0,priority=10,ip,actions=ct(zone=1,table=1)
table=0,priority=0,actions=drop
table=1,priority=10,in_port=1,ip,ct_state=+trk+new,actions=ct(commit,zone=1,timeout=short),output:2
table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=10,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=0,actions=drop
`,
};

const udp = (from: 'a' | 'b', sport: number): Uint8Array =>
  buildFrame(from === 'a' ? { ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport, dport: 53 }, payload: 'q' } : { ip: { src: '10.0.0.2', dst: '10.0.0.1' }, udp: { sport: 53, dport: sport }, payload: 'r' });

/** A switch's tables as a map; `wipe()` is a restart. */
class Fake implements ControllerDevice {
  readonly packetIns = new BoundedQueue<RawPacketIn>(64);
  readonly table = new Map<string, EntryOp['entry']>();
  down = false;
  hits = new Map<string, bigint>();

  async write(ops: EntryOp[]): Promise<OpFailure[]> {
    if (this.down) return ops.map((_, index) => ({ index, code: STATUS_UNAVAILABLE, message: 'down' }));
    const fails: OpFailure[] = [];
    ops.forEach((op, index) => {
      const k = entryKey(op.entry.table, op.entry.spec.match ?? {});
      if (op.type === 'INSERT') {
        if (this.table.has(k)) fails.push({ index, code: STATUS_ALREADY_EXISTS, message: 'exists' });
        else this.table.set(k, op.entry);
      } else if (op.type === 'MODIFY') {
        if (!this.table.has(k)) fails.push({ index, code: STATUS_NOT_FOUND, message: 'not found' });
        else this.table.set(k, op.entry);
      } else if (!this.table.delete(k)) fails.push({ index, code: STATUS_NOT_FOUND, message: 'not found' });
    });
    return fails;
  }

  packetOut(payload: Uint8Array, md: Record<string, bigint>): void {
    if (md.egress_port === 510n) this.packetIns.push({ payload, metadata: { ingress_port: 510n, pad: 0n, reason: 0n, stage: 0n, table_id: 0n, ct_state: 0n, ct_zone: 0n, ct_mark: 0n, ct_label: 0n, tag: md.tag! } });
  }

  async readHits(): Promise<EntryHits[]> {
    return [...this.hits].map(([key, packets]) => ({ key, packets }));
  }

  punt(port: number, frame: Uint8Array, tag: number): void {
    this.packetIns.push({ payload: frame, metadata: { ingress_port: BigInt(port), pad: 0n, reason: BigInt(PUNT.CT_MISS), stage: 0n, table_id: 0n, ct_state: 0n, ct_zone: 0n, ct_mark: 0n, ct_label: 0n, tag: BigInt(tag) } });
  }
}

/** Resolves once the core has served `n` PacketIns in all and nothing is queued on its chain. */
async function served(ctl: SlowPathController, n: number): Promise<void> {
  for (let i = 0; i < 100_000 && ctl.status().packetIns < n; i++) await new Promise((r) => setImmediate(r));
  expect(ctl.status().packetIns).toBeGreaterThanOrEqual(n);
  await ctl.idle();
}

function setup() {
  const prog = compileOffload(POLICY.text, POLICY.source, {});
  const dev = new Fake();
  const ctl = new SlowPathController({ plan: prog.plan, policy: POLICY, device: dev });
  return { prog, dev, ctl };
}

/** Three UDP connections, offloaded (both directions each). */
async function threeConnections(dev: Fake, ctl: SlowPathController): Promise<void> {
  const n0 = ctl.status().packetIns;
  let tag = 1;
  for (const sport of [5000, 5001, 5002]) {
    dev.punt(1, udp('a', sport), tag++);
    dev.punt(2, udp('b', sport), tag++);
  }
  await served(ctl, n0 + 6);
}

describe('SlowPathController daemon support (resync, exclusive)', () => {
  it('resync() after a restart (tables wiped) writes every model connection back; no connection leaves the model', async () => {
    const { dev, ctl } = setup();
    await threeConnections(dev, ctl);
    expect(dev.table.size).toBe(6);
    const before = ctl.status();
    expect(before).toMatchObject({ modelConnections: 3, connectionsOffloaded: 3, entriesInstalled: 6 });
    dev.table.clear(); // the switch restarted
    const r = await ctl.resync();
    expect(r).toEqual({ connections: 3, entries: 6 });
    expect(dev.table.size).toBe(6);
    expect(ctl.status()).toMatchObject({ modelConnections: 3, connectionsOffloaded: 3, entriesInstalled: 6, slowPathOnly: 0 });
    await ctl.close();
  });

  it('resync() on a switch that kept its entries turns ALREADY_EXISTS into MODIFY', async () => {
    const { dev, ctl } = setup();
    await threeConnections(dev, ctl);
    const mods0 = ctl.status().writes.modify;
    const r = await ctl.resync();
    expect(r.entries).toBe(6);
    expect(dev.table.size).toBe(6);
    expect(ctl.status().writes.modify - mods0).toBe(6);
    await ctl.close();
  });

  it('writes refused while the switch is away keep connections in the model; the resync after it comes back installs them', async () => {
    const { dev, ctl } = setup();
    dev.down = true;
    await threeConnections(dev, ctl);
    expect(dev.table.size).toBe(0);
    expect(ctl.status()).toMatchObject({ modelConnections: 3, entriesInstalled: 0, slowPathOnly: 3 });
    expect(ctl.status().failures.tableFull).toBe(0); // UNAVAILABLE is not a full table
    dev.down = false;
    await ctl.resync();
    expect(dev.table.size).toBe(6);
    expect(ctl.status()).toMatchObject({ modelConnections: 3, entriesInstalled: 6, slowPathOnly: 0 });
    await ctl.close();
  });

  it('exclusive() runs between served PacketIns, never in the middle of one', async () => {
    const { dev, ctl } = setup();
    const order: string[] = [];
    dev.punt(1, udp('a', 6000), 1);
    const ex = ctl.exclusive(() => order.push(`exclusive sees ${ctl.status().packetIns} PacketIns`));
    await served(ctl, 1);
    await ex;
    expect(order).toHaveLength(1);
    expect(order[0]).toMatch(/exclusive sees [01] PacketIns/);
    await ctl.close();
  });

  it("with the model's timeout policy, an idle UDP connection expires at its udp_multiple timeout and its entries go", async () => {
    const { dev, ctl } = setup();
    await threeConnections(dev, ctl);
    await ctl.advance(1500);
    expect(dev.table.size).toBe(6);
    await ctl.advance(2100);
    expect(dev.table.size).toBe(0);
    expect(ctl.status()).toMatchObject({ modelConnections: 0, entriesInstalled: 0 });
    await ctl.close();
  });
});

describe('SessionDevice without a session', () => {
  const prog = compileOffload(POLICY.text, POLICY.source, {});
  const program = { plan: prog.plan, json: new Uint8Array(0), p4info: new P4InfoIndex({}), entries: prog.entries } as DaemonProgram;

  it('refuses writes per op with UNAVAILABLE, drops and counts PacketOuts, rejects counter reads, has no idle notifications', async () => {
    const lost: string[] = [];
    const d = new SessionDevice(program, 1000, 16, (w) => lost.push(w));
    expect(d.connected).toBe(false);
    const op = { type: 'INSERT' as const, entry: prog.entries[0]! };
    expect(await d.write([op, op])).toEqual([
      { index: 0, code: STATUS_UNAVAILABLE, message: expect.stringMatching(/no P4Runtime session/) },
      { index: 1, code: STATUS_UNAVAILABLE, message: expect.stringMatching(/no P4Runtime session/) },
    ]);
    d.packetOut(new Uint8Array(60), {});
    expect(d.packetOutsLost).toBe(1);
    expect(lost).toHaveLength(1);
    await expect(d.readHits(['CtIngress.conntrack'])).rejects.toThrow(/no P4Runtime session/);
    expect(d.pollIdleTimeouts()).toEqual([]);
    d.close();
    expect(await d.packetIns.next()).toBeUndefined();
  });
});

describe('program cookie', () => {
  it('changes with the bmv2 JSON, the P4Info or the static entries', () => {
    const prog = compileOffload(POLICY.text, POLICY.source, {});
    const base: DaemonProgram = { plan: prog.plan, json: new TextEncoder().encode('{"a":1}'), p4info: new P4InfoIndex({}), entries: prog.entries };
    const c = programCookie(base);
    expect(typeof c).toBe('bigint');
    expect(programCookie({ ...base })).toBe(c);
    expect(programCookie({ ...base, json: new TextEncoder().encode('{"a":2}') })).not.toBe(c);
    expect(programCookie({ ...base, entries: prog.entries.slice(1) })).not.toBe(c);
  });
});

describe('Prometheus rendering', () => {
  it('renders the controller counters, labelled punts/writes/failures, gauges and the daemon state', async () => {
    const { dev, ctl } = setup();
    await threeConnections(dev, ctl);
    const status = (): DaemonStatus => ({
      state: 'ready',
      connected: true,
      address: '127.0.0.1:9559',
      deviceId: '1',
      electionId: '1,0',
      cookie: '0xabc',
      pipeline: 'pushed',
      pipelinePushes: 1,
      reconnects: 2,
      lastRecoveryMs: 1500,
      lastResyncEntries: 6,
      sessionFailures: 4,
      staleEntriesDeleted: 0,
      policyReloads: 3,
      policyReloadsFailed: 1,
      packetOutsLost: 0,
      uptimeS: 10,
      controller: ctl.status(),
    });
    const text = await daemonRegistry(status, { defaultMetrics: false }).metrics();
    expect(text).toContain('# TYPE ctoffload_controller_packet_ins_total counter');
    expect(text).toMatch(/^ctoffload_controller_packet_ins_total \d+$/m);
    expect(text).toContain('ctoffload_controller_punts_total{reason="CT_MISS"} 6');
    expect(text).toContain('ctoffload_controller_entry_writes_total{op="insert"} 6');
    expect(text).toContain('ctoffload_controller_failures_total{kind="table_full"} 0');
    expect(text).toContain('ctoffload_controller_entries_installed 6');
    expect(text).toContain('ctoffload_controller_model_connections 3');
    expect(text).toContain('ctoffload_controller_reconnects_total 2');
    expect(text).toContain('ctoffload_controller_last_recovery_seconds 1.5');
    expect(text).toContain('ctoffload_controller_up 1');
    expect(text).toContain('ctoffload_controller_policy_reloads_total{outcome="ok"} 3');
    expect(text).toContain('ctoffload_controller_policy_reloads_total{outcome="failed"} 1');
    expect(text).toContain('ctoffload_controller_connections_revalidated_total 0');
    expect(text).toContain('ctoffload_controller_state{state="ready"} 1');
    expect(text).toContain('ctoffload_controller_info{address="127.0.0.1:9559",device_id="1",election_id="1,0",cookie="0xabc"} 1');
    await ctl.close();
  });
});
