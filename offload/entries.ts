/**
 * Table entries of a compiled policy, by NAME (never numeric ids: those come from the P4Info
 * at the last moment, in `toUpdates`, through p4/'s P4InfoIndex and entity builders):
 *
 * - `staticEntries(plan)`: one entry per (policy flow, stage table), ternary keys from the
 *   flow's match, P4Runtime priority = OVS priority + 1 (must be > 0 on ternary tables).
 * - `connectionEntries(conn, plan)`: the entries of one model connection, one per direction and
 *   per conntrack table that looks its zone up; [] when the connection must not be offloaded
 *   (the controller then deletes whatever it had installed for it).
 */
import { CS_ESTABLISHED, CS_NEW, CS_RELATED, CS_REPLY_DIR, CS_TRACKED } from '../model/ctstate.js';
import type { ConnInfo, TupleInfo } from '../model/conntrack/types.js';
import { DEFAULT_TIMEOUTS_MS, TM_ICMP_FIRST, TM_ICMP_REPLY, TM_TCP_ESTABLISHED, TM_UDP_MULTIPLE, TM_UDP_SINGLE } from '../model/conntrack/timeouts.js';
import { parseIp } from '../model/packet/addr.js';
import { insert, modify, remove, tableEntry, type P4InfoIndex, type TableEntrySpec, type Update } from '../p4/index.js';
import type { Plan, StageFlow, StageTablePlan } from './compile.js';
import { OffloadEntryError } from './errors.js';
import { fullMask, keyField, type KeyFieldName } from './fields.js';
import { INGRESS } from './p4gen.js';

export interface OffloadEntry {
  /** Fully qualified P4 table name (`CtIngress.stage0_table0`). */
  table: string;
  spec: TableEntrySpec & { action: string };
  /** Where it came from (`policy.flows:3: …`, `conn 7 orig`). */
  comment: string;
}

const qualify = (local: string): string => `${INGRESS}.${local}`;

/** The ternary match of one flow over the table's keys, or null when it can never match. */
export function flowMatch(sf: StageFlow): Record<string, { value: bigint; mask: bigint }> | null {
  const acc = new Map<KeyFieldName, { value: bigint; mask: bigint }>();
  for (const m of sf.flow.match) {
    const full = fullMask(keyField(m.field).width);
    // A required bit outside the hardware field (e.g. ct_state bits above the 8 OVS defines,
    // in_port > 511) can never be set: the flow never matches in hardware.
    if ((m.value & m.mask & ~full) !== 0n) return null;
    const mask = m.mask & full;
    const value = m.value & mask;
    const prev = acc.get(m.field);
    if (prev) {
      if (((prev.value ^ value) & prev.mask & mask) !== 0n) return null; // contradictory prerequisites
      acc.set(m.field, { value: prev.value | value, mask: prev.mask | mask });
    } else acc.set(m.field, { value, mask });
  }
  const out: Record<string, { value: bigint; mask: bigint }> = {};
  for (const [k, v] of acc) if (v.mask !== 0n) out[k] = v;
  return out;
}

/** Entries for every flow of every stage table. */
export function staticEntries(plan: Plan): OffloadEntry[] {
  const out: OffloadEntry[] = [];
  for (const st of plan.stageTables) out.push(...stageTableEntries(plan, st));
  return out;
}

export function stageTableEntries(plan: Plan, st: StageTablePlan): OffloadEntry[] {
  const out: OffloadEntry[] = [];
  for (const sf of st.flows) {
    const match = flowMatch(sf);
    if (!match) continue;
    out.push({
      table: qualify(st.name),
      spec: { match, action: qualify(sf.hw.action), params: { ...sf.hw.params }, priority: sf.priority },
      comment: `${plan.source}:${sf.flow.line}: ${sf.flow.text}`,
    });
  }
  return out;
}

/** Why a connection is not put in hardware, or null when it is offloadable. */
export function notOffloadableReason(conn: ConnInfo, plan: Plan): string | null {
  if (!plan.offloadedZones.includes(conn.zone)) return `zone ${conn.zone} is not offloaded`;
  if (!plan.ctTables.some((t) => t.zones.includes(conn.zone))) return `no conntrack table looks zone ${conn.zone} up`;
  if (conn.helper) return `ALG control connection (${conn.helper}) needs payload inspection`;
  // The hardware does not translate yet: a NATed connection's packets stay in software, whichever
  // flow looked them up (docs/offload-design.md, "NAT").
  if (conn.nat) return `NATed connection (${conn.nat === 'src' ? 'SNAT' : 'DNAT'}) is translated in software`;
  if (conn.proto === 6) {
    // Both peers ESTABLISHED: the handshake is complete (docs/conntrack-semantics.md §4.1). Before, the
    // final ACK still changes the state; after a FIN or RST the closing states time out
    // differently and every later packet may change them.
    if (conn.tcp?.stateOrig !== 'ESTABLISHED' || conn.tcp?.stateReply !== 'ESTABLISHED') return `TCP state ${conn.tcp?.stateOrig ?? '?'}/${conn.tcp?.stateReply ?? '?'} is not established`;
    return null;
  }
  if (plan.config.offload === 'established-tcp-udp') {
    if (conn.proto !== 17) return `protocol ${conn.proto} is offloaded only with offload='all-committed'`;
    if (!conn.seenReply) return 'UDP connection not established yet (no reply seen)';
  }
  return null;
}

