/**
 * Policy AST → the executor's form: numeric matches (32-bit words per field), per-table flow
 * lists sorted by priority, and one prebuilt CtArgs per ct() action, so that processing a packet
 * allocates nothing but its Verdict. Each table becomes a FlowTable (./classifier.ts): a linear
 * scan for small tables (the reference semantics), tuple space search as lib/classifier.c for
 * large ones.
 */
import { ALG_FTP, ALG_NONE, ALG_TFTP, CtArgs, NatInfo } from '../conntrack/index.js';
import type { Conntrack, TimeoutAttr } from '../conntrack/index.js';
import { TIMEOUT_ATTRS } from '../conntrack/index.js';
import { type ClassifierMode, FlowTable } from './classifier.js';
import { type Action, type ConjunctionAction, type CtAction, type Flow, MATCH_FIELDS, type MatchFieldName, type Policy, type SubfieldRef, matchFieldOrder } from './ast.js';
import { ConjunctiveTable } from './conjunction.js';
import { PIPE_METADATA_HI, PIPE_METADATA_LO, pipeBit, subfieldSpecByNxm } from './fields-regs.js';

/** Field ids = index in MATCH_FIELDS. */
export const F_IN_PORT = matchFieldOrder('in_port');
export const F_DL_SRC = matchFieldOrder('dl_src');
export const F_DL_DST = matchFieldOrder('dl_dst');
export const F_DL_TYPE = matchFieldOrder('dl_type');
export const F_DL_VLAN = matchFieldOrder('dl_vlan');
export const F_NW_SRC = matchFieldOrder('nw_src');
export const F_NW_DST = matchFieldOrder('nw_dst');
export const F_IPV6_SRC = matchFieldOrder('ipv6_src');
export const F_IPV6_DST = matchFieldOrder('ipv6_dst');
export const F_NW_PROTO = matchFieldOrder('nw_proto');
export const F_TP_SRC = matchFieldOrder('tp_src');
export const F_TP_DST = matchFieldOrder('tp_dst');
export const F_TCP_FLAGS = matchFieldOrder('tcp_flags');
export const F_CT_STATE = matchFieldOrder('ct_state');
export const F_CT_ZONE = matchFieldOrder('ct_zone');
export const F_CT_MARK = matchFieldOrder('ct_mark');
export const F_CT_LABEL = matchFieldOrder('ct_label');
export const F_CT_NW_PROTO = matchFieldOrder('ct_nw_proto');
export const F_CT_NW_SRC = matchFieldOrder('ct_nw_src');
export const F_CT_NW_DST = matchFieldOrder('ct_nw_dst');
export const F_CT_IPV6_SRC = matchFieldOrder('ct_ipv6_src');
export const F_CT_IPV6_DST = matchFieldOrder('ct_ipv6_dst');
export const F_CT_TP_SRC = matchFieldOrder('ct_tp_src');
export const F_CT_TP_DST = matchFieldOrder('ct_tp_dst');
export const F_CONJ_ID = matchFieldOrder('conj_id');
export const F_METADATA = matchFieldOrder('metadata');
/** reg0; regN is F_REG0 + N (MATCH_FIELDS lists them in order). */
export const F_REG0 = matchFieldOrder('reg0');

/** Fields whose value depends on the ct metadata (the rest only on the packet and in_port). */
export function isCtField(fid: number): boolean {
  return MATCH_FIELDS[fid]!.name.startsWith('ct_');
}

export const OP_OUTPUT = 0;
export const OP_CONTROLLER = 1;
export const OP_RESUBMIT = 2;
export const OP_GOTO = 3;
export const OP_CT = 4;
export const OP_CT_CLEAR = 5;
/** Constant write to pipeline state: `arg` = pipeline word (fields-regs.ts layout), `data` = [value, mask]. */
export const OP_LOAD = 6;
/** move: `data` = per bit [source offset in the field words, source bit, pipeline word, bit]; `fids` to load first. */
export const OP_MOVE = 7;
/** resubmit(,T,ct): `arg` = table; the lookup swaps in the original-direction tuple. */
export const OP_RESUBMIT_CT = 8;

/**
 * Bit copy plan of a source subfield (`move`, `ct(zone=FIELD)`): the field ids to load into
 * the executor's field words and, per bit from the lowest, [offset in the field words, bit].
 */
