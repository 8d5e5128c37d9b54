/**
 * The configuration identity of a conformance run: everything that decides which traces a run
 * (or a shard of it) generates and what verdicts it may reach, and nothing that only depends on
 * the machine (jobs, deadlines, Node's version, paths). Shards of one campaign must share it to
 * be merged (`ctoffload report merge`, ./merge.ts); report.json records its sha256 as
 * `configHash` (docs/report-schema.md).
 *
 * Left out on purpose: `policy.source` (the same policy may sit at another path on another
 * runner), `jobs` and `packetTimeoutMs` (the first failing index does not depend on them, see
 * harness/runner/conformance.ts), the Node.js version (fast-check's generation is pure
 * JavaScript arithmetic), and the shard's own index (it is what differs between shards).
 */
import { createHash } from 'node:crypto';
import type { PropertyReport } from './schema.js';

export interface ConfigIdentity {
  policySha256: string;
  seed: number;
  runs: number;
  /** Shard count; 1 for an unsharded run. */
  shards: number;
  traffic: unknown;
  target: string;
  reference: string;
  targetMode: string | null;
  versions: Record<string, Record<string, string>>;
  tool: { ctoffload: string; fastCheck: string };
  /** The exceptions table in force: row ids, kinds and the targets and differences they excuse. */
  exceptions: string[];
}

/** Human names of the identity's fields, for the merge's error messages. */
export const IDENTITY_FIELDS: Record<keyof ConfigIdentity, string> = {
  policySha256: 'policy text (sha256)',
  seed: 'seed',
  runs: 'runs',
  shards: 'shard count',
  traffic: 'traffic options',
  target: 'target',
  reference: 'reference',
  targetMode: 'target mode',
  versions: 'target/reference versions',
  tool: 'ctoffload/fast-check versions',
  exceptions: 'exceptions table',
};

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** JSON with object keys sorted at every level (so key order never changes a hash). */
export function canonicalJson(v: unknown): string {
  if (typeof v === 'bigint') return JSON.stringify(`0x${v.toString(16)}`);
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function configIdentity(
  p: Pick<PropertyReport, 'policy' | 'config' | 'target' | 'reference' | 'targetMode' | 'versions'>,
  tool: { ctoffload: string; fastCheck: string },
  exceptions: readonly { id: string; kind: string; targets: readonly string[]; kinds: readonly string[] }[],
): ConfigIdentity {
  return {
    policySha256: sha256(p.policy.text),
    seed: p.config.seed,
    runs: p.config.runs,
    shards: p.config.shard?.count ?? 1,
    traffic: JSON.parse(canonicalJson(p.config.traffic ?? {})) as unknown,
    target: p.target,
    reference: p.reference,
    targetMode: p.targetMode ?? null,
    versions: p.versions,
    tool: { ctoffload: tool.ctoffload, fastCheck: tool.fastCheck },
    exceptions: exceptions.map((x) => `${x.id} ${x.kind} [${[...x.targets].join(',')}] [${[...x.kinds].join(',')}]`).sort(),
  };
}

export function configHash(id: ConfigIdentity): string {
  return sha256(canonicalJson(id));
}
