/**
 * Policy → what OVS 3.1 is given: instrumented flow text plus zone configuration.
 *
 * Works on the raw flow text with a small tokenizer for exactly what it must see (table,
 * priority, the `ct(...)` arguments, `controller(...)` userdata, port and table numbers); the
 * match and every other action pass through verbatim, so OVS itself judges them and a rejected
 * policy is reported with OVS's own message. (The model's parser, model/pipeline, had not
 * landed when this was written; the tokenizer follows OVS's own splitting rules:
 * lib/ofp-flow.c `parse_ofp_str__` — fields separated by commas or white space, `actions=` to
 * the end; lib/ofp-actions.c `ofpacts_parse__` — actions separated by top-level commas;
 * lib/dynamic-string.c `ds_get_preprocessed_line` — `#` comments, `\` line continuation.)
 *
 * Instrumentation (why it is built this way):
 * - **Lookups.** Every `ct(...,table=T,...)` is rewritten to `ct(...,table=T')` where T' is a
 *   free "trampoline" table holding one flow:
 *   `controller(userdata=CTOL·T),resubmit(,T)`. The packet-in fires exactly once per
 *   recirculation, carrying the ct fields the tracked copy enters T with. Prefixing the flows
 *   of T instead would also fire when a user `resubmit`/`goto_table` re-enters T without a ct
 *   lookup, would need a catch-all (and priority shifting) to see misses, and would change
 *   how misses behave. The trampoline leaves the user's tables untouched; the only difference
 *   is one extra resubmit level (OVS allows 64, ofproto-dpif-xlate.c MAX_DEPTH).
 * - **End of processing (barrier).** A sentinel frame (EtherType 0x88b5, fixed MACs) follows
 *   every injected packet on the same port; a flow at priority 65535 in table 0 sends it to
 *   the controller with userdata CTOS·seq. dpif-netdev processes a port's rx batch in order
 *   and runs recirculations to completion inside it (lib/dpif-netdev.c `dp_netdev_input__`,
 *   `dp_netdev_recirculate`), packet-ins are queued FIFO (ofproto-dpif.c
 *   `ofproto_dpif_send_async_msg`) and tx pcap writes are synchronous, so the sentinel's
 *   packet-in means everything the packet caused has been reported.
 * - **Timeouts.** `ct(...,timeout=NAME)` is our extension (OVS 3.1's ct() has none,
 *   conntrack-semantics.md §1.1). OVS binds timeout policies to zones (§6.3), so NAME is
 *   removed from the action and the zone gets NAME's attributes with `add-zone-tp`. That is
 *   only faithful when every commit in that zone names the same policy; anything else is
 *   rejected with CTO_OVS_UNSUPPORTED.
 * - **Fragment reassembly.** `ipf v4=off` / `ipf v6=off` (our directive) become
 *   `dpctl/ipf-set-disabled v4|v6` (conntrack-semantics.md §3.4, §9.5); both are on by default.
 */
import { OvsError } from './errors.js';
import { FlowParseError } from '../../../model/errors.js';

/** Userdata prefixes of the instrumentation's controller actions ("CTOL", "CTOS"). */
export const USERDATA_LOOKUP = [0x43, 0x54, 0x4f, 0x4c] as const;
export const USERDATA_SENTINEL = [0x43, 0x54, 0x4f, 0x53] as const;
export const SENTINEL_ETHERTYPE = 0x88b5;
export const SENTINEL_DST = '02:c7:0f:00:00:01';
export const SENTINEL_SRC = '02:c7:0f:00:00:02';
/** Cookie of every instrumentation flow, so dumps show which flows are ours. */
export const INSTRUMENTATION_COOKIE = '0xc70ff10ad0000000';

/** OVS zone timeout policy attributes (vswitchd/vswitch.ovsschema CT_Timeout_Policy). */
export const TIMEOUT_ATTRS = [
  'tcp_syn_sent', 'tcp_syn_recv', 'tcp_established', 'tcp_fin_wait', 'tcp_time_wait', 'tcp_close',
  'tcp_close_wait', 'tcp_last_ack', 'tcp_syn_sent2', 'tcp_retransmit', 'tcp_unack',
  'udp_first', 'udp_single', 'udp_multiple', 'icmp_first', 'icmp_reply',
] as const;

