/**
 * Policy → offload plan: which P4 tables exist (one per (stage, policy table) and one conntrack
 * table per (zone set, stage) that looks zones of the set up), their keys, and the hardware
 * action of every flow. offload/p4gen.ts prints the plan as P4, offload/entries.ts turns it
 * into table entries.
 *
 * ## Execution model (one pass, no recirculation)
 *
 * OVS runs a flow's action list on the packet; `ct(table=T)` sends a tracked copy to table T
 * after the tracker ran and the rest of the list continues on the *untracked* original
 * (docs/conntrack-semantics.md §1.2). The hardware runs one thread of that execution per stage:
 * stage 0 applies policy table 0; a flow's action may end the thread (drop/output), continue
 * at another table in the next stage (`goto_table`, a final `resubmit(,T)`), or do a ct
 * lookup and continue at `table=T` in the next stage with the ct fields of the hit. The
 * recirculation graph is unrolled into `maxStages` stages; a table reachable at stage s gets
 * its own P4 table `stage<s>_table<T>` (a P4 table can be applied once per pass). A flow that
 * would continue past the last stage is a STAGE_LIMIT punt at that stage (so cycles punt).
 *
 * Supported action lists (anything else compiles to a static punt, reason ACTION/…):
 *   [ct_clear…] [ct(...)] [ct_clear…] [output:P | controller]? [drop]? [goto_table:T | resubmit(,T)]?
 * with at most one output, the output after the ct (it runs on the untracked packet), no goto
 * after a ct with `table=` (that would fork two live threads), and ct arguments limited to
 * zone=N, commit, table=T, exec(set_field ct_mark/ct_label). `force`, `nat` (punt NAT), `alg=`, a zone
 * from a field, an output before ct(), several outputs, resubmit in the middle of a list are
 * punted. Commit never happens in hardware: ct(commit) on a hit is a no-op (OVS creates
 * nothing for an existing entry, §2.4) and on a miss the packet is punted; exec mark/label
 * writes are no-ops when the entry already holds the value, else the packet is punted (EXEC).
 * Outputs to the input port are skipped, as OVS does (ofproto-dpif-xlate `compose_output_action`
 * "skipping output to input port").
 */
import type { OffloadConfig, ZoneSet } from './config.js';
import { DROP_PORT } from './config.js';
import { KEY_FIELDS, type KeyFieldName } from './fields.js';
import type { ActionIR, CtActionIR, FlowIR, PolicyIR } from './ir.js';
import { PUNT, type PuntReasonName } from './punt.js';

/** Op flags of `flow_general` (and of the metadata every flow action writes). */
export const OP = {
  OUTPUT: 0x001,
  CONTROLLER: 0x002,
  GOTO: 0x004,
  CT: 0x008,
  COMMIT: 0x010,
  RECIRC: 0x020,
  EXEC_MARK: 0x040,
  EXEC_LABEL: 0x080,
  CLEAR: 0x100,
  PUNT: 0x200,
  MISS: 0x400,
} as const;

/** What one flow does, before it is specialised per stage. */
export type FlowOp =
  | { kind: 'punt'; reason: PuntReasonName; why: string }
  | {
      kind: 'exec';
      /** ct_clear before anything else. */
      clear: boolean;
      output: number | 'controller' | null;
      ct: null | {
        zone: number;
        commit: boolean;
        /** table= (recirculation target), or null. */
        table: number | null;
        mark?: { value: number; mask: number };
        label?: { value: bigint; mask: bigint };
      };
      goto: number | null;
    };

/** A P4 action call of a policy-table entry. */
export interface HwAction {
  action: string;
  params: Record<string, bigint>;
  /** One-line description for comments. */
  note: string;
}

export interface StageFlow {
  flow: FlowIR;
  op: FlowOp;
  hw: HwAction;
  /** P4Runtime priority (> 0): OVS priority + 1. */
  priority: number;
}

export interface StageTablePlan {
  stage: number;
  policyTable: number;
  /** P4 name inside the ingress control. */
  name: string;
  keys: KeyFieldName[];
  flows: StageFlow[];
}

export interface CtTablePlan {
  /** P4 name inside the ingress control: `<set>_s<stage>`. */
  name: string;
  stage: number;
  set: string;
  /** Zones of the set looked up at this stage. */
  zones: number[];
  size: number;
}

export interface Diagnostic {
  line: number;
  message: string;
}

