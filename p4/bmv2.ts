/**
 * Driver for bmv2 `simple_switch_grpc` processes (docs/p4-target-interfaces.md §5.1, §5.2): find the binary, pick free
 * ports, start it empty (`--no-p4`; the program comes by SetForwardingPipelineConfig), wait for
 * readiness with a deadline, keep its log, stop it cleanly, and make sure no switch outlives
 * this process (registry below). Several instances run side by side: every listening address
 * differs (P4Runtime, dataplane gRPC, Thrift, `--packet-in` path).
 *
 * Packet I/O is one of (never both: with both, bmv2 silently ignores `--packet-in`, docs/p4-target-interfaces.md §5.4):
 * - 'dataplane': `--dp-grpc-server-addr` (p4/dataplane.ts), ids per packet and a drain barrier;
 * - 'nanomsg': `--packet-in ipc://…` (p4/nanomsg-channel.ts);
 * - 'none'.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { P4Error } from './errors.js';
import { freePorts } from './ports.js';
import { makeGrpcClient } from './proto.js';
import { P4InfoIndex } from './p4info.js';
import { P4RuntimeClient } from './runtime.js';
import type { PipelineConfig } from './runtime.js';
import { findExecutable } from './which.js';

export const BMV2_INSTALL_HINT = 'build behavioral-model with --with-pi (docs/p4-target-interfaces.md §8.3), or set CTOFFLOAD_BMV2';

/** How the process ended. */
export interface Bmv2Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when stop() asked for it. */
  expected: boolean;
}

/**
 * The switch process is gone (crashed, killed, exited at start, or stopped while a call was
 * pending). Carries the tail of its log, which usually says why.
 */
export class Bmv2ExitError extends P4Error {
  constructor(
    readonly exit: Bmv2Exit,
    readonly logPath: string,
    readonly logTail: string,
    context = '',
  ) {
    const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const tail = logTail.trim() ? `\n--- last lines of ${logPath} ---\n${logTail.trimEnd()}` : ` (log ${logPath} is empty)`;
    super('CTO_BMV2_EXIT', `simple_switch_grpc ${how}${exit.expected ? ' (stopped)' : ''}${context ? ` ${context}` : ''}${tail}`);
  }
}

/** The switch did not become ready (or did not stop) within the deadline. */
export class Bmv2TimeoutError extends P4Error {
  constructor(message: string) {
    super('CTO_BMV2_TIMEOUT', message);
  }
}

/** A bmv2 JSON that bmv2 would accept over P4Runtime and then misbehave on (docs/p4-target-interfaces.md §4.12). */
export class Bmv2JsonError extends P4Error {
  constructor(message: string) {
    super('CTO_BMV2_JSON', message);
  }
}

export type PacketIo = 'dataplane' | 'nanomsg' | 'none';
export type Bmv2LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'off';

export interface Bmv2StartOptions {
  /** Binary path; default `$CTOFFLOAD_BMV2`, then `simple_switch_grpc` on PATH. */
  binary?: string;
  /** `--device-id`; default 1 (P4Runtime forbids 0, docs/p4-target-interfaces.md §5.1). */
  deviceId?: bigint | number;
  /** `--cpu-port` enabling PacketIn/PacketOut; default 510; null for none. */
  cpuPort?: number | null;
  /** Packet channel; default 'dataplane'. */
  packetIo?: PacketIo;
  /** bmv2 log level (`-L`); default 'warn'. 'debug'/'trace' log every packet (slow). */
  logLevel?: Bmv2LogLevel;
  /** Directory for the log and the ipc socket; default a fresh temp dir, removed by stop(). */
  dir?: string;
  /** Keep `dir` after stop() (it is always kept when the switch died unexpectedly). */
  keepDir?: boolean;
  /** Readiness deadline: Capabilities must answer within it. Default 15 000 ms. */
  startDeadlineMs?: number;
  /** stop(): SIGTERM, then SIGKILL after this long. Default 3000 ms. */
  stopDeadlineMs?: number;
  /** A bmv2 JSON to load at start (positional argument) instead of `--no-p4`. */
  json?: string;
  /** Extra generic options (before `--`) and target options (after). */
  args?: string[];
  targetArgs?: string[];
  /** Address every server binds; default 127.0.0.1. */
  host?: string;
}

