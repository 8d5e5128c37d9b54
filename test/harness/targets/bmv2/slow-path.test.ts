/**
 * The deployed controller core (offload/controller/core.ts) driven through the harness's adapter
 * (harness/targets/bmv2/slow-path.ts: tags, held PacketIns, barriers) against a fake
 * P4Runtime-facing device: PacketIns are injected, entry
 * writes and PacketOuts are recorded; the fake keeps a per-table entry set with a capacity, so
 * ALREADY_EXISTS / NOT_FOUND / table full come back per op as PI reports them.
 */
import { describe, expect, it, vi } from 'vitest';
import { buildFrame, type FrameSpec } from '../../../../model/packet/build.js';
import { CS_ESTABLISHED, CS_REPLY_DIR, CS_TRACKED } from '../../../../model/ctstate.js';
import { PORT_CONTROLLER } from '../../../../model/verdict.js';
import { BoundedQueue } from '../../../../p4/index.js';
import { PacketView } from '../../../../model/packet/view.js';
import { ObservedSlowPath } from '../../../../harness/targets/bmv2/slow-path.js';
import {
  compileOffload,
  encodeProbe,
  entryKey,
  PROBE_F_ECHO,
  PROBE_F_OUTPUT,
  PROBE_F_REPORT_DROP,
  PUNT,
  STATUS_ALREADY_EXISTS,
  STATUS_NOT_FOUND,
  STATUS_UNKNOWN,
  type ControllerDevice,
  type EntryHits,
  type EntryOp,
  type OpFailure,
  type RawPacketIn,
} from '../../../../offload/index.js';

const POLICY = {
  source: 'ctl.flows',
  text: `table=0,priority=10,ip,actions=ct(zone=1,table=1)
table=0,priority=0,actions=drop
table=1,priority=10,in_port=1,ip,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=10,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=5,ct_state=+trk+inv,actions=controller
table=1,priority=0,actions=drop
`,
};

const A = '10.0.0.1';
const B = '192.168.1.2';
const udp = (from: 'a' | 'b', sport = 5000): Uint8Array =>
  buildFrame(from === 'a' ? { ip: { src: A, dst: B }, udp: { sport, dport: 53 }, payload: 'q' } : { ip: { src: B, dst: A }, udp: { sport: 53, dport: sport }, payload: 'r' });
const tcp = (from: 'a' | 'b', flags: string, seq: number, ack = 0): Uint8Array =>
  buildFrame(
    (from === 'a'
      ? { ip: { src: A, dst: B }, tcp: { sport: 40000, dport: 80, seq, ack, flags, win: 65535 } }
      : { ip: { src: B, dst: A }, tcp: { sport: 80, dport: 40000, seq, ack, flags, win: 65535 } }) as FrameSpec,
  );

class FakeDevice implements ControllerDevice {
  readonly packetIns = new BoundedQueue<RawPacketIn>(64);
  readonly tables = new Map<string, Map<string, EntryOp['entry']>>();
  readonly writes: EntryOp[][] = [];
  readonly packetOuts: { payload: Uint8Array; md: Record<string, bigint> }[] = [];
  capacity = Infinity;
  /** Per-table packet counts for 'hits' ageing. */
  hits = new Map<string, bigint>();
  fullCode = STATUS_UNKNOWN;

  /** Observation build: the program puts a probe in front of non-punt PacketIns (offload/probe.ts). */
  probed = false;

  constructor(private readonly cpuPort: number) {}

  async write(ops: EntryOp[]): Promise<OpFailure[]> {
    this.writes.push(ops);
    const fails: OpFailure[] = [];
    ops.forEach((op, index) => {
      const t = this.tables.get(op.entry.table) ?? new Map();
      this.tables.set(op.entry.table, t);
      const k = entryKey(op.entry.table, op.entry.spec.match ?? {});
      if (op.type === 'INSERT') {
        if (t.has(k)) fails.push({ index, code: STATUS_ALREADY_EXISTS, message: 'Match entry exists' });
        else if (t.size >= this.capacity) fails.push({ index, code: this.fullCode, message: 'Error when adding match entry to target' });
        else t.set(k, op.entry);
      } else if (op.type === 'MODIFY') {
        if (!t.has(k)) fails.push({ index, code: STATUS_NOT_FOUND, message: 'not found' });
        else t.set(k, op.entry);
      } else if (!t.delete(k)) fails.push({ index, code: STATUS_NOT_FOUND, message: 'not found' });
    });
    return fails;
  }

