/**
 * TrafficOptions with defaults filled in and checked. Bad options are a typed error
 * (CTO_TRAFFIC_OPTIONS) naming the option, raised when the arbitrary is built, not mid-run.
 */
import { CtoffloadError } from '../../../model/errors.js';
import { msText } from '../../../model/clock.js';
import type { AddressPools, PortMap, TrafficKinds, TrafficOptions } from '../types.js';
import { DEFAULT_POOLS, parsePrefix, TCP_SERVER_PORTS, UDP_SERVER_PORTS } from './addresses.js';

export class TrafficOptionsError extends CtoffloadError {
  constructor(
    message: string,
    readonly option: string,
  ) {
    super('CTO_TRAFFIC_OPTIONS', `traffic option ${option}: ${message}`);
  }
}

/**
 * OVS 3.1 default timeouts in seconds (docs/conntrack-semantics.md §6.1): tcp_syn_sent/syn_recv/close
 * 30, tcp_time_wait 45, udp_first/udp_single/icmp_first 60, udp_multiple/icmp_reply 30,
 * tcp_fin_wait 900. (tcp_established, 86400 s, is left out: a day-long gap helps no test.)
 */
export const OVS_DEFAULT_TIMEOUTS_S = [30, 45, 60, 900];

export interface ResolvedOptions {
  kinds: TrafficKinds;
  flowsMin: number;
  flowsMax: number;
  eventsMin: number;
  eventsMax: number;
  ports: PortMap;
  outsideOrigin: number;
  hosts: number;
  /** Timeouts in ms after timeScale. */
  timeoutsMs: number[];
  jitter: number;
  longGapRate: number;
  shortGapMax: number;
  pools: AddressPools;
  tcpServerPorts: number[];
  udpServerPorts: number[];
  weighting: 'uniform' | 'coverage';
}

function count(v: number | undefined, dflt: number, name: string, max = 1000): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 0 || v > max) throw new TrafficOptionsError(`must be an integer in 0..${max}, got ${v}`, name);
  return v;
}
function prob(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!(v >= 0 && v <= 1)) throw new TrafficOptionsError(`must be a probability in [0, 1], got ${v}`, name);
  return v;
}

/**
 * Ports generated packets arrive on: OpenFlow physical ports 1..0xfeff (OVS `ofport_request`;
 * 0 is no port and 0xff00 up are reserved, OpenFlow 1.0 OFPP_MAX).
 */
export const MAX_TRAFFIC_PORT = 0xfeff;
/**
 * Longest generated gap between two events: 2^31 − 1 ms (24.8 days). The OVS oracle's clock is
 * driven with `time/warp`, whose cost in ovs-vswitchd grows with the warp (measured: about
 * 0.15 s per 10^9 ms with one connection, and a 136-year warp does not finish), so no trace may
 * go past it (harness/targets/ovs/target.ts OVS_MAX_TIME_MS); a day-long timeout is the longest
 * anyone needs (tcp_established).
 */
export const MAX_GAP_MS = 2 ** 31 - 1;

const KNOWN_KEYS: readonly (keyof TrafficOptions)[] = [
  'include', 'flows', 'events', 'ports', 'outsideOrigin', 'hosts', 'timeouts', 'timeScale', 'jitter', 'longGapRate', 'shortGapMax',
  'addresses', 'serverPorts', 'weighting',
];
const KNOWN_INCLUDE: readonly string[] = ['tcp', 'tcpAnomalies', 'udp', 'icmp', 'icmpErrors', 'ftp', 'tftp', 'ipv6', 'malformed', 'headerShapes', 'doubleVlan'];

/**
 * The keys of a traffic options object that TrafficOptions does not have (`include.tpc`,
 * `flow`), so a typo is an error instead of silently ignored.
 */
export function unknownTrafficKeys(o: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of Object.keys(o)) if (!(KNOWN_KEYS as readonly string[]).includes(k)) out.push(k);
  const nested: [string, readonly string[]][] = [['include', KNOWN_INCLUDE], ['flows', ['min', 'max']], ['events', ['min', 'max']], ['ports', ['inside', 'outside']], ['addresses', ['inside', 'outside']], ['serverPorts', ['tcp', 'udp']]];
  for (const [k, known] of nested) {
    const v = o[k];
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) for (const kk of Object.keys(v)) if (!known.includes(kk)) out.push(`${k}.${kk}`);
  }
  return out;
}

