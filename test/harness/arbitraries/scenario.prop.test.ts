/**
 * Properties of generated traffic: intended validity of every frame, exact TCP bookkeeping,
 * deterministic rendering, JSON round trip, monotonic time, port map use, option filters.
 * Failures print the seed and path (fast-check) and the scenario (describeScenario).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  describeScenario,
  renderScenario,
  renderScenarioDetailed,
  scenarioArb,
  type Scenario,
  type TrafficOptions,
} from '../../../harness/arbitraries/index.js';
import { tcpInvalidFlags as tcpFlagsInvalid } from '../../../model/conntrack/tcp.js';
import { CT_OK, IPPROTO_TCP, PacketView } from '../../../model/packet/view.js';
import { checkTcpBookkeeping } from './tcp-check.js';

const OPTS: TrafficOptions = { ports: { inside: [1, 3], outside: [2, 4] } };
const view = new PacketView();

function explain(s: Scenario): string {
  return describeScenario(s, { rendered: true });
}

describe('scenarioArb / renderScenario properties', () => {
  it('every frame parses with the validity it was built to have', () => {
    fc.assert(
      fc.property(scenarioArb(OPTS), (s) => {
        const r = renderScenarioDetailed(s);
        expect(r.steps.length).toBe(r.trace.length);
        r.trace.forEach((st, k) => {
          const info = r.steps[k]!;
          view.parse(st.frame);
          // (The description is built only on a mismatch: rendering it for every frame is slow.)
          if (view.ctStatus !== info.ctStatus) expect(view.ctStatus, `${info.label}\n${explain(s)}`).toBe(info.ctStatus);
          const ev = s.flows[info.flow]!.events[info.event]!;
          if (ev.bad) expect(view.ctStatus, info.label).not.toBe(CT_OK);
          if (info.anomaly === 'invalid TCP flags') {
            expect(view.ipProto).toBe(IPPROTO_TCP);
            expect(tcpFlagsInvalid(view.tcpFlags)).toBe(true);
          } else if (view.ipProto === IPPROTO_TCP && view.ctStatus === CT_OK && info.anomaly !== 'unusual TCP flags') {
            expect(tcpFlagsInvalid(view.tcpFlags), info.label).toBe(false);
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  it('TCP sessions carry exact seq/ack numbers and stay within the advertised window', () => {
    let seq = 0;
    let ack = 0;
    let win = 0;
    fc.assert(
      fc.property(scenarioArb({ ...OPTS, include: { udp: false, icmp: false, tftp: false } }), (s) => {
        const res = checkTcpBookkeeping(s);
        if (res.errors.length > 0) expect(res.errors, explain(s)).toEqual([]);
        seq += res.checkedSeq;
        ack += res.checkedAck;
        win += res.checkedWindow;
      }),
      { numRuns: 300 },
    );
    // The checker really checked something (a vacuous pass would hide a broken renderer).
    expect(seq).toBeGreaterThan(1000);
    expect(ack).toBeGreaterThan(1000);
    expect(win).toBeGreaterThan(200);
  });

  it('rendering is deterministic and a JSON round trip of the scenario re-renders the same bytes', () => {
    fc.assert(
      fc.property(scenarioArb(OPTS), (s) => {
        const json = JSON.stringify(s);
        const back = JSON.parse(json) as Scenario;
        expect(back).toEqual(s);
        const a = renderScenario(s);
        const b = renderScenario(back);
        expect(b.length).toBe(a.length);
        a.forEach((st, k) => {
          expect(b[k]!.time).toBe(st.time);
          expect(b[k]!.port).toBe(st.port);
          expect(Buffer.from(b[k]!.frame).equals(Buffer.from(st.frame))).toBe(true);
        });
      }),
      { numRuns: 150 },
    );
  });

  it('time is monotonic, frames have an Ethernet header, and enter on a port of the port map per their flow pair', () => {
    const ports = { inside: [1, 3, 5], outside: [2, 4] };
    fc.assert(
      fc.property(scenarioArb({ ports }), (s) => {
        const r = renderScenarioDetailed(s);
        let last = 0;
        r.trace.forEach((st, k) => {
          expect(st.time).toBeGreaterThanOrEqual(last);
          expect(st.frame.length).toBeGreaterThanOrEqual(14); // injectable into every target
          last = st.time;
          const f = s.flows[r.steps[k]!.flow]!;
          const allowed = [ports.inside[f.pair % 3], ports.outside[f.pair % 2]];
          expect(allowed).toContain(st.port);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('include options restrict what is generated', () => {
    const onlyUdp4 = scenarioArb({ include: { tcp: false, icmp: false, ftp: false, tftp: false, ipv6: false, malformed: false, icmpErrors: false } });
    fc.assert(
      fc.property(onlyUdp4, (s) => {
        for (const f of s.flows) {
          expect(f.proto).toBe('udp');
          expect(f.family).toBe(4);
          for (const e of f.events) {
            expect(e.kind).toBe('dgram');
            expect(e.bad).toBeUndefined();
          }
        }
      }),
      { numRuns: 100 },
    );
    const clean = scenarioArb({ include: { malformed: false } });
    fc.assert(
      fc.property(clean, (s) => {
        const r = renderScenarioDetailed(s);
        r.trace.forEach((st, k) => {
          view.parse(st.frame);
          expect(view.ctStatus, r.steps[k]!.label).toBe(CT_OK);
          expect(r.steps[k]!.anomaly === 'invalid TCP flags').toBe(false);
        });
      }),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(scenarioArb({ flows: { min: 2, max: 3 }, events: { min: 1, max: 2 } }), (s) => {
        expect(s.flows.length).toBeGreaterThanOrEqual(2);
        expect(s.flows.length).toBeLessThanOrEqual(3);
      }),
      { numRuns: 50 },
    );
  });
});
