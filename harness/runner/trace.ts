/**
 * Drives one rendered trace through both sides of a pair, packet by packet, and compares each
 * packet's Verdicts. Both sides are reset first; steps go in order with their trace times; the
 * trace stops at the first packet with an unexcused difference (later packets would only
 * repeat the consequence). Every call has a deadline: a side that throws or hangs yields a
 * `target-error` difference naming the trace and packet, and that side is replaced before the
 * next trace, so a run always ends with a report.
 *
 * A target with `sendBatch` (bmv2) is handed up to `batch` packets at once while the reference
 * goes packet by packet; the Verdicts are the same as one at a time (Target.sendBatch's
 * contract) and are judged in order, so only the cost changes. With `snapshotBefore`, both
 * sides' state (connections, hardware table entries) is recorded just before that packet —
 * the runner does this once for a final counterexample.
 */
import { checkTraceTime, isTraceTime, MAX_TRACE_TIME_MS } from '../../model/clock.js';
import { formatCtState } from '../../model/ctstate.js';
import type { CtFields, Verdict } from '../../model/verdict.js';
import type { RenderedScenario } from '../arbitraries/index.js';
import { compareVerdicts, formatVerdict, hex } from '../compare/index.js';
import type { Difference, ExcusedDifference } from '../compare/types.js';
import type { ExceptionRule } from '../exceptions.js';
import type { TraceCoverage } from '../report/coverage.js';
import type { CtReport, PacketReport, StateReport, StateSnapshot, VerdictReport } from '../report/schema.js';
import type { SendStep } from '../targets/target.js';
import { errorText, RunnerError, withDeadline } from './errors.js';
import type { Side } from './side.js';

export interface TraceRunOptions {
  exceptions: readonly ExceptionRule[];
  /**
   * Most packets handed to a target with `sendBatch` at once (the reference still goes packet
   * by packet); 1 = one at a time. Default 4096. Batches start at 32 packets and double: a
   * failure early in a trace wastes few packets sent past it, a long passing trace pays the
   * target's pipeline drain (every batch ends with all its outcomes in) only a few times. A
   * trace still stops being judged at its first disagreement.
   */
  batch?: number;
  /**
   * Take both sides' snapshot (Target.snapshot at this packet's time: clocks advanced, nothing
   * sent) just before sending this packet (then one at a time).
   */
  snapshotBefore?: number;
  packetTimeoutMs: number;
  signal?: AbortSignal;
  /** Names the trace in error messages, e.g. `trace 17` or `shrink step 3`. */
  label: string;
  /** Sees every packet the reference answered, with its lookups (key and parser coverage, harness/report/key-coverage.ts). */
  observe?: (port: number, frame: Uint8Array, lookups: Verdict['lookups']) => void;
}

export interface TraceOutcome {
  status: 'pass' | 'fail' | 'aborted';
  /** Packets sent to both sides (the failing one included). */
  sent: number;
  agreements: number;
  /** Index of the first disagreeing packet, -1 when none. */
  failingStep: number;
  /**
   * Every packet that was sent, with both verdicts and the comparison — for a trace that failed
   * or was aborted. Empty for a trace that passed: nothing reads those, and building the
   * reports (hex, verdict text) costs more than the comparison itself.
   */
  packets: PacketReport[];
  /** How often the reference's ct lookups gave each ct_state (coverage), e.g. `est|trk`. */
  states: Record<string, number>;
  /**
   * Coverage of this trace: reference lookups per site (`table=T zone=Z`) and ct_state; outcomes
   * the contract allowed (reference offload.allowed); punts the target reported ('hardware' for
   * none); both sides' per-entry counters read after its last packet (Target.takeEntryHits).
   */
  coverage: TraceCoverage;
  targetError: boolean;
  excused: ExcusedDifference[];
  ms: number;
  /** Both sides' state just before packet `step` (with `snapshotBefore`). */
  snapshot?: StateSnapshot;
}

interface SideResult {
  verdicts: Verdict[];
  error?: unknown;
  /** Set when the failure concerns several packets sent together. */
  batch?: string;
}

