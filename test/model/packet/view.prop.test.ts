import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FrameSpec, buildFrame } from '../../../model/packet/build.js';
import { encodeFrame } from '../../../model/packet/codec.js';
import { CT_OK, PacketView } from '../../../model/packet/view.js';
import { frameArb, ipv4Arb, ipv6Arb } from './arbitraries.js';

const view = new PacketView();
const port = fc.integer({ min: 1, max: 65535 });
const u = (bits: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: 2 ** bits - 1 });

/** Valid TCP/UDP/echo frames from buildFrame. */
const validSpec: fc.Arbitrary<FrameSpec> = fc
  .tuple(
    fc.boolean(),
    fc.tuple(ipv4Arb, ipv4Arb),
    fc.tuple(ipv6Arb, ipv6Arb),
    fc.option(u(12), { nil: undefined }),
    fc.oneof(
      fc.record({ sport: port, dport: port, seq: u(32), ack: u(32), flags: u(9), win: u(16), options: fc.record({ wscale: fc.option(u(8), { nil: undefined }), mss: fc.option(u(16), { nil: undefined }) }) }).map((tcp) => ({ tcp })),
      fc.record({ sport: port, dport: port }).map((udp) => ({ udp })),
      fc.record({ id: u(16), seq: u(16) }).map((icmp) => ({ icmp })),
    ),
    fc.uint8Array({ maxLength: 64 }),
  )
  .map(([v6, a4, a6, vlan, l4, payload]) => {
    const [src, dst] = v6 ? a6 : a4;
    const spec = { ip: { src, dst }, payload, ...l4 } as FrameSpec;
    if (vlan !== undefined) spec.vlan = vlan;
    if (spec.icmp) spec.icmp = { ...spec.icmp, type: v6 ? 128 : 8 };
    return spec;
  });

describe('PacketView properties', () => {
  it('parse never throws on arbitrary bytes and keeps offsets inside the frame', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        view.parse(b);
        expect(view.l3End).toBeLessThanOrEqual(b.length);
        expect(view.payloadOff + view.payloadLen).toBeLessThanOrEqual(b.length);
      }),
      { numRuns: 5000 },
    );
  });

  it('parse never throws on mutated or truncated codec frames', () => {
    fc.assert(
      fc.property(frameArb, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), (f, cut, at, val) => {
        const b = encodeFrame(f).slice();
        if (b.length) b[at % b.length] = val;
        const len = cut % (b.length + 1);
        view.parse(b, len);
        expect(view.l3End).toBeLessThanOrEqual(len);
        expect(view.payloadOff + view.payloadLen).toBeLessThanOrEqual(len);
      }),
      { numRuns: 3000 },
    );
  });

  it('valid buildFrame frames are trackable and their fields equal the spec', () => {
    fc.assert(
      fc.property(validSpec, (spec) => {
        const v = view.parse(buildFrame(spec));
        expect(v.ctStatus).toBe(CT_OK);
        if (spec.tcp) {
          expect([v.sport, v.dport, v.seq, v.ack, v.tcpFlags, v.win]).toEqual([spec.tcp.sport, spec.tcp.dport, spec.tcp.seq, spec.tcp.ack, spec.tcp.flags, spec.tcp.win]);
          const ws = spec.tcp.options?.wscale;
          expect(v.wscale).toBe(ws === undefined ? -1 : Math.min(ws, 14));
        } else if (spec.udp) {
          expect([v.sport, v.dport]).toEqual([spec.udp.sport, spec.udp.dport]);
        } else {
          expect(v.icmpId).toBe(spec.icmp!.id);
        }
        expect(v.payloadLen).toBe((spec.payload as Uint8Array).length);
      }),
      { numRuns: 1500 },
    );
  });
});
