/**
 * model/conntrack/nat.ts on its own: the allocator's search (lib/conntrack.c
 * `nat_get_unique_tuple`, `nat_get_unique_l4`; docs/conntrack-semantics.md §11.3), the check of
 * an imposed tuple, and the RFC 1624 update it uses (model/packet/checksum.ts).
 */
import { describe, expect, it } from 'vitest';
import { KEY_WORDS, K_DPORT, K_DST, K_META, K_SPORT, K_SRC, NatAllocator, NatInfo, natTupleAllowed } from '../../../model/conntrack/index.js';
import { finishChecksum, recalcCsum16, sum16 } from '../../../model/packet/checksum.js';

const ip = (s: string): number => s.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);

/** IPv4 TCP key, zone 0. */
function key(src: string, sport: number, dst: string, dport: number, proto = 6): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  k[K_META] = proto << 16;
  k[K_SRC] = ip(src);
  k[K_DST] = ip(dst);
  k[K_SPORT] = sport;
  k[K_DPORT] = dport;
  return k;
}

const snat = (a: string, b: string, p0 = 0, p1 = 0): NatInfo => NatInfo.of('src', 4, BigInt(ip(a)), BigInt(ip(b)), p0, p1);

describe('NatAllocator', () => {
  it('SNAT without a port range keeps a free source port, then walks its class', () => {
    const al = new NatAllocator(1);
    const rk = new Uint32Array(KEY_WORDS);
    const k = key('10.0.0.1', 40000, '10.0.0.2', 80);
    expect(al.uniqueTuple(k, snat('1.1.1.1', '1.1.1.1'), () => false, rk)).toBe(true);
    expect([rk[K_DST], rk[K_DPORT], rk[K_SRC], rk[K_SPORT]]).toEqual([ip('1.1.1.1'), 40000, ip('10.0.0.2'), 80]);
    // Ports 40000 and 40001 taken: the next one in [1024, 65535].
    const taken = (x: Uint32Array): boolean => x[K_DPORT] === 40000 || x[K_DPORT] === 40001;
    al.uniqueTuple(k, snat('1.1.1.1', '1.1.1.1'), taken, rk);
    expect(rk[K_DPORT]).toBe(40002);
    // A privileged source port stays in [1, 511].
    al.uniqueTuple(key('10.0.0.1', 511, '10.0.0.2', 80), snat('1.1.1.1', '1.1.1.1'), (x) => x[K_DPORT] === 511, rk);
    expect(rk[K_DPORT]).toBe(1);
  });

  it('a small range is searched completely, wrapping; a full one is exhaustion', () => {
    const al = new NatAllocator(7);
    const rk = new Uint32Array(KEY_WORDS);
    const k = key('10.0.0.1', 40000, '10.0.0.2', 80);
    const seen: number[] = [];
    const ok = al.uniqueTuple(k, snat('1.1.1.1', '1.1.1.1', 5000, 5009), (x) => (seen.push(x[K_DPORT]!), true), rk);
    expect(ok).toBe(false);
    expect([...seen].sort((a, b) => a - b)).toEqual([5000, 5001, 5002, 5003, 5004, 5005, 5006, 5007, 5008, 5009]);
    // Consecutive from the hash's start, wrapping once.
    const start = seen[0]!;
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => 5000 + ((start - 5000 + i) % 10)));
  });

  it('a large range: 128, then 64, 32, 16 and 8 attempts from seeded random starts (248 in all)', () => {
    const al = new NatAllocator(3);
    const rk = new Uint32Array(KEY_WORDS);
    let n = 0;
    expect(al.uniqueTuple(key('10.0.0.1', 40000, '10.0.0.2', 80), snat('1.1.1.1', '1.1.1.1', 10000, 20000), () => (n++, true), rk)).toBe(false);
    expect(n).toBe(128 + 64 + 32 + 16 + 8);
  });

  it('the address is drawn once from the range and never changed', () => {
    const al = new NatAllocator(11);
    const rk = new Uint32Array(KEY_WORDS);
    const addrs = new Set<number>();
    al.uniqueTuple(key('10.0.0.1', 40000, '10.0.0.2', 80), snat('1.1.1.1', '1.1.1.9', 7000, 7001), (x) => (addrs.add(x[K_DST]!), true), rk);
    expect(addrs.size).toBe(1);
    const a = [...addrs][0]!;
    expect(a).toBeGreaterThanOrEqual(ip('1.1.1.1'));
    expect(a).toBeLessThanOrEqual(ip('1.1.1.9'));
  });

  it('ICMP: no port search; the translated tuple itself must be free', () => {
    const al = new NatAllocator(5);
    const rk = new Uint32Array(KEY_WORDS);
    const k = key('10.0.0.1', 0x08000007, '10.0.0.2', 0x00000007, 1);
    expect(al.uniqueTuple(k, snat('1.1.1.1', '1.1.1.1'), () => false, rk)).toBe(true);
    expect([rk[K_SPORT], rk[K_DPORT]]).toEqual([0x00000007, 0x08000007]);
    expect(al.uniqueTuple(k, snat('1.1.1.1', '1.1.1.1'), () => true, rk)).toBe(false);
  });
});

