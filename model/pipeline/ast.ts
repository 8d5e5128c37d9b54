/**
 * The policy AST: the contract between the flow-syntax parser (./parse.ts) and everything that
 * reads a policy — the model's executor (./exec.ts), the offload compiler (offload/) and the OVS
 * oracle (harness/targets/ovs/, which loads policies through `formatFlow`).
 *
 * Shape choices:
 * - A match is a list of (field, value, mask) over one canonical set of OVS field names, the
 *   way OVS stores a `struct match` (flow + wildcards): protocol shorthands (`tcp`, `ipv6`, …)
 *   are folded into `dl_type` / `nw_proto`, `icmp_type`/`icmp_code` live in `tp_src`/`tp_dst`
 *   (lib/flow.h keeps them there), `dl_vlan` is OVS's `vlan_tci` with the CFI bit as the
 *   "tagged" marker (lib/match.c `match_set_dl_vlan`). Values and masks are bigints so 48- and
 *   128-bit fields need no special case; value bits outside the mask are always 0.
 * - Every flow, match field and action carries the 1-based line and column it came from.
 * - `formatFlow` prints a flow back in the syntax `ovs-ofctl add-flows` reads; `parse(format(f))`
 *   gives `f` again (positions aside).
 */
import { ETH_TYPE_ARP, ETH_TYPE_IPV4, ETH_TYPE_IPV6 } from '../packet/view.js';
import { formatCtStateMatch } from '../ctstate.js';
import { formatIpv4, formatIpv6, formatMac } from '../packet/addr.js';
import { type SubfieldRef, formatSubfield } from './fields-regs.js';

export type { SubfieldRef } from './fields-regs.js';
export { formatSubfield } from './fields-regs.js';

export interface SourcePos {
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
}

// ---- match fields -------------------------------------------------------------------------

export type MatchFieldName =
  | 'in_port'
  | 'dl_src'
  | 'dl_dst'
  | 'dl_type'
  | 'dl_vlan'
  | 'nw_src'
  | 'nw_dst'
  | 'ipv6_src'
  | 'ipv6_dst'
  | 'nw_proto'
  | 'tp_src'
  | 'tp_dst'
  | 'tcp_flags'
  | 'ct_state'
  | 'ct_zone'
  | 'ct_mark'
  | 'ct_label'
  | 'ct_nw_proto'
  | 'ct_nw_src'
  | 'ct_nw_dst'
  | 'ct_ipv6_src'
  | 'ct_ipv6_dst'
  | 'ct_tp_src'
  | 'ct_tp_dst'
  | 'conj_id'
  | 'metadata'
  | RegisterName;

/** OVS's 32-bit registers `reg0`–`reg15` (`NXM_NX_REG0`…; xregN is the pair reg2N:reg2N+1). */
export type RegisterName =
  | 'reg0' | 'reg1' | 'reg2' | 'reg3' | 'reg4' | 'reg5' | 'reg6' | 'reg7'
  | 'reg8' | 'reg9' | 'reg10' | 'reg11' | 'reg12' | 'reg13' | 'reg14' | 'reg15';

/** FLOW_N_REGS (lib/flow.h). */
export const N_REGS = 16;

export interface MatchFieldInfo {
  name: MatchFieldName;
  /** Width in bits of the value (and mask). */
  width: number;
  /** Whether a partial mask is allowed (OVS `MFM_FULLY` vs `MFM_NONE`, include/openvswitch/meta-flow.h). */
  maskable: boolean;
}

