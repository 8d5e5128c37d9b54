/**
 * The offload contract: for every packet, what the deployed offload promises to do with it —
 * decide it in hardware, or punt it for a named reason — derived from the offload configuration
 * (the plan) and the REFERENCE's connection state just before the packet. Checking that verdicts
 * agree is not enough: a hardware entry that never matches (a reply entry keyed wrongly) leaves
 * every verdict right, because the slow path answers, while the NIC offloads half of what it
 * promises. The comparator reports a packet decided otherwise as `offload-contract`
 * (harness/compare/compare.ts), per punt reason.
 *
 * `ContractEngine` is the reference engine (model/pipeline) that also annotates each Verdict
 * with `offload.allowed`. For a packet it:
 *  1. looks the packet up, before it is processed, in every zone the policy's ct() actions use:
 *     the entries the controller must have installed for the connection found
 *     (`connectionEntries` of the reference's connection, so an expired connection has none,
 *     as the controller deletes entries at the sweep) — does one of them carry this tuple?
 *  2. runs the reference (traced: the flows it visited);
 *  3. walks what the generated program would meet (offload/compile.ts, offload/p4gen.ts):
 *     before any table, IPv6 extension headers or a truncated IP header (UNTRACKABLE) and
 *     fragments (FRAGMENT); then a flow compiled to a static punt (ACTION, ALG,
 *     ZONE_NOT_OFFLOADED, MULTI_OUTPUT), a table miss (POLICY_MISS, when
 *     slowPath.policyMiss), more flow visits than stages (STAGE_LIMIT); at each ct(): an ICMP
 *     error (ICMP_ERROR), a packet the parser cannot key (UNTRACKABLE), no installed entry
 *     (CT_MISS), a TCP packet with
 *     SYN/FIN/RST or without ACK on a hit (TCP_FLAGS), an exec mark/label the entry does not
 *     hold yet (EXEC); more than one output (MULTI_OUTPUT).
 * Every reason met is allowed (the program reports the first it meets; the order of the
 * checks is the program's business, the set is the contract's); none met → 'hardware' only.
 * Packets failing only checks the hardware does not make (IPv4 total length, L4 length or
 * checksum: harness/exceptions.ts HW_UNCHECKED_STATUSES; ICMP type/code/inner checks) are not
 * judged (['*']): the hardware keys them as valid, the reference does not look them up. A zero
 * port is keyed by the hardware and looked up by tuple here (it can only miss).
 */
import { CT_ICMP_BAD_CODE, CT_ICMP_BAD_INNER, CT_ICMP_BAD_TYPE, CT_ICMP_INNER_SRC, CT_L3_TRUNCATED, CT_L4_ZERO_PORT, FRAG_NONE, ICMP_ERROR, IPPROTO_TCP, L3_IPV4, L3_IPV6, L3_NONE, CT_OK, ICMP_QUERY, PacketView } from '../model/packet/view.js';
import { PipelineEngine } from '../model/pipeline/engine.js';
import type { Verdict } from '../model/verdict.js';
import { compileOffload, connectionEntries, notOffloadableReason, type FlowOp, type OffloadConfig, type Plan } from '../offload/index.js';
import { HW_UNCHECKED_STATUSES } from './exceptions.js';
import type { ModelEngine } from './targets/model.js';
import type { PolicySource } from './targets/target.js';

const TCP_FLAGS_PUNT = 0x07; // FIN|SYN|RST
/** IPv6 next headers the program's parser treats as extension headers (HBH, Routing, Destination options, AH). */
const IPV6_EXT_HEADERS = [0, 43, 60, 51];
const TCP_ACK = 0x10;
/** ICMP statuses the tracker refuses (type, code, inner header) that the program's parser does not check. */
const ICMP_QUERY_STATUSES = [CT_ICMP_BAD_TYPE, CT_ICMP_BAD_CODE, CT_ICMP_BAD_INNER, CT_ICMP_INNER_SRC];

export class ContractEngine implements ModelEngine {
  private readonly engine: PipelineEngine;
  private readonly view = new PacketView();
  private plan: Plan | undefined;
  /** Flow op of every policy line (static punts, ct() arguments). */
  private ops = new Map<number, FlowOp>();
  private zones: number[] = [];