export interface SourceBits {
  fids: Int32Array;
  /** 2 entries per bit. */
  bits: Int32Array;
}

export function sourceBits(ref: SubfieldRef): SourceBits {
  const spec = subfieldSpecByNxm(ref.field);
  const fids: number[] = [];
  const bits = new Int32Array(ref.nBits * 2);
  for (let j = 0; j < ref.nBits; j++) {
    const b = ref.ofs + j;
    let fid: number;
    let bb = b;
    if (spec.xreg !== undefined) {
      // xregN = reg2N (high) : reg2N+1 (low), lib/flow.h flow_get_xreg.
      fid = F_REG0 + spec.xreg * 2 + (b < 32 ? 1 : 0);
      bb = b & 31;
    } else fid = matchFieldOrder(spec.match!);
    if (!fids.includes(fid)) fids.push(fid);
    // Field words: 4 per field, word 0 most significant (./classifier.ts FieldWords).
    bits[j * 2] = fid * 4 + 3 - (bb >> 5);
    bits[j * 2 + 1] = bb & 31;
  }
  return { fids: Int32Array.from(fids), bits };
}

export interface CompiledAction {
  op: number;
  /** Port (OP_OUTPUT), table (OP_RESUBMIT/OP_GOTO), recirculation table or -1 (OP_CT). */
  arg: number;
  /** OP_CT only. */
  ct: CtArgs | null;
  /**
   * OP_CT with `table=`: this action's number among the policy's recirculating ct() actions
   * (1, 2, … in file order), from which the executor derives the recirc_id of the pass that
   * follows (exec.ts `recircId`); 0 for every other action.
   */
  recirc: number;
  /** The AST node (trace text, positions). */
  src: Action;
  /** `src.pos.line`, kept here so translation does not reach into the AST per packet. */
  line: number;
  /** OP_LOAD: [value, mask]; OP_MOVE: per bit [pipeline word, bit] of the destination; else null. */
  data: Int32Array | null;
  /** OP_MOVE source; OP_CT with `zone=FIELD`: the zone's source (16 bits); else null. */
  srcBits: SourceBits | null;
  /** OP_CT with `zone=FIELD`: CtArgs per zone seen, built on first use from `ct` (else null). */
  ctByZone: Map<number, CtArgs> | null;
}

export interface CompiledFlow {
  flow: Flow;
  /** Position in the policy file (tie-break and trace). */
  index: number;
  priority: number;
  /** Field ids, ascending. */
  fids: Int32Array;
  /** 4 words per field, word 0 most significant (fields ≤ 32 bits use word 3). */
  values: Uint32Array;
  masks: Uint32Array;
  /**
   * The words the mask touches, what lookups compare (./classifier.ts): offset of the word in
   * the executor's field words (`fid * 4 + word`), its mask and masked value as int32;
   * ascending offsets, words whose mask is 0 left out (they match every packet).
   */
  keyOff: Int32Array;
  keyMask: Int32Array;
  keyValue: Int32Array;
  actions: CompiledAction[];
  /** The flow's `conjunction(...)` actions (a "soft" flow, docs/policy-language.md §4), or null. */
  conj: ConjunctionAction[] | null;
}

export interface CompiledPolicy {
  /** Indexed by table id 0-254; empty array when the table has no flows. */
  tables: CompiledFlow[][];
  /**
   * The same tables ready for lookup (linear scan or tuple space search), indexed alike; a
   * table with conjunction flows is a ConjunctiveTable (./conjunction.ts) around its FlowTable.
   */
  flowTables: (FlowTable | ConjunctiveTable)[];
  /** Whether any flow reads or writes registers/metadata (the executor skips that state otherwise). */
  usesPipeState: boolean;
}

/** Splits a bigint of up to 128 bits into 4 words (word 0 most significant). */
export function toWords(v: bigint, out: Uint32Array, off: number): void {
  for (let i = 3; i >= 0; i--) {
    out[off + i] = Number(v & 0xffffffffn);
    v >>= 32n;
  }
}

const MODEL_TIMEOUT_ATTRS = new Set<string>(TIMEOUT_ATTRS);

/**
 * Install the policy's directives in the tracker: timeout policies (only the attributes the
 * userspace tracker uses; the schema's others are ignored, docs/conntrack-semantics.md §6.1), limits
 * and fragment reassembly per family (§3.4).
 */