/** Canonical field order: `Flow.match` is sorted by it and `formatFlow` prints in it. */
export const MATCH_FIELDS: readonly MatchFieldInfo[] = [
  { name: 'in_port', width: 32, maskable: false },
  { name: 'dl_src', width: 48, maskable: true },
  { name: 'dl_dst', width: 48, maskable: true },
  { name: 'dl_type', width: 16, maskable: false },
  { name: 'dl_vlan', width: 16, maskable: true },
  { name: 'nw_src', width: 32, maskable: true },
  { name: 'nw_dst', width: 32, maskable: true },
  { name: 'ipv6_src', width: 128, maskable: true },
  { name: 'ipv6_dst', width: 128, maskable: true },
  { name: 'nw_proto', width: 8, maskable: false },
  { name: 'tp_src', width: 16, maskable: true },
  { name: 'tp_dst', width: 16, maskable: true },
  { name: 'tcp_flags', width: 12, maskable: true },
  { name: 'ct_state', width: 32, maskable: true },
  { name: 'ct_zone', width: 16, maskable: false },
  { name: 'ct_mark', width: 32, maskable: true },
  { name: 'ct_label', width: 128, maskable: true },
  { name: 'ct_nw_proto', width: 8, maskable: false },
  { name: 'ct_nw_src', width: 32, maskable: true },
  { name: 'ct_nw_dst', width: 32, maskable: true },
  { name: 'ct_ipv6_src', width: 128, maskable: true },
  { name: 'ct_ipv6_dst', width: 128, maskable: true },
  { name: 'ct_tp_src', width: 16, maskable: true },
  { name: 'ct_tp_dst', width: 16, maskable: true },
  // Pipeline metadata (docs/policy-language.md §1): not packet headers, the translation's own
  // state. conj_id cannot be masked (ovs-ofctl: "invalid mask for field conj_id").
  { name: 'conj_id', width: 32, maskable: false },
  { name: 'metadata', width: 64, maskable: true },
  ...Array.from({ length: 16 }, (_, i): MatchFieldInfo => ({ name: `reg${i}` as RegisterName, width: 32, maskable: true })),
];

const FIELD_INDEX = new Map<MatchFieldName, number>(MATCH_FIELDS.map((f, i) => [f.name, i]));

export function matchFieldInfo(name: MatchFieldName): MatchFieldInfo {
  return MATCH_FIELDS[FIELD_INDEX.get(name)!]!;
}

/** Position of a field in the canonical order. */
export function matchFieldOrder(name: MatchFieldName): number {
  return FIELD_INDEX.get(name)!;
}

export function fullMask(width: number): bigint {
  return (1n << BigInt(width)) - 1n;
}

export interface MatchField {
  name: MatchFieldName;
  /** Always `value & mask`. */
  value: bigint;
  /** All ones of the field width = exact match. */
  mask: bigint;
  pos: SourcePos;
}

/** OVS's name for dl_type=0x0800 (the EtherType constants live in model/packet/view.ts). */
export const ETH_TYPE_IP = ETH_TYPE_IPV4;
/** OVS's `vlan_tci` CFI bit, used as "a VLAN header is present" (lib/packets.h VLAN_CFI). */
export const VLAN_CFI = 0x1000;

// ---- actions ------------------------------------------------------------------------------

/** OpenFlow OFPP_IN_PORT: `output:in_port` / the `in_port` action sends back where it came from. */
export const OFPP_IN_PORT = 0xfffffff8;

export interface OutputAction {
  kind: 'output';
  /** Port number, or OFPP_IN_PORT. */
  port: number;
  pos: SourcePos;
}

export interface ControllerAction {
  kind: 'controller';
  /** Arguments of `controller(...)` as written (e.g. `userdata=01.02`), or null for plain `controller`. */
  args: string | null;
  pos: SourcePos;
}

/** `drop`: an explicitly empty action list (ovs-ofctl allows it only alone). */
export interface DropAction {
  kind: 'drop';
  pos: SourcePos;
}

export interface ResubmitAction {
  kind: 'resubmit';
  table: number;
  /**
   * `resubmit(,T,ct)`: the lookup in T sees the connection's original-direction tuple in place
   * of the packet's (docs/policy-language.md §6).
   */
  ct?: boolean;
  pos: SourcePos;
}

export interface GotoTableAction {
  kind: 'goto_table';
  table: number;
  pos: SourcePos;
}

export interface CtClearAction {
  kind: 'ct_clear';
  pos: SourcePos;
}

/** One write inside `ct(exec(...))`: `set_field:V[/M]->ct_mark` or `load:V->NXM_NX_CT_LABEL[a..b]`. */
export interface CtExecWrite {
  field: 'ct_mark' | 'ct_label';
  /** `value & mask`; for `load` with a bit range, already shifted into place. */
  value: bigint;
  mask: bigint;
  pos: SourcePos;
}

