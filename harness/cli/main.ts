#!/usr/bin/env node
/**
 * `ctoffload` command line: `ctoffload <command> [options]`, `ctoffload <command> --help`.
 * A thin dispatcher over ./commands.ts (docs/architecture.md: the CLI is a thin layer over the
 * modules' public functions).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type CliIo, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_STATUS_HELP, defaultIo, internalErrorText } from './command.js';
import { COMMANDS } from './commands.js';

export function usage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: ctoffload <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    "Run 'ctoffload <command> --help' for a command's options.",
    '',
    EXIT_STATUS_HELP,
  ].join('\n');
}

/** Runs the CLI on `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) {
    io.err(usage());
    return EXIT_BAD_INPUT;
  }
  if (cmd === '-h' || cmd === '--help' || cmd === 'help') {
    const sub = cmd === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    if (sub) return sub.run(['--help'], io);
    io.out(usage());
    return EXIT_OK;
  }
  const c = COMMANDS.find((x) => x.name === cmd);
  if (!c) {
    io.err(`ctoffload: unknown command '${cmd}'\n${usage()}`);
    return EXIT_BAD_INPUT;
  }
  return c.run(rest, io);
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    // npm installs `bin` as a symlink: compare real paths.
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // An interrupted command has given its signals back (harness/cli/signals.ts) and the
      // process drains; a further Ctrl-C then must not turn the documented 130/143 into a death
      // by the signal (the target modules' last-resort handlers re-raise it). Exit hooks still
      // kill any child (docs/exit-codes.md "Signals").
      if (code === 130 || code === 143) {
        for (const sig of ['SIGINT', 'SIGTERM'] as const) process.prependListener(sig, () => process.exit(code));
      }
    },
    (e: unknown) => {
      // Subcommands catch their own errors; anything reaching here is a bug (exit 4).
      process.stderr.write(internalErrorText('ctoffload', e));
      process.exitCode = EXIT_INTERNAL;
    },
  );
}
