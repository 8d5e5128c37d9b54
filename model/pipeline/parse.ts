/**
 * The one parser of policy text: the OVS flow syntax subset that stateful policies use, read the
 * way `ovs-ofctl add-flows` reads a file, plus ctoffload's configuration directives. Every
 * error is a FlowParseError naming source:line:column.
 *
 * OVS behaviour followed (openvswitch/ovs v3.1.0):
 * - lib/dynamic-string.c `ds_get_preprocessed_line`: `#` starts a comment anywhere, blank lines
 *   are skipped, a trailing `\` joins the next line.
 * - lib/ofp-flow.c `parse_ofp_str__` and lib/ofp-parse.c `ofputil_parse_key_value`: fields are
 *   separated by commas or white space, `key=value`, `key:value` or `key(value)` with nested
 *   parentheses; `actions=` takes the rest of the line; `priority` defaults to 32768.
 * - lib/ofp-parse.c `ofp_parse_protocol`: ip/ipv4/ip4, ipv6/ip6, tcp, udp, icmp, sctp, arp and
 *   the `6` variants (`tcp6`, `icmp6`, …) set dl_type and nw_proto.
 * - lib/ofp-actions.c `parse_CT`, `check_CT`, `ofpacts_verify_nested`, `decode_NXAST_RAW_CT`
 *   and `ofpacts_parse__` for the action rules and messages (docs/conntrack-semantics.md §1.1).
 *
 * Registers, metadata, load/set_field/move, ct(zone=FIELD[a..b]) and conjunction/conj_id follow
 * docs/policy-language.md (OVS's own messages where it has one).
 *
 * Deliberate differences (each also in the report of the change that introduced it):
 * - A field given twice with different values is an error (OVS silently keeps the last one).
 * - Actions outside the subset (normal, flood, set_field/load/move into packet fields, learn, …)
 *   are errors naming the action instead of being accepted; `nat` is accepted only inside ct(...).
 * - Flows of one conjunctive flow (table, priority, id) that disagree on the number of clauses are
 *   refused (docs/policy-language.md §4).
 * - Table names (`table=name`) and port names are not supported: numbers only.
 *
 * ─── ctoffload extension directives (NOT OVS syntax; ovs-ofctl would reject these lines) ───
 * A line whose first word is one of these keywords (followed by white space) is a directive:
 *
 *   timeout_policy NAME ATTR=SECONDS[,ATTR=SECONDS]...
 *   timeout_policy name=NAME,ATTR=SECONDS...          (same, with the name as a key)
 *       Defines timeout policy NAME (OVS CT_Timeout_Policy attributes, docs/conntrack-semantics.md §6.3:
 *       tcp_syn_sent tcp_syn_recv tcp_established tcp_fin_wait tcp_time_wait tcp_close
 *       udp_first udp_single udp_multiple icmp_first icmp_reply; the schema's tcp_close_wait,
 *       tcp_last_ack, tcp_syn_sent2, tcp_retransmit, tcp_unack are accepted and, as in the
 *       userspace tracker, unused). Attributes not given keep the defaults of §6.1.
 *       `ct(commit,timeout=NAME)` attaches NAME to the connections that call creates.
 *   zone_limit zone=N,limit=L       like `ovs-appctl dpctl/ct-set-limits zone=N,limit=L`
 *   zone_limit default=L            like `ovs-appctl dpctl/ct-set-limits default=L` (§7: one
 *                                   counter shared by all zones without their own limit)
 *   ipf v4=on|off[,v6=on|off]       fragment reassembly per family, like `ovs-appctl
 *                                   dpctl/ipf-set-enabled|ipf-set-disabled v4|v6` (§3.4, §9.5);
 *                                   both families are on by default, as in OVS. With reassembly
 *                                   off every fragment that reaches ct() is inv|trk.
 *
 * Unknown directives cannot exist by construction: a line that is not a directive is a flow,
 * and a flow with an unknown field or action is an error.
 */
import { CtStateParseError, parseCtStateMatch } from '../ctstate.js';
import { FlowParseError } from '../errors.js';
import { ETH_TYPE_ARP, ETH_TYPE_IPV6 } from '../packet/view.js';
import { type SubfieldSpec, parseSubfield, subfieldSpecByNxm } from './fields-regs.js';
import {
  type Action,
  type ConjunctionAction,
  type LoadAction,
  type RegisterName,
  type SubfieldRef,
  type CtAction,
  type CtAlg,
  type CtExecWrite,
  type CtNat,
  DEFAULT_PRIORITY,
  type Directive,
  ETH_TYPE_IP,
  type Flow,
  type MatchField,
  type MatchFieldName,
  OFPP_IN_PORT,
  type Policy,
  type PolicyWarning,
  type SourcePos,
  TCP_FLAG_NAMES,
  VLAN_CFI,
  formatMatch,
  fullMask,
  matchFieldInfo,
  matchFieldOrder,
} from './ast.js';

/** OVS timeout policy attributes (vswitchd/vswitch.ovsschema CT_Timeout_Policy). */
export const TIMEOUT_POLICY_ATTRS = [
  'tcp_syn_sent', 'tcp_syn_recv', 'tcp_established', 'tcp_fin_wait', 'tcp_time_wait', 'tcp_close',
  'udp_first', 'udp_single', 'udp_multiple', 'icmp_first', 'icmp_reply',
  'tcp_close_wait', 'tcp_last_ack', 'tcp_syn_sent2', 'tcp_retransmit', 'tcp_unack',
] as const;

/** Highest OpenFlow table id usable by flows (255 is OFPTT_ALL). */
export const MAX_TABLE = 254;
/** Highest physical port number (OFPP_MAX − 1 in OpenFlow 1.0 numbering). */
export const MAX_PORT = 0xfeff;

// ---- logical lines with a position for every character --------------------------------------

interface Logical {
  text: string;
  /** line/column of each character of `text` (1-based), plus one past the end. */
  lines: Int32Array;
  cols: Int32Array;
}

function logicalLines(text: string): Logical[] {
  const phys = text.split(/\r?\n/);
  const out: Logical[] = [];
  let acc = '';
  let lines: number[] = [];
  let cols: number[] = [];
  const flush = (endLine: number, endCol: number): void => {
    if (acc.trim() !== '') {
      lines.push(endLine);
      cols.push(endCol);
      out.push({ text: acc, lines: Int32Array.from(lines), cols: Int32Array.from(cols) });
    }
    acc = '';
    lines = [];
    cols = [];
  };
  for (let i = 0; i < phys.length; i++) {
    let l = phys[i]!;
    const hash = l.indexOf('#');
    if (hash >= 0) l = l.slice(0, hash);
    const cont = /\\\s*$/.exec(l);
    const body = cont ? l.slice(0, cont.index) : l;
    for (let c = 0; c < body.length; c++) {
      acc += body[c];
      lines.push(i + 1);
      cols.push(c + 1);
    }
    if (cont) {
      // The joined lines are separated by a space, attributed to the backslash.
      acc += ' ';
      lines.push(i + 1);
      cols.push(cont.index + 1);
      continue;
    }
    flush(i + 1, body.length + 1);
  }
  flush(phys.length, 1);
  return out;
}

// ---- small scanner over one logical line ---------------------------------------------------

class Ctx {
  constructor(
    readonly l: Logical,
    readonly source: string,
  ) {}
  pos(off: number): SourcePos {
    const i = Math.min(Math.max(off, 0), this.l.lines.length - 1);
    return { line: this.l.lines[i]!, column: this.l.cols[i]! };
  }
  fail(msg: string, off: number): never {
    const p = this.pos(off);
    throw new FlowParseError(msg, p.line, p.column, this.source);
  }
}

interface Token {
  key: string;
  /** null when the token has no value (`ip`, `commit`). */
  value: string | null;
  keyOff: number;
  valueOff: number;
  /** How the value was introduced: `=`, `:` or `(`. */
  sep: '=' | ':' | '(' | null;
}

const DELIMS = ', \t\r\n';

/**
 * `ofputil_parse_key_value` over `s[from, to)`: returns the tokens with offsets relative to the
 * logical line. Parentheses nest inside values; `stopAtActions` makes a top-level `actions=`
 * consume the rest.
 */
/**
 * `actions=` or `action=`: ovs-ofctl finds the actions with `strstr(s, "action")` and the next
 * "=" (lib/ofp-actions.c `ofp_extract_actions`), so OVS's own tests write `action=` and users
 * paste it. Lower case only, as strstr is.
 */
function isActionsKey(key: string): boolean {
  return key === 'actions' || key === 'action';
}

function tokenize(ctx: Ctx, from: number, to: number, stopAtActions: boolean): Token[] {
  const s = ctx.l.text;
  const out: Token[] = [];
  let i = from;
  while (i < to) {
    while (i < to && DELIMS.includes(s[i]!)) i++;
    if (i >= to) break;
    const keyOff = i;
    while (i < to && !DELIMS.includes(s[i]!) && s[i] !== '=' && s[i] !== ':' && s[i] !== '(' && s[i] !== ')') i++;
    const key = s.slice(keyOff, i);
    if (i < to && s[i] === ')') ctx.fail('unbalanced ")"', i);
    if (key === '') ctx.fail(`expected a field or action name before "${s[i]}"`, i);
    if (i >= to || DELIMS.includes(s[i]!)) {
      out.push({ key, value: null, keyOff, valueOff: i, sep: null });
      continue;
    }
    const sep = s[i] as '=' | ':' | '(';
    i++;
    const valueOff = i;
    if (stopAtActions && sep === '=' && isActionsKey(key)) {
      out.push({ key, value: s.slice(valueOff, to), keyOff, valueOff, sep });
      return out;
    }
    let depth = sep === '(' ? 1 : 0;
    while (i < to) {
      const c = s[i]!;
      if (c === '(') depth++;
      else if (c === ')') {
        depth--;
        if (depth < 0) ctx.fail('unbalanced ")"', i);
        if (depth === 0 && sep === '(') break;
      } else if (depth === 0 && DELIMS.includes(c)) break;
      i++;
    }
    if (depth !== 0) ctx.fail(`unclosed "(" in "${key}"`, valueOff - 1);
    const value = s.slice(valueOff, i);
    if (sep === '(') i++; // past ")"
    out.push({ key, value, keyOff, valueOff, sep });
  }
  return out;
}

