/**
 * The daemon's program on the switch: which pipeline it needs (bmv2 JSON + P4Info + static
 * entries, identified by a cookie), pushing it or attaching to it, and bringing the policy
 * tables' static entries in step without touching the conntrack tables.
 *
 * ## Push or attach (docs/p4-target-interfaces.md §4.12)
 *
 * SetForwardingPipelineConfig VERIFY_AND_COMMIT clears every table, so a daemon that restarts
 * (or reconnects to a switch that kept running) must not push again when the program it needs
 * is already there, or every offloaded connection would fall back to the slow path at once.
 * GetForwardingPipelineConfig returns what was set, cookie included; PI answers
 * FAILED_PRECONDITION when nothing is loaded (§4.2). The cookie is the first 8 bytes of a
 * SHA-256 over the bmv2 JSON, the binary P4Info and the static entries, so equal cookies mean
 * the same program and the same policy. The loaded pipeline is kept ('attached') when its
 * P4Info equals ours and either the cookie or the device config (bmv2 JSON) does too; otherwise
 * it is replaced ('auto', 'push') or refused ('attach').
 *
 * bmv2 accepts a JSON it cannot use and answers OK (§4.12): after a push the first conntrack
 * table is read back, which fails on such a pipeline (p4/bmv2.ts `loadPipeline` does the same).
 */
import { createHash } from 'node:crypto';
import { CtoffloadError } from '../../model/errors.js';
import { P4InfoIndex, P4RuntimeClient, encodeP4Info, remove, tableReadRequest, describeTableEntry, WriteBatchError, type TableEntry, type Update } from '../../p4/index.js';
import type { Plan } from '../compile.js';
import { entryKey } from '../controller/index.js';
import { toUpdates, type OffloadEntry } from '../entries.js';
import { toJson } from '../generate.js';
import { INGRESS } from '../p4gen.js';

/** What the daemon runs on the switch. */
export interface DaemonProgram {
  plan: Plan;
  /** bmv2 JSON (ForwardingPipelineConfig.p4_device_config). */
  json: Uint8Array;
  p4info: P4InfoIndex;
  /** Static entries of the policy tables. */
  entries: OffloadEntry[];
}

export type PipelineMode = 'auto' | 'push' | 'attach';

/**
 * An error of the switch or of reaching it (exit 3 in the CLI). `final`: retrying cannot help
 * (e.g. `--pipeline attach` found another program), so the daemon gives up at once.
 */
export class DaemonTargetError extends CtoffloadError {
  constructor(
    message: string,
    readonly final = false,
    options?: { cause?: unknown },
  ) {
    super('CTO_DAEMON_TARGET', message, options);
  }
}

/** Cookie of a program: first 8 bytes of SHA-256(bmv2 JSON ‖ binary P4Info ‖ static entries). */
export function programCookie(p: DaemonProgram): bigint {
  const h = createHash('sha256');
  h.update(p.json);
  h.update(encodeP4Info(p.p4info.p4info));
  h.update(toJson(p.entries));
  return h.digest().readBigUInt64BE(0);
}

/** Conntrack table names of the plan, fully qualified. */
export function ctTableNames(plan: Plan): string[] {
  return [...new Set(plan.ctTables.map((t) => `${INGRESS}.${t.name}`))];
}

/** Policy (stage) table names of the plan, fully qualified. */
export function policyTableNames(plan: Plan): string[] {
  return [...new Set(plan.stageTables.map((t) => `${INGRESS}.${t.name}`))];
}

/**
 * The shape of a generated P4 program: its text without comments and with whitespace folded.
 * offload/p4gen.ts writes the policy's flows (and the policy's name) into comments, so two
 * policies whose P4 differs only there run on the same pipeline (tables, keys, actions, sizes
 * and code equal): a policy change between them rewrites the policy tables, no push needed.
 * The generated program has no string literal holding comment markers.
 */