export interface Plan {
  config: OffloadConfig;
  source: string;
  /** Number of unrolled stages actually used (≥ 1). */
  stages: number;
  stageTables: StageTablePlan[];
  ctTables: CtTablePlan[];
  /** Zones whose connections may be installed. */
  offloadedZones: number[];
  zoneSets: ZoneSet[];
  /** Policy tables that have flows. */
  policyTables: number[];
  /** Flows compiled to a punt or skipped, and why. */
  diagnostics: Diagnostic[];
}

const MAX_PORT = 510;

/** Flow actions → FlowOp (independent of the stage). */
export function compileFlowOp(flow: FlowIR, cfg: OffloadConfig, offloaded: (zone: number) => boolean): FlowOp {
  const punt = (reason: PuntReasonName, why: string): FlowOp => ({ kind: 'punt', reason, why });
  if (flow.unsupportedMatch.length) {
    // Named punts for the pipeline-state fields (docs/policy-language.md §5), ACTION for the rest.
    const um = flow.unsupportedMatch;
    const reason: PuntReasonName = um.includes('conj_id') ? 'CONJUNCTION' : um.some((n) => n === 'metadata' || /^reg\d+$/.test(n)) ? 'REGISTERS' : 'ACTION';
    return punt(reason, `match on ${um.join(', ')} is not offloadable`);
  }
  let clear = false;
  let output: number | 'controller' | null = null;
  let outputs = 0;
  let ct: CtActionIR | null = null;
  let goto: number | null = null;
  let ended = false;
  const acts: ActionIR[] = flow.actions;
  for (let i = 0; i < acts.length; i++) {
    const a = acts[i]!;
    if (ended) return punt('ACTION', `action after ${goto !== null ? 'goto_table/resubmit' : 'drop'}`);
    switch (a.kind) {
      case 'ct_clear':
        // Before any ct/output it clears the incoming ct fields; after a ct the packet is
        // already untracked (§1.2); after an output it changes nothing we emit.
        if (!ct && outputs === 0) clear = true;
        break;
      case 'output':
      case 'controller': {
        if (a.kind === 'output' && (a.port < 0 || a.port > MAX_PORT || a.port === cfg.cpuPort)) {
          return punt('ACTION', `output:${a.port} is not a hardware port (0..${MAX_PORT}, not the CPU port ${cfg.cpuPort})`);
        }
        // An output before a ct() would carry the tracked state of an earlier lookup and
        // then fork; the hardware emits outputs only after the ct step.
        const laterCt = acts.slice(i + 1).some((x) => x.kind === 'ct');
        if (laterCt) return punt('ACTION', 'output before ct()');
        outputs++;
        output = a.kind === 'output' ? a.port : 'controller';
        break;
      }
      case 'drop':
        ended = true;
        break;
      case 'goto':
        if (a.resubmit && i !== acts.length - 1) return punt('ACTION', 'resubmit(,T) in the middle of an action list (needs a return stack)');
        if (ct && ct.table !== null) return punt('ACTION', 'goto/resubmit after ct(table=…) forks two live threads');
        goto = a.table;
        ended = true;
        break;
      case 'ct': {
        if (ct) return punt('ACTION', 'more than one ct() in an action list');
        if (a.alg) return punt('ALG', `ct(alg=${a.alg}) needs the software ALG`);
        if (a.zoneFromField) return punt('ZONE_FROM_FIELD', `ct(zone=${a.zoneFromField}) takes the zone from a field`);
        if (a.nat) return punt('NAT', 'ct(nat…) translates in software (docs/offload-design.md, "NAT")');
        if (a.force) return punt('ACTION', 'ct(force) may delete the entry');
        if (a.execOther) return punt('ACTION', `ct(exec(${a.execOther}))`);
        if (!offloaded(a.zone)) return punt('ZONE_NOT_OFFLOADED', `zone ${a.zone} is not offloaded`);
        ct = a;
        break;
      }
      case 'unsupported':
        return punt(a.reason ?? 'ACTION', `action ${a.text} is not offloadable`);
    }
  }
  if (outputs > 1) return punt('MULTI_OUTPUT', `${outputs} outputs`);
  return {
    kind: 'exec',
    clear,
    output,
    ct: ct ? { zone: ct.zone, commit: ct.commit, table: ct.table, ...(ct.mark ? { mark: ct.mark } : {}), ...(ct.label ? { label: ct.label } : {}) } : null,
    goto,
  };
}

/** The policy table a FlowOp continues at (next stage), if any. */
export function nextTable(op: FlowOp): number | null {
  if (op.kind !== 'exec') return null;
  if (op.ct && op.ct.table !== null) return op.ct.table;
  return op.goto;
}

