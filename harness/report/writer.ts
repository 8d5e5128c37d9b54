/**
 * ReportWriter: the runner's sink that keeps a report directory up to date while a run goes on,
 * so an interrupted or crashed run still leaves everything it found on disk:
 *  - `traces.jsonl`: one line appended per finished trace (search, shrink, replay);
 *  - on start, on every counterexample (also interim ones while shrinking) and at the end:
 *    `report.json`, `report.html`, `junit.xml`, `counterexample-N.json` (the Scenario plus
 *    seed/path, what `--replay` reads) and `counterexample-N.pcapng`;
 *  - on progress (at most every 2 s): `report.json`.
 * Files are written to a temporary name and renamed, so a reader never sees half a file.
 * Writes are synchronous on purpose: they happen between traces, and a SIGINT handler can call
 * `flush()` and exit without waiting on pending I/O.
 */
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXCEPTIONS, type ExceptionRule } from '../exceptions.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { RunSink, TraceLine } from '../runner/conformance.js';
import { renderHtml } from './html.js';
import { renderJunit } from './junit.js';
import { counterexamplePcapng } from './pcapng.js';
import { overallStatus, REPORT_SCHEMA, type ConformanceReport, type PropertyReport, type RunStatus } from './schema.js';

export const CTOFFLOAD_VERSION = '0.1.0';

const require = createRequire(import.meta.url);
export function fastCheckVersion(): string {
  try {
    return (JSON.parse(readFileSync(require.resolve('fast-check/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export interface ReportWriterOptions {
  command?: string;
  exceptions?: readonly ExceptionRule[];
}

/** The JSON written to counterexample-N.json (read back by `conformance --replay`). */
export interface CounterexampleFile {
  schema: 'ctoffload-counterexample/1';
  property: string;
  target: string;
  policy: { source: string };
  seed: number;
  path: string;
  final: boolean;
  replay: string;
  traffic: unknown;
  scenario: unknown;
}

function bigintSafe(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `0x${v.toString(16)}` : v;
}

export class ReportWriter implements RunSink {
  readonly report: ConformanceReport;
  private lastJson = 0;

  constructor(readonly dir: string, opts: ReportWriterOptions = {}) {
    mkdirSync(dir, { recursive: true });
    const now = new Date().toISOString();
    this.report = {
      schema: REPORT_SCHEMA,
      status: 'running',
      ...(opts.command ? { command: opts.command } : {}),
      startedAt: now,
      updatedAt: now,
      tool: { ctoffload: CTOFFLOAD_VERSION, node: process.version, fastCheck: fastCheckVersion() },
      exceptions: (opts.exceptions ?? EXCEPTIONS).map((x) => ({ id: x.id, kind: x.kind, targets: [...x.targets], kinds: [...x.kinds], reason: x.reason, source: x.source })),
      properties: [],
    };
    writeFileSync(join(dir, 'traces.jsonl'), '');
  }

  private write(name: string, data: string | Uint8Array): void {
    const p = join(this.dir, name);
    writeFileSync(`${p}.tmp`, data);
    renameSync(`${p}.tmp`, p);
  }

  private attach(p: PropertyReport): void {
    if (!this.report.properties.includes(p)) this.report.properties.push(p);
    // Counterexample numbers follow property order, 1-based.
    let n = 0;
    for (const q of this.report.properties) {
      if (!q.counterexample) continue;
      q.counterexample.id = ++n;
      q.counterexample.replayFile = join(this.dir, `counterexample-${n}.json`);
    }
  }

  update(p: PropertyReport, reason: 'start' | 'counterexample' | 'progress' | 'end'): void {
    this.attach(p);
    this.report.updatedAt = new Date().toISOString();
    this.report.status = overallStatus(this.report.properties);
    if (reason === 'progress') {
      const now = Date.now();
      if (now - this.lastJson < 2000) return;
      this.lastJson = now;
      this.writeJson();
      return;
    }
    this.writeAll();
  }

  trace(line: TraceLine): void {
    appendFileSync(join(this.dir, 'traces.jsonl'), JSON.stringify(line) + '\n');
  }

  private writeJson(): void {
    this.write('report.json', JSON.stringify(this.report, bigintSafe, 2) + '\n');
  }

  /** Writes every file from the current state. */
  writeAll(): void {
    this.lastJson = Date.now();
    this.writeJson();
    this.write('report.html', renderHtml(this.report));
    this.write('junit.xml', renderJunit(this.report));
    for (const p of this.report.properties) {
      const c = p.counterexample;
      if (!c) continue;
      const f: CounterexampleFile = {
        schema: 'ctoffload-counterexample/1', property: p.name, target: p.target, policy: { source: p.policy.source },
        seed: c.seed, path: c.path, final: c.final, replay: c.replay, traffic: p.config.traffic, scenario: c.scenario,
      };
      this.write(`counterexample-${c.id}.json`, JSON.stringify(f, null, 2) + '\n');
      this.write(`counterexample-${c.id}.pcapng`, counterexamplePcapng(p));
    }
  }

  /** Final write: sets finishedAt and, when given, overrides the overall status (e.g. interrupted). */
  finish(status?: RunStatus): void {
    this.report.finishedAt = new Date().toISOString();
    this.report.updatedAt = this.report.finishedAt;
    this.report.status = status ?? overallStatus(this.report.properties);
    this.writeAll();
  }
}