// ---- numbers and addresses -----------------------------------------------------------------

function parseUint(ctx: Ctx, text: string, off: number, bits: number, what: string): bigint {
  const t = text.trim();
  let v: bigint;
  if (/^0x[0-9a-f]+$/i.test(t)) v = BigInt(t);
  else if (/^[0-9]+$/.test(t)) v = BigInt(t);
  else ctx.fail(`${what}: "${text}" is not a number (decimal or 0x hex)`, off);
  if (v > fullMask(bits)) ctx.fail(`${what}: ${t} does not fit in ${bits} bits`, off);
  return v;
}

function toNum(v: bigint): number {
  return Number(v);
}

function parseIpv4Value(ctx: Ctx, text: string, off: number, what: string): bigint {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    ctx.fail(`${what}: "${text}" is not an IPv4 address`, off);
  }
  return parts.reduce((a, p) => (a << 8n) | BigInt(p), 0n);
}

function parseIpv6Value(ctx: Ctx, text: string, off: number, what: string): bigint {
  let t = text;
  const lastColon = t.lastIndexOf(':');
  if (lastColon >= 0 && t.slice(lastColon + 1).includes('.')) {
    const v4 = parseIpv4Value(ctx, t.slice(lastColon + 1), off + lastColon + 1, what);
    t = `${t.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const bad = (): never => ctx.fail(`${what}: "${text}" is not an IPv6 address`, off);
  const halves = t.split('::');
  if (halves.length > 2) bad();
  const group = (h: string): bigint[] =>
    h === '' ? [] : h.split(':').map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? BigInt(`0x${g}`) : bad()));
  const head = group(halves[0]!);
  const tail = halves.length === 2 ? group(halves[1]!) : [];
  const n = head.length + tail.length;
  if ((halves.length === 2 && n > 7) || (halves.length === 1 && n !== 8)) bad();
  const words = [...head, ...new Array<bigint>(8 - n).fill(0n), ...tail];
  return words.reduce((a, w) => (a << 16n) | w, 0n);
}

/** `ADDR`, `ADDR/PREFIX` or `ADDR/MASKADDR` for a 32- or 128-bit address field. */
function parseAddrMasked(ctx: Ctx, text: string, off: number, width: 32 | 128, what: string): [bigint, bigint] {
  const slash = text.indexOf('/');
  const one = (t: string, o: number): bigint =>
    width === 32 ? parseIpv4Value(ctx, t, o, what) : parseIpv6Value(ctx, t, o, what);
  if (slash < 0) return [one(text, off), fullMask(width)];
  const v = one(text.slice(0, slash), off);
  const mt = text.slice(slash + 1);
  let m: bigint;
  if (/^\d+$/.test(mt)) {
    const p = Number(mt);
    if (p > width) ctx.fail(`${what}: prefix length ${p} exceeds ${width}`, off + slash + 1);
    m = fullMask(width) - fullMask(width - p);
  } else {
    m = one(mt, off + slash + 1);
  }
  return [v & m, m];
}

function parseMacValue(ctx: Ctx, text: string, off: number, what: string): bigint {
  const parts = text.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{1,2}$/i.test(p))) {
    ctx.fail(`${what}: "${text}" is not a MAC address (xx:xx:xx:xx:xx:xx)`, off);
  }
  return parts.reduce((a, p) => (a << 8n) | BigInt(`0x${p}`), 0n);
}

/** `V` or `V/M` for an integer field of `bits` bits. */
function parseIntMasked(ctx: Ctx, text: string, off: number, bits: number, what: string, maskable: boolean): [bigint, bigint] {
  const slash = text.indexOf('/');
  if (slash < 0) return [parseUint(ctx, text, off, bits, what), fullMask(bits)];
  if (!maskable) ctx.fail(`${what} cannot be masked`, off + slash);
  const v = parseUint(ctx, text.slice(0, slash), off, bits, what);
  const m = parseUint(ctx, text.slice(slash + 1), off + slash + 1, bits, `${what} mask`);
  return [v & m, m];
}

/** `tcp_flags=+syn-ack`, `tcp_flags=syn|ack` (exact) or numeric `0x002/0x012` (lib/flow.c `parse_flags`). */
function parseTcpFlags(ctx: Ctx, text: string, off: number): [bigint, bigint] {
  const t = text.trim();
  const bitOf = (name: string, o: number): bigint => {
    const i = (TCP_FLAG_NAMES as readonly string[]).indexOf(name.toLowerCase());
    if (i < 0) ctx.fail(`tcp_flags: unknown flag "${name}" (expected one of ${TCP_FLAG_NAMES.join(', ')})`, o);
    return 1n << BigInt(i);
  };
  if (t.startsWith('+') || t.startsWith('-')) {
    let v = 0n;
    let m = 0n;
    const re = /([+-])([a-z]*)/gi;
    let mm: RegExpExecArray | null;
    let consumed = 0;
    while ((mm = re.exec(t)) !== null) {
      if (mm.index !== consumed) break;
      consumed = re.lastIndex;
      if (mm[2] === '') ctx.fail('tcp_flags: missing flag name', off + mm.index + 1);
      const bit = bitOf(mm[2]!, off + mm.index + 1);
      if (m & bit) ctx.fail(`tcp_flags: flag "${mm[2]}" given twice`, off + mm.index + 1);
      m |= bit;
      if (mm[1] === '+') v |= bit;
    }
    if (consumed !== t.length) ctx.fail('tcp_flags: expected +flag or -flag', off + consumed);
    return [v, m];
  }
  if (/^(0x[0-9a-f]+|\d+)(\/(0x[0-9a-f]+|\d+))?$/i.test(t)) return parseIntMasked(ctx, t, off, 12, 'tcp_flags', true);
  let v = 0n;
  let o = off;
  for (const name of t.split('|')) {
    v |= bitOf(name, o);
    o += name.length + 1;
  }
  return [v, 0xfffn];
}

// ---- match ---------------------------------------------------------------------------------

interface ProtoSpec {
  dlType: number;
  nwProto: number | null;
}

/** `ofp_parse_protocol` (lib/ofp-parse.c). */
const PROTOCOLS: Record<string, ProtoSpec> = {
  ip: { dlType: ETH_TYPE_IP, nwProto: null },
  ipv4: { dlType: ETH_TYPE_IP, nwProto: null },
  ip4: { dlType: ETH_TYPE_IP, nwProto: null },
  ipv6: { dlType: ETH_TYPE_IPV6, nwProto: null },
  ip6: { dlType: ETH_TYPE_IPV6, nwProto: null },
  icmp: { dlType: ETH_TYPE_IP, nwProto: 1 },
  icmp6: { dlType: ETH_TYPE_IPV6, nwProto: 58 },
  tcp: { dlType: ETH_TYPE_IP, nwProto: 6 },
  tcp6: { dlType: ETH_TYPE_IPV6, nwProto: 6 },
  udp: { dlType: ETH_TYPE_IP, nwProto: 17 },
  udp6: { dlType: ETH_TYPE_IPV6, nwProto: 17 },
  sctp: { dlType: ETH_TYPE_IP, nwProto: 132 },
  sctp6: { dlType: ETH_TYPE_IPV6, nwProto: 132 },
  arp: { dlType: ETH_TYPE_ARP, nwProto: null },
};

/** Field aliases OVS accepts (lib/meta-flow.xml names and extra names). */
const FIELD_ALIASES: Record<string, MatchFieldName | 'icmp_type' | 'icmp_code' | 'vlan_tci'> = {
  in_port: 'in_port',
  dl_src: 'dl_src',
  eth_src: 'dl_src',
  dl_dst: 'dl_dst',
  eth_dst: 'dl_dst',
  dl_type: 'dl_type',
  eth_type: 'dl_type',
  dl_vlan: 'dl_vlan',
  vlan_tci: 'vlan_tci',
  nw_src: 'nw_src',
  ip_src: 'nw_src',
  nw_dst: 'nw_dst',
  ip_dst: 'nw_dst',
  ipv6_src: 'ipv6_src',
  ipv6_dst: 'ipv6_dst',
  nw_proto: 'nw_proto',
  ip_proto: 'nw_proto',
  tp_src: 'tp_src',
  tp_dst: 'tp_dst',
  tcp_src: 'tp_src',
  tcp_dst: 'tp_dst',
  udp_src: 'tp_src',
  udp_dst: 'tp_dst',
  sctp_src: 'tp_src',
  sctp_dst: 'tp_dst',
  icmp_type: 'icmp_type',
  icmp_code: 'icmp_code',
  icmpv6_type: 'icmp_type',
  icmpv6_code: 'icmp_code',
  tcp_flags: 'tcp_flags',
  ct_state: 'ct_state',
  ct_zone: 'ct_zone',
  ct_mark: 'ct_mark',
  ct_label: 'ct_label',
  ct_nw_proto: 'ct_nw_proto',
  ct_nw_src: 'ct_nw_src',
  ct_nw_dst: 'ct_nw_dst',
  ct_ipv6_src: 'ct_ipv6_src',
  ct_ipv6_dst: 'ct_ipv6_dst',
  ct_tp_src: 'ct_tp_src',
  ct_tp_dst: 'ct_tp_dst',
  conj_id: 'conj_id',
  metadata: 'metadata',
  oxm_of_metadata: 'metadata',
  ...Object.fromEntries(Array.from({ length: 16 }, (_, i) => [[`reg${i}`, `reg${i}`], [`nxm_nx_reg${i}`, `reg${i}`]]).flat()),
};

/** 64-bit xregN (OXM_OF_PKT_REGn): the pair reg2N (high 32 bits) : reg2N+1 (low), lib/flow.h `flow_get_xreg`. */
const XREG_RE = /^(?:xreg|oxm_of_pkt_reg)([0-7])$/i;

/** Keys OVS accepts in a flow that this subset does not (named in the error). */
const KNOWN_UNSUPPORTED_FIELDS = new Set([
  'nw_tos', 'nw_ecn', 'nw_ttl', 'ip_dscp', 'ip_ecn', 'nw_frag', 'ip_frag', 'dl_vlan_pcp', 'vlan_vid', 'vlan_pcp',
  'arp_spa', 'arp_tpa', 'arp_sha', 'arp_tha', 'arp_op', 'tun_id', 'tunnel_id', 'ipv6_label',
  'nd_target', 'nd_sll', 'nd_tll', 'mpls_label', 'pkt_mark', 'skb_priority', 'recirc_id', 'dp_hash',
  'idle_timeout', 'hard_timeout', 'importance', 'send_flow_rem', 'check_overlap', 'out_port', 'out_group',
  'xxreg0', 'xxreg1', 'xxreg2', 'xxreg3', 'packet_type',
]);

interface MatchBuilder {
  fields: Map<MatchFieldName, MatchField>;
  /** ICMP names used (`icmp_type`, `icmpv6_code`, …): they live in tp_src/tp_dst. */
  icmpNames: Set<string>;
}

function setField(ctx: Ctx, b: MatchBuilder, name: MatchFieldName, value: bigint, mask: bigint, off: number, shown: string): void {
  // A zero mask is a wildcard (OVS drops the field from the match).
  if (mask === 0n) return;
  const prev = b.fields.get(name);
  if (prev) {
    if (prev.value === value && prev.mask === mask) return;
    ctx.fail(`${shown} conflicts with an earlier ${name} match in this flow`, off);
  }
  b.fields.set(name, { name, value: value & mask, mask, pos: ctx.pos(off) });
}

function parseMatchToken(ctx: Ctx, b: MatchBuilder, t: Token): void {
  const key = t.key.toLowerCase();
  const proto = PROTOCOLS[key];
  if (proto && t.value === null) {
    setField(ctx, b, 'dl_type', BigInt(proto.dlType), 0xffffn, t.keyOff, key);
    if (proto.nwProto !== null) setField(ctx, b, 'nw_proto', BigInt(proto.nwProto), 0xffn, t.keyOff, key);
    return;
  }
  const alias = FIELD_ALIASES[key];
  const xreg = XREG_RE.exec(key);
  if (xreg) {
    if (t.value === null || t.sep !== '=') ctx.fail(`field "${t.key}" needs a value ("${t.key}=…")`, t.keyOff);
    const [val, m] = parseIntMasked(ctx, t.value, t.valueOff, 64, key, true);
    const n = Number(xreg[1]) * 2;
    setField(ctx, b, `reg${n}` as MatchFieldName, val >> 32n, m >> 32n, t.keyOff, key);
    setField(ctx, b, `reg${n + 1}` as MatchFieldName, val & 0xffffffffn, m & 0xffffffffn, t.keyOff, key);
    return;
  }
  if (!alias) {
    if (/^(xxreg\d+|nxm_nx_xxreg\d+)$/i.test(key)) ctx.fail(`match field "${t.key}": 128-bit xxreg registers are not supported by ctoffload (use reg0-reg15 or xreg0-xreg7)`, t.keyOff);
    if (/^(reg|nxm_nx_reg)\d+$/i.test(key)) ctx.fail(`match field "${t.key}": OVS has registers reg0-reg15 only`, t.keyOff);
    if (KNOWN_UNSUPPORTED_FIELDS.has(key)) ctx.fail(`match field "${t.key}" is not supported by ctoffload`, t.keyOff);
    if (key === 'normal' || key === 'output' || key === 'drop') ctx.fail(`"${t.key}" looks like an action: actions go after "actions="`, t.keyOff);
    ctx.fail(`unknown match field "${t.key}"`, t.keyOff);
  }
  if (t.value === null || t.sep !== '=') ctx.fail(`field "${t.key}" needs a value ("${t.key}=…")`, t.keyOff);
  const v = t.value;
  const o = t.valueOff;
  if (v.trim() === '') ctx.fail(`field "${t.key}" has an empty value`, o);
  const info = (n: MatchFieldName): { width: number; maskable: boolean } => matchFieldInfo(n);
  switch (alias) {
    case 'in_port': {
      if (!/^(0x[0-9a-f]+|\d+)$/i.test(v)) ctx.fail(`in_port: port names are not supported ("${v}"): use a port number`, o);
      const p = parseUint(ctx, v, o, 32, 'in_port');
      // ofputil_port_from_string: OVS takes 0..0xffff (and OpenFlow 1.1 reserved 0xffffff00 up,
      // not in this subset); in_port=70000 is "invalid or unknown port for in_port" [obs].
      if (p > BigInt(MAX_PORT)) {
        ctx.fail(p > 0xffffn
          ? `in_port=${v}: invalid port ${p}: OVS takes 0-65535 ("invalid or unknown port for in_port"); ports a packet arrives on are 1-${MAX_PORT}`
          : `in_port=${v}: port ${p} is a reserved OpenFlow port (65280 and up), not supported by ctoffload: use a port 1-${MAX_PORT}`, o);
      }
      setField(ctx, b, 'in_port', p, fullMask(32), t.keyOff, key);
      return;
    }
    case 'dl_src':
    case 'dl_dst': {
      const slash = v.indexOf('/');
      const val = parseMacValue(ctx, slash < 0 ? v : v.slice(0, slash), o, key);
      const m = slash < 0 ? fullMask(48) : parseMacValue(ctx, v.slice(slash + 1), o + slash + 1, `${key} mask`);
      setField(ctx, b, alias, val, m, t.keyOff, key);
      return;
    }
    case 'dl_type': {
      const [val] = parseIntMasked(ctx, v, o, 16, key, false);
      setField(ctx, b, 'dl_type', val, 0xffffn, t.keyOff, key);
      return;
    }
    case 'dl_vlan': {
      // lib/match.c `match_set_dl_vlan`: 0xffff (OFP10_VLAN_NONE) = no VLAN header, else VID
      // exactly with the CFI bit as the "tagged" marker.
      const vid = parseUint(ctx, v, o, 16, 'dl_vlan');
      if (vid === 0xffffn) setField(ctx, b, 'dl_vlan', 0n, 0xffffn, t.keyOff, key);
      else if (vid > 0xfffn) ctx.fail(`dl_vlan: ${v} is not a 12-bit VLAN id (or 0xffff for "no VLAN")`, o);
      else setField(ctx, b, 'dl_vlan', vid | BigInt(VLAN_CFI), 0x1fffn, t.keyOff, key);
      return;
    }
    case 'vlan_tci': {
      const [val, m] = parseIntMasked(ctx, v, o, 16, key, true);
      setField(ctx, b, 'dl_vlan', val, m, t.keyOff, key);
      return;
    }
    case 'nw_src':
    case 'nw_dst':
    case 'ct_nw_src':
    case 'ct_nw_dst': {
      const [val, m] = parseAddrMasked(ctx, v, o, 32, key);
      setField(ctx, b, alias, val, m, t.keyOff, key);
      return;
    }
    case 'ipv6_src':
    case 'ipv6_dst':
    case 'ct_ipv6_src':
    case 'ct_ipv6_dst': {
      const [val, m] = parseAddrMasked(ctx, v, o, 128, key);
      setField(ctx, b, alias, val, m, t.keyOff, key);
      return;
    }
    case 'icmp_type':
    case 'icmp_code': {
      // 8-bit fields kept in the 16-bit tp_src/tp_dst (lib/flow.h); the high byte is always 0,
      // so an exact 16-bit match is the same thing.
      const [val] = parseIntMasked(ctx, v, o, 8, key, false);
      setField(ctx, b, alias === 'icmp_type' ? 'tp_src' : 'tp_dst', val, 0xffffn, t.keyOff, key);
      b.icmpNames.add(key);
      return;
    }
    case 'tcp_flags': {
      const [val, m] = parseTcpFlags(ctx, v, o);
      setField(ctx, b, 'tcp_flags', val, m, t.keyOff, key);
      return;
    }
    case 'ct_state': {
      let sm;
      try {
        sm = parseCtStateMatch(v);
      } catch (e) {
        if (e instanceof CtStateParseError) ctx.fail(`ct_state: ${e.message}`, o + e.offset);
        throw e;
      }
      setField(ctx, b, 'ct_state', BigInt(sm.value >>> 0), BigInt(sm.mask >>> 0), t.keyOff, key);
      return;
    }
    default: {
      const fi = info(alias);
      const [val, m] = parseIntMasked(ctx, v, o, fi.width, key, fi.maskable);
      setField(ctx, b, alias, val, m, t.keyOff, key);
    }
  }
}

/** Prerequisites as OVS checks them (lib/meta-flow.c `mf_are_prereqs_ok`, MFP_* in meta-flow.h). */
function checkPrereqs(ctx: Ctx, b: MatchBuilder): void {
  const f = b.fields;
  const dl = f.get('dl_type');
  const np = f.get('nw_proto');
  const dlType = dl ? Number(dl.value) : null;
  const nwProto = np ? Number(np.value) : null;
  const isIp = dlType === ETH_TYPE_IP;
  const isIp6 = dlType === ETH_TYPE_IPV6;
  const fail = (field: MatchField, shown: string, need: string): never =>
    ctx.fail(`${shown} requires ${need} (OVS rejects the flow: OFPBMC_BAD_PREREQ)`, offOf(ctx, field.pos));
  for (const field of f.values()) {
    switch (field.name) {
      case 'nw_src':
      case 'nw_dst':
        if (!isIp) fail(field, field.name, 'an IPv4 match ("ip", "tcp", "udp", "icmp" or dl_type=0x0800)');
        break;
      case 'ipv6_src':
      case 'ipv6_dst':
        if (!isIp6) fail(field, field.name, 'an IPv6 match ("ipv6", "tcp6", "udp6", "icmp6" or dl_type=0x86dd)');
        break;
      case 'nw_proto':
        if (!isIp && !isIp6) fail(field, 'nw_proto', 'an IP match ("ip" or "ipv6")');
        break;
      case 'tp_src':
      case 'tp_dst': {
        const suffix = field.name === 'tp_src' ? '_type' : '_code';
        const shown = [...b.icmpNames].find((k) => k.endsWith(suffix));
        if (shown !== undefined) {
          const v6 = shown.startsWith('icmpv6');
          if (v6 ? !(isIp6 && nwProto === 58) : !(isIp && nwProto === 1)) {
            fail(field, shown, v6 ? 'an ICMPv6 match ("icmp6")' : 'an ICMP match ("icmp")');
          }
        } else if (!(isIp || isIp6) || (nwProto !== 6 && nwProto !== 17 && nwProto !== 132)) {
          fail(field, field.name, 'a TCP, UDP or SCTP match ("tcp", "udp", "tcp6", … or nw_proto=6/17/132)');
        }
        break;
      }
      case 'tcp_flags':
        if (!(isIp || isIp6) || nwProto !== 6) fail(field, 'tcp_flags', 'a TCP match ("tcp" or "tcp6")');
        break;
      case 'ct_nw_src':
      case 'ct_nw_dst':
      case 'ct_ipv6_src':
      case 'ct_ipv6_dst':
      case 'ct_nw_proto':
      case 'ct_tp_src':
      case 'ct_tp_dst': {
        // Observed on OVS 3.1 [obs, tested in test/model/pipeline/parse.test.ts]: a flow with
        // ct_tp_src/ct_tp_dst but no ct_nw_proto is installed — with or without ct_state — and
        // the ct_tp_* match is dropped (dump-flows shows none), so on OVS the flow would match
        // every port. Refused here, saying so, before any other prerequisite (OVS checks none).
        if ((field.name === 'ct_tp_src' || field.name === 'ct_tp_dst') && !f.has('ct_nw_proto')) {
          ctx.fail(`${field.name} needs a ct_nw_proto match: without one OVS 3.1 installs the flow but drops the ${field.name} match, so it would match every port; ctoffload refuses it rather than widen it silently (add ct_nw_proto=6, 17, …)`, offOf(ctx, field.pos));
        }
        // MFP_CT_VALID (lib/meta-flow.c `mf_are_prereqs_ok` → `is_ct_valid`): the flow must
        // match a ct_state with new, est, rel or rpl set and inv not set.
        const cs = f.get('ct_state');
        const valid = cs !== undefined && (cs.value & 0x0fn) !== 0n && (cs.value & 0x10n) === 0n;
        if (!valid) fail(field, field.name, 'a ct_state match with +new, +est, +rel or +rpl (and not +inv)');
        if ((field.name === 'ct_nw_src' || field.name === 'ct_nw_dst') && !isIp) fail(field, field.name, 'an IPv4 match ("ip")');
        if ((field.name === 'ct_ipv6_src' || field.name === 'ct_ipv6_dst') && !isIp6) fail(field, field.name, 'an IPv6 match ("ipv6")');
        // OVS 3.1 accepts ct_nw_proto and ct_tp_* without an IP match (with a valid ct_state)
        // [obs]; this subset still asks for one, and says that the rule is its own.
        if (!isIp && !isIp6) ctx.fail(`${field.name} requires an IP match ("ip" or "ipv6") in ctoffload (OVS 3.1 accepts it without one when ct_state is matched)`, offOf(ctx, field.pos));
        break;
      }
      default:
        break;
    }
  }
}

function offOf(ctx: Ctx, p: SourcePos): number {
  for (let i = 0; i < ctx.l.lines.length; i++) if (ctx.l.lines[i] === p.line && ctx.l.cols[i] === p.column) return i;
  return 0;
}

// ---- actions -------------------------------------------------------------------------------

function parseTable(ctx: Ctx, text: string, off: number, what: string): number {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text.trim())) ctx.fail(`${what}: table names are not supported ("${text}"): use a table number`, off);
  const t = toNum(parseUint(ctx, text, off, 32, what));
  if (t > MAX_TABLE) ctx.fail(`${what}: invalid table ${t} (0-${MAX_TABLE})`, off);
  return t;
}

function parsePort(ctx: Ctx, text: string, off: number, what: string): number {
  const t = text.trim().toLowerCase();
  if (t === 'in_port') return OFPP_IN_PORT;
  if (t === 'controller') ctx.fail(`${what}: write "controller" as its own action`, off);
  if (/^(normal|flood|all|local|table|none|any)$/.test(t)) ctx.fail(`${what}: output to ${t.toUpperCase()} is not supported by ctoffload`, off);
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(t)) ctx.fail(`${what}: port names are not supported ("${text}"): use a port number`, off);
  const p = toNum(parseUint(ctx, t, off, 32, what));
  if (p < 1 || p > MAX_PORT) ctx.fail(`${what}: invalid port ${p} (1-${MAX_PORT})`, off);
  return p;
}

/** Parses `NXM_NX_CT_MARK[]`, `NXM_NX_CT_LABEL[0..63]`, `ct_mark`, `ct_mark[0..7]` → field and bit range. */
function parseCtSubfield(ctx: Ctx, text: string, off: number): { field: 'ct_mark' | 'ct_label'; lo: number; hi: number } | null {
  const m = /^\s*([a-z0-9_]+)\s*(?:\[\s*(?:(\d+)(?:\s*\.\.\s*(\d+))?)?\s*\])?\s*$/i.exec(text);
  if (!m) return null;
  const name = m[1]!.toUpperCase();
  let field: 'ct_mark' | 'ct_label';
  if (name === 'NXM_NX_CT_MARK' || name === 'CT_MARK') field = 'ct_mark';
  else if (name === 'NXM_NX_CT_LABEL' || name === 'CT_LABEL') field = 'ct_label';
  else return null;
  const width = field === 'ct_mark' ? 32 : 128;
  let lo = 0;
  let hi = width - 1;
  if (m[2] !== undefined) {
    lo = Number(m[2]);
    hi = m[3] !== undefined ? Number(m[3]) : lo;
    if (lo > hi || hi >= width) ctx.fail(`bit range [${lo}..${hi}] out of ${field} (${width} bits)`, off);
  }
  return { field, lo, hi };
}

/** `FIELD[a..b]` at `off` of the logical line, or a located error. */
function subfieldAt(ctx: Ctx, text: string, off: number, what: string): { ref: SubfieldRef; spec: SubfieldSpec } {
  const r = parseSubfield(text);
  if (!r.ok) ctx.fail(`${what}: ${r.message}`, off + r.offset);
  return { ref: r.ref, spec: r.spec };
}

/** Pipeline-state destination of load/set_field/move, or a located error naming why not. */
function writableAt(ctx: Ctx, text: string, off: number, what: string): { ref: SubfieldRef; spec: SubfieldSpec } {
  const d = subfieldAt(ctx, text, off, what);
  if (!d.spec.writable) ctx.fail(`${what}: writing ${d.spec.nxm} rewrites the packet or its metadata: not supported by ctoffload (only registers reg0-reg15, xreg0-xreg7 and metadata can be written)`, off);
  return d;
}

/**
 * A constant write of `value` (already shifted into place) under `mask` to a writable field:
 * one LoadAction per register or metadata (an xreg is split into its two registers, so the
 * executor and the printer only know 32-bit registers and metadata).
 */
function loadActions(spec: SubfieldSpec, value: bigint, mask: bigint, pos: SourcePos): LoadAction[] {
  if (spec.xreg !== undefined) {
    const hi = `reg${spec.xreg * 2}` as RegisterName;
    const lo = `reg${spec.xreg * 2 + 1}` as RegisterName;
    const out: LoadAction[] = [];
    if (mask >> 32n) out.push({ kind: 'load', field: hi, value: value >> 32n, mask: mask >> 32n, pos });
    if (mask & 0xffffffffn) out.push({ kind: 'load', field: lo, value: value & 0xffffffffn, mask: mask & 0xffffffffn, pos });
    return out;
  }
  return [{ kind: 'load', field: spec.match as RegisterName | 'metadata', value: value & mask, mask, pos }];
}

/** `load:V->DST[a..b]`, `set_field:V[/M]->DST`, `move:SRC[a..b]->DST[c..d]` outside ct() (docs/policy-language.md §2). */
function parseStateWrite(ctx: Ctx, t: Token, k: 'load' | 'set_field' | 'move', pos: SourcePos): Action[] {
  const v = t.value ?? '';
  const arrow = v.indexOf('->');
  if (t.value === null || arrow < 0) {
    ctx.fail(k === 'move' ? 'move: expected "move:SRC[a..b]->DST[c..d]"' : k === 'load' ? 'load: expected "load:VALUE->DST[a..b]"' : 'set_field: expected "set_field:VALUE[/MASK]->DST"', t.keyOff);
  }
  const dstOff = t.valueOff + arrow + 2;
  const dst = writableAt(ctx, v.slice(arrow + 2), dstOff, k);
  if (k === 'move') {
    const src = subfieldAt(ctx, v.slice(0, arrow), t.valueOff, 'move');
    // lib/ofp-actions.c parse_REG_MOVE: "source field is N bits wide but destination is M bits wide".
    if (src.ref.nBits !== dst.ref.nBits) ctx.fail(`move: source field is ${src.ref.nBits} bits wide but destination is ${dst.ref.nBits} bits wide`, t.valueOff);
    return [{ kind: 'move', src: src.ref, dst: dst.ref, pos }];
  }
  if (k === 'load') {
    const { ofs, nBits } = dst.ref;
    const text = v.slice(0, arrow);
    const t2 = text.trim();
    if (!/^(0x[0-9a-f]+|\d+)$/i.test(t2)) ctx.fail(`load: "${t2}" is not a number (load from a field is "move")`, t.valueOff);
    const val = BigInt(t2);
    // lib/nx-match.c nxm_parse_reg_load: "value 0x1ff does not fit into 8 bits".
    if (val > fullMask(nBits)) ctx.fail(`load: value ${t2} does not fit into ${nBits} bits`, t.valueOff);
    return loadActions(dst.spec, val << BigInt(ofs), fullMask(nBits) << BigInt(ofs), pos);
  }
  // set_field writes a whole field; a bit range on it is load's job.
  if (dst.ref.ofs !== 0 || dst.ref.nBits !== dst.spec.width) ctx.fail('set_field: a bit range on the destination is not allowed (use VALUE/MASK, or load)', dstOff);
  const [val, m] = parseIntMasked(ctx, v.slice(0, arrow), t.valueOff, dst.spec.width, `set_field ${dst.spec.nxm}`, true);
  return loadActions(dst.spec, val, m, pos);
}

/** `conjunction(id,k/n)` with lib/ofp-actions.c `parse_CONJUNCTION`'s rules and messages. */
function parseConjunction(ctx: Ctx, t: Token, pos: SourcePos): ConjunctionAction {
  const m = /^\s*(0x[0-9a-f]+|\d+)\s*,\s*(\d+)\s*\/\s*(\d+)\s*$/i.exec(t.value ?? '');
  if (t.sep !== '(' || !m) ctx.fail('"conjunction" syntax is "conjunction(id,i/n)"', t.keyOff);
  const id = BigInt(m[1]!);
  if (id > 0xffffffffn) ctx.fail(`conjunction: id ${m[1]} does not fit in 32 bits`, t.valueOff);
  const clause = Number(m[2]);
  const n = Number(m[3]);
  if (n < 2) ctx.fail('conjunction must have at least 2 clauses', t.valueOff);
  if (n > 64) ctx.fail('conjunction must have at most 64 clauses', t.valueOff);
  if (clause < 1) ctx.fail('clause index must be positive', t.valueOff);
  if (clause > n) ctx.fail('clause index must be less than or equal to number of clauses', t.valueOff);
  return { kind: 'conjunction', id: Number(id), clause, nClauses: n, pos };
}

/** True when `dst` of a set_field/load/move names a ct field (ofpacts `field_requires_ct`). */
function namesCtField(text: string): boolean {
  // The destination only: `move:NXM_NX_CT_MARK[]->reg3` reads ct_mark, which is fine.
  return /->\s*(NXM_NX_CT_MARK|NXM_NX_CT_LABEL|ct_mark|ct_label)\b/i.test(text);
}

/** One write inside ct(exec(...)). */
function parseExecWrite(ctx: Ctx, t: Token): CtExecWrite {
  const name = t.key.toLowerCase();
  const v = t.value ?? '';
  const pos = ctx.pos(t.keyOff);
  if (name === 'set_field') {
    const arrow = v.indexOf('->');
    if (arrow < 0) ctx.fail('set_field: expected "set_field:VALUE[/MASK]->FIELD"', t.valueOff);
    const dstText = v.slice(arrow + 2);
    const dst = parseCtSubfield(ctx, dstText, t.valueOff + arrow + 2);
    if (!dst) ctx.fail(`ct action doesn't support nested modification of ${dstText.trim()}: only ct_mark and ct_label can be set in exec()`, t.valueOff + arrow + 2);
    if (dst.lo !== 0 || dst.hi !== (dst.field === 'ct_mark' ? 31 : 127)) ctx.fail('set_field: a bit range on the destination is not allowed (use VALUE/MASK)', t.valueOff + arrow + 2);
    const width = dst.field === 'ct_mark' ? 32 : 128;
    const [val, m] = parseIntMasked(ctx, v.slice(0, arrow), t.valueOff, width, `set_field ${dst.field}`, true);
    return { field: dst.field, value: val & m, mask: m, pos };
  }
  if (name === 'load') {
    const arrow = v.indexOf('->');
    if (arrow < 0) ctx.fail('load: expected "load:VALUE->FIELD[range]"', t.valueOff);
    const dstText = v.slice(arrow + 2);
    const dst = parseCtSubfield(ctx, dstText, t.valueOff + arrow + 2);
    if (!dst) ctx.fail(`ct action doesn't support nested modification of ${dstText.trim()}: only ct_mark and ct_label can be loaded in exec()`, t.valueOff + arrow + 2);
    const bits = dst.hi - dst.lo + 1;
    const val = parseUint(ctx, v.slice(0, arrow), t.valueOff, bits, `load into ${dst.field}[${dst.lo}..${dst.hi}]`);
    const m = fullMask(bits) << BigInt(dst.lo);
    return { field: dst.field, value: val << BigInt(dst.lo), mask: m, pos };
  }
  if (name === 'move') ctx.fail('move: copying a field into ct_mark/ct_label is not supported by ctoffload (use set_field or load with a constant)', t.keyOff);
  if (name === 'nat') ctx.fail('nat is only allowed as an argument of ct(...), not inside exec()', t.keyOff);
  ctx.fail(`ct action doesn't support nested action ${t.key}`, t.keyOff);
}

