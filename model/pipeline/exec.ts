/**
 * The policy executor: runs one packet through the flow tables the way Open vSwitch 3.1 does
 * with the userspace datapath, calling the reference tracker for every ct().
 *
 * OVS splits the work in two, and so does this file (that split is what makes the ct() fork
 * come out right):
 *
 * 1. **Translation** (ofproto/ofproto-dpif-xlate.c `xlate_actions`): starting at a table, find
 *    the highest-priority matching flow and walk its actions, following `resubmit`/`goto_table`,
 *    producing a list of datapath actions. Translation never runs the tracker. After a `ct`
 *    (`compose_conntrack_action`) and after `ct_clear` the flow's ct fields read as untracked
 *    for the rest of the translation ("the ct_* fields are only available in the scope of the
 *    recirc_table call chain"), so later matches and outputs see an untracked packet.
 *    `ct(table=T)` emits `ct(...),recirc(id)` (`compose_recirculate_and_fork`) and translation
 *    continues with the next action: the fork.
 * 2. **Execution** (lib/dpif-netdev.c `dp_execute_cb`): the datapath actions run in order on
 *    the packet; `ct` runs the tracker and updates the packet's metadata; `recirc` clones the
 *    packet with that metadata and processes the clone to completion right away (a new
 *    translation starting at table T, whose flows see the ct fields), then the remaining
 *    actions continue on the original.
 *
 * The tracker metadata (CtMeta: state, zone, mark, label, cached connection) travels with each
 * copy of the packet, so a later `ct` in the same zone takes the same-zone shortcut of
 * docs/conntrack-semantics.md §2.3 step 2, while flow matching uses the translation's view.
 *
 * Limits, as OVS:
 * - resubmit/goto_table nesting deeper than 64 (`MAX_DEPTH`) or more than 4096 resubmits in one
 *   translation (`MAX_RESUBMITS`): translation fails and *all* datapath actions of that pass are
 *   dropped (`xlate_actions`: "Make sure we return a drop flow in case of an error") — earlier
 *   outputs and ct() calls of the same pass included;
 * - recirculation deeper than 6 (`MAX_RECIRC_DEPTH`, lib/dpif-netdev.c): that clone is dropped.
 *
 * Choices:
 * - table miss = drop (OpenFlow 1.3+ table-miss behaviour; an OpenFlow 1.0 controller connection
 *   would get a packet-in "via no_match" instead, docs/conntrack-semantics.md §1.2);
 * - equal priorities: the flow earlier in the file wins (OVS leaves it undefined);
 * - `output:N` with N = in_port is skipped, as OVS does (`xlate_output_action`: "skipping output
 *   to input port"); `in_port` outputs to the ingress port;
 * - `controller` is an output to PORT_CONTROLLER with the frame as is;
 * - VerdictOutput.ct is the translation's view of the ct fields when the output was composed
 *   (what a following table would match): untracked after a ct()/ct_clear in the same pass.
 *
 * Fragments (docs/conntrack-semantics.md §2.3 step 1, §3.4; model/conntrack/ipf.ts "Integration"):
 * every datapath ct() goes through `conntrackExecute`, i.e. through OVS's reassembler (on for
 * IPv4 and IPv6 unless the policy's `ipf v4=off` / `ipf v6=off` directive turns a family off).
 * - recirc_id: 0 in the first pass, else one id per (recirculating ct() action, in_port)
 *   (`recircId`); ipf keeps separate fragment lists per recirc_id and zone.
 * - A fragment ipf holds ends its pass: nothing after that ct() runs for it.
 * - The ct() call that completes a list tracks the reassembled datagram once (it is never
 *   forwarded) and releases every fragment in offset order with the datagram's ct fields; a
 *   ct() call of any packet may also release one expired list (ct_state `inv`, without trk).
 *   The released fragments and the packet itself (if not held) form the datapath batch that
 *   runs the rest of the pass's datapath actions (`runBatch`): action by action over the whole
 *   batch, as dpif-netdev executes one action on a batch before the next, so outputs
 *   interleave per action. Each packet keeps its own frame and ct metadata; a recirculation
 *   translates each one on its own with the current in_port (the frozen state's); a later ct()
 *   holds and reassembles them again (fragments carry no cached connection, so there is no
 *   same-zone shortcut for them).
 * - All of it belongs to the Verdict of the input packet whose ct() call released it (that is
 *   when OVS emits it). processTraced notes "held fragment", the datagram's ct() result and
 *   "released N fragments (from input packets #…)"; input packets are numbered from 1 per
 *   Pipeline.
 * Checked against OVS 3.1 by test/harness/targets/ovs-frag.test.ts.
 *
 * Hot path: no allocation per packet except the Verdict (outputs, lookups) — and everything in
 * the traced variant. Outputs share the input frame's bytes unless a ct() with NAT rewrote the
 * packet (then a copy, docs/conntrack-semantics.md §11.4; the caller's bytes are never written). An
 * unfragmented packet with no fragment list in flight costs one extra branch (the check
 * `conntrackExecute` itself starts with); the fragment path (`continueBatch`, `runBatch`) is
 * kept out of `pass` so the hot loop stays small, and allocates freely. A flow lookup loads
 * the fields the table's flows read into int32 words once (`load`) and asks the table's
 * classifier (./classifier.ts: linear scan for small tables, tuple space search for large ones).
 */