export type CtAlg = 'ftp' | 'tftp';

/**
 * `nat[(src|dst[=ADDR[-ADDR][:PORT[-PORT]]][,persistent][,hash|random])]` inside ct(), as
 * OVS 3.1 `parse_NAT` / `str_to_nat_range` (lib/ofp-actions.c) accept it
 * (docs/conntrack-semantics.md §11.1).
 */
export interface CtNat {
  /** `src` / `dst`; null for a bare `nat` (apply an existing connection's translation). */
  kind: 'src' | 'dst' | null;
  /** Family of the address range; null when `src`/`dst` has no range. */
  family: 4 | 6 | null;
  /** Address range (max = min for one address); 0n when no range. */
  addrMin: bigint;
  addrMax: bigint;
  /** Port range (max = min for one port); 0 when none. */
  portMin: number;
  portMax: number;
  persistent: boolean;
  hash: boolean;
  random: boolean;
  pos: SourcePos;
}

export interface CtAction {
  kind: 'ct';
  commit: boolean;
  force: boolean;
  /** 16-bit zone (default 0); ignored when `zoneSrc` is set. */
  zone: number;
  /**
   * `zone=FIELD[a..b]` (exactly 16 bits): the zone is read from the field when the action is
   * translated (docs/policy-language.md §3), or null for an immediate zone.
   */
  zoneSrc?: SubfieldRef | null;
  /** Recirculation table, or null (no `table=`: the tracked copy is not re-injected). */
  table: number | null;
  alg: CtAlg | null;
  /**
   * ctoffload extension (OVS 3.1 has no `timeout=` in ct(), docs/conntrack-semantics.md §1.1): name of
   * a `timeout_policy` directive attached to the connections this call creates.
   */
  timeout: string | null;
  exec: CtExecWrite[];
  /** `nat…` argument; null or absent without one (absent keeps older builders of CtAction valid). */
  nat?: CtNat | null;
  pos: SourcePos;
}

/**
 * `load:V->DST[a..b]` / `set_field:V[/M]->DST` into pipeline state (docs/policy-language.md §2):
 * `field` is a register or metadata (an xreg write is split into its two registers), `value`
 * is already `value & mask` in place.
 */
export interface LoadAction {
  kind: 'load';
  field: RegisterName | 'metadata';
  value: bigint;
  mask: bigint;
  pos: SourcePos;
}

/** `move:SRC[a..b]->DST[c..d]`: same widths; DST is pipeline state (docs/policy-language.md §2). */
export interface MoveAction {
  kind: 'move';
  src: SubfieldRef;
  dst: SubfieldRef;
  pos: SourcePos;
}

/** `conjunction(id,k/n)`: clause k (1-based) of conjunctive flow `id` (docs/policy-language.md §4). */
export interface ConjunctionAction {
  kind: 'conjunction';
  id: number;
  clause: number;
  nClauses: number;
  pos: SourcePos;
}

export type Action =
  | LoadAction
  | MoveAction
  | ConjunctionAction
  | OutputAction
  | ControllerAction
  | DropAction
  | ResubmitAction
  | GotoTableAction
  | CtClearAction
  | CtAction;

// ---- flows and policies -------------------------------------------------------------------

/** OpenFlow's default flow priority (OFP_DEFAULT_PRIORITY). */
export const DEFAULT_PRIORITY = 0x8000;

export interface Flow {
  table: number;
  priority: number;
  /** `cookie=` (kept for printing; the pipeline ignores it). */
  cookie: bigint | null;
  /** Sorted in MATCH_FIELDS order, one entry per field. */
  match: MatchField[];
  actions: Action[];
  /** Start of the flow's text. */
  pos: SourcePos;
  /** The flow as written (comments removed, continuation lines joined). */
  text: string;
}

/**
 * ctoffload extension directives (not OVS syntax; see the comment block in ./parse.ts).
 * `timeout_policy NAME attr=SECONDS,...` and `zone_limit zone=N,limit=L` / `zone_limit default=L`.
 */