  packetOut(payload: Uint8Array, md: Record<string, bigint>): void {
    // The program echoes a DIRECT PacketOut to the CPU port as a reason-0 PacketIn.
    if (md.egress_port === BigInt(this.cpuPort)) {
      if (this.probed) payload = encodeProbe({ flags: PROBE_F_ECHO, tag: Number(md.tag!), state: 0, zone: 0, mark: 0, label: 0n }, payload);
      this.packetIns.push({ payload, metadata: { ingress_port: BigInt(this.cpuPort), pad: 0n, reason: 0n, stage: 0n, table_id: 0n, ct_state: 0n, ct_zone: 0n, ct_mark: 0n, ct_label: 0n, tag: md.tag! } });
      return;
    }
    this.packetOuts.push({ payload, md });
  }

  async readHits(): Promise<EntryHits[]> {
    return [...this.hits].map(([key, packets]) => ({ key, packets }));
  }

  entries(): EntryOp['entry'][] {
    return [...this.tables.values()].flatMap((t) => [...t.values()]);
  }

  punt(reason: number, port: number, frame: Uint8Array, tag: number, ct: { state?: number; zone?: number } = {}): void {
    this.packetIns.push({
      payload: frame,
      metadata: { ingress_port: BigInt(port), pad: 0n, reason: BigInt(reason), stage: 0n, table_id: 0n, ct_state: BigInt(ct.state ?? 0), ct_zone: BigInt(ct.zone ?? 0), ct_mark: 0n, ct_label: 0n, tag: BigInt(tag) },
    });
  }
}

const CPU = 510;

function setup(config: Record<string, unknown> = {}, opts: { ageing?: 'exact' | 'hits'; tcpSeqCheck?: boolean } = {}) {
  const prog = compileOffload(POLICY.text, POLICY.source, config);
  const dev = new FakeDevice(prog.plan.config.cpuPort);
  dev.probed = prog.plan.config.probe;
  const logs: string[] = [];
  const ctl = new ObservedSlowPath({
    plan: prog.plan,
    policy: POLICY,
    device: dev,
    activity: opts.ageing === 'hits' ? 'counters' : 'packets',
    ...(opts.tcpSeqCheck !== undefined ? { tcpSeqCheck: opts.tcpSeqCheck } : {}),
    pingTimeoutMs: 5000,
    log: (m) => logs.push(m),
  });
  return { prog, dev, ctl, logs };
}