import { Conntrack, CtArgs, CtMeta, IpfBatch, conntrackExecute, labelToBigInt, type IpfFragment } from '../conntrack/index.js';
import { formatCtState } from '../ctstate.js';
import { CT_OK, PacketView } from '../packet/view.js';
import { type CtFields, type CtLookup, PORT_CONTROLLER, type Verdict, type VerdictOutput } from '../verdict.js';
import { MATCH_FIELDS, OFPP_IN_PORT, type Policy, formatAction, formatMatch } from './ast.js';
import {
  type CompiledAction,
  type CompiledFlow,
  type CompiledPolicy,
  F_CT_IPV6_DST,
  F_CT_IPV6_SRC,
  F_CT_LABEL,
  F_CT_MARK,
  F_CT_NW_DST,
  F_CT_NW_PROTO,
  F_CT_NW_SRC,
  F_CT_STATE,
  F_CT_TP_DST,
  F_CT_TP_SRC,
  F_CT_ZONE,
  F_DL_DST,
  F_DL_SRC,
  F_DL_TYPE,
  F_DL_VLAN,
  F_IN_PORT,
  F_IPV6_DST,
  F_IPV6_SRC,
  F_NW_DST,
  F_NW_PROTO,
  F_NW_SRC,
  F_TCP_FLAGS,
  F_TP_DST,
  F_TP_SRC,
  OP_CONTROLLER,
  OP_CT,
  OP_CT_CLEAR,
  OP_GOTO,
  OP_OUTPUT,
  OP_RESUBMIT,
  OP_LOAD,
  OP_MOVE,
  OP_RESUBMIT_CT,
  F_CONJ_ID,
  F_METADATA,
  F_REG0,
  type SourceBits,
  compilePolicy,
  configureConntrack,
  ctArgsForZone,
} from './compile.js';
import { ConjunctiveTable } from './conjunction.js';
import { PIPE_METADATA_HI, PIPE_METADATA_LO, PIPE_WORDS } from './fields-regs.js';
import type { ClassifierMode, FieldWords } from './classifier.js';

/** Field pairs `tuple_swap` exchanges (IPv4 / IPv6), for resubmit(,T,ct). */
const SWAP_V4 = Int32Array.of(F_NW_PROTO, F_CT_NW_PROTO, F_NW_SRC, F_CT_NW_SRC, F_NW_DST, F_CT_NW_DST, F_TP_SRC, F_CT_TP_SRC, F_TP_DST, F_CT_TP_DST);
const SWAP_V6 = Int32Array.of(F_NW_PROTO, F_CT_NW_PROTO, F_IPV6_SRC, F_CT_IPV6_SRC, F_IPV6_DST, F_CT_IPV6_DST, F_TP_SRC, F_CT_TP_SRC, F_TP_DST, F_CT_TP_DST);

/** ofproto-dpif-xlate.c MAX_DEPTH. */
export const MAX_RESUBMIT_DEPTH = 64;
/** ofproto-dpif-xlate.c MAX_RESUBMITS (MAX_DEPTH * MAX_DEPTH). */
export const MAX_RESUBMITS = 64 * 64;
/** lib/dpif-netdev.c MAX_RECIRC_DEPTH. */
export const MAX_RECIRC_DEPTH = 6;

export interface PipelineOptions {
  maxResubmitDepth?: number;
  maxResubmits?: number;
  maxRecircDepth?: number;
  /**
   * Flow lookup per table (./classifier.ts): `auto` (default) picks tuple space search for
   * large tables and the linear scan for small ones; both give the same answers, and tests
   * force one or the other.
   */
  classifier?: ClassifierMode;
  /**
   * Optional observer (coverage, docs/report-schema.md "Coverage"): `flowHits[i]` += 1 each
   * time flow i of `policy.flows` (file order, CompiledFlow.index) is the match of a table
   * lookup — OVS's per-flow n_packets. The caller owns the array so the counts outlive the
   * Pipeline (PipelineEngine makes a new one on every reset); without it a lookup pays one
   * branch.
   */
  flowHits?: number[];
}

/** One ct() call as executed (traced results only). */
export interface CtCall extends CtFields {
  /** Recirculation table, or -1 for a ct() without `table=`. */
  table: number;
  /** Policy line of the ct() action. */
  line: number;
  /** Recirculation depth of the packet copy that ran it (0 = as received). */
  depth: number;
}

export interface PipelineResult extends Verdict {
  /** Every ct() executed, in order (Verdict.lookups has only the recirculating ones). */
  ctCalls: CtCall[];
  /** ct fields left by the last ct() call executed, or all zero when none ran. */
  final: CtFields;
  /** Human-readable steps. */
  trace: string[];
  /** Every flow-table visit in translation order: the flow's policy line, or -1 for a table miss. */
  flows: { table: number; line: number; depth: number }[];
}

const D_CT = 0;
const D_RECIRC = 1;
const D_CT_CLEAR = 2;
const D_OUTPUT = 3;

