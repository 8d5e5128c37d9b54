/**
 * The observation build is the production build plus observation, and nothing else: a check on
 * p4c's own outputs (the bmv2 JSON and the P4Info that p4c-bm2-ss writes, docs/p4-target-interfaces.md §7.1) for the two
 * builds of one policy and configuration (config `probe` true / false, offload/probe.ts).
 *
 * ## The formulation
 *
 * Observation state is exactly: the header instances `probe` and `lookups[i]` (the header
 * stack `lookups`, their types `probe_t` and `lookup_t`) and the metadata fields under
 * `meta.obs` (p4c's scalar fields whose name has an `obs` component). A PLAIN input is a frame
 * arriving on a data port that does not start with the probe's magic and version (0x63 0x74
 * 0x02), or a PacketOut. `equalButObservation(probe, production)` holds iff all of:
 *
 * 1. P4Info: byte for byte the same (tables, their match fields and kinds, sizes, action refs,
 *    direct counters and idle-timeout support; actions and parameters; counters; controller
 *    packet metadata — all of it).
 * 2. bmv2 JSON, after ERASURE of the probe build (below) and with ids, source locations and
 *    p4c's generated names (tbl_act_N, act_N, node_N, numeric suffixes of scalar fields) left
 *    out of the comparison:
 *    - the same header types and header instances, header stacks, parse value sets, errors,
 *      enums, counters, meters, registers, calculations, checksums, learn lists, field lists,
 *      extern instances and field aliases;
 *    - the same parser graph from the start state (ops, keys, transitions);
 *    - the same deparser order;
 *    - for each pipeline (ingress, egress), the same control-flow graph from its init node:
 *      every table of the P4Info at the same place, with the same key, match type, size,
 *      counters, timeout support, actions and default entry; every kept conditional with the
 *      same expression; and between them the same sequence of primitives (the straight-line
 *      code p4c puts in its own keyless one-action tables, concatenated and with the constant
 *      action data substituted, so that p4c's choice of where to cut that code does not matter).
 * 3. The erasure rests on two facts it checks: no ingress primitive makes `probe` valid, and
 *    the parser reaches `probe` only through a lookahead select whose other transitions lead to
 *    observation-only states (`check_probe`).
 *
 * ERASURE of the probe build: (a) every primitive whose target (first parameter) is observation
 * state is removed (header validity, fields, stack push/pop); (b) an ingress conditional whose
 * expression is decided by "`probe` is invalid" (valid bit 0, `&&`/`||`/`!` folded) is replaced
 * by the branch a plain input takes; (c) a conditional whose two branches, once erased, reach
 * the same node (they held observation only) is removed; (d) in the parser, the lookahead state
 * of (3) is replaced by its default transition, and extracts of observation headers are removed;
 * (e) observation headers leave the deparser order, the header lists and the scalar fields.
 *
 * Why this is the claim: by (2) the erased probe build IS the production program, so for a plain
 * input the probe build applies the same tables with the same keys in the same order, takes the
 * same branches and writes the same non-observation state (egress port, drop, packet_in
 * header, every production header), because (b) only removes code a plain input never runs
 * (probe invalid in ingress by 3), (a) only removes writes of observation state, and, since
 * the production program mentions no observation state, nothing kept reads it. Observation is
 * write-only. What the probe build adds on the wire — the probe and lookup records it emits in
 * front of a frame — is the dataplane test's part (test/offload/observation-dataplane.test.ts).
 */

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

export interface EqualityReport {
  ok: boolean;
  /** Every mismatch found, as "where: what" lines (empty when ok). */
  problems: string[];
  /** What the erasure removed or resolved (for the test's record). */
  erased: { primitives: number; conditionalsResolved: number; conditionalsCollapsed: number; parserStates: number; headers: number; scalarFields: number };
}

const OBS_HEADERS = /^(probe|lookups\[\d+\])$/;
const OBS_STACKS = new Set(['lookups']);
const OBS_TYPES = new Set(['probe_t', 'lookup_t']);
/** p4c names a flattened `meta.obs.lookups` e.g. `userMetadata.obs.lookups` or `_obs_lookups12`. */
const OBS_SCALAR = /(^|[._])obs[._]/;

const isObsHeader = (h: string): boolean => OBS_HEADERS.test(h);

