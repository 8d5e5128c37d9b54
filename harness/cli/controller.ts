/**
 * `ctoffload controller --policy FILE --p4runtime HOST:PORT [options]`: the slow-path controller
 * as a long-running daemon for a P4Runtime target running the generated program (bmv2
 * `simple_switch_grpc` here). A thin layer over offload/daemon/ (what it does, and why, is
 * documented there): this file reads the inputs, builds the program (p4c, or `--artifacts`),
 * logs one line per event to stderr, serves `--metrics`, and maps signals and failures to
 * exit codes.
 *
 * Exit codes (the project-wide scheme): 0 clean stop (SIGTERM/SIGINT), 2 usage or input error
 * (the message names the option or the file and line), 3 target/environment failure (switch
 * unreachable or unusable within --connect-timeout, p4c missing, metrics address taken, on-exit
 * flush incomplete), 4 internal error. Never a stack trace for 2 or 3.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CtoffloadError } from '../../model/errors.js';
import { ControllerDaemon, compileOffload, ctTableNames, policyTableNames, daemonRegistry, parseConfigJson, programShape, resolveConfig, serveMetrics, type DaemonEnd, type DaemonProgram, type LogLevel, type MetricsServer, type OffloadConfig, type OnExit, type PipelineMode } from '../../offload/index.js';
import { P4InfoIndex, compileP4, validateBmv2Json } from '../../p4/index.js';
import { parseEntriesJson } from '../targets/bmv2/index.js';
import { type CliCommand, type CliIo, EXIT_OK, defaultIo } from './command.js';

/** Project-wide exit codes (0 agree/ok, 1 disagree, 2 usage/input, 3 target/environment, 4 internal). */
export const EXIT_USAGE = 2;
export const EXIT_TARGET = 3;
export const EXIT_INTERNAL = 4;

export const CONTROLLER_USAGE = `usage: ctoffload controller --policy FILE --p4runtime HOST:PORT [options]

Runs the slow-path controller as a daemon for a P4Runtime target running the generated
offload program (bmv2 simple_switch_grpc): pushes the pipeline (or attaches to the same one
already loaded, keeping its tables), installs the static entries, serves PacketIns with the
reference model, ages connections from the hardware's direct counters and idle-timeout
notifications on the wall clock, and survives switch restarts and lost streams (reconnects,
re-arbitrates, re-pushes the pipeline if the switch lost it, writes every connection back).

  --policy FILE           policy in OVS flow syntax (what the model runs)
  --p4runtime HOST:PORT   P4Runtime server of the switch (bmv2: --grpc-server-addr)
  --device-id N           P4Runtime device id (bmv2 --device-id; default 1, never 0)
  --election-id HI,LO     128-bit election id as two 64-bit halves, or one number (LO);
                          default 1,0 (2^64: above p4runtime-shell's default (0,1), so a
                          shell can still attach as a backup)
  --config FILE           offload configuration (JSON, as for 'ctoffload generate')
  --artifacts DIR         use the prebuilt program of 'ctoffload generate --out DIR'
                          (ctoffload.json, ctoffload.p4info.bin, ctoffload.entries.json,
                          and the manifest's config unless --config) instead of running p4c
  --pipeline MODE         auto (default): attach when the switch runs this program (same
                          P4Info and cookie or bmv2 JSON), else push; push: always push
                          (empties every table); attach: never push (exit 3 if it differs)
  --poll-interval MS      model clock / direct-counter poll period (default 1000: bmv2
                          sweeps idle entries once a second, polling faster finds nothing)
  --connect-timeout MS    deadline to (re)establish a usable session, at start and after
                          each loss (default 30000); the model clock is paused meanwhile
  --backoff-max MS        session retries back off from 100 ms doubling up to this (2000)
  --rpc-timeout MS        deadline of each P4Runtime RPC (default 10000)
  --on-exit keep|flush    on SIGTERM/SIGINT: keep (default) leaves the conntrack entries in
                          hardware, where they keep forwarding their connections; a later
                          controller deletes the ones the switch reports idle (idle timeout).
                          flush deletes every conntrack entry this controller installed
  --stop-timeout MS       deadline of the stop, flush included (default 10000)
  --metrics HOST:PORT     serve Prometheus metrics at http://HOST:PORT/metrics (default off;
                          no authentication: use a loopback address such as 127.0.0.1:9464;
                          port 0 picks a free port, logged at start)
  --tcp-seq-check         TCP sequence checks in the slow path's model (default off: OVS
                          ct-disable-tcp-seq-chk semantics, the hardware cannot check them)
  --log-level LEVEL       error, warn, info (default) or debug; one line per event on stderr
  --watch                 reload --policy whenever the file changes (as SIGHUP does)
  -h, --help              this text

Policy change: SIGHUP (or, with --watch, a change of the file) reads --policy again. It is
validated first (parsed and compiled; errors name the file, line and column; p4c when the
program's shape changes) and an invalid one leaves the running policy in place, logged
with the reason. A valid one is applied under the live connections: when the generated
program is the same only the policy tables' difference is written, otherwise the new
pipeline is pushed and every entry written again (refused with --artifacts); every offloaded
connection is revalidated against the new policy, its conntrack entries rewritten or removed
so that no packet is decided in hardware by a rule that no longer exists. Connections stay tracked, as OVS keeps its conntrack across flow
changes. Metrics: policy_reloads_total{outcome}, connections_revalidated_total,
revalidation_entries_removed_total, revalidation_entries_rewritten_total.

Exit status: 0 stopped by SIGTERM/SIGINT (entries handled as --on-exit says); 1 never (the
daemon compares nothing); 2 usage or input error (bad option, unreadable file, policy or
config error: the message names it); 3 target/environment failure (switch unreachable, not
primary or unusable within --connect-timeout, p4c missing, metrics address in use, flush
incomplete); 4 internal error. A signal is a requested stop, so 0 rather than 130 or 143; a
second SIGTERM/SIGINT during the stop exits at once with 3. (docs/exit-codes.md)
`;

