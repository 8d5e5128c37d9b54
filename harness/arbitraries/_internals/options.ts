/**
 * TrafficOptions with defaults filled in and checked. Bad options are a typed error
 * (CTO_TRAFFIC_OPTIONS) naming the option, raised when the arbitrary is built, not mid-run.
 */
import { CtoffloadError } from '../../../model/errors.js';
import type { PortMap, TrafficKinds, TrafficOptions } from '../types.js';

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

export function resolveOptions(o: TrafficOptions = {}): ResolvedOptions {
  const inc = o.include ?? {};
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
  for (const k of ['inside', 'outside'] as const) {
    const l = ports[k];
    if (!Array.isArray(l) || l.length === 0 || !l.every((p) => Number.isInteger(p) && p >= 0 && p <= 0xffffffff)) {
      throw new TrafficOptionsError('must be a non-empty list of port numbers', `ports.${k}`);
    }
  }
  const timeScale = o.timeScale ?? 1;
  if (!(timeScale > 0 && Number.isFinite(timeScale))) throw new TrafficOptionsError(`must be a positive number, got ${timeScale}`, 'timeScale');
  const timeouts = o.timeouts ?? OVS_DEFAULT_TIMEOUTS_S;
  if (!Array.isArray(timeouts) || !timeouts.every((t) => t >= 0 && Number.isFinite(t))) {
    throw new TrafficOptionsError('must be a list of non-negative seconds', 'timeouts');
  }
  const jitter = count(o.jitter, 1, 'jitter', 3_600_000);
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
  };
}