/**
 * Observation scalars of the probe build: `meta.obs` fields, and the p4c temporaries that only
 * the probe's lookahead select uses (set in `obsTemps` per comparison, see compareParsers).
 */
let obsTemps = new Set<string>();
const isObsScalar = (name: string): boolean => OBS_SCALAR.test(name) || obsTemps.has(name);

/** Does a JSON value (expression, parameter, key) of the probe build mention observation state? */
function readsObservation(v: Json): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some(readsObservation);
  switch (v.type) {
    case 'field':
      return isObsHeader(v.value[0]) || (v.value[0] === 'scalars' && isObsScalar(v.value[1]));
    case 'header':
    case 'regular': // parser extract
      return isObsHeader(v.value);
    case 'header_stack':
    case 'stack':
      return OBS_STACKS.has(v.value);
    case 'stack_field':
      return OBS_STACKS.has(v.value[0]);
    default:
      return Object.values(v).some(readsObservation);
  }
}

/** Is the primitive's target (its first parameter) observation state? */
function writesObservation(p: Json): boolean {
  const t = p.parameters?.[0];
  return t !== undefined && readsObservation(t) && !['exit', 'log_msg', '_assert', 'assume'].includes(p.op);
}

/** Canonical form: no ids, no source locations, scalar names without p4c's numeric suffixes. */
function canon(v: Json, names: (s: string) => string): Json {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => canon(x, names));
  if (v.type === 'field' && Array.isArray(v.value) && v.value[0] === 'scalars') return { type: 'field', value: ['scalars', names(v.value[1])] };
  const out: Record<string, Json> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'id' || k === 'source_info' || k === 'action_ids' || k === 'action_id' || k === 'header_ids') continue;
    out[k] = canon(x, names);
  }
  return out;
}

/** p4c's temporaries (`tmp`, `tmp_0`, …): numbered per program, so compared by position. */
const TEMP = /^tmp(_\d+)?$/;

/**
 * Scalar field name → canonical name: a p4c temporary becomes `tmp#k`, k its position among the
 * program's temporaries in p4c's field list (observation temporaries left out), so that the
 * renumbering an extra temporary causes is not a difference; a wrong pairing only makes the
 * comparison fail. Every other name (flattened metadata, e.g. `metadata_t._fk_in_port`) as is.
 */
function scalarNamer(json: Json, skip: (name: string) => boolean): (s: string) => string {
  const fields: string[] = (json.header_types.find((t: Json) => t.name === 'scalars_0' || t.name === 'scalars')?.fields ?? []).map((f: Json) => f[0]);
  const temps = new Map(fields.filter((n) => TEMP.test(n) && !skip(n)).map((n, k) => [n, `tmp#${k}`]));
  return (s) => temps.get(s) ?? s;
}

interface Side {
  json: Json;
  names: (s: string) => string;
  userTables: Set<string>;
  actions: Map<string, Json>;
  /** Erase observation (the probe build) or not (production). */
  erase: boolean;
}

interface Pipe {
  side: Side;
  pipe: Json;
  tables: Map<string, Json>;
  conds: Map<string, Json>;
  ingress: boolean;
}

const stats = (): EqualityReport['erased'] => ({ primitives: 0, conditionalsResolved: 0, conditionalsCollapsed: 0, parserStates: 0, headers: 0, scalarFields: 0 });

/**
 * Value of an ingress condition under "`probe` is invalid": true/false when that decides it,
 * undefined otherwise (bmv2 expression ops: d2b, b2d, and, or, not, ==, !=).
 */
function decideWithoutProbe(e: Json): boolean | number | undefined {
  if (e === null || typeof e !== 'object') return undefined;
  if (e.type === 'expression') return decideWithoutProbe(e.value);
  if (e.type === 'field' && e.value[0] === 'probe' && e.value[1] === '$valid$') return 0;
  if (e.type === 'bool') return Boolean(e.value);
  if (e.op !== undefined) {
    const l = decideWithoutProbe(e.left);
    const r = decideWithoutProbe(e.right);
    switch (e.op) {
      case 'd2b':
        return r === undefined ? undefined : Boolean(r);
      case 'b2d':
        return r === undefined ? undefined : r ? 1 : 0;
      case 'not':
        return r === undefined ? undefined : !r;
      case 'and':
        return l === false || r === false ? false : l === true && r === true ? true : undefined;
      case 'or':
        return l === true || r === true ? true : l === false && r === false ? false : undefined;
      default:
        return undefined;
    }
  }
  return undefined;
}