/** A bad option value: exit 2 with the option named. */
class UsageError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_USAGE', message);
  }
}

const LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

interface Args {
  policy: string;
  address: string;
  deviceId: bigint;
  electionId: { high: bigint; low: bigint };
  config?: string;
  artifacts?: string;
  pipeline: PipelineMode;
  pollIntervalMs: number;
  connectTimeoutMs: number;
  backoffMaxMs: number;
  rpcTimeoutMs: number;
  onExit: OnExit;
  stopTimeoutMs: number;
  metrics?: { host: string; port: number };
  tcpSeqCheck: boolean;
  logLevel: LogLevel;
  watch: boolean;
}

const U64 = (1n << 64n) - 1n;

function uint(opt: string, v: string, min: bigint, max: bigint): bigint {
  if (!/^\d+$/.test(v)) throw new UsageError(`${opt}: "${v}" is not a non-negative integer`);
  const n = BigInt(v);
  if (n < min || n > max) throw new UsageError(`${opt}: ${v} is out of range (${min}..${max})`);
  return n;
}

function ms(opt: string, v: string | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  return Number(uint(opt, v, BigInt(min), 86_400_000n));
}

/** `host:port`, `[v6]:port`; port in [minPort, 65535]. */
export function parseHostPort(opt: string, v: string, minPort = 1): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(v);
  if (!m) throw new UsageError(`${opt}: "${v}" is not HOST:PORT (e.g. 127.0.0.1:9559, [::1]:9559)`);
  const port = Number(m[3]);
  if (port < minPort || port > 65535) throw new UsageError(`${opt}: port ${port} is out of range (${minPort}..65535)`);
  return { host: m[1] ?? m[2]!, port };
}

function oneOf<T extends string>(opt: string, v: string | undefined, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`${opt}: "${v}" is not one of ${allowed.join(', ')}`);
  return v as T;
}