export type Directive =
  | { kind: 'timeout_policy'; name: string; attrs: Record<string, number>; pos: SourcePos }
  | { kind: 'zone_limit'; zone: number | 'default'; limit: number; pos: SourcePos }
  /** `ipf v4=on|off,v6=on|off`: fragment reassembly per family (families not named unchanged). */
  | { kind: 'ipf'; v4?: boolean; v6?: boolean; pos: SourcePos };

export interface PolicyWarning {
  pos: SourcePos;
  message: string;
}

export interface Policy {
  /** File name or label used in messages. */
  source: string;
  /** Effective flows in file order (a flow replaced by a later identical one is left out, as add-flows does). */
  flows: Flow[];
  /** Distinct tables that hold flows, ascending. */
  tables: number[];
  /** Named timeout policies: attribute → seconds (attributes not given take the defaults). */
  timeoutPolicies: Map<string, Record<string, number>>;
  /** Zone limits (`dpctl/ct-set-limits zone=N,limit=L`). */
  zoneLimits: Map<number, number>;
  /** `dpctl/ct-set-limits default=L`, or null when not set. */
  defaultLimit: number | null;
  /**
   * Fragment reassembly per family (`dpctl/ipf-set-enabled|disabled v4|v6`); both true (OVS's
   * default) unless an `ipf` directive turns one off.
   */
  ipf: { v4: boolean; v6: boolean };
  /** 1-based lines that hold directives rather than flows. */
  directiveLines: Set<number>;
  directives: Directive[];
  warnings: PolicyWarning[];
}

// ---- printing -----------------------------------------------------------------------------

