/**
 * Replay a capture through a policy on the reference model: one result row per packet, with
 * the virtual clock taken from the capture's timestamps. The CLI's `ctoffload replay` streams
 * these rows (`replayStream`); other targets (OVS, bmv2) produce rows from their Verdicts.
 *
 * Clock (`VirtualClock`): trace time is the packet's timestamp minus the first replayed
 * packet's, in whole milliseconds (OVS's conntrack clock has millisecond resolution,
 * docs/conntrack-semantics.md §6.2). A timestamp earlier than the previous one is held at the
 * previous time, since the tracker's clock never goes backwards; the row keeps the capture's
 * own timestamp.
 *
 * Streaming (`replayStream`): records come one at a time from a `CaptureReader` (a reused view of
 * its window, no object per record), go through the untraced pipeline (`Pipeline.process`)
 * unless a trace is asked for, and their rows are encoded straight into bytes (./replayout.ts)
 * and handed to the sink a buffer at a time, waiting whenever the sink pushes back. Memory is
 * bounded by the connections the tracker holds: expired entries are swept as virtual time
 * passes (at most `SWEEP_INTERVAL_MS` apart; OVS's sweeper runs at most 20 s apart, §6.2, and
 * lookups ignore expired entries either way, so the sweep changes no ct_state).
 */
import { readFile } from 'node:fs/promises';
import { MAX_TRACE_TIME_MS, checkTraceTime } from './clock.js';
import { Conntrack, type ConntrackOptions } from './conntrack/index.js';
import { formatCtState } from './ctstate.js';
import { CtoffloadError } from './errors.js';
import { type CaptureRecord, CaptureReader, REC_END, REC_READY, readCaptureFile } from './packet/capture.js';
import type { Policy } from './pipeline/ast.js';
import { type CtCall, Pipeline, type PipelineOptions } from './pipeline/exec.js';
import { parsePolicy } from './pipeline/parse.js';
import { RowWriter, type RowExtra, portName } from './replayout.js';
import type { CtLookup, Verdict } from './verdict.js';

export { RowWriter, TEXT_COLUMNS, portName, type RowCtCall, type RowExtra } from './replayout.js';

export interface ReplayOptions {
  /** Use this ingress port for every packet instead of the capture's. */
  inPort?: number;
  /** Keep the readable per-packet trace in each row. */
  trace?: boolean;
  conntrack?: ConntrackOptions;
  pipeline?: PipelineOptions;
}

export interface ReplayOutput {
  port: number;
  /** ct fields the packet carried when output (model only). */
  ctState?: number;
}

export interface ReplayRow {
  /** 1-based packet number in the capture. */
  index: number;
  /** Capture timestamp, ns since the epoch. */
  timeNs: bigint;
  /** Virtual time given to the tracker (ms since the first packet). */
  timeMs: number;
  inPort: number;
  /** Fields of the last ct lookup (recirculating ct()), or null when the packet had none. */
  ct: { state: number; zone: number; mark: number; label: bigint } | null;
  outputs: ReplayOutput[];
  lookups: CtLookup[];
  /** Every ct() call, recirculating or not (model, traced replay only). */
  ctCalls?: CtCall[];
  trace?: string[];
  /** The target could not process this packet (runt, oversize…): why. */
  error?: string;
}

export class ReplayError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_REPLAY', message);
  }
}

/**
 * The replay's clock: capture time → tracker time in whole ms since the first packet, never
 * decreasing. Exact with numbers only: ms = Δsec·1000 + ⌊Δnsec / 10^6⌋ equals ⌊Δns / 10^6⌋
 * whenever Δns ≥ 0 (Δsec·10^9 is a multiple of 10^6), and a negative Δ is held anyway.
 */
export class VirtualClock {
  private sec0 = 0;
  private nsec0 = 0;
  private started = false;
  private prev = 0;

  at(sec: number, nsec: number): number {
    if (!this.started) {
      this.started = true;
      this.sec0 = sec;
      this.nsec0 = nsec;
      return 0;
    }
    const ms = (sec - this.sec0) * 1000 + Math.floor((nsec - this.nsec0) / 1e6);
    if (ms > this.prev) this.prev = ms;
    return this.prev;
  }

  /** The same for a bigint timestamp (ns). */
  atNs(ns: bigint): number {
    const sec = ns / 1_000_000_000n;
    let nsec = ns % 1_000_000_000n;
    let s = sec;
    if (nsec < 0n) {
      nsec += 1_000_000_000n;
      s -= 1n;
    }
    return this.at(Number(s), Number(nsec));
  }
}