/** Parse argv; `'help'` for -h/--help. Throws UsageError / ERR_PARSE_ARGS_* (exit 2). */
export function parseControllerArgs(argv: string[]): Args | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      policy: { type: 'string' },
      p4runtime: { type: 'string' },
      'device-id': { type: 'string' },
      'election-id': { type: 'string' },
      config: { type: 'string' },
      artifacts: { type: 'string' },
      pipeline: { type: 'string' },
      'poll-interval': { type: 'string' },
      'connect-timeout': { type: 'string' },
      'backoff-max': { type: 'string' },
      'rpc-timeout': { type: 'string' },
      'on-exit': { type: 'string' },
      'stop-timeout': { type: 'string' },
      metrics: { type: 'string' },
      'tcp-seq-check': { type: 'boolean', default: false },
      watch: { type: 'boolean', default: false },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  if (!values.policy) throw new UsageError('--policy FILE is required');
  if (!values.p4runtime) throw new UsageError('--p4runtime HOST:PORT is required');
  parseHostPort('--p4runtime', values.p4runtime);
  let electionId = { high: 1n, low: 0n };
  const e = values['election-id'];
  if (e !== undefined) {
    const parts = e.split(',');
    if (parts.length > 2) throw new UsageError(`--election-id: "${e}" is not HI,LO or a number`);
    electionId = parts.length === 2 ? { high: uint('--election-id (HI)', parts[0]!, 0n, U64), low: uint('--election-id (LO)', parts[1]!, 0n, U64) } : { high: 0n, low: uint('--election-id', parts[0]!, 0n, U64) };
  }
  const a: Args = {
    policy: values.policy,
    address: values.p4runtime,
    deviceId: values['device-id'] === undefined ? 1n : uint('--device-id', values['device-id'], 1n, U64),
    electionId,
    pipeline: oneOf('--pipeline', values.pipeline, ['auto', 'push', 'attach'] as const, 'auto'),
    pollIntervalMs: ms('--poll-interval', values['poll-interval'], 1000, 10),
    connectTimeoutMs: ms('--connect-timeout', values['connect-timeout'], 30_000),
    backoffMaxMs: ms('--backoff-max', values['backoff-max'], 2000, 100),
    rpcTimeoutMs: ms('--rpc-timeout', values['rpc-timeout'], 10_000, 100),
    onExit: oneOf('--on-exit', values['on-exit'], ['keep', 'flush'] as const, 'keep'),
    stopTimeoutMs: ms('--stop-timeout', values['stop-timeout'], 10_000),
    tcpSeqCheck: values['tcp-seq-check'] ?? false,
    watch: values.watch ?? false,
    logLevel: oneOf('--log-level', values['log-level'], ['error', 'warn', 'info', 'debug'] as const, 'info'),
  };
  if (values.config !== undefined) a.config = values.config;
  if (values.artifacts !== undefined) a.artifacts = values.artifacts;
  if (values.metrics !== undefined) a.metrics = parseHostPort('--metrics', values.metrics, 0);
  return a;
}

function readInput(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UsageError(`${what} ${file}: cannot read: ${err.code ?? err.message}`);
  }
}

/** The offload configuration: --config, else the --artifacts manifest's, else the defaults. */
function loadConfig(a: Args): OffloadConfig {
  if (a.config) return parseConfigJson(readInput(a.config, '--config').toString('utf8'), a.config);
  if (a.artifacts) {
    const mf = join(a.artifacts, 'ctoffload.manifest.json');
    let m: { config?: unknown };
    try {
      m = JSON.parse(readInput(mf, '--artifacts').toString('utf8')) as { config?: unknown };
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`--artifacts ${mf}: not valid JSON: ${(e as Error).message}`);
    }
    return resolveConfig(m.config ?? {}, mf);
  }
  return resolveConfig({});
}

/** The running program and the P4 source it was generated as (a policy change compares them). */
interface Loaded {
  program: DaemonProgram;
  p4: string;
}

