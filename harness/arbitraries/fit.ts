/**
 * fitTraffic: default traffic fitted to the policy (issue 16). When the traffic options leave
 * out the ports, the address pools or the server ports, they are drawn from what the policy
 * matches on, so a policy with a second zone on ports 3/4 gets traffic on 3/4 without a traffic
 * file. A pure function of the policy text and the options given: the same policy always gets
 * the same traffic; anything the options give wins.
 *
 * Ports: the policy's `in_port=` values. A flow that commits (`ct(commit…)`) on packets from
 * port P and outputs to Q makes P an inside port paired with Q (connections are opened from the
 * inside, docs/conntrack-semantics.md §1); the other matched ports are paired among themselves in
 * ascending order. Zones: the zone of the first `ct()` on each port's flows (reported in `notes`).
 * Addresses: the first `nw_src`/`nw_dst` (`ipv6_src`/`ipv6_dst`) prefix matched on an inside
 * port's flows (or a flow with no in_port) is the inside/outside pool; on an outside port's flows
 * the roles are swapped. Server ports: every `tp_dst` matched with tcp or udp.
 */
import { parsePolicy, prefixLength, type Flow as PolicyFlow, type MatchField } from '../../model/pipeline/index.js';
import { formatIpv4, formatIpv6 } from '../../model/packet/addr.js';
import type { TrafficOptions } from './types.js';

export interface FittedTraffic {
  /** The options with what the policy decides filled in (what the run uses and records). */
  options: TrafficOptions;
  /** What was fitted, in words, for the CLI and the report. */
  notes: string[];
}

const field = (f: PolicyFlow, name: string): MatchField | undefined => f.match.find((m) => m.name === name);
const exact = (m: MatchField | undefined, width: number): number | null => (m && m.mask === (1n << BigInt(width)) - 1n ? Number(m.value) : null);

function prefixText(m: MatchField, family: 4 | 6): string {
  const width = family === 4 ? 32 : 128;
  const n = family === 4 ? 4 : 16;
  const b = new Uint8Array(n);
  let v = m.value;
  for (let i = n - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  const len = prefixLength(m.mask, width);
  // A non-prefix mask (10.0.0.0/255.0.255.0) has no CIDR form: the address alone, as a /width.
  return `${family === 4 ? formatIpv4(b) : formatIpv6(b)}/${len < 0 ? width : len}`;
}

export function fitTraffic(policyText: string, source: string, given: TrafficOptions = {}): FittedTraffic {
  const policy = parsePolicy(policyText, source);
  const notes: string[] = [];
  const out: TrafficOptions = { ...given };
  const inPort = (f: PolicyFlow): number | null => exact(field(f, 'in_port'), 32);
  const outputs = (f: PolicyFlow): number[] => f.actions.flatMap((a) => (a.kind === 'output' && a.port < 0xff00 ? [a.port] : []));
  const commits = (f: PolicyFlow): boolean => f.actions.some((a) => a.kind === 'ct' && a.commit);

  // ---- ports and pairs
  const matched = [...new Set(policy.flows.map(inPort).filter((p): p is number => p !== null && p >= 1 && p <= 0xfeff))].sort((a, b) => a - b);
  const inside: number[] = [];
  const outside: number[] = [];
  for (const f of policy.flows) {
    const p = inPort(f);
    const q = outputs(f).find((o) => o !== p);
    if (p === null || q === undefined || !commits(f) || inside.includes(p) || outside.includes(p)) continue;
    inside.push(p);
    outside.push(q);
  }
  const rest = matched.filter((p) => !inside.includes(p) && !outside.includes(p));
  for (let i = 0; i + 1 < rest.length; i += 2) {
    inside.push(rest[i]!);
    outside.push(rest[i + 1]!);
  }
  if (rest.length % 2 === 1) {
    // An odd port out: its partner is a port of the policy's outputs, else the first inside one.
    const p = rest[rest.length - 1]!;
    const q = policy.flows.filter((f) => inPort(f) === p).flatMap(outputs).find((o) => o !== p) ?? (inside[0] ?? (p === 1 ? 2 : 1));
    inside.push(p);
    outside.push(q);
  }
  if (given.ports === undefined && inside.length > 0) {
    out.ports = { inside, outside };
    const zoneOf = (p: number): number | null => {
      for (const f of policy.flows) if (inPort(f) === p) for (const a of f.actions) if (a.kind === 'ct') return a.zone;
      for (const f of policy.flows) if (inPort(f) === null) for (const a of f.actions) if (a.kind === 'ct') return a.zone;
      return null;
    };
    const pairs = inside.map((p, k) => {
      const z = [zoneOf(p), zoneOf(outside[k]!)];
      return `${p}↔${outside[k]}${z[0] !== null ? ` (zone ${z[0]}${z[1] !== null && z[1] !== z[0] ? `/${z[1]}` : ''})` : ''}`;
    });
    notes.push(`ports from the policy's in_port matches: ${pairs.join(', ')}`);
  }

  // ---- address pools
  const insidePorts = new Set(out.ports?.inside ?? inside);
  const pools: { inside: { v4?: string; v6?: string }; outside: { v4?: string; v6?: string } } = { inside: {}, outside: {} };
  for (const f of policy.flows) {
    const p = inPort(f);
    const fromInside = p === null || insidePorts.has(p);
    for (const [name, family, role] of [['nw_src', 4, 'src'], ['nw_dst', 4, 'dst'], ['ipv6_src', 6, 'src'], ['ipv6_dst', 6, 'dst']] as const) {
      const m = field(f, name);
      if (!m || m.mask === 0n) continue;
      const side = (role === 'src') === fromInside ? 'inside' : 'outside';
      const fam = family === 4 ? 'v4' : 'v6';
      pools[side][fam] ??= prefixText(m, family);
    }
  }
  const a: NonNullable<TrafficOptions['addresses']> = { ...(given.addresses ?? {}) };
  let fittedPools = false;
  for (const side of ['inside', 'outside'] as const) {
    for (const fam of ['v4', 'v6'] as const) {
      const v = pools[side][fam];
      if (v === undefined || given.addresses?.[side]?.[fam] !== undefined) continue;
      a[side] = { ...(a[side] ?? {}), [fam]: v };
      notes.push(`${side} ${fam === 'v4' ? 'IPv4' : 'IPv6'} pool ${v} from the policy`);
      fittedPools = true;
    }
  }
  if (fittedPools) out.addresses = a;

  // ---- server ports
  const tcp = new Set<number>();
  const udp = new Set<number>();
  for (const f of policy.flows) {
    const proto = exact(field(f, 'nw_proto'), 8);
    const dport = exact(field(f, 'tp_dst'), 16);
    if (dport === null || dport === 0) continue;
    if (proto === 6) tcp.add(dport);
    else if (proto === 17) udp.add(dport);
  }
  if (tcp.size || udp.size) {
    const sp: NonNullable<TrafficOptions['serverPorts']> = { ...(given.serverPorts ?? {}) };
    if (tcp.size && sp.tcp === undefined) {
      sp.tcp = [...tcp].sort((x, y) => x - y);
      notes.push(`TCP server ports ${sp.tcp.join(', ')} from the policy's tp_dst matches`);
    }
    if (udp.size && sp.udp === undefined) {
      sp.udp = [...udp].sort((x, y) => x - y);
      notes.push(`UDP server ports ${sp.udp.join(', ')} from the policy's tp_dst matches`);
    }
    if (sp.tcp !== undefined || sp.udp !== undefined) out.serverPorts = sp;
  }
  return { options: out, notes };
}