export function configureConntrack(policy: Policy, ct: Conntrack): void {
  for (const [name, attrs] of policy.timeoutPolicies) {
    const used: Partial<Record<TimeoutAttr, number>> = {};
    for (const [k, v] of Object.entries(attrs)) if (MODEL_TIMEOUT_ATTRS.has(k)) used[k as TimeoutAttr] = v;
    ct.defineTimeoutPolicy(name, used);
  }
  for (const [zone, limit] of policy.zoneLimits) ct.setZoneLimit(zone, limit);
  if (policy.defaultLimit !== null) ct.setDefaultLimit(policy.defaultLimit);
  // `ipf v4=off` etc. (dpctl/ipf-set-disabled); a policy object built before the directive
  // existed has no `ipf` and keeps OVS's default (both on).
  if (policy.ipf) {
    ct.ipf.setEnabled(false, policy.ipf.v4);
    ct.ipf.setEnabled(true, policy.ipf.v6);
  }
}

function ctArgsOf(a: CtAction, ct: Conntrack): CtArgs {
  const args = new CtArgs();
  args.zone = a.zone;
  args.commit = a.commit;
  args.force = a.force;
  args.alg = a.alg === 'ftp' ? ALG_FTP : a.alg === 'tftp' ? ALG_TFTP : ALG_NONE;
  args.timeoutPolicy = a.timeout === null ? -1 : ct.timeoutPolicyId(a.timeout);
  if (a.nat) {
    const n = a.nat;
    args.nat = NatInfo.of(n.kind, n.family, n.addrMin, n.addrMax, n.portMin, n.portMax);
  }
  // Several writes to one field compose in order (later bits win), as nested set_fields do.
  let markV = 0n;
  let markM = 0n;
  let labV = 0n;
  let labM = 0n;
  for (const w of a.exec) {
    if (w.field === 'ct_mark') {
      markV = (markV & ~w.mask) | w.value;
      markM |= w.mask;
    } else {
      labV = (labV & ~w.mask) | w.value;
      labM |= w.mask;
    }
  }
  if (markM !== 0n) {
    args.setMark = true;
    args.markValue = Number(markV);
    args.markMask = Number(markM);
  }
  if (labM !== 0n) {
    args.setLabel = true;
    toWords(labV, args.labelValue, 0);
    toWords(labM, args.labelMask, 0);
  }
  return args;
}

function act(op: number, arg: number, a: Action, ct: CtArgs | null = null): CompiledAction {
  return { op, arg, ct, recirc: 0, src: a, line: a.pos.line, data: null, srcBits: null, ctByZone: null };
}

/** A LoadAction's words: [pipeline word, value, mask] per 32-bit word its mask touches. */
function loadWords(a: Extract<Action, { kind: 'load' }>): [number, number, number][] {
  if (a.field === 'metadata') {
    const out: [number, number, number][] = [];
    const hiM = Number(a.mask >> 32n);
    const loM = Number(a.mask & 0xffffffffn);
    if (hiM) out.push([PIPE_METADATA_HI, Number(a.value >> 32n) | 0, hiM | 0]);
    if (loM) out.push([PIPE_METADATA_LO, Number(a.value & 0xffffffffn) | 0, loM | 0]);
    return out;
  }
  return [[Number(a.field.slice(3)), Number(a.value) | 0, Number(a.mask) | 0]];
}

function compileAction(a: Action, ct: Conntrack): CompiledAction[] {
  switch (a.kind) {
    case 'output':
      return [act(OP_OUTPUT, a.port, a)];
    case 'controller':
      return [act(OP_CONTROLLER, 0, a)];
    case 'drop':
    case 'conjunction':
      return [];
    case 'resubmit':
      return [act(a.ct ? OP_RESUBMIT_CT : OP_RESUBMIT, a.table, a)];
    case 'goto_table':
      return [act(OP_GOTO, a.table, a)];
    case 'ct_clear':
      return [act(OP_CT_CLEAR, 0, a)];
    case 'load':
      return loadWords(a).map(([w, v, m]) => ({ ...act(OP_LOAD, w, a), data: Int32Array.of(v, m) }));
    case 'move': {
      const spec = subfieldSpecByNxm(a.dst.field);
      const data = new Int32Array(a.dst.nBits * 2);
      for (let j = 0; j < a.dst.nBits; j++) {
        const [w, b] = pipeBit(spec, a.dst.ofs + j);
        data[j * 2] = w;
        data[j * 2 + 1] = b;
      }
      return [{ ...act(OP_MOVE, 0, a), data, srcBits: sourceBits(a.src) }];
    }
    case 'ct': {
      const c = act(OP_CT, a.table ?? -1, a, ctArgsOf(a, ct));
      if (a.zoneSrc) {
        c.srcBits = sourceBits(a.zoneSrc);
        c.ctByZone = new Map();
      }
      return [c];
    }
  }
}