/** The program to run: the policy compiled (p4c), or the prebuilt files of --artifacts. */
async function loadProgram(a: Args, cfg: OffloadConfig, policyText: string): Promise<Loaded> {
  // The plan (connection entries, table names) always comes from the policy and the config.
  const prog = compileOffload(policyText, a.policy, cfg);
  if (a.artifacts) {
    const dir = a.artifacts;
    const json = readInput(join(dir, 'ctoffload.json'), '--artifacts');
    validateBmv2Json(json);
    let p4info: P4InfoIndex;
    try {
      p4info = P4InfoIndex.from(readInput(join(dir, 'ctoffload.p4info.bin'), '--artifacts'));
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`--artifacts ${join(dir, 'ctoffload.p4info.bin')}: ${(e as Error).message}`);
    }
    const entries = parseEntriesJson(readInput(join(dir, 'ctoffload.entries.json'), '--artifacts').toString('utf8'), join(dir, 'ctoffload.entries.json'));
    // The connection entries come from the policy's plan: the prebuilt program must have its tables.
    for (const t of [...ctTableNames(prog.plan), ...policyTableNames(prog.plan)]) {
      try {
        p4info.table(t);
      } catch {
        throw new UsageError(`--artifacts ${join(dir, 'ctoffload.p4info.bin')}: no table ${t}, which ${a.policy} needs (generated from another policy or config?)`);
      }
    }
    return { program: { plan: prog.plan, json, p4info, entries }, p4: prog.p4 };
  }
  return compiledWithP4c(prog);
}

/**
 * The program of a new policy, validated before anything changes (SIGHUP): parsed and compiled
 * (errors name the file, line and column); the running pipeline reused when the generated P4
 * has the same shape (`programShape`: only the policy tables change), else compiled with p4c (and refused with
 * --artifacts, whose program is fixed).
 */
async function reloadProgram(a: Args, cfg: OffloadConfig, running: Loaded, policyText: string): Promise<Loaded> {
  const prog = compileOffload(policyText, a.policy, cfg);
  if (programShape(prog.p4) === programShape(running.p4)) return { program: { plan: prog.plan, json: running.program.json, p4info: running.program.p4info, entries: prog.entries }, p4: prog.p4 };
  if (a.artifacts) throw new UsageError(`${a.policy} needs another program than --artifacts ${a.artifacts} (its tables or their shape differ): regenerate the artifacts and restart`);
  return compiledWithP4c(prog);
}

/** The generated program compiled by p4c, at start-up and on a reload whose shape changed. */
async function compiledWithP4c(prog: ReturnType<typeof compileOffload>): Promise<Loaded> {
  let r: Awaited<ReturnType<typeof compileP4>>;
  try {
    r = await compileP4({ source: prog.p4, name: 'ctoffload.p4' });
  } catch (e) {
    // The generated program is ours, not the user's: p4c missing or rejecting it is the environment's.
    throw Object.assign(new CtoffloadError('CTO_DAEMON_TARGET', `p4c: ${(e as Error).message}`), { environment: true });
  }
  return { program: { plan: prog.plan, json: r.json, p4info: P4InfoIndex.from(r.p4info), entries: prog.entries }, p4: prog.p4 };
}

/**
 * SIGHUP → read --policy again and apply it (one at a time; a SIGHUP during a reload runs one
 * more afterwards). One log line either way; an invalid or refused policy leaves the running one.
 */
