/**
 * Policy → what OVS 3.1 is given: instrumented flow text plus zone configuration.
 *
 * Works on the model's parsed policy (model/pipeline/parse.ts `parsePolicy`, the one parser of
 * the flow syntax; model/pipeline/ast.ts): the instrumentation is a rewrite of the AST, and
 * every flow OVS gets — the user's and the instrumentation's — is printed by the AST's printer
 * (`formatFlow` with `ovs: true`). So OVS runs exactly the flows the model runs, and a policy
 * outside our subset never reaches OVS: the parser rejects it first with its own
 * source:line:column (the OVS target is only driven with our policies — `ctoffload
 * conformance|replay --target ovs` — which the model must run too). A flow the parser accepts
 * but OVS rejects is still reported with OVS's own message: each user flow is printed on the
 * line where it started, so target.ts can map ovs-ofctl's `-:N:` back to the user's line.
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
 *   docs/conntrack-semantics.md §1.1). OVS binds timeout policies to zones (§6.3), so NAME is
 *   removed from the action (the printer's `ovs` option) and the zone gets NAME's attributes
 *   with `add-zone-tp`. That is only faithful when every commit in that zone names the same
 *   policy; anything else is rejected with CTO_OVS_UNSUPPORTED.
 * - **Fragment reassembly.** `ipf v4=off` / `ipf v6=off` (our directive) become
 *   `dpctl/ipf-set-disabled v4|v6` (docs/conntrack-semantics.md §3.4, §9.5); both are on by default.
 */
import {
  type Action,
  type CtAction,
  type Flow,
  type MatchField,
  type Policy,
  type SourcePos,
  formatFlow,
  fullMask,
} from '../../../model/pipeline/index.js';
import { MAX_PORT, MAX_TABLE } from '../../../model/pipeline/index.js';
import { OvsError } from './errors.js';

/** Userdata prefixes of the instrumentation's controller actions ("CTOL", "CTOS"). */
export const USERDATA_LOOKUP = [0x43, 0x54, 0x4f, 0x4c] as const;
export const USERDATA_SENTINEL = [0x43, 0x54, 0x4f, 0x53] as const;
export const SENTINEL_ETHERTYPE = 0x88b5;
export const SENTINEL_DST = '02:c7:0f:00:00:01';
export const SENTINEL_SRC = '02:c7:0f:00:00:02';
/** Cookie of every instrumentation flow, so dumps show which flows are ours. */
export const INSTRUMENTATION_COOKIE = 0xc70ff10ad0000000n;
/**
 * With `lineCookies`, user flow of line N gets cookie LINE_COOKIE_BASE | N instead of its own,
 * so OVS's flow statistics (n_packets) map back to policy lines (coverage, target.ts
 * takeEntryHits). The pipeline ignores cookies, and nothing OVS does with the policy's
 * actions reads them.
 */
export const LINE_COOKIE_BASE = 0xc70ff10c00000000n;
export const LINE_COOKIE_MASK = 0xffffffff00000000n;

/** The policy line a dumped flow's cookie names, or null for any other cookie. */
export function lineOfCookie(cookie: bigint): number | null {
  return (cookie & LINE_COOKIE_MASK) === LINE_COOKIE_BASE ? Number(cookie & 0xffffffffn) : null;
}

/**
 * The directive part of a parsed Policy that the plan reads (kept as a name for code that only
 * has the configuration; a whole `Policy` is one).
 */
export type PolicyConfig = Pick<Policy, 'timeoutPolicies' | 'zoneLimits' | 'defaultLimit' | 'ipf' | 'directiveLines'>;

