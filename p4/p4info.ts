/**
 * One index over a P4Info, built once per pipeline (docs/style.md §2, after p4runtime-shell's
 * `Context.set_p4info`): every later lookup of a table, match field, action, param, counter,
 * meter, digest or controller packet metadata goes through it, by fully qualified name, by any
 * unique dotted suffix (`MyIngress.ct_table` or `ct_table`) or by id. Callers never handle
 * numeric ids (offload/ asks by name).
 *
 * Building the index validates the P4Info (ids, names, widths, references) and throws
 * CTO_P4INFO_BAD naming the place, so a malformed P4Info fails once, up front.
 */
import protobuf from 'protobufjs';
import protojson from 'protobufjs/ext/protojson.js';
import textformat from 'protobufjs/ext/textformat.js';
import { P4InfoAmbiguousError, P4InfoFormatError, P4InfoUnknownNameError } from './errors.js';
import { DECODE_OPTIONS, decodeMessage, encodeMessage, protoType } from './proto.js';

export type MatchKind = 'EXACT' | 'LPM' | 'TERNARY' | 'RANGE' | 'OPTIONAL';

/** P4Ids.Prefix: top byte of every P4Info object id (spec §6.3, docs/p4-target-interfaces.md §2.1). */
export const P4_ID_PREFIX = {
  action: 0x01,
  table: 0x02,
  valueSet: 0x03,
  controllerPacketMetadata: 0x04,
  actionProfile: 0x11,
  counter: 0x12,
  directCounter: 0x13,
  meter: 0x14,
  directMeter: 0x15,
  register: 0x16,
  digest: 0x17,
} as const;
export type P4ObjectKind = keyof typeof P4_ID_PREFIX;

const KIND_LABEL: Record<P4ObjectKind, string> = {
  action: 'action',
  table: 'table',
  valueSet: 'value set',
  controllerPacketMetadata: 'controller packet metadata',
  actionProfile: 'action profile',
  counter: 'counter',
  directCounter: 'direct counter',
  meter: 'meter',
  directMeter: 'direct meter',
  register: 'register',
  digest: 'digest',
};

/** P4Info list field holding each kind. */
const KIND_LIST: Record<P4ObjectKind, string> = {
  action: 'actions',
  table: 'tables',
  valueSet: 'valueSets',
  controllerPacketMetadata: 'controllerPacketMetadata',
  actionProfile: 'actionProfiles',
  counter: 'counters',
  directCounter: 'directCounters',
  meter: 'meters',
  directMeter: 'directMeters',
  register: 'registers',
  digest: 'digests',
};

export interface Named {
  id: number;
  name: string;
}

export interface P4Object extends Named {
  kind: P4ObjectKind;
  alias: string;
  annotations: string[];
  /** The decoded P4Info message (plain object) this entry was made from. */
  raw: Record<string, any>;
}

export interface MatchFieldInfo extends Named {
  bitwidth: number;
  /** One of the five standard kinds, or the text of `other_match_type` (e.g. `selector`). */
  matchKind: MatchKind | string;
}

export interface ActionRefInfo {
  id: number;
  scope: 'TABLE_AND_DEFAULT' | 'TABLE_ONLY' | 'DEFAULT_ONLY' | 'GROUP_ACTION';
}

export interface TableInfo extends P4Object {
  kind: 'table';
  matchFields: MatchFieldInfo[];
  actionRefs: ActionRefInfo[];
  constDefaultActionId: number;
  implementationId: number;
  directResourceIds: number[];
  size: bigint;
  /** idle_timeout_behavior = NOTIFY_CONTROL (v1model `support_timeout = true`). */
  supportsIdleTimeout: boolean;
  isConstTable: boolean;
  /** Entries need priority > 0: some field is TERNARY, RANGE or OPTIONAL (spec §9.1). */
  needsPriority: boolean;
  /** Id of the direct counter attached to this table, or 0. */
  directCounterId: number;
  /** Id of the direct meter attached to this table, or 0. */
  directMeterId: number;
}