/** Datapath actions of one translation (one per recirculation depth, reused). */
class DpActions {
  n = 0;
  kind: number[] = [];
  arg: number[] = [];
  /** D_OUTPUT: 1 when the translation saw the ct fields cleared. */
  cleared: number[] = [];
  ct: (CtArgs | null)[] = [];
  line: number[] = [];
  /** D_RECIRC: policy-wide number of the ct(table=…) action (CompiledAction.recirc). */
  rid: number[] = [];
  /**
   * D_RECIRC: registers and metadata frozen when the ct(table=…) was translated (the copy's
   * starting state, docs/policy-language.md §1); buffers reused, null until first needed.
   */
  frozen: (Int32Array | null)[] = [];
  /** Freeze `regs` for the D_RECIRC at index i. */
  freeze(i: number, regs: Int32Array): void {
    let f = this.frozen[i];
    if (!f) this.frozen[i] = f = new Int32Array(PIPE_WORDS);
    f.set(regs);
  }
  push(kind: number, arg: number, cleared: number, ct: CtArgs | null, line: number, rid = 0): void {
    const i = this.n++;
    this.kind[i] = kind;
    this.arg[i] = arg;
    this.cleared[i] = cleared;
    this.ct[i] = ct;
    this.line[i] = line;
    this.rid[i] = rid;
  }
}

/**
 * One packet of a datapath batch after ipf released fragments (slow path only): the packet the
 * pass started with or a released fragment, with its own bytes, parse and ct metadata.
 */
interface BatchPkt {
  frame: Uint8Array;
  view: PacketView;
  md: CtMeta;
  /** Input packet number (Pipeline.packets at receipt) the bytes came in with. */
  tag: number;
}

function batchPkt(f: IpfFragment): BatchPkt {
  const md = new CtMeta();
  md.copyFrom(f.md);
  return { frame: f.frame, view: new PacketView().parse(f.frame), md, tag: f.tag };
}

/**
 * ct_label as a bigint for a Verdict. Almost every label is 0: `0n` is a constant, while
 * building a bigint from words allocates one per shift and or, so the zero label takes a branch.
 */
function labelOf(md: CtMeta): bigint {
  const l = md.label;
  return (l[0]! | l[1]! | l[2]! | l[3]!) === 0 ? 0n : labelToBigInt(l, 0);
}

function fieldsOf(md: CtMeta): CtFields {
  return { state: md.state, zone: md.zone, mark: md.mark >>> 0, label: labelOf(md) };
}

const ZERO_FIELDS: Readonly<CtFields> = Object.freeze({ state: 0, zone: 0, mark: 0, label: 0n });

export function formatCtFields(f: CtFields): string {
  return `ct_state=${formatCtState(f.state)} ct_zone=${f.zone} ct_mark=0x${f.mark.toString(16)} ct_label=0x${f.label.toString(16)}`;
}

export class Pipeline {
  readonly policy: Policy;
  readonly conntrack: Conntrack;
  private readonly compiled: CompiledPolicy;
  private readonly maxDepth: number;
  private readonly maxResubmits: number;
  private readonly maxRecirc: number;

  /** Parse of the input packet. */
  private readonly inView = new PacketView();
  /**
   * The packet being translated and executed: `inView`, or a released fragment's parse while
   * the pipeline runs that fragment (`runBatch`).
   */
  private view: PacketView = this.inView;
  /** Datapath batch after each recirculation depth's ct() call (conntrackExecute's output). */
  private readonly batches: IpfBatch[] = [];
  /** recirc_id of (ct(table=…) action, in_port) pairs that do not fit the arithmetic id. */
  private readonly bigRecircIds = new Map<string, number>();
  /** Input packets seen; a packet's number is the ipf tag of the fragments it brings. */
  private packets = 0;
  private tag = 0;
  /**
   * Tracker metadata of the packet copy at each recirculation depth. It is also the
   * translation's ct view of that pass (what ct_* matches and outputs see): translation runs
   * before any of the pass's datapath actions, and the executed actions that change md[d] (ct,
   * ct_clear) are exactly those after which translation saw the ct fields cleared, so every
   * output that reads md[d] (VerdictOutput.ct with `cleared` 0) runs before md[d] changes.
   * One copy per recirculation instead of a separate snapshot.
   */
  private readonly md: CtMeta[] = [];
  private readonly dp: DpActions[] = [];
  /** The packet's match fields for the lookup under way (./classifier.ts FieldWords). */
  private readonly fw: FieldWords = new Int32Array(MATCH_FIELDS.length * 4);
  /** PipelineOptions.flowHits, or null. */
  private readonly flowHits: number[] | null;

  // per-translation state (a translation completes before the next one starts)
  private xDepth = 0;
  private xResubmits = 0;
  private xCleared = false;
  private xError: string | null = null;
  private xInPort = 0;
  /**
   * Registers reg0-15 and metadata (./fields-regs.ts layout) as the translation sees them: 0
   * for a new packet, the frozen values after a recirculation (docs/policy-language.md §1).
   * Untouched when the policy uses none (`usesPipe`).
   */
  private readonly xr = new Int32Array(PIPE_WORDS);
  private readonly usesPipe: boolean;

  // per-packet state
  private frame: Uint8Array = new Uint8Array(0);
  private now = 0;
  private out: Verdict | null = null;
  private rec: PipelineResult | null = null;
  /** Build the readable trace too (processTraced; never on the untraced or flows-only paths). */
  private tx = false;

