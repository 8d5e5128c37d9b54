/**
 * Properties of the core: never throws, replies of committed connections are est|rpl, zones
 * never share state, and expiry removes exactly the idle connections (against a reference Map).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildFrame } from '../../../model/packet/build.js';
import { PacketView } from '../../../model/packet/view.js';
import { Conntrack, CtArgs, CtMeta } from '../../../model/conntrack/index.js';
import { Driver } from './helpers.js';

const addr = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })).map(([a, b]) => `10.0.${a}.${b}`);
const port = fc.integer({ min: 1, max: 65535 });

describe('execute on arbitrary input', () => {
  it('never throws and always marks the packet tracked', () => {
    const ct = new Conntrack();
    const v = new PacketView();
    const md = new CtMeta();
    const a = new CtArgs();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.record({ zone: fc.integer({ min: 0, max: 3 }), commit: fc.boolean(), force: fc.boolean(), alg: fc.integer({ min: 0, max: 2 }), keep: fc.boolean() }),
        fc.integer({ min: 0, max: 1e9 }),
        (bytes, o, now) => {
          // Give most inputs an IPv4/IPv6 EtherType so the parser goes deep.
          if (bytes.length > 14 && bytes[0]! < 200) {
            bytes[12] = bytes[0]! & 1 ? 0x86 : 0x08;
            bytes[13] = bytes[0]! & 1 ? 0xdd : 0x00;
            if (bytes[0]! & 1) bytes[14] = 0x60 | (bytes[14]! & 0x0f);
            else bytes[14] = 0x45;
          }
          if (!o.keep) md.clear();
          Object.assign(a, { zone: o.zone, commit: o.commit, force: o.force && o.commit, alg: o.alg, setMark: true, markValue: 1, markMask: 1 });
          ct.execute(v.parse(bytes), a, now, md);
          expect(md.state & 0x20).toBe(0x20);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('replies of committed connections', () => {
  it('UDP and ICMP echo: the first reply is est|rpl|trk in any zone', () => {
    fc.assert(
      fc.property(addr, addr, port, port, fc.integer({ min: 0, max: 65535 }), fc.boolean(), fc.integer({ min: 0, max: 65535 }), (src, dst, sp, dp, zone, icmp, id) => {
        fc.pre(src !== dst);
        const d = new Driver();
        const fwd = icmp ? { ip: { src, dst }, icmp: { type: 8, id } } : { ip: { src, dst }, udp: { sport: sp, dport: dp } };
        const rev = icmp ? { ip: { src: dst, dst: src }, icmp: { type: 0, id } } : { ip: { src: dst, dst: src }, udp: { sport: dp, dport: sp } };
        expect(d.commit(fwd, { zone })).toBe('new|trk');
        expect(d.ct_(rev, { zone })).toBe('est|rpl|trk');
        expect(d.ct_(fwd, { zone })).toBe('est|trk');
      }),
      { numRuns: 300 },
    );
  });
});

type Op = { kind: 'orig' | 'reply' | 'sweep'; flow: number; zone: number; commit: boolean; dt: number };
const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom('orig', 'reply', 'sweep') as fc.Arbitrary<Op['kind']>,
  flow: fc.integer({ min: 0, max: 5 }),
  zone: fc.integer({ min: 0, max: 2 }),
  commit: fc.boolean(),
  dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 70_000 }), fc.constantFrom(29_999, 30_000, 59_999, 60_000)),
});

function flowFrame(flow: number, reply: boolean): Uint8Array {
  const sport = 1000 + flow;
  return buildFrame(reply ? { ip: { src: '10.0.0.2', dst: '10.0.0.1' }, udp: { sport: 53, dport: sport } } : { ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport, dport: 53 } });
}

describe('zones never share state', () => {
  it('a mixed-zone run equals one independent tracker per zone', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const mixed = new Driver();
        const per = [new Driver(), new Driver(), new Driver()];
        let now = 0;
        for (const op of ops) {
          now += op.dt;
          mixed.now = now;
          for (const p of per) p.now = now;
          if (op.kind === 'sweep') {
            mixed.ct.sweep(now);
            for (const p of per) p.ct.sweep(now);
            continue;
          }
          const f = flowFrame(op.flow, op.kind === 'reply');
          const got = mixed.ct_(f, { zone: op.zone, commit: op.commit });
          const want = per[op.zone]!.ct_(f, { zone: op.zone, commit: op.commit });
          expect(got).toBe(want);
        }
        for (let z = 0; z < 3; z++) {
          const a = mixed.conns().filter((c) => c.zone === z).map((c) => `${c.orig.sport}:${c.protoState}:${c.expiration}`).sort();
          const b = per[z]!.conns().map((c) => `${c.orig.sport}:${c.protoState}:${c.expiration}`).sort();
          expect(a).toEqual(b);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('expiry removes exactly the idle connections', () => {
  it('matches a reference Map model of UDP entries', () => {
    const TIMEOUT = { FIRST: 60_000, MULTIPLE: 60_000, BIDIR: 30_000 } as const;
    // Entries keyed by their original direction: F<flow> (client first) or R<flow> (server first).
    type E = { exp: number; st: keyof typeof TIMEOUT };
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const d = new Driver();
        const ref = new Map<string, E>();
        let now = 0;
        for (const op of ops) {
          now += op.dt;
          d.now = now;
          for (const [k, e] of ref) if (now >= e.exp) ref.delete(k);
          if (op.kind === 'sweep') {
            d.ct.sweep(now);
            expect(d.ct.size).toBe(ref.size);
            continue;
          }
          const isReply = op.kind === 'reply';
          const same = (isReply ? 'R' : 'F') + op.flow;
          const other = (isReply ? 'F' : 'R') + op.flow;
          const got = d.ct_(flowFrame(op.flow, isReply), { commit: op.commit });
          let want: string;
          const eo = ref.get(same);
          const er = ref.get(other);
          if (eo) {
            if (eo.st === 'FIRST') eo.st = 'MULTIPLE';
            eo.exp = now + TIMEOUT[eo.st];
            want = eo.st === 'BIDIR' ? 'est|trk' : 'new|trk';
          } else if (er) {
            er.st = 'BIDIR';
            er.exp = now + TIMEOUT.BIDIR;
            want = 'est|rpl|trk';
          } else {
            want = 'new|trk';
            if (op.commit) ref.set(same, { exp: now + TIMEOUT.FIRST, st: 'FIRST' });
          }
          expect(got).toBe(want);
          const live = d.conns().map((c) => (c.orig.sport === 53 ? `R${c.orig.dport - 1000}` : `F${c.orig.sport - 1000}`));
          expect(live.sort()).toEqual([...ref.keys()].sort());
          for (const c of d.conns()) {
            const k = c.orig.sport === 53 ? `R${c.orig.dport - 1000}` : `F${c.orig.sport - 1000}`;
            expect(c.expiration).toBe(ref.get(k)!.exp);
            expect(c.protoState).toBe(ref.get(k)!.st);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