// ---------------------------------------------------------------------------------------------
// Process-wide registry: no orphaned switch after a failed test, an exception or Ctrl-C.

/** Running switches, each with the directory to remove with it (its own temp dir, unless kept). */
const live = new Map<ChildProcess, string | undefined>();
let exitHookInstalled = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Kill every running switch and remove its temp dir, synchronously (it runs in the 'exit' hook:
 * after a second Ctrl-C the CLI exits at once, and stop() never runs to remove the directory —
 * issue 12, "no leftover directory"). A switch that already died unexpectedly is no longer
 * here: its directory stays for its log, as stop() keeps it.
 */
function killAllNow(): void {
  for (const [c, dir] of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
    // The killed switch's open log is unlinked with the directory; nothing else writes there.
    try {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort at exit: never turn an exit into a crash
    }
  }
  live.clear();
}

/**
 * Set (a count) by the command that owns shutdown (the ctoffload CLI): it stops its run and
 * then closes its switches; killing them here first would fail the packet in flight.
 */
const SHUTDOWN_OWNER = Symbol.for('ctoffload.shutdownOwner');

function onSignal(sig: NodeJS.Signals): void {
  if (((process as unknown as Record<symbol, number | undefined>)[SHUTDOWN_OWNER] ?? 0) > 0) return;
  killAllNow();
  uninstallSignalHandlers();
  // Only our handler was there: behave as if there had been none (default action: terminate).
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

const signalHandlers = new Map<NodeJS.Signals, () => void>();

function installSignalHandlers(): void {
  if (!exitHookInstalled) {
    // 'exit' runs synchronously at the very end: kill(2) is synchronous, which is all it needs.
    process.on('exit', killAllNow);
    exitHookInstalled = true;
  }
  if (signalHandlers.size) return;
  for (const sig of SIGNALS) {
    const h = (): void => onSignal(sig);
    signalHandlers.set(sig, h);
    process.on(sig, h);
  }
}

function uninstallSignalHandlers(): void {
  for (const [sig, h] of signalHandlers) process.off(sig, h);
  signalHandlers.clear();
}

function register(c: ChildProcess, dir: string | undefined): void {
  live.set(c, dir);
  installSignalHandlers();
  c.once('exit', () => {
    live.delete(c);
    if (live.size === 0) uninstallSignalHandlers();
  });
}

/** Number of switch processes this process has started and that are still running. */
export function liveSwitchCount(): number {
  return live.size;
}

/** Kill (SIGKILL) every switch this process started. For test teardown and emergencies. */
export function killAllSwitches(): void {
  killAllNow();
}

// ---------------------------------------------------------------------------------------------

/** Last `maxBytes` of a file, cut to the last `maxLines` lines. Never throws. */
export function readTail(path: string, maxLines = 30, maxBytes = 16384): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-maxLines).join('\n');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Text of a file from byte `offset` on (at most 16 KiB). Never throws. */
function readFrom(path: string, offset: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const len = Math.max(0, Math.min(fstatSync(fd).size - offset, 16384));
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, offset);
    return buf.toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** One Capabilities call on a fresh channel (docs/p4-target-interfaces.md §5.2: a refused channel backs off ~1 s). */
function capabilitiesOnce(address: string, deadlineMs: number): Promise<string> {
  const client = makeGrpcClient('p4.v1.P4Runtime', address, {
    channelOptions: { 'grpc.use_local_subchannel_pool': 1, 'grpc.initial_reconnect_backoff_ms': 50 },
  });
  return new Promise<string>((resolve, reject) => {
    const fn = client.Capabilities as (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: { p4runtimeApiVersion?: string }) => void) => void;
    fn.call(client, {}, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res.p4runtimeApiVersion ?? '')));
  }).finally(() => client.close());
}