  /**
   * Builds the executor and installs the policy's directives (timeout policies, zone limits) in
   * `conntrack`, which the pipeline then owns for the policy's lifetime.
   */
  constructor(policy: Policy, conntrack: Conntrack, opts: PipelineOptions = {}) {
    this.policy = policy;
    this.conntrack = conntrack;
    configureConntrack(policy, conntrack);
    this.compiled = compilePolicy(policy, conntrack, opts.classifier);
    this.usesPipe = this.compiled.usesPipeState;
    this.maxDepth = opts.maxResubmitDepth ?? MAX_RESUBMIT_DEPTH;
    this.maxResubmits = opts.maxResubmits ?? MAX_RESUBMITS;
    this.maxRecirc = opts.maxRecircDepth ?? MAX_RECIRC_DEPTH;
    this.flowHits = opts.flowHits ?? null;
    // Dense, all numbers: the increment in xlateTable stays a plain element store.
    if (this.flowHits) for (let i = 0; i < policy.flows.length; i++) this.flowHits[i] ??= 0;
    for (let d = 0; d <= this.maxRecirc; d++) {
      this.md.push(new CtMeta());
      this.dp.push(new DpActions());
      this.batches.push(new IpfBatch());
    }
  }

  /**
   * One packet received on `inPort` at virtual time `now` (ms). The Verdict and everything in
   * it are new objects the pipeline never touches again, so callers may keep them (the harness
   * stores them). Reusing one Verdict per Pipeline was measured (bench/pipeline.ts firewall,
   * Node 20): no faster — V8's young-generation allocation of these few short-lived objects is
   * cheaper than the old-to-new write barriers and array resets reuse brings — so the API
   * stays simple.
   */
  process(frame: Uint8Array, inPort: number, now: number): Verdict {
    const v: Verdict = { outputs: [], lookups: [] };
    this.rec = null;
    this.run(v, frame, inPort, now);
    return v;
  }

  /** Like `process`, plus every ct() call, the final ct fields and a readable trace. */
  processTraced(frame: Uint8Array, inPort: number, now: number): PipelineResult {
    return this.recorded(frame, inPort, now, true);
  }

  /**
   * Like `processTraced` without the readable trace (`trace` stays empty): the flows visited and
   * the ct() calls, at a fraction of the cost (the offload contract runs it on every packet).
   */
  processFlows(frame: Uint8Array, inPort: number, now: number): PipelineResult {
    return this.recorded(frame, inPort, now, false);
  }

  private recorded(frame: Uint8Array, inPort: number, now: number, text: boolean): PipelineResult {
    const r: PipelineResult = { outputs: [], lookups: [], ctCalls: [], final: { ...ZERO_FIELDS }, trace: [], flows: [] };
    this.rec = r;
    this.tx = text;
    try {
      this.run(r, frame, inPort, now);
    } finally {
      this.rec = null;
      this.tx = false;
    }
    return r;
  }

  private run(v: Verdict, frame: Uint8Array, inPort: number, now: number): void {
    this.out = v;
    this.frame = frame;
    this.now = now;
    this.tag = ++this.packets;
    this.view = this.inView;
    this.inView.parse(frame);
    this.md[0]!.clear();
    try {
      this.pass(0, 0, inPort, 0, null);
    } finally {
      this.out = null;
      this.view = this.inView;
    }
  }

  /**
   * recirc_id of the pass that follows a recirculation by ct(table=…) action number `k`
   * (CompiledAction.recirc, ≥ 1) of a packet from `inPort`. OVS allocates one id per frozen
   * state (ofproto/ofproto-dpif-rid.c `recirc_alloc_id_ctx`: table, remaining actions and the
   * metadata, in_port included); ipf keys fragment lists with it (lib/ipf.c `ipf_list_key`),
   * so fragments of one datagram meet again only after the same recirculation from the same
   * port. Arithmetic for the usual sizes (no lookup on the hot path), a map beyond them. 0 is
   * the first pass.
   */
  private recircId(k: number, inPort: number): number {
    if (k < 0x8000 && inPort >= 0 && inPort <= 0xffff) return ((k << 16) | inPort) >>> 0;
    const key = `${k}/${inPort}`;
    let id = this.bigRecircIds.get(key);
    if (id === undefined) {
      id = 0x80000000 + this.bigRecircIds.size;
      this.bigRecircIds.set(key, id);
    }
    return id;
  }

  // ---------------------------------------------------------------- one pass (translate + execute)