/** FlowOp → the P4 action call (readable special cases, `flow_general` for the rest). */
export function hwAction(op: FlowOp, cpuPort: number): HwAction {
  if (op.kind === 'punt') return { action: 'flow_punt', params: { reason: BigInt(PUNT[op.reason]) }, note: `punt ${op.reason}: ${op.why}` };
  const { clear, output, ct, goto } = op;
  if (!clear) {
    if (!ct && goto === null) {
      if (output === null) return { action: 'flow_drop', params: {}, note: 'drop' };
      if (output === 'controller') return { action: 'flow_controller', params: {}, note: 'controller' };
      return { action: 'flow_output', params: { port: BigInt(output) }, note: `output:${output}` };
    }
    if (!ct && goto !== null && output === null) return { action: 'flow_goto', params: { next_table: BigInt(goto) }, note: `goto_table:${goto}` };
    if (ct && !ct.commit && !ct.mark && !ct.label && ct.table !== null && output === null && goto === null) {
      return { action: 'flow_ct', params: { zone: BigInt(ct.zone), next_table: BigInt(ct.table) }, note: `ct(zone=${ct.zone},table=${ct.table})` };
    }
    if (ct && ct.commit && !ct.mark && !ct.label && ct.table === null && typeof output === 'number' && goto === null) {
      return { action: 'flow_ct_commit_output', params: { zone: BigInt(ct.zone), port: BigInt(output) }, note: `ct(commit,zone=${ct.zone}),output:${output}` };
    }
  }
  let flags = 0;
  if (clear) flags |= OP.CLEAR;
  if (output === 'controller') flags |= OP.CONTROLLER;
  else if (output !== null) flags |= OP.OUTPUT;
  if (goto !== null) flags |= OP.GOTO;
  if (ct) {
    flags |= OP.CT;
    if (ct.commit) flags |= OP.COMMIT;
    if (ct.table !== null) flags |= OP.RECIRC;
    if (ct.mark) flags |= OP.EXEC_MARK;
    if (ct.label) flags |= OP.EXEC_LABEL;
  }
  const parts: string[] = [];
  if (clear) parts.push('ct_clear');
  if (ct) {
    const args = [ct.commit ? 'commit' : '', `zone=${ct.zone}`, ct.table !== null ? `table=${ct.table}` : ''];
    if (ct.mark) args.push(`exec(ct_mark=0x${ct.mark.value.toString(16)}/0x${(ct.mark.mask >>> 0).toString(16)})`);
    if (ct.label) args.push(`exec(ct_label=0x${ct.label.value.toString(16)}/0x${ct.label.mask.toString(16)})`);
    parts.push(`ct(${args.filter(Boolean).join(',')})`);
  }
  if (output !== null) parts.push(output === 'controller' ? 'controller' : `output:${output}`);
  if (goto !== null) parts.push(`goto_table:${goto}`);
  return {
    action: 'flow_general',
    params: {
      flags: BigInt(flags),
      port: BigInt(typeof output === 'number' ? output : output === 'controller' ? cpuPort : 0),
      zone: BigInt(ct?.zone ?? 0),
      next_table: BigInt(ct?.table ?? goto ?? 0),
      mark: BigInt((ct?.mark?.value ?? 0) >>> 0),
      mark_mask: BigInt((ct?.mark?.mask ?? 0) >>> 0),
      label: ct?.label?.value ?? 0n,
      label_mask: ct?.label?.mask ?? 0n,
    },
    note: parts.join(',') || 'drop',
  };
}

/** Every zone a ct() of the policy names (constant zones only). */
export function policyZones(policy: PolicyIR): number[] {
  const zs = new Set<number>();
  for (const f of policy.flows) for (const a of f.actions) if (a.kind === 'ct' && !a.zoneFromField) zs.add(a.zone);
  return [...zs].sort((a, b) => a - b);
}