export class Bmv2Switch implements AsyncDisposable {
  /** P4Runtime address (`host:port`). */
  readonly grpcAddress: string;
  /** Dataplane gRPC address, when packetIo is 'dataplane'. */
  readonly dataplaneAddress: string | undefined;
  /** `ipc://…` address of the nanomsg PAIR socket bmv2 binds, when packetIo is 'nanomsg'. */
  readonly packetInAddress: string | undefined;
  readonly thriftPort: number;
  readonly deviceId: bigint;
  readonly cpuPort: number | null;
  readonly packetIo: PacketIo;
  readonly binary: string;
  readonly dir: string;
  /** stdout + stderr of the process (bmv2 logs with `--log-console`). */
  readonly logPath: string;
  readonly args: readonly string[];
  /** P4Runtime API version from Capabilities ("1.3.0" for PI, docs/p4-target-interfaces.md §4.13). */
  apiVersion = '';
  /** Resolves (never rejects) when the process has exited. */
  readonly exited: Promise<Bmv2Exit>;

  private readonly proc: ChildProcess;
  private exitInfo: Bmv2Exit | undefined;
  private stopping = false;
  private readonly ownsDir: boolean;
  private readonly keepDir: boolean;
  private readonly stopDeadlineMs: number;
  private stopPromise: Promise<Bmv2Exit> | undefined;