  constructor(
    private readonly config: Partial<OffloadConfig> | Record<string, unknown> = {},
    opts: { tcpSeqCheck?: boolean } = {},
  ) {
    this.engine = new PipelineEngine(opts.tcpSeqCheck === undefined ? {} : { conntrack: { tcpSeqCheck: opts.tcpSeqCheck } });
  }

  get conntrack() {
    return this.engine.conntrack;
  }

  load(policy: PolicySource): void {
    this.engine.load(policy);
    this.usePlan(compileOffload(policy.text, policy.source, this.config).plan);
  }

  /**
   * The policy changes, the reference's connections stay (PipelineEngine.replacePolicy); the
   * contract follows the new plan, as the controller revalidates every connection's entries
   * for it (offload/controller/core.ts "Policy changes"). Compiled first: on error nothing changes.
   */
  replacePolicy(policy: PolicySource): void {
    const plan = compileOffload(policy.text, policy.source, this.config).plan;
    this.engine.replacePolicy(policy);
    this.usePlan(plan);
  }

  private usePlan(plan: Plan): void {
    this.plan = plan;
    this.ops = new Map();
    const zones = new Set<number>();
    for (const st of plan.stageTables) {
      for (const sf of st.flows) {
        this.ops.set(sf.flow.line, sf.op);
        if (sf.op.kind === 'exec' && sf.op.ct) zones.add(sf.op.ct.zone);
      }
    }
    for (const z of plan.offloadedZones) zones.add(z);
    this.zones = [...zones];
  }

  reset(): void {
    this.engine.reset();
  }

  /** Coverage: the policy flows the reference ran (PipelineEngine.takeFlowHits). */
  takeFlowHits(): Record<number, number> {
    return this.engine.takeFlowHits();
  }

  versions(): Record<string, string> {
    return { contract: 'offload contract from the generated plan' };
  }

