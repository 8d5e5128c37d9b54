/**
 * Structural shrinking of a Scenario, from the biggest cut to the smallest tweak: drop flows,
 * drop runs of events (halves, quarters, … single events), then simplify events (no corruption,
 * zero gaps, one-byte payloads, plain ICMP errors) and flows (start 0, no TCP options, ISN 0).
 * Works from the value alone (no context), so a Scenario read back from a report shrinks too.
 * Rendering keeps every candidate valid, so every candidate is a well-formed trace.
 */
import type { Flow, Scenario, TcpParams } from '../types.js';

type AnyEvent = Flow['events'][number];

/** fast-check's integer shrink path: the target, then halfway steps back towards v. */
export function* shrinkInt(v: number, target: number): Generator<number> {
  if (!Number.isFinite(v) || v === target) return;
  yield target;
  let gap = v - target;
  while (Math.abs(gap) > 1) {
    gap = Math.trunc(gap / 2);
    yield v - gap;
  }
}

/** The array without one run of elements: the whole, halves, quarters, …, single elements. */
export function* dropRuns<T>(xs: readonly T[]): Generator<T[]> {
  const n = xs.length;
  for (let size = n; size >= 1; size = Math.floor(size / 2)) {
    for (let at = 0; at + size <= n; at += size) yield [...xs.slice(0, at), ...xs.slice(at + size)];
  }
}

function withFlow(s: Scenario, i: number, f: Flow): Scenario {
  const flows = s.flows.slice();
  flows[i] = f;
  return { ...s, flows };
}

function withEvent(f: Flow, j: number, e: AnyEvent): Flow {
  const events = (f.events as AnyEvent[]).slice();
  events[j] = e;
  return { ...f, events } as Flow;
}

function* shrinkField<E extends object, K extends keyof E>(e: E, k: K, target: number): Generator<E> {
  const v = e[k];
  if (typeof v !== 'number') return;
  for (const x of shrinkInt(v, target)) yield { ...e, [k]: x };
}

function* shrinkEvent(e: AnyEvent): Generator<AnyEvent> {
  if (e.bad) {
    const { bad: _bad, ...rest } = e;
    yield rest as AnyEvent;
    if (e.bad.op === 'truncate') for (const b of shrinkInt(e.bad.bytes, 1)) yield { ...e, bad: { op: 'truncate', bytes: b } } as AnyEvent;
  }
  yield* shrinkField(e, 'gap', 0);
  switch (e.kind) {
    case 'data':
      if (e.text === undefined) yield* shrinkField(e, 'len', 1);
      break;
    case 'dgram':
      if (e.noChecksum) yield { ...e, noChecksum: false };
      yield* shrinkField(e, 'len', 0);
      break;
    case 'echo':
      yield* shrinkField(e, 'len', 0);
      break;
    case 'tftpData':
      yield* shrinkField(e, 'len', 0);
      break;
    case 'rst':
      if (e.ack) yield { ...e, ack: false };
      yield* shrinkField(e, 'seqDelta', 0);
      break;
    case 'retransmit':
      yield* shrinkField(e, 'back', 0);
      break;
    case 'reorder':
      for (const a of shrinkInt(e.lens[0], 1)) yield { ...e, lens: [a, e.lens[1]] };
      for (const b of shrinkInt(e.lens[1], 1)) yield { ...e, lens: [e.lens[0], b] };
      break;
    case 'oow':
      yield* shrinkField(e, 'len', 0);
      yield* shrinkField(e, 'ackDelta', 0);
      break;
    case 'icmpError':
      if (e.full) yield { ...e, full: false };
      if (e.from !== 'host') yield { ...e, from: 'host' };
      if (e.type !== 'unreach') yield { ...e, type: 'unreach' };
      break;
    default:
      break;
  }
}

function* shrinkTcpParams(p: TcpParams): Generator<TcpParams> {
  if (p.wscale[0] !== null || p.wscale[1] !== null) yield { ...p, wscale: [null, null] };
  if (p.sackOk[0] || p.sackOk[1]) yield { ...p, sackOk: [false, false] };
  if (p.mss[0] !== null || p.mss[1] !== null) yield { ...p, mss: [null, null] };
  for (const x of shrinkInt(p.isn[0], 0)) yield { ...p, isn: [x, p.isn[1]] };
  for (const x of shrinkInt(p.isn[1], 0)) yield { ...p, isn: [p.isn[0], x] };
}

function* shrinkFlow(f: Flow): Generator<Flow> {
  yield* shrinkField(f, 'start', 0);
  if (f.pair !== 0) yield { ...f, pair: 0 };
  if (f.origin !== 'inside') yield { ...f, origin: 'inside' };
  if (f.shape) {
    // Plain Ethernet + IP first, then one VLAN tag fewer (a header shape is rarely the cause).
    const { shape, ...plain } = f;
    yield plain as Flow;
    if (shape.vlan && shape.vlan.length > 1) yield { ...f, shape: { ...shape, vlan: shape.vlan.slice(1) } };
  }
  if (f.client !== 0) yield { ...f, client: 0 };
  if (f.server !== 0) yield { ...f, server: 0 };
  if (f.proto === 'ftp' && f.ftp.wrongHost !== null) yield { ...f, ftp: { ...f.ftp, wrongHost: null } };
  if (f.proto === 'tcp' || f.proto === 'ftp') for (const t of shrinkTcpParams(f.tcp)) yield { ...f, tcp: t };
  if (f.proto === 'ftp') for (const t of shrinkTcpParams(f.ftp.data)) yield { ...f, ftp: { ...f.ftp, data: t } };
}

export function* shrinkScenario(s: Scenario): Generator<Scenario> {
  for (const flows of dropRuns(s.flows)) yield { ...s, flows };
  for (let i = 0; i < s.flows.length; i++) {
    const f = s.flows[i]!;
    for (const events of dropRuns(f.events as AnyEvent[])) yield withFlow(s, i, { ...f, events } as Flow);
  }
  for (let i = 0; i < s.flows.length; i++) {
    const f = s.flows[i]!;
    const evs = f.events as AnyEvent[];
    for (let j = 0; j < evs.length; j++) for (const e of shrinkEvent(evs[j]!)) yield withFlow(s, i, withEvent(f, j, e));
  }
  for (let i = 0; i < s.flows.length; i++) for (const f of shrinkFlow(s.flows[i]!)) yield withFlow(s, i, f);
}

/** Shape check for values handed to shrink without context (e.g. read back from JSON). */
export function isScenario(v: unknown): v is Scenario {
  if (!v || typeof v !== 'object') return false;
  const s = v as Partial<Scenario>;
  return s.v === 1 && Array.isArray(s.flows) && s.flows.every((f) => f && typeof f === 'object' && Array.isArray((f as Flow).events)) && typeof s.ports === 'object' && s.ports !== null;
}