function policyReloader(a: Args, cfg: OffloadConfig, loaded: Loaded, initialText: string, d: ControllerDaemon, log: (lvl: LogLevel, msg: string) => void): (onlyIfChanged?: boolean) => void {
  let running = loaded;
  let busy = false;
  let again = false;
  let force = false;
  /** The text last tried: a watched file's events (several per save) reload once per content. */
  let lastText = initialText;
  const once = async (onlyIfChanged: boolean): Promise<void> => {
    let text: string;
    let next: Loaded;
    try {
      text = readInput(a.policy, '--policy').toString('utf8');
      if (onlyIfChanged && text === lastText) return;
      lastText = text;
      if (onlyIfChanged) log('info', `${a.policy} changed: reloading`);
      next = await reloadProgram(a, cfg, running, text);
    } catch (e) {
      d.noteRejectedPolicy();
      log('error', `policy reload from ${a.policy} rejected: ${(e as Error).message}; the running policy stays`);
      return;
    }
    try {
      const r = await d.replacePolicy(next.program, { text, source: a.policy });
      running = next;
      log(
        'info',
        `policy reloaded from ${a.policy} (pipeline ${r.pipeline}, ${r.ms.toFixed(0)} ms): ${r.revalidated} connection(s) revalidated, ${r.entriesRemoved} conntrack entr${r.entriesRemoved === 1 ? 'y' : 'ies'} removed, ${r.entriesRewritten + r.entriesAdded} rewritten; policy tables ${r.static.inserted} inserted, ${r.static.modified} modified, ${r.static.deleted} deleted`,
      );
    } catch (e) {
      log('error', `policy reload from ${a.policy} failed: ${(e as Error).message}; the running policy stays`);
    }
  };
  const run = (onlyIfChanged = false): void => {
    if (busy) {
      again = true;
      force ||= !onlyIfChanged;
      return;
    }
    busy = true;
    void (async () => {
      let changedOnly = onlyIfChanged;
      for (;;) {
        await once(changedOnly);
        if (!again) break;
        again = false;
        changedOnly = !force;
        force = false;
      }
    })().finally(() => (busy = false));
  };
  return run;
}

/** One line per event on stderr: `<ISO time> <level> <message>`; floods are summarised. */
function makeLogger(level: LogLevel, io: CliIo): (lvl: LogLevel, msg: string) => void {
  const max = LEVELS[level];
  let second = 0;
  let lines = 0;
  let suppressed = 0;
  const emit = (lvl: LogLevel, msg: string): void => io.err(`${new Date().toISOString()} ${lvl.padEnd(5)} ${msg.replace(/\s*\n\s*/g, ' | ')}\n`);
  return (lvl, msg) => {
    if (LEVELS[lvl] > max) return;
    const s = Math.floor(Date.now() / 1000);
    if (s !== second) {
      if (suppressed) emit('warn', `${suppressed} log line(s) suppressed in the last second`);
      second = s;
      lines = 0;
      suppressed = 0;
    }
    // At most 50 lines a second (a full table logs every refused INSERT): errors always pass.
    if (++lines > 50 && lvl !== 'error') {
      suppressed++;
      return;
    }
    emit(lvl, msg);
  };
}

function exitCodeOf(e: unknown): number {
  const err = e as { code?: unknown; environment?: boolean; syscall?: string };
  if (typeof err?.code === 'string') {
    if (err.code.startsWith('ERR_PARSE_ARGS')) return EXIT_USAGE;
    if (err.code === 'CTO_DAEMON_TARGET' || err.code === 'CTO_TOOL_MISSING' || err.code === 'CTO_P4C_COMPILE') return EXIT_TARGET;
    if (err.code.startsWith('CTO_')) return EXIT_USAGE;
    // Node system errors (listen EADDRINUSE, EACCES…): the environment.
    if (err.syscall) return EXIT_TARGET;
  }
  return EXIT_INTERNAL;
}

function report(e: unknown, io: CliIo): number {
  const code = exitCodeOf(e);
  const err = e as Error;
  if (code === EXIT_INTERNAL) io.err(`ctoffload controller: internal error: ${err?.stack ?? String(e)}\n`);
  else io.err(`ctoffload controller: ${err?.message ?? String(e)}${code === EXIT_USAGE && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? "\nTry 'ctoffload controller --help'." : ''}\n`);
  return code;
}

