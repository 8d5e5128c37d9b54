/**
 * `ctoffload generate --policy FILE --out DIR [--config FILE] [--probe] [--no-p4c]`: compile a
 * policy in the OVS flow syntax into a P4-16 v1model program for bmv2 simple_switch_grpc, its
 * static table entries and a manifest, plus — when p4c-bm2-ss is on PATH (or $CTOFFLOAD_P4C) —
 * the bmv2 JSON and the P4Info (binary and text). The program is the production build unless
 * `--probe` (or config `probe: true`) asks for the observation build, which is for testing only
 * (offload/probe.ts) and is said so in the output and the manifest. Exit codes:
 * harness/cli/command.ts (0 ok, 2 bad input or output directory, 3 environment such as a full
 * disk, 4 internal error).
 */
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { CtoffloadError, errnoText } from '../../model/errors.js';
import { parseConfigJson, resolveConfig } from '../../offload/config.js';
import { OBSERVATION_NOTE, compileOffload, writeOffload } from '../../offload/generate.js';
import { EXIT_BAD_INPUT, EXIT_OK, EXIT_STATUS_HELP, defaultIo, reportError, type CliCommand, type CliIo } from './command.js';

export const GENERATE_USAGE = `usage: ctoffload generate --policy FILE --out DIR [--config FILE] [--probe] [--no-p4c]

  --policy FILE   policy in OVS flow syntax (ovs-ofctl add-flows lines)
  --out DIR       output directory (created): ctoffload.p4, ctoffload.entries.json,
                  ctoffload.manifest.json, and with p4c-bm2-ss ctoffload.json,
                  ctoffload.p4info.bin, ctoffload.p4info.txtpb
  --config FILE   offload configuration (JSON, offload/config.ts)
  --probe         observation build FOR TESTING ONLY (what the harness's bmv2 target runs):
                  input probes and a probe header with the ct lookups on every output
                  (offload/probe.ts); without it, the production program
  --no-p4c        do not run p4c-bm2-ss even when it is installed

${EXIT_STATUS_HELP}`;

interface Args {
  policy?: string;
  out?: string;
  config?: string;
  p4c: boolean;
  probe: boolean;
  help: boolean;
}

function parseArgs(argv: string[]): Args | string {
  const a: Args = { p4c: true, probe: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string | undefined => inline ?? argv[++i];
    switch (name) {
      case '--policy':
      case '--out':
      case '--config': {
        const v = value();
        if (v === undefined || v === '') return `${name} needs a value`;
        a[name.slice(2) as 'policy' | 'out' | 'config'] = v;
        break;
      }
      case '--no-p4c':
        a.p4c = false;
        break;
      case '--probe':
        a.probe = true;
        break;
      case '-h':
      case '--help':
        a.help = true;
        break;
      default:
        return `unknown argument '${arg}'`;
    }
  }
  if (a.help) return a;
  if (!a.policy) return '--policy is required';
  if (!a.out) return '--out is required';
  return a;
}

/** Run the subcommand; `argv` excludes `generate` itself. Resolves to the exit code. */
export async function runGenerate(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const a = parseArgs(argv);
  if (typeof a === 'string') {
    io.err(`ctoffload generate: ${a}\n${GENERATE_USAGE}`);
    return EXIT_BAD_INPUT;
  }
  if (a.help) {
    io.out(GENERATE_USAGE);
    return EXIT_OK;
  }
  try {
    const cfg = a.config ? parseConfigJson(await readText(a.config), a.config) : resolveConfig({});
    if (a.probe) cfg.probe = true;
    const prog = compileOffload(await readText(a.policy!), a.policy!, cfg);
    makeOutDir(a.out!);
    let res: Awaited<ReturnType<typeof writeOffload>>;
    try {
      res = await writeOffload(prog, a.out!, { p4c: a.p4c ? 'auto' : 'skip' });
    } catch (e) {
      // An output directory that cannot be written: named, with the errno in words (issue 12).
      const err = e as NodeJS.ErrnoException;
      if (typeof err?.code !== 'string' || err.code.startsWith('CTO_')) throw e;
      const envErr = ['ENOSPC', 'EDQUOT', 'EIO'].includes(err.code);
      throw new CtoffloadError(envErr ? 'CTO_REPORT_WRITE' : 'CTO_REPORT_DIR', `--out ${a.out}: cannot write${err.path ? ` ${err.path}` : ''}: ${errnoText(e)}`, { cause: e });
    }
    const { plan } = prog;
    io.out(
      [
        `generated ${plan.stageTables.length} policy table(s) over ${plan.stages} stage(s), ${plan.ctTables.length} conntrack table(s) (zones: ${plan.offloadedZones.join(', ') || 'none'}), ${prog.entries.length} static entr${prog.entries.length === 1 ? 'y' : 'ies'}`,
        ...plan.diagnostics.map((d) => `note: ${d.line ? `${plan.source}:${d.line}: ` : ''}${d.message}`),
        cfg.probe ? `WARNING: ${OBSERVATION_NOTE}` : 'production build (no probe)',
        ...(res.compiled ? [] : [a.p4c ? 'note: p4c-bm2-ss not found: no bmv2 JSON / P4Info written (set CTOFFLOAD_P4C or install p4c)' : 'note: --no-p4c: no bmv2 JSON / P4Info written']),
        ...res.files.map((f) => `wrote ${f}`),
        '',
      ].join('\n'),
    );
    return EXIT_OK;
  } catch (e) {
    return reportError('generate', e, io);
  }
}

export const generateCommand: CliCommand = {
  name: 'generate',
  summary: 'compile a policy into a P4-16 program for bmv2 (+ entries, P4Info)',
  run: (argv, io) => runGenerate(argv, io),
};

/** The output directory, created with a located error (the real errno, see below). */
function makeOutDir(out: string): void {
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    // A recursive mkdir can say ENOENT for a read-only parent; one plain mkdir names the cause.
    let cause = e as NodeJS.ErrnoException;
    if (cause.code === 'ENOENT') {
      try {
        mkdirSync(out);
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code !== 'ENOENT') cause = e2 as NodeJS.ErrnoException;
      }
    }
    const envErr = ['ENOSPC', 'EDQUOT', 'EIO'].includes(cause.code ?? '');
    throw new CtoffloadError(envErr ? 'CTO_REPORT_WRITE' : 'CTO_REPORT_DIR', `--out ${out}: cannot create the output directory: ${errnoText(cause)}`, { cause });
  }
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new CtoffloadError('CTO_IO', `${file}: cannot read: ${errnoText(err)}`);
  }
}
