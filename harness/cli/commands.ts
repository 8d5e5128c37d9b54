/**
 * The subcommands, in `--help` order. To add one (conformance, selftest, …): write
 * harness/cli/<name>.ts exporting a CliCommand (or a `run(argv, io)` function) and list it here.
 *
 * Only `replay` is loaded up front; every other command's module (and what it pulls in: the
 * runner, gRPC, P4Runtime, the compiler) is imported when that command runs, so `replay` on a
 * capture starts in about a third of the time and memory (bench/replay.ts measures the whole
 * process). The summaries of the lazy ones are repeated here; test/harness/cli/commands.test.ts
 * holds them equal to their modules'.
 */
import type { CliCommand, CliIo } from './command.js';
import { replayCommand } from './replay.js';

/** A command whose module is imported on first use. */
function lazy(name: string, summary: string, load: () => Promise<CliCommand>): CliCommand & { load: () => Promise<CliCommand> } {
  return { name, summary, load, run: async (argv: string[], io: CliIo) => (await load()).run(argv, io) };
}

export const COMMANDS: readonly (CliCommand & { load?: () => Promise<CliCommand> })[] = [
  replayCommand,
  lazy('conformance', 'differential run of a policy: model vs ovs|bmv2 over generated traffic, shrunk counterexamples, reports', async () => (await import('./conformance.js')).conformanceCommand),
  lazy('generate', 'compile a policy into a P4-16 program for bmv2 (+ entries, P4Info)', async () => (await import('./generate.js')).generateCommand),
  lazy('controller', 'run the slow-path controller as a daemon for a P4Runtime switch (bmv2)', async () => (await import('./controller.js')).controllerCommand),
  lazy('status', 'print controller counters: of a capture run through the offload, or of a running daemon (--metrics-url)', async () => (await import('./status.js')).statusCommand),
  lazy('report', "merge the report directories of a sharded conformance campaign ('report merge DIR... --out DIR')", async () => (await import('./report.js')).reportCommand),
  lazy('selftest', 'run the bmv2 harness against deliberately broken offload variants; fail unless each is caught', async () => (await import('./selftest.js')).selftestCommand),
];
