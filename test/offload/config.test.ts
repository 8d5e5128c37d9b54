import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, parseConfigJson, resolveConfig } from '../../offload/config.js';

describe('resolveConfig', () => {
  it('defaults mirror NIC offload: established TCP/UDP, production build (probe off), CPU port 510', () => {
    const c = resolveConfig();
    expect(c).toEqual({ ...DEFAULT_CONFIG });
    expect(c.probe).toBe(false);
    expect(resolveConfig({ probe: true }).probe).toBe(true);
    expect(c.offload).toBe('established-tcp-udp');
    expect(c.cpuPort).toBe(510);
    expect(c.slowPath).toEqual({ tcpFlags: true, icmpErrors: true, fragments: true, policyMiss: true });
  });

  it('merges partial objects', () => {
    const c = resolveConfig({ tableSizes: { policy: 64 }, slowPath: { tcpFlags: false }, zones: [1, 2], zoneSets: [{ name: 'a', zones: [2] }] });
    expect(c.tableSizes).toEqual({ conntrack: 65536, policy: 64 });
    expect(c.slowPath.tcpFlags).toBe(false);
    expect(c.slowPath.fragments).toBe(true);
    expect(c.zoneSets).toEqual([{ name: 'a', zones: [2] }]);
    // the defaults object is not shared
    expect(DEFAULT_CONFIG.tableSizes.policy).toBe(1024);
  });

  const bad: [string, unknown, RegExp][] = [
    ['root', [], /\(root\): must be a JSON object/],
    ['unknown key', { zone: [1] }, /zone: unknown key/],
    ['offload', { offload: 'everything' }, /offload: must be 'established-tcp-udp' or 'all-committed'/],
    ['cpu port 0', { cpuPort: 0 }, /cpuPort: must be in 1\.\.510/],
    ['cpu port 511', { cpuPort: 511 }, /cpuPort: must be in 1\.\.510/],
    ['zone range', { zones: [70000] }, /zones\[0\]: must be in 0\.\.65535/],
    ['duplicate zone', { zones: [1, 1] }, /zones\[1\]: zone 1 listed twice/],
    ['slow path switch', { slowPath: { syn: true } }, /slowPath\.syn: unknown punt reason switch/],
    ['slow path type', { slowPath: { fragments: 'yes' } }, /slowPath\.fragments: must be true or false/],
    ['table size', { tableSizes: { conntrack: 1.5 } }, /tableSizes\.conntrack: must be an integer/],
    ['zone set name', { zoneSets: [{ name: 'table', zones: [1] }] }, /zoneSets\[0\]\.name: must be a P4 identifier/],
    ['zone in two sets', { zoneSets: [{ name: 'a', zones: [1] }, { name: 'b', zones: [1] }] }, /zoneSets\[1\]\.zones\[0\]: zone 1 is already in zone set 'a'/],
    ['set zone not offloaded', { zones: [1], zoneSets: [{ name: 'a', zones: [2] }] }, /zoneSets\[0\]\.zones\[0\]: zone 2 is not in 'zones'/],
    ['max stages', { maxStages: 0 }, /maxStages: must be in 1\.\.32/],
  ];
  for (const [name, input, msg] of bad) {
    it(`rejects ${name} with CTO_OFFLOAD_CONFIG naming the key`, () => {
      let err: (Error & { code?: string; key?: string }) | undefined;
      try {
        resolveConfig(input, 'cfg.json');
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err?.code).toBe('CTO_OFFLOAD_CONFIG');
      expect(err?.message).toMatch(/^cfg\.json: /);
      expect(err?.message).toMatch(msg);
    });
  }

  it('parseConfigJson reports bad JSON with the file name', () => {
    expect(() => parseConfigJson('{ nope', 'x.json')).toThrow(/x\.json: \(root\): not valid JSON/);
    expect(parseConfigJson('{"probe": false}').probe).toBe(false);
  });
});
