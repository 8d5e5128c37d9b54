/**
 * Properties of model/conntrack/ipf.ts: any fragmentation of valid datagrams (8-byte aligned
 * cuts, non-final fragments at least the minimum size), delivered in any interleaved order,
 * reassembles to the original datagrams and releases every fragment exactly once, in offset
 * order, with the datagram's ct result; arbitrary fragment bytes never make it throw and the
 * counters always balance.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCtState } from '../../../model/ctstate.js';
import { buildFrame, ipPacketOf, type FrameSpec } from '../../../model/packet/build.js';
import { PacketView } from '../../../model/packet/view.js';
import { Conntrack, CtArgs, CtMeta } from '../../../model/conntrack/index.js';
import { FragDriver, fragmentFrame } from './frag-helpers.js';

const MIN_FRAG = 400;

interface Gram {
  v6: boolean;
  proto: 'udp' | 'tcp' | 'icmp';
  len: number;
  chunks: number[];
}

const gramArb: fc.Arbitrary<Gram> = fc.record({
  v6: fc.boolean(),
  proto: fc.constantFrom('udp' as const, 'tcp' as const, 'icmp' as const),
  len: fc.integer({ min: 1300, max: 6000 }),
  // Non-final data lengths in 8-byte units: at least MIN_FRAG of L3 bytes with either header.
  chunks: fc.array(fc.integer({ min: 48, max: 150 }), { minLength: 1, maxLength: 15 }),
});

function spec(g: Gram, id: number): FrameSpec {
  const ip = g.v6 ? { src: 'fd00::1', dst: 'fd00::2' } : { src: '10.1.1.1', dst: '10.1.1.2', id };
  const payload = new Uint8Array(g.len).map((_, i) => (i * 13 + id) & 255);
  if (g.proto === 'udp') return { ip, udp: { sport: 1000 + id, dport: 53 }, payload };
  if (g.proto === 'tcp') return { ip, tcp: { sport: 1000 + id, dport: 80, flags: 'S' }, payload };
  return { ip, icmp: { type: g.v6 ? 128 : 8, id, seq: 1 }, payload };
}

/** Cut points (data offsets) from the chunk list, keeping a non-empty last fragment. */
function cutsOf(g: Gram, dataLen: number): number[] {
  const cuts: number[] = [];
  let acc = 0;
  for (const c of g.chunks) {
    if (acc + c * 8 >= dataLen) break;
    acc += c * 8;
    cuts.push(acc);
  }
  return cuts;
}