export async function runController(argv: string[], io: CliIo = defaultIo): Promise<number> {
  let a: Args;
  try {
    const p = parseControllerArgs(argv);
    if (p === 'help') {
      io.out(CONTROLLER_USAGE);
      return EXIT_OK;
    }
    a = p;
  } catch (e) {
    return report(e, io);
  }
  const log = makeLogger(a.logLevel, io);
  let metrics: MetricsServer | undefined;
  let daemon: ControllerDaemon | undefined;
  const signals: [NodeJS.Signals, () => void][] = [];
  // SIGHUP reloads the policy (see --help); taken from the start so that one sent while the
  // program is still being built does not end the process (Node's default for SIGHUP).
  let reload: ((onlyIfChanged?: boolean) => void) | undefined;
  let watcher: FSWatcher | undefined;
  const hup = (): void => {
    if (!reload || daemon?.status().state === 'starting') {
      log('warn', 'SIGHUP while starting: ignored (send it again once the daemon is serving)');
      return;
    }
    log('info', `SIGHUP received: reloading ${a.policy}`);
    reload();
  };
  signals.push(['SIGHUP', hup]);
  process.on('SIGHUP', hup);
  try {
    const policyText = readInput(a.policy, '--policy').toString('utf8');
    const cfg = loadConfig(a);
    const loaded = await loadProgram(a, cfg, policyText);
    const program = loaded.program;
    const host = parseHostPort('--p4runtime', a.address);
    daemon = new ControllerDaemon({
      program,
      policy: { text: policyText, source: a.policy },
      address: `${host.host.includes(':') ? `[${host.host}]` : host.host}:${host.port}`,
      deviceId: a.deviceId,
      electionId: a.electionId,
      pipeline: a.pipeline,
      pollIntervalMs: a.pollIntervalMs,
      connectTimeoutMs: a.connectTimeoutMs,
      backoffMaxMs: a.backoffMaxMs,
      rpcTimeoutMs: a.rpcTimeoutMs,
      tcpSeqCheck: a.tcpSeqCheck,
      log,
    });
    const d = daemon;
    if (a.metrics) {
      metrics = await serveMetrics(daemonRegistry(() => d.status()), a.metrics.host, a.metrics.port);
      log('info', `metrics at ${metrics.url}`);
    }
    // A signal stops the daemon (also while it is still connecting); a second one exits at once.
    let interrupted: ((code: number) => void) | undefined;
    const forced = new Promise<number>((r) => (interrupted = r));
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      const h = (): void => {
        if (d.status().state === 'stopping') {
          log('error', `${sig} again: exiting without finishing the stop`);
          interrupted!(EXIT_TARGET);
          return;
        }
        log('info', `${sig} received`);
        void d.stop(a.onExit, a.stopTimeoutMs);
      };
      signals.push([sig, h]);
      process.on(sig, h);
    }
    reload = policyReloader(a, cfg, loaded, policyText, d, log);
    if (a.watch) {
      // The directory, not the file: editors and `mv` replace the file (a new inode).
      const name = basename(a.policy);
      const r = reload;
      watcher = watch(dirname(resolve(a.policy)), (_ev, f) => {
        if (f === name && d.status().state !== 'starting') r(true);
      });
      watcher.on('error', (e) => log('warn', `--watch ${a.policy}: ${e.message}; send SIGHUP to reload`));
      log('info', `watching ${a.policy} for changes`);
    }
    const started = d.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    const startErr = await Promise.race([started, d.done.then(() => undefined)]);
    if (startErr) throw startErr;
    const end: DaemonEnd | number = await Promise.race([d.done, forced]);
    if (typeof end === 'number') return end;
    if (end.how === 'failed') {
      if (end.error) throw end.error;
      return EXIT_TARGET;
    }
    return end.incomplete ? EXIT_TARGET : EXIT_OK;
  } catch (e) {
    if (daemon && daemon.status().state !== 'stopped') await daemon.stop('keep', 2000).catch(() => undefined);
    return report(e, io);
  } finally {
    for (const [sig, h] of signals) process.off(sig, h);
    watcher?.close();
    await metrics?.close();
    // The real process ends now even if a library still holds a handle (a gRPC channel in
    // backoff); in-process callers (tests) keep their process.
    if (io === defaultIo) setTimeout(() => process.exit(), 2000).unref();
  }
}

export const controllerCommand: CliCommand = {
  name: 'controller',
  summary: 'run the slow-path controller as a daemon for a P4Runtime switch (bmv2)',
  run: runController,
};