export interface OvsPolicyPlan {
  /**
   * The instrumented flows as the AST: the user's effective flows (ct tables rewritten, each
   * positioned on the line it started on) followed by the instrumentation.
   */
  flows: Flow[];
  /** Text for `ovs-ofctl add-flows -`: `flows` printed, user flow k on its original line. */
  flowsText: string;
  /** Lines up to here are the user's (lines past it are instrumentation). */
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

/** Highest table a trampoline may use: 254 is OVS's read-only internal table (ofproto/ofproto-dpif.c TBL_INTERNAL; a flow-mod there fails with OFPBRC_EPERM). */
const TOP_FREE_TABLE = MAX_TABLE - 1;
const SENTINEL_PRIORITY = 0xffff;

/** Most distinct ports a policy may name for the OVS target (one dummy interface each). */
export const OVS_MAX_POLICY_PORTS = 1024;

/** Build the OVS form of a parsed policy (`parsePolicy(text, source)`). */
export function planOvsPolicy(policy: Policy, opts: { lineCookies?: boolean } = {}): OvsPolicyPlan {
  const at = (p: SourcePos): string => `${policy.source}:${p.line}:${p.column}`;

  // Tables the policy uses (trampolines must not collide), ct() targets and ports to create.
  const usedTables = new Set<number>();
  const ctTargets = new Set<number>();
  const ports = new Set<number>();
  const addPort = (n: number, pos: SourcePos): void => {
    if (!(n >= 1 && n <= MAX_PORT) || ports.has(n)) return;
    // Each port is a dummy interface in ovs-vswitchd: thousands would take minutes to create
    // and once overflowed the command line (spawn E2BIG, issue 12). Refuse at the line instead.
    if (ports.size >= OVS_MAX_POLICY_PORTS) {
      throw new OvsError('CTO_OVS_UNSUPPORTED', `${at(pos)}: port ${n} is the policy's ${OVS_MAX_POLICY_PORTS + 1}th distinct port; the OVS target creates one dummy port per port a policy names and supports at most ${OVS_MAX_POLICY_PORTS}`);
    }
    ports.add(n);
  };
  for (const f of policy.flows) {
    if (f.table === 0 && f.priority >= SENTINEL_PRIORITY) {
      throw new OvsError('CTO_OVS_UNSUPPORTED', `${at(f.pos)}: priority 65535 in table 0 is reserved for the OVS target's sentinel flow`);
    }
    usedTables.add(f.table);
    for (const m of f.match) if (m.name === 'in_port') addPort(Number(m.value), m.pos);
    for (const a of f.actions) {
      if (a.kind === 'output') addPort(a.port, a.pos); // OFPP_IN_PORT is out of range
      else if (a.kind === 'resubmit' || a.kind === 'goto_table') usedTables.add(a.table);
      else if (a.kind === 'ct' && a.table !== null) ctTargets.add(a.table);
      else if (a.kind === 'controller' && reservedUserdata(a.args)) {
        throw new OvsError('CTO_OVS_UNSUPPORTED', `${at(a.pos)}: controller userdata starting 43.54.4f ("CTO") is reserved for the OVS target's instrumentation`);
      }
    }
  }

  // Trampoline tables: highest free ids, downwards from TOP_FREE_TABLE.
  const trampolines = new Map<number, number>();
  let next = TOP_FREE_TABLE;
  for (const t of [...ctTargets].sort((a, b) => a - b)) {
    while (next >= 0 && (usedTables.has(next) || ctTargets.has(next))) next--;
    if (next < 0) throw new OvsError('CTO_OVS_UNSUPPORTED', `${policy.source}: no free table left for instrumentation`);
    trampolines.set(t, next--);
  }

  const zoneTimeouts = mapTimeouts(policy, at);

  // User flows keep their start line (ovs-ofctl's `-:N:` then names the user's line);
  // ct(timeout=…) became add-zone-tp above and leaves the action.
  const userFlows = policy.flows.map((f): Flow => ({
    ...f,
    ...(opts.lineCookies ? { cookie: LINE_COOKIE_BASE | BigInt(f.pos.line) } : {}),
    actions: f.actions.map((a): Action => (a.kind === 'ct' ? { ...a, table: a.table === null ? null : trampolines.get(a.table)!, timeout: null } : a)),
  }));
  const userLines = Math.max(0, ...userFlows.map((f) => f.pos.line));
  const instr = instrumentationFlows(trampolines, userLines + 1);
  const lines = new Array<string>(userLines + instr.length).fill('');
  for (const f of [...userFlows, ...instr]) lines[f.pos.line - 1] = formatFlow(f, { ovs: true });
  return {
    flows: [...userFlows, ...instr],
    flowsText: lines.join('\n') + '\n',
    userLines,
    trampolines,
    zoneTimeouts,
    zoneLimits: policy.zoneLimits,
    defaultLimit: policy.defaultLimit,
    ipfDisabled: (['v4', 'v6'] as const).filter((fam) => !policy.ipf[fam]),
    ports,
  };
}

/** Whether `controller(...)` arguments carry userdata starting "CTO" (ours). */
function reservedUserdata(args: string | null): boolean {
  // The parser keeps controller arguments as written; userdata is hex bytes, dots optional
  // (lib/ofp-actions.c parse_CONTROLLER), after `=`, `:` or in parentheses (ofputil_parse_key_value).
  const m = args === null ? null : /(?:^|[\s,])userdata\s*[=:(]\s*([0-9a-f.]*)/i.exec(args);
  return m !== null && m[1]!.replace(/\./g, '').toLowerCase().startsWith('43544f');
}

/** The sentinel flow and one trampoline per ct() target table, as flows starting at `line`. */
function instrumentationFlows(trampolines: Map<number, number>, line: number): Flow[] {
  const flow = (table: number, priority: number, match: MatchField[], actions: Action[]): Flow => {
    const pos = { line: line++, column: 1 };
    const f: Flow = { table, priority, cookie: INSTRUMENTATION_COOKIE, match, actions, pos, text: '' };
    f.text = formatFlow(f);
    return f;
  };
  const nowhere = { line: 0, column: 0 };
  const exact = (name: 'dl_src' | 'dl_dst' | 'dl_type', value: bigint, width: number): MatchField => ({ name, value, mask: fullMask(width), pos: nowhere });
  const controller = (bytes: readonly number[]): Action => ({ kind: 'controller', args: `userdata=${hexDots(bytes)}`, pos: nowhere });
  // The sentinel's 4-byte sequence number travels in the packet, not the userdata: the
  // controller action copies a constant, so the number is read back from the data (target.ts).
  const out = [
    flow(0, SENTINEL_PRIORITY, [exact('dl_src', macValue(SENTINEL_SRC), 48), exact('dl_dst', macValue(SENTINEL_DST), 48), exact('dl_type', BigInt(SENTINEL_ETHERTYPE), 16)], [controller(USERDATA_SENTINEL)]),
  ];
  for (const [t, tt] of trampolines) {
    out.push(flow(tt, 0, [], [controller([...USERDATA_LOOKUP, t]), { kind: 'resubmit', table: t, pos: nowhere }]));
  }
  return out;
}

function macValue(mac: string): bigint {
  return BigInt(`0x${mac.replace(/:/g, '')}`);
}

function hexDots(bytes: readonly number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join('.');
}

interface CtUse {
  pos: SourcePos;
  zone: number;
  commit: boolean;
  timeout: string | null;
}

/**
 * zone → the timeout policy its commits name. OVS 3.1 binds timeout policies to zones (§6.3),
 * so every commit in a zone must name the same policy, or none when no commit there names one.
 * (The parser already checked that each name is defined.)
 */
function mapTimeouts(policy: Policy, at: (p: SourcePos) => string): Map<number, Record<string, number>> {
  const uses: CtUse[] = [];
  for (const f of policy.flows) for (const a of f.actions) if (a.kind === 'ct' && a.commit) uses.push(a);
  const byZone = new Map<number, CtUse & { timeout: string }>();
  for (const u of uses) {
    if (u.timeout === null) continue;
    if ((u as CtAction).zoneSrc) {
      throw new OvsError('CTO_OVS_UNSUPPORTED',
        `${at(u.pos)}: ct(timeout=${u.timeout}) with a zone taken from a field: OVS 3.1 binds timeout policies to zones (§6.3), so the zone must be a number here`);
    }
    const prev = byZone.get(u.zone);
    if (prev && prev.timeout !== u.timeout) {
      throw new OvsError('CTO_OVS_UNSUPPORTED',
        `${at(u.pos)}: zone ${u.zone} commits with timeout policy "${u.timeout}" here and "${prev.timeout}" at ${at(prev.pos)}; OVS 3.1 binds one timeout policy per zone, so this policy cannot be reproduced on OVS`);
    }
    byZone.set(u.zone, { ...u, timeout: u.timeout });
  }
  for (const u of uses) {
    const bound = byZone.get(u.zone);
    if (u.timeout === null && bound) {
      throw new OvsError('CTO_OVS_UNSUPPORTED',
        `${at(u.pos)}: a commit without timeout= in zone ${u.zone} would get timeout policy "${bound.timeout}" (${at(bound.pos)}) on OVS 3.1, which binds timeout policies per zone`);
    }
  }
  const out = new Map<number, Record<string, number>>();
  for (const [zone, { timeout }] of byZone) out.set(zone, policy.timeoutPolicies.get(timeout)!);
  return out;
}
