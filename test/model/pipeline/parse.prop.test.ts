import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Action,
  type CtAction,
  type Flow,
  type MatchField,
  type MatchFieldName,
  formatFlow,
  fullMask,
  matchFieldOrder,
  parseFlow,
  parsePolicy,
} from '../../../model/pipeline/index.js';
import { shape } from './shape.js';

const P = { line: 1, column: 1 };

const bits = (w: number): fc.Arbitrary<bigint> => fc.bigInt({ min: 0n, max: fullMask(w) });
/** value/mask pair with value ⊆ mask; full mask half of the time. */
const masked = (w: number): fc.Arbitrary<[bigint, bigint]> =>
  fc.tuple(bits(w), fc.oneof(fc.constant(fullMask(w)), bits(w).filter((m) => m !== 0n))).map(([v, m]) => [v & m, m]);
const prefixMasked = (w: number): fc.Arbitrary<[bigint, bigint]> =>
  fc.tuple(bits(w), fc.integer({ min: 1, max: w })).map(([v, p]) => {
    const m = fullMask(w) - fullMask(w - p);
    return [v & m, m];
  });

const PROTOS: Record<string, [number, number | null]> = {
  none: [-1, null], ip: [0x0800, null], ipv6: [0x86dd, null], tcp: [0x0800, 6], udp: [0x0800, 17],
  icmp: [0x0800, 1], tcp6: [0x86dd, 6], udp6: [0x86dd, 17], icmp6: [0x86dd, 58], arp: [0x0806, null],
};

function mf(name: MatchFieldName, [value, mask]: [bigint, bigint]): MatchField {
  return { name, value, mask, pos: P };
}