/** Configuration directives of a policy (from model/pipeline's parser or the fallback below). */
export interface PolicyConfig {
  /** Named timeout policies: attribute → seconds. */
  timeoutPolicies: Map<string, Record<string, number>>;
  /** Zone limits (`dpctl/ct-set-limits`): zone → limit; `default` for the shared default. */
  zoneLimits: Map<number, number>;
  defaultLimit: number | null;
  /**
   * Fragment reassembly per family (directive `ipf v4=off` etc.); absent = both on, OVS's
   * default. A family that is off becomes `dpctl/ipf-set-disabled v4|v6`.
   */
  ipf?: { v4: boolean; v6: boolean };
  /**
   * 1-based lines holding directives rather than flows (left out of the OVS flow text). When
   * absent, lines starting `timeout_policy` / `zone_limit` / `ipf` are taken as the directives.
   */
  directiveLines?: ReadonlySet<number>;
}

export interface FlowLine {
  /** 1-based line of the policy text where the flow starts. */
  line: number;
  text: string;
}

export interface OvsPolicyPlan {
  /** Text for `ovs-ofctl add-flows -`: user flow k on its original line, instrumentation after. */
  flowsText: string;
  /** User flows count (lines past the user's last line are instrumentation). */
  userLines: number;
  /** Table T → trampoline table T'. */
  trampolines: Map<number, number>;
  /** zone → timeout attributes to install with add-zone-tp. */
  zoneTimeouts: Map<number, Record<string, number>>;
  zoneLimits: Map<number, number>;
  defaultLimit: number | null;
  /** Families whose fragment reassembly is turned off (`dpctl/ipf-set-disabled`). */
  ipfDisabled: ('v4' | 'v6')[];
  /** Every port number the policy mentions (dummy ports to create). */
  ports: Set<number>;
}

// ---- tokenizer ----------------------------------------------------------------------------

/** Split `s` at top-level occurrences of any char in `seps` (parentheses nest). */
export function splitTopLevel(s: string, seps: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (depth === 0 && seps.includes(c)) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out.map((t) => t.trim()).filter((t) => t.length > 0);
}

/** Logical lines after OVS's preprocessing: comments removed, `\` continuations joined. */
export function logicalLines(text: string): FlowLine[] {
  const phys = text.split(/\r?\n/);
  const out: FlowLine[] = [];
  let acc = '';
  let startLine = 0;
  for (let i = 0; i < phys.length; i++) {
    let l = phys[i]!;
    const hash = l.indexOf('#');
    if (hash >= 0) l = l.slice(0, hash);
    if (acc === '') startLine = i + 1;
    if (/\\\s*$/.test(l)) {
      acc += l.replace(/\\\s*$/, ' ');
      continue;
    }
    acc += l;
    if (acc.trim() !== '') out.push({ line: startLine, text: acc.trim() });
    acc = '';
  }
  if (acc.trim() !== '') out.push({ line: startLine, text: acc.trim() });
  return out;
}

function parseIntOvs(v: string): number | null {
  const t = v.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return parseInt(t.slice(2), 16);
  if (/^\d+$/.test(t)) return parseInt(t, 10);
  return null;
}

interface SplitFlow {
  /** Match/flow-level fields before actions=, as written. */
  fields: string[];
  actions: string;
  table: number;
  priority: number;
}

function splitFlow(f: FlowLine, source: string): SplitFlow {
  const m = /(^|[\s,])actions\s*=/i.exec(f.text);
  if (!m) throw new FlowParseError('flow has no actions= (OVS requires one for add-flows)', f.line, 1, source);
  const head = f.text.slice(0, m.index + m[1]!.length);
  const actions = f.text.slice(m.index + m[0].length).trim();
  const fields = splitTopLevel(head, ', \t');
  let table = 0;
  let priority = 32768; // OFP_DEFAULT_PRIORITY
  for (const fld of fields) {
    const eq = fld.indexOf('=');
    if (eq < 0) continue;
    const k = fld.slice(0, eq).trim().toLowerCase();
    const v = fld.slice(eq + 1);
    if (k === 'table') {
      const n = parseIntOvs(v);
      if (n === null) throw new OvsError('CTO_OVS_UNSUPPORTED', `${source}:${f.line}: table names are not supported (table=${v})`);
      table = n;
    } else if (k === 'priority') {
      const n = parseIntOvs(v);
      if (n !== null) priority = n;
    }
  }
  return { fields, actions, table, priority };
}

// ---- planning ----------------------------------------------------------------------------

interface CtUse {
  line: number;
  zone: number | null; // null: zone from a field
  commit: boolean;
  timeout: string | null;
}

/**
 * Directive fallback until model/pipeline's parser provides PolicyConfig: lines
 * `timeout_policy NAME attr=SECS …` and `zone_limit zone=N limit=L` / `zone_limit default=L`
 * (also with `-`). Returns false for a line that is not a directive.
 */