export interface ParamInfo extends Named {
  bitwidth: number;
}

export interface ActionInfo extends P4Object {
  kind: 'action';
  params: ParamInfo[];
}

export interface PacketMetadataInfo extends Named {
  bitwidth: number;
}

export interface ControllerHeaderInfo extends P4Object {
  kind: 'controllerPacketMetadata';
  metadata: PacketMetadataInfo[];
}

export interface DirectResourceInfo extends P4Object {
  kind: 'directCounter' | 'directMeter';
  directTableId: number;
  unit: string;
}

export interface SizedInfo extends P4Object {
  kind: 'counter' | 'meter' | 'register';
  size: bigint;
  unit: string;
}

export interface DigestInfo extends P4Object {
  kind: 'digest';
  /** Member names and widths when the digest type is a struct/tuple of bitstrings (v1model). */
  members: ParamInfo[];
}

type InfoOf<K extends P4ObjectKind> = K extends 'table'
  ? TableInfo
  : K extends 'action'
    ? ActionInfo
    : K extends 'controllerPacketMetadata'
      ? ControllerHeaderInfo
      : K extends 'directCounter' | 'directMeter'
        ? DirectResourceInfo
        : K extends 'counter' | 'meter' | 'register'
          ? SizedInfo
          : K extends 'digest'
            ? DigestInfo
            : P4Object;

/**
 * Name table with dotted-suffix lookup. `MyIngress.ct.t` is found as `MyIngress.ct.t`,
 * `ct.t` or `t` as long as the suffix is unique; the P4Info alias also works.
 */
export class NameTable<T extends Named> {
  private readonly full = new Map<string, T>();
  private readonly suffix = new Map<string, T[]>();
  private readonly byId = new Map<number, T>();
  readonly all: T[] = [];

  constructor(
    private readonly kind: string,
    private readonly scope = '',
  ) {}

  add(item: T, alias?: string): void {
    this.all.push(item);
    this.full.set(item.name, item);
    this.byId.set(item.id, item);
    const parts = item.name.split('.');
    const seen = new Set<string>();
    for (let i = 0; i < parts.length; i++) {
      const s = parts.slice(i).join('.');
      seen.add(s);
      push(this.suffix, s, item);
    }
    if (alias && !seen.has(alias)) push(this.suffix, alias, item);
  }

  has(nameOrId: string | number): boolean {
    return this.find(nameOrId) !== undefined;
  }

  /** Lookup or undefined; ambiguity still throws. */
  find(nameOrId: string | number): T | undefined {
    if (typeof nameOrId === 'number') return this.byId.get(nameOrId);
    const exact = this.full.get(nameOrId);
    if (exact) return exact;
    const hits = this.suffix.get(nameOrId);
    if (!hits) return undefined;
    if (hits.length > 1) throw new P4InfoAmbiguousError(this.kind, nameOrId, hits.map((h) => h.name), this.scope);
    return hits[0];
  }

  get(nameOrId: string | number): T {
    const hit = this.find(nameOrId);
    if (hit) return hit;
    if (typeof nameOrId === 'number') {
      throw new P4InfoUnknownNameError(this.kind, `id 0x${nameOrId.toString(16)}`, [], this.scope);
    }
    throw new P4InfoUnknownNameError(this.kind, nameOrId, closeNames(nameOrId, this.all.map((a) => a.name)), this.scope);
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/** Up to three names close to `lookup`: containing it, or within a small edit distance of a suffix. */
export function closeNames(lookup: string, names: string[]): string[] {
  const l = lookup.toLowerCase();
  const scored: [number, string][] = [];
  for (const n of names) {
    const parts = n.split('.');
    let best = Infinity;
    for (let i = 0; i < parts.length; i++) best = Math.min(best, editDistance(l, parts.slice(i).join('.').toLowerCase()));
    if (n.toLowerCase().includes(l)) best = Math.min(best, 1);
    if (best <= Math.max(2, Math.floor(l.length / 3))) scored.push([best, n]);
  }
  return scored.sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1])).slice(0, 3).map((s) => s[1]);
}