describe('controller core through the harness adapter', () => {
  it('TCP handshake: no entries until both peers are ESTABLISHED, then both directions; PacketOuts carry the model verdict and the tag', async () => {
    const { dev, ctl } = setup();
    dev.punt(PUNT.CT_MISS, 1, tcp('a', 'S', 1000), 11);
    await ctl.barrier(CPU);
    expect(dev.writes).toHaveLength(0);
    expect(dev.packetOuts).toHaveLength(1);
    expect(dev.packetOuts[0]!.md).toMatchObject({ egress_port: 2n, mode: 0n, tag: 11n });
    expect([...dev.packetOuts[0]!.payload]).toEqual([...tcp('a', 'S', 1000)]);

    await ctl.advance(5);
    dev.punt(PUNT.CT_MISS, 2, tcp('b', 'SA', 5000, 1001), 12);
    dev.punt(PUNT.CT_MISS, 1, tcp('a', 'A', 1001, 5001), 13);
    await ctl.barrier(CPU);
    const ents = dev.entries();
    expect(ents).toHaveLength(2);
    const states = ents.map((e) => Number(e.spec.params!.state)).sort();
    expect(states).toEqual([CS_TRACKED | CS_ESTABLISHED, CS_TRACKED | CS_ESTABLISHED | CS_REPLY_DIR].sort());
    expect(dev.packetOuts.map((p) => [p.md.egress_port, p.md.tag])).toEqual([
      [2n, 11n],
      [1n, 12n],
      [2n, 13n],
    ]);
    const st = ctl.status();
    expect(st).toMatchObject({ connectionsOffloaded: 1, entriesInstalled: 2, modelConnections: 1, packetOuts: 3 });
    expect(st.punts.CT_MISS).toBe(3);
    expect(st.writes.insert).toBe(2);
    expect(ctl.takeTag(13)).toMatchObject({ punts: [PUNT.CT_MISS], packetOuts: 1 });

    // FIN on the offloaded connection → TCP_FLAGS → not offloadable any more → DELETE both
    dev.punt(PUNT.TCP_FLAGS, 1, tcp('a', 'FA', 1001, 5001), 14, { state: CS_TRACKED | CS_ESTABLISHED, zone: 1 });
    await ctl.barrier(CPU);
    expect(dev.entries()).toHaveLength(0);
    expect(ctl.status()).toMatchObject({ connectionsOffloaded: 0, writes: { insert: 2, delete: 2 } });
    await ctl.close();
  });

  it('held PacketIns (speculative harness rounds): parked unserved, served on release in order, dropped when discarded', async () => {
    const { dev, ctl } = setup();
    const arrived: number[] = [];
    ctl.hold((tag) => tag >= 20 && tag < 30, (tag) => arrived.push(tag));
    const w0 = ctl.writeSeq;
    dev.punt(PUNT.CT_MISS, 1, tcp('a', 'S', 1000), 21);
    dev.punt(PUNT.CT_MISS, 2, tcp('b', 'SA', 5000, 1001), 22);
    dev.punt(PUNT.CT_MISS, 1, tcp('a', 'A', 1001, 5001), 23);
    dev.punt(PUNT.CT_MISS, 1, udp('a'), 40); // not held: served at once
    await ctl.barrier(CPU); // pings are never held
    expect(arrived).toEqual([21, 22, 23]);
    expect(dev.packetOuts.map((p) => p.md.tag)).toEqual([40n]); // only the unheld one was served
    await ctl.release(21);
    await ctl.release(22);
    expect(dev.packetOuts.map((p) => p.md.tag)).toEqual([40n, 21n, 22n]);
    expect(ctl.writeSeq).toBe(w0); // no entries yet: the handshake is not complete in the model
    expect(ctl.takeTag(22)).toMatchObject({ punts: [PUNT.CT_MISS], packetOuts: 1 });
    // 23 is discarded by the harness: dropped unserved, the model never sees it
    expect(ctl.discard(23)).toBe(1);
    expect(ctl.stats.heldDiscarded).toBe(1);
    ctl.hold(() => false, () => undefined);
    expect(dev.entries()).toHaveLength(0);
    expect(ctl.writeSeq).toBe(w0);
    // after the hold, the same tag is served normally; completing the handshake writes entries
    dev.punt(PUNT.CT_MISS, 1, tcp('a', 'A', 1001, 5001), 23);
    await ctl.barrier(CPU);
    expect(dev.entries()).toHaveLength(2);
    expect(ctl.writeSeq).toBeGreaterThan(w0);
    await ctl.close();
  });

  it('a malformed PacketIn is counted and logged, and the loop keeps serving', async () => {
    const { dev, ctl, logs } = setup();
    dev.packetIns.push({ payload: new Uint8Array(10), metadata: { '#9': 1n } });
    dev.packetIns.push({ payload: new Uint8Array(0), metadata: { ingress_port: 1n, reason: 1n, tag: 3n } });
    dev.packetIns.push({ payload: new Uint8Array(20), metadata: { ingress_port: 1n, reason: 99n, tag: 4n } });
    dev.packetIns.push({ payload: Uint8Array.of(1, 2, 3), metadata: { ingress_port: 1n, reason: 1n, tag: 5n } }); // garbage frame: model answers, no crash
    dev.punt(PUNT.CT_MISS, 1, udp('a'), 6);
    await ctl.barrier(CPU);
    const st = ctl.status();
    expect(st.malformedPacketIns).toBe(3);
    expect(st.failures.handler).toBe(0);
    expect(logs.length).toBeGreaterThanOrEqual(3);
    expect(dev.packetOuts.at(-1)!.md.tag).toBe(6n);
    await ctl.close();
  });

  it('CONTROLLER PacketIns are outputs with the packet_in ct fields; the model is not run', async () => {
    const { dev, ctl } = setup();
    dev.punt(PUNT.CONTROLLER, 2, udp('b'), 21, { state: 0x30, zone: 1 });
    await ctl.barrier(CPU);
    const rec = ctl.takeTag(21);
    expect(rec.punts).toEqual([]);
    expect(rec.controllerOutputs).toEqual([{ port: PORT_CONTROLLER, bytes: udp('b'), ct: { state: 0x30, zone: 1, mark: 0, label: 0n } }]);
    expect(ctl.status().modelConnections).toBe(0);
    // and a model `controller` output of a punted packet (inv → controller) is recorded, not reinjected
    dev.punt(PUNT.CT_MISS, 2, tcp('b', 'SA', 1, 2), 22);
    await ctl.barrier(CPU);
    expect(ctl.takeTag(22).controllerOutputs.map((o) => [o.port, o.ct!.state])).toEqual([[PORT_CONTROLLER, 0x30]]);
    expect(dev.packetOuts).toHaveLength(0);
    await ctl.close();
  });

  it('observation build: drop reports and controller outputs carry the hardware lookups (probe stripped); punts stay bare', async () => {
    const { dev, ctl, logs } = setup({ probe: true });
    const lk = { table: 1, state: 0x22, zone: 1, mark: 7, label: 9n };
    const withProbe = (flags: number, frame: Uint8Array) => encodeProbe({ flags, tag: 0, state: 0, zone: 0, mark: 0, label: 0n, lookups: [lk] }, frame);
    dev.punt(0, 1, withProbe(PROBE_F_REPORT_DROP, udp('a')), 31);
    dev.punt(PUNT.CONTROLLER, 2, withProbe(PROBE_F_OUTPUT, udp('b')), 32, { state: 0x2a, zone: 1 });
    dev.punt(PUNT.CONTROLLER, 2, udp('b'), 33); // no probe in an observation build: malformed
    dev.punt(PUNT.CT_MISS, 1, udp('a'), 34); // a punt: the bare frame, the model's verdict
    await ctl.barrier(CPU);
    const drop = ctl.takeTag(31);
    expect(drop.dropped).toBe(true);
    expect(drop.lookups).toEqual([lk]);
    const out = ctl.takeTag(32);
    expect(out.controllerOutputs).toEqual([{ port: PORT_CONTROLLER, bytes: udp('b'), ct: { state: 0x2a, zone: 1, mark: 0, label: 0n } }]);
    expect(out.lookups).toEqual([lk]);
    expect(ctl.takeTag(33).controllerOutputs).toEqual([]);
    expect(ctl.stats.missingProbe).toBe(1);
    expect(logs.some((l) => /without the probe/.test(l))).toBe(true);
    const punt = ctl.takeTag(34);
    expect(punt.lookups).toBeUndefined();
    expect(punt.verdicts[0]!.lookups.map((l) => [l.table, l.state])).toEqual([[1, 0x21]]);
    expect(dev.packetOuts.map((p) => [...p.payload])).toEqual([[...udp('a')]]);
    await ctl.close();
  });

  it('table full: the connection stays in the slow path (half-installed entries removed), counted, retried; verdicts unchanged', async () => {
    const { dev, ctl } = setup();
    dev.capacity = 3; // room for one connection (2 entries) plus one
    for (const [i, sport] of [5000, 5001].entries()) {
      dev.punt(PUNT.CT_MISS, 1, udp('a', sport), 100 + i * 10);
      dev.punt(PUNT.CT_MISS, 2, udp('b', sport), 101 + i * 10);
    }
    await ctl.barrier(CPU);
    let st = ctl.status();
    expect(st.connectionsOffloaded).toBe(1);
    expect(st.slowPathOnly).toBe(1);
    expect(st.failures.tableFull).toBe(1);
    expect(dev.entries()).toHaveLength(2); // the second connection's lone entry was deleted again
    expect(dev.packetOuts).toHaveLength(4);
    // its next packet punts again, is decided by the model and retried (still full)
    dev.punt(PUNT.CT_MISS, 1, udp('a', 5001), 120);
    await ctl.barrier(CPU);
    st = ctl.status();
    expect(dev.packetOuts.at(-1)!.md).toMatchObject({ egress_port: 2n, tag: 120n, ct_state: BigInt(CS_TRACKED | CS_ESTABLISHED) });
    expect(st.failures.tableFull).toBe(2);
    expect(st.slowPathOnly).toBe(1);
    // room again: the next punt installs it
    dev.capacity = 10;
    dev.punt(PUNT.CT_MISS, 2, udp('b', 5001), 121);
    await ctl.barrier(CPU);
    expect(ctl.status()).toMatchObject({ connectionsOffloaded: 2, slowPathOnly: 0 });
    await ctl.close();
  });

  it('ALREADY_EXISTS on INSERT becomes MODIFY; NOT_FOUND on DELETE is ignored and counted', async () => {
    const { dev, ctl, prog } = setup();
    // a stale entry of an earlier controller run occupies the reply key
    dev.punt(PUNT.CT_MISS, 1, udp('a'), 1);
    dev.punt(PUNT.CT_MISS, 2, udp('b'), 2);
    await ctl.barrier(CPU);
    const [e0, e1] = dev.entries();
    const stale = { ...e1!, spec: { ...e1!.spec, params: { ...e1!.spec.params, mark: 99n } } };
    await ctl.reset();
    expect(dev.entries()).toHaveLength(0);
    await dev.write([{ type: 'INSERT', entry: stale }]);
    dev.punt(PUNT.CT_MISS, 1, udp('a'), 3);
    dev.punt(PUNT.CT_MISS, 2, udp('b'), 4);
    await ctl.barrier(CPU);
    expect(ctl.status().failures.alreadyExists).toBe(1);
    expect(dev.entries().map((e) => e.spec.params!.mark)).toEqual([0n, 0n]);
    expect(dev.entries().map((e) => entryKey(e.table, e.spec.match!)).sort()).toEqual([e0, e1].map((e) => entryKey(e!.table, e!.spec.match!)).sort());
    // somebody removed one entry behind the controller's back: expiry DELETE → NOT_FOUND
    await dev.write([{ type: 'DELETE', entry: e0! }]);
    await ctl.advance(60_000);
    const st = ctl.status();
    expect(st.failures.deleteNotFound).toBe(1);
    expect(st.failures.write).toBe(0);
    expect(st.connectionsOffloaded).toBe(0);
    expect(prog.plan.ctTables.length).toBeGreaterThan(0);
    await ctl.close();
  });

  it('exact ageing (oracle mode): packets reported by accountForwarded refresh the model; expiry deletes the entries', async () => {
    const { dev, ctl } = setup();
    dev.punt(PUNT.CT_MISS, 1, udp('a'), 1);
    await ctl.barrier(CPU);
    await ctl.advance(1000);
    dev.punt(PUNT.CT_MISS, 2, udp('b'), 2);
    await ctl.barrier(CPU);
    expect(dev.entries()).toHaveLength(2);
    const w = ctl.writeSeq;
    // BIDIR: udp_multiple = 30 s from t=1000. A hardware-forwarded packet at t=20 000 refreshes.
    await ctl.advance(20_000);
    const v = await ctl.core.accountForwarded(1, udp('a'));
    expect(v.outputs.map((o) => o.port)).toEqual([2]);
    expect(ctl.status().ageingStats.forwardedAccounted).toBe(1);
    expect(ctl.writeSeq).toBe(w);
    await ctl.advance(49_999);
    expect(dev.entries()).toHaveLength(2);
    await ctl.advance(50_000); // now ≥ expiration (§6.2)
    expect(dev.entries()).toHaveLength(0);
    expect(ctl.status()).toMatchObject({ connectionsOffloaded: 0, modelConnections: 0, ageingStats: { expired: 1 } });
    await expect(ctl.advance(10)).rejects.toMatchObject({ code: 'CTO_CONTROLLER_CLOCK' });
    await ctl.close();
  });

  it("hardware ageing: counters credited at the accepted input's virtual time; a counter that moved with no accepted input is not", async () => {
    const { dev, ctl } = setup({}, { ageing: 'hits' });
    dev.punt(PUNT.CT_MISS, 1, udp('a'), 1);
    dev.punt(PUNT.CT_MISS, 2, udp('b'), 2);
    await ctl.barrier(CPU); // BIDIR at t=0: udp_multiple 30 s → expires at 30 000
    const key = (dir: string) => entryKey(...((e) => [e.table, e.spec.match!] as const)(dev.entries().find((e) => e.comment.endsWith(dir))!));
    for (const e of dev.entries()) dev.hits.set(entryKey(e.table, e.spec.match!), 0n);
    await ctl.advance(10_000);
    await ctl.noteForwarded(new PacketView().parse(udp('a')), 1, udp('a')); // accepted, decided in hardware at 10 000
    dev.hits.set(key(' orig'), 1n);
    await ctl.advance(20_000);
    expect(ctl.status().ageingStats.counterPolls).toBe(0); // nothing would expire yet: no read
    dev.hits.set(key(' reply'), 4n); // counted by inputs still in flight: no accepted input behind them
    await ctl.advance(30_000); // would expire: read; the orig hit is credited at 10 000 → 40 000
    expect(ctl.status().ageingStats).toMatchObject({ counterPolls: 1, refreshedByHits: 1 });
    expect(ctl.stats.unattributedHitEntries).toBe(1);
    expect(dev.entries()).toHaveLength(2);
    await ctl.advance(39_999);
    expect(dev.entries()).toHaveLength(2);
    await ctl.advance(40_000); // the reply counter alone kept nothing alive
    expect(dev.entries()).toHaveLength(0);
    await ctl.close();
  });

  it('runs the model with sequence checks off by default (ct-disable-tcp-seq-chk), on when asked', async () => {
    for (const check of [false, true]) {
      const { dev, ctl } = setup({}, { tcpSeqCheck: check });
      expect(ctl.core.tcpSeqCheck).toBe(check);
      dev.punt(PUNT.CT_MISS, 1, tcp('a', 'S', 1000), 1);
      dev.punt(PUNT.CT_MISS, 2, tcp('b', 'SA', 5000, 1001), 2);
      dev.punt(PUNT.CT_MISS, 1, tcp('a', 'A', 1001, 5001), 3);
      // an ACK acknowledging data never sent: accepted (est) without checks, inv|trk → controller with
      dev.punt(PUNT.CT_MISS, 1, tcp('a', 'A', 1001, 5001 + 0x40000000), 4);
      await ctl.barrier(CPU);
      const rec = ctl.takeTag(4);
      if (check) expect(rec.controllerOutputs.map((o) => o.ct!.state)).toEqual([0x30]);
      else expect(rec.verdicts[0]!.outputs.map((o) => o.port)).toEqual([2]);
      await ctl.close();
    }
  });

  it('runWallClock drives the model clock (daemon mode) and expires connections on its own', async () => {
    vi.useFakeTimers();
    try {
      const { dev, ctl } = setup({}, { ageing: 'hits' });
      let wall = 0;
      dev.punt(PUNT.CT_MISS, 1, udp('a'), 1);
      dev.punt(PUNT.CT_MISS, 2, udp('b'), 2);
      await vi.advanceTimersByTimeAsync(0);
      await ctl.barrier(CPU);
      expect(dev.entries()).toHaveLength(2);
      const stop = ctl.core.runWallClock(1000, () => wall);
      wall = 29_000;
      await vi.advanceTimersByTimeAsync(1000);
      expect(ctl.clock).toBe(29_000);
      expect(dev.entries()).toHaveLength(2);
      wall = 31_000;
      await vi.advanceTimersByTimeAsync(1000);
      expect(ctl.clock).toBe(31_000);
      expect(dev.entries()).toHaveLength(0);
      stop();
      await ctl.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('close() rejects a pending barrier and stops serving', async () => {
    const { ctl, dev } = setup();
    (dev as { packetOut: ControllerDevice['packetOut'] }).packetOut = () => undefined; // echo never comes
    const p = ctl.barrier(CPU);
    await ctl.close();
    await expect(p).rejects.toMatchObject({ code: 'CTO_CONTROLLER_CLOSED' });
  });
});
