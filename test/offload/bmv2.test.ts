/**
 * A generated program in a real simple_switch_grpc: static entries plus one connection's
 * entries installed over P4Runtime, packets injected with PacketOut PIPELINE (the switch has no
 * dataplane ports here) and the hardware's decisions observed through PacketIns: punt reasons
 * with the tag, the `controller` output with the ct fields of the hardware hit, and the
 * conntrack entry's direct counter for a packet forwarded in hardware.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Conntrack } from '../../model/conntrack/conntrack.js';
import { CtArgs, CtMeta } from '../../model/conntrack/types.js';
import { buildFrame, type FrameSpec } from '../../model/packet/build.js';
import { PacketView } from '../../model/packet/view.js';
import { compileOffload, connectionEntries, decodePacketIn, packetOutPipeline, PUNT, toUpdates, writeOffload, type OffloadProgram } from '../../offload/index.js';
import { P4InfoIndex, P4RuntimeClient, describeTableEntry, tableReadRequest, waitForP4Runtime } from '../../p4/index.js';
import { describeWithTools, BMV2_TOOL, P4C_TOOL } from '../support/tools.js';
import { startSwitch, type RunningSwitch } from '../p4/support/switch.js';

const TOOLS = [
  BMV2_TOOL,
  P4C_TOOL,
];

const POLICY = `table=0,priority=10,ip,actions=ct(zone=1,table=1)
table=0,priority=0,actions=drop
table=1,priority=10,in_port=1,tcp,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=10,in_port=2,ct_state=+trk+est,actions=controller
table=1,priority=0,actions=drop
`;

const A = '10.0.0.1';
const B = '192.168.1.2';
const tcp = (from: 'a' | 'b', flags: string, seq: number, ack = 0): FrameSpec =>
  from === 'a'
    ? { ip: { src: A, dst: B }, tcp: { sport: 40000, dport: 80, seq, ack, flags, win: 65535 } }
    : { ip: { src: B, dst: A }, tcp: { sport: 80, dport: 40000, seq, ack, flags, win: 65535 } };

describeWithTools('generated program on simple_switch_grpc', TOOLS, () => {
  let sw: RunningSwitch;
  let client: P4RuntimeClient;
  let idx: P4InfoIndex;
  let prog: OffloadProgram;
  const dir = mkdtempSync(join(tmpdir(), 'cto-offload-bmv2-'));
  let tag = 100;

  async function inject(frame: FrameSpec, inPort: number): Promise<number> {
    const t = ++tag;
    client.sendPacketOut(buildFrame(frame), packetOutPipeline(inPort, t));
    return t;
  }
  async function packetInWithTag(t: number, timeoutMs = 5000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const ev = await client.packetIns.next(Math.max(1, end - Date.now()));
      if (!ev) throw new Error(`no PacketIn with tag ${t}`);
      const pin = decodePacketIn(ev.metadata);
      if (pin.tag === t) return { pin, payload: ev.payload };
    }
  }

  beforeAll(async () => {
    prog = compileOffload(POLICY, 'bmv2.flows');
    const [res, s] = await Promise.all([writeOffload(prog, dir, { p4c: 'require' }), startSwitch()]);
    sw = s;
    expect(await waitForP4Runtime(sw.address, 10_000)).toBe('1.3.0');
    client = await P4RuntimeClient.connect(sw.address, { deviceId: sw.deviceId, electionId: 1n, deadlineMs: 10_000 });
    idx = P4InfoIndex.from(readFileSync(res.files.find((f) => f.endsWith('.p4info.bin'))!));
    await client.setPipeline({ p4info: idx, deviceConfig: readFileSync(res.files.find((f) => f.endsWith('ctoffload.json'))!) });
    await client.write(toUpdates(prog.entries, idx));
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await sw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a new connection misses the conntrack table and is punted whole, with its tag', async () => {
    const syn = tcp('a', 'S', 1000);
    const t = await inject(syn, 1);
    const { pin, payload } = await packetInWithTag(t);
    expect(pin).toMatchObject({ reason: PUNT.CT_MISS, ingressPort: 1, stage: 0, tableId: 0 });
    expect([...payload]).toEqual([...buildFrame(syn)]);
  });

  it('after installing the connection, hardware decides with the entry\'s ct fields', async () => {
    const tr = new Conntrack();
    const view = new PacketView();
    const md = new CtMeta();
    const args = new CtArgs();
    args.zone = 1;
    [tcp('a', 'S', 1000), tcp('b', 'SA', 5000, 1001), tcp('a', 'A', 1001, 5001)].forEach((f, i) => {
      md.clear();
      args.commit = i === 0;
      tr.execute(view.parse(buildFrame(f)), args, i, md);
    });
    const conn = tr.lookupFrame(buildFrame(tcp('a', 'A', 1001, 5001)), 1, 10)!;
    const entries = connectionEntries({ ...conn, mark: 0x42, label: 7n }, prog.plan);
    expect(entries).toHaveLength(2);
    await client.write(toUpdates(entries, idx));

    // reply direction → `controller`: the PacketIn is an output carrying the hit's ct fields
    const t1 = await inject(tcp('b', 'A', 5001, 1001), 2);
    const { pin } = await packetInWithTag(t1);
    expect(pin).toMatchObject({ reason: PUNT.CONTROLLER, ingressPort: 2, ct: { state: 0x2a, zone: 1, mark: 0x42, label: 7n } });

    // VLAN tag and IPv4 options: same decision, and the frame comes back byte for byte
    const odd = { ...tcp('b', 'A', 5001, 1001), vlan: 10, ip: { src: B, dst: A, options: Uint8Array.of(1, 1, 1, 0) } };
    const t3 = await inject(odd, 2);
    const r3 = await packetInWithTag(t3);
    expect(r3.pin).toMatchObject({ reason: PUNT.CONTROLLER, ct: { state: 0x2a } });
    expect([...r3.payload]).toEqual([...buildFrame(odd)]);

    // an ICMP error about the connection and a fragment are never decided in hardware
    const inner = buildFrame(tcp('a', 'A', 1001, 5001)).subarray(14, 14 + 28);
    const t4 = await inject({ ip: { src: B, dst: A }, icmpError: { type: 3, code: 1, inner } }, 2);
    expect((await packetInWithTag(t4)).pin.reason).toBe(PUNT.ICMP_ERROR);
    const t5 = await inject({ ip: { src: A, dst: B, moreFragments: true, id: 7 }, udp: { sport: 1, dport: 2 }, payload: 'x'.repeat(16) }, 1);
    expect((await packetInWithTag(t5)).pin.reason).toBe(PUNT.FRAGMENT);

    // FIN on a hit: punted so the state transition happens in software
    const t2 = await inject(tcp('a', 'FA', 1001, 5001), 1);
    expect((await packetInWithTag(t2)).pin).toMatchObject({ reason: PUNT.TCP_FLAGS, ct: { state: 0x22, zone: 1 } });

    // plain ACK original direction: forwarded to port 2 in hardware (no PacketIn), counted
    await inject(tcp('a', 'A', 1001, 5001), 1);
    // a later punt (another connection: a miss) proves the ACK was processed
    const marker = await inject({ ip: { src: A, dst: B }, tcp: { sport: 40001, dport: 80, seq: 9, flags: 'S' } }, 1);
    await packetInWithTag(marker);
    const [te] = await client.readAll([{ tableEntry: tableReadRequest(idx, 'conntrack_s0', { match: entries[0]!.spec.match, counterData: true }) }]);
    // the FIN and the ACK hit the original-direction entry
    expect(describeTableEntry(idx, te!.tableEntry!).counterData!.packetCount).toBe(2n);
  });
});
