/**
 * The subcommands, in `--help` order. To add one (conformance, selftest, …): write
 * harness/cli/<name>.ts exporting a CliCommand (or a `run(argv, io)` function) and list it here.
 */
import type { CliCommand } from './command.js';
import { runGenerate } from './generate.js';
import { replayCommand } from './replay.js';
import { conformanceCommand } from './conformance.js';
import { statusCommand } from './status.js';
import { selftestCommand } from './selftest.js';
import { controllerCommand } from './controller.js';

export const COMMANDS: readonly CliCommand[] = [
  replayCommand,
  conformanceCommand,
  { name: 'generate', summary: 'compile a policy into a P4-16 program for bmv2 (+ entries, P4Info)', run: (argv, io) => runGenerate(argv, io) },
  statusCommand,
  controllerCommand,
  selftestCommand,
];
