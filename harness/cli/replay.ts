/**
 * `ctoffload replay --policy FILE --pcap FILE|- [--in-port N] [--json] [--trace] [--count N]
 * [--skip N] [--summary] [--target model]`: run every packet of a pcap/pcapng capture through a
 * policy and print one line per packet (index, timestamp, in_port, ct_state/ct_zone/ct_mark/
 * ct_label of the last ct lookup, outputs), or one JSON object per line with --json.
 *
 * The capture is read incrementally (files of any size, a FIFO, `-` for stdin) and rows are
 * written as they are produced, waiting on the output stream's backpressure, so memory is
 * bounded by the connections tracked (model/replay.ts `replayStream`), not by the capture.
 *
 * Targets: `model` (the reference, in process, untraced fast path unless --trace). Other
 * targets plug in through `registerReplayTarget` (the OVS oracle adds `ovs`): a factory
 * returning a harness Target that is driven packet by packet with the same virtual clock. A
 * packet a target refuses (`CTO_OVS_INJECT`: a runt, a frame too large for the oracle) gets
 * the reason on its row and the replay goes on.
 */
import { parseArgs } from 'node:util';
import { CtoffloadError } from '../../model/errors.js';
import type { CaptureReader } from '../../model/packet/capture.js';
import { formatPolicy } from '../../model/pipeline/ast.js';
import {
  type ByteSink,
  type ReplayLoopOptions,
  ReplayStats,
  loadPolicyFile,
  openCapture,
  replayLoop,
  replayStream,
} from '../../model/replay.js';
import type { Verdict } from '../../model/verdict.js';
import { OVS_MAX_FRAME } from '../targets/ovs/limits.js';
import type { Target } from '../targets/target.js';
import { type CliCommand, type CliIo, EXIT_BAD_INPUT, EXIT_OK, EXIT_STATUS_HELP, joinOptionValues, reportError } from './command.js';
import { type SignalScope, ownSignals } from './signals.js';

export const REPLAY_USAGE = `usage: ctoffload replay --policy FILE --pcap FILE [options]

Runs every packet of a capture through a policy and prints one line per packet:
index, timestamp, in_port, ct_state, ct_zone, ct_mark, ct_label (of the packet's last ct
lookup, i.e. the last ct(table=T) it went through; "-" when none) and outputs. Rows are
written as they are produced; the capture is read incrementally (any size, FIFOs, stdin).

  --policy FILE    policy in OVS flow syntax (ovs-ofctl add-flows lines, plus the ctoffload
                   directives timeout_policy / zone_limit / ipf)
  --pcap FILE      capture (pcap or pcapng; "-" reads standard input); packet timestamps
                   drive the conntrack clock
  --in-port N      ingress port for every packet (default: the capture's port: the pcapng
                   interface; a classic pcap has none, so the model uses 0 and other
                   targets require --in-port)
  --json           one JSON object per packet (JSON Lines) with all lookups
  --trace          the traced pipeline: each row adds every ct() call (ct_calls in JSON)
                   and the step-by-step trace (model target; slower)
  --count N        replay at most N packets
  --skip N         leave out the first N packets (the tracker starts empty at packet N+1;
                   rows keep the capture's packet numbers)
  --summary        instead of per-packet rows, print a summary: packets by ct_state and by
                   ct_zone, connections created/removed (model), rate (JSON with --json)
  --target NAME    model (default), ovs (Open vSwitch 3.1's own conntrack, run privately
                   with the dummy datapath) or bmv2 (generated offload program + controller)
  -h, --help       this text

Progress is shown on standard error when it is a terminal. Ctrl-C (SIGINT) or SIGTERM stops
the replay before its next packet: the rows so far are whole, --summary says "interrupted", the
target is closed, exit 130/143.

--target ovs limits (Open vSwitch's own, reported on the packet's row, the replay goes on):
frames under 14 bytes cannot be injected (netdev-dummy/receive); frames over
${OVS_MAX_FRAME} bytes cannot come back in an OpenFlow packet-in (16-bit message length). The dummy
ports' MTU is raised to 65535 so that OVS outputs every frame the model outputs.

${EXIT_STATUS_HELP}`;

export class CliTargetError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_CLI_TARGET', message);
  }
}

/** A non-model replay target: builds a Target (harness/targets/target.ts) for one run. */
export type ReplayTargetFactory = () => Promise<Target>;
const targets = new Map<string, ReplayTargetFactory>([
  // Open vSwitch 3.1's own userspace conntrack (ovs-vswitchd --enable-dummy in a private run dir);
  // it reads the policy with the model's parser (the one home of the policy syntax).
  // Targets are imported when asked for, so a model replay starts without them.
  ['ovs', async () => (await import('../targets/ovs/index.js')).OvsTarget.create()],
  // The generated offload program on bmv2 + the slow-path controller (status.ts registers the same).
  ['bmv2', async () => (await import('../targets/bmv2/index.js')).createBmv2Target()],
]);

