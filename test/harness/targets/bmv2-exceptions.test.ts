/**
 * The bmv2 relaxation rows excuse exactly what they describe: synthetic comparison contexts,
 * positive and negative, through the real comparator.
 */
import { describe, expect, it } from 'vitest';
import { buildFrame, type FrameSpec } from '../../../model/packet/build.js';
import { PORT_CONTROLLER, type Verdict } from '../../../model/verdict.js';
import { compareVerdicts } from '../../../harness/compare/compare.js';
import { resolveConfig } from '../../../offload/index.js';
import { BMV2_EXCEPTIONS, tcpSeqChkDisabledRule } from '../../../harness/targets/bmv2/index.js';

const A = '10.0.0.1';
const B = '192.168.1.2';
const seg = (flags: string, extra: Partial<FrameSpec> = {}): Uint8Array =>
  buildFrame({ ip: { src: A, dst: B }, tcp: { sport: 40000, dport: 80, seq: 1, ack: 1, flags, win: 100 }, ...extra } as FrameSpec);
const ct = (state: number) => ({ state, zone: 1, mark: 0, label: 0n });

function ctx(frame: Uint8Array, expected: Verdict, observed: Verdict, target = 'bmv2') {
  return { target, reference: 'model', step: { time: 0, port: 1, frame }, stepIndex: 0, expected, observed };
}
const refInv = (frame: Uint8Array): Verdict => ({ outputs: [{ port: PORT_CONTROLLER, bytes: frame, ct: ct(0x30) }], lookups: [{ table: 1, ...ct(0x30) }] });
/** Decided by a hardware entry: its output and its lookup (observation build) carry the entry's state. */
const hwEst = (frame: Uint8Array, state = 0x22): Verdict => ({ outputs: [{ port: 2, bytes: frame, ct: ct(state) }], lookups: [{ table: 1, ...ct(state) }] });

