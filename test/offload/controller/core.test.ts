/**
 * The deployable controller core on its own (no harness adapter): hardware TTLs from the
 * connection's timeout policy, hardware-driven ageing (counters, last-used stamps, polls only
 * before an expiry), rebuilding the hardware after a switch restart, the entry-builder seam and
 * the served-PacketIn events — and a check that the core carries no test machinery.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildFrame } from '../../../model/packet/build.js';
import { BoundedQueue } from '../../../p4/index.js';
import {
  SlowPathController,
  compileOffload,
  connectionEntries,
  entryKey,
  PUNT,
  STATUS_ALREADY_EXISTS,
  type ControllerDevice,
  type EntryHits,
  type EntryOp,
  type OpFailure,
  type RawPacketIn,
  type ServedPacketIn,
} from '../../../offload/index.js';

const POLICY = {
  source: 'core.flows',
  text: `timeout_policy short udp_first=4,udp_single=5,udp_multiple=7
table=0,priority=10,ip,actions=ct(zone=1,table=1)
table=0,priority=0,actions=drop
table=1,priority=10,in_port=1,udp,ct_state=+trk+new,actions=ct(commit,zone=1,timeout=short),output:2
table=1,priority=10,in_port=1,tcp,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=10,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=10,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=0,actions=drop
`,
};

const udp = (from: 'a' | 'b', sport = 5000): Uint8Array =>
  buildFrame(from === 'a' ? { ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport, dport: 53 }, payload: 'q' } : { ip: { src: '10.0.0.2', dst: '10.0.0.1' }, udp: { sport: 53, dport: sport }, payload: 'r' });

class Dev implements ControllerDevice {
  readonly packetIns = new BoundedQueue<RawPacketIn>(64);
  readonly table = new Map<string, EntryOp['entry']>();
  hits = new Map<string, EntryHits>();
  reads = 0;
  async write(ops: EntryOp[]): Promise<OpFailure[]> {
    const fails: OpFailure[] = [];
    ops.forEach((op, index) => {
      const k = entryKey(op.entry.table, op.entry.spec.match ?? {});
      if (op.type === 'INSERT' && this.table.has(k)) fails.push({ index, code: STATUS_ALREADY_EXISTS, message: 'exists' });
      else if (op.type === 'DELETE') this.table.delete(k);
      else this.table.set(k, op.entry);
    });
    return fails;
  }
  packetOut(): void {}
  async readHits(): Promise<EntryHits[]> {
    this.reads++;
    return [...this.hits.values()];
  }
  punt(port: number, frame: Uint8Array): void {
    this.packetIns.push({ payload: frame, metadata: { ingress_port: BigInt(port), pad: 0n, reason: BigInt(PUNT.CT_MISS), stage: 0n, table_id: 0n, ct_state: 0n, ct_zone: 0n, ct_mark: 0n, ct_label: 0n, tag: 0n } });
  }
}

/** Wait until `n` PacketIns have been served (onServed), then until the core is idle. */
async function served(events: ServedPacketIn[], n: number, ctl: SlowPathController): Promise<void> {
  for (let i = 0; i < 10_000 && events.length < n; i++) await new Promise((r) => setImmediate(r));
  expect(events.length).toBe(n);
  await ctl.idle();
}

function setup(opts: Partial<ConstructorParameters<typeof SlowPathController>[0]> = {}) {
  const plan = compileOffload(POLICY.text, POLICY.source).plan;
  const dev = new Dev();
  const events: ServedPacketIn[] = [];
  const ctl = new SlowPathController({ plan, policy: POLICY, device: dev, onServed: (e) => events.push(e), ...opts });
  return { plan, dev, ctl, events };
}

async function establish(dev: Dev, ctl: SlowPathController, events: ServedPacketIn[]): Promise<string[]> {
  dev.punt(1, udp('a'));
  dev.punt(2, udp('b'));
  await served(events, 2, ctl);
  return [...dev.table.keys()];
}