/** A P4Info as bytes (binary protobuf), a proto3 JSON object/string (p4c `.json`), or text format. */
export type P4InfoSource = Uint8Array | string | Record<string, unknown>;

let textformatInstalled = false;
let protojsonInstalled = false;

/**
 * Decode any supported P4Info form into the plain-object convention of p4/proto.ts. JSON (text
 * or parsed) is read as proto3 JSON (protobufjs ext/protojson): lowerCamelCase or original
 * snake_case keys, 64-bit numbers as strings, enums by name, and an unknown key is an error
 * rather than a silently dropped field. An already-decoded object (bigints) goes straight to
 * `new P4InfoIndex(obj)`.
 */
export function loadP4Info(source: P4InfoSource): Record<string, any> {
  const t = protoType('p4.config.v1.P4Info');
  if (source instanceof Uint8Array) return decodeMessage(t, source);
  let obj: Record<string, unknown>;
  if (typeof source === 'string') {
    const s = source.trimStart();
    if (s.startsWith('{')) {
      try {
        obj = JSON.parse(s) as Record<string, unknown>;
      } catch (e) {
        throw new P4InfoFormatError(`not valid JSON: ${(e as Error).message}`, '');
      }
    } else {
      // protobuf text format (p4c `.txtpb` / `.txt`): protobufjs ships a parser (ext/textformat).
      return parseText(t, s);
    }
  } else obj = source;
  if (!protojsonInstalled) {
    protojson.install();
    protojsonInstalled = true;
  }
  try {
    const msg = (t as unknown as { fromJson(j: unknown): protobuf.Message }).fromJson(obj);
    return t.toObject(msg, DECODE_OPTIONS);
  } catch (e) {
    throw new P4InfoFormatError(`cannot read P4Info JSON: ${(e as Error).message}`, '');
  }
}

function parseText(t: protobuf.Type, text: string): Record<string, any> {
  if (!textformatInstalled) {
    textformat.install();
    textformatInstalled = true;
  }
  try {
    const msg = (t as unknown as { fromText(s: string): protobuf.Message }).fromText(text);
    return t.toObject(msg, DECODE_OPTIONS);
  } catch (e) {
    throw new P4InfoFormatError(`cannot read P4Info text format: ${(e as Error).message}`, '');
  }
}

/** Encode a P4Info plain object to binary (for ForwardingPipelineConfig). */
export function encodeP4Info(p4info: Record<string, unknown>): Uint8Array {
  return encodeMessage('p4.config.v1.P4Info', p4info);
}

export class P4InfoIndex {
  /** The decoded P4Info (plain object; see p4/proto.ts conventions). */
  readonly p4info: Record<string, any>;
  private readonly tables_: NameTable<TableInfo>;
  private readonly actions_: NameTable<ActionInfo>;
  private readonly tables: Map<P4ObjectKind, NameTable<P4Object>> = new Map();
  private readonly ids = new Map<number, P4Object>();
  private readonly matchFieldTables = new Map<number, NameTable<MatchFieldInfo>>();
  private readonly paramTables = new Map<number, NameTable<ParamInfo>>();
  private readonly metadataTables = new Map<number, NameTable<PacketMetadataInfo>>();

  /** Build from any supported form (see P4InfoSource). */
  static from(source: P4InfoSource): P4InfoIndex {
    return new P4InfoIndex(loadP4Info(source));
  }

  constructor(p4info: Record<string, any>) {
    this.p4info = p4info;
    for (const kind of Object.keys(P4_ID_PREFIX) as P4ObjectKind[]) this.tables.set(kind, new NameTable(KIND_LABEL[kind]));
    this.tables_ = this.tables.get('table') as unknown as NameTable<TableInfo>;
    this.actions_ = this.tables.get('action') as unknown as NameTable<ActionInfo>;
    for (const kind of Object.keys(P4_ID_PREFIX) as P4ObjectKind[]) {
      const list = p4info[KIND_LIST[kind]] ?? [];
      if (!Array.isArray(list)) throw new P4InfoFormatError('is not a list', KIND_LIST[kind]);
      list.forEach((raw: Record<string, any>, i: number) => this.addObject(kind, raw, `${KIND_LIST[kind]}[${i}]`));
    }
    this.checkReferences();
  }

