/** The conntrack key: extraction, mirror-image keys, symmetric salted hash (§2.1). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildFrame } from '../../../model/packet/build.js';
import { PacketView } from '../../../model/packet/view.js';
import { KEY_WORDS, extractKey, keyEq, keyEqReversed, keyHash, metaProto, metaZone } from '../../../model/conntrack/key.js';

const v = new PacketView();
function keyOf(spec: Parameters<typeof buildFrame>[0], zone = 0): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  extractKey(v.parse(buildFrame(spec)), zone, k);
  return k;
}

describe('conn key', () => {
  it('request and reply have mirror-image keys and the same hash (UDP, ICMP echo)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }), fc.integer(), fc.integer({ min: 0, max: 65535 }), (sp, dp, salt, zone) => {
        const f = keyOf({ ip: { src: '1.2.3.4', dst: '5.6.7.8' }, udp: { sport: sp, dport: dp } }, zone);
        const r = keyOf({ ip: { src: '5.6.7.8', dst: '1.2.3.4' }, udp: { sport: dp, dport: sp } }, zone);
        expect(keyEqReversed(f, 0, r, 0)).toBe(true);
        expect(keyHash(f, 0, salt)).toBe(keyHash(r, 0, salt));
        expect(metaZone(f[0]!)).toBe(zone);
        expect(metaProto(f[0]!)).toBe(17);
      }),
      { numRuns: 200 },
    );
    const q = keyOf({ ip: { src: 'fd00::1', dst: 'fd00::2' }, icmp: { type: 128, id: 9 } });
    const p = keyOf({ ip: { src: 'fd00::2', dst: 'fd00::1' }, icmp: { type: 129, id: 9 } });
    expect(keyEqReversed(q, 0, p, 0)).toBe(true);
    expect(keyEq(q, 0, p, 0)).toBe(false);
  });

  it('zone and salt change the hash; zone changes the key', () => {
    const a = keyOf({ ip: { src: '1.2.3.4', dst: '5.6.7.8' }, udp: { sport: 1, dport: 2 } }, 1);
    const b = keyOf({ ip: { src: '1.2.3.4', dst: '5.6.7.8' }, udp: { sport: 1, dport: 2 } }, 2);
    expect(keyEq(a, 0, b, 0)).toBe(false);
    expect(keyHash(a, 0, 7)).not.toBe(keyHash(b, 0, 7));
    expect(keyHash(a, 0, 7)).not.toBe(keyHash(a, 0, 8));
  });

  it('an ICMP error yields the reversed key of the quoted packet', () => {
    const out = buildFrame({ ip: { src: '1.2.3.4', dst: '5.6.7.8' }, udp: { sport: 1, dport: 2 } });
    const k = new Uint32Array(KEY_WORDS);
    const ip = out.slice(14);
    const related = extractKey(v.parse(buildFrame({ ip: { src: '5.6.7.8', dst: '1.2.3.4' }, icmpError: { type: 3, code: 3, inner: ip } })), 0, k);
    expect(related).toBe(true);
    const reply = keyOf({ ip: { src: '5.6.7.8', dst: '1.2.3.4' }, udp: { sport: 2, dport: 1 } });
    expect(keyEq(k, 0, reply, 0)).toBe(true);
  });

  it('other protocols carry no ports', () => {
    const k = keyOf({ ip: { src: '1.2.3.4', dst: '5.6.7.8', proto: 47 }, payload: new Uint8Array([1, 2, 3, 4]) });
    expect([k[5], k[10]]).toEqual([0, 0]);
  });
});
