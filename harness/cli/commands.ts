/**
 * The subcommands, in `--help` order. To add one (conformance, generate, selftest, …): write
 * harness/cli/<name>.ts exporting a CliCommand and list it here.
 */
import type { CliCommand } from './command.js';
import { replayCommand } from './replay.js';

export const COMMANDS: readonly CliCommand[] = [replayCommand];