  private addObject(kind: P4ObjectKind, raw: Record<string, any>, place: string): void {
    const pre = raw?.preamble;
    if (!pre) throw new P4InfoFormatError('has no preamble', place);
    const id = Number(pre.id ?? 0);
    const name = String(pre.name ?? '');
    if (!name) throw new P4InfoFormatError('has an empty name', place);
    place = `${place} (${name})`;
    if (id === 0) throw new P4InfoFormatError('has id 0 (never valid, spec §6.3)', place);
    const prefix = id >>> 24;
    if (prefix !== P4_ID_PREFIX[kind]) {
      throw new P4InfoFormatError(
        `id 0x${id.toString(16)} has prefix 0x${prefix.toString(16)}, expected 0x${P4_ID_PREFIX[kind].toString(16).padStart(2, '0')} for a ${KIND_LABEL[kind]} (spec §6.3)`,
        place,
      );
    }
    const dup = this.ids.get(id);
    if (dup) throw new P4InfoFormatError(`id 0x${id.toString(16)} is also used by '${dup.name}'`, place);
    const table = this.tables.get(kind)!;
    if (table.find(name) && table.all.some((o) => o.name === name)) throw new P4InfoFormatError(`duplicate ${KIND_LABEL[kind]} name`, place);
    const base: P4Object = { kind, id, name, alias: String(pre.alias ?? ''), annotations: pre.annotations ?? [], raw };
    let obj: P4Object = base;
    switch (kind) {
      case 'table':
        obj = this.makeTable(base, raw, place);
        break;
      case 'action': {
        const params = new NameTable<ParamInfo>('param', `action '${name}': `);
        const list: ParamInfo[] = [];
        (raw.params ?? []).forEach((p: Record<string, any>, i: number) => {
          const pinfo = this.member(p, `${place}.params[${i}]`, params);
          list.push(pinfo);
        });
        this.paramTables.set(id, params);
        obj = { ...base, params: list } as ActionInfo;
        break;
      }
      case 'controllerPacketMetadata': {
        const md = new NameTable<PacketMetadataInfo>('metadata field', `controller header '${name}': `);
        const list: PacketMetadataInfo[] = [];
        (raw.metadata ?? []).forEach((m: Record<string, any>, i: number) => list.push(this.member(m, `${place}.metadata[${i}]`, md)));
        this.metadataTables.set(id, md);
        obj = { ...base, metadata: list } as ControllerHeaderInfo;
        break;
      }
      case 'directCounter':
      case 'directMeter':
        obj = { ...base, directTableId: Number(raw.directTableId ?? 0), unit: String(raw.spec?.unit ?? 'UNSPECIFIED') } as DirectResourceInfo;
        break;
      case 'counter':
      case 'meter':
      case 'register':
        obj = { ...base, size: BigInt(raw.size ?? 0), unit: String(raw.spec?.unit ?? 'UNSPECIFIED') } as SizedInfo;
        break;
      case 'digest':
        obj = { ...base, members: this.digestMembers(raw, place) } as DigestInfo;
        break;
      default:
        break;
    }
    table.add(obj, base.alias);
    this.ids.set(id, obj);
  }

  /** A member with id, name and bitwidth (match field, param, packet metadata), checked. */
  private member<T extends Named & { bitwidth: number }>(raw: Record<string, any>, place: string, into: NameTable<T>, extra: Partial<T> = {}): T {
    const id = Number(raw?.id ?? 0);
    const name = String(raw?.name ?? '');
    if (!name) throw new P4InfoFormatError('has an empty name', place);
    place = `${place} (${name})`;
    if (id === 0) throw new P4InfoFormatError('has id 0', place);
    if (into.find(id)) throw new P4InfoFormatError(`id ${id} is used twice`, place);
    if (into.all.some((m) => m.name === name)) throw new P4InfoFormatError('duplicate name', place);
    const bitwidth = Number(raw.bitwidth ?? 0);
    if (!Number.isInteger(bitwidth) || bitwidth <= 0) throw new P4InfoFormatError(`bitwidth ${raw.bitwidth ?? 0} is not positive`, place);
    const m = { id, name, bitwidth, ...extra } as T;
    into.add(m);
    return m;
  }