function parseCt(ctx: Ctx, t: Token): CtAction {
  const ct: CtAction = { kind: 'ct', commit: false, force: false, zone: 0, table: null, alg: null, timeout: null, exec: [], pos: ctx.pos(t.keyOff) };
  if (t.sep !== '(' && t.value !== null) ctx.fail('ct: expected "ct(...)"', t.valueOff);
  const args = t.value === null ? [] : tokenize(ctx, t.valueOff, t.valueOff + t.value.length, false);
  let execTok: Token | null = null;
  for (const a of args) {
    const k = a.key.toLowerCase();
    if (k === 'commit' && a.value === null) ct.commit = true;
    else if (k === 'force' && a.value === null) ct.force = true;
    else if (k === 'table' && a.value !== null) {
      const n = a.value.trim();
      if (/^(0x[0-9a-f]+|\d+)$/i.test(n) && BigInt(n) === 255n) ctx.fail('invalid table 0xff', a.valueOff);
      ct.table = parseTable(ctx, a.value, a.valueOff, 'ct(table=…)');
    } else if (k === 'zone' && a.value !== null) {
      if (!/^(0x[0-9a-f]+|\d+)$/i.test(a.value.trim())) {
        // parse_CT: not a number, so a subfield; decode_ct_zone: it must be 16 bits
        // (OFPBAC_BAD_SET_LEN otherwise). docs/policy-language.md §3.
        const src = subfieldAt(ctx, a.value, a.valueOff, 'ct(zone=…)');
        if (src.ref.nBits !== 16) ctx.fail(`ct(zone=${a.value.trim()}): a zone field must be exactly 16 bits, not ${src.ref.nBits} (OVS: OFPBAC_BAD_SET_LEN)`, a.valueOff);
        ct.zoneSrc = src.ref;
      } else ct.zone = toNum(parseUint(ctx, a.value, a.valueOff, 16, 'zone'));
    } else if (k === 'alg' && a.value !== null) {
      if (a.value !== 'ftp' && a.value !== 'tftp') ctx.fail(`invalid conntrack helper "${a.value}"`, a.valueOff);
      ct.alg = a.value as CtAlg;
    } else if (k === 'timeout' && a.value !== null) {
      if (!/^[A-Za-z0-9_.-]+$/.test(a.value)) ctx.fail(`ct(timeout=…): bad timeout policy name "${a.value}"`, a.valueOff);
      ct.timeout = a.value;
    } else if (k === 'exec' && a.sep === '(') {
      execTok = a;
      const inner = tokenize(ctx, a.valueOff, a.valueOff + a.value!.length, false);
      for (const w of inner) ct.exec.push(parseExecWrite(ctx, w));
    } else if (k === 'nat') {
      ct.nat = parseNat(ctx, a);
    } else {
      ctx.fail(`invalid argument to "ct" action: \`${a.key}'`, a.keyOff);
    }
  }
  // parse_CT: force needs commit (message as OVS prints it).
  if (ct.force && !ct.commit) ctx.fail('"force" flag requires "commit" flag.', t.keyOff);
  // decode_NXAST_RAW_CT: nested actions other than a bare nat need commit.
  if (execTok && ct.exec.length > 0 && !ct.commit) {
    ctx.fail('CT action requires commit flag if actions other than NAT without arguments are specified.', execTok.keyOff);
  }
  if (ct.nat && ct.nat.kind !== null && !ct.commit) {
    const p = ct.nat.pos;
    throw new FlowParseError('CT action requires commit flag if actions other than NAT without arguments are specified.', p.line, p.column, ctx.source);
  }
  return ct;
}