  private pass(d: number, table: number, inPort: number, recircId: number, frozen: Int32Array | null): void {
    const dp = this.dp[d]!;
    dp.n = 0;
    if (this.usesPipe) {
      if (frozen) this.xr.set(frozen);
      else this.xr.fill(0);
    }
    this.xDepth = 0;
    this.xResubmits = 0;
    this.xCleared = d === 0; // an unrecirculated packet is untracked
    this.xError = null;
    this.xInPort = inPort;
    if (this.tx && d > 0) this.note(d, `recirculation ${d} (recirc_id 0x${recircId.toString(16)}): ${formatCtFields(fieldsOf(this.md[d]!))}, table ${table}`);
    this.xlateTable(d, table);
    if (this.xError !== null) {
      if (this.tx) this.note(d, `translation failed: ${this.xError}; the packet is dropped (no datapath actions run)`);
      dp.n = 0;
      return;
    }
    const md = this.md[d]!;
    for (let i = 0; i < dp.n; i++) {
      const kind = dp.kind[i]!;
      if (kind === D_CT) {
        const ct = this.conntrack;
        if (this.view.ctStatus === CT_OK && ct.ipf.idle) {
          // The normal case, conntrackExecute's own fast path (model/conntrack/ipf.ts "Hot
          // path"): a trackable packet and no fragment list in flight, so ipf can neither hold
          // it nor release anything. One branch, no allocation.
          ct.execute(this.view, dp.ct[i]!, this.now, md);
          // NAT rewrote a copy of the packet (model/conntrack/nat.ts): later actions see it.
          if (this.view.buf !== this.frame) this.frame = this.view.buf;
        } else {
          const b = this.batches[d]!;
          conntrackExecute(ct, this.view, dp.ct[i]!, this.now, md, recircId, b, this.tag);
          if (this.view.buf !== this.frame) this.frame = this.view.buf;
          if (!b.self || b.frags.length !== 0) {
            this.continueBatch(d, i, b, md, inPort, recircId);
            return;
          }
        }
        if (this.rec) this.recordCt(d, dp.arg[i]!, dp.line[i]!, md);
      } else if (kind === D_RECIRC) {
        const t = dp.arg[i]!;
        if (d + 1 > this.maxRecirc) {
          if (this.tx) this.note(d, `recirculation depth ${this.maxRecirc} exceeded: the copy for table ${t} is dropped (lib/dpif-netdev.c MAX_RECIRC_DEPTH)`);
          continue;
        }
        this.md[d + 1]!.copyFrom(md);
        const lk: CtLookup = { table: t, state: md.state, zone: md.zone, mark: md.mark >>> 0, label: labelOf(md) };
        this.out!.lookups.push(lk);
        const f = this.frame;
        this.pass(d + 1, t, inPort, this.recircId(dp.rid[i]!, inPort), this.usesPipe ? dp.frozen[i]! : null);
        // The recirculated copy was NATed again: the rest of this pass runs on this pass's bytes.
        if (this.frame !== f) {
          this.frame = f;
          this.view.parse(f);
        }
      } else if (kind === D_CT_CLEAR) {
        md.clear();
      } else {
        this.output(d, i, this.frame);
      }
    }
  }

  /**
   * Slow path of a ct() call (action i of pass d) that held the packet or released fragments:
   * the rest of the pass runs over the batch (`runBatch`).
   */
  private continueBatch(d: number, i: number, b: IpfBatch, md: CtMeta, inPort: number, recircId: number): void {
    const pkts: BatchPkt[] = [];
    if (b.self) pkts.push({ frame: this.frame, view: this.view, md, tag: this.tag });
    this.afterIpf(d, i, b, b.self ? md : null, pkts);
    this.runBatch(d, i + 1, pkts, inPort, recircId);
  }

  /** D_RECIRC at index i of pass d for the packet in `this.view` with metadata `md`. */
  private recirc(d: number, i: number, md: CtMeta, inPort: number): void {
    const dp = this.dp[d]!;
    const t = dp.arg[i]!;
    if (d + 1 > this.maxRecirc) {
      if (this.tx) this.note(d, `recirculation depth ${this.maxRecirc} exceeded: the copy for table ${t} is dropped (lib/dpif-netdev.c MAX_RECIRC_DEPTH)`);
      return;
    }
    this.md[d + 1]!.copyFrom(md);
    const lk: CtLookup = { table: t, state: md.state, zone: md.zone, mark: md.mark >>> 0, label: labelOf(md) };
    this.out!.lookups.push(lk);
    this.pass(d + 1, t, inPort, this.recircId(dp.rid[i]!, inPort), this.usesPipe ? dp.frozen[i]! : null);
  }

  /** D_OUTPUT at index i of pass d. */
  private output(d: number, i: number, bytes: Uint8Array): void {
    const dp = this.dp[d]!;
    const o: VerdictOutput = {
      port: dp.arg[i]!,
      bytes,
      ct: dp.cleared[i] ? { state: 0, zone: 0, mark: 0, label: 0n } : fieldsOf(this.md[d]!),
    };
    this.out!.outputs.push(o);
    if (this.tx) this.note(d, `output to ${o.port === PORT_CONTROLLER ? 'controller' : `port ${o.port}`} with ${formatCtFields(o.ct!)}`);
  }

  // ---------------------------------------------------------------- fragments (slow path)

  /**
   * After a ct() call (action i of pass d) whose batch is not just the packet: record what ipf
   * did (the packet held; the datagram tracked; fragments released) and append the released
   * fragments to `pkts`, each with its own bytes, parse and a copy of the ct fields ipf gave it
   * (model/conntrack/ipf.ts "Integration"). `selfMd` is the packet's md when it continues.
   */
  private afterIpf(d: number, i: number, b: IpfBatch, selfMd: CtMeta | null, pkts: BatchPkt[]): void {
    const dp = this.dp[d]!;
    if (this.rec) {
      if (selfMd) this.recordCt(d, dp.arg[i]!, dp.line[i]!, selfMd);
      else if (this.tx) this.note(d, `ct() at line ${dp.line[i]!} → held fragment (lib/ipf.c: the pass stops for this packet)`);
      if (b.datagram) {
        const f0 = b.frags.find((f) => f.offset === 0) ?? b.frags[0];
        if (f0) this.recordCt(d, dp.arg[i]!, dp.line[i]!, f0.md, `reassembled datagram of ${b.datagram.length} bytes`);
      }
    }
    for (const f of b.frags) pkts.push(batchPkt(f));
    if (this.tx && b.frags.length !== 0) {
      const from = b.frags.map((f) => `#${f.tag}${f.tag === this.tag ? ' (this packet)' : ''}`).join(', ');
      this.note(d, `released ${b.frags.length} fragment${b.frags.length === 1 ? '' : 's'} (from input packets ${from}): ${b.frags.map((f) => formatCtFields(fieldsOf(f.md))).join('; ')}`);
    }
  }