/** Extension point: later work registers `ovs` (and `bmv2`) here. */
export function registerReplayTarget(name: string, factory: ReplayTargetFactory): void {
  targets.set(name, factory);
}

/** Targets known by name but provided by later work: a clear message instead of "unknown". */
const PLANNED: Record<string, string> = {
};

/** Target errors that concern one packet only: the target stays usable, the row says why. */
const PACKET_ERRORS = new Set(['CTO_OVS_INJECT']);

function packetError(e: unknown): string | null {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && PACKET_ERRORS.has(code) ? (e as Error).message : null;
}

/** One packet through a target: its Verdict, or the reason it refused this packet. */
async function sendOne(t: Target, time: number, port: number, frame: Uint8Array): Promise<Verdict | string> {
  try {
    return await t.send({ time, port, frame });
  } catch (e) {
    const msg = packetError(e);
    if (msg === null) throw e;
    return msg;
  }
}

export interface TargetStreamOptions extends ReplayLoopOptions {}

/**
 * Streams a capture through a loaded target: the one replay loop (model/replay.ts
 * `replayLoop`: clock, skip/count, rows, statistics, stop signal) with one awaited send per
 * packet (each frame copied, since the reader's window moves on), up to the target's
 * `maxTimeMs`. `replay --target` and `status` run it.
 */
export function replayTargetStream(t: Target, reader: CaptureReader, sink: ByteSink, opts: TargetStreamOptions = {}): Promise<ReplayStats> {
  const maxTimeMs = opts.maxTimeMs ?? t.maxTimeMs;
  return replayLoop(reader, sink, (frame, port, now) => sendOne(t, now, port, frame.slice()), {
    ...opts,
    ...(maxTimeMs !== undefined ? { maxTimeMs } : {}),
    engine: `--target ${t.name}`,
  });
}

function parseCount(name: string, s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new CliTargetError(`--${name}: "${s}" is not a non-negative integer`);
  return Number(s);
}

function parsePort(s: string): number {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(s) || Number(s) > 0xffffffff) throw new CliTargetError(`--in-port: "${s}" is not a port number (0..4294967295)`);
  return Number(s);
}