function makeSide(json: Json, p4infoTables: string[], erase: boolean): Side {
  return {
    json,
    names: scalarNamer(json, (n) => erase && isObsScalar(n)),
    userTables: new Set(p4infoTables),
    actions: new Map(json.actions.map((a: Json) => [a.name, a])),
    erase,
  };
}

function makePipe(side: Side, name: string): Pipe | undefined {
  const pipe = side.json.pipelines.find((p: Json) => p.name === name);
  if (!pipe) return undefined;
  return { side, pipe, tables: new Map(pipe.tables.map((t: Json) => [t.name, t])), conds: new Map(pipe.conditionals.map((c: Json) => [c.name, c])), ingress: name === 'ingress' };
}

/**
 * Compare the two builds' outputs. `probe`/`prod`: parsed bmv2 JSON; `p4info*`: binary P4Info;
 * `p4infoTables`: the P4Info table names (the tables the control plane sees).
 */
export function equalButObservation(
  probe: { json: Json; p4info: Uint8Array },
  prod: { json: Json; p4info: Uint8Array },
  p4infoTables: string[],
): EqualityReport {
  const problems: string[] = [];
  const erased = stats();
  const fail = (where: string, what: string): void => {
    if (problems.length < 50) problems.push(`${where}: ${what}`);
  };

  // 1. P4Info, byte for byte.
  if (Buffer.compare(Buffer.from(probe.p4info), Buffer.from(prod.p4info)) !== 0) fail('P4Info', 'the two builds\' P4Info differ');

  obsTemps = lookaheadTemps(probe.json);
  const A = makeSide(probe.json, p4infoTables, true);
  const B = makeSide(prod.json, p4infoTables, false);

  // 2a. Declarations.
  const declsOf = (s: Side): Record<string, Json> => {
    const j = s.json;
    const scalarsType = j.header_types.find((t: Json) => t.name === 'scalars_0' || t.name === 'scalars');
    const types = j.header_types
      .filter((t: Json) => !(s.erase && OBS_TYPES.has(t.name)) && t !== scalarsType)
      .map((t: Json) => canon(t, s.names));
    const scalars = (scalarsType?.fields ?? []).filter((f: Json) => !(s.erase && isObsScalar(f[0]))).map((f: Json) => [s.names(f[0]), f[1], f[2]]);
    if (s.erase) {
      erased.headers += j.headers.filter((h: Json) => isObsHeader(h.name)).length;
      erased.scalarFields += (scalarsType?.fields ?? []).filter((f: Json) => isObsScalar(f[0])).length;
    }
    const out: Record<string, Json> = {
      header_types: types,
      scalars,
      headers: j.headers.filter((h: Json) => !(s.erase && isObsHeader(h.name))).map((h: Json) => canon(h, s.names)),
      header_stacks: (j.header_stacks ?? []).filter((h: Json) => !(s.erase && OBS_STACKS.has(h.name))).map((h: Json) => canon(h, s.names)),
    };
    const handled = new Set(['header_types', 'headers', 'header_stacks', 'parsers', 'deparsers', 'actions', 'pipelines', 'program', '__meta__']);
    for (const [k, v] of Object.entries(j)) if (!handled.has(k)) out[k] = canon(v, s.names);
    return out;
  };
  const da = declsOf(A);
  const db = declsOf(B);
  for (const k of new Set([...Object.keys(da), ...Object.keys(db)])) {
    if (JSON.stringify(da[k]) !== JSON.stringify(db[k])) fail(`bmv2 JSON ${k}`, `differ after erasure:\n  observation: ${JSON.stringify(da[k]).slice(0, 600)}\n  production:  ${JSON.stringify(db[k]).slice(0, 600)}`);
  }

  // 2b. Deparser order.
  const order = (s: Side): string[] => (s.json.deparsers[0]?.order ?? []).filter((h: string) => !(s.erase && isObsHeader(h)));
  if (JSON.stringify(order(A)) !== JSON.stringify(order(B))) fail('deparser', `order ${order(A).join(',')} vs ${order(B).join(',')}`);

  // 2c. Parser graph.
  compareParsers(A, B, fail, erased);

  // 2d. Pipelines. 3: no ingress primitive makes `probe` valid.
  for (const name of new Set([...A.json.pipelines.map((p: Json) => p.name), ...B.json.pipelines.map((p: Json) => p.name)])) {
    const pa = makePipe(A, name);
    const pb = makePipe(B, name);
    if (!pa || !pb) {
      fail(`pipeline ${name}`, 'present in one build only');
      continue;
    }
    if (pa.ingress) {
      for (const t of pa.pipe.tables) {
        for (const an of t.actions) {
          for (const p of A.actions.get(an)?.primitives ?? []) {
            const tgt = p.parameters?.[0];
            if ((p.op === 'add_header' || p.op === 'assign_header' || p.op === 'assign_header_stack') && tgt && JSON.stringify(tgt).includes('"probe"')) fail(`ingress action ${an}`, `${p.op} makes probe valid: a plain input would not keep it invalid`);
          }
        }
      }
    }
    comparePipes(pa, pb, fail, erased);
  }
  return { ok: problems.length === 0, problems, erased };
}