export function parseDirective(f: FlowLine, cfg: PolicyConfig, source: string): boolean {
  const m = /^(timeout[-_]policy|zone[-_]limit|ipf)(?:\s+(.*))?$/i.exec(f.text);
  if (!m) return false;
  const kind = m[1]!.toLowerCase().replace('-', '_');
  const words = (m[2] ?? '').split(/[\s,]+/).filter(Boolean);
  if (kind === 'ipf') {
    // `ipf v4=on|off[,v6=on|off]` (model/pipeline/parse.ts documents it).
    const ipf = cfg.ipf ?? { v4: true, v6: true };
    for (const w of words) {
      const [k, v] = w.split('=');
      if ((k !== 'v4' && k !== 'v6') || (v !== 'on' && v !== 'off')) {
        throw new FlowParseError(`bad ipf argument "${w}" (expected v4=on|off or v6=on|off)`, f.line, 1, source);
      }
      ipf[k] = v === 'on';
    }
    if (words.length === 0) throw new FlowParseError('ipf needs v4=on|off and/or v6=on|off', f.line, 1, source);
    cfg.ipf = ipf;
    return true;
  }
  if (words.length === 0) throw new FlowParseError(`${kind} needs arguments`, f.line, 1, source);
  if (kind === 'timeout_policy') {
    const [name, ...attrs] = words;
    if (!name || name.includes('=')) throw new FlowParseError('timeout_policy needs a name', f.line, 1, source);
    const rec: Record<string, number> = {};
    for (const a of attrs) {
      const [k, v] = a.split('=');
      const n = v === undefined ? null : parseIntOvs(v);
      if (!k || !(TIMEOUT_ATTRS as readonly string[]).includes(k) || n === null) {
        throw new FlowParseError(`bad timeout attribute "${a}" (expected one of ${TIMEOUT_ATTRS.join(', ')} = seconds)`, f.line, 1, source);
      }
      rec[k] = n;
    }
    cfg.timeoutPolicies.set(name, rec);
  } else {
    let zone: number | null = null;
    let limit: number | null = null;
    let isDefault = false;
    for (const w of words) {
      const [k, v] = w.split('=');
      if (k === 'default' && v !== undefined) {
        isDefault = true;
        limit = parseIntOvs(v);
      } else if (k === 'zone' && v !== undefined) zone = parseIntOvs(v);
      else if (k === 'limit' && v !== undefined) limit = parseIntOvs(v);
      else throw new FlowParseError(`bad zone_limit argument "${w}"`, f.line, 1, source);
    }
    if (limit === null || (!isDefault && zone === null)) throw new FlowParseError('zone_limit needs zone=N limit=L or default=L', f.line, 1, source);
    if (isDefault) cfg.defaultLimit = limit;
    else cfg.zoneLimits.set(zone!, limit);
  }
  return true;
}