export function resolveOptions(o: TrafficOptions = {}): ResolvedOptions {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new TrafficOptionsError(`must be a JSON object such as {"flows":{"max":8}}, got ${o === null ? 'null' : Array.isArray(o) ? 'an array' : typeof o}`, '(the whole object)');
  }
  const unknown = unknownTrafficKeys(o as Record<string, unknown>);
  if (unknown.length) throw new TrafficOptionsError(`unknown option (known: ${KNOWN_KEYS.join(', ')}; include.${KNOWN_INCLUDE.join('|')}; flows/events.min|max; ports.inside|outside)`, unknown.join(', '));
  for (const k of ['include', 'flows', 'events'] as const) {
    const v = o[k];
    if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) throw new TrafficOptionsError(`must be an object, got ${JSON.stringify(v)}`, k);
  }
  const inc = o.include ?? {};
  for (const [k, v] of Object.entries(inc)) if (typeof v !== 'boolean') throw new TrafficOptionsError(`must be true or false, got ${JSON.stringify(v)}`, `include.${k}`);
  const kinds: TrafficKinds = {
    tcp: inc.tcp ?? true,
    tcpAnomalies: inc.tcpAnomalies ?? true,
    udp: inc.udp ?? true,
    icmp: inc.icmp ?? true,
    icmpErrors: inc.icmpErrors ?? true,
    ftp: inc.ftp ?? true,
    tftp: inc.tftp ?? true,
    ipv6: inc.ipv6 ?? true,
    malformed: inc.malformed ?? true,
    headerShapes: inc.headerShapes ?? true,
    doubleVlan: inc.doubleVlan ?? false,
  };
  if (!kinds.tcp && !kinds.udp && !kinds.icmp && !kinds.ftp && !kinds.tftp && !kinds.malformed) {
    throw new TrafficOptionsError('no flow kind enabled (tcp, udp, icmp, ftp, tftp or malformed)', 'include');
  }
  const flowsMin = count(o.flows?.min, 1, 'flows.min', 64);
  const flowsMax = count(o.flows?.max, Math.max(4, flowsMin), 'flows.max', 64);
  if (flowsMin > flowsMax) throw new TrafficOptionsError(`min ${flowsMin} > max ${flowsMax}`, 'flows');
  const eventsMin = count(o.events?.min, 0, 'events.min', 200);
  const eventsMax = count(o.events?.max, Math.max(6, eventsMin), 'events.max', 200);
  if (eventsMin > eventsMax) throw new TrafficOptionsError(`min ${eventsMin} > max ${eventsMax}`, 'events');
  const ports = o.ports ?? { inside: [1], outside: [2] };
  if (typeof ports !== 'object' || ports === null || Array.isArray(ports)) throw new TrafficOptionsError('must be an object { inside: [ports], outside: [ports] }', 'ports');
  for (const k of ['inside', 'outside'] as const) {
    const l = ports[k];
    if (!Array.isArray(l) || l.length === 0) throw new TrafficOptionsError('must be a non-empty list of port numbers', `ports.${k}`);
    const bad = l.find((p) => !(Number.isInteger(p) && p >= 1 && p <= MAX_TRAFFIC_PORT));
    if (bad !== undefined) throw new TrafficOptionsError(`${JSON.stringify(bad)} is not a port a packet can arrive on (1..${MAX_TRAFFIC_PORT}: OpenFlow physical ports)`, `ports.${k}`);
  }
  const timeScale = o.timeScale ?? 1;
  if (typeof timeScale !== 'number' || !(timeScale > 0 && Number.isFinite(timeScale))) throw new TrafficOptionsError(`must be a positive number, got ${JSON.stringify(timeScale)}`, 'timeScale');
  const timeouts = o.timeouts ?? OVS_DEFAULT_TIMEOUTS_S;
  if (!Array.isArray(timeouts) || !timeouts.every((t) => typeof t === 'number' && t >= 0 && Number.isFinite(t))) {
    throw new TrafficOptionsError('must be a list of non-negative seconds', 'timeouts');
  }
  const longest = Math.max(0, ...timeouts) * 1000 * timeScale;
  if (longest > MAX_GAP_MS) {
    const which = o.timeScale !== undefined && timeScale !== 1 ? 'timeScale' : 'timeouts';
    throw new TrafficOptionsError(`makes the longest gap ${msText(longest)}; a generated gap can be at most ${msText(MAX_GAP_MS)} (what every target's clock accepts): lower timeScale or timeouts`, which);
  }
  const jitter = count(o.jitter, 1, 'jitter', 3_600_000);
  const pools = resolvePools(o.addresses);
  const serverPorts = o.serverPorts ?? {};
  if (typeof serverPorts !== 'object' || serverPorts === null || Array.isArray(serverPorts)) throw new TrafficOptionsError('must be an object { tcp: [ports], udp: [ports] }', 'serverPorts');
  const sp = (k: 'tcp' | 'udp', dflt: readonly number[]): number[] => {
    const l = serverPorts[k];
    if (l === undefined) return [...dflt];
    if (!Array.isArray(l) || !l.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535)) throw new TrafficOptionsError(`must be a list of port numbers 1..65535, got ${JSON.stringify(l)}`, `serverPorts.${k}`);
    return [...new Set([...l, ...dflt])];
  };
  const weighting = o.weighting ?? 'uniform';
  if (weighting !== 'uniform' && weighting !== 'coverage') throw new TrafficOptionsError(`must be "uniform" or "coverage", got ${JSON.stringify(weighting)}`, 'weighting');
  return {
    kinds,
    flowsMin,
    flowsMax,
    eventsMin,
    eventsMax,
    ports: { inside: [...ports.inside], outside: [...ports.outside] },
    outsideOrigin: prob(o.outsideOrigin, 0.2, 'outsideOrigin'),
    hosts: Math.max(1, count(o.hosts, 3, 'hosts', 250)),
    timeoutsMs: timeouts.map((t) => Math.round(t * 1000 * timeScale)),
    jitter,
    longGapRate: prob(o.longGapRate, 0.08, 'longGapRate'),
    shortGapMax: count(o.shortGapMax, 200, 'shortGapMax', 3_600_000),
    pools,
    tcpServerPorts: sp('tcp', TCP_SERVER_PORTS),
    udpServerPorts: sp('udp', UDP_SERVER_PORTS),
    weighting,
  };
}

