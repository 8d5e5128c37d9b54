/**
 * `ctoffload status --policy FILE --pcap FILE [--config FILE] [--artifacts DIR] [--in-port N]`:
 * run a capture through the offload (generated program on bmv2 + slow-path controller) and
 * print the controller's counters as JSON: connections offloaded now, punts by reason, entry
 * writes (insert/modify/delete), failures (write, table full, ALREADY_EXISTS, NOT_FOUND,
 * malformed PacketIns), table-full / slow-path-only connections, ageing, and the target's
 * attribution counters.
 *
 * There is no controller daemon in this build (the controller lives inside the bmv2 target for
 * the harness), so this is the status of a run rather than of a live process; a daemon would
 * print the same `SlowPathController.status()` object.
 *
 * Importing this module also registers `--target bmv2` for `ctoffload replay`.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadReplayInputs } from '../../model/replay.js';
import { createBmv2Target } from '../targets/bmv2/index.js';
import { type CliCommand, type CliIo, EXIT_BAD_INPUT, EXIT_OK, EXIT_STATUS_HELP, joinOptionValues, reportError } from './command.js';
import { errnoText } from '../../model/errors.js';
import { parseConfigJson } from '../../offload/config.js';
import { CliTargetError, registerReplayTarget, replayCapture } from './replay.js';

registerReplayTarget('bmv2', () => createBmv2Target());

export const STATUS_USAGE = `usage: ctoffload status --policy FILE --pcap FILE [options]

Runs a capture through the offload (generated program on bmv2 simple_switch_grpc + slow-path
controller) and prints the controller's counters as one JSON object.

  --policy FILE     policy in OVS flow syntax
  --pcap FILE       capture (pcap or pcapng); timestamps drive the controller's clock
  --config FILE     offload configuration (JSON, as for ctoffload generate)
  --artifacts DIR   use a prebuilt observation build (what ctoffload generate --probe --out DIR writes)
  --in-port N       ingress port for every packet (default: the capture's port; 0 for pcap)
  -h, --help        this text

${EXIT_STATUS_HELP}`;

export async function runStatus(argv: string[], io: CliIo): Promise<number> {
  try {
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
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      io.out(STATUS_USAGE);
      return EXIT_OK;
    }
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
    const { records } = await loadReplayInputs(values.policy, values.pcap);
    const text = await readFile(values.policy, 'utf8');
    const t = await createBmv2Target({ policy: { text, source: values.policy }, ...(offloadConfig ? { offloadConfig } : {}), ...(values.artifacts ? { artifacts: values.artifacts } : {}) });
    try {
      await replayCapture(t, records, inPort);
      io.out(`${JSON.stringify({ packets: records.length, controller: t.status(), target: t.stats }, null, 2)}\n`);
    } finally {
      await t.close();
    }
    return EXIT_OK;
  } catch (e) {
    return reportError('status', e, io);
  }
}

export const statusCommand: CliCommand = {
  name: 'status',
  summary: 'run a capture through the offload (bmv2 + controller) and print the controller counters',
  run: runStatus,
};