/** Both sides' state before one packet; a side without snapshot() or whose snapshot failed says so. */
async function snapshotOf(ref: Side, tgt: Side, step: number, time: number, ms: number): Promise<StateSnapshot> {
  const one = async (s: Side): Promise<StateReport> => {
    try {
      const t = await s.get();
      if (!t.snapshot) return { name: t.name, sections: [], note: `${t.name} cannot report its state` };
      return { name: t.name, ...(await withDeadline(t.snapshot(time), ms, `${t.name} (${s.role}): state snapshot`)) };
    } catch (e) {
      return { name: s.name ?? s.role, sections: [], note: `state snapshot failed: ${errorText(e)}` };
    }
  };
  const [reference, target] = await Promise.all([one(ref), one(tgt)]);
  return { step, reference, target };
}

const STATE_TEXT = new Map<number, string>();
/** formatCtState, cached: coverage counts one per lookup of every packet. */
function stateText(state: number): string {
  let t = STATE_TEXT.get(state);
  if (t === undefined) STATE_TEXT.set(state, (t = formatCtState(state)));
  return t;
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

/**
 * Every step's time is a whole number of ms both sides can be driven to (model/clock.ts);
 * otherwise CTO_TIME_RANGE naming the trace and packet — an input error (traffic options, a
 * stored scenario), raised before the trace's first packet is sent.
 */
async function checkTimes(ref: Side, tgt: Side, rendered: RenderedScenario, label: string): Promise<void> {
  let max = MAX_TRACE_TIME_MS;
  let who = 'the trace clock';
  for (const s of [ref, tgt]) {
    const t = await s.get();
    if (t.maxTimeMs !== undefined && t.maxTimeMs < max) {
      max = t.maxTimeMs;
      who = `the ${t.name} target`;
    }
  }
  const tr = rendered.trace;
  for (let i = 0; i < tr.length; i++) {
    const t = tr[i]!.time;
    if (!isTraceTime(t, max)) checkTraceTime(t, `${label}, packet ${i} (lower the traffic option timeScale or timeouts)`, max, who);
  }
}

/**
 * Both sides' per-entry counters since the previous read (Target.takeEntryHits), taken after a
 * trace that was not interrupted, from the live instances only (a side replaced after an error
 * has lost its counts: `hitsLost`). Reading is observation: it never changes what runs.
 */
async function readEntryHits(ref: Side, tgt: Side, out: TraceOutcome, o: TraceRunOptions): Promise<void> {
  const hits: NonNullable<TraceCoverage['hits']> = {};
  for (const [s, key] of [[ref, 'reference'], [tgt, 'target']] as const) {
    const t = s.live();
    if (!t) {
      if (s.name !== null) out.coverage.hitsLost = true;
      continue;
    }
    if (!t.takeEntryHits) continue;
    try {
      const h = await withDeadline(t.takeEntryHits(), o.packetTimeoutMs, `${t.name} (${s.role}): reading its entry counters after ${o.label}`);
      if (h) hits[key] = h;
    } catch {
      // Counters that cannot be read are a coverage gap, said in the report, not a finding.
      out.coverage.hitsLost = true;
    }
  }
  if (hits.reference || hits.target) out.coverage.hits = hits;
}

export async function runTrace(ref: Side, tgt: Side, rendered: RenderedScenario, o: TraceRunOptions): Promise<TraceOutcome> {
  const out = await runTraceOnly(ref, tgt, rendered, o);
  if (out.status !== 'aborted' && !o.signal?.aborted) {
    const t0 = performance.now();
    await readEntryHits(ref, tgt, out, o);
    out.ms += performance.now() - t0;
  }
  return out;
}

async function runTraceOnly(ref: Side, tgt: Side, rendered: RenderedScenario, o: TraceRunOptions): Promise<TraceOutcome> {
  const t0 = performance.now();
  const out: TraceOutcome = { status: 'pass', sent: 0, agreements: 0, failingStep: -1, packets: [], states: {}, coverage: { lookups: {}, allowed: {}, punts: {} }, targetError: false, excused: [], ms: 0 };
  // Per packet sent: the verdicts and the comparison; PacketReports are built from them only
  // when needed (a failure, an exception predicate reading the history).
  const raw: { ev: Verdict | null; ov: Verdict | null; differences: Difference[]; excused: ExcusedDifference[] }[] = [];
  const reportsUpTo = (n: number): PacketReport[] => {
    for (let i = out.packets.length; i < n; i++) {
      const step = rendered.trace[i]!;
      const info = rendered.steps[i];
      const r = raw[i]!;
      out.packets.push({
        index: i, time: step.time, port: step.port, frame: hex(step.frame), ...(info ? { label: info.label } : {}),
        expected: r.ev ? verdictReport(r.ev) : null,
        observed: r.ov ? verdictReport(r.ov) : null,
        differences: r.differences, excused: r.excused,
      });
    }
    return out.packets.slice(0, n);
  };
  const done = (status: TraceOutcome['status']): TraceOutcome => {
    if (status !== 'pass') reportsUpTo(raw.length);
    out.status = status;
    out.ms = performance.now() - t0;
    return out;
  };
  // One turn of the event loop per trace: with targets that answer without I/O (the model)
  // every await is a microtask, and a SIGINT (a macrotask) would never be seen (issue 12).
  await new Promise<void>((r) => setImmediate(r));
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
    // A failure after an interruption is the shutdown's doing, never a finding (issue 12).
    if (o.signal?.aborted) return done('aborted');
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

  const n = rendered.trace.length;
  await checkTimes(ref, tgt, rendered, o.label);
  const batchMax = o.snapshotBefore !== undefined ? 1 : Math.max(1, Math.floor(o.batch ?? 4096));
  let batchNext = Math.min(32, batchMax);
  const describe = (i: number): string => {
    const step = rendered.trace[i]!;
    const info = rendered.steps[i];
    return `${o.label}, packet ${i} (t=${step.time} ms, in_port ${step.port}${info ? `, ${info.label}` : ''})`;
  };
  /**
   * One side's Verdicts for steps[i0…], in order; stops at the first failure. One deadline for
   * the batch (packetTimeoutMs per packet), naming the packet it was at.
   */
  const sendEach = async (s: Side, steps: readonly SendStep[], i0: number, adopt?: SideResult): Promise<SideResult> => {
    const r: SideResult = { verdicts: [] };
    let name: string = s.role;
    try {
      const t = await s.get();
      name = t.name;
      const all = (async () => {
        for (const step of steps) {
          // The reference takes the target's chance choices for this packet (Target.adoptChoices).
          const ov = adopt?.verdicts[r.verdicts.length];
          if (ov) t.adoptChoices!(ov);
          r.verdicts.push(await t.send(step));
        }
      })();
      await withDeadline(all, o.packetTimeoutMs * steps.length, () => `${name} (${s.role}): ${describe(i0 + r.verdicts.length)}`);
    } catch (e) {
      r.error = e;
    }
    return r;
  };
  /** The target's Verdicts through sendBatch (several inputs in flight); a failure concerns all. */
  const sendTogether = async (s: Side, steps: readonly SendStep[], i0: number): Promise<SideResult> => {
    try {
      const t = await s.get();
      const what = `${t.name} (${s.role}): ${o.label}, packets ${i0}–${i0 + steps.length - 1} (sent together, from t=${steps[0]!.time} ms)`;
      const v = await withDeadline(t.sendBatch!(steps), o.packetTimeoutMs * steps.length, what);
      if (v.length !== steps.length) throw new RunnerError('CTO_RUN_TARGET', `${what}: ${v.length} verdicts for ${steps.length} packets`);
      return { verdicts: v };
    } catch (e) {
      return { verdicts: [], error: e, batch: `packets ${i0}–${i0 + steps.length - 1} (sent together)` };
    }
  };

  const adopts =
    (await tgt.get().then((t) => t.randomChoices === true, () => false)) &&
    (await ref.get().then((t) => typeof t.adoptChoices === 'function', () => false));
  for (let i0 = 0; i0 < n; ) {
    if (o.signal?.aborted) return done('aborted');
    if (o.snapshotBefore === i0) out.snapshot = await snapshotOf(ref, tgt, i0, rendered.trace[i0]!.time, o.packetTimeoutMs);
    const batchable = batchMax > 1 && (await tgt.get().then((t) => typeof t.sendBatch === 'function', () => false));
    const len = batchable ? batchNext : 1;
    if (batchable) batchNext = Math.min(batchMax, batchNext * 2);
    const steps = rendered.trace.slice(i0, i0 + len);
    const sendTgt = (): Promise<SideResult> => (len > 1 ? sendTogether(tgt, steps, i0) : sendEach(tgt, steps, i0));
    let er: SideResult;
    let ob: SideResult;
    if (adopts) {
      // The target first, then the reference told what the target chose (a NAT translation).
      ob = await sendTgt();
      er = await sendEach(ref, steps, i0, ob);
    } else {
      [er, ob] = await Promise.all([sendEach(ref, steps, i0), sendTgt()]);
    }
    for (let j = 0; j < steps.length; j++) {
      const i = i0 + j;
      const step = rendered.trace[i]!;
      const info = rendered.steps[i];
      const ev = er.verdicts[j];
      const ov = ob.verdicts[j];
      out.sent++;
      const rec = { ev: ev ?? null, ov: ov ?? null, differences: [] as Difference[], excused: [] as ExcusedDifference[] };
      raw.push(rec);
      if (ev) {
        for (const l of ev.lookups) {
          const k = stateText(l.state);
          out.states[k] = (out.states[k] ?? 0) + 1;
          const site = (out.coverage.lookups[`table=${l.table} zone=${l.zone}`] ??= {});
          site[k] = (site[k] ?? 0) + 1;
        }
        for (const a of ev.offload?.allowed ?? []) out.coverage.allowed[a] = (out.coverage.allowed[a] ?? 0) + 1;
        o.observe?.(step.port, step.frame, ev.lookups);
      }
      if (ov?.offload?.punts) {
        const c = out.coverage.punts;
        if (ov.offload.punts.length === 0) c.hardware = (c.hardware ?? 0) + 1;
        for (const r of new Set(ov.offload.punts)) c[r] = (c[r] ?? 0) + 1;
      }
      if (!ev || !ov) {
        if (o.signal?.aborted) {
          if (!ev) ref.discard();
          if (!ov) tgt.discard();
          // Interrupted while this packet was in flight: whatever failed, it is not a finding
          // (a daemon stopping under a signal looks like a dead target). The packet is dropped.
          raw.pop();
          out.sent--;
          return done('aborted');
        }
        const what = describe(i);
        const withLog = (s: Side, m: string): string => {
          const tail = s.logTail();
          return tail ? `${m}\n--- ${s.name ?? s.role} log (last lines) ---\n${tail}` : m;
        };
        const eMsg = !ev ? withLog(ref, errorText(er.error)) : null;
        const oErr = ob.batch ? `${ob.batch}: ${errorText(ob.error)}` : errorText(ob.error);
        const oMsg = !ov ? withLog(tgt, oErr) : null;
        if (eMsg) ref.discard();
        if (oMsg) tgt.discard();
        rec.differences.push({
          kind: 'target-error', expected: eMsg, observed: oMsg,
          message: `${what}: ${[eMsg && `reference failed: ${errorText(er.error)}`, oMsg && `target failed: ${oErr}`].filter(Boolean).join('; ')}`,
        });
        out.targetError = true;
        out.failingStep = i;
        return done('fail');
      }
      const c = compareVerdicts(
        {
          target: tgt.name ?? 'target', reference: ref.name ?? 'reference', step, stepIndex: i, ...(info ? { info } : {}),
          expected: ev, observed: ov,
          // Only a difference's exception predicates read it: copy the prefix on demand.
          get history() {
            return reportsUpTo(raw.length - 1);
          },
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
    i0 += steps.length;
  }
  return done('pass');
}
