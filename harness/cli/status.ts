/**
 * `ctoffload status --policy FILE --pcap FILE [--config FILE] [--artifacts DIR] [--in-port N]`:
 * run a capture through the offload (generated program on bmv2 + slow-path controller) and
 * print the controller's counters as JSON: connections offloaded now, punts by reason, entry
 * writes (insert/modify/delete), failures (write, table full, ALREADY_EXISTS, NOT_FOUND,
 * malformed PacketIns), table-full / slow-path-only connections, ageing, and the target's
 * attribution counters.
 *
 * `ctoffload status --metrics-url URL` instead shows a running `ctoffload controller` daemon:
 * it scrapes the daemon's Prometheus endpoint (`controller --metrics HOST:PORT`) and prints its
 * `ctoffload_controller_*` values as one JSON object (the same counters as
 * `SlowPathController.status()`, plus the daemon's sessions). `curl URL` shows the raw text.
 *
 * Importing this module also registers `--target bmv2` for `ctoffload replay`.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadPolicyFile, openCapture } from '../../model/replay.js';
import { createBmv2Target } from '../targets/bmv2/index.js';
import { type CliCommand, type CliIo, EXIT_BAD_INPUT, EXIT_OK, EXIT_STATUS_HELP, joinOptionValues } from './command.js';
import { runOwningSignals, stopBeforeNextPacket, type SignalScope } from './signals.js';
import { errnoText } from '../../model/errors.js';
import { parseConfigJson } from '../../offload/config.js';
import { CliTargetError, registerReplayTarget, replayTargetStream } from './replay.js';

registerReplayTarget('bmv2', () => createBmv2Target());

export const STATUS_USAGE = `usage: ctoffload status --policy FILE --pcap FILE [options]
       ctoffload status --metrics-url URL

Runs a capture through the offload (generated program on bmv2 simple_switch_grpc + slow-path
controller) and prints the controller's counters as one JSON object; or, with --metrics-url,
prints the counters of a running 'ctoffload controller' daemon (its --metrics endpoint, e.g.
http://127.0.0.1:9464/metrics) as one JSON object (exit 3 if it cannot be scraped).

  --policy FILE     policy in OVS flow syntax
  --pcap FILE       capture (pcap or pcapng); timestamps drive the controller's clock
  --config FILE     offload configuration (JSON, as for ctoffload generate)
  --artifacts DIR   use a prebuilt observation build (what ctoffload generate --probe --out DIR writes)
  --in-port N       ingress port for every packet (default: the capture's port; 0 for pcap)
  --metrics-url URL a running controller daemon's metrics endpoint (instead of the above)
  -h, --help        this text

Ctrl-C or SIGTERM stops before the next packet, closes the switch and exits 130/143 without
printing counters.

${EXIT_STATUS_HELP}`;

/**
 * Owns SIGINT/SIGTERM from the first line (harness/cli/signals.ts): a signal during start-up or
 * mid-capture stops before the next packet, closes the switch and exits 130/143 with no counters
 * printed (they would describe a capture that was not run). `external` stands for the signal in
 * tests.
 */
export function runStatus(argv: string[], io: CliIo, external?: AbortSignal): Promise<number> {
  return runOwningSignals('status', io, (sig) => statusBody(argv, io, sig), external);
}

