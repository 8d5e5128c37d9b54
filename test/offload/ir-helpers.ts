/**
 * Compact builders for offload IR in tests (the policy parser's output goes through
 * offload/from-policy.ts; these state compiler cases directly).
 */
import { fullMask, keyField, type KeyFieldName } from '../../offload/fields.js';
import type { ActionIR, CtActionIR, FlowIR, FlowMatchIR, PolicyIR } from '../../offload/ir.js';

export function m(field: KeyFieldName, value: number | bigint, mask?: number | bigint): FlowMatchIR {
  return { field, value: BigInt(value), mask: mask === undefined ? fullMask(keyField(field).width) : BigInt(mask) };
}

export const IP: FlowMatchIR[] = [m('dl_type', 0x0800)];
export const IPV6: FlowMatchIR[] = [m('dl_type', 0x86dd)];
export const TCP: FlowMatchIR[] = [...IP, m('nw_proto', 6)];
export const UDP: FlowMatchIR[] = [...IP, m('nw_proto', 17)];

export function ct(zone: number, opts: Partial<CtActionIR> = {}): CtActionIR {
  return { kind: 'ct', zone, commit: false, force: false, table: null, alg: null, nat: false, ...opts };
}
export const out = (port: number): ActionIR => ({ kind: 'output', port });
export const drop: ActionIR = { kind: 'drop' };
export const controller: ActionIR = { kind: 'controller' };
export const gotoT = (table: number): ActionIR => ({ kind: 'goto', table, resubmit: false });
export const resubmit = (table: number): ActionIR => ({ kind: 'goto', table, resubmit: true });
export const ctClear: ActionIR = { kind: 'ct_clear' };

/** ct_state match from OVS's +/- form. */
export function cs(text: string): FlowMatchIR {
  const names = ['new', 'est', 'rel', 'rpl', 'inv', 'trk'];
  let value = 0;
  let mask = 0;
  for (const part of text.match(/[+-][a-z]+/g) ?? []) {
    const bit = 1 << names.indexOf(part.slice(1));
    mask |= bit;
    if (part[0] === '+') value |= bit;
  }
  return m('ct_state', value, mask);
}

export function policy(flows: Array<[number, number, FlowMatchIR[], ActionIR[]] | [number, number, FlowMatchIR[], ActionIR[], string[]]>, source = 'policy.flows'): PolicyIR {
  return {
    source,
    flows: flows.map(([table, priority, match, actions, unsupported], i): FlowIR => ({
      table,
      priority,
      line: i + 1,
      text: `table=${table},priority=${priority},…`,
      match,
      unsupportedMatch: unsupported ?? [],
      actions,
    })),
  };
}

/** The classic stateful firewall: port 1 inside, port 2 outside, zone 1. */
export const ALLOW_OUTBOUND = policy([
  [0, 100, IP, [ct(1, { table: 1 })]],
  [0, 100, IPV6, [ct(1, { table: 1 })]],
  [0, 0, [], [drop]],
  [1, 100, [m('in_port', 1), cs('+trk+new')], [ct(1, { commit: true }), out(2)]],
  [1, 100, [m('in_port', 1), cs('+trk+est')], [out(2)]],
  [1, 100, [m('in_port', 2), cs('+trk+est')], [out(1)]],
  [1, 0, [], [drop]],
]);