/** Build the OVS form of a policy. `config` comes from the model's parser when available. */
export function planOvsPolicy(text: string, source: string, config?: PolicyConfig): OvsPolicyPlan {
  const lines = logicalLines(text);
  const cfg: PolicyConfig = config ?? { timeoutPolicies: new Map(), zoneLimits: new Map(), defaultLimit: null };
  const flows: FlowLine[] = [];
  for (const l of lines) {
    if (!config && parseDirective(l, cfg, source)) continue;
    if (config && (config.directiveLines ? config.directiveLines.has(l.line) : /^(timeout[-_]policy|zone[-_]limit|ipf)\b/i.test(l.text))) continue;
    flows.push(l);
  }

  // Tables mentioned anywhere (trampolines must not collide) and ports to create.
  const usedTables = new Set<number>();
  for (const m of text.matchAll(/\btable\s*=\s*(0x[0-9a-f]+|\d+)/gi)) usedTables.add(parseIntOvs(m[1]!)!);
  for (const m of text.matchAll(/\bgoto_table\s*:\s*(\d+)/gi)) usedTables.add(Number(m[1]));
  for (const m of text.matchAll(/\bresubmit\s*\(\s*[^,)]*,\s*(\d+)/gi)) usedTables.add(Number(m[1]));
  const ports = new Set<number>();
  const addPort = (v: string | undefined): void => {
    const n = v === undefined ? null : parseIntOvs(v);
    if (n !== null && n >= 1 && n <= 0xfeff) ports.add(n);
  };
  for (const m of text.matchAll(/\bin_port\s*=\s*(0x[0-9a-f]+|\d+)/gi)) addPort(m[1]);
  for (const m of text.matchAll(/\b(?:output|enqueue)\s*:\s*(0x[0-9a-f]+|\d+)/gi)) addPort(m[1]);
  for (const m of text.matchAll(/\boutput\s*\(\s*port\s*=\s*(\d+)/gi)) addPort(m[1]);
  for (const m of text.matchAll(/\bresubmit\s*(?::\s*|\(\s*)(\d+)/gi)) addPort(m[1]);

  const ctTargets = new Set<number>();
  const ctUses: CtUse[] = [];
  const out = new Map<number, string>();
  const parsed: { f: FlowLine; s: SplitFlow }[] = [];
  for (const f of flows) {
    const s = splitFlow(f, source);
    if (s.table === 0 && s.priority >= 65535) {
      throw new OvsError('CTO_OVS_UNSUPPORTED',
        `${source}:${f.line}: priority 65535 in table 0 is reserved for the OVS target's sentinel flow`);
    }
    collectActions(s.actions, f, source, ctTargets, ctUses, ports);
    parsed.push({ f, s });
  }

  // Trampoline tables: highest free ids, 253 downwards (table 254 is OVS's read-only internal
  // table, ofproto/ofproto-dpif.c TBL_INTERNAL; a flow-mod there fails with OFPBRC_EPERM).
  const trampolines = new Map<number, number>();
  let next = 253;
  for (const t of [...ctTargets].sort((a, b) => a - b)) {
    while (next >= 0 && (usedTables.has(next) || ctTargets.has(next))) next--;
    if (next < 0) throw new OvsError('CTO_OVS_UNSUPPORTED', `${source}: no free table left for instrumentation`);
    trampolines.set(t, next--);
  }

  for (const { f, s } of parsed) {
    const actions = rewriteActions(s.actions, trampolines);
    out.set(f.line, `${s.fields.join(',')}${s.fields.length ? ',' : ''}actions=${actions}`);
  }

  const zoneTimeouts = mapTimeouts(ctUses, cfg, source);

  const maxLine = Math.max(0, ...text.split(/\r?\n/).map((_, i) => i + 1));
  const physical: string[] = [];
  for (let i = 1; i <= maxLine; i++) physical.push(out.get(i) ?? '');
  const instr: string[] = [];
  const sentinelMatch = `dl_type=0x${SENTINEL_ETHERTYPE.toString(16)},dl_dst=${SENTINEL_DST},dl_src=${SENTINEL_SRC}`;
  // The sentinel's 4-byte sequence number travels in the userdata too: the controller action
  // copies a constant, so the number is read back from the packet data instead (see target).
  instr.push(`table=0,priority=65535,cookie=${INSTRUMENTATION_COOKIE},${sentinelMatch},actions=controller(userdata=${hexDots(USERDATA_SENTINEL)})`);
  for (const [t, tt] of trampolines) {
    instr.push(`table=${tt},priority=0,cookie=${INSTRUMENTATION_COOKIE},actions=controller(userdata=${hexDots([...USERDATA_LOOKUP, t])}),resubmit(,${t})`);
  }
  return {
    flowsText: [...physical, ...instr].join('\n') + '\n',
    userLines: maxLine,
    trampolines,
    zoneTimeouts,
    zoneLimits: cfg.zoneLimits,
    defaultLimit: cfg.defaultLimit,
    ipfDisabled: (['v4', 'v6'] as const).filter((fam) => cfg.ipf?.[fam] === false),
    ports,
  };
}

function hexDots(bytes: readonly number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join('.');
}

const NESTED_ACTION_LISTS = new Set(['clone', 'write_actions', 'apply_actions']);

function actionName(a: string): { name: string; args: string | null } {
  const p = a.indexOf('(');
  const c = a.search(/[:=]/);
  if (p >= 0 && (c < 0 || p < c) && a.endsWith(')')) {
    return { name: a.slice(0, p).trim().toLowerCase(), args: a.slice(p + 1, -1) };
  }
  return { name: (c >= 0 ? a.slice(0, c) : a).trim().toLowerCase(), args: null };
}

function collectActions(actions: string, f: FlowLine, source: string, ctTargets: Set<number>, uses: CtUse[], ports: Set<number>): void {
  for (const a of splitTopLevel(actions, ',')) {
    const { name, args } = actionName(a);
    if (args !== null && NESTED_ACTION_LISTS.has(name)) {
      collectActions(args, f, source, ctTargets, uses, ports);
    } else if (name === 'ct' && args !== null) {
      const use: CtUse = { line: f.line, zone: 0, commit: false, timeout: null };
      for (const arg of splitTopLevel(args, ',')) {
        const eq = arg.indexOf('=');
        const k = (eq < 0 ? arg : arg.slice(0, eq)).trim().toLowerCase();
        const v = eq < 0 ? '' : arg.slice(eq + 1).trim();
        if (k === 'commit') use.commit = true;
        else if (k === 'zone') use.zone = parseIntOvs(v);
        else if (k === 'timeout') use.timeout = v;
        else if (k === 'table') {
          const t = parseIntOvs(v);
          if (t === null) throw new OvsError('CTO_OVS_UNSUPPORTED', `${source}:${f.line}: ct(table=${v}): table names are not supported`);
          ctTargets.add(t);
        }
      }
      uses.push(use);
    } else if (name === 'controller' && args !== null) {
      for (const arg of splitTopLevel(args, ',')) {
        const m = /^userdata\s*=\s*(.*)$/i.exec(arg);
        if (!m) continue;
        const hex = m[1]!.replace(/\./g, '').toLowerCase();
        if (hex.startsWith('43544f')) {
          throw new OvsError('CTO_OVS_UNSUPPORTED', `${source}:${f.line}: controller userdata starting 43.54.4f ("CTO") is reserved for the OVS target's instrumentation`);
        }
      }
    } else if (/^\d+$/.test(name) && args === null) {
      const n = Number(name); // a bare number is `output:N`
      if (n >= 1 && n <= 0xfeff) ports.add(n);
    }
  }
}

function rewriteActions(actions: string, trampolines: Map<number, number>): string {
  return splitTopLevel(actions, ',')
    .map((a) => {
      const { name, args } = actionName(a);
      if (args !== null && NESTED_ACTION_LISTS.has(name)) return `${a.slice(0, a.indexOf('('))}(${rewriteActions(args, trampolines)})`;
      if (name !== 'ct' || args === null) return a;
      const kept: string[] = [];
      for (const arg of splitTopLevel(args, ',')) {
        const eq = arg.indexOf('=');
        const k = (eq < 0 ? arg : arg.slice(0, eq)).trim().toLowerCase();
        if (k === 'timeout') continue; // our extension, mapped to a zone timeout policy
        if (k === 'table') {
          const t = parseIntOvs(arg.slice(eq + 1))!;
          kept.push(`table=${trampolines.get(t)}`);
          continue;
        }
        kept.push(arg);
      }
      return `ct(${kept.join(',')})`;
    })
    .join(',');
}

function mapTimeouts(uses: CtUse[], cfg: PolicyConfig, source: string): Map<number, Record<string, number>> {
  const byZone = new Map<number, { name: string; line: number }>();
  for (const u of uses) {
    if (u.timeout === null) continue;
    if (!cfg.timeoutPolicies.has(u.timeout)) {
      throw new OvsError('CTO_OVS_UNSUPPORTED', `${source}:${u.line}: ct(timeout=${u.timeout}): no timeout policy named "${u.timeout}"`);
    }
    if (u.zone === null) {
      throw new OvsError('CTO_OVS_UNSUPPORTED',
        `${source}:${u.line}: ct(timeout=${u.timeout}) with a zone taken from a field cannot be mapped: OVS 3.1 binds timeout policies to fixed zones`);
    }
    if (!u.commit) continue; // only a committing call creates an entry that could carry a policy
    const prev = byZone.get(u.zone);
    if (prev && prev.name !== u.timeout) {
      throw new OvsError('CTO_OVS_UNSUPPORTED',
        `${source}:${u.line}: zone ${u.zone} commits with timeout policy "${u.timeout}" here and "${prev.name}" at line ${prev.line}; OVS 3.1 binds one timeout policy per zone, so this policy cannot be reproduced on OVS`);
    }
    byZone.set(u.zone, { name: u.timeout, line: u.line });
  }
  for (const u of uses) {
    if (!u.commit || u.timeout !== null) continue;
    const bound = u.zone === null ? [...byZone.values()][0] : byZone.get(u.zone);
    if (bound) {
      throw new OvsError('CTO_OVS_UNSUPPORTED',
        `${source}:${u.line}: a commit without timeout= in zone ${u.zone ?? '(from a field)'} would get timeout policy "${bound.name}" (line ${bound.line}) on OVS 3.1, which binds timeout policies per zone`);
    }
  }
  const out = new Map<number, Record<string, number>>();
  for (const [zone, { name }] of byZone) out.set(zone, cfg.timeoutPolicies.get(name)!);
  return out;
}