/**
 * `parse_NAT` (lib/ofp-actions.c): `nat`, `nat(src[=RANGE])`, `nat(dst[=RANGE])` with the flags
 * `persistent`, `hash`, `random`; messages as OVS prints them (docs/conntrack-semantics.md §11.1).
 */
function parseNat(ctx: Ctx, t: Token): CtNat {
  const nat: CtNat = { kind: null, family: null, addrMin: 0n, addrMax: 0n, portMin: 0, portMax: 0, persistent: false, hash: false, random: false, pos: ctx.pos(t.keyOff) };
  if (t.value === null) return nat;
  let flags = false;
  for (const a of tokenize(ctx, t.valueOff, t.valueOff + t.value.length, false)) {
    const k = a.key;
    if (k === 'src' || k === 'dst') {
      if (nat.kind !== null && nat.kind !== k) ctx.fail('May only specify one of "src" or "dst".', a.keyOff);
      nat.kind = k;
      parseNatRange(ctx, a.value ?? '', a.valueOff, nat);
    } else if (k === 'persistent' || k === 'hash' || k === 'random') {
      nat[k] = true;
      flags = true;
    } else {
      ctx.fail(`invalid key "${k}" in "nat" argument`, a.keyOff);
    }
  }
  if (nat.kind === null && flags) ctx.fail('Flags allowed only with "src" or "dst".', t.keyOff);
  if (nat.hash && nat.random) ctx.fail('Both "hash" and "random" are not allowed.', t.keyOff);
  return nat;
}

