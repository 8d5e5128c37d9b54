/**
 * Properties of model/conntrack/nat.ts through the pipeline: whatever the tuple, payload and
 * family, a translated packet's checksums verify (RFC 1624 updates), the translation is in the
 * action's ranges, and the reply built from the translated packet comes back with the
 * original tuple (reverse translation), also verifying.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Conntrack } from '../../../model/conntrack/index.js';
import { buildFrame } from '../../../model/packet/build.js';
import { CT_OK, PacketView } from '../../../model/packet/view.js';
import { Pipeline, parsePolicy } from '../../../model/pipeline/index.js';

const POLICY = (v6: boolean): string => `
table=0,priority=10,${v6 ? 'ipv6' : 'ip'},actions=ct(nat,table=1)
table=1,priority=10,in_port=1,${v6 ? 'ipv6' : 'ip'},ct_state=+trk+new,actions=ct(commit,nat(src=${v6 ? '[fd00::100]-[fd00::103]' : '10.200.0.1-10.200.0.4'}:20000-20009)),output:2
table=1,priority=10,in_port=2,ct_state=+trk+est,actions=output:1
`;

const ip4 = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 254 })).map((a) => a.join('.'));
const ip6 = fc.tuple(fc.nat(0xffff), fc.nat(0xffff)).map(([a, b]) => `2001:db8::${a.toString(16)}:${b.toString(16)}`);

describe('NAT rewrite (property)', () => {
  it('translated and reverse-translated packets verify; tuples as promised', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        ip4,
        ip4,
        ip6,
        ip6,
        fc.integer({ min: 1, max: 65535 }),
        fc.integer({ min: 1, max: 65535 }),
        fc.uint8Array({ maxLength: 40 }),
        (v6, isTcp, a4, b4, a6, b6, sport, dport, payload) => {
          const [src, dst] = v6 ? [a6, b6] : [a4, b4];
          fc.pre(src !== dst);
          const p = new Pipeline(parsePolicy(POLICY(v6), 'p.flows'), new Conntrack());
          const l4 = isTcp ? { tcp: { sport, dport, flags: 'S', seq: 7 } } : { udp: { sport, dport } };
          const v = p.process(buildFrame({ ip: { src, dst }, ...l4, payload }), 1, 0);
          expect(v.outputs).toHaveLength(1);
          const o = new PacketView().parse(v.outputs[0]!.bytes);
          expect(o.ctStatus).toBe(CT_OK);
          expect(o.sport).toBeGreaterThanOrEqual(20000);
          expect(o.sport).toBeLessThanOrEqual(20009);
          expect(o.dport).toBe(dport);
          const last = v6 ? o.src[3]! : o.src[0]! & 0xff;
          expect(last).toBeGreaterThanOrEqual(v6 ? 0x100 : 1);
          expect(last).toBeLessThanOrEqual(v6 ? 0x103 : 4);
          // The reply, addressed to the translated source.
          const nat = new PacketView().parse(v.outputs[0]!.bytes);
          const natSrc = v6 ? `fd00::${nat.src[3]!.toString(16)}` : `10.200.0.${nat.src[0]! & 0xff}`;
          const rl4 = isTcp ? { tcp: { sport: dport, dport: nat.sport, flags: 'SA', seq: 99, ack: 8 } } : { udp: { sport: dport, dport: nat.sport } };
          const r = p.process(buildFrame({ ip: { src: dst, dst: natSrc }, ...rl4, payload }), 2, 1);
          expect(r.outputs).toHaveLength(1);
          const back = new PacketView().parse(r.outputs[0]!.bytes);
          expect(back.ctStatus).toBe(CT_OK);
          expect(back.dport).toBe(sport);
          const orig = new PacketView().parse(buildFrame({ ip: { src, dst }, udp: { sport: 1, dport: 1 } }));
          expect([...back.dst]).toEqual([...orig.src]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
