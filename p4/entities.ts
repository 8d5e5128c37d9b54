/**
 * Entity builders by name (docs/style.md §2, after p4runtime-shell's `MatchKey` / `Action`): values
 * are encoded with p4/bytes.ts against the P4Info bitwidths, and the match-kind, priority and
 * action rules of P4Runtime spec §9.1 (docs/p4-target-interfaces.md §4.4, §4.5, §4.7, §4.10) are checked here, before
 * gRPC, with errors naming the table and field. The server would reject the same entries with
 * INVALID_ARGUMENT per update; catching them here gives a message that points at the caller.
 */
import { bigIntToCanonical, bytesToBigInt, checkFits, encodeValue, fullMask, prefixMask, toBigInt, type P4Value } from './bytes.js';
import { P4EntityError, P4ValueError } from './errors.js';
import type {
  Action,
  CounterData,
  CounterEntry,
  DigestEntry,
  DigestList,
  DirectCounterEntry,
  Entity,
  FieldMatch,
  MeterConfig,
  PacketIn,
  PacketOut,
  TableEntry,
  Update,
  UpdateType,
} from './messages.js';
import type { ActionInfo, MatchFieldInfo, P4InfoIndex, TableInfo } from './p4info.js';

/**
 * How a caller gives one match field:
 * - EXACT / OPTIONAL: a value, or `{ value }`.
 * - LPM: `{ value, prefixLen }`, a string `'10.0.0.0/8'` / `'fd00::/8'`, or a bare value (= full width).
 * - TERNARY: `{ value, mask }`, or a bare value (= all-ones mask).
 * - RANGE: `{ low, high }`, or a bare value (= `low = high = value`).
 * Omit the key (or give `undefined`/`null`) for "don't care" — never for EXACT fields.
 */
export type MatchSpec =
  | P4Value
  | { value: P4Value; mask?: P4Value; prefixLen?: number }
  | { low: P4Value; high: P4Value };

export interface ActionSpec {
  /** Action name (full, suffix or alias). */
  action: string;
  params?: Record<string, P4Value>;
}

export interface TableEntrySpec {
  /** Match field name (full P4Info name such as `hdr.ipv4.src`, or a unique suffix) → value. */
  match?: Record<string, MatchSpec | undefined | null>;
  /** Action name; required for INSERT, optional for MODIFY (keeps the action) and reads. */
  action?: string;
  params?: Record<string, P4Value>;
  /** For tables with an action profile (implementation_id ≠ 0). */
  actionProfileMemberId?: number;
  actionProfileGroupId?: number;
  /** Required (> 0) iff the table has a TERNARY, RANGE or OPTIONAL field (spec §9.1). */
  priority?: number;
  /**
   * TTL in ns (spec §9.1.8); only on NOTIFY_CONTROL tables. bmv2 truncates to whole ms, so a
   * TTL below 1 ms means "never ages" there (docs/p4-target-interfaces.md §4.10).
   */
  idleTimeoutNs?: bigint | number;
  /** Direct counter: initial value on INSERT, overwrite on MODIFY; `{}` in a read to get it. */
  counterData?: { byteCount?: bigint | number; packetCount?: bigint | number };
  meterConfig?: MeterConfig;
  /** Opaque cookie (`TableEntry.metadata`). */
  metadata?: Uint8Array;
  /** The default entry: no match, priority 0, MODIFY only (spec §9.1.4). */
  isDefaultAction?: boolean;
  /** In a read request: ask for `time_since_last_hit`. */
  withTimeSinceLastHit?: boolean;
}

function where(table: TableInfo, field?: string): string {
  return `table '${table.name}'${field ? `, field '${field}'` : ''}`;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array);
}

const LPM_TEXT = /^(.+)\/(\d+)$/;