const flowArb: fc.Arbitrary<Flow> = fc
  .record({
    table: fc.integer({ min: 0, max: 253 }),
    priority: fc.integer({ min: 0, max: 65535 }),
    cookie: fc.option(bits(64), { nil: null }),
    proto: fc.constantFrom(...Object.keys(PROTOS)),
    inPort: fc.option(fc.integer({ min: 1, max: 0xfeff })),
    dlSrc: fc.option(masked(48)),
    nw: fc.option(fc.oneof(masked(32), prefixMasked(32))),
    nw6: fc.option(fc.oneof(masked(128), prefixMasked(128))),
    tp: fc.option(masked(16)),
    icmpType: fc.option(fc.integer({ min: 0, max: 255 })),
    flags: fc.option(masked(12)),
    ctState: fc.option(
      fc.oneof(
        fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 255 })).map(([v, m]) => [BigInt(v & m), BigInt(m)] as [bigint, bigint]),
        fc.integer({ min: 0, max: 255 }).map((v) => [BigInt(v), 0xffffffffn] as [bigint, bigint]),
      ),
    ),
    zone: fc.option(fc.integer({ min: 0, max: 0xffff })),
    mark: fc.option(masked(32)),
    label: fc.option(masked(128)),
    acts: fc.array(
      fc.oneof(
        fc.integer({ min: 1, max: 0xfeff }).map((port): Action => ({ kind: 'output', port, pos: P })),
        fc.constant<Action>({ kind: 'controller', args: null, pos: P }),
        fc.integer({ min: 0, max: 254 }).map((table): Action => ({ kind: 'resubmit', table, pos: P })),
        fc.constant<Action>({ kind: 'ct_clear', pos: P }),
        fc
          .record({
            commit: fc.boolean(),
            force: fc.boolean(),
            zone: fc.integer({ min: 0, max: 0xffff }),
            table: fc.option(fc.integer({ min: 0, max: 254 }), { nil: null }),
            alg: fc.constantFrom<CtAction['alg']>(null, 'ftp', 'tftp'),
            mark: fc.option(masked(32), { nil: null }),
            label: fc.option(masked(128), { nil: null }),
          })
          .map((r): Action => ({
            kind: 'ct', commit: r.commit, force: r.force && r.commit, zone: r.zone, table: r.table, alg: r.alg, timeout: null,
            exec: r.commit
              ? [
                  ...(r.mark ? [{ field: 'ct_mark' as const, value: r.mark[0], mask: r.mark[1], pos: P }] : []),
                  ...(r.label ? [{ field: 'ct_label' as const, value: r.label[0], mask: r.label[1], pos: P }] : []),
                ]
              : [],
            pos: P,
          })),
      ),
      { maxLength: 5 },
    ),
    gotoTable: fc.option(fc.integer({ min: 1, max: 254 })),
  })
  .map((r) => {
    const [dl, np] = PROTOS[r.proto]!;
    const match: MatchField[] = [];
    if (dl >= 0) match.push(mf('dl_type', [BigInt(dl), 0xffffn]));
    if (np !== null) match.push(mf('nw_proto', [BigInt(np), 0xffn]));
    if (r.inPort !== null) match.push(mf('in_port', [BigInt(r.inPort), fullMask(32)]));
    if (r.dlSrc) match.push(mf('dl_src', r.dlSrc));
    if (r.nw && dl === 0x0800) match.push(mf('nw_src', r.nw));
    if (r.nw6 && dl === 0x86dd) match.push(mf('ipv6_dst', r.nw6));
    if (r.tp && (np === 6 || np === 17)) match.push(mf('tp_dst', r.tp));
    if (r.icmpType !== null && (np === 1 || np === 58)) match.push(mf('tp_src', [BigInt(r.icmpType), 0xffffn]));
    if (r.flags && np === 6) match.push(mf('tcp_flags', r.flags));
    if (r.ctState) match.push(mf('ct_state', r.ctState));
    if (r.zone !== null) match.push(mf('ct_zone', [BigInt(r.zone), 0xffffn]));
    if (r.mark) match.push(mf('ct_mark', r.mark));
    if (r.label) match.push(mf('ct_label', r.label));
    match.sort((a, b) => matchFieldOrder(a.name) - matchFieldOrder(b.name));
    const ip = dl === 0x0800 || dl === 0x86dd;
    const inv = r.ctState !== null && (r.ctState[0] & 0x10n) !== 0n;
    let actions = r.acts.filter((a) => {
      if (a.kind !== 'ct') return true;
      if (!ip || (inv && a.commit)) return false;
      if (a.alg === 'ftp' && np !== 6) return false;
      if (a.alg === 'tftp' && np !== 17) return false;
      return true;
    });
    if (r.gotoTable !== null && r.gotoTable > r.table) actions = [...actions, { kind: 'goto_table', table: r.gotoTable, pos: P }];
    if (actions.length === 0) actions = [{ kind: 'drop', pos: P }];
    const flow: Flow = { table: r.table, priority: r.priority, cookie: r.cookie, match, actions, pos: P, text: '' };
    return flow;
  });

describe('formatFlow/parseFlow round trip (property)', () => {
  it('parse(format(f)) has the same shape as f, and printing is stable', () => {
    fc.assert(
      fc.property(flowArb, (f) => {
        const text = formatFlow(f);
        const g = parseFlow(text);
        expect(shape(g)).toEqual(shape(f));
        expect(formatFlow(g)).toBe(text);
      }),
      { numRuns: 400 },
    );
  });

  it('parse(format(parse(x))) equals parse(x) for a whole policy', () => {
    fc.assert(
      fc.property(fc.array(flowArb, { minLength: 1, maxLength: 6 }), (flows) => {
        const p = parsePolicy(flows.map((f) => formatFlow(f)).join('\n'));
        const q = parsePolicy(p.flows.map((f) => formatFlow(f)).join('\n'));
        expect(q.flows.map(shape)).toEqual(p.flows.map(shape));
        expect(q.tables).toEqual(p.tables);
      }),
      { numRuns: 150 },
    );
  });
});
