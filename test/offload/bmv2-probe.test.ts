/**
 * The probe header on the wire: simple_switch_grpc with port 2 on a veth pair, tcpdump on the
 * peer. A packet of an installed connection, injected with PacketOut PIPELINE on port 1, is
 * forwarded in hardware to port 2 with the probe {tag, ct fields of the hit, its lookup}; a PacketOut
 * DIRECT leaves with the probe fields the controller gave and the PACKET_OUT flag.
 * Needs root (veth) and tcpdump, besides bmv2 and p4c.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildFrame, type FrameSpec } from '../../model/packet/build.js';
import type { ConnInfo } from '../../model/conntrack/types.js';
import { compileOffload, connectionEntries, decodeProbe, packetOutDirect, packetOutPipeline, PROBE_F_OUTPUT, PROBE_F_PACKET_OUT, toUpdates, writeOffload } from '../../offload/index.js';
import { P4InfoIndex, P4RuntimeClient, waitForP4Runtime } from '../../p4/index.js';
import { describeWithTools, findTool, BMV2_TOOL, P4C_TOOL } from '../support/tools.js';
import { freePort } from '../p4/support/switch.js';

const TOOLS = [
  BMV2_TOOL,
  P4C_TOOL,
  { cmd: 'tcpdump', install: 'apt-get install tcpdump (and run as root for veth pairs)' },
  { cmd: 'ip', install: 'apt-get install iproute2' },
];

const POLICY = `table=0,priority=10,ip,actions=ct(zone=4,table=1)
table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=0,actions=drop
`;
const A = '10.1.0.1';
const B = '10.2.0.2';
const ack: FrameSpec = { ip: { src: A, dst: B }, tcp: { sport: 1234, dport: 80, seq: 1, ack: 1, flags: 'A' } };

/** Incremental pcap stream reader (tcpdump -w -): yields each captured frame. */
class PcapStream {
  private buf = Buffer.alloc(0);
  private header = false;
  readonly frames: Uint8Array[] = [];
  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    if (!this.header && this.buf.length >= 24) {
      this.buf = this.buf.subarray(24);
      this.header = true;
    }
    while (this.header && this.buf.length >= 16) {
      const caplen = this.buf.readUInt32LE(8);
      if (this.buf.length < 16 + caplen) break;
      this.frames.push(new Uint8Array(this.buf.subarray(16, 16 + caplen)));
      this.buf = this.buf.subarray(16 + caplen);
    }
  }
}

const root = process.getuid?.() === 0;
describeWithTools('probe header on a bmv2 dataplane port (veth + tcpdump)', root ? TOOLS : [...TOOLS, { cmd: 'ctoffload-needs-root', install: 'run as root' }], () => {
  const ifA = `cto${process.pid % 100000}a`;
  const ifB = `${ifA.slice(0, -1)}b`;
  const dir = mkdtempSync(join(tmpdir(), 'cto-probe-'));
  let sw: ChildProcess;
  let dump: ChildProcess;
  let client: P4RuntimeClient;
  const pcap = new PcapStream();

  beforeAll(async () => {
    execFileSync('ip', ['link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB]);
    for (const i of [ifA, ifB]) execFileSync('ip', ['link', 'set', i, 'up']);
    const prog = compileOffload(POLICY, 'probe.flows', { probe: true }); // the observation build
    const res = await writeOffload(prog, dir, { p4c: 'require' });
    const [grpcPort, thriftPort] = [await freePort(), await freePort()];
    const address = `127.0.0.1:${grpcPort}`;
    sw = spawn(findTool('simple_switch_grpc', 'CTOFFLOAD_BMV2')!, ['--device-id', '1', '-i', `2@${ifA}`, '--thrift-port', String(thriftPort), '--log-level', 'off', '--no-p4', '--', '--grpc-server-addr', address, '--cpu-port', '510'], { stdio: 'ignore' });
    dump = spawn(findTool('tcpdump')!, ['-i', ifB, '-U', '-w', '-', '-n', '-s', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    dump.stdout!.on('data', (d: Buffer) => pcap.push(d));
    // tcpdump says "listening on IF" once it captures: wait for that, not for a fixed time
    // (issue 12: a sleep decides the outcome on a loaded machine).
    const listening = new Promise<void>((resolve, reject) => {
      let text = '';
      dump.stderr!.on('data', (d: Buffer) => {
        text += d.toString();
        if (/listening on/.test(text)) resolve();
      });
      dump.once('exit', (code) => reject(new Error(`tcpdump exited (${code}) before capturing: ${text}`)));
    });
    expect(await waitForP4Runtime(address, 10_000)).toBe('1.3.0');
    client = await P4RuntimeClient.connect(address, { deviceId: 1n, electionId: 1n, deadlineMs: 10_000 });
    const idx = P4InfoIndex.from(readFileSync(res.files.find((f) => f.endsWith('.p4info.bin'))!));
    await client.setPipeline({ p4info: idx, deviceConfig: readFileSync(res.files.find((f) => f.endsWith('ctoffload.json'))!) });
    const conn = {
      id: 1, index: 0, zone: 4, l3: 4, proto: 6, mark: 0x99, label: 1n << 100n, expiration: 0, timeoutPolicy: null, seenReply: true, protoState: 'ESTABLISHED',
      orig: { src: A, dst: B, sport: 1234, dport: 80 }, reply: { src: B, dst: A, sport: 80, dport: 1234 },
      tcp: { stateOrig: 'ESTABLISHED', stateReply: 'ESTABLISHED' }, helper: null, parentId: null, related: false,
    } as unknown as ConnInfo;
    await client.write(toUpdates([...prog.entries, ...connectionEntries(conn, prog.plan)], idx));
    await listening;
  }, 60_000);

  afterAll(async () => {
    client?.close();
    for (const p of [dump, sw]) if (p && p.exitCode === null) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    try {
      execFileSync('ip', ['link', 'del', ifA]);
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  });

  // Generous: the frame is on the wire within milliseconds; only a broken probe waits this out.
  async function captured(tag: number, timeoutMs = 30_000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = pcap.frames.map(decodeProbe).find((d) => d && d.probe.tag === tag);
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`nothing with tag ${tag} captured on ${ifB}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('a hardware-forwarded packet carries the probe with the hit\'s ct fields and the input tag', async () => {
    client.sendPacketOut(buildFrame(ack), packetOutPipeline(1, 0xabcdef01));
    const { probe, frame } = await captured(0xabcdef01);
    // ...and the one recirculating lookup (ct(zone=4,table=1)) as the hardware saw it
    expect(probe).toEqual({ flags: PROBE_F_OUTPUT, tag: 0xabcdef01, state: 0x22, zone: 4, mark: 0x99, label: 1n << 100n, lookups: [{ table: 1, state: 0x22, zone: 4, mark: 0x99, label: 1n << 100n }] });
    expect([...frame]).toEqual([...buildFrame(ack)]);
  }, 60_000);

  it('a PacketOut DIRECT leaves with the controller\'s probe fields', async () => {
    const f = buildFrame({ ip: { src: B, dst: A }, udp: { sport: 53, dport: 999 } });
    client.sendPacketOut(f, packetOutDirect(2, { state: 0x21, zone: 4, mark: 1, label: 2n }, 77));
    const { probe, frame } = await captured(77);
    expect(probe).toEqual({ flags: PROBE_F_OUTPUT | PROBE_F_PACKET_OUT, tag: 77, state: 0x21, zone: 4, mark: 1, label: 2n, lookups: [] });
    expect([...frame]).toEqual([...f]);
  }, 60_000);
});