describe('bmv2 exception rows', () => {
  it('bmv2-hw-no-tcp-seq-chk: an ACK the reference finds out of window, forwarded est by the entry', () => {
    const f = seg('A');
    const c = compareVerdicts(ctx(f, refInv(f), hwEst(f)), BMV2_EXCEPTIONS);
    expect(c.differences).toEqual([]);
    expect(new Set(c.excused.map((e) => e.rule))).toEqual(new Set(['bmv2-hw-no-tcp-seq-chk']));
    expect(c.excused.map((e) => e.diff.kind)).toContain('ct-state');
  });

  it('lookup differences are excused only from the lookup where the reference says inv and the entry est', () => {
    const f = seg('A');
    const est = { table: 1, ...ct(0x22) };
    const inv = { table: 1, ...ct(0x30) };
    // the paths part at lookup 0: the est copy recirculated once more in hardware
    const parted = compareVerdicts(ctx(f, { outputs: [], lookups: [inv] }, { outputs: [], lookups: [est, { table: 2, ...ct(0x22) }] }), BMV2_EXCEPTIONS);
    expect(parted.differences).toEqual([]);
    expect(parted.excused.map((e) => e.diff.kind).sort()).toEqual(['ct-state', 'lookup-count']);
    // an earlier lookup that differs otherwise, a different zone, or est → new: not excused
    for (const [exp, obs] of [
      [[est, inv], [{ ...est, mark: 5 }, est]],
      [[inv], [{ ...est, zone: 2 }]],
      [[est], [{ table: 1, ...ct(0x21) }]],
    ] as const) {
      expect(compareVerdicts(ctx(f, { outputs: [], lookups: [...exp] }, { outputs: [], lookups: [...obs] }), BMV2_EXCEPTIONS).differences.length).toBeGreaterThan(0);
    }
  });

  it('does not excuse: a FIN/RST (always punted), inv on the bmv2 side, another target, a non-TCP packet', () => {
    for (const [f, exp, obs, target] of [
      [seg('FA'), refInv(seg('FA')), hwEst(seg('FA')), 'bmv2'],
      [seg('A'), refInv(seg('A')), hwEst(seg('A'), 0x30), 'bmv2'],
      [seg('A'), refInv(seg('A')), hwEst(seg('A')), 'ovs'],
      [buildFrame({ ip: { src: A, dst: B }, udp: { sport: 1, dport: 2 } }), refInv(seg('A')), hwEst(seg('A')), 'bmv2'],
    ] as const) {
      const c = compareVerdicts(ctx(f, exp, obs, target), BMV2_EXCEPTIONS);
      expect(c.differences.length).toBeGreaterThan(0);
    }
  });

  it('bmv2-no-length-checksum-validation: a bad L4 checksum forwarded by the entry; not when the frame is valid', () => {
    const bad = seg('A', { tcp: { sport: 40000, dport: 80, seq: 1, ack: 1, flags: 'A', win: 100, badChecksum: true } });
    const c = compareVerdicts(ctx(bad, refInv(bad), hwEst(bad, 0x21)), BMV2_EXCEPTIONS);
    expect(c.differences).toEqual([]);
    expect(c.excused.map((e) => e.rule)).toContain('bmv2-no-length-checksum-validation');
    const good = buildFrame({ ip: { src: A, dst: B }, udp: { sport: 1, dport: 2 } });
    expect(compareVerdicts(ctx(good, refInv(good), hwEst(good, 0x21)), BMV2_EXCEPTIONS).differences.length).toBeGreaterThan(0);
  });

  it('lookups are compared: the row bmv2-lookups-not-observed is retired (missing or different lookups are differences)', () => {
    const f = seg('A');
    const v: Verdict = { outputs: [{ port: 2, bytes: f, ct: ct(0x22) }], lookups: [{ table: 1, ...ct(0x22) }] };
    expect(BMV2_EXCEPTIONS.map((r) => r.id)).not.toContain('bmv2-lookups-not-observed');
    expect(compareVerdicts(ctx(f, v, { ...v, lookups: [] }), BMV2_EXCEPTIONS).differences.map((d) => d.kind)).toEqual(['lookup-count']);
    expect(compareVerdicts(ctx(f, v, { ...v, lookups: [{ table: 1, ...ct(0x21) }] }), BMV2_EXCEPTIONS).differences.map((d) => d.kind)).toEqual(['ct-state']);
  });

  it('bmv2-tcp-seq-chk-disabled replays the prefix with sequence checks off', () => {
    const policy = {
      source: 'p',
      text: 'table=0,ip,actions=ct(zone=1,table=1)\ntable=1,ip,ct_state=+trk+new,actions=ct(commit,zone=1),output:2\ntable=1,ct_state=+trk+est,actions=output:2\ntable=1,ct_state=+trk+inv,actions=controller\n',
    };
    const tcp = (from: 'a' | 'b', flags: string, seq: number, ack: number) =>
      buildFrame((from === 'a' ? { ip: { src: A, dst: B }, tcp: { sport: 4, dport: 80, seq, ack, flags, win: 65535 } } : { ip: { src: B, dst: A }, tcp: { sport: 80, dport: 4, seq, ack, flags, win: 65535 } }) as FrameSpec);
    const prefix = [tcp('a', 'S', 100, 0), tcp('b', 'SA', 500, 101), tcp('a', 'A', 101, 501)];
    const history = prefix.map((f, i) => ({ index: i, time: i, port: 1, frame: Buffer.from(f).toString('hex'), expected: null, observed: null, differences: [], excused: [] }));
    const rule = tcpSeqChkDisabledRule(policy, resolveConfig({ probe: true }));
    const f = tcp('a', 'A', 101, 501 + 0x40000000); // ACKs data never sent: inv with checks
    const step = { time: 3, port: 1, frame: f };
    const base = { target: 'bmv2', reference: 'model', step, stepIndex: 3, history };
    const exp = refInv(f);
    // relaxed reference forwards it with est: excused; a drop on the bmv2 side is not
    expect(compareVerdicts({ ...base, expected: exp, observed: hwEst(f) }, [rule]).differences).toEqual([]);
    // ...and its lookups too: the relaxed reference's lookup is est, not new
    expect(compareVerdicts({ ...base, expected: exp, observed: { ...hwEst(f), lookups: [{ table: 1, ...ct(0x21) }] } }, [rule]).differences.map((d) => d.kind)).toContain('ct-state');
    expect(compareVerdicts({ ...base, expected: exp, observed: { outputs: [], lookups: [] } }, [rule]).differences.length).toBeGreaterThan(0);
  });
});