/** Virtual times (ms) for a capture's records: relative to the first, never decreasing. */
export function virtualTimes(records: readonly CaptureRecord[]): number[] {
  const c = new VirtualClock();
  return records.map((r) => c.atNs(r.timeNs));
}

/** Seconds and nanoseconds (0 ≤ ns < 1e9) of a bigint timestamp. */
export function splitTimeNs(ns: bigint): { sec: number; nsec: number } {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    nsec += 1_000_000_000n;
    sec -= 1n;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

/** A row from any target's Verdict. */
export function rowFromVerdict(index: number, rec: CaptureRecord, timeMs: number, inPort: number, v: Verdict): ReplayRow {
  const last = v.lookups.length ? v.lookups[v.lookups.length - 1]! : null;
  return {
    index,
    timeNs: rec.timeNs,
    timeMs,
    inPort,
    ct: last && { state: last.state, zone: last.zone, mark: last.mark, label: last.label },
    outputs: v.outputs.map((o) => (o.ct ? { port: o.port, ctState: o.ct.state } : { port: o.port })),
    lookups: v.lookups,
  };
}

export function checkReplayPort(p: number): void {
  if (!Number.isInteger(p) || p < 0 || p > 0xffffffff) throw new ReplayError(`in_port ${p} is not a port number`);
}

/** Runs every record through a fresh model (policy directives installed) and returns the rows (small captures, tests). */
export function replayRecords(policy: Policy, records: readonly CaptureRecord[], opts: ReplayOptions = {}): ReplayRow[] {
  if (opts.inPort !== undefined) checkReplayPort(opts.inPort);
  const pipeline = new Pipeline(policy, new Conntrack(opts.conntrack), opts.pipeline);
  const times = virtualTimes(records);
  return records.map((rec, i) => {
    const port = opts.inPort ?? rec.port;
    if (opts.trace) {
      const r = pipeline.processTraced(rec.data, port, times[i]!);
      const row = rowFromVerdict(i + 1, rec, times[i]!, port, r);
      row.ctCalls = r.ctCalls;
      row.trace = r.trace;
      return row;
    }
    return rowFromVerdict(i + 1, rec, times[i]!, port, pipeline.process(rec.data, port, times[i]!));
  });
}

/** Reads a policy file (errors name the file and line:column). */
export async function loadPolicyFile(policyPath: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(policyPath, 'utf8');
  } catch (e) {
    throw new ReplayError(`${policyPath}: cannot read policy: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parsePolicy(text, policyPath);
}

/** Opens a capture for streaming (`-` = stdin); errors name the file (and byte offset). */
export async function openCapture(capturePath: string, opts: { port?: number } = {}): Promise<CaptureReader> {
  try {
    return await CaptureReader.open(capturePath, opts);
  } catch (e) {
    if (e instanceof CtoffloadError) throw e;
    throw new ReplayError(`${capturePath}: cannot read capture: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Reads and parses both files whole (small captures; errors name the file and line:column / byte offset). */
export async function loadReplayInputs(policyPath: string, capturePath: string): Promise<{ policy: Policy; records: CaptureRecord[] }> {
  const policy = await loadPolicyFile(policyPath);
  let records: CaptureRecord[];
  try {
    records = await readCaptureFile(capturePath);
  } catch (e) {
    if (e instanceof CtoffloadError) throw e;
    throw new ReplayError(`${capturePath}: cannot read capture: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { policy, records };
}

export async function replayFiles(policyPath: string, capturePath: string, opts: ReplayOptions = {}): Promise<ReplayRow[]> {
  const { policy, records } = await loadReplayInputs(policyPath, capturePath);
  return replayRecords(policy, records, opts);
}

// ---- streaming --------------------------------------------------------------------------

/** Where rows go: a chunk of bytes; a returned promise means "wait before the next chunk". */
export type ByteSink = (chunk: Uint8Array) => void | Promise<void>;

/** What `--summary` reports (the CLI adds the wall-clock rate). */
export class ReplayStats {
  /** Packets replayed (after --skip, up to --count). */
  packets = 0;
  /** Packets with no output. */
  dropped = 0;
  /** Packets the target could not process (row error). */
  errors = 0;
  /** Packets whose last lookup had ct_state s (index s < 256). */
  readonly byState = new Float64Array(256);
  /** Packets that went through no ct(table=…) lookup. */
  noLookup = 0;
  /** Packets by ct_zone (16 bits) of their last lookup: an array, no hashing per packet. */
  readonly byZone = new Float64Array(65536);
  /** Connections committed (model only: -1 when the target cannot tell). */
  created = -1;
  /** Connections removed (expired, or replaced by a TCP restart). */
  removed = -1;
  /** Connections held when the capture ended (after a final sweep). */
  live = -1;
  /** Virtual time of the last packet (ms since the first). */
  spanMs = 0;
  /** The replay was stopped (ReplayLoopOptions.signal) before the end of its packets. */
  stopped = false;

  add(v: Verdict | null, timeMs: number): void {
    this.packets++;
    this.spanMs = timeMs;
    if (!v) {
      this.errors++;
      return;
    }
    if (v.outputs.length === 0) this.dropped++;
    const lks = v.lookups;
    if (lks.length === 0) {
      this.noLookup++;
      return;
    }
    const lk = lks[lks.length - 1]!;
    if (lk.state >= 0 && lk.state < 256) this.byState[lk.state]!++;
    this.byZone[lk.zone & 0xffff]!++;
  }

  /** Plain object (JSON) form. */
  toJSON(extra: Record<string, unknown> = {}): Record<string, unknown> {
    const states: Record<string, number> = {};
    for (let s = 0; s < 256; s++) if (this.byState[s]) states[formatCtState(s)] = this.byState[s]!;
    if (this.noLookup) states['-'] = this.noLookup;
    const zones: Record<string, number> = {};
    for (let z = 0; z < 65536; z++) if (this.byZone[z]) zones[String(z)] = this.byZone[z]!;
    return {
      packets: this.packets,
      dropped: this.dropped,
      errors: this.errors,
      ct_state: states,
      zones,
      ...(this.created >= 0 ? { connections: { created: this.created, removed: this.removed, live: this.live } } : {}),
      virtual_time_ms: this.spanMs,
      ...extra,
    };
  }

  /** Text form, one fact per line. */
  toText(extra: [string, string][] = []): string {
    const j = this.toJSON();
    const lines = [`packets          ${this.packets}`, `dropped          ${this.dropped}`];
    if (this.errors) lines.push(`errors           ${this.errors}`);
    lines.push('ct_state (last lookup):');
    for (const [k, n] of Object.entries(j.ct_state as Record<string, number>)) lines.push(`  ${k.padEnd(15)} ${n}`);
    lines.push('ct_zone (last lookup):');
    for (const [k, n] of Object.entries(j.zones as Record<string, number>)) lines.push(`  ${k.padEnd(15)} ${n}`);
    if (this.created >= 0) lines.push(`connections      created ${this.created}, removed ${this.removed}, live at end ${this.live}`);
    lines.push(`virtual time     ${(this.spanMs / 1000).toFixed(3)} s`);
    for (const [k, v] of extra) lines.push(`${k.padEnd(16)} ${v}`);
    return lines.join('\n') + '\n';
  }
}

/** How the shared loop (`replayLoop`) walks a capture: the same for the model and every target. */
export interface ReplayLoopOptions {
  /** JSON Lines instead of the text table. */
  json?: boolean;
  /** Write per-packet rows (default true; false for a summary-only run). */
  rows?: boolean;
  /** Leave out the first N records (not replayed: the tracker starts at record N+1). */
  skip?: number;
  /** Replay at most N records. */
  count?: number;
  /** Use this ingress port for every packet instead of the capture's. */
  inPort?: number | undefined;
  /** Called every 1024 packets with the number replayed so far (the callee throttles). */
  onProgress?: (packets: number) => void;
  /**
   * Longest trace time (ms) the engine takes; default the trace clock's (model/clock.ts). A
   * later packet is an input error naming it, as a target would refuse it.
   */
  maxTimeMs?: number;
  /** Names the engine in that error (`--target ovs`). */
  engine?: string;
  /**
   * The sink is done with a chunk when it returns (or when the promise it returns resolves):
   * the chunk's memory then holds later rows, instead of a fresh buffer per chunk (each one
   * new pages for the kernel to map). Default false: a sink may keep its chunks.
   */
  reuseChunks?: boolean;
  /**
   * Stops the replay before the next packet (and while waiting for input): the rows of the
   * packets done are written whole, the statistics say `stopped`, the reader stays open.
   */
  signal?: AbortSignal;
}

export interface ReplayStreamOptions extends ReplayOptions, ReplayLoopOptions {
  /** Use this ingress port for every packet instead of the capture's. */
  inPort?: number;
  /** Count connections created and removed (a tracker hook; slightly slower). */
  countConnections?: boolean;
}

/** Virtual time between sweeps of expired connections (bounds memory; changes no result). */
export const SWEEP_INTERVAL_MS = 1000;

/**
 * What one packet did on an engine: its Verdict (a traced model Verdict also carries its
 * ct() calls and steps, printed on the row), or why the engine refused this one packet (the
 * row says so and the replay goes on).
 */
export type StepResult = Verdict | string;

/**
 * One packet through an engine at virtual time `now`: synchronous for the model, a promise for
 * a target. `frame` is a view into the reader's window, valid during the call only: an engine
 * that keeps it copies it.
 */
export type ReplayStep = (frame: Uint8Array, port: number, now: number) => StepResult | Promise<StepResult>;

/**
 * The one replay loop (the model's `replayStream` and the CLI's targets both run it): records
 * from `reader` in capture order, --skip/--count by capture number, the virtual clock, one
 * `step` per packet, rows encoded into bytes and handed to `sink` a buffer at a time (waiting
 * when it pushes back), statistics at the end. `detail`: the step's Verdicts carry the traced
 * detail (ct_calls, trace) to print. The reader is read to its end (or to skip + count, or
 * until `signal` aborts) but not closed.
 */
export async function replayLoop(reader: CaptureReader, sink: ByteSink, step: ReplayStep, opts: ReplayLoopOptions = {}, detail = false): Promise<ReplayStats> {
  if (opts.inPort !== undefined) checkReplayPort(opts.inPort);
  const stats = new ReplayStats();
  const w = new RowWriter(opts.json ?? false);
  const rows = opts.rows ?? true;
  if (rows) w.header();
  const clock = new VirtualClock();
  const skip = opts.skip ?? 0;
  const last = opts.count === undefined ? Infinity : skip + opts.count;
  const maxTime = opts.maxTimeMs ?? MAX_TRACE_TIME_MS;
  const inPort = opts.inPort;
  const onProgress = opts.onProgress;
  const reuse = opts.reuseChunks ?? false;
  // The abort is noted in a plain variable (read once per packet) and, while the loop waits
  // for input, races the read: a stopped replay does not wait for a producer that went quiet.
  const signal = opts.signal;
  let stop = signal?.aborted ?? false;
  let aborted: Promise<void> | null = null;
  let unlisten = (): void => {};
  if (signal && !stop) {
    aborted = new Promise<void>((res) => {
      const on = (): void => {
        stop = true;
        res();
      };
      signal.addEventListener('abort', on, { once: true });
      unlisten = () => signal.removeEventListener('abort', on);
    });
  }
  const rec = reader.rec;
  try {
    while (!stop) {
      const s = reader.nextSync();
      if (s !== REC_READY) {
        if (s === REC_END) break;
        if (aborted) await Promise.race([reader.fill(), aborted]);
        else await reader.fill();
        continue;
      }
      const index = rec.index;
      if (index <= skip) continue;
      if (index > last) break;
      const now = clock.at(rec.sec, rec.nsec);
      // A time the engine cannot be driven to is an input error naming the packet (issue 12).
      if (now > maxTime) checkTraceTime(now, `${reader.file} packet ${index} (after the first packet)`, maxTime, opts.engine ?? 'the trace clock');
      const port = inPort ?? rec.port;
      const sec = rec.sec;
      const nsec = rec.nsec;
      let r = step(rec.data, port, now);
      if (r instanceof Promise) r = await r;
      if (typeof r === 'string') {
        stats.add(null, now);
        if (rows) w.row(index, sec, nsec, now, port, null, { error: r });
      } else {
        stats.add(r, now);
        if (rows) w.row(index, sec, nsec, now, port, r, detail ? (r as RowExtra) : undefined);
      }
      if (w.full) {
        const chunk = w.take();
        const p = sink(chunk);
        if (p) await p;
        if (reuse) w.recycle(chunk);
      }
      if (onProgress && (stats.packets & 0x3ff) === 0) onProgress(stats.packets);
    }
    stats.stopped = stop;
  } finally {
    unlisten();
  }
  // Rows are whole in the buffer (a row is encoded at once), so a stopped replay ends on a line.
  if (w.pending) {
    const p = sink(w.take());
    if (p) await p;
  }
  return stats;
}

/**
 * Streams a capture through the model: `replayLoop` with a fresh tracker and the untraced
 * pipeline (`Pipeline.process`), or the traced one with `trace`. Expired connections are swept
 * as virtual time passes, so memory is bounded by the connections live, not the capture.
 */
export async function replayStream(policy: Policy, reader: CaptureReader, sink: ByteSink, opts: ReplayStreamOptions = {}): Promise<ReplayStats> {
  const ct = new Conntrack({ initialCapacity: STREAM_INITIAL_CONNECTIONS, ...opts.conntrack });
  const pipeline = new Pipeline(policy, ct, opts.pipeline);
  let created = 0;
  let removed = 0;
  if (opts.countConnections) {
    ct.onSlotEvent = (kind) => {
      if (kind === 'new') created++;
      else if (kind === 'destroy') removed++;
    };
  }
  let lastSweep = 0;
  let now = 0;
  const sweep = (t: number): void => {
    now = t;
    if (t - lastSweep >= SWEEP_INTERVAL_MS) {
      ct.sweep(t);
      lastSweep = t;
    }
  };
  const step: ReplayStep = opts.trace
    ? (frame, port, t) => {
        sweep(t);
        return pipeline.processTraced(frame, port, t);
      }
    : (frame, port, t) => {
        sweep(t);
        return pipeline.process(frame, port, t);
      };
  const stats = await replayLoop(reader, sink, step, opts, opts.trace ?? false);
  if (opts.countConnections) {
    ct.sweep(now);
    stats.created = created;
    stats.removed = removed;
    stats.live = ct.size;
  }
  return stats;
}

/**
 * Connection slots a streaming replay starts with. A capture stream is long: starting at 64 Ki
 * slots skips the first ten doublings of the table (each copies every column), and costs
 * little, since slots are taken lowest index first and pages never written are never mapped.
 */
export const STREAM_INITIAL_CONNECTIONS = 1 << 16;

// ---- presentation -------------------------------------------------------------------------

/** `1700000000.123456789` */
export function formatTimestamp(ns: bigint): string {
  const neg = ns < 0n;
  const a = neg ? -ns : ns;
  return `${neg ? '-' : ''}${a / 1_000_000_000n}.${(a % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/** Writes one ReplayRow through `w` (the one row format, ./replayout.ts). */
export function writeReplayRow(w: RowWriter, r: ReplayRow): void {
  const { sec, nsec } = splitTimeNs(r.timeNs);
  const v: Verdict = {
    outputs: r.outputs.map((o) => ({ port: o.port, bytes: EMPTY, ...(o.ctState !== undefined ? { ct: { state: o.ctState, zone: 0, mark: 0, label: 0n } } : {}) })),
    lookups: r.lookups,
  };
  w.row(r.index, sec, nsec, r.timeMs, r.inPort, v, { ctCalls: r.ctCalls, trace: r.trace, error: r.error });
}
const EMPTY = new Uint8Array(0);

/** Aligned text lines (fixed column widths): a header, then one line per packet (plus its trace when present). */
export function formatReplayText(rows: readonly ReplayRow[]): string[] {
  const w = new RowWriter(false);
  w.header();
  for (const r of rows) writeReplayRow(w, r);
  const text = Buffer.from(w.take()).toString('utf8');
  return text.slice(0, -1).split('\n').map((l) => l.trimEnd());
}

/** One JSON object (JSON Lines): bigints as strings, ct_state in display form and as bits. */
export function replayRowJson(r: ReplayRow): Record<string, unknown> {
  const ctJson = (f: { state: number; zone: number; mark: number; label: bigint }): Record<string, unknown> => ({
    ct_state: formatCtState(f.state),
    ct_state_bits: f.state,
    ct_zone: f.zone,
    ct_mark: `0x${f.mark.toString(16)}`,
    ct_label: `0x${f.label.toString(16)}`,
  });
  const ok = r.error === undefined;
  const o: Record<string, unknown> = {
    index: r.index,
    timestamp: formatTimestamp(r.timeNs),
    time_ms: r.timeMs,
    in_port: r.inPort,
    ...(r.ct && ok ? ctJson(r.ct) : { ct_state: null, ct_zone: null, ct_mark: null, ct_label: null }),
    outputs: ok ? r.outputs.map((x) => ({ port: portName(x.port), ...(x.ctState !== undefined ? { ct_state: formatCtState(x.ctState) } : {}) })) : [],
    lookups: ok ? r.lookups.map((l) => ({ table: l.table, ...ctJson(l) })) : [],
  };
  if (r.ctCalls && ok) o.ct_calls = r.ctCalls.map((c) => ({ table: c.table < 0 ? null : c.table, line: c.line, depth: c.depth, ...ctJson(c) }));
  if (r.trace && ok) o.trace = r.trace;
  if (!ok) o.error = r.error;
  return o;
}