/**
 * `str_to_nat_range`: `ADDR[-ADDR][:PORT[-PORT]]`, IPv6 in brackets when a port follows. One
 * deliberate difference: an IPv4 octet above 255 is an error here, where OVS's `%hhu` scan
 * would wrap it.
 */
function parseNatRange(ctx: Ctx, s: string, off: number, nat: CtNat): void {
  const invalid = (): never => ctx.fail(`invalid nat range "${s}"`, off);
  nat.family = null;
  let n = 0;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/;
  const v6 = /^(?:\[([0-9a-fA-F:.]{1,46})\]|([0-9a-fA-F:.]{1,46}))/;
  const scan4 = (at: number): bigint | null => {
    const m = v4.exec(s.slice(at));
    if (!m || m.slice(1).some((o) => Number(o) > 255)) return null;
    n = at + m[0].length;
    return parseIpv4Value(ctx, m[0], off + at, 'nat');
  };
  const scan6 = (at: number): bigint | null => {
    const m = v6.exec(s.slice(at));
    if (!m) return null;
    n = at + m[0].length;
    try {
      return parseIpv6Value(ctx, m[1] ?? m[2]!, off + at, 'nat');
    } catch {
      return null;
    }
  };
  const min4 = scan4(0);
  if (min4 !== null) {
    nat.family = 4;
    nat.addrMin = nat.addrMax = min4;
    if (s[n] === '-') {
      const max = scan4(n + 1);
      if (max === null || max < min4) return invalid();
      nat.addrMax = max;
    }
  } else {
    // OVS scans the IPv6 character class first and validates with inet_pton after: text the
    // class accepts but inet_pton rejects is consumed without setting a range (`src=1.2.3`).
    const min6 = scan6(0);
    if (min6 !== null) {
      nat.family = 6;
      nat.addrMin = nat.addrMax = min6;
      if (s[n] === '-') {
        const max = scan6(n + 1);
        if (max === null || max < min6) return invalid();
        nat.addrMax = max;
      }
    }
  }
  if (nat.family !== null && s[n] === ':') {
    const m = /^\d+/.exec(s.slice(n + 1));
    if (!m || Number(m[0]) > 0xffff) return invalid();
    nat.portMin = nat.portMax = Number(m[0]);
    n += 1 + m[0].length;
    if (s[n] === '-') {
      const m2 = /^\d+/.exec(s.slice(n + 1));
      if (!m2 || Number(m2[0]) > 0xffff || Number(m2[0]) < nat.portMin) return invalid();
      nat.portMax = Number(m2[0]);
      n += 1 + m2[0].length;
    }
  }
  if (n !== s.length) ctx.fail(`garbage (${s.slice(n)}) after nat range "${s}" (pos: ${n})`, off + n);
  // ofproto-dpif-xlate `put_ct_nat` sends no port range for port 0 (`range.proto.min` unset).
  if (nat.portMin === 0) nat.portMax = 0;
}