export function compilePlan(policy: PolicyIR, cfg: OffloadConfig): Plan {
  const diagnostics: Diagnostic[] = [];
  const used = policyZones(policy);
  const offloadedZones = cfg.zones === 'all' ? used : [...cfg.zones].sort((a, b) => a - b);
  const offloadedSet = new Set(offloadedZones);
  const zoneSets: ZoneSet[] = cfg.zoneSets ?? [{ name: 'conntrack', zones: offloadedZones }];
  const setOf = new Map<number, ZoneSet>();
  for (const s of zoneSets) for (const z of s.zones) setOf.set(z, s);
  // A zone offloaded but in no explicit set is not offloaded (config says where its table is).
  const offloaded = (z: number): boolean => offloadedSet.has(z) && setOf.has(z);
  for (const z of offloadedZones) if (!setOf.has(z)) diagnostics.push({ line: 0, message: `zone ${z} is offloaded but in no zone set: treated as not offloaded` });

  const byTable = new Map<number, FlowIR[]>();
  for (const f of policy.flows) {
    if (f.table < 0 || f.table > 254) throw new RangeError(`table ${f.table}`);
    let l = byTable.get(f.table);
    if (!l) byTable.set(f.table, (l = []));
    l.push(f);
  }
  // Higher priority first; equal priorities keep source order (documentation only: the
  // hardware picks among equal priorities arbitrarily, like OVS).
  for (const l of byTable.values()) l.sort((a, b) => b.priority - a.priority || a.line - b.line);
  const ops = new Map<FlowIR, FlowOp>();
  for (const f of policy.flows) {
    const op = compileFlowOp(f, cfg, offloaded);
    ops.set(f, op);
    if (op.kind === 'punt') diagnostics.push({ line: f.line, message: `slow path (${op.reason}): ${op.why}` });
  }

  const stageTables: StageTablePlan[] = [];
  const ctZonesAtStage: Set<number>[] = [];
  // Reachable policy tables per stage, with the possible "cached connection" zones on entry
  // (-1 = none). OVS does not run the tracker again for a ct() in the zone of the entry an
  // earlier ct() of the same packet found (same-zone shortcut, docs/conntrack-semantics.md §2.3 step 2);
  // the hardware reuses the earlier hit the same way, so a stage only needs a conntrack table
  // for zones some path reaches without a cached hit in that zone.
  let reach = new Map<number, Set<number>>([[0, new Set([-1])]]);
  let stages = 0;
  let stageLimited = false;
  for (let s = 0; s < cfg.maxStages && reach.size > 0; s++) {
    stages = s + 1;
    const last = s === cfg.maxStages - 1;
    const next = new Map<number, Set<number>>();
    const addNext = (t: number, cache: Iterable<number>): void => {
      let c = next.get(t);
      if (!c) next.set(t, (c = new Set()));
      for (const z of cache) c.add(z);
    };
    const ctZones = new Set<number>();
    for (const t of [...reach.keys()].sort((a, b) => a - b)) {
      const flows = byTable.get(t);
      if (!flows) continue; // empty table: the stage's else branch is a policy miss
      const cacheIn = reach.get(t)!;
      const keys = new Set<KeyFieldName>(['in_port']);
      for (const f of flows) for (const m of f.match) keys.add(m.field);
      const planFlows: StageFlow[] = flows.map((f) => {
        let op = ops.get(f)!;
        const nt = nextTable(op);
        if (nt !== null && last) {
          op = { kind: 'punt', reason: 'STAGE_LIMIT', why: `continues at table ${nt} after the last of ${cfg.maxStages} stages` };
          stageLimited = true;
        }
        if (op.kind === 'exec') {
          const cacheAfterClear = op.clear ? [-1] : [...cacheIn];
          if (op.ct) {
            const z = op.ct.zone;
            if (cacheAfterClear.some((c) => c !== z)) ctZones.add(z);
          }
          if (nt !== null) addNext(nt, op.ct ? [op.ct.zone] : cacheAfterClear);
        }
        return { flow: f, op, hw: hwAction(op, cfg.cpuPort), priority: f.priority + 1 };
      });
      stageTables.push({
        stage: s,
        policyTable: t,
        name: `stage${s}_table${t}`,
        keys: KEY_FIELDS.map((k) => k.name).filter((n) => keys.has(n)),
        flows: planFlows,
      });
    }
    ctZonesAtStage.push(ctZones);
    reach = next;
  }
  if (stages === 0) stages = 1;
  if (stageLimited) diagnostics.push({ line: 0, message: `paths deeper than ${cfg.maxStages} stages are punted (STAGE_LIMIT)` });

  const ctTables: CtTablePlan[] = [];
  ctZonesAtStage.forEach((zs, stage) => {
    for (const set of zoneSets) {
      const zones = set.zones.filter((z) => zs.has(z)).sort((a, b) => a - b);
      if (zones.length) ctTables.push({ name: `${set.name}_s${stage}`, stage, set: set.name, zones, size: set.size ?? cfg.tableSizes.conntrack });
    }
  });
  return {
    config: cfg,
    source: policy.source,
    stages,
    stageTables,
    ctTables,
    offloadedZones: offloadedZones.filter((z) => setOf.has(z)),
    zoneSets,
    policyTables: [...byTable.keys()].sort((a, b) => a - b),
    diagnostics,
  };
}

export { DROP_PORT };