describe('natTupleAllowed (an imposed translation)', () => {
  const k = key('10.0.0.1', 40000, '10.0.0.2', 80);
  const rk = (dst: string, dport: number, src = '10.0.0.2', sport = 80): Uint32Array => {
    const r = key(src, sport, dst, dport);
    return r;
  };
  it('accepts a tuple in the ranges with the other endpoint untouched, refuses the rest', () => {
    const ni = snat('1.1.1.1', '1.1.1.4', 2000, 2999);
    expect(natTupleAllowed(k, ni, rk('1.1.1.3', 2500))).toBe(true);
    expect(natTupleAllowed(k, ni, rk('1.1.1.5', 2500))).toBe(false);
    expect(natTupleAllowed(k, ni, rk('1.1.1.3', 3000))).toBe(false);
    expect(natTupleAllowed(k, ni, rk('1.1.1.3', 2500, '10.0.0.9'))).toBe(false);
    expect(natTupleAllowed(k, ni, rk('1.1.1.3', 2500, '10.0.0.2', 81))).toBe(false);
    expect(natTupleAllowed(k, NatInfo.of(null, null, 0n, 0n, 0, 0), rk('10.0.0.1', 40000))).toBe(false);
    // Without a port range the source port stays in its class ([1024, 65535] for 40000).
    const noPorts = snat('1.1.1.1', '1.1.1.1');
    expect(natTupleAllowed(k, noPorts, rk('1.1.1.1', 40000))).toBe(true);
    expect(natTupleAllowed(k, noPorts, rk('1.1.1.1', 1024))).toBe(true);
    expect(natTupleAllowed(k, noPorts, rk('1.1.1.1', 800))).toBe(false);
    // DNAT with a port range: the destination port must be in it.
    const dnat = NatInfo.of('dst', 4, BigInt(ip('2.2.2.2')), BigInt(ip('2.2.2.2')), 8000, 8001);
    const d = (src: string, sport: number): Uint32Array => key(src, sport, '10.0.0.1', 40000);
    expect(natTupleAllowed(k, dnat, d('2.2.2.2', 8001))).toBe(true);
    expect(natTupleAllowed(k, dnat, d('2.2.2.2', 80))).toBe(false);
  });
});

describe('recalcCsum16 (RFC 1624, as lib/csum.c)', () => {
  it('equals a full recomputation after changing one word', () => {
    const b = new Uint8Array([0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    const c0 = finishChecksum(sum16(b, 0, 20));
    b[10] = c0 >>> 8;
    b[11] = c0 & 255;
    for (const nv of [0x0000, 0xffff, 0xc0a8, 0x0102]) {
      const ov = (b[12]! << 8) | b[13]!;
      const c = recalcCsum16((b[10]! << 8) | b[11]!, ov, nv);
      b[12] = nv >>> 8;
      b[13] = nv & 255;
      b[10] = c >>> 8;
      b[11] = c & 255;
      expect(finishChecksum(sum16(b, 0, 20))).toBe(0);
    }
  });
});