interface ParsedActions {
  actions: Action[];
  /** Offset of each action's name, for flow-level checks. */
  offs: number[];
}

function parseActions(ctx: Ctx, from: number, to: number, table: number): ParsedActions {
  const toks = tokenize(ctx, from, to, false);
  const actions: Action[] = [];
  const offs: number[] = [];
  let dropTok: Token | null = null;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    const k = t.key.toLowerCase();
    const pos = ctx.pos(t.keyOff);
    const push = (a: Action): void => {
      actions.push(a);
      offs.push(t.keyOff);
    };
    if (/^(0x[0-9a-f]+|\d+)$/i.test(t.key) && t.value === null) {
      push({ kind: 'output', port: parsePort(ctx, t.key, t.keyOff, 'output'), pos });
      continue;
    }
    switch (k) {
      case 'output':
        if (t.value === null) ctx.fail('output: expected "output:PORT"', t.keyOff);
        if (t.sep === '(') {
          const m = /^\s*port\s*=\s*([^,\s]+)\s*$/i.exec(t.value);
          if (!m) ctx.fail('output(...): only "output(port=N)" is supported', t.valueOff);
          push({ kind: 'output', port: parsePort(ctx, m[1]!, t.valueOff + t.value.indexOf(m[1]!), 'output'), pos });
        } else {
          push({ kind: 'output', port: parsePort(ctx, t.value, t.valueOff, 'output'), pos });
        }
        break;
      case 'in_port':
        if (t.value !== null) ctx.fail('in_port as an action takes no argument', t.keyOff);
        push({ kind: 'output', port: OFPP_IN_PORT, pos });
        break;
      case 'controller':
        if (t.value === null) push({ kind: 'controller', args: null, pos });
        else if (t.sep === ':') push({ kind: 'controller', args: `max_len=${toNum(parseUint(ctx, t.value, t.valueOff, 16, 'controller max_len'))}`, pos });
        else {
          const args = t.value.trim();
          for (const a of tokenize(ctx, t.valueOff, t.valueOff + t.value.length, false)) {
            if (!/^(max_len|reason|id|userdata|pause|meter_id)$/i.test(a.key)) ctx.fail(`controller: unknown argument "${a.key}"`, a.keyOff);
          }
          push({ kind: 'controller', args: args === '' ? null : args, pos });
        }
        break;
      case 'drop':
        if (t.value !== null) ctx.fail('drop takes no argument', t.keyOff);
        dropTok = t;
        push({ kind: 'drop', pos });
        break;
      case 'resubmit': {
        if (t.value === null) ctx.fail('resubmit: expected "resubmit(,TABLE)"', t.keyOff);
        if (t.sep !== '(') ctx.fail('resubmit:PORT (resubmit with a different in_port) is not supported by ctoffload; use resubmit(,TABLE)', t.keyOff);
        const parts = t.value.split(',');
        if (parts.length > 3 || (parts.length === 3 && parts[2]!.trim() !== 'ct')) ctx.fail('resubmit: expected "resubmit(,TABLE)" or "resubmit(,TABLE,ct)"', t.valueOff);
        if (parts[0]!.trim() !== '') ctx.fail('resubmit with a different in_port is not supported by ctoffload; use resubmit(,TABLE)', t.valueOff);
        if (parts.length < 2 || parts[1]!.trim() === '') ctx.fail('resubmit(,TABLE): the table is missing', t.valueOff);
        const rt = parseTable(ctx, parts[1]!, t.valueOff + parts[0]!.length + 1, 'resubmit');
        push(parts.length === 3 ? { kind: 'resubmit', table: rt, ct: true, pos } : { kind: 'resubmit', table: rt, pos });
        break;
      }
      case 'goto_table': {
        if (t.value === null || t.sep === '(') ctx.fail('goto_table: expected "goto_table:TABLE"', t.keyOff);
        const tt = parseTable(ctx, t.value, t.valueOff, 'goto_table');
        // OpenFlow 1.1+ instructions: goto_table comes last and may only go forward (OFPBIC_BAD_TABLE_ID).
        if (tt <= table) ctx.fail(`goto_table:${tt} must name a later table than this flow's table ${table} (OFPBIC_BAD_TABLE_ID)`, t.valueOff);
        if (i !== toks.length - 1) ctx.fail('goto_table must be the last action (it is an OpenFlow instruction)', t.keyOff);
        push({ kind: 'goto_table', table: tt, pos });
        break;
      }
      case 'ct':
        push(parseCt(ctx, t));
        break;
      case 'ct_clear':
        if (t.value !== null) ctx.fail('ct_clear takes no argument', t.keyOff);
        push({ kind: 'ct_clear', pos });
        break;
      case 'nat':
        ctx.fail('nat is only allowed as an argument of ct(...) (OVS: "nat" outside ct is OFPBAC_BAD_ARGUMENT)', t.keyOff);
        break;
      case 'set_field':
      case 'load':
      case 'move':
        if (namesCtField(t.value ?? '')) ctx.fail('cannot set CT fields outside of ct action (write ct_mark/ct_label inside ct(commit,exec(...)))', t.keyOff);
        for (const a of parseStateWrite(ctx, t, k, pos)) push(a);
        break;
      case 'conjunction':
        push(parseConjunction(ctx, t, pos));
        break;
      case 'learn':
        ctx.fail('learn is not supported by ctoffload: it adds flows while packets run, and a ctoffload policy is a fixed set of flows (the model, the offload compiler and the OVS oracle all take the policy as written)', t.keyOff);
        break;
      case 'normal':
      case 'flood':
      case 'all':
      case 'local':
        ctx.fail(`${k} is not supported by ctoffload: use output:PORT`, t.keyOff);
        break;
      default:
        // ofpacts_parse_action: a bare word that is no action is taken as a port to output to.
        if (t.value === null && /^[a-z][\w.-]*$/i.test(t.key)) {
          ctx.fail(`"${t.key}": not an action ctoffload knows, and OVS would read it as output to a port named "${t.key}": port names are not supported: use a port number (output:N)`, t.keyOff);
        }
        ctx.fail(`unknown or unsupported action "${t.key}"`, t.keyOff);
    }
  }
  // ofpacts_verify: conjunction only with other conjunctions (and note, not in this subset).
  const conjI = actions.findIndex((a) => a.kind === 'conjunction');
  if (conjI >= 0) {
    const other = actions.findIndex((a) => a.kind !== 'conjunction');
    if (other >= 0) {
      const a = actions[other]!;
      ctx.fail(`"conjunction" actions may be used along with "note" but not any other kind of action (such as the "${a.kind === 'load' ? 'set_field' : a.kind}" action used here)`, offs[other]!);
    }
  }
  // ofpacts_parse__: "drop" stands alone.
  if (dropTok && actions.length > 1) ctx.fail('"drop" must not be accompanied by any other action or instruction', dropTok.keyOff);
  if (actions.length === 0) {
    actions.push({ kind: 'drop', pos: ctx.pos(from) });
    offs.push(from);
  }
  return { actions, offs };
}