/** Rows to standard output: the byte stream with its backpressure, else the string callback. */
function outputSink(io: CliIo): { sink: ByteSink; closed: () => boolean; reuse: boolean } {
  const stream = io.outStream;
  if (!stream) return { sink: (b) => io.out(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')), closed: () => false, reuse: true };
  let broken = false;
  let failure: Error | null = null;
  // A reader that goes away (`| head`) ends the replay quietly, as for any Unix filter.
  const onError = (e: NodeJS.ErrnoException): void => {
    if (e.code === 'EPIPE') broken = true;
    else failure = e;
  };
  stream.on('error', onError);
  // Standard output hands each chunk to the kernel before its write callback (a file or a pipe:
  // written at once; a socket: when libuv's write completes), so once the callback ran the
  // chunk's memory can hold later rows (ReplayLoopOptions.reuseChunks). Any other stream may
  // keep the chunk it was given: it gets fresh chunks and only its backpressure is awaited.
  if (stream === process.stdout) {
    const sink: ByteSink = (b) => {
      if (failure) throw failure;
      if (broken) throw new ReplayStopped();
      return new Promise<void>((res) => void stream.write(b, () => res()));
    };
    return { sink, closed: () => broken, reuse: true };
  }
  const sink: ByteSink = (b) => {
    if (failure) throw failure;
    if (broken) throw new ReplayStopped();
    if (!stream.write(b)) {
      return new Promise<void>((res) => {
        const done = (): void => {
          stream.off('drain', done);
          stream.off('error', done);
          res();
        };
        stream.once('drain', done);
        stream.once('error', done);
      });
    }
  };
  return { sink, closed: () => broken, reuse: false };
}

class ReplayStopped extends Error {}

/** A throttled progress line on standard error (only when it is a terminal). */
function progress(io: CliIo, started: number): { tick: (n: number) => void; end: () => void } {
  if (!io.errIsTTY) return { tick: () => {}, end: () => {} };
  let last = started;
  let shown = false;
  return {
    tick: (n) => {
      const t = Date.now();
      if (t - last < 1000) return;
      last = t;
      shown = true;
      io.err(`\r${n.toLocaleString('en-US')} packets, ${Math.round(n / ((t - started) / 1000)).toLocaleString('en-US')} packets/s `);
    },
    end: () => {
      if (shown) io.err('\r\x1b[K');
    },
  };
}

export async function runReplay(argv: string[], io: CliIo, hooks: { signal?: AbortSignal } = {}): Promise<number> {
  let reader: CaptureReader | null = null;
  let sig: SignalScope | null = null;
  try {
    const { values } = parseArgs({
      args: joinOptionValues(argv, ['--in-port']),
      strict: true,
      allowPositionals: false,
      options: {
        policy: { type: 'string' },
        pcap: { type: 'string' },
        'in-port': { type: 'string' },
        json: { type: 'boolean', default: false },
        trace: { type: 'boolean', default: false },
        count: { type: 'string' },
        skip: { type: 'string' },
        summary: { type: 'boolean', default: false },
        target: { type: 'string', default: 'model' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      io.out(REPLAY_USAGE);
      return EXIT_OK;
    }
    if (!values.policy || !values.pcap) {
      io.err(`ctoffload replay: ${!values.policy ? '--policy' : '--pcap'} is required\n${REPLAY_USAGE}`);
      return EXIT_BAD_INPUT;
    }
    const inPort = values['in-port'] === undefined ? undefined : parsePort(values['in-port']);
    const count = parseCount('count', values.count);
    const skip = parseCount('skip', values.skip);
    const target = values.target!;
    const factory = target === 'model' ? null : targets.get(target);
    if (factory === undefined) {
      const avail = ['model', ...targets.keys()].join(', ');
      throw new CliTargetError(PLANNED[target] ? `--target ${target}: ${PLANNED[target]}` : `--target ${target}: unknown target (available: ${avail})`);
    }
    // From here on SIGINT/SIGTERM belong to this command (harness/cli/signals.ts): the first one
    // stops the replay before its next packet, the rows so far are written whole, the summary
    // says "interrupted", the target is closed (its processes and run directory go), and the
    // exit status is 130/143. A second one exits at once.
    sig = ownSignals('replay', io, hooks.signal);
    const policy = await loadPolicyFile(values.policy);
    reader = await openCapture(values.pcap);
    if (factory && !reader.hasPorts && inPort === undefined) {
      throw new CliTargetError(`${reader.file}: a classic pcap records no ingress port; give --in-port N for --target ${target}`);
    }
    for (const w of policy.warnings) io.err(`ctoffload replay: warning: ${values.policy}:${w.pos.line}:${w.pos.column}: ${w.message}\n`);
    const { sink, closed, reuse } = outputSink(io);
    const started = Date.now();
    const prog = progress(io, started);
    const common = { json: values.json, rows: !values.summary, skip, count, onProgress: prog.tick, inPort, signal: sig.signal, reuseChunks: reuse };
    let stats: ReplayStats;
    try {
      if (!factory) {
        stats = await replayStream(policy, reader, sink, { ...common, trace: values.trace, countConnections: values.summary });
      } else {
        const t = await factory();
        try {
          // Targets get the policy as parsed (directives included), so they see the same flows.
          await t.load({ text: formatPolicy(policy), source: values.policy });
          stats = await replayTargetStream(t, reader, sink, common);
        } finally {
          await t.close();
        }
      }
    } catch (e) {
      prog.end();
      if (e instanceof ReplayStopped || closed()) return EXIT_OK;
      throw e;
    }
    prog.end();
    const stoppedBy = stats.stopped || sig.signal.aborted ? sig.received() ?? 'SIGINT' : null;
    if (values.summary) {
      const secs = (Date.now() - started) / 1000;
      const rate = secs > 0 ? Math.round(stats.packets / secs) : 0;
      if (values.json) io.out(`${JSON.stringify(stats.toJSON({ wall_s: secs, packets_per_s: rate, ...(stoppedBy ? { interrupted: stoppedBy } : {}) }))}\n`);
      else {
        const extra: [string, string][] = [['wall time', `${secs.toFixed(3)} s`], ['rate', `${rate} packets/s`]];
        if (stoppedBy) extra.push(['interrupted', `by ${stoppedBy} after ${stats.packets} packets (the counts above cover those)`]);
        io.out(stats.toText(extra));
      }
    }
    return stoppedBy ? sig.exitCode() : EXIT_OK;
  } catch (e) {
    return reportError('replay', e, io);
  } finally {
    await reader?.close();
    sig?.release();
  }
}

export const replayCommand: CliCommand = {
  name: 'replay',
  summary: 'run a capture through a policy, one line per packet (ct_state, outputs)',
  run: (argv, io) => runReplay(argv, io),
};