/** One FieldMatch for `field` of `table`, or null when the spec is a don't-care (not allowed: throws). */
export function fieldMatch(table: TableInfo, field: MatchFieldInfo, spec: MatchSpec): FieldMatch {
  const w = field.bitwidth;
  const at = where(table, field.name);
  const fail = (msg: string): never => {
    throw new P4EntityError(msg, table.name, field.name);
  };
  const value = (v: P4Value | undefined, what = 'value'): bigint => {
    if (v === undefined || v === null) fail(`missing ${what}`);
    const n = toBigInt(v!, at);
    checkFits(n, w, at, v!);
    return n;
  };
  switch (field.matchKind) {
    case 'EXACT':
    case 'OPTIONAL': {
      const v = value(isObj(spec) && 'value' in spec ? spec.value : (spec as P4Value));
      const bytes = bigIntToCanonical(v);
      return field.matchKind === 'EXACT' ? { fieldId: field.id, exact: { value: bytes } } : { fieldId: field.id, optional: { value: bytes } };
    }
    case 'LPM': {
      let v: bigint;
      let len: number;
      const text = typeof spec === 'string' ? LPM_TEXT.exec(spec) : null;
      if (text) {
        v = value(text[1]!);
        len = Number(text[2]);
      } else if (isObj(spec) && 'value' in spec) {
        v = value(spec.value);
        len = spec.prefixLen ?? w;
      } else {
        v = value(spec as P4Value);
        len = w;
      }
      if (!Number.isInteger(len) || len < 0 || len > w) fail(`LPM prefix length ${len} is outside 1..${w}`);
      // Spec §9.1.1: a zero-length prefix is a don't-care and must be expressed by omitting the field.
      if (len === 0) fail('LPM prefix length 0 means "don\'t care": omit the field instead');
      if ((v & ~prefixMask(len, w) & fullMask(w)) !== 0n) fail(`LPM value 0x${v.toString(16)} has bits set beyond the /${len} prefix (spec §9.1.1)`);
      return { fieldId: field.id, lpm: { value: bigIntToCanonical(v), prefixLen: len } };
    }
    case 'TERNARY': {
      let v: bigint;
      let m: bigint;
      if (isObj(spec) && 'value' in spec) {
        v = value(spec.value);
        m = spec.mask === undefined ? fullMask(w) : value(spec.mask, 'mask');
      } else {
        v = value(spec as P4Value);
        m = fullMask(w);
      }
      if (m === 0n) fail('ternary mask 0 means "don\'t care": omit the field instead (spec §9.1.1)');
      if ((v & m) !== v) fail(`ternary value 0x${v.toString(16)} has bits outside mask 0x${m.toString(16)} (value & mask must equal value, spec §9.1.1)`);
      return { fieldId: field.id, ternary: { value: bigIntToCanonical(v), mask: bigIntToCanonical(m) } };
    }
    case 'RANGE': {
      let lo: bigint;
      let hi: bigint;
      if (isObj(spec) && 'low' in spec) {
        lo = value(spec.low, 'low');
        hi = value(spec.high, 'high');
      } else if (isObj(spec) && 'value' in spec) {
        lo = hi = value(spec.value);
      } else {
        lo = hi = value(spec as P4Value);
      }
      if (lo > hi) fail(`range low ${lo} > high ${hi}`);
      if (lo === 0n && hi === fullMask(w)) fail('a range covering the whole domain means "don\'t care": omit the field instead (spec §9.1.1)');
      return { fieldId: field.id, range: { low: bigIntToCanonical(lo), high: bigIntToCanonical(hi) } };
    }
    default:
      return fail(`match kind '${field.matchKind}' is not supported by the builder`);
  }
}

/** The match key of an entry (FieldMatch list in P4Info field order), checked. */
export function matchKey(index: P4InfoIndex, table: string | TableInfo, match: TableEntrySpec['match'] = {}, opts: { wildcard?: boolean } = {}): FieldMatch[] {
  const t = typeof table === 'string' ? index.table(table) : table;
  const given = new Map<number, [string, MatchSpec]>();
  for (const [name, spec] of Object.entries(match ?? {})) {
    const f = index.matchField(t, name);
    if (given.has(f.id)) throw new P4EntityError(`given twice (as '${given.get(f.id)![0]}' and '${name}')`, t.name, f.name);
    if (spec === undefined || spec === null) continue;
    given.set(f.id, [name, spec]);
  }
  const out: FieldMatch[] = [];
  for (const f of t.matchFields) {
    const g = given.get(f.id);
    if (!g) {
      // Spec §9.1.1: exact fields can never be omitted (a read may use no match at all: wildcard).
      if (f.matchKind === 'EXACT' && !opts.wildcard) throw new P4EntityError('EXACT field missing (exact fields cannot be omitted)', t.name, f.name);
      continue;
    }
    out.push(fieldMatch(t, f, g[1]));
  }
  return out;
}