  /**
   * The rest of pass d's datapath actions, from index `from`, over a batch of packets: the packet
   * itself (if ipf did not hold it) and the fragments ipf released. OVS runs the completing
   * packet's remaining datapath actions on the whole batch (lib/dpif-netdev.c
   * `dp_netdev_execute_actions` on the batch that `conntrack_execute` filled), action by action:
   * each action over every packet of the batch before the next action, so outputs interleave
   * per action. A recirculation translates each packet on its own (its headers and ct fields,
   * the current in_port), a later ct() can hold or release packets again.
   */
  private runBatch(d: number, from: number, pkts: BatchPkt[], inPort: number, recircId: number): void {
    const dp = this.dp[d]!;
    const saveView = this.view;
    const saveFrame = this.frame;
    try {
      for (let i = from; i < dp.n && pkts.length !== 0; i++) {
        const kind = dp.kind[i]!;
        if (kind === D_CT) {
          const next: BatchPkt[] = [];
          const b = this.batches[d]!;
          for (const p of pkts) {
            this.view = p.view;
            this.frame = p.frame;
            conntrackExecute(this.conntrack, p.view, dp.ct[i]!, this.now, p.md, recircId, b, p.tag);
            p.frame = p.view.buf;
            if (b.self) next.push(p);
            if (b.self && b.frags.length === 0) {
              if (this.rec) this.recordCt(d, dp.arg[i]!, dp.line[i]!, p.md);
            } else {
              this.afterIpf(d, i, b, b.self ? p.md : null, next);
            }
          }
          pkts = next;
        } else if (kind === D_RECIRC) {
          for (const p of pkts) {
            this.view = p.view;
            this.frame = p.frame;
            this.recirc(d, i, p.md, inPort);
            if (this.frame !== p.frame) p.view.parse(p.frame);
          }
        } else if (kind === D_CT_CLEAR) {
          for (const p of pkts) p.md.clear();
        } else {
          for (const p of pkts) this.output(d, i, p.frame);
        }
      }
    } finally {
      this.view = saveView;
      this.frame = saveFrame;
    }
  }

  private recordCt(d: number, table: number, line: number, md: CtMeta, what?: string): void {
    const f = fieldsOf(md);
    this.rec!.ctCalls.push({ ...f, table, line, depth: d });
    this.rec!.final = f;
    if (this.tx) this.note(d, `ct() at line ${line}${what ? ` on the ${what}` : ''} → ${formatCtFields(f)}`);
  }

  private note(d: number, s: string): void {
    this.rec!.trace.push(`${'  '.repeat(d)}${s}`);
  }

  // ---------------------------------------------------------------- translation

  /**
   * The flow of `table` the packet hits: load the fields the table's flows read (ct fields as
   * the translation sees them now), then the table's classifier.
   */
  private lookup(d: number, table: number, swap: boolean): CompiledFlow | null {
    const t = this.compiled.flowTables[table];
    if (!t) return null;
    const fids = t.fids;
    for (let i = 0; i < fids.length; i++) this.load(fids[i]!, d);
    if (swap) this.swapTuple(d);
    return t.lookup(this.fw);
  }

  /**
   * resubmit(,T,ct): the packet's 5-tuple and the connection's original-direction tuple change
   * places for this one lookup (ofproto-dpif-xlate.c `xlate_table_action` → `tuple_swap`;
   * IPv4 or IPv6 addresses by the packet's dl_type), docs/policy-language.md §6.
   */
  private swapTuple(d: number): void {
    const v4 = this.view.l3 === 4;
    const pairs = v4 ? SWAP_V4 : SWAP_V6;
    const w = this.fw;
    for (let k = 0; k < pairs.length; k += 2) {
      const a = pairs[k]!;
      const b = pairs[k + 1]!;
      this.load(a, d);
      this.load(b, d);
      for (let j = 0; j < 4; j++) {
        const x = w[a * 4 + j]!;
        w[a * 4 + j] = w[b * 4 + j]!;
        w[b * 4 + j] = x;
      }
    }
  }

  /**
   * OVS's translation limits (xlate_resubmit_resource_check): past the depth or the number of
   * resubmits the translation fails with `xError`. Shared by resubmit, goto_table and
   * resubmit(,T,ct).
   */
  private resubmitRefused(): boolean {
    if (this.xDepth >= this.maxDepth) {
      this.xError = `over max translation depth ${this.maxDepth}`;
      return true;
    }
    if (this.xResubmits >= this.maxResubmits) {
      this.xError = `over ${this.maxResubmits} resubmit actions`;
      return true;
    }
    return false;
  }

  /** Translate table `a.arg` one level deeper; `swap` looks up on the original-direction tuple (resubmit(,T,ct)). */
  private resubmit(d: number, a: CompiledAction, swap: boolean): void {
    if (this.tx) this.note(d, `${'  '.repeat(this.xDepth + 1)}${formatAction(a.src)}`);
    this.xResubmits++;
    this.xDepth++;
    this.xlateTable(d, a.arg, swap);
    this.xDepth--;
  }

