import { describe, expect, it } from 'vitest';
import { formatEntry } from '../../../harness/targets/bmv2/index.js';

describe('formatEntry (hardware table entries in counterexample state)', () => {
  const base = { priority: 0, isDefaultAction: false, idleTimeoutNs: 0n };
  it('prints the conntrack key by its l3: IPv4 and IPv6 addresses, decimal ports and zone', () => {
    const v4 = formatEntry({
      ...base, table: 'CtIngress.conntrack_s0', action: 'CtIngress.ct_hit', params: { state: 0x22n, mark: 7n },
      match: { zone: { kind: 'exact', value: 12n }, l3: { kind: 'exact', value: 0x800n }, src: { kind: 'exact', value: 0x0a000001n }, dst: { kind: 'exact', value: 0xc0000201n }, sport: { kind: 'exact', value: 40000n }, dport: { kind: 'exact', value: 53n } },
      idleTimeoutNs: 30_000_000_000n,
    });
    expect(v4).toBe('zone=12,l3=0x800,src=10.0.0.1,dst=192.0.2.1,sport=40000,dport=53 → CtIngress.ct_hit(state=0x22,mark=7) idle_timeout=30000ms');
    const v6 = formatEntry({
      ...base, table: 't', action: 'a', params: {},
      match: { l3: { kind: 'exact', value: 0x86ddn }, src: { kind: 'exact', value: (0x20010db8n << 96n) | 1n } },
    });
    expect(v6).toBe('l3=0x86dd,src=2001:db8::1 → a()');
  });
  it('prints ternary, lpm and range matches and priorities in hex', () => {
    const t = formatEntry({
      ...base, table: 't', priority: 5, action: 'drop', params: {},
      match: { ip: { kind: 'ternary', value: 0x0a000000n, mask: 0xff000000n }, p: { kind: 'lpm', value: 0x0an, prefixLen: 8 }, r: { kind: 'range', low: 1n, high: 0x400n } },
    });
    expect(t).toBe('ip=0xa000000/0xff000000,p=0xa/8,r=1..0x400 priority=5 → drop()');
  });
});