/** An Action with every param encoded and checked (spec §9.1.2: each param exactly once). */
export function actionCall(index: P4InfoIndex, table: TableInfo | null, action: string, params: Record<string, P4Value> = {}, asDefault = false): Action {
  const a: ActionInfo = index.action(action);
  if (table) {
    const ref = table.actionRefs.find((r) => r.id === a.id);
    const allowed = table.actionRefs.map((r) => index.action(r.id).name);
    if (!ref) throw new P4EntityError(`action '${a.name}' is not an action of this table (allowed: ${allowed.join(', ')})`, table.name);
    if (asDefault && ref.scope === 'TABLE_ONLY') throw new P4EntityError(`action '${a.name}' is @tableonly and cannot be the default action`, table.name);
    if (!asDefault && ref.scope === 'DEFAULT_ONLY') throw new P4EntityError(`action '${a.name}' is @defaultonly and cannot be used in an entry`, table.name);
  }
  const seen = new Set<number>();
  const out: Action = { actionId: a.id, params: [] };
  for (const [name, v] of Object.entries(params)) {
    const p = index.param(a, name);
    seen.add(p.id);
    out.params!.push({ paramId: p.id, value: encodeValue(v, p.bitwidth, `action '${a.name}', param '${p.name}'`) });
  }
  const missing = a.params.filter((p) => !seen.has(p.id)).map((p) => p.name);
  if (missing.length) {
    throw new P4EntityError(`action '${a.name}' is missing param${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}`, table?.name ?? '-');
  }
  out.params!.sort((x, y) => x.paramId - y.paramId);
  return out;
}

function int64(v: bigint | number, what: string, t: TableInfo): bigint {
  const n = typeof v === 'bigint' ? v : Number.isSafeInteger(v) ? BigInt(v) : NaN;
  if (typeof n !== 'bigint' || n < 0n || n >= 1n << 63n) throw new P4EntityError(`${what} ${v} is not a non-negative int64`, t.name);
  return n;
}

/** A TableEntry by names, checked against the P4Info (see TableEntrySpec). */
export function tableEntry(index: P4InfoIndex, table: string, spec: TableEntrySpec = {}): TableEntry {
  const t = index.table(table);
  const fail = (msg: string, field?: string): never => {
    throw new P4EntityError(msg, t.name, field);
  };
  const e: TableEntry = { tableId: t.id };
  if (spec.isDefaultAction) {
    // Spec §9.1.4: the default entry has no match and priority 0; no idle timeout on it.
    if (spec.match && Object.values(spec.match).some((v) => v !== undefined && v !== null)) fail('the default entry has no match fields');
    if (spec.priority) fail('the default entry has priority 0');
    if (spec.idleTimeoutNs) fail('the default entry cannot have an idle timeout');
    if (t.constDefaultActionId && spec.action) fail(`the default action is const (${index.action(t.constDefaultActionId).name})`);
    e.isDefaultAction = true;
  } else {
    e.match = matchKey(index, t, spec.match);
    if (t.matchFields.length === 0 && spec.match && Object.keys(spec.match).length) fail('table has no key');
    const p = spec.priority ?? 0;
    if (!Number.isInteger(p) || p < 0 || p > 0x7fffffff) fail(`priority ${p} is not an int32 ≥ 0`);
    if (t.needsPriority && p === 0) {
      fail(`priority > 0 required: the table has ${t.matchFields.filter((f) => f.matchKind === 'TERNARY' || f.matchKind === 'RANGE' || f.matchKind === 'OPTIONAL').map((f) => `${f.matchKind} field '${f.name}'`).join(', ')} (spec §9.1)`);
    }
    if (!t.needsPriority && p !== 0) fail(`priority must be 0: the table has no TERNARY, RANGE or OPTIONAL field (spec §9.1)`);
    if (p) e.priority = p;
  }
  if (spec.action !== undefined) {
    if (t.implementationId) fail('the table uses an action profile: give actionProfileMemberId or actionProfileGroupId');
    e.action = { action: actionCall(index, t, spec.action, spec.params, !!spec.isDefaultAction) };
  } else if (spec.params && Object.keys(spec.params).length) {
    fail('params given without an action');
  } else if (spec.actionProfileMemberId !== undefined || spec.actionProfileGroupId !== undefined) {
    if (!t.implementationId) fail('the table has no action profile');
    e.action = spec.actionProfileMemberId !== undefined ? { actionProfileMemberId: spec.actionProfileMemberId } : { actionProfileGroupId: spec.actionProfileGroupId! };
  }
  if (spec.idleTimeoutNs !== undefined && spec.idleTimeoutNs !== 0 && spec.idleTimeoutNs !== 0n) {
    if (!t.supportsIdleTimeout) fail('idle timeout set on a table without support_timeout (idle_timeout_behavior NO_TIMEOUT; spec §9.1.8)');
    e.idleTimeoutNs = int64(spec.idleTimeoutNs, 'idleTimeoutNs', t);
  }
  if (spec.withTimeSinceLastHit) {
    if (!t.supportsIdleTimeout) fail('time_since_last_hit requested on a table without support_timeout');
    e.timeSinceLastHit = {};
  }
  if (spec.counterData) {
    if (!t.directCounterId) fail('counter_data set on a table without a direct counter (spec §9.1.7)');
    const c: CounterData = {};
    if (spec.counterData.byteCount !== undefined) c.byteCount = int64(spec.counterData.byteCount, 'byteCount', t);
    if (spec.counterData.packetCount !== undefined) c.packetCount = int64(spec.counterData.packetCount, 'packetCount', t);
    e.counterData = c;
  }
  if (spec.meterConfig) {
    if (!t.directMeterId) fail('meter_config set on a table without a direct meter');
    e.meterConfig = spec.meterConfig;
  }
  if (spec.metadata) e.metadata = spec.metadata;
  return e;
}

