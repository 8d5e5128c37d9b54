/**
 * The trace clock's range. Trace times are whole milliseconds from the trace's start
 * (docs/conntrack-semantics.md §6.4: OVS is driven by `time/warp` in ms); every target accepts them
 * up to MAX_TRACE_TIME_MS, and a target whose clock cannot go that far says so with its own
 * `Target.maxTimeMs` (the OVS oracle: harness/targets/ovs/target.ts).
 *
 * The model keeps absolute expiry times in float64 (model/conntrack/table.ts `expiration`):
 * `now + timeout` stays exact while both are below 2^53, and a timeout is at most 2^32 − 1 s
 * (a zone timeout policy attribute), so `now` must stay below 2^53 − 2^32·1000: 2^52 ms
 * (about 142 000 years) leaves room and is easy to state.
 */
import { CtoffloadError } from './errors.js';

export const MAX_TRACE_TIME_MS = 2 ** 52;

/** A time that no target can be driven to, or that is not a whole number of ms: names the input. */
export class TimeRangeError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_TIME_RANGE', message);
  }
}

/** Is `t` a whole number of ms in 0..max? */
export function isTraceTime(t: number, max = MAX_TRACE_TIME_MS): boolean {
  return Number.isSafeInteger(t) && t >= 0 && t <= max;
}

/** Human text for a span of ms: `2147483647 ms (24.9 days)`. */
export function msText(ms: number): string {
  if (!Number.isFinite(ms)) return `${ms} ms`;
  const d = ms / 86_400_000;
  const y = d / 365.25;
  const human = y >= 2 ? `${y.toPrecision(3)} years` : d >= 2 ? `${d.toPrecision(3)} days` : ms >= 2000 ? `${(ms / 1000).toPrecision(3)} s` : '';
  return `${Number.isSafeInteger(ms) ? String(ms) : ms.toExponential(3)} ms${human ? ` (${human})` : ''}`;
}

/**
 * Throws TimeRangeError unless `t` is a whole number of ms in 0..max; `where` names the input
 * (`trace.pcapng packet 7`), `who` what cannot take it (`the ovs target`).
 */
export function checkTraceTime(t: number, where: string, max = MAX_TRACE_TIME_MS, who = 'the trace clock'): void {
  if (isTraceTime(t, max)) return;
  throw new TimeRangeError(`${where}: time ${msText(t)} is out of range: ${who} accepts whole milliseconds 0..${msText(max)}`);
}