/** CtArgs of a `ct(zone=FIELD)` action for the zone read at translation (built once per zone). */
export function ctArgsForZone(c: CompiledAction, zone: number): CtArgs {
  let args = c.ctByZone!.get(zone);
  if (args === undefined) {
    args = new CtArgs();
    const base = c.ct!;
    // Every argument copied generically (typed arrays by value), so arguments added to
    // CtArgs later (NAT) come along without a change here.
    const dst = args as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(base)) {
      if (ArrayBuffer.isView(v)) (dst[k] as Uint32Array).set(v as Uint32Array);
      else if (v !== null && typeof v === 'object') dst[k] = structuredClone(v);
      else dst[k] = v;
    }
    args.zone = zone;
    c.ctByZone!.set(zone, args);
  }
  return args;
}

export function compileFlow(flow: Flow, index: number, ct: Conntrack): CompiledFlow {
  const n = flow.match.length;
  const fids = new Int32Array(n);
  const values = new Uint32Array(n * 4);
  const masks = new Uint32Array(n * 4);
  flow.match.forEach((m, i) => {
    fids[i] = matchFieldOrder(m.name as MatchFieldName);
    toWords(m.value & m.mask, values, i * 4);
    toWords(m.mask, masks, i * 4);
  });
  // [offset in the field words, index in values/masks] of every word the mask touches.
  const pairs: [number, number][] = [];
  for (let i = 0; i < n; i++) for (let w = 0; w < 4; w++) if (masks[i * 4 + w] !== 0) pairs.push([fids[i]! * 4 + w, i * 4 + w]);
  pairs.sort((a, b) => a[0] - b[0]);
  const keyOff = Int32Array.from(pairs, (p) => p[0]);
  const keyMask = Int32Array.from(pairs, (p) => masks[p[1]]! | 0);
  const keyValue = Int32Array.from(pairs, (p) => values[p[1]]! | 0);
  const actions: CompiledAction[] = [];
  for (const a of flow.actions) actions.push(...compileAction(a, ct));
  const conj = flow.actions.filter((a): a is ConjunctionAction => a.kind === 'conjunction');
  return { flow, index, priority: flow.priority, fids, values, masks, keyOff, keyMask, keyValue, actions, conj: conj.length ? conj : null };
}

/**
 * Highest priority first; among equal priorities the flow earlier in the file first. (OVS
 * leaves the choice between overlapping flows of equal priority undefined — ovs-ofctl(8),
 * "Flow Syntax", priority — so a policy that relies on it is ambiguous on OVS.)
 */
export function compilePolicy(policy: Policy, ct: Conntrack, classifier: ClassifierMode = 'auto'): CompiledPolicy {
  const tables: CompiledFlow[][] = [];
  for (let t = 0; t < 255; t++) tables.push([]);
  let recirc = 0;
  policy.flows.forEach((f, i) => {
    const cf = compileFlow(f, i, ct);
    for (const a of cf.actions) if (a.op === OP_CT && a.arg >= 0) a.recirc = ++recirc;
    tables[f.table]!.push(cf);
  });
  for (const list of tables) list.sort((a, b) => b.priority - a.priority || a.index - b.index);
  const usesPipeState = policy.flows.some((f) =>
    f.match.some((m) => m.name === 'metadata' || m.name.startsWith('reg')) ||
    f.actions.some((a) => a.kind === 'load' || a.kind === 'move' || (a.kind === 'ct' && !!a.zoneSrc)));
  return {
    tables,
    flowTables: tables.map((list) => (list.some((f) => f.conj !== null) ? new ConjunctiveTable(list, classifier) : new FlowTable(list, classifier))),
    usesPipeState,
  };
}