/** A TableEntry for a Read: table wildcard (`table` undefined), all entries of a table, or a key. */
export function tableReadRequest(index: P4InfoIndex, table?: string, spec: Pick<TableEntrySpec, 'match' | 'priority' | 'isDefaultAction' | 'withTimeSinceLastHit'> & { counterData?: boolean } = {}): TableEntry {
  if (!table) return { tableId: 0 };
  const t = index.table(table);
  const e: TableEntry = { tableId: t.id };
  if (spec.isDefaultAction) e.isDefaultAction = true;
  else if (spec.match && Object.keys(spec.match).length) e.match = matchKey(index, t, spec.match);
  if (spec.priority) e.priority = spec.priority;
  if (spec.counterData) {
    if (!t.directCounterId) throw new P4EntityError('no direct counter on this table', t.name);
    e.counterData = {};
  }
  if (spec.withTimeSinceLastHit) {
    if (!t.supportsIdleTimeout) throw new P4EntityError('time_since_last_hit requested on a table without support_timeout', t.name);
    e.timeSinceLastHit = {};
  }
  return e;
}

/** DirectCounterEntry for the entry with this key (match omitted: every entry of the table, in reads). */
export function directCounterEntry(index: P4InfoIndex, table: string, spec: Pick<TableEntrySpec, 'match' | 'priority'> & { data?: TableEntrySpec['counterData'] } = {}): DirectCounterEntry {
  const t = index.table(table);
  if (!t.directCounterId) throw new P4EntityError('no direct counter on this table', t.name);
  const te: TableEntry = { tableId: t.id };
  if (spec.match && Object.keys(spec.match).length) te.match = matchKey(index, t, spec.match);
  if (spec.priority) te.priority = spec.priority;
  const out: DirectCounterEntry = { tableEntry: te };
  if (spec.data) {
    out.data = {};
    if (spec.data.byteCount !== undefined) out.data.byteCount = int64(spec.data.byteCount, 'byteCount', t);
    if (spec.data.packetCount !== undefined) out.data.packetCount = int64(spec.data.packetCount, 'packetCount', t);
  }
  return out;
}

/** CounterEntry (indirect counter); `cell` undefined = every cell (read wildcard). */
export function counterEntry(index: P4InfoIndex, counter: string, cell?: number | bigint): CounterEntry {
  const c = index.counter(counter);
  const e: CounterEntry = { counterId: c.id };
  if (cell !== undefined) {
    const i = BigInt(cell);
    if (i < 0n || (c.size > 0n && i >= c.size)) throw new P4ValueError(`index ${i} outside 0..${c.size - 1n}`, `counter '${c.name}'`);
    e.index = { index: i };
  }
  return e;
}

