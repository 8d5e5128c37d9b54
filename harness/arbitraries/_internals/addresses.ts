/**
 * Address and port pools. Small pools on purpose: two flows drawn independently share a host
 * or a whole 5-tuple often enough to exercise tuple reuse and zone separation (the same tuple
 * on another port pair lands in another zone when the policy maps in_port to zones).
 */
import type { Family, PortMap, Side } from '../types.js';

/** Host `idx` of a side's pool; idx 253 is the side's router (ICMP errors from a router). */
export function hostAddr(side: Side, family: Family, idx: number): string {
  const n = (Math.abs(Math.trunc(idx)) % 254) + 1;
  if (family === 4) return side === 'inside' ? `10.0.0.${n}` : `192.0.2.${n}`;
  return side === 'inside' ? `fd00::${n.toString(16)}` : `2001:db8::${n.toString(16)}`;
}

export const ROUTER = 253;

export function routerAddr(side: Side, family: Family): string {
  return hostAddr(side, family, ROUTER);
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
