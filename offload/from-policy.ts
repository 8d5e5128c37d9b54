/**
 * model/pipeline's typed Policy → the compiler's PolicyIR. Match fields the hardware keys on
 * map 1:1 (offload/fields.ts uses the same OVS names); the ct tuple fields (ct_nw_src, …) are
 * not keyed in hardware and make the flow a slow-path punt. `output:in_port` (OFPP_IN_PORT) is
 * not offloaded either (the hardware skips outputs to the input port, as a plain output does).
 * `ct(timeout=NAME)` only matters when a connection is created, which is software's job.
 */
import type { Action, Flow, Policy } from '../model/pipeline/ast.js';
import { OFPP_IN_PORT, formatAction, formatSubfield } from '../model/pipeline/ast.js';
import { isKeyFieldName } from './fields.js';
import type { ActionIR, CtActionIR, FlowIR, FlowMatchIR, PolicyIR } from './ir.js';

export function actionToIR(a: Action): ActionIR {
  switch (a.kind) {
    case 'output':
      return a.port === OFPP_IN_PORT ? { kind: 'unsupported', text: 'in_port (output to the input port)' } : { kind: 'output', port: a.port };
    case 'controller':
      return { kind: 'controller' };
    case 'drop':
      return { kind: 'drop' };
    case 'resubmit':
      return a.ct ? { kind: 'unsupported', text: formatAction(a) } : { kind: 'goto', table: a.table, resubmit: true };
    case 'goto_table':
      return { kind: 'goto', table: a.table, resubmit: false };
    case 'ct_clear':
      return { kind: 'ct_clear' };
    case 'load':
    case 'move':
      return { kind: 'unsupported', text: formatAction(a), reason: 'REGISTERS' };
    case 'conjunction':
      return { kind: 'unsupported', text: formatAction(a), reason: 'CONJUNCTION' };
    case 'ct': {
      const ir: CtActionIR = { kind: 'ct', zone: a.zone, commit: a.commit, force: a.force, table: a.table, alg: a.alg, nat: !!a.nat };
      if (a.zoneSrc) ir.zoneFromField = formatSubfield(a.zoneSrc);
      for (const w of a.exec) {
        if (w.field === 'ct_mark') {
          const prev = ir.mark ?? { value: 0, mask: 0 };
          const mask = Number(w.mask) >>> 0;
          ir.mark = { value: ((prev.value & ~mask) | Number(w.value & w.mask)) >>> 0, mask: (prev.mask | mask) >>> 0 };
        } else {
          const prev = ir.label ?? { value: 0n, mask: 0n };
          ir.label = { value: (prev.value & ~w.mask) | (w.value & w.mask), mask: prev.mask | w.mask };
        }
      }
      return ir;
    }
  }
}

export function flowToIR(f: Flow): FlowIR {
  const match: FlowMatchIR[] = [];
  const unsupportedMatch: string[] = [];
  for (const m of f.match) {
    if (isKeyFieldName(m.name)) match.push({ field: m.name, value: m.value, mask: m.mask });
    else unsupportedMatch.push(m.name);
  }
  return { table: f.table, priority: f.priority, line: f.pos.line, text: f.text, match, unsupportedMatch, actions: f.actions.map(actionToIR) };
}

export function policyToIR(p: Policy): PolicyIR {
  return { source: p.source, flows: p.flows.map(flowToIR) };
}
