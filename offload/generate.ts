/**
 * The offload compiler's front door: policy (IR) + configuration → plan, P4 program (AST and
 * text), static entries; and writing all of it to a directory, with bmv2 JSON and P4Info when
 * p4c-bm2-ss is available.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveConfig, type OffloadConfig } from './config.js';
import { compilePlan, type Plan } from './compile.js';
import { emitProgram } from './emit.js';
import { staticEntries, type OffloadEntry } from './entries.js';
import type { PolicyIR } from './ir.js';
import type { P4Program } from './p4ast.js';
import { generateProgram } from './p4gen.js';
import { compileP4, formatDiagnostic, whichSync } from '../p4/index.js';
import { parsePolicy } from '../model/pipeline/parse.js';
import { policyToIR } from './from-policy.js';

export interface OffloadProgram {
  plan: Plan;
  program: P4Program;
  /** P4-16 source text. */
  p4: string;
  entries: OffloadEntry[];
}

export function compileOffloadIR(policy: PolicyIR, config: OffloadConfig | Record<string, unknown> = {}): OffloadProgram {
  const cfg = isResolved(config) ? config : resolveConfig(config);
  const plan = compilePlan(policy, cfg);
  const program = generateProgram(plan);
  return { plan, program, p4: emitProgram(program), entries: staticEntries(plan) };
}

/** Policy text (OVS flow syntax, model/pipeline/parse.ts) → program; parse errors are CTO_FLOW_PARSE. */
export function compileOffload(policyText: string, source: string, config: OffloadConfig | Record<string, unknown> = {}): OffloadProgram {
  const cfg = isResolved(config) ? config : resolveConfig(config);
  return compileOffloadIR(policyToIR(parsePolicy(policyText, source)), cfg);
}

function isResolved(c: unknown): c is OffloadConfig {
  const o = c as OffloadConfig;
  return !!o && typeof o === 'object' && typeof o.cpuPort === 'number' && !!o.slowPath && !!o.tableSizes && typeof o.offload === 'string' && o.zones !== undefined;
}

/** JSON with bigints as decimal strings. */
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x), 2) + '\n';
}

/** What `generate` and the manifest say about a probe build (config `probe`, offload/probe.ts). */
export const OBSERVATION_NOTE =
  'observation build (probe on), FOR TESTING ONLY: frames starting with the probe magic are parsed as input probes (ECHO skips the policy, REPORT_DROP turns drops into PacketIns) and every output gets a probe header with its ct lookups prepended; deploy the production build (without --probe / config probe: false)';

/** The manifest a controller/harness reads next to the program (names only, no P4Info ids). */
export function manifest(p: OffloadProgram): Record<string, unknown> {
  const { plan } = p;
  return {
    source: plan.source,
    // What this program is for: 'production' (deploy it) or 'observation' (probe build, testing only).
    build: plan.config.probe ? 'observation' : 'production',
    ...(plan.config.probe ? { buildNote: OBSERVATION_NOTE } : {}),
    config: plan.config,
    stages: plan.stages,
    offloadedZones: plan.offloadedZones,
    conntrackTables: plan.ctTables.map((t) => ({ table: `CtIngress.${t.name}`, stage: t.stage, zoneSet: t.set, zones: t.zones, size: t.size })),
    policyTables: plan.stageTables.map((t) => ({ table: `CtIngress.${t.name}`, stage: t.stage, policyTable: t.policyTable, keys: t.keys })),
    diagnostics: plan.diagnostics,
  };
}

export interface WriteResult {
  files: string[];
  /** true when p4c-bm2-ss ran and produced the JSON and P4Info. */
  compiled: boolean;
  p4cStderr?: string;
}

export const OUTPUT_BASE = 'ctoffload';

/**
 * Write `<dir>/ctoffload.p4`, `ctoffload.manifest.json`, `ctoffload.entries.json` and, when
 * p4c-bm2-ss is present (or `p4c: 'require'`), `ctoffload.json`, `ctoffload.p4info.bin`,
 * `ctoffload.p4info.txtpb`.
 */
export async function writeOffload(p: OffloadProgram, dir: string, opts: { p4c?: 'auto' | 'require' | 'skip' } = {}): Promise<WriteResult> {
  await mkdir(dir, { recursive: true });
  const base = join(dir, OUTPUT_BASE);
  const files = [`${base}.p4`, `${base}.manifest.json`, `${base}.entries.json`];
  await writeFile(files[0]!, p.p4);
  await writeFile(files[1]!, toJson(manifest(p)));
  await writeFile(files[2]!, toJson(p.entries));
  const mode = opts.p4c ?? 'auto';
  const p4cPresent = Boolean(process.env.CTOFFLOAD_P4C || whichSync('p4c-bm2-ss'));
  if (mode === 'skip' || (mode === 'auto' && !p4cPresent)) return { files, compiled: false };
  // p4/p4c.ts is the one p4c runner: diagnostics with file:line, outputs cached by content hash.
  const r = await compileP4(files[0]!, { outDir: dir });
  files.push(r.jsonPath, r.p4infoPath, r.p4infoTextPath);
  return { files, compiled: true, p4cStderr: r.warnings.map(formatDiagnostic).join('\n') };
}
