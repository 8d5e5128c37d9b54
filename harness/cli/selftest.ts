/**
 * `ctoffload selftest [--runs N] [--seed S] [--variant NAME]... [--no-baseline] [--json]`
 *
 * Runs the bmv2 conformance property against deliberately broken offload variants
 * (harness/selftest/faults.ts) and fails unless every one is caught; a baseline run with no defect must
 * agree (harness/selftest/run.ts). Exit status: 0 every variant caught and every baseline
 * agreed, 1 a variant missed or a baseline disagreed, 2 usage error, 3 environment (bmv2 or p4c
 * missing, a run that could not complete), 130/143 interrupted (docs/exit-codes.md).
 */
import { EXIT_ENVIRONMENT, joinOptionValues } from './command.js';
import { parseArgs } from 'node:util';
import { FAULT_NAMES, type FaultName } from '../selftest/index.js';
import { runSelftest, SelftestError, type SelftestProgress, type SelftestResult, type VariantResult } from '../selftest/index.js';
import { type CliCommand, type CliIo, EXIT_DISAGREE, EXIT_OK } from './command.js';
import { runOwningSignals } from './signals.js';

export const SELFTEST_USAGE = `usage: ctoffload selftest [options]

Runs the differential harness (model vs bmv2) against deliberately broken offload variants
and fails unless every variant is caught; a baseline run without a defect must agree.
Variants: ${FAULT_NAMES.join(', ')}.

  --runs N        generated traces per run (default 30)
  --seed S        fast-check seed (default 1)
  --variant NAME  run only this variant (repeatable)
  --no-baseline   skip the baseline runs
  --json          print one JSON object on stdout
  -h, --help      this text

Exit status: 0 all caught and baseline agreed, 1 a variant missed or the baseline
disagreed, 2 usage error, 3 environment (bmv2/p4c missing, a run that could not complete),
4 internal error, 130/143 interrupted. See docs/exit-codes.md.
`;

function line(r: VariantResult): string {
  const t = `${(r.elapsedMs / 1000).toFixed(1)}s`;
  if (r.outcome === 'caught') return `  ${r.variant.padEnd(17)} CAUGHT  counterexample ${r.counterexamplePackets} packet(s)${r.shrinkFinal ? '' : ' (shrinking stopped)'} [${r.differences.join(', ')}] in ${t} (${r.traces} traces, ${r.packets} packets)`;
  if (r.outcome === 'missed') return `  ${r.variant.padEnd(17)} MISSED  no disagreement in ${r.traces} traces (${r.packets} packets, ${t})`;
  if (r.outcome === 'agreed') return `  ${r.variant.padEnd(17)} agreed  ${r.traces} traces, ${r.packets} packets, ${t}`;
  if (r.outcome === 'disagreed') return `  ${r.variant.padEnd(17)} DISAGREED without a defect: ${r.counterexamplePackets} packet(s) [${r.differences.join(', ')}]; ${r.replay ?? ''}`;
  return `  ${r.variant.padEnd(17)} ERROR   ${r.error ?? 'run did not complete'}`;
}

export function selftestText(r: SelftestResult): string {
  const out = [`selftest: ${r.ok ? 'PASSED' : 'FAILED'}`];
  for (let i = 0; i < r.variants.length; i++) {
    const b = r.baseline[i];
    if (b) out.push(line({ ...b, variant: 'baseline' }));
    out.push(line(r.variants[i]!));
  }
  return out.join('\n') + '\n';
}

/**
 * Owns SIGINT/SIGTERM (harness/cli/signals.ts): a signal stops the variant being run before its
 * next packet (the runner watches the signal), its switch is closed, the results so far are
 * printed (the stopped run as ERROR) and the exit code is 130/143. `external` stands for the
 * signal in tests.
 */
export function runSelftestCli(argv: string[], io: CliIo, external?: AbortSignal): Promise<number> {
  return runOwningSignals('selftest', io, (sig) => selftestBody(argv, io, sig.signal), external);
}

async function selftestBody(argv: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args: joinOptionValues(argv, ['--seed', '--runs']), strict: true, allowPositionals: false,
    options: {
      runs: { type: 'string' }, seed: { type: 'string' }, variant: { type: 'string', multiple: true },
      'no-baseline': { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.out(SELFTEST_USAGE);
    return EXIT_OK;
  }
  const int = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v)) throw new SelftestError('CTO_SELFTEST_OPTIONS', `--${name}: "${v}" is not an integer`);
    return Number(v);
  };
  const variants = values.variant as FaultName[] | undefined;
  const onProgress = (p: SelftestProgress): void => {
    if (p.phase === 'start') io.err(`selftest: ${p.variant}${p.variant === 'baseline' ? ` (${p.traffic} traffic)` : ''}…\n`);
  };
  const runs = int('runs', values.runs);
  const seed = int('seed', values.seed);
  const r = await runSelftest({
    ...(runs !== undefined ? { runs } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(variants ? { variants } : {}),
    baseline: !values['no-baseline'],
    onProgress,
    signal,
  });
  if (values.json) io.out(JSON.stringify(r) + '\n');
  else io.out(selftestText(r));
  if (r.environmentError) return EXIT_ENVIRONMENT;
  return r.ok ? EXIT_OK : EXIT_DISAGREE;
}

export const selftestCommand: CliCommand = {
  name: 'selftest',
  summary: 'run the bmv2 harness against deliberately broken offload variants; fail unless each is caught',
  run: (argv, io) => runSelftestCli(argv, io),
};