// ---------------------------------------------------------------------------------------------

/**
 * A select on a lookahead and nothing else: no ops but `set` of p4c temporaries from the
 * lookahead, and a key of lookaheads or of those temporaries (p4c's form of
 * `select(packet.lookahead<bit<24>>())`).
 */
function isLookaheadSelect(s: Json): boolean {
  const temps = new Set<string>();
  for (const op of s.parser_ops) {
    const [dst, src] = op.parameters ?? [];
    if (op.op !== 'set' || dst?.type !== 'field' || dst.value[0] !== 'scalars' || !TEMP.test(dst.value[1]) || src?.type !== 'lookahead') return false;
    temps.add(dst.value[1]);
  }
  return s.transition_key.length > 0 && s.transition_key.every((k: Json) => k.type === 'lookahead' || (k.type === 'field' && k.value[0] === 'scalars' && temps.has(k.value[1])));
}

/** The temporaries the probe build's lookahead selects into observation states use (erased with them). */
function lookaheadTemps(json: Json): Set<string> {
  const states = new Map<string, Json>(json.parsers[0].parse_states.map((s: Json) => [s.name, s]));
  const toObs = (n: string | null): boolean => {
    const t = n === null ? undefined : states.get(n);
    return !!t && t.parser_ops.length > 0 && t.parser_ops.every((op: Json) => op.op === 'extract' && op.parameters?.[0]?.type === 'regular' && isObsHeader(op.parameters[0].value));
  };
  const out = new Set<string>();
  for (const s of states.values()) {
    if (!isLookaheadSelect(s)) continue;
    const nonDefault = s.transitions.filter((t: Json) => t.type !== 'default');
    if (nonDefault.length && nonDefault.every((t: Json) => toObs(t.next_state))) for (const op of s.parser_ops) out.add(op.parameters[0].value[1]);
  }
  return out;
}

