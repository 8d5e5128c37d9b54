/**
 * ReportWriter: the runner's sink that keeps a report directory up to date while a run goes on,
 * so an interrupted or crashed run still leaves everything it found on disk:
 *  - `traces.jsonl`: one line appended per finished trace (search, shrink, replay);
 *  - on start, on every counterexample (also interim ones while shrinking) and at the end:
 *    `report.json`, `report.html`, `junit.xml`, `counterexample-N.json` (the Scenario plus
 *    seed/path, what `--replay` reads) and `counterexample-N.pcapng`;
 *  - on progress (at most every 2 s): `report.json`.
 * Writes are synchronous on purpose: they happen between traces, and a second Ctrl-C can
 * finish every open report (`finishLiveWriters`, harness/report/live.ts) and exit without waiting on pending I/O.
 *
 * Safety (issue 12):
 *  - Files are written to a fresh temporary name opened with O_CREAT|O_EXCL|O_NOFOLLOW and
 *    renamed over the final name, so a reader never sees half a file and a symlink planted at
 *    any name in the directory is never followed (rename replaces the link itself).
 *    `traces.jsonl` is unlinked and created the same way, then appended through its own fd.
 *  - `report.lock` (O_EXCL, holding pid and command) makes a second run on the same directory
 *    fail at once (CTO_REPORT_LOCKED) instead of both overwriting each other; a lock whose
 *    process is gone is taken over. Counterexample files of an earlier run are removed so
 *    none is mistaken for this run's.
 *  - A directory that cannot be created or written is CTO_REPORT_DIR (an input error) naming
 *    it; a write that fails mid-run (ENOSPC, EIO) is recorded, never thrown into the runner:
 *    `failure` is set, the temporary file removed, the run stopped through `signal`, and the
 *    final report.json says `error` — rewritten in place when the disk has no room for a new
 *    file (truncating needs no free block).
 */
import * as nodeFs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { CtoffloadError, errnoText } from '../../model/errors.js';
import { EXCEPTIONS, type ExceptionRule } from '../exceptions.js';
import type { RunSink, TraceLine } from '../runner/conformance.js';
import { renderHtml } from './html.js';
import { renderJunit } from './junit.js';
import { registerLiveReport } from './live.js';
import { counterexamplePcapng } from './pcapng.js';
import { overallStatus, REPORT_SCHEMA, type ConformanceReport, type PropertyReport, type RunStatus } from './schema.js';

/** The registry of open reports lives apart (harness/report/live.ts: signals.ts must not load this module). */
export { finishLiveWriters } from './live.js';

export const CTOFFLOAD_VERSION = '0.1.0';

