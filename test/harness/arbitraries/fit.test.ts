/**
 * fitTraffic (harness/arbitraries/fit.ts): default traffic drawn from what the policy matches on
 * (issue 16), deterministic, and overridden by whatever the traffic options give.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fitTraffic, renderScenario, scenarioArb } from '../../../harness/arbitraries/index.js';
import { ipv4ToString, L3_IPV4, PacketView } from '../../../model/packet/view.js';

const example = (name: string): string => readFileSync(new URL(`../../../examples/${name}`, import.meta.url), 'utf8');

describe('fitTraffic', () => {
  it('a policy with a second zone on ports 3/4 gets traffic on 3 and 4', () => {
    const fit = fitTraffic(example('zones-timeouts.flows'), 'zones-timeouts.flows');
    expect(fit.options.ports).toEqual({ inside: [1, 3], outside: [2, 4] });
    expect(fit.notes.join('\n')).toContain('3↔4 (zone 2)');
    // Over a few runs, packets arrive on all four ports.
    const seen = new Set<number>();
    fc.assert(fc.property(scenarioArb(fit.options), (s) => void renderScenario(s).forEach((st) => seen.add(st.port))), { numRuns: 40, seed: 7 });
    expect([...seen].sort()).toEqual([1, 2, 3, 4]);
  });

  it('ports only: a policy whose zones sit on ports 5/6 without commits there still gets them', () => {
    const text = ['table=0,in_port=5,ip,actions=ct(table=1,zone=7)', 'table=0,in_port=6,ip,actions=ct(table=1,zone=7)', 'table=1,ct_state=+trk,actions=drop'].join('\n');
    expect(fitTraffic(text, 't').options.ports).toEqual({ inside: [5], outside: [6] });
  });

  it('address pools and server ports come from nw_src/nw_dst and tp_dst matches', () => {
    const text = [
      'table=0,priority=10,tcp,in_port=1,nw_src=172.16.0.0/12,nw_dst=198.51.100.0/24,tp_dst=8443,actions=ct(commit,zone=1),output:2',
      'table=0,priority=10,udp,in_port=1,tp_dst=5353,actions=ct(commit,zone=1),output:2',
      'table=0,priority=10,ipv6,in_port=2,ipv6_src=2001:db8:1::/48,actions=output:1',
      'table=0,priority=0,actions=drop',
    ].join('\n');
    const fit = fitTraffic(text, 't');
    expect(fit.options.ports).toEqual({ inside: [1], outside: [2] });
    expect(fit.options.addresses).toEqual({ inside: { v4: '172.16.0.0/12' }, outside: { v4: '198.51.100.0/24', v6: '2001:db8:1::/48' } });
    expect(fit.options.serverPorts).toEqual({ tcp: [8443], udp: [5353] });
    // Generated IPv4 inside hosts sit in 172.16.0.0/12 (but the stray host), outside in 198.51.100.0/24.
    const v = new PacketView();
    let inPool = 0;
    let total = 0;
    fc.assert(
      fc.property(scenarioArb({ ...fit.options, include: { ipv6: false, malformed: false, headerShapes: false } }), (s) => {
        for (const st of renderScenario(s)) {
          v.parse(st.frame);
          if (v.l3 !== L3_IPV4 || st.port !== 1) continue;
          total++;
          const src = ipv4ToString(v.src[0]!);
          if (src.startsWith('172.') && Number(src.split('.')[1]) >> 4 === 1) inPool++;
        }
      }),
      { numRuns: 30, seed: 3 },
    );
    expect(total).toBeGreaterThan(20);
    expect(inPool / total).toBeGreaterThan(0.7);
  });

  it('is deterministic and the options given win over the policy', () => {
    const text = example('zones-timeouts.flows');
    expect(fitTraffic(text, 'a')).toEqual(fitTraffic(text, 'a'));
    const given = { ports: { inside: [7], outside: [8] }, serverPorts: { tcp: [1] } };
    const fit = fitTraffic(text, 'a', given);
    expect(fit.options.ports).toEqual(given.ports);
    expect(fit.options.serverPorts).toEqual({ tcp: [1] });
    expect(fit.notes.some((n) => n.startsWith('ports'))).toBe(false);
  });

  it('the example policies: firewall and ftp-tftp on 1↔2, ftp-tftp with its ALG ports', () => {
    expect(fitTraffic(example('firewall.flows'), 'f').options.ports).toEqual({ inside: [1], outside: [2] });
    const ftp = fitTraffic(example('ftp-tftp.flows'), 'f').options;
    expect(ftp.ports).toEqual({ inside: [1], outside: [2] });
    expect(ftp.serverPorts).toEqual({ tcp: [21], udp: [69] });
  });

  it('a policy without in_port matches keeps the default ports', () => {
    expect(fitTraffic('table=0,actions=drop', 't').options.ports).toBeUndefined();
  });
});
