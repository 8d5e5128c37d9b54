/**
 * The CLI's subcommand contract. Each subcommand lives in its own file and exports a
 * `CliCommand`; ./commands.ts lists them (the one place to add a subcommand), ./main.ts
 * dispatches.
 *
 * Exit codes, shared by every subcommand (docs/exit-codes.md; users script against them):
 *   0   ok (every packet agreed, the command did its job)
 *   1   a disagreement was found (conformance), a fault variant was missed (selftest)
 *   2   usage or input error: bad option, file, policy, capture, traffic or report directory —
 *       the message names the file and line:column / byte offset / option
 *   3   target or environment failure: a target died or hung, a tool is missing, a switch is
 *       unreachable, the disk is full
 *   4   internal error (a bug in ctoffload): the message and where to report it; the stack
 *       trace only with CTOFFLOAD_DEBUG=1
 *   5   coverage shortfall (conformance --min-coverage): every packet agreed, but the run left
 *       named parts unexercised (they are listed); a disagreement (1) or failure (3) wins
 *   130 interrupted by SIGINT, 143 by SIGTERM (reports are written and final; an
 *       InterruptedError, CTO_INTERRUPTED, carries which)
 * Errors are classified by their stable `code` (docs/style.md §5: coded errors),
 * never by message text: `exitCodeFor` below is the one table.
 */
import { CtoffloadError } from '../../model/errors.js';

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
/** Usage or input error (the name predates the scheme; EXIT_USAGE is the same code). */
export const EXIT_BAD_INPUT = 2;
export const EXIT_USAGE = EXIT_BAD_INPUT;
export const EXIT_ENVIRONMENT = 3;
export const EXIT_INTERNAL = 4;
/** The run agreed but fell short of `conformance --min-coverage` (docs/exit-codes.md). */
export const EXIT_COVERAGE = 5;
export const EXIT_SIGINT = 130;
export const EXIT_SIGTERM = 143;

/** The text every command's --help ends with (one source for the table). */
export const EXIT_STATUS_HELP = `Exit status: 0 ok/agreed, 1 disagreement, 2 usage or input error (bad option or file;
the message names file and place), 3 target or environment failure (target died, tool
missing, switch unreachable, disk full), 4 internal error (a bug: please report it; stack with
CTOFFLOAD_DEBUG=1), 5 agreed but coverage below --min-coverage (conformance), 130 SIGINT,
143 SIGTERM. See docs/exit-codes.md.
`;

/** 128 + the signal number, as shells report a process killed by that signal. */
export function signalExitCode(sig: 'SIGINT' | 'SIGTERM'): number {
  return sig === 'SIGINT' ? EXIT_SIGINT : EXIT_SIGTERM;
}

/**
 * A command stopped by SIGINT/SIGTERM (harness/cli/signals.ts): not a failure — it carries the
 * exit code (130/143) and `reportError` prints its message in one line and returns that code.
 */
export class InterruptedError extends CtoffloadError {
  constructor(readonly exitCode: number, message: string) {
    super('CTO_INTERRUPTED', message);
  }
}

/** Codes of a command stopped by a signal (130/143, carried by the error): never a failure. */
const INTERRUPTED_CODES = ['CTO_INTERRUPTED'];

/**
 * Codes of user input problems (exit 2). Prefixes end with `_`. Everything the user can fix by
 * changing an option, a file or a policy belongs here, including a policy a target refuses
 * (CTO_OVS_POLICY) and times a target cannot be driven to (CTO_TIME_RANGE).
 */
const USAGE_CODES = [
  'CTO_CLI_', 'CTO_FLOW_PARSE', 'CTO_CAPTURE_FORMAT', 'CTO_RUN_OPTIONS', 'CTO_TIME_RANGE', 'CTO_TRAFFIC_OPTIONS',
  'CTO_OFFLOAD_CONFIG', 'CTO_OFFLOAD_COMPILE', 'CTO_CT_CONFIG', 'CTO_CT_TIMEOUT_POLICY', 'CTO_CT_STATE_PARSE',
  'CTO_IPF_CONFIG', 'CTO_SELFTEST_OPTIONS', 'CTO_REPLAY', 'CTO_IO', 'CTO_INPUT', 'CTO_OVS_POLICY', 'CTO_OVS_UNSUPPORTED',
  'CTO_P4C_INPUT', 'CTO_PACKET_BUILD', 'CTO_REPORT_DIR', 'CTO_REPORT_LOCKED', 'CTO_REPORT_MERGE', 'CTO_USAGE', 'CTO_BMV2_ARTIFACTS',
];
/** Codes of target or environment failures (exit 3). */
const ENVIRONMENT_CODES = [
  'CTO_OVS_', 'CTO_BMV2_', 'CTO_P4RT_', 'CTO_NANOMSG_', 'CTO_P4C_', 'CTO_P4INFO_', 'CTO_TOOL_MISSING', 'CTO_SELFTEST_ENV',
  'CTO_RUN_TARGET', 'CTO_RUN_TIMEOUT', 'CTO_DATAPLANE', 'CTO_CONTROLLER_BARRIER', 'CTO_CONTROLLER_CLOSED',
  'CTO_REPORT_WRITE', 'CTO_OFFLOAD_ENTRY', 'CTO_DAEMON_TARGET', 'CTO_CONTROLLER_POLICY_WRITE',
];
/**
 * Codes that can only mean a bug in ctoffload (exit 4): an object used out of order. They win
 * over the prefixes above (CTO_OVS_STATE is "target used after close", not an OVS failure).
 */