  private constructor(init: {
    proc: ChildProcess;
    grpcAddress: string;
    dataplaneAddress?: string;
    packetInAddress?: string;
    thriftPort: number;
    deviceId: bigint;
    cpuPort: number | null;
    packetIo: PacketIo;
    binary: string;
    dir: string;
    ownsDir: boolean;
    keepDir: boolean;
    logPath: string;
    args: string[];
    stopDeadlineMs: number;
  }) {
    this.proc = init.proc;
    this.grpcAddress = init.grpcAddress;
    this.dataplaneAddress = init.dataplaneAddress;
    this.packetInAddress = init.packetInAddress;
    this.thriftPort = init.thriftPort;
    this.deviceId = init.deviceId;
    this.cpuPort = init.cpuPort;
    this.packetIo = init.packetIo;
    this.binary = init.binary;
    this.dir = init.dir;
    this.ownsDir = init.ownsDir;
    this.keepDir = init.keepDir;
    this.logPath = init.logPath;
    this.args = init.args;
    this.stopDeadlineMs = init.stopDeadlineMs;
    this.exited = new Promise<Bmv2Exit>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exitInfo) return;
        this.exitInfo = { code, signal, expected: this.stopping };
        resolve(this.exitInfo);
      };
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) done(this.proc.exitCode, this.proc.signalCode as NodeJS.Signals | null);
      else this.proc.once('exit', done);
    });
  }

  /**
   * Start a switch and wait until its P4Runtime server answers Capabilities (docs/p4-target-interfaces.md §5.2: the
   * `Server listening` line never reaches a pipe, so it is not waited for). Retries once with
   * fresh ports when a port turned out to be taken (docs/p4-target-interfaces.md §5.1: a taken Thrift port leaves the
   * process unusable).
   */
  static async start(opts: Bmv2StartOptions = {}): Promise<Bmv2Switch> {
    const binary = findExecutable('simple_switch_grpc', { explicit: opts.binary, envVar: 'CTOFFLOAD_BMV2', install: BMV2_INSTALL_HINT });
    for (let attempt = 0; ; attempt++) {
      const sw = await Bmv2Switch.spawnOnce(binary, opts);
      try {
        await sw.waitReady(opts.startDeadlineMs ?? 15_000);
        return sw;
      } catch (e) {
        const portClash = /Address already in use|Could not bind/i.test(readTail(sw.logPath, 200));
        await sw.stop().catch(() => undefined);
        if (portClash && attempt < 2) {
          sw.removeDir();
          continue;
        }
        throw e;
      }
    }
  }

  private static async spawnOnce(binary: string, opts: Bmv2StartOptions): Promise<Bmv2Switch> {
    const host = opts.host ?? '127.0.0.1';
    const packetIo = opts.packetIo ?? 'dataplane';
    const deviceId = BigInt(opts.deviceId ?? 1);
    const cpuPort = opts.cpuPort === undefined ? 510 : opts.cpuPort;
    const ownsDir = !opts.dir;
    // Short base name: the ipc socket path must fit sun_path (108 bytes, docs/p4-target-interfaces.md §5.5).
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'bmv2-'));
    const logPath = join(dir, 'switch.log');
    const [grpcPort, thriftPort, dpPort] = await freePorts(3, host);
    const grpcAddress = `${host}:${grpcPort}`;
    const dataplaneAddress = packetIo === 'dataplane' ? `${host}:${dpPort}` : undefined;
    const packetInAddress = packetIo === 'nanomsg' ? `ipc://${join(dir, 'packet.ipc')}` : undefined;
    // Every server binds `host` (127.0.0.1 by default) — except bmv2's Thrift server, which
    // bmv2 built --with-thrift always starts and binds to every address: bm_runtime/server.cpp
    // `TServerSocket(port)` takes no address and no option names one (bm_sim/options_parse.cpp
    // has --thrift-port only; observed: `ss -ltn` shows 0.0.0.0:PORT for Thrift and
    // 127.0.0.1 for gRPC). ctoffload never uses Thrift; it gives it a random free port. To
    // have no listener beyond loopback, build bmv2 --without-thrift or firewall the port
    // (README "Prerequisites").
    const args = [
      '--device-id', String(deviceId),
      '--thrift-port', String(thriftPort),
      '--log-console',
      '-L', opts.logLevel ?? 'warn',
      ...(packetInAddress ? ['--packet-in', packetInAddress] : []),
      ...(opts.args ?? []),
      ...(opts.json ? [opts.json] : ['--no-p4']),
      '--',
      '--grpc-server-addr', grpcAddress,
      ...(dataplaneAddress ? ['--dp-grpc-server-addr', dataplaneAddress] : []),
      ...(cpuPort !== null ? ['--cpu-port', String(cpuPort)] : []),
      ...(opts.targetArgs ?? []),
    ];
    writeFileSync(logPath, `# ${binary} ${args.join(' ')}\n`);
    // stdout and stderr go straight to the log file (no pipe to drain; a crash message lands
    // there too). bmv2 flushes stdout after every log line with --log-console (docs/p4-target-interfaces.md §5.2).
    const fd = openSync(logPath, 'a');
    let proc: ChildProcess;
    try {
      // detached: its own process group, so a terminal's Ctrl-C reaches only ctoffload (which
      // stops the run, then stops the switch); the exit hook kills it if Node goes first.
      proc = spawn(binary, args, { stdio: ['ignore', fd, fd], cwd: dir, detached: true });
    } finally {
      closeSync(fd);
    }
    const sw = new Bmv2Switch({
      proc,
      grpcAddress,
      dataplaneAddress,
      packetInAddress,
      thriftPort,
      deviceId,
      cpuPort,
      packetIo,
      binary,
      dir,
      ownsDir,
      keepDir: opts.keepDir ?? false,
      logPath,
      args,
      stopDeadlineMs: opts.stopDeadlineMs ?? 3000,
    });
    // A spawn failure (ENOENT, EACCES) arrives as 'error' and possibly no 'exit'.
    proc.once('error', (e) => {
      if (!sw.exitInfo) {
        writeFileSync(logPath, `spawn failed: ${e.message}\n`, { flag: 'a' });
        proc.emit('exit', null, null);
      }
    });
    if (proc.pid !== undefined) register(proc, ownsDir && !(opts.keepDir ?? false) ? dir : undefined);
    return sw;
  }

  private async waitReady(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    let last: unknown;
    while (!this.exitInfo) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      try {
        this.apiVersion = await this.guard(capabilitiesOnce(this.grpcAddress, Math.min(remaining, 1000)), 'during start-up');
        return;
      } catch (e) {
        if ((e as P4Error).code === 'CTO_BMV2_EXIT') throw e;
        last = e;
      }
      await Promise.race([sleep(Math.min(30, Math.max(0, deadline - Date.now()))), this.exited]);
    }
    if (this.exitInfo) throw this.exitError('during start-up');
    const why = last ? `; last error: ${(last as grpc.ServiceError).details ?? String(last)}` : '';
    throw new Bmv2TimeoutError(
      `simple_switch_grpc (pid ${this.pid}) did not answer Capabilities on ${this.grpcAddress} within ${deadlineMs} ms${why}\n--- last lines of ${this.logPath} ---\n${this.logTail()}`,
    );
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** How the process ended, or undefined while it runs. */
  get exit(): Bmv2Exit | undefined {
    return this.exitInfo;
  }

  get running(): boolean {
    return !this.exitInfo;
  }

  /** Last lines of the log. */
  logTail(maxLines = 30): string {
    return readTail(this.logPath, maxLines);
  }

  /** The CTO_BMV2_EXIT error for the ended process (call once `exit` is set). */
  exitError(context = ''): Bmv2ExitError {
    const exit = this.exitInfo ?? { code: null, signal: null, expected: this.stopping };
    return new Bmv2ExitError(exit, this.logPath, this.logTail(), context);
  }

  /**
   * `p`, or CTO_BMV2_EXIT as soon as the process exits first: every pending call on a switch
   * fails promptly, with the log tail, when the switch dies.
   */
  guard<T>(p: Promise<T>, context = ''): Promise<T> {
    if (this.exitInfo) {
      p.catch(() => undefined);
      return Promise.reject(this.exitError(context));
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      void this.exited.then(() => {
        if (settled) return;
        settled = true;
        reject(this.exitError(context));
      });
      p.then(
        (v) => {
          if (settled) return;
          settled = true;
          resolve(v);
        },
        (e) => {
          if (settled) return;
          settled = true;
          reject(e);
        },
      );
    });
  }

  /**
   * For callers whose RPC failed: if the process is exiting (a connection reset usually comes a
   * little before the exit status), the CTO_BMV2_EXIT error, else undefined. Waits up to
   * `graceMs` for the exit.
   */
  async deathCause(graceMs = 300, context = ''): Promise<Bmv2ExitError | undefined> {
    if (!this.exitInfo) await Promise.race([this.exited, sleep(graceMs)]);
    return this.exitInfo ? this.exitError(context) : undefined;
  }

  /**
   * SIGTERM, then SIGKILL after the stop deadline; resolves when the process is gone. Removes
   * the temp dir unless `keepDir` (kept anyway after an unexpected death, for its log).
   */
  stop(): Promise<Bmv2Exit> {
    this.stopPromise ??= (async () => {
      const diedUnexpectedly = !!this.exitInfo && !this.exitInfo.expected;
      if (!this.exitInfo) {
        this.stopping = true;
        this.proc.kill('SIGTERM');
        const t = setTimeout(() => this.proc.kill('SIGKILL'), this.stopDeadlineMs);
        // A process stuck in D state never exits: do not hang stop() forever.
        const hard = new Promise<void>((r) => setTimeout(r, this.stopDeadlineMs + 5000).unref());
        await Promise.race([this.exited, hard]);
        clearTimeout(t);
        if (!this.exitInfo) throw new Bmv2TimeoutError(`simple_switch_grpc (pid ${this.pid}) did not exit after SIGKILL`);
      }
      if (!diedUnexpectedly && !this.keepDir) this.removeDir();
      return this.exitInfo!;
    })();
    return this.stopPromise;
  }

  private removeDir(): void {
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
    else if (this.packetInAddress) rmSync(this.packetInAddress.slice('ipc://'.length), { force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Load a program with SetForwardingPipelineConfig (VERIFY_AND_COMMIT). bmv2 answers OK to a
   * broken JSON and is left broken (docs/p4-target-interfaces.md §4.12), so the JSON is checked first:
   * - check 'shape' (default): validateBmv2Json — the top-level structure bmv2 needs;
   * - check 'bmv2': also checkBmv2JsonWithSwitch — bmv2 itself loads the JSON in a throw-away
   *   process (~0.1–0.3 s), which catches what only bmv2 knows (unknown hash algorithm, …);
   * - check 'none'.
   * After loading, `postCheck` (default on) reads the first table of the P4Info (wildcard Read):
   * on a pipeline bmv2 could not build, PI answers UNKNOWN "Error when reading table entries from
   * target" [obs, garbage JSON with check 'none'], and bmv2 has printed its reason (`Field
   * standard_metadata.egress_port is required…`) to the log, which the CTO_BMV2_JSON error quotes.
   * `client`: a primary P4RuntimeClient to use (its P4Info index is updated). Without one, a
   * temporary session is opened with election id 2^64 (above any id the harness uses, so it is
   * primary for the duration) and closed again.
   */
  async loadPipeline(
    config: { json: Uint8Array | string; p4info: NonNullable<PipelineConfig['p4info']>; cookie?: bigint },
    opts: { client?: P4RuntimeClient; check?: 'shape' | 'bmv2' | 'none'; postCheck?: boolean; deadlineMs?: number } = {},
  ): Promise<void> {
    const json = typeof config.json === 'string' ? Buffer.from(config.json) : config.json;
    const check = opts.check ?? 'shape';
    if (check !== 'none') validateBmv2Json(json);
    if (check === 'bmv2') await checkBmv2JsonWithSwitch(json, { binary: this.binary });
    const index = config.p4info instanceof P4InfoIndex ? config.p4info : P4InfoIndex.from(config.p4info);
    const logSizeBefore = fileSize(this.logPath);
    const deadlineMs = opts.deadlineMs ?? 30_000;
    const own = !opts.client;
    const client =
      opts.client ??
      (await this.guard(
        P4RuntimeClient.connect(this.grpcAddress, { deviceId: this.deviceId, electionId: { high: 1n, low: 0n }, reconnect: false, deadlineMs }),
        'while opening a P4Runtime session',
      ));
    try {
      await this.guard(client.setPipeline({ p4info: index, deviceConfig: json, cookie: config.cookie }, 'VERIFY_AND_COMMIT', { deadlineMs }), 'during SetForwardingPipelineConfig');
      const firstTable = (index.p4info.tables as { preamble?: { id?: number; name?: string } }[] | undefined)?.[0]?.preamble;
      if ((opts.postCheck ?? true) && firstTable?.id) {
        try {
          await this.guard(client.readAll([{ tableEntry: { tableId: firstTable.id } }], { deadlineMs }), 'during the post-load Read');
        } catch (e) {
          if ((e as P4Error).code === 'CTO_BMV2_EXIT') throw e;
          const said = readFrom(this.logPath, logSizeBefore).trim();
          throw new Bmv2JsonError(
            `bmv2 accepted the pipeline but cannot use it: Read of table ${firstTable.name} failed (${(e as Error).message})${said ? `; bmv2 said:\n${said}` : ''}`,
          );
        }
      }
    } catch (e) {
      throw (await this.deathCause(300, 'during SetForwardingPipelineConfig')) ?? e;
    } finally {
      if (own) client.close();
    }
  }
}

/** Start a switch (see Bmv2Switch.start). */
export function startBmv2(opts: Bmv2StartOptions = {}): Promise<Bmv2Switch> {
  return Bmv2Switch.start(opts);
}

/**
 * Check that `json` has the top-level shape of a bmv2 JSON for simple_switch (what p4c-bm2-ss
 * writes, behavioral-model `docs/JSON_format.md`): an object with the arrays bmv2 reads, an
 * `ingress` and an `egress` pipeline, and the `standard_metadata` fields the target requires
 * (bmv2 exits with `Field standard_metadata.egress_port is required by switch target` when given
 * such a file on the command line, but accepts it over P4Runtime, docs/p4-target-interfaces.md §4.12). Throws
 * CTO_BMV2_JSON naming the first problem.
 */
export function validateBmv2Json(json: Uint8Array | string | object): void {
  let doc: unknown = json;
  if (typeof json === 'string' || json instanceof Uint8Array) {
    const text = typeof json === 'string' ? json : Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8');
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new Bmv2JsonError(`bmv2 JSON: not JSON: ${(e as Error).message}`);
    }
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Bmv2JsonError('bmv2 JSON: top level is not an object');
  const o = doc as Record<string, unknown>;
  for (const key of ['header_types', 'headers', 'parsers', 'deparsers', 'actions', 'pipelines']) {
    if (!Array.isArray(o[key])) throw new Bmv2JsonError(`bmv2 JSON: '${key}' is missing or not an array (not a bmv2 JSON from p4c-bm2-ss?)`);
  }
  const named = (key: string): Map<string, Record<string, unknown>> => {
    const m = new Map<string, Record<string, unknown>>();
    (o[key] as unknown[]).forEach((x, i) => {
      if (typeof x !== 'object' || x === null || typeof (x as { name?: unknown }).name !== 'string') throw new Bmv2JsonError(`bmv2 JSON: ${key}[${i}] has no name`);
      m.set((x as { name: string }).name, x as Record<string, unknown>);
    });
    return m;
  };
  const pipelines = named('pipelines');
  for (const p of ['ingress', 'egress']) {
    const pl = pipelines.get(p);
    if (!pl) throw new Bmv2JsonError(`bmv2 JSON: no '${p}' pipeline (simple_switch runs ingress and egress)`);
    if (!Array.isArray(pl.tables)) throw new Bmv2JsonError(`bmv2 JSON: pipeline '${p}' has no 'tables' array`);
  }
  if (named('parsers').size === 0) throw new Bmv2JsonError('bmv2 JSON: no parser');
  if (named('deparsers').size === 0) throw new Bmv2JsonError('bmv2 JSON: no deparser');
  const headers = named('headers');
  const types = named('header_types');
  const sm = headers.get('standard_metadata');
  if (!sm) throw new Bmv2JsonError("bmv2 JSON: no 'standard_metadata' header (not a v1model program?)");
  const smType = types.get(String(sm.header_type));
  if (!smType || !Array.isArray(smType.fields)) throw new Bmv2JsonError(`bmv2 JSON: header type '${String(sm.header_type)}' of standard_metadata is missing`);
  const fields = new Set((smType.fields as unknown[]).map((f) => (Array.isArray(f) ? String(f[0]) : '')));
  // The fields simple_switch requires (targets/simple_switch/simple_switch.cpp `required_fields`).
  for (const f of ['ingress_port', 'egress_spec', 'egress_port', 'instance_type', 'packet_length']) {
    if (!fields.has(f)) throw new Bmv2JsonError(`bmv2 JSON: field standard_metadata.${f} is required by simple_switch but is not defined`);
  }
}

/**
 * Let bmv2 itself judge a JSON: start a throw-away simple_switch_grpc with it as the positional
 * program. A bad JSON makes the process exit 1 at once with the reason on stdout (docs/p4-target-interfaces.md §4.12),
 * a good one brings the P4Runtime server up; either way the process is gone on return.
 * Throws CTO_BMV2_JSON with bmv2's reason.
 */
export async function checkBmv2JsonWithSwitch(json: Uint8Array | string, opts: { binary?: string; deadlineMs?: number } = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bmv2chk-'));
  const path = join(dir, 'program.json');
  writeFileSync(path, json);
  try {
    const sw = await Bmv2Switch.start({ binary: opts.binary, json: path, packetIo: 'none', cpuPort: null, dir, keepDir: true, startDeadlineMs: opts.deadlineMs ?? 15_000, logLevel: 'error' });
    await sw.stop();
  } catch (e) {
    if ((e as P4Error).code !== 'CTO_BMV2_EXIT') throw e;
    const tail = (e as Bmv2ExitError).logTail
      .split('\n')
      .filter((l) => !l.startsWith('# '))
      .join('\n')
      .trim();
    throw new Bmv2JsonError(`bmv2 rejects the JSON: ${tail || (e as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** For tests: whether a path exists (the ipc socket file appears when bmv2 binds). */
export function socketPathOf(address: string): string {
  if (!address.startsWith('ipc://')) throw new P4Error('CTO_NANOMSG_ADDRESS', `not an ipc:// address: ${address}`);
  return address.slice('ipc://'.length);
}

export function ipcSocketExists(address: string): boolean {
  return existsSync(socketPathOf(address));
}

/** Read a whole log (for reports). */
export function readLog(sw: Bmv2Switch): string {
  try {
    return readFileSync(sw.logPath, 'utf8');
  } catch {
    return '';
  }
}