describe('ipf properties', () => {
  it('interleaved arbitrary fragmentations reassemble to the originals and release each fragment once, in offset order', () => {
    fc.assert(
      fc.property(
        fc.array(gramArb, { minLength: 1, maxLength: 3 }),
        fc.array(fc.integer(), { minLength: 64, maxLength: 64 }),
        fc.record({ zone: fc.integer({ min: 0, max: 65535 }), recirc: fc.nat(), now: fc.integer({ min: 0, max: 1e9 }) }),
        (grams, keys, o) => {
          const d = new FragDriver();
          d.ct.ipf.setMinFrag(false, MIN_FRAG);
          d.ct.ipf.setMinFrag(true, MIN_FRAG);
          d.now = o.now;
          const sends: { g: number; i: number; frame: Uint8Array }[] = [];
          const origs: Uint8Array[] = [];
          const frags: Uint8Array[][] = [];
          grams.forEach((g, gi) => {
            const orig = buildFrame(spec(g, gi + 1));
            const dataLen = ipPacketOf(orig).length - (g.v6 ? 40 : 20);
            const fr = fragmentFrame(orig, cutsOf(g, dataLen), gi + 1);
            origs.push(orig);
            frags.push(fr);
            fr.forEach((frame, i) => sends.push({ g: gi, i, frame }));
          });
          // A random interleaving.
          const order = sends.map((_, k) => k).sort((x, y) => keys[x % 64]! - keys[y % 64]! || x - y);
          const remaining = frags.map((f) => f.length);
          const released = frags.map(() => 0);
          for (const k of order) {
            const s = sends[k]!;
            const r = d.send(s.frame, { zone: o.zone, recirc: o.recirc, tag: s.g * 1000 + s.i });
            expect(r.state).toBeNull(); // every valid fragment is held
            remaining[s.g]!--;
            if (remaining[s.g]! > 0) {
              expect(r.released).toEqual([]);
              continue;
            }
            // The list completed: the datagram is the original and all fragments come out.
            expect(ipPacketOf(r.datagram!)).toEqual(ipPacketOf(origs[s.g]!));
            expect(r.released.map((x) => x.tag)).toEqual(frags[s.g]!.map((_, i) => s.g * 1000 + i));
            expect(r.released.map((x) => x.frame)).toEqual(frags[s.g]);
            // Their ct_state is what the tracker says of the original datagram.
            const ref = new Conntrack();
            const md = new CtMeta();
            const a = new CtArgs();
            a.zone = o.zone;
            ref.execute(new PacketView().parse(origs[s.g]!), a, 0, md);
            expect(r.released.every((x) => x.state === formatCtState(md.state) && x.md.zone === o.zone)).toBe(true);
            released[s.g]! += r.released.length;
          }
          expect(released).toEqual(frags.map((f) => f.length));
          const st = d.ct.ipf.status();
          const n = sends.length;
          expect([st.v4.accepted + st.v6.accepted, st.v4.completed + st.v6.completed, st.nfrag, d.ct.ipf.idle]).toEqual([n, n, 0, true]);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('never throws on arbitrary fragment bytes; every fragment is released at most once and only if it was held', () => {
    const base = [
      ...fragmentFrame(buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2', id: 3 }, udp: { sport: 1, dport: 2 }, payload: new Uint8Array(1500) }), [488, 976]),
      ...fragmentFrame(buildFrame({ ip: { src: 'fd00::1', dst: 'fd00::2' }, udp: { sport: 1, dport: 2 }, payload: new Uint8Array(1500) }), [456, 912], 5),
    ];
    const step = fc.oneof(
      { weight: 4, arbitrary: fc.record({
        base: fc.integer({ min: 0, max: base.length - 1 }),
        edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        cut: fc.option(fc.nat(), { nil: undefined, freq: 8 }),
      }) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 120 }).map((b) => {
        if (b.length > 20) {
          b[12] = b[0]! & 1 ? 0x86 : 0x08;
          b[13] = b[0]! & 1 ? 0xdd : 0x00;
          b[14] = b[0]! & 1 ? 0x60 : 0x45;
        }
        return { raw: b };
      }) },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(step, fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 9000 })), { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        (steps, small) => {
          const d = new FragDriver();
          if (small) {
            d.ct.ipf.setMinFrag(false, 400);
            d.ct.ipf.setMinFrag(true, 400);
            d.ct.ipf.setMaxNfrags(6);
          }
          const held = new Set<number>();
          const seen = new Set<number>();
          steps.forEach(([s, zone, dt], k) => {
            let frame: Uint8Array;
            if ('raw' in s) frame = s.raw;
            else {
              frame = Uint8Array.from(base[s.base]!);
              for (const [pos, val] of s.edits) frame[14 + (pos % (frame.length - 14))] = val;
              if (s.cut !== undefined) frame = frame.subarray(0, s.cut % (frame.length + 1));
            }
            d.now += dt;
            const r = d.send(frame, { zone, tag: k, recirc: zone & 1 });
            if (r.state === null) held.add(k);
            else expect(r.state).toMatch(/trk/);
            for (const x of r.released) {
              expect(held.has(x.tag)).toBe(true);
              expect(seen.has(x.tag)).toBe(false);
              seen.add(x.tag);
            }
            const st = d.ct.ipf.status();
            const acc = st.v4.accepted + st.v6.accepted;
            const out = st.v4.completed + st.v6.completed + st.v4.expired + st.v6.expired + st.v4.purged + st.v6.purged;
            expect(acc).toBe(out + st.nfrag);
            expect(st.nfrag).toBeLessThanOrEqual(st.nfragMax);
          });
        },
      ),
      { numRuns: 400 },
    );
  });
});
