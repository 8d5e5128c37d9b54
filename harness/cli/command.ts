/**
 * The CLI's subcommand contract. Each subcommand lives in its own file and exports a
 * `CliCommand`; ./commands.ts lists them (the one place to add a subcommand), ./main.ts
 * dispatches. Exit codes shared by every subcommand: 0 ok, 1 disagreement found (conformance
 * and later commands) or internal error, 2 bad input (any CTO_* error: bad file, bad policy,
 * bad option) — with a message naming the file and line:column / byte offset, never a stack
 * trace.
 */
export interface CliIo {
  /** Standard output; strings carry their own newlines. */
  out: (s: string) => void;
  err: (s: string) => void;
  /**
   * Standard output as a byte stream, for commands that stream large outputs with
   * backpressure (replay); without it they fall back to `out`.
   */
  outStream?: NodeJS.WritableStream;
  /** Standard error is a terminal (progress lines are shown only then). */
  errIsTTY?: boolean;
}

export const defaultIo: CliIo = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  outStream: process.stdout,
  errIsTTY: process.stderr.isTTY === true,
};

export interface CliCommand {
  name: string;
  /** One line for `ctoffload --help`. */
  summary: string;
  /** `argv` excludes the subcommand name. Resolves to the exit code. */
  run: (argv: string[], io: CliIo) => Promise<number>;
}

export const EXIT_OK = 0;
export const EXIT_DISAGREE = 1;
export const EXIT_BAD_INPUT = 2;

/** Error report for a subcommand: CTO_* errors are user errors (exit 2), anything else internal (1). */
export function reportError(cmd: string, e: unknown, io: CliIo): number {
  const err = e as Error & { code?: unknown };
  if (typeof err?.code === 'string' && err.code.startsWith('CTO_')) {
    io.err(`ctoffload ${cmd}: ${err.message}\n`);
    return EXIT_BAD_INPUT;
  }
  if (typeof err?.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')) {
    io.err(`ctoffload ${cmd}: ${err.message}\nTry 'ctoffload ${cmd} --help'.\n`);
    return EXIT_BAD_INPUT;
  }
  io.err(`ctoffload ${cmd}: internal error: ${err?.stack ?? String(e)}\n`);
  return EXIT_DISAGREE;
}
