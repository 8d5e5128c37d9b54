/**
 * Key-bit and parser-path coverage (harness/report/key-coverage.ts, parser-paths.ts; issue 16):
 * the default traffic, fitted to each example policy, varies every reachable bit of every key
 * field the offload matches on and takes every parser path of the generated program within a
 * modest number of traces; the paths come from the program itself; shard reports merge.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runConformance } from '../../../harness/runner/index.js';
import { addTrafficCoverage, missingBits, parserPaths, trafficCoverageLine, untakenPaths, type TrafficCoverage } from '../../../harness/report/index.js';
import { compileOffload } from '../../../offload/index.js';
import { buildFrame } from '../../../model/packet/build.js';
import { modelTarget } from '../runner/fake-target.js';

const policyOf = (name: string) => ({ source: `examples/${name}`, text: readFileSync(new URL(`../../../examples/${name}`, import.meta.url), 'utf8') });

/** Traces per policy: enough for completeness with the default traffic, small enough to be quick. */
const RUNS = 150;

describe('parserPaths', () => {
  const prog = compileOffload(policyOf('firewall.flows').text, 'firewall.flows').program;
  const pp = parserPaths(prog);

  it('lists one path per select case of the program, the controller-only ones excluded', () => {
    expect(pp.paths).toContain('parse_ethernet 0x88a8 → parse_vlan0');
    expect(pp.paths).toContain('parse_ipv4 0 &&& 0xc → ipv4_bad');
    expect(pp.paths).toContain('parse_ipv6 51 → ipv6_ext');
    expect(pp.excluded['start CPU_PORT → parse_packet_out']).toBe('controller PacketOut only');
    expect(pp.paths.some((p) => p.includes('parse_packet_out'))).toBe(false);
  });

  it('refuses, when built, a parser it cannot walk (CTO_PARSER_PATHS), instead of guessing mid-run', () => {
    const bad = JSON.parse(JSON.stringify(prog)) as typeof prog;
    const parser = bad.decls.find((d) => d.kind === 'parser')!;
    if (parser.kind !== 'parser') throw new Error('no parser');
    const st = parser.states.find((s) => s.name === 'parse_ipv4_l4')!;
    st.transition = { select: 'hdr.ipv4.protocol ^ 1', cases: [{ value: 'default', state: 'accept' }] };
    expect(() => parserPaths(bad)).toThrow(expect.objectContaining({ code: 'CTO_PARSER_PATHS' }));
  });

  it('walks a frame the way the program parses it', () => {
    const tagged = buildFrame({ vlan: { vid: 7 }, ip: { src: '10.0.0.1', dst: '10.0.0.2', options: new Uint8Array([1, 1, 1, 0]) }, tcp: { sport: 1, dport: 2 } });
    expect(pp.walk(tagged, 1)).toEqual([
      'start default → parse_ethernet', 'parse_ethernet 0x8100 → parse_vlan0', 'parse_vlan0 0x0800 → parse_ipv4', 'parse_ipv4 default → parse_ipv4_options',
      'parse_ipv4_options → parse_ipv4_frag', 'parse_ipv4_frag default → parse_ipv4_l4'.replace('default', '(0, 0)'), 'parse_ipv4_l4 6 → parse_tcp', 'parse_tcp → accept',
    ]);
    const short = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { sport: 1, dport: 2 } }).slice(0, 40);
    expect(pp.walk(short, 1).at(-1)).toBe('parse_tcp → reject (too short)');
  });
});

describe('traffic coverage of the example policies', () => {
  const covered: Record<string, TrafficCoverage> = {};
  for (const name of ['firewall.flows', 'zones-timeouts.flows', 'ftp-tftp.flows']) {
    it(`${name}: every reachable key bit varies and every parser path is taken in ${RUNS} traces`, async () => {
      // doubleVlan: what the CLI turns on for every target but OVS (docs/conntrack-semantics.md §3.5).
      const r = await runConformance({ policy: policyOf(name), reference: modelTarget, target: modelTarget, runs: RUNS, seed: 16, stateSnapshot: false, traffic: { include: { doubleVlan: true } } });
      expect(r.status).toBe('passed');
      const c = r.trafficCoverage!;
      covered[name] = c;
      expect(Object.keys(c.keys)).toEqual(expect.arrayContaining(['ct.zone', 'ct.src', 'ct.dst', 'ct.sport', 'ct.dport', 'ct.proto', 'ct.l3', 'table.in_port']));
      expect(missingBits(c), trafficCoverageLine(c)).toEqual({});
      expect(untakenPaths(c), trafficCoverageLine(c)).toEqual([]);
      // Only the firewall sends IPv6 to a ct(); the others match `ip` at table 0 (IPv4 keys only).
      expect(c.keys['ct.src']!.reachable).toBe(`0x${'f'.repeat(name === 'firewall.flows' ? 32 : 8)}`);
    });
  }

  it('without doubleVlan (the OVS default), the two-tag parser paths are reported as not taken', async () => {
    const r = await runConformance({ policy: policyOf('firewall.flows'), reference: modelTarget, target: modelTarget, runs: 40, seed: 16, stateSnapshot: false });
    expect(untakenPaths(r.trafficCoverage!)).toEqual(expect.arrayContaining(['parse_vlan0 0x8100 → parse_vlan1']));
  });

  it('zones-timeouts: the zone bits reachable are those in which zones 1 and 2 differ, and both were seen', () => {
    const c = covered['zones-timeouts.flows'];
    if (!c) return; // the run above failed and said why
    expect(c.keys['ct.zone']!.reachable).toBe('0x3');
    expect(c.fitted.join(' ')).toContain('3↔4');
  });

  it('shard reports merge: bits OR-ed, counts added', () => {
    const a: TrafficCoverage = { fitted: [], weighting: 'uniform', keys: { 'ct.sport': { width: 16, ones: '0xff00', zeros: '0x00ff', reachable: '0xffff' } }, parser: { paths: ['a → b', 'b → c'], excluded: {}, taken: { 'a → b': 2 } } };
    const b: TrafficCoverage = { fitted: [], weighting: 'uniform', keys: { 'ct.sport': { width: 16, ones: '0x00ff', zeros: '0xff00', reachable: '0xffff' } }, parser: { paths: ['a → b', 'b → c'], excluded: {}, taken: { 'a → b': 1, 'b → c': 4 } } };
    const into = JSON.parse(JSON.stringify(a)) as TrafficCoverage;
    expect(missingBits(into)).toEqual({ 'ct.sport': '0xffff' });
    addTrafficCoverage(into, b);
    expect(missingBits(into)).toEqual({});
    expect(into.parser.taken).toEqual({ 'a → b': 3, 'b → c': 4 });
    expect(untakenPaths(into)).toEqual([]);
  });
});
