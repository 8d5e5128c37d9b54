/**
 * scenarioArb options and coverage: bad options fail at once with CTO_TRAFFIC_OPTIONS, gaps
 * follow timeScale/jitter, and a default sample covers every traffic kind the issue lists.
 */
import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as api from '../../../harness/arbitraries/index.js';
import { OVS_DEFAULT_TIMEOUTS_S, renderScenarioDetailed, scenarioArb, type Scenario, type TrafficOptions } from '../../../harness/arbitraries/index.js';
import type { Trace } from '../../../model/verdict.js';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('scenarioArb options', () => {
  it('rejects bad options with CTO_TRAFFIC_OPTIONS before generating anything', () => {
    const bad: TrafficOptions[] = [
      { flows: { min: 3, max: 2 } },
      { events: { min: -1 } },
      { include: { tcp: false, udp: false, icmp: false, ftp: false, tftp: false, malformed: false } },
      { ports: { inside: [], outside: [2] } },
      { timeScale: 0 },
      { outsideOrigin: 2 },
      { timeouts: [-1] },
    ];
    for (const o of bad) expect(codeOf(() => scenarioArb(o)), JSON.stringify(o)).toBe('CTO_TRAFFIC_OPTIONS');
    expect(codeOf(() => scenarioArb({}))).toBeUndefined();
  });

  it('long gaps sit within ±jitter of a scaled timeout', () => {
    const scale = 0.01;
    const targets = OVS_DEFAULT_TIMEOUTS_S.map((t) => t * 1000 * scale);
    fc.assert(
      fc.property(scenarioArb({ timeScale: scale, longGapRate: 1, jitter: 2 }), (s) => {
        for (const f of s.flows) for (const e of f.events) expect(targets.some((t) => Math.abs(e.gap - t) <= 2), String(e.gap)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('a default sample covers every kind of traffic of the issue', () => {
    const seen = new Set<string>();
    const samples: Scenario[] = fc.sample(scenarioArb({ ports: { inside: [1, 3], outside: [2, 4] } }), { seed: 99, numRuns: 400 });
    for (const s of samples) {
      for (const f of s.flows) {
        seen.add(`proto:${f.proto}`);
        seen.add(`family:${f.family}`);
        seen.add(`pair:${f.pair}`);
        seen.add(`origin:${f.origin}`);
        if (f.proto === 'ftp') seen.add(`ftp:${f.ftp.mode}${f.ftp.wrongHost !== null ? ':wrong' : ''}`);
        const kinds = f.events.map((e) => e.kind);
        if (f.proto === 'tcp' && kinds[0] === 'syn' && kinds[1] === 'syn') seen.add('tcp:simultaneous-open');
        if (f.proto === 'tcp' && kinds.filter((k) => k === 'syn').length >= 2 && kinds[1] !== 'syn') seen.add('tcp:reuse');
        for (const e of f.events) {
          seen.add(`kind:${e.kind}`);
          if (e.bad) seen.add(`bad:${e.bad.op}`);
          if (e.kind === 'icmpError') seen.add(`icmpError:${e.variant}`);
          if (OVS_DEFAULT_TIMEOUTS_S.some((t) => Math.abs(e.gap - t * 1000) <= 1)) seen.add('gap:timeout');
        }
      }
      for (const st of renderScenarioDetailed(s).steps) if (st.anomaly) seen.add(`anomaly:${st.anomaly}`);
    }
    const want = [
      'proto:tcp', 'proto:udp', 'proto:icmp', 'proto:ftp', 'proto:tftp', 'proto:noise', 'family:4', 'family:6', 'pair:0', 'pair:1',
      'origin:inside', 'origin:outside', 'ftp:active', 'ftp:passive', 'tcp:simultaneous-open', 'tcp:reuse',
      'kind:syn', 'kind:synack', 'kind:ack', 'kind:data', 'kind:announce', 'kind:fin', 'kind:rst', 'kind:retransmit', 'kind:reorder',
      'kind:oow', 'kind:flags', 'kind:icmpError', 'kind:dgram', 'kind:echo', 'kind:rrq', 'kind:tftpData', 'kind:tftpAck',
      'kind:arp', 'kind:runt', 'kind:badVersion', 'bad:ipChecksum', 'bad:l4Checksum', 'bad:zeroPort', 'bad:truncate', 'bad:badIhl', 'bad:fragment',
      'icmpError:ok', 'icmpError:noFlow', 'icmpError:badSource', 'icmpError:short', 'gap:timeout',
      'anomaly:out of window', 'anomaly:invalid TCP flags', 'anomaly:inexact RST',
    ];
    expect(want.filter((w) => !seen.has(w))).toEqual([]);
    expect([...seen].some((k) => k.startsWith('ftp:') && k.endsWith(':wrong'))).toBe(true);
  });

  it('the public API has the documented shapes', () => {
    expectTypeOf(api.scenarioArb).returns.toEqualTypeOf<fc.Arbitrary<Scenario>>();
    expectTypeOf(api.traceArb).returns.toEqualTypeOf<fc.Arbitrary<Trace>>();
    expectTypeOf(api.renderScenario).returns.toEqualTypeOf<Trace>();
    expectTypeOf(api.describeScenario).returns.toEqualTypeOf<string>();
    expectTypeOf<Parameters<typeof api.renderScenario>[0]>().toEqualTypeOf<Scenario>();
  });
});