/** The address pools: each prefix given checked (family, syntax), the others the defaults. */
function resolvePools(a: TrafficOptions['addresses']): AddressPools {
  if (a !== undefined && (typeof a !== 'object' || a === null || Array.isArray(a))) throw new TrafficOptionsError('must be an object { inside: { v4, v6 }, outside: { v4, v6 } }', 'addresses');
  const out: AddressPools = { inside: { ...DEFAULT_POOLS.inside }, outside: { ...DEFAULT_POOLS.outside } };
  for (const side of ['inside', 'outside'] as const) {
    const s = a?.[side];
    if (s === undefined) continue;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new TrafficOptionsError('must be an object { v4: "A/len", v6: "A/len" }', `addresses.${side}`);
    for (const k of Object.keys(s)) if (k !== 'v4' && k !== 'v6') throw new TrafficOptionsError('unknown key (known: v4, v6)', `addresses.${side}.${k}`);
    for (const fam of ['v4', 'v6'] as const) {
      const t = s[fam];
      if (t === undefined) continue;
      const p = typeof t === 'string' ? parsePrefix(t) : null;
      if (!p || p.family !== (fam === 'v4' ? 4 : 6)) throw new TrafficOptionsError(`must be an IP${fam} prefix such as ${JSON.stringify(DEFAULT_POOLS[side][fam])}, got ${JSON.stringify(t)}`, `addresses.${side}.${fam}`);
      out[side][fam] = t;
    }
  }
  return out;
}