  private xlateTable(d: number, table: number, swap = false): void {
    const cf = this.lookup(d, table, swap);
    const rec = this.rec;
    if (cf && this.flowHits) this.flowHits[cf.index]!++;
    if (!cf) {
      if (rec) {
        rec.flows.push({ table, line: -1, depth: d });
        if (this.tx) this.note(d, `${'  '.repeat(this.xDepth)}table ${table}: no match (table miss → drop)`);
      }
      return;
    }
    if (rec) {
      const f = cf.flow;
      rec.flows.push({ table, line: f.pos.line, depth: d });
      if (this.tx) {
        const t = this.compiled.flowTables[table];
        const conj = t instanceof ConjunctiveTable && t.lastConjId >= 0 ? ` (conjunction ${t.lastConjId} matched)` : '';
        this.note(d, `${'  '.repeat(this.xDepth)}table ${table}: line ${f.pos.line}, priority ${f.priority}${f.match.length ? ', ' + formatMatch(f.match) : ''}${conj}`);
      }
    }
    const dp = this.dp[d]!;
    const acts = cf.actions;
    for (let i = 0; i < acts.length && this.xError === null; i++) {
      const a = acts[i]!;
      switch (a.op) {
        case OP_OUTPUT: {
          let port = a.arg;
          if (port === OFPP_IN_PORT) port = this.xInPort;
          else if (port === this.xInPort) {
            if (this.tx) this.note(d, `${'  '.repeat(this.xDepth + 1)}output:${port}: skipping output to input port`);
            break;
          }
          dp.push(D_OUTPUT, port, this.xCleared ? 1 : 0, null, a.line);
          break;
        }
        case OP_CONTROLLER:
          dp.push(D_OUTPUT, PORT_CONTROLLER, this.xCleared ? 1 : 0, null, a.line);
          break;
        case OP_RESUBMIT:
        case OP_GOTO:
          if (!this.resubmitRefused()) this.resubmit(d, a, false);
          break;
        case OP_CT: {
          // ct(zone=FIELD): the zone is read now, from the translation's registers
          // (compose_conntrack_action, docs/policy-language.md §3).
          const args = a.ctByZone === null ? a.ct! : ctArgsForZone(a, this.readSource(a.srcBits!, d));
          if (this.tx) this.note(d, `${'  '.repeat(this.xDepth + 1)}${formatAction(a.src)}${a.ctByZone !== null ? ` (zone ${args.zone})` : ''}${a.arg >= 0 ? ' (fork: the rest continues untracked)' : ''}`);
          dp.push(D_CT, a.arg, 0, args, a.line);
          if (a.arg >= 0) {
            dp.push(D_RECIRC, a.arg, 0, null, a.line, a.recirc);
            // finish_freezing__ → frozen_metadata_from_flow: the copy resumes with the
            // registers and metadata of this moment (docs/policy-language.md §1).
            if (this.usesPipe) dp.freeze(dp.n - 1, this.xr);
          }
          this.xCleared = true;
          break;
        }
        case OP_RESUBMIT_CT:
          if (this.resubmitRefused()) break;
          // xlate_table_action: no ct tuple in the flow (untracked, cleared by a ct() of this
          // pass, or ct_nw_proto 0) → reported and skipped; translation goes on.
          if (this.xCleared || !this.md[d]!.tupleVisible()) {
            if (this.tx) this.note(d, `${'  '.repeat(this.xDepth + 1)}${formatAction(a.src)}: resubmit(ct) with non-tracked or non-IP packet! (skipped)`);
            break;
          }
          this.resubmit(d, a, true);
          break;
        case OP_LOAD: {
          const xr = this.xr;
          const data = a.data!;
          xr[a.arg] = (xr[a.arg]! & ~data[1]!) | data[0]!;
          break;
        }
        case OP_MOVE:
          this.move(a.srcBits!, a.data!, d);
          if (this.tx) this.note(d, `${'  '.repeat(this.xDepth + 1)}${formatAction(a.src)}`);
          break;
        case OP_CT_CLEAR:
          // xlate only emits ct_clear for a packet it still sees as tracked (`ctx->conntracked`).
          if (!this.xCleared) dp.push(D_CT_CLEAR, 0, 0, null, a.line);
          this.xCleared = true;
          break;
      }
    }
  }

  // ---------------------------------------------------------------- registers

  /** Loads a source's fields into the field words (a snapshot, so overlapping moves read first). */
  private loadSource(src: SourceBits, d: number): void {
    for (let k = 0; k < src.fids.length; k++) this.load(src.fids[k]!, d);
  }

  /** A source subfield of ≤ 32 bits as a number (ct(zone=FIELD) reads 16). */
  private readSource(src: SourceBits, d: number): number {
    this.loadSource(src, d);
    const fw = this.fw;
    const bits = src.bits;
    let v = 0;
    for (let j = bits.length / 2 - 1; j >= 0; j--) v = (v << 1) | ((fw[bits[j * 2]!]! >>> bits[j * 2 + 1]!) & 1);
    return v >>> 0;
  }

  /** move: copy each source bit into its register/metadata bit. */
  private move(src: SourceBits, dst: Int32Array, d: number): void {
    this.loadSource(src, d);
    const fw = this.fw;
    const xr = this.xr;
    const bits = src.bits;
    for (let j = 0; j < dst.length / 2; j++) {
      const bit = (fw[bits[j * 2]!]! >>> bits[j * 2 + 1]!) & 1;
      const w = dst[j * 2]!;
      const m = 1 << dst[j * 2 + 1]!;
      xr[w] = bit ? xr[w]! | m : xr[w]! & ~m;
    }
  }

