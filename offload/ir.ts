/**
 * The compiler's input: a policy reduced to what the offload compiler reasons about. It is
 * produced from model/pipeline's typed Policy by offload/from-policy.ts, so the compiler does
 * not depend on every detail of the parser's AST (and tests can state cases directly).
 */
import type { KeyFieldName } from './fields.js';

export interface FlowMatchIR {
  field: KeyFieldName;
  value: bigint;
  /** Full mask (all ones of the field width) = exact. */
  mask: bigint;
}

export interface CtActionIR {
  kind: 'ct';
  zone: number;
  /** `zone=NXM_…[]`: zone taken from a field — not offloadable (punt). */
  zoneFromField?: string;
  commit: boolean;
  force: boolean;
  /** `table=T`, or null for no recirculation. */
  table: number | null;
  alg: string | null;
  nat: boolean;
  /** exec(set_field:V/M->ct_mark) */
  mark?: { value: number; mask: number };
  /** exec(set_field:V/M->ct_label) */
  label?: { value: bigint; mask: bigint };
  /** exec() with anything else. */
  execOther?: string;
}

export type ActionIR =
  | { kind: 'output'; port: number }
  | { kind: 'controller' }
  | { kind: 'drop' }
  | { kind: 'goto'; table: number; resubmit: boolean }
  | { kind: 'ct_clear' }
  | CtActionIR
  /** Not offloadable; `reason` names the punt (default ACTION). */
  | { kind: 'unsupported'; text: string; reason?: 'REGISTERS' | 'CONJUNCTION' };

export interface FlowIR {
  table: number;
  priority: number;
  /** 1-based line in the policy source. */
  line: number;
  /** The flow's text, for comments in the program. */
  text: string;
  match: FlowMatchIR[];
  /** Match fields the hardware cannot key on (the flow is installed without them, as a punt). */
  unsupportedMatch: string[];
  actions: ActionIR[];
}

export interface PolicyIR {
  /** File name for comments and messages. */
  source: string;
  flows: FlowIR[];
}