describe('controller core', () => {
  it("hardware TTL is the connection's own timeout policy value for the class its entries keep", async () => {
    const { dev, ctl, events } = setup();
    await establish(dev, ctl, events);
    const ttls = [...dev.table.values()].map((e) => e.spec.idleTimeoutNs);
    expect(ttls).toEqual([7_000_000_000n, 7_000_000_000n]); // udp_multiple=7 s of policy 'short', not OVS's 30 s
    expect(events.map((e) => e.kind)).toEqual(['punt', 'punt']);
    expect(events[1]!.verdict!.outputs.map((o) => o.port)).toEqual([1]);
    await ctl.close();
  });

  it('a hit with a last-used stamp is credited at that time, never moving an expiration earlier', async () => {
    const { dev, ctl, events } = setup();
    const keys = await establish(dev, ctl, events); // BIDIR at t=0: expires at 7 000
    dev.hits.set(keys[0]!, { key: keys[0]!, packets: 3n, lastUsed: 4000 });
    await ctl.advance(6000); // read: credited at 4 000 → expires at 11 000
    expect(ctl.status().ageingStats.refreshedByHits).toBe(1);
    await ctl.advance(10_999);
    expect(dev.table.size).toBe(2);
    // a newer stamp with no new packet counted (counted at an earlier read) is a hit too
    dev.hits.set(keys[0]!, { key: keys[0]!, packets: 3n, lastUsed: 10_500 });
    await ctl.advance(11_000);
    expect(dev.table.size).toBe(2); // now 17 500
    await ctl.advance(17_500);
    expect(dev.table.size).toBe(0);
    expect(ctl.status()).toMatchObject({ modelConnections: 0, ageingStats: { expired: 1 } });
    await ctl.close();
  });

  it("poll 'expiring' reads counters only before a sweep that would expire an offloaded connection", async () => {
    const { dev, ctl, events } = setup();
    const keys = await establish(dev, ctl, events);
    dev.hits.set(keys[1]!, { key: keys[1]!, packets: 1n, lastUsed: 3000 });
    await ctl.advance(5000, { poll: 'expiring' });
    expect(dev.reads).toBe(0);
    await ctl.advance(7000, { poll: 'expiring' }); // would expire at 7 000: read, refreshed to 10 000
    expect(dev.reads).toBe(1);
    expect(dev.table.size).toBe(2);
    await ctl.advance(9999, { poll: 'never' });
    expect(dev.reads).toBe(1);
    await ctl.advance(10_000, { poll: 'expiring' });
    expect(dev.reads).toBe(2);
    expect(dev.table.size).toBe(0);
    await ctl.close();
  });

  it('resync rebuilds every live connection after the switch lost its tables', async () => {
    const { dev, ctl, events } = setup();
    dev.punt(1, udp('a', 1));
    dev.punt(2, udp('b', 1));
    dev.punt(1, udp('a', 2));
    dev.punt(2, udp('b', 2));
    await served(events, 4, ctl);
    const before = [...dev.table.keys()].sort();
    expect(before).toHaveLength(4);
    dev.table.clear(); // switch restarted
    expect(await ctl.resync()).toEqual({ connections: 2, entries: 4 });
    expect([...dev.table.keys()].sort()).toEqual(before);
    expect(ctl.status()).toMatchObject({ connectionsOffloaded: 2, entriesInstalled: 4, reinstalls: 1 });
    await ctl.close();
  });

  it('entries come from the entry builder it is given (the seam the self-test wraps)', async () => {
    const { dev, ctl, events } = setup({ entryBuilder: (c, p, o) => connectionEntries(c, p, o).slice(0, 1) });
    await establish(dev, ctl, events);
    expect(dev.table.size).toBe(1);
    await ctl.close();
  });

  it('the core and the production program generator carry no test machinery', () => {
    const dir = join(import.meta.dirname, '../../../offload');
    const files = [...readdirSync(join(dir, 'controller')).map((f) => join(dir, 'controller', f)), join(dir, 'entries.ts'), join(dir, 'compile.ts'), join(dir, 'generate.ts')];
    for (const f of files) {
      const code = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      expect(code, f).not.toMatch(/\bfaults?\b|FAULT\(|\bhold\(|\bbarrier\(|\bshadow\b|selftest/i);
    }
  });
});