  // ---------------------------------------------------------------- matching

  /**
   * The flow-key value of a field for the current packet, as 4 words (word 0 most significant).
   * Fields the packet does not have read 0, as in OVS's flow key (lib/flow.c
   * `miniflow_extract`): e.g. tp_src of a later IP fragment or of a truncated TCP header.
   */
  private load(fid: number, d: number): void {
    const w = this.fw;
    const o = fid * 4;
    w[o] = w[o + 1] = w[o + 2] = 0;
    const v = this.view;
    switch (fid) {
      case F_IN_PORT:
        w[o + 3] = this.xInPort | 0;
        return;
      case F_DL_SRC:
      case F_DL_DST: {
        const b = v.buf;
        const e = fid === F_DL_DST ? 0 : 6;
        if (v.len < 14) {
          w[o + 3] = 0;
          return;
        }
        w[o + 2] = (b[e]! << 8) | b[e + 1]!;
        w[o + 3] = (b[e + 2]! << 24) | (b[e + 3]! << 16) | (b[e + 4]! << 8) | b[e + 5]!;
        return;
      }
      case F_DL_TYPE:
        // 802.3 length field (< 0x600): OVS stores FLOW_DL_TYPE_NONE (0x5ff).
        w[o + 3] = v.len < 14 ? 0 : v.ethType < 0x600 ? 0x5ff : v.ethType;
        return;
      case F_DL_VLAN:
        w[o + 3] = v.vlanTci >= 0 ? (v.vlanTci | 0x1000) & 0xffff : 0;
        return;
      case F_NW_SRC:
        w[o + 3] = v.flowL3 && v.l3 === 4 ? v.src[0]! : 0;
        return;
      case F_NW_DST:
        w[o + 3] = v.flowL3 && v.l3 === 4 ? v.dst[0]! : 0;
        return;
      case F_IPV6_SRC:
      case F_IPV6_DST: {
        const a = fid === F_IPV6_SRC ? v.src : v.dst;
        if (v.flowL3 && v.l3 === 6) {
          w[o] = a[0]!;
          w[o + 1] = a[1]!;
          w[o + 2] = a[2]!;
          w[o + 3] = a[3]!;
        } else w[o + 3] = 0;
        return;
      }
      case F_NW_PROTO:
        w[o + 3] = v.flowL3 ? v.ipProto : 0;
        return;
      case F_TP_SRC:
      case F_TP_DST: {
        if (!v.flowL4) {
          w[o + 3] = 0;
          return;
        }
        const icmp = (v.l3 === 4 && v.ipProto === 1) || (v.l3 === 6 && v.ipProto === 58);
        w[o + 3] = icmp ? (fid === F_TP_SRC ? v.icmpType : v.icmpCode) : fid === F_TP_SRC ? v.sport : v.dport;
        return;
      }
      case F_TCP_FLAGS:
        w[o + 3] = v.flowL4 && v.ipProto === 6 ? v.tcpFlags : 0;
        return;
      case F_CONJ_ID:
        // 0 in every packet's flow; the conjunctive lookup sets it for its second search.
        w[o + 3] = 0;
        return;
      case F_METADATA:
        w[o + 2] = this.xr[PIPE_METADATA_HI]!;
        w[o + 3] = this.xr[PIPE_METADATA_LO]!;
        return;
      default:
        if (fid >= F_REG0) w[o + 3] = this.xr[fid - F_REG0]!;
        else this.loadCt(fid, d, w, o);
    }
  }

  private loadCt(fid: number, d: number, w: FieldWords, o: number): void {
    w[o + 3] = 0;
    if (this.xCleared) return; // untracked: every ct field reads 0
    const m = this.md[d]!;
    switch (fid) {
      case F_CT_STATE:
        w[o + 3] = m.state | 0;
        return;
      case F_CT_ZONE:
        w[o + 3] = m.zone;
        return;
      case F_CT_MARK:
        w[o + 3] = m.mark | 0;
        return;
      case F_CT_LABEL:
        w[o] = m.label[0]!;
        w[o + 1] = m.label[1]!;
        w[o + 2] = m.label[2]!;
        w[o + 3] = m.label[3]!;
        return;
    }
    // Original-direction tuple: only visible when `is_ct_valid` and ct_nw_proto != 0 (§1.6).
    if (!m.tupleVisible()) return;
    switch (fid) {
      case F_CT_NW_PROTO:
        w[o + 3] = m.origProto;
        return;
      case F_CT_NW_SRC:
        w[o + 3] = m.origL3 === 4 ? m.origSrc[0]! : 0;
        return;
      case F_CT_NW_DST:
        w[o + 3] = m.origL3 === 4 ? m.origDst[0]! : 0;
        return;
      case F_CT_IPV6_SRC:
      case F_CT_IPV6_DST: {
        if (m.origL3 !== 6) return;
        const a = fid === F_CT_IPV6_SRC ? m.origSrc : m.origDst;
        w[o] = a[0]!;
        w[o + 1] = a[1]!;
        w[o + 2] = a[2]!;
        w[o + 3] = a[3]!;
        return;
      }
      case F_CT_TP_SRC:
        w[o + 3] = m.origSport;
        return;
      case F_CT_TP_DST:
        w[o + 3] = m.origDport;
        return;
    }
  }
}