function compareParsers(A: Side, B: Side, fail: (w: string, m: string) => void, erased: EqualityReport['erased']): void {
  const pa = A.json.parsers[0];
  const pb = B.json.parsers[0];
  const sa = new Map<string, Json>(pa.parse_states.map((s: Json) => [s.name, s]));
  const sb = new Map<string, Json>(pb.parse_states.map((s: Json) => [s.name, s]));
  const obsOnly = (s: Json | undefined): boolean => !!s && s.parser_ops.length > 0 && s.parser_ops.every((op: Json) => readsObservation(op.parameters));
  const resolved = new Set<string>();
  /** The state a plain input is in after `name` in the observation build (erasure d). */
  const resolve = (name: string | null): string | null => {
    if (!A.erase || name === null) return name;
    const s = sa.get(name);
    if (!s) return name;
    const nonDefault = s.transitions.filter((t: Json) => t.type !== 'default');
    const dflt = s.transitions.find((t: Json) => t.type === 'default');
    if (isLookaheadSelect(s) && dflt && nonDefault.length > 0 && nonDefault.every((t: Json) => t.next_state !== null && obsOnly(sa.get(t.next_state)))) {
      resolved.add(name);
      return resolve(dflt.next_state);
    }
    return name;
  };
  const seen = new Set<string>();
  const walk = (a: string | null, b: string | null): void => {
    a = resolve(a);
    const key = `${a}|${b}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (a === null || b === null) {
      if (a !== b) fail('parser', `state ${a} vs ${b}`);
      return;
    }
    const x = sa.get(a);
    const y = sb.get(b);
    if (!x || !y) return fail('parser', `missing state ${a} / ${b}`);
    const ops = x.parser_ops.filter((op: Json) => !(A.erase && readsObservation(op.parameters)));
    if (JSON.stringify(canon(ops, A.names)) !== JSON.stringify(canon(y.parser_ops, B.names))) fail(`parser state ${a}`, 'different parser ops');
    if (JSON.stringify(canon(x.transition_key, A.names)) !== JSON.stringify(canon(y.transition_key, B.names))) fail(`parser state ${a}`, 'different transition key');
    if (x.transitions.length !== y.transitions.length) return fail(`parser state ${a}`, 'different transitions');
    x.transitions.forEach((t: Json, i: number) => {
      const u = y.transitions[i];
      if (t.type !== u.type || t.value !== u.value || t.mask !== u.mask) fail(`parser state ${a}`, `transition ${i} differs`);
      walk(t.next_state, u.next_state);
    });
  };
  walk(pa.init_state, pb.init_state);
  erased.parserStates += resolved.size;
}

/** A pipeline node as the comparison sees it. */
type Node =
  | { k: 'end' }
  | { k: 'table'; t: Json }
  | { k: 'cond'; c: Json };

function comparePipes(pa: Pipe, pb: Pipe, fail: (w: string, m: string) => void, erased: EqualityReport['erased']): void {
  const where = `pipeline ${pa.pipe.name}`;
  const node = (p: Pipe, n: string | null): Node => {
    if (n === null) return { k: 'end' };
    const t = p.tables.get(n);
    if (t) return { k: 'table', t };
    const c = p.conds.get(n);
    if (c) return { k: 'cond', c };
    throw new Error(`${where}: unknown node ${n}`);
  };
  /** p4c's own straight-line tables: not in the P4Info, keyless, one action. */
  const straight = (p: Pipe, t: Json): boolean => !p.side.userTables.has(t.name);
  const nextOf = (t: Json): string | null => t.base_default_next ?? (Object.values(t.next_tables)[0] as string | null) ?? null;
  /** Primitives of a straight-line table, erased, with its constant action data substituted. */
  const primsOf = (p: Pipe, t: Json): Json[] => {
    if (t.key.length || t.actions.length !== 1) {
      fail(where, `p4c table ${t.name} is not keyless with one action`);
      return [];
    }
    const a = p.side.actions.get(t.actions[0]);
    const data: Json[] = t.default_entry?.action_data ?? [];
    const subst = (v: Json): Json => {
      if (v === null || typeof v !== 'object') return v;
      if (Array.isArray(v)) return v.map(subst);
      if (v.type === 'runtime_data') return { type: 'hexstr', value: data[v.value] };
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, subst(x)]));
    };
    const out: Json[] = [];
    for (const [i, prim] of a.primitives.entries()) {
      if (p.side.erase && writesObservation(prim)) {
        once.add(`prim ${a.name}#${i}`);
        continue;
      }
      out.push(canon(subst(prim), p.side.names));
    }
    return out;
  };
  const memoSkip = new Map<string, string | null>();
  /** What erasure removed, each once (primsOf and skip run more than once per node). */
  const once = new Set<string>();
  /** Erasure (b), (c) and empty straight-line tables: the next node that does something. */
  const skip = (p: Pipe, n: string | null): string | null => {
    if (n === null) return null;
    const key = `${p.side.erase}|${n}`;
    if (memoSkip.has(key)) return memoSkip.get(key)!;
    let r: string | null = n;
    const x = node(p, n);
    if (x.k === 'table' && straight(p, x.t) && primsOf(p, x.t).length === 0) r = skip(p, nextOf(x.t));
    else if (x.k === 'cond' && p.side.erase) {
      const decided = p.ingress ? decideWithoutProbe(x.c.expression) : undefined;
      if (typeof decided === 'boolean') {
        once.add(`resolved ${x.c.name}`);
        r = skip(p, decided ? x.c.true_next : x.c.false_next);
      } else {
        const t = skip(p, x.c.true_next);
        const f = skip(p, x.c.false_next);
        if (t === f) {
          once.add(`collapsed ${x.c.name}`);
          r = t;
        } else if (readsObservation(x.c.expression)) fail(where, `conditional ${x.c.name} on observation state steers production code (${JSON.stringify(x.c.expression).slice(0, 300)})`);
      }
    }
    memoSkip.set(key, r);
    return r;
  };
  /** From `n`: the straight-line primitives up to the next table of the P4Info or kept conditional. */
  const segment = (p: Pipe, n: string | null): { prims: Json[]; at: Node; name: string | null } => {
    const prims: Json[] = [];
    let cur = skip(p, n);
    for (;;) {
      const x = node(p, cur);
      if (x.k === 'table' && straight(p, x.t)) {
        prims.push(...primsOf(p, x.t));
        cur = skip(p, nextOf(x.t));
        continue;
      }
      return { prims, at: x, name: cur };
    }
  };
  const seen = new Set<string>();
  const walk = (a: string | null, b: string | null): void => {
    const key = `${a}|${b}`;
    if (seen.has(key)) return;
    seen.add(key);
    const sa = segment(pa, a);
    const sb = segment(pb, b);
    const at = `${where} before ${sa.name ?? 'end'} / ${sb.name ?? 'end'}`;
    if (JSON.stringify(sa.prims) !== JSON.stringify(sb.prims)) {
      fail(at, `straight-line code differs:\n  observation: ${JSON.stringify(sa.prims).slice(0, 800)}\n  production:  ${JSON.stringify(sb.prims).slice(0, 800)}`);
      return;
    }
    const x = sa.at;
    const y = sb.at;
    if (x.k !== y.k) return fail(at, `${x.k} vs ${y.k}`);
    if (x.k === 'end') return;
    if (x.k === 'cond' && y.k === 'cond') {
      if (JSON.stringify(canon(x.c.expression, pa.side.names)) !== JSON.stringify(canon(y.c.expression, pb.side.names))) return fail(at, 'different conditions');
      walk(x.c.true_next, y.c.true_next);
      walk(x.c.false_next, y.c.false_next);
      return;
    }
    if (x.k === 'table' && y.k === 'table') {
      const t = x.t;
      const u = y.t;
      if (t.name !== u.name) return fail(at, `table ${t.name} vs ${u.name}`);
      const props = (v: Json, s: Side): Json => canon({ key: v.key, match_type: v.match_type, type: v.type, max_size: v.max_size, with_counters: v.with_counters, support_timeout: v.support_timeout, direct_meters: v.direct_meters, actions: v.actions, default_entry: v.default_entry, entries: v.entries ?? [] }, s.names);
      if (JSON.stringify(props(t, pa.side)) !== JSON.stringify(props(u, pb.side))) fail(`table ${t.name}`, 'different properties');
      for (const an of t.actions) {
        const ea = pa.side.actions.get(an);
        const eb = pb.side.actions.get(an);
        const body = (e: Json, p: Pipe): Json => canon({ runtime_data: e?.runtime_data, primitives: (e?.primitives ?? []).filter((q: Json) => !(p.side.erase && writesObservation(q))) }, p.side.names);
        if (JSON.stringify(body(ea, pa)) !== JSON.stringify(body(eb, pb))) fail(`action ${an}`, 'different body');
      }
      const keys = new Set([...Object.keys(t.next_tables), ...Object.keys(u.next_tables)]);
      for (const k of keys) walk(t.next_tables[k] ?? null, u.next_tables[k] ?? null);
      if ((t.base_default_next ?? null) !== null || (u.base_default_next ?? null) !== null) walk(t.base_default_next ?? null, u.base_default_next ?? null);
    }
  };
  walk(pa.pipe.init_table, pb.pipe.init_table);
  for (const x of once) {
    if (x.startsWith('prim ')) erased.primitives++;
    else if (x.startsWith('resolved ')) erased.conditionalsResolved++;
    else erased.conditionalsCollapsed++;
  }
}