const INTERNAL_CODES = ['CTO_OVS_STATE', 'CTO_PIPELINE_STATE', 'CTO_MODEL_STATE', 'CTO_CONTROLLER_CLOCK', 'CTO_P4_PROTO', 'CTO_P4_VALUE', 'CTO_P4_ENTITY', 'CTO_PARSER_PATHS'];
/** errno codes of the machine, not of ctoffload (exit 3 even when nothing wrapped them). */
const ENVIRONMENT_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EMFILE', 'ENFILE', 'ENOMEM', 'E2BIG', 'EAGAIN']);

const matches = (list: readonly string[], code: string): boolean => list.some((p) => (p.endsWith('_') ? code.startsWith(p) : code === p));

export type ErrorClass = 'usage' | 'environment' | 'internal' | 'interrupted';

/** The class of one `code` (CTO_* or an errno name); unknown CTO_ codes count as environment. */
export function classifyCode(code: string): ErrorClass {
  if (matches(INTERRUPTED_CODES, code)) return 'interrupted';
  if (matches(INTERNAL_CODES, code)) return 'internal';
  if (matches(USAGE_CODES, code)) return 'usage';
  if (matches(ENVIRONMENT_CODES, code)) return 'environment';
  if (code.startsWith('CTO_')) return 'environment';
  if (ENVIRONMENT_ERRNOS.has(code)) return 'environment';
  return 'internal';
}

/** Is `code` in one of the lists above (not left to the CTO_ fallback)? For the table's test. */
export function isClassified(code: string): boolean {
  return matches(INTERRUPTED_CODES, code) || matches(INTERNAL_CODES, code) || matches(USAGE_CODES, code) || matches(ENVIRONMENT_CODES, code);
}

/** The `code`s along an error's cause chain, outermost first. */
function codeChain(e: unknown): string[] {
  const out: string[] = [];
  for (let x = e as { code?: unknown; cause?: unknown } | undefined, n = 0; x && typeof x === 'object' && n < 16; x = x.cause as typeof x, n++) {
    if (typeof x.code === 'string') out.push(x.code);
  }
  return out;
}

/**
 * The class of an error: the innermost CTO_* code decides (a CTO_RUN_TARGET wrapping
 * CTO_OVS_POLICY is a policy OVS refused, i.e. input); an error carrying only an errno code is
 * environment for the machine's limits (ENOSPC, EMFILE…) and internal otherwise; no code at
 * all is internal.
 */
export function classifyError(e: unknown): ErrorClass {
  const codes = codeChain(e);
  if (codes.some((c) => c.startsWith('ERR_PARSE_ARGS'))) return 'usage';
  // A signal decides whatever it cut short (a start-up failing under it is the interruption).
  if (codes.some((c) => matches(INTERRUPTED_CODES, c))) return 'interrupted';
  const cto = codes.filter((c) => c.startsWith('CTO_'));
  if (cto.length) return classifyCode(cto[cto.length - 1]!);
  for (const c of codes) if (ENVIRONMENT_ERRNOS.has(c)) return 'environment';
  return 'internal';
}

/** The exit code of a class (an interruption without its error: 130, as for SIGINT). */
export function exitCodeFor(cls: ErrorClass): number {
  return cls === 'usage' ? EXIT_USAGE : cls === 'environment' ? EXIT_ENVIRONMENT : cls === 'interrupted' ? EXIT_SIGINT : EXIT_INTERNAL;
}

export const debugEnabled = (): boolean => process.env.CTOFFLOAD_DEBUG === '1';

/** How an internal error is shown: message, where to report, the stack only when debugging. */
export function internalErrorText(prefix: string, e: unknown): string {
  const err = e as Error | undefined;
  const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(e);
  const stack = debugEnabled() && err instanceof Error && err.stack ? `\n${err.stack}` : '';
  return `${prefix}: internal error: ${msg}${stack}\n` +
    'This is a bug in ctoffload. Please report it on the ctoffload issue tracker with the command line and this message' +
    `${debugEnabled() ? '' : ' (run again with CTOFFLOAD_DEBUG=1 to include the stack trace)'}.\n`;
}

/** Error report for a subcommand: the message (located by the thrower), exit by class. */
export function reportError(cmd: string, e: unknown, io: CliIo): number {
  const err = e as Error & { code?: unknown };
  const cls = classifyError(e);
  if (cls === 'internal') {
    io.err(internalErrorText(`ctoffload ${cmd}`, e));
    return EXIT_INTERNAL;
  }
  if (typeof err?.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')) {
    io.err(`ctoffload ${cmd}: ${err.message}\nTry 'ctoffload ${cmd} --help'.\n`);
    return EXIT_USAGE;
  }
  const text = err instanceof Error ? err.message : String(e);
  io.err(`ctoffload ${cmd}: ${text}\n`);
  if (cls === 'interrupted') {
    // The outermost interruption carries the signal's code (130 SIGINT, 143 SIGTERM).
    for (let x = e as { code?: unknown; exitCode?: unknown; cause?: unknown } | undefined, n = 0; x && n < 16; x = x.cause as typeof x, n++) {
      if (x.code === 'CTO_INTERRUPTED' && typeof x.exitCode === 'number') return x.exitCode;
    }
    return exitCodeFor(cls);
  }
  if (debugEnabled() && err instanceof Error && err.stack) io.err(`${err.stack}\n`);
  return exitCodeFor(cls);
}

/**
 * `--opt -1` → `--opt=-1` for the options that take a value: node:util parseArgs refuses a
 * value starting with "-" as "ambiguous", which hid the real problem (`--in-port -1` is not a
 * port, `--seed -5` is a fine seed). Only the listed options are touched.
 */
export function joinOptionValues(argv: readonly string[], valueOptions: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (valueOptions.includes(a) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
