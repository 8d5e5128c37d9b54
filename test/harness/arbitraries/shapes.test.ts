/**
 * Issue 16's traffic shapes on hand-written scenarios: spread address pools (every host bit
 * varies, the stray host is the complement of host 0), legacy scenarios (no `addrs`) unchanged,
 * VLAN tags / IPv4 options / IPv6 AH as the bytes say, later fragments and tiny IHLs, and
 * shrinking that drops a flow's header shape.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { renderScenarioDetailed, scenarioArb, STRAY, type Flow, type Scenario } from '../../../harness/arbitraries/index.js';
import { CT_FRAGMENT, CT_L3_BAD_HEADER, CT_OK, PacketView, ipv4ToString } from '../../../model/packet/view.js';

const P = { isn: [1000, 5000] as [number, number], win: [65535, 65535] as [number, number], wscale: [null, null] as [null, null], mss: [null, null] as [null, null], sackOk: [false, false] as [boolean, boolean] };
const addrs = { inside: { v4: '10.0.0.0/8', v6: 'fd00::/16' }, outside: { v4: '192.0.2.0/24', v6: '2001:db8::/32' } };
const udp = (extra: Partial<Flow> = {}, bad?: unknown): Flow => ({ proto: 'udp', family: 4, pair: 0, origin: 'inside', client: 0, server: 1, start: 0, sport: 40000, dport: 53, events: [{ gap: 0, dir: 'orig', kind: 'dgram', len: 4, ...(bad ? { bad } : {}) }], ...extra }) as Flow;
const scen = (flows: Flow[], withPools = true): Scenario => ({ v: 1, ports: { inside: [1], outside: [2] }, ...(withPools ? { addrs } : {}), flows });
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('address pools', () => {
  it('spread: hosts 0/1 have complementary host bits, the stray host is host 0 complemented', () => {
    const v = new PacketView();
    const src = (client: number): string => {
      v.parse(renderScenarioDetailed(scen([udp({ client })])).trace[0]!.frame);
      return ipv4ToString(v.src[0]!);
    };
    expect(src(0)).toBe('10.85.85.85');
    expect(src(1)).toBe('10.170.170.170');
    expect(src(STRAY)).toBe('245.170.170.170');
  });

  it('legacy: a scenario without addrs renders the old 10.0.0.n pool', () => {
    const v = new PacketView();
    v.parse(renderScenarioDetailed(scen([udp()], false)).trace[0]!.frame);
    expect([ipv4ToString(v.src[0]!), ipv4ToString(v.dst[0]!)]).toEqual(['10.0.0.1', '192.0.2.2']);
  });
});

describe('header shapes', () => {
  it('VLAN tags (802.1ad outside 802.1Q) with their PCP and VID, then the IP packet', () => {
    const f = renderScenarioDetailed(scen([udp({ shape: { vlan: [{ tpid: 0x88a8, vid: 100, pcp: 5 }, { tpid: 0x8100, vid: 7 }] } })])).trace[0]!.frame;
    expect(hex(f.subarray(12, 22))).toBe('88a8' + 'a064' + '8100' + '0007' + '0800');
  });

  it('IPv4 options make IHL 6..15 and keep the frame valid', () => {
    const r = renderScenarioDetailed(scen([udp({ shape: { ipOptions: 8 } })]));
    expect(r.trace[0]!.frame[14]! & 0x0f).toBe(7);
    expect(r.steps[0]!.ctStatus).toBe(CT_OK);
    expect(new PacketView().parse(r.trace[0]!.frame).ctStatus).toBe(CT_OK);
  });

  it('IPv6 with an Authentication Header: next header 51, AH length 2, the UDP header behind it', () => {
    const f = renderScenarioDetailed(scen([udp({ family: 6, shape: { ext: 'ah' } })])).trace[0]!.frame;
    expect(f[20]).toBe(51);
    expect([f[54], f[55]]).toEqual([17, 2]);
    const v = new PacketView().parse(f);
    expect([v.ctStatus, v.ipProto, v.dport]).toEqual([CT_OK, 17, 53]);
  });

  it('a later fragment (offset 1480, MF clear) and an IHL below 4', () => {
    const later = renderScenarioDetailed(scen([udp({}, { op: 'laterFragment' })]));
    const f = later.trace[0]!.frame;
    expect(((f[20]! << 8) | f[21]!) & 0x3fff).toBe(1480 / 8);
    expect(later.steps[0]!.ctStatus).toBe(CT_FRAGMENT);
    const tiny = renderScenarioDetailed(scen([udp({}, { op: 'tinyIhl', ihl: 2 })]));
    expect(tiny.trace[0]!.frame[14]! & 0x0f).toBe(2);
    expect(new PacketView().parse(tiny.trace[0]!.frame).ctStatus).toBe(CT_L3_BAD_HEADER);
  });

  it('shrinking offers the flow without its header shape', () => {
    const s = scen([udp({ shape: { vlan: [{ tpid: 0x8100, vid: 7 }] } })]);
    const arb = scenarioArb();
    const candidates = [...arb.shrink(s, undefined).take(200)].map((v) => v.value);
    expect(candidates.some((c) => c.flows.length === 1 && c.flows[0]!.shape === undefined && c.flows[0]!.events.length === 1)).toBe(true);
  });

  it('default traffic produces every shape within a few hundred scenarios', () => {
    const seen = new Set<string>();
    fc.assert(fc.property(scenarioArb({ include: { doubleVlan: true } }), (s) => {
      for (const f of s.flows) {
        if (f.shape?.vlan) seen.add(`vlan${f.shape.vlan.length}:${f.shape.vlan[0]!.tpid.toString(16)}`);
        if (f.shape?.ipOptions) seen.add('ipOptions');
        if (f.shape?.ext) seen.add(`ext:${f.shape.ext}`);
        if (f.client === STRAY || f.server === STRAY) seen.add('stray');
      }
    }), { numRuns: 300, seed: 5 });
    expect([...seen].sort()).toEqual(['ext:ah', 'ext:dstopt', 'ext:hbh', 'ext:routing', 'ipOptions', 'stray', 'vlan1:8100', 'vlan1:88a8', 'vlan2:8100', 'vlan2:88a8']);
  });
});