  process(port: number, frame: Uint8Array, now: number): Verdict {
    const plan = this.plan!;
    const v = this.view.parse(frame);
    // 1. What the hardware holds for this tuple, per zone, before the packet.
    const hits = new Map<number, { mark: number; label: bigint }>();
    // The hardware keys what its parser accepts: also a zero port, which the tracker refuses
    // (docs/conntrack-semantics.md §3.3) — such a packet can only miss, as no entry has one.
    const status = v.ctStatus;
    const keyable = v.l3 !== L3_NONE && (status === CT_OK || status === CT_L4_ZERO_PORT);
    let key = '';
    if (keyable) {
      const ct = this.engine.conntrack!;
      v.ctStatus = CT_OK; // a look-up by tuple, as the hardware's
      for (const z of this.zones) {
        const info = ct.lookup(v, z, now);
        if (!info || notOffloadableReason(info, plan) !== null) continue;
        // connectionEntries installs the original direction, and the reply once established;
        // the packet's direction from its ports when they tell (else from the entries' keys).
        let hit: boolean;
        if (v.icmpClass !== ICMP_QUERY && v.sport !== v.dport) {
          hit = (info.orig.sport === v.sport && info.orig.dport === v.dport) || info.proto === 6 || info.seenReply;
        } else {
          key ||= tupleOf(v);
          hit = connectionEntries(info, plan).some((e) => matchTuple(e.spec.match as Record<string, bigint>) === key);
        }
        if (hit) hits.set(z, { mark: info.mark, label: info.label });
      }
      v.ctStatus = status;
    }
    // Statuses the hardware does not judge as the tracker does: not judged here either.
    const unchecked = HW_UNCHECKED_STATUSES.includes(status) || (ICMP_QUERY_STATUSES.includes(status) && v.icmpClass !== ICMP_ERROR);
    const frag = v.frag !== FRAG_NONE;
    const icmpErr = v.icmpClass === ICMP_ERROR;
    const tcpPunt = v.ipProto === IPPROTO_TCP && v.l3 !== L3_NONE && ((v.tcpFlags & TCP_FLAGS_PUNT) !== 0 || (v.tcpFlags & TCP_ACK) === 0);
    // 2. The reference, traced.
    const r = this.engine.processFlows(port, frame, now);
    // Before any table, the program punts what its parser cannot key as OVS would — IPv6
    // extension headers (not walked in hardware), a truncated IP header — and every fragment
    // (offload/p4gen.ts prologue), whatever the policy does with them.
    const cfg = plan.config;
    const ipv6Ext = v.l3 === L3_IPV6 && IPV6_EXT_HEADERS.includes(frame[v.l3Off + 6]!);
    if (ipv6Ext || status === CT_L3_TRUNCATED) return { outputs: r.outputs, lookups: r.lookups, offload: { allowed: ['UNTRACKABLE'] } };
    if (frag) return { outputs: r.outputs, lookups: r.lookups, offload: { allowed: [cfg.slowPath.fragments ? 'FRAGMENT' : 'hardware'] } };
    // 3. What the program meets.
    const reasons = new Set<string>();
    for (const f of r.flows) {
      if (f.line < 0) {
        if (cfg.slowPath.policyMiss) reasons.add('POLICY_MISS');
        continue;
      }
      const op = this.ops.get(f.line);
      if (op?.kind === 'punt') reasons.add(op.reason);
    }
    if (r.flows.length > cfg.maxStages) reasons.add('STAGE_LIMIT');
    // Each visited flow with a ct() is a lookup in the program (the reference's own ct() calls
    // can be fewer: a fragment ipf holds runs none).
    for (const f of r.flows) {
      const op = f.line < 0 ? undefined : this.ops.get(f.line);
      if (op?.kind !== 'exec' || !op.ct) continue; // a punted flow's ct(): its reason is in already
      if (icmpErr) {
        if (cfg.slowPath.icmpErrors) reasons.add('ICMP_ERROR');
        continue;
      }
      if (!keyable) {
        reasons.add('UNTRACKABLE');
        continue;
      }
      if (!plan.offloadedZones.includes(op.ct.zone)) {
        reasons.add('ZONE_NOT_OFFLOADED');
        continue;
      }
      const hit = hits.get(op.ct.zone);
      if (!hit) {
        reasons.add('CT_MISS');
        continue;
      }
      if (tcpPunt && cfg.slowPath.tcpFlags) reasons.add('TCP_FLAGS');
      const m = op.ct.mark;
      if (m && (hit.mark & m.mask) >>> 0 !== (m.value & m.mask) >>> 0) reasons.add('EXEC');
      const l = op.ct.label;
      if (l && (hit.label & l.mask) !== (l.value & l.mask)) reasons.add('EXEC');
    }
    if (r.outputs.length > 1) reasons.add('MULTI_OUTPUT');
    const allowed = unchecked ? ['*'] : reasons.size ? [...reasons] : ['hardware'];
    return { outputs: r.outputs, lookups: r.lookups, offload: { allowed } };
  }
}

const hex = (n: number): string => (n >>> 0).toString(16);

/** The conntrack tuple of a parsed packet, in the terms of offload/entries.ts ctKey. */
export function tupleOf(v: PacketView): string {
  const addr = (w: Uint32Array): string => {
    if (v.l3 === L3_IPV4) return hex(w[0]!);
    let b = 0n;
    for (let i = 0; i < 4; i++) b = (b << 32n) | BigInt(w[i]!);
    return b.toString(16);
  };
  const icmp = v.icmpClass === ICMP_QUERY;
  const sport = icmp ? v.icmpId : v.sport;
  const dport = icmp ? ((v.icmpType & 0xff) << 8) | (v.icmpCode & 0xff) : v.dport;
  return `${v.l3 === L3_IPV4 ? '800' : '86dd'},${hex(v.ipProto)},${addr(v.src)},${addr(v.dst)},${hex(sport)},${hex(dport)}`;
}

/** The same tuple from a conntrack entry's match (values by field name). */
export function matchTuple(m: Record<string, bigint | { value: bigint }>): string {
  const val = (k: string): string => {
    const x = m[k];
    return x === undefined ? '' : (typeof x === 'bigint' ? x : x.value).toString(16);
  };
  return ['l3', 'proto', 'src', 'dst', 'sport', 'dport'].map(val).join(',');
}