// ---- flows ---------------------------------------------------------------------------------

function parseFlowLine(ctx: Ctx): Flow {
  const s = ctx.l.text;
  const toks = tokenize(ctx, 0, s.length, true);
  const b: MatchBuilder = { fields: new Map(), icmpNames: new Set() };
  let table = 0;
  let priority = DEFAULT_PRIORITY;
  let cookie: bigint | null = null;
  let actionsTok: Token | null = null;
  let first = 0;
  while (first < s.length && DELIMS.includes(s[first]!)) first++;
  for (const t of toks) {
    const k = t.key.toLowerCase();
    if (isActionsKey(k) && t.sep === '=') {
      actionsTok = t;
      break;
    }
    if ((k === 'table' || k === 'priority' || k === 'cookie') && (t.value === null || t.sep !== '=')) ctx.fail(`"${t.key}" needs a value ("${k}=N")`, t.keyOff);
    if (k === 'table') table = parseTable(ctx, t.value!, t.valueOff, 'table');
    else if (k === 'priority') priority = toNum(parseUint(ctx, t.value!, t.valueOff, 16, 'priority'));
    else if (k === 'cookie') {
      if (t.value!.includes('/')) ctx.fail('cookie masks only make sense for del-flows/mod-flows', t.valueOff);
      cookie = parseUint(ctx, t.value!, t.valueOff, 64, 'cookie');
    } else parseMatchToken(ctx, b, t);
  }
  if (!actionsTok) ctx.fail('flow has no "actions=" (ovs-ofctl add-flows requires one, last on the line)', first);
  checkPrereqs(ctx, b);
  const { actions, offs } = parseActions(ctx, actionsTok.valueOff, s.length, table);
  const match = [...b.fields.values()].sort((x, y) => matchFieldOrder(x.name) - matchFieldOrder(y.name));
  checkFlowActions(ctx, match, actions, offs);
  return { table, priority, cookie, match, actions, pos: ctx.pos(first), text: s.trim() };
}

/** Flow-level rules of check_CT (docs/conntrack-semantics.md §1.1). */
function checkFlowActions(ctx: Ctx, match: MatchField[], actions: Action[], offs: number[]): void {
  const dl = match.find((f) => f.name === 'dl_type');
  const np = match.find((f) => f.name === 'nw_proto');
  const cs = match.find((f) => f.name === 'ct_state');
  const dlType = dl ? Number(dl.value) : null;
  const nwProto = np ? Number(np.value) : null;
  actions.forEach((a, i) => {
    // mf_check_src (check_REG_MOVE, check_CT's zone source): a source field's prerequisites
    // must hold in this flow's match, else OFPBAC_MATCH_INCONSISTENT ("source field ip_src
    // lacks correct prerequisites") [obs].
    const src = a.kind === 'move' ? a.src : a.kind === 'ct' ? a.zoneSrc : null;
    if (src) {
      const pre = subfieldSpecByNxm(src.field).prereq;
      if (pre && (dlType !== pre.dlType || (pre.nwProto !== undefined && nwProto !== pre.nwProto))) {
        ctx.fail(`${a.kind === 'move' ? 'move' : 'ct(zone=…)'}: source field ${src.field} needs ${pre.what} in this flow (OVS: source field lacks correct prerequisites, OFPBAC_MATCH_INCONSISTENT)`, offs[i]!);
      }
    }
    // check_RESUBMIT: resubmit(,T,ct) needs is_ct_valid on the match (docs/policy-language.md §6).
    if (a.kind === 'resubmit' && a.ct && !(cs && (cs.value & 0x0fn) !== 0n && (cs.value & 0x10n) === 0n)) {
      ctx.fail('resubmit(,TABLE,ct) needs a ct_state match with +new, +est, +rel or +rpl (and not +inv) (OVS: OFPBAC_MATCH_INCONSISTENT)', offs[i]!);
    }
    if (a.kind !== 'ct') return;
    const off = offs[i]!;
    if (dlType !== ETH_TYPE_IP && dlType !== ETH_TYPE_IPV6) {
      ctx.fail('a flow with ct() must match ip or ipv6 (OVS: actions are invalid with specified match, OFPBAC_MATCH_INCONSISTENT)', off);
    }
    if (a.commit && cs && (cs.value & 0x10n) !== 0n) {
      ctx.fail('ct(commit) in a flow matching ct_state=+inv (OVS: OFPBAC_MATCH_INCONSISTENT)', off);
    }
    // check_NAT: a range's family must be the flow's (OFPBAC_MATCH_INCONSISTENT).
    if (a.nat && a.nat.family !== null && (a.nat.family === 4 ? dlType !== ETH_TYPE_IP : dlType !== ETH_TYPE_IPV6)) {
      ctx.fail(`ct(nat(${a.nat.kind}=…)): an IPv${a.nat.family} range needs an ${a.nat.family === 4 ? 'IPv4 match ("ip", "tcp", …)' : 'IPv6 match ("ipv6", "tcp6", …)'} (OVS: OFPBAC_MATCH_INCONSISTENT)`, off);
    }
    if (a.alg === 'ftp' && nwProto !== 6) ctx.fail('ct(alg=ftp) needs a TCP match ("tcp" or "tcp6") (OVS: OFPBAC_MATCH_INCONSISTENT)', off);
    if (a.alg === 'tftp' && nwProto !== 17) ctx.fail('ct(alg=tftp) needs a UDP match ("udp" or "udp6") (OVS: OFPBAC_MATCH_INCONSISTENT)', off);
  });
}

// ---- directives ----------------------------------------------------------------------------

const DIRECTIVE_RE = /^\s*(timeout_policy|zone_limit|ipf)(?=[ \t]|$)/;