export function programShape(p4: string): string {
  return p4
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/[^\n]*/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

const FAILED_PRECONDITION = 9;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

export interface PipelineOutcome {
  action: 'pushed' | 'attached';
  /** Why, for the log line. */
  why: string;
}

/**
 * Make `program` the switch's pipeline (see top). `client` must be primary. On 'attached' the
 * client's P4Info index is set to the program's (names in packet I/O and notifications).
 */
export async function ensurePipeline(client: P4RuntimeClient, program: DaemonProgram, cookie: bigint, mode: PipelineMode, deadlineMs: number): Promise<PipelineOutcome> {
  let why = '--pipeline push';
  if (mode !== 'push') {
    let loaded: Awaited<ReturnType<P4RuntimeClient['getPipeline']>> | undefined;
    try {
      loaded = await client.getPipeline('ALL', { deadlineMs });
    } catch (e) {
      if ((e as { grpcCode?: number }).grpcCode !== FAILED_PRECONDITION) throw e;
    }
    if (!loaded?.p4info) {
      if (mode === 'attach') throw new DaemonTargetError(`${client.address}: no pipeline is loaded and --pipeline attach does not push one`, true);
      why = 'the switch had no pipeline';
    } else {
      const sameInfo = sameBytes(encodeP4Info(loaded.p4info.p4info), encodeP4Info(program.p4info.p4info));
      const sameCookie = loaded.cookie !== undefined && BigInt(loaded.cookie) === cookie;
      const sameJson = loaded.deviceConfig !== undefined && sameBytes(loaded.deviceConfig, program.json);
      if (sameInfo && (sameCookie || sameJson)) {
        client.p4info = program.p4info;
        return { action: 'attached', why: sameCookie ? `cookie 0x${cookie.toString(16)} matches` : 'same P4Info and bmv2 JSON' };
      }
      why = sameInfo ? `same P4Info but another program or policy (cookie ${loaded.cookie === undefined ? 'unset' : `0x${BigInt(loaded.cookie).toString(16)}`})` : 'another P4Info';
      if (mode === 'attach') throw new DaemonTargetError(`${client.address}: the loaded pipeline is not this program (${why}); --pipeline attach refuses to replace it`, true);
    }
  }
  await client.setPipeline({ p4info: program.p4info, deviceConfig: program.json, cookie }, 'VERIFY_AND_COMMIT', { deadlineMs: Math.max(deadlineMs, 30_000) });
  const probe = ctTableNames(program.plan)[0] ?? policyTableNames(program.plan)[0];
  if (probe) {
    try {
      await client.readAll([{ tableEntry: tableReadRequest(program.p4info, probe) }], { deadlineMs });
    } catch (e) {
      throw new DaemonTargetError(`${client.address}: the switch accepted the pipeline but cannot use it: Read of ${probe} failed (${(e as Error).message})`, true, { cause: e });
    }
  }
  return { action: 'pushed', why };
}

/** Key of a static (ternary, prioritized) entry: table, match and priority. */
function staticKey(table: string, match: Record<string, unknown>, priority: number): string {
  return `${entryKey(table, match)}#${priority}`;
}

/** A read-back match as the entry builder writes it (exact → value, ternary → value/mask). */
export function matchSpecOf(d: ReturnType<typeof describeTableEntry>): Record<string, bigint | { value: bigint; mask: bigint }> {
  const m: Record<string, bigint | { value: bigint; mask: bigint }> = {};
  for (const [k, v] of Object.entries(d.match)) {
    if (v.kind === 'ternary') m[k] = { value: v.value, mask: v.mask };
    else if (v.kind === 'lpm') m[k] = { value: v.value, mask: BigInt(v.prefixLen) };
    else if (v.kind === 'range') m[k] = { value: v.low, mask: v.high };
    else m[k] = v.value;
  }
  return m;
}

/** Only what a DELETE needs from a read-back entry. */
export function deletable(e: TableEntry): Update {
  const d: TableEntry = { tableId: e.tableId };
  if (e.match) d.match = e.match;
  if (e.priority) d.priority = e.priority;
  return remove(d);
}

export interface StaticOutcome {
  inserted: number;
  modified: number;
  deleted: number;
}

/**
 * Bring the policy tables to exactly `program.entries`. After a push the tables are empty: one
 * INSERT Write. After an attach they are read first: entries that are not ours are deleted,
 * ours are MODIFYed (same key, action maybe not) or INSERTed. Conntrack tables are not touched.
 * Throws on any failed update (the daemon then retries the whole session).
 */
export async function installStaticEntries(client: P4RuntimeClient, program: DaemonProgram, attached: boolean, deadlineMs: number): Promise<StaticOutcome> {
  const idx = program.p4info;
  const out: StaticOutcome = { inserted: 0, modified: 0, deleted: 0 };
  const write = async (updates: Update[], what: string): Promise<void> => {
    if (!updates.length) return;
    try {
      await client.write(updates, { deadlineMs });
    } catch (e) {
      if (e instanceof WriteBatchError) throw new DaemonTargetError(`${what} of the static entries failed: ${e.message}`, false, { cause: e });
      throw e;
    }
  };
  if (!attached) {
    await write(toUpdates(program.entries, idx, 'INSERT'), 'INSERT');
    out.inserted = program.entries.length;
    return out;
  }
  const present = new Map<string, TableEntry>();
  for (const table of policyTableNames(program.plan)) {
    for (const ent of await client.readAll([{ tableEntry: tableReadRequest(idx, table) }], { deadlineMs })) {
      if (!ent.tableEntry || ent.tableEntry.isDefaultAction) continue;
      const d = describeTableEntry(idx, ent.tableEntry);
      present.set(staticKey(d.table, matchSpecOf(d), d.priority), ent.tableEntry);
    }
  }
  const want = new Map(program.entries.map((e) => [staticKey(e.table, e.spec.match ?? {}, e.spec.priority ?? 0), e]));
  const dels = [...present].filter(([k]) => !want.has(k)).map(([, e]) => deletable(e));
  await write(dels, 'DELETE');
  const mods: OffloadEntry[] = [];
  const ins: OffloadEntry[] = [];
  for (const [k, e] of want) (present.has(k) ? mods : ins).push(e);
  await write(mods.length ? toUpdates(mods, idx, 'MODIFY') : [], 'MODIFY');
  await write(ins.length ? toUpdates(ins, idx, 'INSERT') : [], 'INSERT');
  return { inserted: ins.length, modified: mods.length, deleted: dels.length };
}

/** Read every conntrack entry of the plan's tables (raw entries with their controller keys). */
export async function readConntrackEntries(client: P4RuntimeClient, program: DaemonProgram, deadlineMs: number): Promise<{ key: string; entry: TableEntry }[]> {
  const out: { key: string; entry: TableEntry }[] = [];
  for (const table of ctTableNames(program.plan)) {
    for (const ent of await client.readAll([{ tableEntry: tableReadRequest(program.p4info, table) }], { deadlineMs })) {
      if (!ent.tableEntry || ent.tableEntry.isDefaultAction) continue;
      const d = describeTableEntry(program.p4info, ent.tableEntry);
      out.push({ key: entryKey(d.table, matchSpecOf(d)), entry: ent.tableEntry });
    }
  }
  return out;
}