/** DigestEntry enabling a digest (spec §9.8); defaults: one list per sample, no de-dup cache. */
export function digestEntry(index: P4InfoIndex, digest: string, config: { maxTimeoutNs?: bigint | number; maxListSize?: number; ackTimeoutNs?: bigint | number } = {}): DigestEntry {
  const d = index.digest(digest);
  return {
    digestId: d.id,
    config: { maxTimeoutNs: BigInt(config.maxTimeoutNs ?? 0), maxListSize: config.maxListSize ?? 1, ackTimeoutNs: BigInt(config.ackTimeoutNs ?? 0) },
  };
}

function checkUpdate(type: UpdateType, entity: Entity): void {
  const te = entity.tableEntry;
  if (te) {
    if (te.isDefaultAction && type !== 'MODIFY') throw new P4EntityError(`the default entry accepts only MODIFY, not ${type} (spec §9.1.4)`, `id 0x${(te.tableId ?? 0).toString(16)}`);
    if (type === 'INSERT' && !te.action) throw new P4EntityError('INSERT needs an action (spec §9.1.2)', `id 0x${(te.tableId ?? 0).toString(16)}`);
    if (te.isConst) throw new P4EntityError('is_const must be false in writes', `id 0x${(te.tableId ?? 0).toString(16)}`);
  }
  if ((entity.counterEntry || entity.directCounterEntry || entity.meterEntry || entity.directMeterEntry) && type !== 'MODIFY') {
    throw new P4EntityError(`counter and meter entries accept only MODIFY, not ${type} (spec §9.3, §9.4)`, '-');
  }
}

function asEntity(e: Entity | TableEntry): Entity {
  return 'tableId' in e || 'match' in e || 'isDefaultAction' in e ? { tableEntry: e as TableEntry } : (e as Entity);
}

/** Update helpers; a bare TableEntry is wrapped into an Entity. */
export function insert(e: Entity | TableEntry): Update {
  const entity = asEntity(e);
  checkUpdate('INSERT', entity);
  return { type: 'INSERT', entity };
}

export function modify(e: Entity | TableEntry): Update {
  const entity = asEntity(e);
  checkUpdate('MODIFY', entity);
  return { type: 'MODIFY', entity };
}

export function remove(e: Entity | TableEntry): Update {
  const entity = asEntity(e);
  checkUpdate('DELETE', entity);
  return { type: 'DELETE', entity };
}

// --- packet I/O ----------------------------------------------------------------------------------

/**
 * PacketOut with the `packet_out` controller header fields by name. Every field must be given
 * (spec §16.1: exactly one PacketMetadata per field; PI would silently send zeros).
 */
export function packetOut(index: P4InfoIndex, payload: Uint8Array, metadata: Record<string, P4Value> = {}): PacketOut {
  const hdr = index.find('controllerPacketMetadata', 'packet_out');
  if (!hdr) {
    if (Object.keys(metadata).length) throw new P4ValueError('the P4Info has no packet_out controller header', 'PacketOut');
    return { payload, metadata: [] };
  }
  const out: PacketOut = { payload, metadata: [] };
  const seen = new Set<number>();
  for (const [name, v] of Object.entries(metadata)) {
    const m = index.packetMetadata(hdr, name);
    seen.add(m.id);
    out.metadata!.push({ metadataId: m.id, value: encodeValue(v, m.bitwidth, `packet_out field '${m.name}'`) });
  }
  const missing = hdr.metadata.filter((m) => !seen.has(m.id)).map((m) => m.name);
  if (missing.length) throw new P4ValueError(`missing packet_out field${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}`, 'PacketOut');
  out.metadata!.sort((a, b) => a.metadataId - b.metadataId);
  return out;
}

export interface DecodedPacketIn {
  payload: Uint8Array;
  /** `packet_in` field name → value; unknown metadata ids appear as `#<id>`. */
  metadata: Record<string, bigint>;
}