  private makeTable(base: P4Object, raw: Record<string, any>, place: string): TableInfo {
    const fields = new NameTable<MatchFieldInfo>('match field', `table '${base.name}': `);
    const matchFields: MatchFieldInfo[] = [];
    (raw.matchFields ?? []).forEach((f: Record<string, any>, i: number) => {
      const p = `${place}.matchFields[${i}]`;
      const kind: string | undefined = f?.matchType ?? f?.otherMatchType;
      if (!kind || kind === 'UNSPECIFIED') throw new P4InfoFormatError('has no match type', `${p} (${f?.name ?? '?'})`);
      if (typeof kind === 'number') throw new P4InfoFormatError(`unknown match type ${kind}`, `${p} (${f?.name ?? '?'})`);
      matchFields.push(this.member(f, p, fields, { matchKind: kind } as Partial<MatchFieldInfo>));
    });
    this.matchFieldTables.set(base.id, fields);
    const scopes = new Set(['TABLE_AND_DEFAULT', 'TABLE_ONLY', 'DEFAULT_ONLY', 'GROUP_ACTION']);
    const actionRefs: ActionRefInfo[] = (raw.actionRefs ?? []).map((r: Record<string, any>, i: number) => {
      const scope = r?.scope ?? 'TABLE_AND_DEFAULT';
      if (!scopes.has(scope)) throw new P4InfoFormatError(`unknown scope ${scope}`, `${place}.actionRefs[${i}]`);
      return { id: Number(r?.id ?? 0), scope };
    });
    return {
      ...base,
      kind: 'table',
      matchFields,
      actionRefs,
      constDefaultActionId: Number(raw.constDefaultActionId ?? 0),
      implementationId: Number(raw.implementationId ?? 0),
      directResourceIds: (raw.directResourceIds ?? []).map(Number),
      size: BigInt(raw.size ?? 0),
      supportsIdleTimeout: raw.idleTimeoutBehavior === 'NOTIFY_CONTROL',
      isConstTable: !!raw.isConstTable,
      needsPriority: matchFields.some((f) => f.matchKind === 'TERNARY' || f.matchKind === 'RANGE' || f.matchKind === 'OPTIONAL'),
      directCounterId: 0,
      directMeterId: 0,
    };
  }

  private digestMembers(raw: Record<string, any>, place: string): ParamInfo[] {
    const spec = raw.typeSpec;
    if (!spec) throw new P4InfoFormatError('has no type_spec', place);
    const widthOf = (s: Record<string, any> | undefined): number => Number(s?.bitstring?.bit?.bitwidth ?? s?.bitstring?.int?.bitwidth ?? 0);
    if (spec.bitstring) return [{ id: 1, name: '', bitwidth: widthOf(spec) }];
    if (spec.struct) {
      const st = this.p4info.typeInfo?.structs?.[spec.struct.name];
      if (!st) throw new P4InfoFormatError(`struct '${spec.struct.name}' is not in type_info`, place);
      return (st.members ?? []).map((m: Record<string, any>, i: number) => ({ id: i + 1, name: String(m.name), bitwidth: widthOf(m.typeSpec) }));
    }
    if (spec.tuple) return (spec.tuple.members ?? []).map((m: Record<string, any>, i: number) => ({ id: i + 1, name: String(i), bitwidth: widthOf(m) }));
    return [];
  }