/**
 * Timeout class (model/conntrack/timeouts.ts TM_*) of the state a connection's entries keep: what
 * the reference tracker refreshes such a connection with for each packet the hardware decides
 * (TCP established, docs/conntrack-semantics.md §4.10; UDP/other multiple or single, §5.1; ICMP reply
 * or first, §5.2). The hardware TTL is this class's value in the connection's timeout policy.
 */
export function hardwareTimeoutClass(conn: ConnInfo): number {
  if (conn.proto === 6) return TM_TCP_ESTABLISHED;
  const icmp = (conn.l3 === 4 && conn.proto === 1) || (conn.l3 === 6 && conn.proto === 58);
  if (icmp) return conn.seenReply ? TM_ICMP_REPLY : TM_ICMP_FIRST;
  return conn.seenReply ? TM_UDP_MULTIPLE : TM_UDP_SINGLE;
}

/** Idle timeout with OVS's default timeouts (docs/conntrack-semantics.md §6.1), for a connection without a policy. */
export function defaultIdleTimeoutMs(conn: ConnInfo): number {
  return DEFAULT_TIMEOUTS_MS[hardwareTimeoutClass(conn)]!;
}

function addrBig(text: string, conn: ConnInfo): bigint {
  let b: Uint8Array;
  try {
    b = parseIp(text, 'address');
  } catch (e) {
    throw new OffloadEntryError(`connection ${conn.id}: bad address '${text}': ${(e as Error).message}`);
  }
  if ((conn.l3 === 4) !== (b.length === 4)) throw new OffloadEntryError(`connection ${conn.id}: address '${text}' is not IPv${conn.l3}`);
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/** The conntrack key of one direction (offload/p4gen.ts CT_KEY; ICMP: sport = id, dport = type<<8|code). */
export function ctKey(conn: ConnInfo, t: TupleInfo, zone = conn.zone): Record<string, bigint> {
  const icmp = t.icmpType !== undefined;
  return {
    zone: BigInt(zone),
    l3: conn.l3 === 4 ? 0x0800n : 0x86ddn,
    proto: BigInt(conn.proto),
    src: addrBig(t.src, conn),
    dst: addrBig(t.dst, conn),
    sport: BigInt(t.sport & 0xffff),
    dport: icmp ? BigInt(((t.icmpType! & 0xff) << 8) | (t.icmpCode! & 0xff)) : BigInt(t.dport & 0xffff),
  };
}

export interface ConnectionEntryOptions {
  /**
   * Idle timeout (ms) of the entries: the connection's timeout policy's value for
   * `hardwareTimeoutClass` (the controller passes it); default OVS's default for that class.
   */
  idleTimeoutMs?: number;
}

/**
 * Hardware entries for one model connection: original direction (ct_state trk|est, or
 * trk|new for a not-yet-replied connection under 'all-committed'), reply direction
 * (trk|est|rpl; absent while the connection has seen no reply: the first reply flips the
 * state and must reach the software), `rel` added for ALG data connections. [] when the
 * connection must not be offloaded.
 */
export function connectionEntries(conn: ConnInfo, plan: Plan, opts: ConnectionEntryOptions = {}): OffloadEntry[] {
  if (notOffloadableReason(conn, plan)) return [];
  const rel = conn.related ? CS_RELATED : 0;
  const established = conn.proto === 6 || conn.seenReply;
  const origState = CS_TRACKED | rel | (established ? CS_ESTABLISHED : CS_NEW);
  const replyState = CS_TRACKED | rel | CS_ESTABLISHED | CS_REPLY_DIR;
  const ttlNs = BigInt(Math.round(opts.idleTimeoutMs ?? defaultIdleTimeoutMs(conn))) * 1_000_000n;
  const dirs: [string, TupleInfo, number][] = [['orig', conn.orig, origState]];
  if (established) dirs.push(['reply', conn.reply, replyState]);
  const out: OffloadEntry[] = [];
  for (const ct of plan.ctTables) {
    if (!ct.zones.includes(conn.zone)) continue;
    for (const [dir, tuple, state] of dirs) {
      out.push({
        table: qualify(ct.name),
        spec: {
          match: ctKey(conn, tuple),
          action: qualify('ct_hit'),
          params: { state: BigInt(state), mark: BigInt(conn.mark >>> 0), label: conn.label },
          idleTimeoutNs: ttlNs,
        },
        comment: `conn ${conn.id} zone ${conn.zone} ${dir}`,
      });
    }
  }
  return out;
}

/** P4Runtime updates for entries (names resolved and values checked against the P4Info). */
export function toUpdates(entries: OffloadEntry[], index: P4InfoIndex, type: 'INSERT' | 'MODIFY' | 'DELETE' = 'INSERT'): Update[] {
  const wrap = type === 'INSERT' ? insert : type === 'MODIFY' ? modify : remove;
  return entries.map((e) => {
    const spec: TableEntrySpec = type === 'DELETE' ? { match: e.spec.match, ...(e.spec.priority ? { priority: e.spec.priority } : {}) } : e.spec;
    return wrap(tableEntry(index, e.table, spec));
  });
}