export function decodePacketIn(index: P4InfoIndex, p: PacketIn): DecodedPacketIn {
  const hdr = index.find('controllerPacketMetadata', 'packet_in');
  const metadata: Record<string, bigint> = {};
  for (const m of p.metadata ?? []) {
    let name = `#${m.metadataId}`;
    if (hdr) {
      try {
        name = index.packetMetadata(hdr, m.metadataId).name;
      } catch {
        // keep '#id': the server sent an id the P4Info does not list
      }
    }
    metadata[name] = bytesToBigInt(m.value ?? new Uint8Array(0));
  }
  return { payload: p.payload ?? new Uint8Array(0), metadata };
}

export interface DecodedDigestList {
  digest: string;
  digestId: number;
  listId: bigint;
  timestamp: bigint;
  /** One record per sample: struct member name (or tuple position) → value. */
  samples: Record<string, bigint>[];
}

export function decodeDigestList(index: P4InfoIndex, d: DigestList): DecodedDigestList {
  const info = index.find('digest', d.digestId ?? 0);
  const samples = (d.data ?? []).map((data) => {
    const members = data.struct?.members ?? data.tuple?.members ?? (data.bitstring ? [data] : []);
    const rec: Record<string, bigint> = {};
    members.forEach((m, i) => {
      const name = info?.members[i]?.name || String(i);
      rec[name] = bytesToBigInt(m.bitstring ?? new Uint8Array(0));
    });
    return rec;
  });
  return { digest: info?.name ?? `#${d.digestId}`, digestId: d.digestId ?? 0, listId: d.listId ?? 0n, timestamp: d.timestamp ?? 0n, samples };
}

// --- reading entries back --------------------------------------------------------------------------

export type DecodedMatch =
  | { kind: 'exact' | 'optional'; value: bigint }
  | { kind: 'lpm'; value: bigint; prefixLen: number }
  | { kind: 'ternary'; value: bigint; mask: bigint }
  | { kind: 'range'; low: bigint; high: bigint };

export interface DecodedTableEntry {
  table: string;
  match: Record<string, DecodedMatch>;
  action?: string;
  params?: Record<string, bigint>;
  priority: number;
  isDefaultAction: boolean;
  idleTimeoutNs: bigint;
  counterData?: { byteCount: bigint; packetCount: bigint };
  elapsedNs?: bigint;
  metadata?: Uint8Array;
}

const b = (x: Uint8Array | undefined): bigint => bytesToBigInt(x ?? new Uint8Array(0));

/** Names and integer values of a TableEntry read back (reads, idle-timeout notifications). */
export function describeTableEntry(index: P4InfoIndex, e: TableEntry): DecodedTableEntry {
  const t = index.table(e.tableId ?? 0);
  const match: Record<string, DecodedMatch> = {};
  for (const m of e.match ?? []) {
    const name = index.matchField(t, m.fieldId).name;
    if (m.exact) match[name] = { kind: 'exact', value: b(m.exact.value) };
    else if (m.optional) match[name] = { kind: 'optional', value: b(m.optional.value) };
    else if (m.lpm) match[name] = { kind: 'lpm', value: b(m.lpm.value), prefixLen: m.lpm.prefixLen ?? 0 };
    else if (m.ternary) match[name] = { kind: 'ternary', value: b(m.ternary.value), mask: b(m.ternary.mask) };
    else if (m.range) match[name] = { kind: 'range', low: b(m.range.low), high: b(m.range.high) };
  }
  const out: DecodedTableEntry = {
    table: t.name,
    match,
    priority: e.priority ?? 0,
    isDefaultAction: !!e.isDefaultAction,
    idleTimeoutNs: e.idleTimeoutNs ?? 0n,
  };
  const act = e.action?.action;
  if (act) {
    const a = index.action(act.actionId);
    out.action = a.name;
    out.params = {};
    for (const p of act.params ?? []) out.params[index.param(a, p.paramId).name] = b(p.value);
  }
  if (e.counterData) out.counterData = { byteCount: e.counterData.byteCount ?? 0n, packetCount: e.counterData.packetCount ?? 0n };
  if (e.timeSinceLastHit) out.elapsedNs = e.timeSinceLastHit.elapsedNs ?? 0n;
  if (e.metadata && e.metadata.length) out.metadata = e.metadata;
  return out;
}