async function statusBody(argv: string[], io: CliIo, sig: SignalScope): Promise<number> {
  const { values } = parseArgs({
    args: joinOptionValues(argv, ['--in-port']),
    strict: true,
    allowPositionals: false,
    options: {
      policy: { type: 'string' },
      pcap: { type: 'string' },
      config: { type: 'string' },
      artifacts: { type: 'string' },
      'in-port': { type: 'string' },
      'metrics-url': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.out(STATUS_USAGE);
    return EXIT_OK;
  }
  if (values['metrics-url'] !== undefined) return await daemonStatus(values['metrics-url'], io, sig.signal);
  if (!values.policy || !values.pcap) {
    io.err(`ctoffload status: --policy and --pcap are required\n${STATUS_USAGE}`);
    return EXIT_BAD_INPUT;
  }
  const inPort = values['in-port'] === undefined ? undefined : /^\d+$/.test(values['in-port']) ? Number(values['in-port']) : NaN;
  if (inPort !== undefined && !(Number.isInteger(inPort) && inPort >= 0 && inPort <= 510)) throw new CliTargetError(`--in-port: "${values['in-port']}" is not a bmv2 port (0..510)`);
  let offloadConfig: Record<string, unknown> | undefined;
  if (values.config) {
    let cfgText: string;
    try {
      cfgText = await readFile(values.config, 'utf8');
    } catch (e) {
      throw new CliTargetError(`--config ${values.config}: cannot read the offload configuration: ${errnoText(e)}`);
    }
    // Checked here, against the file's name (CTO_OFFLOAD_CONFIG "FILE: key: …"), before any switch starts.
    parseConfigJson(cfgText, values.config);
    offloadConfig = JSON.parse(cfgText) as Record<string, unknown>;
  }
  // The capture streams through the offload like `replay` (memory bounded by state, not by the
  // capture's length); policy and capture header are checked before any switch starts.
  await loadPolicyFile(values.policy);
  const reader = await openCapture(values.pcap);
  try {
    const text = await readFile(values.policy, 'utf8');
    sig.signal.throwIfAborted(); // a signal while the inputs were read: no switch is started
    const t = await createBmv2Target({ policy: { text, source: values.policy }, ...(offloadConfig ? { offloadConfig } : {}), ...(values.artifacts ? { artifacts: values.artifacts } : {}) });
    try {
      const stats = await replayTargetStream(stopBeforeNextPacket(t, sig.signal), reader, () => {}, { rows: false, inPort });
      // A signal during the last packet: interrupted all the same (exit 130/143 prints no counters).
      sig.signal.throwIfAborted();
      io.out(`${JSON.stringify({ packets: stats.packets, controller: t.status(), target: t.stats }, null, 2)}\n`);
    } finally {
      await t.close();
    }
  } finally {
    await reader.close();
  }
  return EXIT_OK;
}

/** Prometheus text → `{ metric: value | { label(s): value } }` for the `ctoffload_controller_` family. */
export function parseControllerMetrics(text: string): Record<string, number | Record<string, number>> {
  const out: Record<string, number | Record<string, number>> = {};
  const PREFIX = 'ctoffload_controller_';
  for (const line of text.split('\n')) {
    if (!line.startsWith(PREFIX)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const name = m[1]!.slice(PREFIX.length);
    const value = Number(m[3]);
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!] as const);
    if (!labels.length) {
      out[name] = value;
      continue;
    }
    const key = labels.length === 1 ? labels[0]![1] : labels.map(([k, v]) => `${k}=${v}`).join(',');
    const o = (out[name] ??= {}) as Record<string, number>;
    o[key] = value;
  }
  return out;
}

async function daemonStatus(url: string, io: CliIo, stop: AbortSignal): Promise<number> {
  let text: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.any([AbortSignal.timeout(10_000), stop]) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    text = await res.text();
  } catch (e) {
    if (stop.aborted) throw e; // the signal's exit code (runOwningSignals), not a scrape failure
    const why = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message;
    io.err(`ctoffload status: --metrics-url ${url}: cannot scrape the controller daemon: ${why}\n`);
    return 3;
  }
  const metrics = parseControllerMetrics(text);
  if (!Object.keys(metrics).length) {
    io.err(`ctoffload status: --metrics-url ${url}: no ctoffload_controller_* metrics there (is it a 'ctoffload controller --metrics' endpoint?)\n`);
    return 3;
  }
  io.out(`${JSON.stringify({ url, controller: metrics }, null, 2)}\n`);
  return EXIT_OK;
}

export const statusCommand: CliCommand = {
  name: 'status',
  summary: 'print controller counters: of a capture run through the offload, or of a running daemon (--metrics-url)',
  run: (argv, io) => runStatus(argv, io),
};