function parseDirective(ctx: Ctx, kind: 'timeout_policy' | 'zone_limit' | 'ipf', bodyOff: number): Directive {
  const s = ctx.l.text;
  const start = s.search(/\S/);
  const pos = ctx.pos(start);
  const toks = tokenize(ctx, bodyOff, s.length, false);
  if (kind === 'ipf') {
    const d: Directive = { kind, pos };
    for (const t of toks) {
      if ((t.key !== 'v4' && t.key !== 'v6') || t.value === null || t.sep !== '=') {
        ctx.fail(`ipf: expected v4=on|off or v6=on|off, got "${t.key}${t.sep ?? ''}${t.value ?? ''}"`, t.keyOff);
      }
      if (d[t.key] !== undefined) ctx.fail(`ipf: "${t.key}" given twice`, t.keyOff);
      if (t.value !== 'on' && t.value !== 'off') ctx.fail(`ipf: ${t.key} must be "on" or "off", not "${t.value}"`, t.valueOff);
      d[t.key] = t.value === 'on';
    }
    if (d.v4 === undefined && d.v6 === undefined) ctx.fail('ipf needs v4=on|off and/or v6=on|off', start);
    return d;
  }
  if (kind === 'timeout_policy') {
    let name: string | null = null;
    const attrs: Record<string, number> = {};
    for (let i = 0; i < toks.length; i++) {
      const t = toks[i]!;
      if (i === 0 && t.value === null) {
        name = t.key;
        continue;
      }
      if (t.key === 'name' && t.sep === '=' && t.value !== null && name === null) {
        name = t.value;
        continue;
      }
      if (t.value === null || t.sep !== '=') ctx.fail(`timeout_policy: expected ATTR=SECONDS, got "${t.key}"`, t.keyOff);
      if (!(TIMEOUT_POLICY_ATTRS as readonly string[]).includes(t.key)) {
        ctx.fail(`timeout_policy: unknown attribute "${t.key}" (expected one of ${TIMEOUT_POLICY_ATTRS.join(', ')})`, t.keyOff);
      }
      if (t.key in attrs) ctx.fail(`timeout_policy: attribute "${t.key}" given twice`, t.keyOff);
      attrs[t.key] = toNum(parseUint(ctx, t.value, t.valueOff, 32, t.key));
    }
    if (name === null) ctx.fail('timeout_policy needs a name: "timeout_policy NAME attr=SECONDS,…"', start);
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) ctx.fail(`timeout_policy: bad name "${name}"`, start);
    return { kind, name, attrs, pos };
  }
  let zone: number | 'default' | null = null;
  let limit: number | null = null;
  for (const t of toks) {
    if (t.value === null || t.sep !== '=') ctx.fail(`zone_limit: expected zone=N,limit=L or default=L, got "${t.key}"`, t.keyOff);
    if (t.key === 'zone' && zone === null) zone = toNum(parseUint(ctx, t.value, t.valueOff, 16, 'zone'));
    else if (t.key === 'limit' && limit === null) limit = toNum(parseUint(ctx, t.value, t.valueOff, 32, 'limit'));
    else if (t.key === 'default' && zone === null && limit === null) {
      zone = 'default';
      limit = toNum(parseUint(ctx, t.value, t.valueOff, 32, 'default'));
    } else ctx.fail(`zone_limit: unexpected "${t.key}" (expected zone=N,limit=L or default=L)`, t.keyOff);
  }
  if (zone === null || limit === null) ctx.fail('zone_limit needs zone=N,limit=L or default=L', start);
  return { kind, zone, limit, pos };
}

// ---- policy --------------------------------------------------------------------------------

/** Identity of a flow for add-flows replacement: same table, priority and match. */
function flowIdentity(f: Flow): string {
  return `${f.table}/${f.priority}/${formatMatch(f.match)}`;
}

/**
 * Parse a whole policy. Throws FlowParseError (code CTO_FLOW_PARSE) at the first error, naming
 * `source:line:column`.
 */
/**
 * A policy is UTF-8 text (as ovs-ofctl reads it). Read as UTF-8, a UTF-16 file shows NUL bytes
 * (or a U+FFFD for its byte-order mark) and a binary file both: say that, at the first one,
 * instead of "unknown match field" on the garbage. A UTF-8 byte-order mark is skipped.
 */
function checkPolicyText(text: string, source: string): string {
  const t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const bad = t.search(/[\u0000\ufffd]/);
  if (bad < 0) return t; // columns as an editor shows them (it hides the BOM)
  const before = t.slice(0, bad);
  const line = before.split('\n').length;
  const column = bad - before.lastIndexOf('\n');
  const utf16 = /^(\ufffd\ufffd|[^\n]?\u0000)/.test(t) || /[\x20-\x7e]\u0000[\x20-\x7e]\u0000/.test(t.slice(0, 64));
  throw new FlowParseError(
    t[bad] === '\u0000'
      ? `not a text policy: NUL byte${utf16 ? ' (the file looks like UTF-16: convert it to UTF-8, e.g. iconv -f UTF-16 -t UTF-8)' : ' (binary data?)'}`
      : `not valid UTF-8 text${utf16 ? ' (the file looks like UTF-16: convert it to UTF-8, e.g. iconv -f UTF-16 -t UTF-8)' : ''}`,
    line, column, source);
}

export function parsePolicy(text: string, source = '<policy>'): Policy {
  text = checkPolicyText(text, source);
  const all: Flow[] = [];
  const directives: Directive[] = [];
  const directiveLines = new Set<number>();
  const ctxOf = new Map<Flow, Ctx>();
  for (const l of logicalLines(text)) {
    const ctx = new Ctx(l, source);
    const m = DIRECTIVE_RE.exec(l.text);
    if (m) {
      const d = parseDirective(ctx, m[1] as 'timeout_policy' | 'zone_limit' | 'ipf', m[0].length);
      directives.push(d);
      for (const ln of l.lines) directiveLines.add(ln);
      continue;
    }
    const f = parseFlowLine(ctx);
    ctxOf.set(f, ctx);
    all.push(f);
  }

  const timeoutPolicies = new Map<string, Record<string, number>>();
  const zoneLimits = new Map<number, number>();
  let defaultLimit: number | null = null;
  const ipf = { v4: true, v6: true };
  const warnings: PolicyWarning[] = [];
  for (const d of directives) {
    if (d.kind === 'ipf') {
      if (d.v4 !== undefined) ipf.v4 = d.v4;
      if (d.v6 !== undefined) ipf.v6 = d.v6;
    } else if (d.kind === 'timeout_policy') {
      if (timeoutPolicies.has(d.name)) throw new FlowParseError(`timeout_policy "${d.name}" defined twice`, d.pos.line, d.pos.column, source);
      timeoutPolicies.set(d.name, d.attrs);
    } else if (d.zone === 'default') defaultLimit = d.limit;
    else zoneLimits.set(d.zone, d.limit);
  }

  // ct(timeout=NAME) must name a defined policy (anywhere in the file).
  for (const f of all) {
    for (const a of f.actions) {
      if (a.kind === 'ct' && a.timeout !== null && !timeoutPolicies.has(a.timeout)) {
        throw new FlowParseError(`ct(timeout=${a.timeout}): no timeout_policy named "${a.timeout}" in this policy`, a.pos.line, a.pos.column, source);
      }
    }
  }

  checkConjunctions(all, source);
  // ctoffload limit, not OVS's: FTP/TFTP through NAT (payload rewrite, sequence skew, NATed
  // expectations) is not modelled, so a policy using both is refused rather than modelled
  // wrongly (docs/conntrack-semantics.md §11.6).
  const algAct = all.flatMap((f) => f.actions).find((a) => a.kind === 'ct' && a.alg !== null);
  const natAct = all.flatMap((f) => f.actions).find((a) => a.kind === 'ct' && a.nat);
  if (algAct && natAct && natAct.kind === 'ct') {
    const p = natAct.nat!.pos;
    throw new FlowParseError(`ct(nat…) with ct(alg=…) at line ${algAct.pos.line}: ALGs through NAT (FTP/TFTP payload rewrite) are not modelled by ctoffload yet`, p.line, p.column, source);
  }

  // ovs-ofctl add-flows: a flow with the same table, priority and match replaces the earlier one
  // (OFPFC_ADD semantics), so only the last of such a group is in effect.
  const lastByIdentity = new Map<string, Flow>();
  for (const f of all) {
    const id = flowIdentity(f);
    const prev = lastByIdentity.get(id);
    if (prev) warnings.push({ pos: f.pos, message: `flow replaces the identical flow at line ${prev.pos.line} (same table, priority and match: ovs-ofctl add-flows keeps the last)` });
    lastByIdentity.set(id, f);
  }
  const flows = all.filter((f) => lastByIdentity.get(flowIdentity(f)) === f);
  const tables = [...new Set(flows.map((f) => f.table))].sort((a, b) => a - b);
  return { source, flows, tables, timeoutPolicies, zoneLimits, defaultLimit, ipf, directiveLines, directives, warnings };
}

/**
 * One conjunctive flow = (table, priority, id) (docs/policy-language.md §4): OVS counts the
 * clauses of an id against the `n` of whichever of its flows the classifier meets first, so
 * flows that disagree on `n` give an order-dependent answer. Refused, naming both flows.
 */
function checkConjunctions(flows: readonly Flow[], source: string): void {
  const seen = new Map<string, ConjunctionAction>();
  for (const f of flows) {
    for (const a of f.actions) {
      if (a.kind !== 'conjunction') continue;
      const key = `${f.table}/${f.priority}/${a.id}`;
      const prev = seen.get(key);
      if (!prev) seen.set(key, a);
      else if (prev.nClauses !== a.nClauses) {
        throw new FlowParseError(`conjunction(${a.id},${a.clause}/${a.nClauses}) disagrees with conjunction(${prev.id},${prev.clause}/${prev.nClauses}) at line ${prev.pos.line} on the number of clauses (same table ${f.table} and priority ${f.priority}: one conjunctive flow)`, a.pos.line, a.pos.column, source);
      }
    }
  }
}

/** Parse one flow line (tests, tools). */
export function parseFlow(text: string, source = '<flow>'): Flow {
  const p = parsePolicy(text, source);
  if (p.flows.length !== 1) throw new FlowParseError(`expected exactly one flow, found ${p.flows.length}`, 1, 1, source);
  return p.flows[0]!;
}