export interface FormatOptions {
  /**
   * Print for OVS itself: leave out what only ctoffload understands (`timeout=` inside ct(),
   * which the OVS target maps to a zone timeout policy instead).
   */
  ovs?: boolean;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

function bytesOf(v: bigint, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Prefix length of a CIDR mask, or -1 when the mask is not a prefix. */
export function prefixLength(mask: bigint, width: number): number {
  for (let p = 0; p <= width; p++) {
    if (mask === fullMask(width) - fullMask(width - p)) return p;
  }
  return -1;
}

function fmtAddr(v: bigint, m: bigint, width: 32 | 128): string {
  const text = (x: bigint): string => (width === 32 ? formatIpv4(bytesOf(x, 4)) : formatIpv6(bytesOf(x, 16)));
  if (m === fullMask(width)) return text(v);
  const p = prefixLength(m, width);
  return p >= 0 ? `${text(v)}/${p}` : `${text(v)}/${text(m)}`;
}

function fmtInt(v: bigint, m: bigint, width: number, radix: 'dec' | 'hex'): string {
  const s = radix === 'dec' ? v.toString(10) : hex(v);
  return m === fullMask(width) ? s : `${s}/${hex(m)}`;
}

/** TCP flag names in bit order (lib/packets.c `packet_tcp_flag_to_string`). */
export const TCP_FLAG_NAMES = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr', 'ns'] as const;

function fmtTcpFlags(v: bigint, m: bigint): string {
  if ((m & ~0x1ffn) !== 0n) return fmtInt(v, m, 12, 'hex');
  let out = '';
  for (let i = 0; i < TCP_FLAG_NAMES.length; i++) {
    const bit = 1n << BigInt(i);
    if (m & bit) out += (v & bit ? '+' : '-') + TCP_FLAG_NAMES[i];
  }
  return out;
}

/** Protocol shorthand of a (dl_type, nw_proto) pair, as ovs-ofctl prints it. */
function shorthand(dlType: number | null, nwProto: number | null): string | null {
  if (dlType === ETH_TYPE_IP) {
    if (nwProto === null) return 'ip';
    return ({ 1: 'icmp', 6: 'tcp', 17: 'udp', 132: 'sctp' } as Record<number, string>)[nwProto] ?? null;
  }
  if (dlType === ETH_TYPE_IPV6) {
    if (nwProto === null) return 'ipv6';
    return ({ 58: 'icmp6', 6: 'tcp6', 17: 'udp6', 132: 'sctp6' } as Record<number, string>)[nwProto] ?? null;
  }
  if (dlType === ETH_TYPE_ARP && nwProto === null) return 'arp';
  return null;
}

/** Formats one match field as `name=value[/mask]`; `proto` picks icmp_type vs tp_src names. */
export function formatMatchField(f: MatchField, nwProto: number | null): string {
  const { value: v, mask: m } = f;
  switch (f.name) {
    case 'in_port':
    case 'ct_zone':
    case 'ct_nw_proto':
    case 'nw_proto':
      return `${f.name}=${v}`;
    case 'dl_type':
      return `dl_type=0x${v.toString(16).padStart(4, '0')}`;
    case 'dl_src':
    case 'dl_dst': {
      const s = formatMac(bytesOf(v, 6));
      return m === fullMask(48) ? `${f.name}=${s}` : `${f.name}=${s}/${formatMac(bytesOf(m, 6))}`;
    }
    case 'dl_vlan':
      if (m === 0x1fffn && (v & BigInt(VLAN_CFI)) !== 0n) return `dl_vlan=${v & 0xfffn}`;
      if (m === 0xffffn && v === 0n) return 'dl_vlan=0xffff';
      return `vlan_tci=${hex(v)}/${hex(m)}`;
    case 'nw_src':
    case 'nw_dst':
    case 'ct_nw_src':
    case 'ct_nw_dst':
      return `${f.name}=${fmtAddr(v, m, 32)}`;
    case 'ipv6_src':
    case 'ipv6_dst':
    case 'ct_ipv6_src':
    case 'ct_ipv6_dst':
      return `${f.name}=${fmtAddr(v, m, 128)}`;
    case 'tp_src':
    case 'tp_dst': {
      // OVS keeps ICMP type/code in tp_src/tp_dst and prints them under the ICMP names.
      if (nwProto === 1 || nwProto === 58) {
        const base = nwProto === 1 ? 'icmp' : 'icmpv6';
        return `${base}_${f.name === 'tp_src' ? 'type' : 'code'}=${fmtInt(v, m, 16, 'dec')}`;
      }
      return `${f.name}=${fmtInt(v, m, 16, 'dec')}`;
    }
    case 'ct_tp_src':
    case 'ct_tp_dst':
      return `${f.name}=${fmtInt(v, m, 16, 'dec')}`;
    case 'tcp_flags':
      return `tcp_flags=${fmtTcpFlags(v, m)}`;
    case 'ct_state':
      return `ct_state=${formatCtStateMatch({ value: Number(v), mask: Number(m) })}`;
    case 'ct_mark':
      return `ct_mark=${fmtInt(v, m, 32, 'hex')}`;
    case 'ct_label':
      return `ct_label=${fmtInt(v, m, 128, 'hex')}`;
    case 'conj_id':
      return `conj_id=${v}`;
    case 'metadata':
      return `metadata=${fmtInt(v, m, 64, 'hex')}`;
    default:
      // reg0-reg15
      return `${f.name}=${fmtInt(v, m, 32, 'hex')}`;
  }
}

/** The match part of a flow (`tcp,nw_src=10.0.0.0/8,tp_dst=80`), without table/priority. */
export function formatMatch(match: readonly MatchField[]): string {
  const dl = match.find((f) => f.name === 'dl_type');
  const np = match.find((f) => f.name === 'nw_proto');
  const dlType = dl ? Number(dl.value) : null;
  const nwProto = np ? Number(np.value) : null;
  const parts: string[] = [];
  const sh = shorthand(dlType, nwProto);
  if (sh) parts.push(sh);
  for (const f of match) {
    if (sh && (f.name === 'dl_type' || f.name === 'nw_proto')) continue;
    parts.push(formatMatchField(f, nwProto));
  }
  return parts.join(',');
}

export function formatExecWrite(w: CtExecWrite): string {
  const full = fullMask(w.field === 'ct_mark' ? 32 : 128);
  return `set_field:${hex(w.value)}${w.mask === full ? '' : `/${hex(w.mask)}`}->${w.field}`;
}

export function formatAction(a: Action, opts: FormatOptions = {}): string {
  switch (a.kind) {
    case 'output':
      return a.port === OFPP_IN_PORT ? 'in_port' : `output:${a.port}`;
    case 'controller':
      return a.args === null ? 'controller' : `controller(${a.args})`;
    case 'drop':
      return 'drop';
    case 'resubmit':
      return a.ct ? `resubmit(,${a.table},ct)` : `resubmit(,${a.table})`;
    case 'goto_table':
      return `goto_table:${a.table}`;
    case 'ct_clear':
      return 'ct_clear';
    case 'load':
      return `set_field:${hex(a.value)}/${hex(a.mask)}->${a.field}`;
    case 'move':
      return `move:${formatSubfield(a.src)}->${formatSubfield(a.dst)}`;
    case 'conjunction':
      return `conjunction(${a.id},${a.clause}/${a.nClauses})`;
    case 'ct': {
      const args: string[] = [];
      if (a.commit) args.push('commit');
      if (a.force) args.push('force');
      if (a.zoneSrc) args.push(`zone=${formatSubfield(a.zoneSrc)}`);
      else if (a.zone !== 0) args.push(`zone=${a.zone}`);
      if (a.table !== null) args.push(`table=${a.table}`);
      if (a.alg) args.push(`alg=${a.alg}`);
      if (a.timeout !== null && !opts.ovs) args.push(`timeout=${a.timeout}`);
      if (a.nat) args.push(formatNat(a.nat));
      if (a.exec.length) args.push(`exec(${a.exec.map(formatExecWrite).join(',')})`);
      return `ct(${args.join(',')})`;
    }
  }
}

/** `nat(…)` the way OVS prints it (lib/ofp-actions.c `format_NAT`). */
export function formatNat(n: CtNat): string {
  if (n.kind === null) return 'nat';
  let s = `nat(${n.kind}`;
  if (n.family !== null) {
    const addr = (v: bigint): string =>
      n.family === 4 ? formatIpv4(bytesOf(v, 4)) : n.portMin !== 0 ? `[${formatIpv6(bytesOf(v, 16))}]` : formatIpv6(bytesOf(v, 16));
    s += `=${addr(n.addrMin)}`;
    if (n.addrMax !== n.addrMin) s += `-${addr(n.addrMax)}`;
    if (n.portMin !== 0) {
      s += `:${n.portMin}`;
      if (n.portMax !== n.portMin) s += `-${n.portMax}`;
    }
    if (n.persistent) s += ',persistent';
    if (n.hash) s += ',hash';
    if (n.random) s += ',random';
  }
  return `${s})`;
}

/** `table=T,priority=P[,cookie=C][,match],actions=…` — a line `ovs-ofctl add-flows` accepts. */
export function formatFlow(flow: Flow, opts: FormatOptions = {}): string {
  const head = [`table=${flow.table}`, `priority=${flow.priority}`];
  if (flow.cookie !== null) head.push(`cookie=${hex(flow.cookie)}`);
  const m = formatMatch(flow.match);
  if (m) head.push(m);
  const acts = flow.actions.length ? flow.actions.map((a) => formatAction(a, opts)).join(',') : 'drop';
  return `${head.join(',')},actions=${acts}`;
}

export function formatDirective(d: Directive): string {
  if (d.kind === 'timeout_policy') {
    const attrs = Object.entries(d.attrs).map(([k, v]) => `${k}=${v}`);
    return `timeout_policy ${d.name}${attrs.length ? ' ' + attrs.join(',') : ''}`;
  }
  if (d.kind === 'ipf') {
    const kv: string[] = [];
    if (d.v4 !== undefined) kv.push(`v4=${d.v4 ? 'on' : 'off'}`);
    if (d.v6 !== undefined) kv.push(`v6=${d.v6 ? 'on' : 'off'}`);
    return `ipf ${kv.join(',')}`;
  }
  return d.zone === 'default' ? `zone_limit default=${d.limit}` : `zone_limit zone=${d.zone},limit=${d.limit}`;
}

/**
 * The whole policy as text: directives first, then flows. With `ovs`, directives are left out
 * (OVS learns them through add-zone-tp / ct-set-limits) and only flow lines remain.
 */
export function formatPolicy(p: Policy, opts: FormatOptions = {}): string {
  const lines: string[] = [];
  if (!opts.ovs) for (const d of p.directives) lines.push(formatDirective(d));
  for (const f of p.flows) lines.push(formatFlow(f, opts));
  return lines.join('\n') + '\n';
}
