/**
 * Address and port pools. Small pools on purpose: two flows drawn independently share a host
 * or a whole 5-tuple often enough to exercise tuple reuse and zone separation (the same tuple
 * on another port pair lands in another zone when the policy maps in_port to zones).
 *
 * Two layouts:
 *  - **Legacy** (a Scenario without `addrs`, as stored before pools were widened): host n of a
 *    side is `10.0.0.<n+1>` / `192.0.2.<n+1>` / `fd00::<n+1>` / `2001:db8::<n+1>`. Kept so that
 *    stored counterexamples render to the same bytes.
 *  - **Spread** (`Scenario.addrs`, what the generator writes now): each side and family has a
 *    CIDR prefix, and host k's host bits are a pattern that makes every host bit vary across the
 *    pool (k = 0: 0101…, k = 1: 1010…, k = 2: 0011…, k = 3: 1100…, then a mix of k); the
 *    STRAY host is the bitwise complement of the side's host 0 over the whole address, so the
 *    prefix bits vary too. A NIC key or parser that ignores part of an address then disagrees
 *    on some trace (issue 16, "key and header coverage"), while the pool stays a handful of
 *    addresses, so tuples still collide.
 */
import { formatIpv4, formatIpv6, isIpv6Text, parseIp } from '../../../model/packet/addr.js';
import type { AddressPools, Family, PortMap, Side } from '../types.js';

/** Host index of a side's router (ICMP errors from a router). */
export const ROUTER = 253;
/** Host index of the stray host: outside every prefix (spread layout only). */
export const STRAY = 254;

/** Pools of the spread layout when neither the policy nor the traffic options name prefixes. */
export const DEFAULT_POOLS: AddressPools = {
  inside: { v4: '10.0.0.0/8', v6: 'fd00::/16' },
  outside: { v4: '192.0.2.0/24', v6: '2001:db8::/32' },
};

function toBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function fromBig(v: bigint, family: Family): string {
  const n = family === 4 ? 4 : 16;
  const b = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return family === 4 ? formatIpv4(b) : formatIpv6(b);
}

export interface Prefix {
  family: Family;
  /** Network address (host bits zero). */
  net: bigint;
  len: number;
}

/** Parses `A/len` (or a bare address: /32, /128); null when it is not one. */
export function parsePrefix(text: string): Prefix | null {
  if (typeof text !== 'string') return null;
  const m = /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(text.trim());
  if (!m) return null;
  let bytes: Uint8Array;
  try {
    bytes = parseIp(m[1]!);
  } catch {
    return null;
  }
  const family: Family = isIpv6Text(m[1]!) ? 6 : 4;
  const width = family === 4 ? 32 : 128;
  const len = m[2] === undefined ? width : Number(m[2]);
  if (!(len >= 0 && len <= width)) return null;
  const hostMask = (1n << BigInt(width - len)) - 1n;
  return { family, net: toBig(bytes) & ~hostMask & ((1n << BigInt(width)) - 1n), len };
}

const PATTERNS = [0x55n, 0xaan, 0x33n, 0xccn];

/** Repeat the byte `b` over `bits` bits. */
function repeat(b: bigint, bits: number): bigint {
  let v = 0n;
  for (let i = 0; i < bits; i += 8) v = (v << 8n) | b;
  return v & ((1n << BigInt(bits)) - 1n);
}

/** Host bits of host k in a host part `bits` wide (never all zeros or all ones when bits ≥ 2). */
export function hostBits(k: number, bits: number): bigint {
  if (bits <= 0) return 0n;
  const mask = (1n << BigInt(bits)) - 1n;
  if (k === ROUTER) return mask - 1n;
  let v: bigint;
  if (k < PATTERNS.length) v = repeat(PATTERNS[k]!, bits + 8);
  else {
    // splitmix32 of k, repeated: a fixed, well-mixed pattern per host.
    let x = (k * 0x9e3779b9) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    v = 0n;
    for (let i = 0; i < bits; i += 32) v = (v << 32n) | BigInt(x);
  }
  v &= mask;
  if (bits >= 2 && (v === 0n || v === mask)) v ^= 1n;
  return v;
}

function poolOf(pools: AddressPools, side: Side, family: Family): Prefix {
  const text = pools[side]?.[family === 4 ? 'v4' : 'v6'];
  const p = typeof text === 'string' ? parsePrefix(text) : null;
  if (p && p.family === family) return p;
  return parsePrefix(DEFAULT_POOLS[side][family === 4 ? 'v4' : 'v6'])!;
}

function spreadAddr(pools: AddressPools, side: Side, family: Family, idx: number): string {
  const width = family === 4 ? 32 : 128;
  const p = poolOf(pools, side, family);
  const k = Math.abs(Math.trunc(idx));
  if (k === STRAY) {
    const h0 = p.net | hostBits(0, width - p.len);
    return fromBig(~h0 & ((1n << BigInt(width)) - 1n), family);
  }
  return fromBig(p.net | hostBits(k, width - p.len), family);
}

/**
 * Host `idx` of a side's pool (ROUTER: the side's router; STRAY: outside every prefix). Without
 * `pools`, the legacy layout (see the module comment).
 */
export function hostAddr(side: Side, family: Family, idx: number, pools?: AddressPools | null): string {
  if (pools) return spreadAddr(pools, side, family, idx);
  const n = (Math.abs(Math.trunc(idx)) % 254) + 1;
  if (family === 4) return side === 'inside' ? `10.0.0.${n}` : `192.0.2.${n}`;
  return side === 'inside' ? `fd00::${n.toString(16)}` : `2001:db8::${n.toString(16)}`;
}

export function routerAddr(side: Side, family: Family, pools?: AddressPools | null): string {
  return hostAddr(side, family, ROUTER, pools);
}

function hex2(n: number): string {
  return (n & 0xff).toString(16).padStart(2, '0');
}

/** Locally administered MACs: 02:00:00:<side>:<family>:<host>. */
export function hostMac(side: Side, family: Family, idx: number): string {
  const n = (Math.abs(Math.trunc(idx)) % 254) + 1;
  return `02:00:00:${side === 'inside' ? '01' : '02'}:${hex2(family)}:${hex2(n)}`;
}

export function otherSide(s: Side): Side {
  return s === 'inside' ? 'outside' : 'inside';
}

/** The in_port on which packets sent by a host of `side` arrive, for zone pair `pair`. */
export function portOf(ports: PortMap, side: Side, pair: number): number {
  const list = side === 'inside' ? ports.inside : ports.outside;
  if (list.length === 0) return side === 'inside' ? 1 : 2;
  const k = Math.abs(Math.trunc(pair)) % list.length;
  return list[k]!;
}

/** Number of zone pairs of a port map. */
export function pairCount(ports: PortMap): number {
  return Math.max(1, Math.max(ports.inside.length, ports.outside.length));
}

/** Client (ephemeral) ports: a pool of 3 to make tuples collide, sometimes anything above 1024. */
export const CLIENT_PORTS = [40000, 40001, 40002];
export const TCP_SERVER_PORTS = [80, 443, 22, 8080];
export const UDP_SERVER_PORTS = [53, 123, 5000];
