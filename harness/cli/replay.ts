/**
 * `ctoffload replay --policy FILE --pcap FILE [--in-port N] [--json] [--trace] [--target model]`:
 * run every packet of a pcap/pcapng capture through a policy and print one line per packet
 * (index, timestamp, in_port, ct_state/ct_zone/ct_mark/ct_label of the last ct lookup, outputs),
 * or one JSON object per line with --json (all lookups, every ct() call, outputs).
 *
 * Targets: `model` (the reference, in process). Other targets plug in through
 * `registerReplayTarget` (the OVS oracle adds `ovs`): a factory returning a harness Target that
 * is driven packet by packet with the same virtual clock.
 */
import { parseArgs } from 'node:util';
import { CtoffloadError } from '../../model/errors.js';
import type { CaptureRecord } from '../../model/packet/capture.js';
import { formatPolicy } from '../../model/pipeline/ast.js';
import {
  type ReplayRow,
  formatReplayText,
  loadReplayInputs,
  replayRecords,
  replayRowJson,
  rowFromVerdict,
  virtualTimes,
} from '../../model/replay.js';
import { OvsTarget } from '../targets/ovs/index.js';
import type { Target } from '../targets/target.js';
import { type CliCommand, type CliIo, EXIT_BAD_INPUT, EXIT_OK, EXIT_STATUS_HELP, joinOptionValues, reportError } from './command.js';
import { checkTraceTime, MAX_TRACE_TIME_MS } from '../../model/clock.js';
import { OVS_MAX_TIME_MS } from '../targets/ovs/target.js';

export const REPLAY_USAGE = `usage: ctoffload replay --policy FILE --pcap FILE [--in-port N] [--json] [--trace] [--target NAME]

Runs every packet of a capture through a policy and prints one line per packet:
index, timestamp, in_port, ct_state, ct_zone, ct_mark, ct_label (of the packet's last ct
lookup, i.e. the last ct(table=T) it went through; "-" when none) and outputs.

  --policy FILE    policy in OVS flow syntax (ovs-ofctl add-flows lines, plus the ctoffload
                   directives timeout_policy / zone_limit / ipf)
  --pcap FILE      capture (pcap or pcapng); packet timestamps drive the conntrack clock
  --in-port N      ingress port for every packet (default: the capture's port; 0 for pcap)
  --json           one JSON object per packet (JSON Lines) with all lookups and ct() calls
  --trace          add the pipeline's step-by-step trace of each packet (model target)
  --target NAME    model (default), ovs (Open vSwitch 3.1's own conntrack, run privately
                   with the dummy datapath) or bmv2 (generated offload program + controller)
  -h, --help       this text

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
  ['ovs', () => OvsTarget.create()],
]);

/** Extension point: later work registers `ovs` (and `bmv2`) here. */
export function registerReplayTarget(name: string, factory: ReplayTargetFactory): void {
  targets.set(name, factory);
}

/** Targets known by name but provided by later work: a clear message instead of "unknown". */
const PLANNED: Record<string, string> = {
};

/**
 * Send a capture through a loaded target on the replay's virtual clock (model/replay.ts
 * `virtualTimes`): one send per record, in order, on `inPort` or the record's own port. The one
 * capture loop of `replay --target` and `status`.
 */
export async function replayCapture(t: Target, records: readonly CaptureRecord[], inPort: number | undefined): Promise<ReplayRow[]> {
  const times = virtualTimes(records);
  const rows: ReplayRow[] = [];
  for (let i = 0; i < records.length; i++) {
    const rec = records[i]!;
    const port = inPort ?? rec.port;
    const v = await t.send({ time: times[i]!, port, frame: rec.data });
    rows.push(rowFromVerdict(i + 1, rec, times[i]!, port, v));
  }
  return rows;
}

async function replayOnTarget(factory: ReplayTargetFactory, policyText: string, source: string, records: CaptureRecord[], inPort: number | undefined): Promise<ReplayRow[]> {
  const t = await factory();
  try {
    await t.load({ text: policyText, source });
    return await replayCapture(t, records, inPort);
  } finally {
    await t.close();
  }
}

function parsePort(s: string): number {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(s) || Number(s) > 0xffffffff) throw new CliTargetError(`--in-port: "${s}" is not a port number (0..4294967295)`);
  return Number(s);
}

/** Trace times the target takes (model/clock.ts); the OVS oracle's are shorter. */
const MAX_TIME: Record<string, number> = { ovs: OVS_MAX_TIME_MS };

export async function runReplay(argv: string[], io: CliIo): Promise<number> {
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
    const target = values.target!;
    const { policy, records } = await loadReplayInputs(values.policy, values.pcap);
    {
      // Times the target cannot be driven to are an input error naming the packet (issue 12).
      const max = MAX_TIME[target] ?? MAX_TRACE_TIME_MS;
      const t0 = records[0]?.timeNs ?? 0n;
      records.forEach((r, i) => {
        const ms = Number((r.timeNs - t0) / 1_000_000n);
        if (ms > max || !Number.isSafeInteger(ms)) checkTraceTime(ms, `${values.pcap} packet ${i + 1} (${ms < 0 ? 'before' : 'after'} the first packet)`, max, `--target ${target}`);
      });
    }
    let rows: ReplayRow[];
    if (target === 'model') {
      rows = replayRecords(policy, records, { inPort, trace: values.trace });
    } else {
      const factory = targets.get(target);
      if (!factory) {
        const avail = ['model', ...targets.keys()].join(', ');
        throw new CliTargetError(PLANNED[target] ? `--target ${target}: ${PLANNED[target]}` : `--target ${target}: unknown target (available: ${avail})`);
      }
      // Targets get the policy as parsed (directives included), so they see the same flows.
      rows = await replayOnTarget(factory, formatPolicy(policy), values.policy, records, inPort);
    }
    for (const w of policy.warnings) io.err(`ctoffload replay: warning: ${values.policy}:${w.pos.line}:${w.pos.column}: ${w.message}\n`);
    if (values.json) {
      io.out(rows.map((r) => JSON.stringify(replayRowJson(r)) + '\n').join(''));
    } else {
      io.out(formatReplayText(rows).join('\n') + '\n');
    }
    return EXIT_OK;
  } catch (e) {
    return reportError('replay', e, io);
  }
}

export const replayCommand: CliCommand = {
  name: 'replay',
  summary: 'run a capture through a policy, one line per packet (ct_state, outputs)',
  run: runReplay,
};