const require = createRequire(import.meta.url);
export function fastCheckVersion(): string {
  try {
    return (JSON.parse(nodeFs.readFileSync(require.resolve('fast-check/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The file-system calls the writer makes: the seam where tests inject ENOSPC and friends. */
export interface WriterFs {
  mkdirSync: typeof nodeFs.mkdirSync;
  openSync: typeof nodeFs.openSync;
  writeSync: (fd: number, data: string | Uint8Array) => number;
  closeSync: typeof nodeFs.closeSync;
  renameSync: typeof nodeFs.renameSync;
  unlinkSync: typeof nodeFs.unlinkSync;
  readFileSync: (path: string, enc: 'utf8') => string;
  readdirSync: (path: string) => string[];
  fstatSync: typeof nodeFs.fstatSync;
  ftruncateSync: typeof nodeFs.ftruncateSync;
}

const realFs: WriterFs = {
  mkdirSync: nodeFs.mkdirSync,
  openSync: nodeFs.openSync,
  writeSync: (fd, data) => (typeof data === 'string' ? nodeFs.writeSync(fd, data) : nodeFs.writeSync(fd, data)),
  closeSync: nodeFs.closeSync,
  renameSync: nodeFs.renameSync,
  unlinkSync: nodeFs.unlinkSync,
  readFileSync: (p, enc) => nodeFs.readFileSync(p, enc),
  readdirSync: (p) => nodeFs.readdirSync(p),
  fstatSync: nodeFs.fstatSync,
  ftruncateSync: nodeFs.ftruncateSync,
};

export interface ReportWriterOptions {
  command?: string;
  exceptions?: readonly ExceptionRule[];
  /** File-system calls (tests inject faults here). */
  fs?: WriterFs;
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

/**
 * A report directory problem. CTO_REPORT_DIR: cannot be created or written at all (an input
 * error: choose another --report); CTO_REPORT_LOCKED: another run is using it; CTO_REPORT_WRITE:
 * a write failed during the run (disk full, I/O error: the environment).
 */
export class ReportWriteError extends CtoffloadError {
  constructor(code: 'CTO_REPORT_DIR' | 'CTO_REPORT_LOCKED' | 'CTO_REPORT_WRITE', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** errnos that say "the machine", not "the path you gave" (see the classes above). */
const ENVIRONMENT_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EMFILE', 'ENFILE', 'ENOMEM', 'EFBIG']);

function bigintSafe(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `0x${v.toString(16)}` : v;
}

const { O_CREAT, O_EXCL, O_WRONLY, O_APPEND, O_NOFOLLOW } = nodeFs.constants;
const CREATE_NEW = O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW;
const OUR_FILES = /^(counterexample-\d+\.(json|pcapng)|\..+\.[0-9a-f]{12}\.tmp)$/;
export const LOCK_FILE = 'report.lock';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class ReportWriter implements RunSink {
  readonly report: ConformanceReport;
  /** The first write that failed during the run (the run is stopped through `signal`). */
  failure: ReportWriteError | null = null;
  private lastJson = 0;
  private readonly fs: WriterFs;
  private tracesFd: number | null = null;
  private locked = false;
  private finished = false;
  private readonly ac = new AbortController();
  /** Counterexample numbers whose files are on disk. */
  private written = new Set<number>();
  /** Leaves the registry of open reports (harness/report/live.ts) once final. */
  private unregister: () => void = () => {};

  constructor(readonly dir: string, opts: ReportWriterOptions = {}) {
    this.fs = opts.fs ?? realFs;
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
    try {
      this.fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      // A recursive mkdir can say ENOENT for a read-only parent; one plain mkdir names the cause.
      let cause = e;
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        try {
          this.fs.mkdirSync(dir);
        } catch (e2) {
          if ((e2 as NodeJS.ErrnoException).code !== 'ENOENT') cause = e2;
        }
      }
      throw this.dirError(cause, 'create the report directory');
    }
    this.lock(opts.command);
    try {
      this.removeStale();
      try {
        this.fs.unlinkSync(join(dir, 'traces.jsonl'));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw this.dirError(e, 'replace traces.jsonl');
      }
      try {
        this.tracesFd = this.fs.openSync(join(dir, 'traces.jsonl'), CREATE_NEW | O_APPEND, 0o644);
      } catch (e) {
        throw this.dirError(e, 'create traces.jsonl');
      }
    } catch (e) {
      this.unlock();
      throw e;
    }
    this.unregister = registerLiveReport({
      finishAs: (status, error) => {
        if (error !== undefined && status === 'error') this.report.error ??= error;
        this.finish(status);
      },
      releaseLock: () => this.unlock(),
    });
  }

  /** Aborts when a write failed: the runner stops before its next packet. */
  get signal(): AbortSignal {
    return this.ac.signal;
  }

  private dirError(e: unknown, what: string): ReportWriteError {
    const code = (e as NodeJS.ErrnoException)?.code ?? '';
    return new ReportWriteError(ENVIRONMENT_ERRNOS.has(code) ? 'CTO_REPORT_WRITE' : 'CTO_REPORT_DIR', `--report ${this.dir}: cannot ${what}: ${errnoText(e)}`, { cause: e });
  }

  private lock(command?: string): void {
    const p = join(this.dir, LOCK_FILE);
    const body = JSON.stringify({ pid: process.pid, startedAt: this.report.startedAt, ...(command ? { command } : {}) }) + '\n';
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd: number;
      try {
        fd = this.fs.openSync(p, CREATE_NEW, 0o644);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw this.dirError(e, `create ${LOCK_FILE}`);
        let holder: { pid?: unknown; startedAt?: unknown; command?: unknown } = {};
        try {
          holder = JSON.parse(this.fs.readFileSync(p, 'utf8')) as typeof holder;
        } catch {
          /* unreadable or half-written: decided by the pid below */
        }
        const pid = typeof holder.pid === 'number' ? holder.pid : NaN;
        if (Number.isInteger(pid) && pidAlive(pid)) {
          throw new ReportWriteError('CTO_REPORT_LOCKED', `--report ${this.dir}: in use by another run (pid ${pid}${typeof holder.startedAt === 'string' ? `, started ${holder.startedAt}` : ''}${typeof holder.command === 'string' ? `: ${holder.command}` : ''}); give each run its own report directory, or remove ${p} if that process is not ctoffload`);
        }
        // Stale: its process is gone. Take it over.
        try {
          this.fs.unlinkSync(p);
        } catch (e2) {
          if ((e2 as NodeJS.ErrnoException).code !== 'ENOENT') throw this.dirError(e2, `remove the stale ${LOCK_FILE}`);
        }
        continue;
      }
      try {
        this.fs.writeSync(fd, body);
      } catch (e) {
        this.fs.closeSync(fd);
        try {
          this.fs.unlinkSync(p);
        } catch {
          /* nothing more to do */
        }
        throw this.dirError(e, `write ${LOCK_FILE}`);
      }
      this.fs.closeSync(fd);
      this.locked = true;
      return;
    }
    throw new ReportWriteError('CTO_REPORT_LOCKED', `--report ${this.dir}: ${LOCK_FILE} keeps reappearing; another run is starting there`);
  }

  private unlock(): void {
    if (!this.locked) return;
    this.locked = false;
    try {
      this.fs.unlinkSync(join(this.dir, LOCK_FILE));
    } catch {
      /* already gone */
    }
  }

  /** Counterexample files and temporary files left by an earlier run in this directory. */
  private removeStale(): void {
    let names: string[];
    try {
      names = this.fs.readdirSync(this.dir);
    } catch (e) {
      throw this.dirError(e, 'list the report directory');
    }
    for (const n of names) {
      if (!OUR_FILES.test(n)) continue;
      try {
        this.fs.unlinkSync(join(this.dir, n));
      } catch (e) {
        throw this.dirError(e, `remove ${n} of an earlier run`);
      }
    }
  }

  /** Write `data` to `name` through a fresh temporary file and a rename. Throws ReportWriteError. */
  private write(name: string, data: string | Uint8Array): void {
    const p = join(this.dir, name);
    const tmp = join(this.dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    let fd: number | null = null;
    try {
      fd = this.fs.openSync(tmp, CREATE_NEW, 0o644);
      this.fs.writeSync(fd, data);
      this.fs.closeSync(fd);
      fd = null;
      this.fs.renameSync(tmp, p);
    } catch (e) {
      if (fd !== null) {
        try {
          this.fs.closeSync(fd);
        } catch {
          /* closing is all that is left */
        }
      }
      try {
        this.fs.unlinkSync(tmp);
      } catch {
        /* it was never created, or is gone */
      }
      const code = (e as NodeJS.ErrnoException)?.code ?? '';
      throw new ReportWriteError(ENVIRONMENT_ERRNOS.has(code) ? 'CTO_REPORT_WRITE' : 'CTO_REPORT_DIR', `--report ${this.dir}: cannot write ${name}: ${errnoText(e)}`, { cause: e });
    }
  }

  /** Runs a write; the first failure is recorded (and stops the run), never thrown to the runner. */
  private guarded(f: () => void): void {
    if (this.failure || this.finished) return;
    try {
      f();
    } catch (e) {
      this.failure = e instanceof ReportWriteError ? e : new ReportWriteError('CTO_REPORT_WRITE', `--report ${this.dir}: ${errnoText(e)}`, { cause: e });
      this.ac.abort();
    }
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
    if (this.finished) return;
    this.attach(p);
    this.report.updatedAt = new Date().toISOString();
    this.report.status = overallStatus(this.report.properties);
    if (reason === 'progress') {
      const now = Date.now();
      if (now - this.lastJson < 2000) return;
      this.lastJson = now;
      this.guarded(() => this.writeJson());
      return;
    }
    this.guarded(() => this.writeAll());
  }

  trace(line: TraceLine): void {
    this.guarded(() => {
      if (this.tracesFd === null) return;
      try {
        this.fs.writeSync(this.tracesFd, JSON.stringify(line) + '\n');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException)?.code ?? '';
        throw new ReportWriteError(ENVIRONMENT_ERRNOS.has(code) ? 'CTO_REPORT_WRITE' : 'CTO_REPORT_DIR', `--report ${this.dir}: cannot append to traces.jsonl: ${errnoText(e)}`, { cause: e });
      }
    });
  }

  private jsonText(): string {
    return JSON.stringify(this.report, bigintSafe, 2) + '\n';
  }

  private writeJson(): void {
    this.write('report.json', this.jsonText());
  }

  /** Writes every file from the current state. Throws ReportWriteError. */
  writeAll(): void {
    this.lastJson = Date.now();
    this.writeJson();
    this.write('report.html', renderHtml(this.report));
    this.write('junit.xml', renderJunit(this.report));
    const now = new Set<number>();
    for (const p of this.report.properties) {
      const c = p.counterexample;
      if (!c) continue;
      now.add(c.id);
      const f: CounterexampleFile = {
        schema: 'ctoffload-counterexample/1', property: p.name, target: p.target, policy: { source: p.policy.source },
        seed: c.seed, path: c.path, final: c.final, replay: c.replay, traffic: p.config.traffic, scenario: c.scenario,
      };
      this.write(`counterexample-${c.id}.json`, JSON.stringify(f, null, 2) + '\n');
      this.write(`counterexample-${c.id}.pcapng`, counterexamplePcapng(p));
    }
    // An interim counterexample that turned out not to be one (a target failure that did not
    // reproduce) must not stay behind as if it were a finding.
    for (const id of this.written) {
      if (now.has(id)) continue;
      for (const ext of ['json', 'pcapng']) {
        try {
          this.fs.unlinkSync(join(this.dir, `counterexample-${id}.${ext}`));
        } catch {
          /* already gone */
        }
      }
    }
    this.written = now;
  }

  /**
   * report.json rewritten in place (no new file, no new block when it is not longer than the
   * file already there): the final word when a full disk refused the normal write. A compact
   * form of the report fits where the indented one was; failing that, the report without its
   * properties' details.
   */
  private rewriteJsonInPlace(): boolean {
    const p = join(this.dir, 'report.json');
    let fd: number;
    try {
      fd = this.fs.openSync(p, O_WRONLY | O_NOFOLLOW);
    } catch {
      return false;
    }
    try {
      const size = this.fs.fstatSync(fd).size;
      const compact = JSON.stringify(this.report, bigintSafe) + '\n';
      const bare = JSON.stringify({ ...this.report, properties: [] }, bigintSafe) + '\n';
      const text = Buffer.byteLength(compact) <= size ? compact : bare;
      if (Buffer.byteLength(text) > size) return false;
      // Over the blocks already there (no allocation on a full disk), then cut the rest.
      this.fs.writeSync(fd, text);
      this.fs.ftruncateSync(fd, Buffer.byteLength(text));
      return true;
    } catch {
      return false;
    } finally {
      try {
        this.fs.closeSync(fd);
      } catch {
        /* done */
      }
    }
  }

  /**
   * Final write: sets finishedAt and, when given, overrides the overall status (e.g.
   * interrupted). After a failed write the status is `error` with the failure's message; the
   * final report.json is written normally if the disk allows, else in place. Releases the lock.
   * Never throws: `failure` says whether the reports are complete.
   */
  finish(status?: RunStatus): void {
    if (this.finished) return;
    this.report.finishedAt = new Date().toISOString();
    this.report.updatedAt = this.report.finishedAt;
    this.report.status = status ?? overallStatus(this.report.properties);
    if (this.failure) {
      this.report.status = 'error';
      this.report.error = this.failure.message;
      for (const p of this.report.properties) {
        if (p.status === 'running' || p.status === 'interrupted') p.status = 'error';
        p.error ??= this.failure.message;
      }
    }
    const failedBefore = this.failure;
    try {
      this.writeAll();
    } catch (e) {
      this.failure ??= e instanceof ReportWriteError ? e : new ReportWriteError('CTO_REPORT_WRITE', `--report ${this.dir}: ${errnoText(e)}`, { cause: e });
    }
    if (this.failure && this.failure !== failedBefore) {
      // The final write itself failed: say so in what can still be written.
      this.report.status = 'error';
      this.report.error = this.failure.message;
    }
    if (this.failure) {
      try {
        this.write('report.json', this.jsonText());
      } catch {
        this.rewriteJsonInPlace();
      }
    }
    this.finished = true;
    if (this.tracesFd !== null) {
      try {
        this.fs.closeSync(this.tracesFd);
      } catch {
        /* nothing to add */
      }
      this.tracesFd = null;
    }
    this.unlock();
    this.unregister();
  }
}
