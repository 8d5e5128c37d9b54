/**
 * Drives one rendered trace through both sides of a pair, packet by packet, and compares each
 * packet's Verdicts. Both sides are reset first; steps go in order with their trace times; the
 * trace stops at the first packet with an unexcused difference (later packets would only
 * repeat the consequence). Every call has a deadline: a side that throws or hangs yields a
 * `target-error` difference naming the trace and packet, and that side is replaced before the
 * next trace, so a run always ends with a report.
 */
import { formatCtState } from '../../model/ctstate.js';
import type { CtFields, Verdict } from '../../model/verdict.js';
import type { RenderedScenario } from '../arbitraries/index.js';
import { compareVerdicts, formatVerdict, hex } from '../compare/index.js';
import type { Difference, ExcusedDifference } from '../compare/types.js';
import type { ExceptionRule } from '../exceptions.js';
import type { CtReport, PacketReport, VerdictReport } from '../report/schema.js';
import { errorText, withDeadline } from './errors.js';
import type { Side } from './side.js';

export interface TraceRunOptions {
  exceptions: readonly ExceptionRule[];
  packetTimeoutMs: number;
  signal?: AbortSignal;
  /** Names the trace in error messages, e.g. `trace 17` or `shrink step 3`. */
  label: string;
}

export interface TraceOutcome {
  status: 'pass' | 'fail' | 'aborted';
  /** Packets sent to both sides (the failing one included). */
  sent: number;
  agreements: number;
  /** Index of the first disagreeing packet, -1 when none. */
  failingStep: number;
  /** Every packet that was sent, with both verdicts and the comparison. */
  packets: PacketReport[];
  targetError: boolean;
  excused: ExcusedDifference[];
  ms: number;
}

function ctReport(f: CtFields): CtReport {
  return { state: f.state, stateText: formatCtState(f.state), zone: f.zone, mark: f.mark, label: `0x${f.label.toString(16)}` };
}

export function verdictReport(v: Verdict): VerdictReport {
  return {
    outputs: v.outputs.map((o) => (o.ct ? { port: o.port, bytes: hex(o.bytes), ct: ctReport(o.ct) } : { port: o.port, bytes: hex(o.bytes) })),
    lookups: v.lookups.map((l) => ({ table: l.table, ...ctReport(l) })),
    text: formatVerdict(v),
  };
}

export async function runTrace(ref: Side, tgt: Side, rendered: RenderedScenario, o: TraceRunOptions): Promise<TraceOutcome> {
  const t0 = performance.now();
  const out: TraceOutcome = { status: 'pass', sent: 0, agreements: 0, failingStep: -1, packets: [], targetError: false, excused: [], ms: 0 };
  const done = (status: TraceOutcome['status']): TraceOutcome => {
    out.status = status;
    out.ms = performance.now() - t0;
    return out;
  };
  if (o.signal?.aborted) return done('aborted');

  // Reset (creating the side if needed). A failure here is reported on a pseudo packet -1.
  const resetErr: (string | null)[] = await Promise.all(
    [ref, tgt].map(async (s) => {
      try {
        const t = await s.get();
        await withDeadline(t.reset(), o.packetTimeoutMs, `${t.name} (${s.role}): reset before ${o.label}`);
        return null;
      } catch (e) {
        s.discard();
        return errorText(e);
      }
    }),
  );
  if (resetErr[0] !== null || resetErr[1] !== null) {
    out.targetError = true;
    out.failingStep = 0;
    const st = rendered.trace[0];
    const d: Difference = {
      kind: 'target-error', expected: resetErr[0], observed: resetErr[1],
      message: `${o.label}, reset: ${[resetErr[0] && `reference: ${resetErr[0]}`, resetErr[1] && `target: ${resetErr[1]}`].filter(Boolean).join('; ')}`,
    };
    out.packets.push({ index: 0, time: st?.time ?? 0, port: st?.port ?? 0, frame: st ? hex(st.frame) : '', label: 'reset', expected: null, observed: null, differences: [d], excused: [] });
    return done('fail');
  }

  for (let i = 0; i < rendered.trace.length; i++) {
    if (o.signal?.aborted) return done('aborted');
    const step = rendered.trace[i]!;
    const info = rendered.steps[i];
    const what = `${o.label}, packet ${i} (t=${step.time} ms, in_port ${step.port}${info ? `, ${info.label}` : ''})`;
    const [er, ob] = await Promise.allSettled(
      [ref, tgt].map(async (s) => {
        const t = await s.get();
        return withDeadline(t.send({ time: step.time, port: step.port, frame: step.frame }), o.packetTimeoutMs, `${t.name} (${s.role}): ${what}`);
      }),
    );
    out.sent++;
    const rec: PacketReport = {
      index: i, time: step.time, port: step.port, frame: hex(step.frame), ...(info ? { label: info.label } : {}),
      expected: er!.status === 'fulfilled' ? verdictReport(er!.value) : null,
      observed: ob!.status === 'fulfilled' ? verdictReport(ob!.value) : null,
      differences: [], excused: [],
    };
    out.packets.push(rec);
    if (er!.status === 'rejected' || ob!.status === 'rejected') {
      const withLog = (s: Side, m: string): string => {
        const tail = s.logTail();
        return tail ? `${m}\n--- ${s.name ?? s.role} log (last lines) ---\n${tail}` : m;
      };
      const eMsg = er!.status === 'rejected' ? withLog(ref, errorText(er!.reason)) : null;
      const oMsg = ob!.status === 'rejected' ? withLog(tgt, errorText(ob!.reason)) : null;
      if (eMsg) ref.discard();
      if (oMsg) tgt.discard();
      rec.differences.push({
        kind: 'target-error', expected: eMsg, observed: oMsg,
        message: `${what}: ${[eMsg && `reference failed: ${errorText(er!.status === 'rejected' ? er!.reason : '')}`, oMsg && `target failed: ${errorText(ob!.status === 'rejected' ? ob!.reason : '')}`].filter(Boolean).join('; ')}`,
      });
      out.targetError = true;
      out.failingStep = i;
      return done('fail');
    }
    const c = compareVerdicts(
      {
        target: tgt.name ?? 'target', reference: ref.name ?? 'reference', step, stepIndex: i, ...(info ? { info } : {}),
        expected: er!.value, observed: ob!.value, history: out.packets.slice(0, -1),
      },
      o.exceptions,
    );
    rec.differences = c.differences;
    rec.excused = c.excused;
    out.excused.push(...c.excused);
    if (c.differences.length) {
      out.failingStep = i;
      return done('fail');
    }
    out.agreements++;
  }
  return done('pass');
}
