/**
 * Replay a capture through a policy on the reference model: one result row per packet, with
 * the virtual clock taken from the capture's timestamps. The CLI's `ctoffload replay` prints
 * these rows; other targets (OVS, bmv2) produce rows from their Verdicts with `rowFromVerdict`.
 *
 * Clock: trace time is the packet's timestamp minus the first packet's, in whole milliseconds
 * (OVS's conntrack clock has millisecond resolution, docs/conntrack-semantics.md §6.2). A timestamp
 * earlier than the previous one is held at the previous time, since the tracker's clock never
 * goes backwards; the row keeps the capture's own timestamp.
 */
import { readFile } from 'node:fs/promises';
import { Conntrack, type ConntrackOptions } from './conntrack/index.js';
import { formatCtState } from './ctstate.js';
import { CtoffloadError } from './errors.js';
import { type CaptureRecord, readCaptureFile } from './packet/capture.js';
import type { Policy } from './pipeline/ast.js';
import { type CtCall, Pipeline, type PipelineOptions } from './pipeline/exec.js';
import { parsePolicy } from './pipeline/parse.js';
import { type CtLookup, PORT_CONTROLLER, type Verdict } from './verdict.js';

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
  /** Every ct() call, recirculating or not (model only). */
  ctCalls?: CtCall[];
  trace?: string[];
}

export class ReplayError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_REPLAY', message);
  }
}

/** Virtual times (ms) for a capture's records: relative to the first, never decreasing. */
export function virtualTimes(records: readonly CaptureRecord[]): number[] {
  const out: number[] = [];
  if (records.length === 0) return out;
  const t0 = records[0]!.timeNs;
  let prev = 0;
  for (const r of records) {
    const ms = Number((r.timeNs - t0) / 1_000_000n);
    prev = Math.max(prev, ms);
    out.push(prev);
  }
  return out;
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

function checkPort(p: number): void {
  if (!Number.isInteger(p) || p < 0 || p > 0xffffffff) throw new ReplayError(`in_port ${p} is not a port number`);
}

/** Runs every record through a fresh model (policy directives installed) and returns the rows. */
export function replayRecords(policy: Policy, records: readonly CaptureRecord[], opts: ReplayOptions = {}): ReplayRow[] {
  if (opts.inPort !== undefined) checkPort(opts.inPort);
  const pipeline = new Pipeline(policy, new Conntrack(opts.conntrack), opts.pipeline);
  const times = virtualTimes(records);
  return records.map((rec, i) => {
    const port = opts.inPort ?? rec.port;
    const r = pipeline.processTraced(rec.data, port, times[i]!);
    const row = rowFromVerdict(i + 1, rec, times[i]!, port, r);
    row.ctCalls = r.ctCalls;
    if (opts.trace) row.trace = r.trace;
    return row;
  });
}

/** Reads and parses both files (errors name the file and line:column / byte offset). */
export async function loadReplayInputs(policyPath: string, capturePath: string): Promise<{ policy: Policy; records: CaptureRecord[] }> {
  let text: string;
  try {
    text = await readFile(policyPath, 'utf8');
  } catch (e) {
    throw new ReplayError(`${policyPath}: cannot read policy: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const policy = parsePolicy(text, policyPath);
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

// ---- presentation -------------------------------------------------------------------------

export function portName(p: number): string {
  return p === PORT_CONTROLLER ? 'controller' : String(p);
}

/** `1700000000.123456789` */
export function formatTimestamp(ns: bigint): string {
  const neg = ns < 0n;
  const a = neg ? -ns : ns;
  return `${neg ? '-' : ''}${a / 1_000_000_000n}.${(a % 1_000_000_000n).toString().padStart(9, '0')}`;
}

const HEADER = ['#', 'timestamp', 'in_port', 'ct_state', 'ct_zone', 'ct_mark', 'ct_label', 'outputs'];

function cells(r: ReplayRow): string[] {
  return [
    String(r.index),
    formatTimestamp(r.timeNs),
    String(r.inPort),
    r.ct ? formatCtState(r.ct.state) : '-',
    r.ct ? String(r.ct.zone) : '-',
    r.ct ? `0x${r.ct.mark.toString(16)}` : '-',
    r.ct ? `0x${r.ct.label.toString(16)}` : '-',
    r.outputs.length ? r.outputs.map((o) => portName(o.port)).join(',') : 'drop',
  ];
}

/** Aligned text lines: a header, then one line per packet (plus its trace when present). */
export function formatReplayText(rows: readonly ReplayRow[]): string[] {
  const table = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  const line = (r: string[]): string => r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c]!))).join('  ').trimEnd();
  const out = [line(HEADER)];
  rows.forEach((r, i) => {
    out.push(line(table[i + 1]!));
    if (r.trace) for (const t of r.trace) out.push(`    ${t}`);
  });
  return out;
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
  const o: Record<string, unknown> = {
    index: r.index,
    timestamp: formatTimestamp(r.timeNs),
    time_ms: r.timeMs,
    in_port: r.inPort,
    ...(r.ct ? ctJson(r.ct) : { ct_state: null, ct_zone: null, ct_mark: null, ct_label: null }),
    outputs: r.outputs.map((x) => ({ port: portName(x.port), ...(x.ctState !== undefined ? { ct_state: formatCtState(x.ctState) } : {}) })),
    lookups: r.lookups.map((l) => ({ table: l.table, ...ctJson(l) })),
  };
  if (r.ctCalls) o.ct_calls = r.ctCalls.map((c) => ({ table: c.table < 0 ? null : c.table, line: c.line, depth: c.depth, ...ctJson(c) }));
  if (r.trace) o.trace = r.trace;
  return o;
}