  private checkReferences(): void {
    for (const t of this.tables_.all) {
      const place = `tables (${t.name})`;
      for (const r of t.actionRefs) {
        if (!this.actions_.find(r.id)) throw new P4InfoFormatError(`action_refs names unknown action id 0x${r.id.toString(16)}`, place);
      }
      if (t.constDefaultActionId && !t.actionRefs.some((r) => r.id === t.constDefaultActionId)) {
        throw new P4InfoFormatError(`const_default_action_id 0x${t.constDefaultActionId.toString(16)} is not one of its actions`, place);
      }
      for (const id of t.directResourceIds) {
        const o = this.ids.get(id);
        if (!o) continue; // other direct externs (vendor) are not indexed
        if (o.kind === 'directCounter') t.directCounterId = id;
        else if (o.kind === 'directMeter') t.directMeterId = id;
      }
    }
    for (const kind of ['directCounter', 'directMeter'] as const) {
      for (const d of this.tables.get(kind)!.all as DirectResourceInfo[]) {
        if (!this.tables_.find(d.directTableId)) {
          throw new P4InfoFormatError(`direct_table_id 0x${d.directTableId.toString(16)} is not a table`, `${KIND_LIST[kind]} (${d.name})`);
        }
      }
    }
  }

  // --- lookups -------------------------------------------------------------------------------

  /** Any object of `kind` by full name, unique dotted suffix, alias or id. */
  get<K extends P4ObjectKind>(kind: K, nameOrId: string | number): InfoOf<K> {
    return this.tables.get(kind)!.get(nameOrId) as InfoOf<K>;
  }

  /** Like `get`, but undefined when absent (ambiguity still throws). */
  find<K extends P4ObjectKind>(kind: K, nameOrId: string | number): InfoOf<K> | undefined {
    return this.tables.get(kind)!.find(nameOrId) as InfoOf<K> | undefined;
  }

  /** Every object of `kind`, in P4Info order. */
  list<K extends P4ObjectKind>(kind: K): InfoOf<K>[] {
    return this.tables.get(kind)!.all as InfoOf<K>[];
  }

  /** The object with this id, whatever its kind. */
  byId(id: number): P4Object | undefined {
    return this.ids.get(id);
  }

  table(nameOrId: string | number): TableInfo {
    return this.tables_.get(nameOrId);
  }

  action(nameOrId: string | number): ActionInfo {
    return this.actions_.get(nameOrId);
  }

  counter(nameOrId: string | number): SizedInfo {
    return this.get('counter', nameOrId);
  }

  directCounter(nameOrId: string | number): DirectResourceInfo {
    return this.get('directCounter', nameOrId);
  }

  meter(nameOrId: string | number): SizedInfo {
    return this.get('meter', nameOrId);
  }

  directMeter(nameOrId: string | number): DirectResourceInfo {
    return this.get('directMeter', nameOrId);
  }

  digest(nameOrId: string | number): DigestInfo {
    return this.get('digest', nameOrId);
  }

  /** `packet_in` / `packet_out` controller header. */
  controllerHeader(nameOrId: string | number): ControllerHeaderInfo {
    return this.get('controllerPacketMetadata', nameOrId);
  }

  /** Match field of a table, by name (or unique suffix) or id. */
  matchField(table: string | number | TableInfo, nameOrId: string | number): MatchFieldInfo {
    const t = typeof table === 'object' ? table : this.table(table);
    return this.matchFieldTables.get(t.id)!.get(nameOrId);
  }

  /** Param of an action, by name or id. */
  param(action: string | number | ActionInfo, nameOrId: string | number): ParamInfo {
    const a = typeof action === 'object' ? action : this.action(action);
    return this.paramTables.get(a.id)!.get(nameOrId);
  }

  /** Field of a controller header (`packet_in`/`packet_out`), by name or id. */
  packetMetadata(header: string | number | ControllerHeaderInfo, nameOrId: string | number): PacketMetadataInfo {
    const h = typeof header === 'object' ? header : this.controllerHeader(header);
    return this.metadataTables.get(h.id)!.get(nameOrId);
  }

  /** Binary P4Info, for SetForwardingPipelineConfig. */
  encode(): Uint8Array {
    return encodeP4Info(this.p4info);
  }
}
