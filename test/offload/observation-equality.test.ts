/**
 * The observation/production check itself (test/offload/observation-equality.ts) on small
 * hand-made bmv2 JSON pairs in p4c's shape: what the erasure removes and resolves, and that it
 * rejects observation that reads into, or steers, production state. The real programs are
 * checked with p4c in observation-equality-{a,b}.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { equalButObservation } from './observation-equality.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
const f = (h: string, n: string) => ({ type: 'field', value: [h, n] });
const hex = (v: string) => ({ type: 'hexstr', value: v });
const assign = (h: string, n: string, v: any) => ({ op: 'assign', parameters: [f(h, n), v] });
const straight = (name: string, action: string, next: string | null) => ({
  name, id: 0, key: [], match_type: 'exact', type: 'simple', max_size: 1024, with_counters: false, support_timeout: false, direct_meters: null,
  action_ids: [0], actions: [action], base_default_next: next, next_tables: { [action]: next }, default_entry: { action_id: 0, action_const: true, action_data: [], action_entry_const: true },
});
const cond = (name: string, expression: any, t: string | null, e: string | null) => ({ name, id: 0, expression: { type: 'expression', value: expression }, true_next: t, false_next: e });
const valid = (h: string) => ({ op: 'd2b', left: null, right: f(h, '$valid$') });

function production(): any {
  return {
    header_types: [
      { name: 'scalars_0', id: 0, fields: [['meta._run0', 1, false], ['meta._out_port1', 9, false]] },
      { name: 'ethernet_t', id: 1, fields: [['dst', 48, false]] },
    ],
    headers: [{ name: 'scalars', id: 0, header_type: 'scalars_0', metadata: true }, { name: 'ethernet', id: 1, header_type: 'ethernet_t', metadata: false }],
    header_stacks: [],
    parsers: [{ name: 'parser', id: 0, init_state: 'start', parse_states: [
      { name: 'start', id: 0, parser_ops: [], transition_key: [], transitions: [{ type: 'default', value: null, mask: null, next_state: 'parse_ethernet' }] },
      { name: 'parse_ethernet', id: 1, parser_ops: [{ op: 'extract', parameters: [{ type: 'regular', value: 'ethernet' }] }], transition_key: [], transitions: [{ type: 'default', value: null, mask: null, next_state: null }] },
    ] }],
    deparsers: [{ name: 'deparser', id: 0, order: ['ethernet'], primitives: [] }],
    actions: [
      { name: 'act', id: 0, runtime_data: [], primitives: [assign('scalars', 'meta._run0', hex('0x01'))] },
      { name: 'act_0', id: 1, runtime_data: [], primitives: [{ op: 'mark_to_drop', parameters: [{ type: 'header', value: 'standard_metadata' }] }] },
      { name: 'CtIngress.fwd', id: 2, runtime_data: [{ name: 'port', bitwidth: 9 }], primitives: [assign('scalars', 'meta._out_port1', { type: 'runtime_data', value: 0 })] },
    ],
    pipelines: [
      { name: 'ingress', id: 0, init_table: 'tbl_act', tables: [
        straight('tbl_act', 'act', 'CtIngress.t'),
        { ...straight('CtIngress.t', 'CtIngress.fwd', 'node_3'), key: [{ match_type: 'exact', name: 'dst', target: ['ethernet', 'dst'], mask: null }], default_entry: { action_id: 2, action_const: false, action_data: ['0x0'], action_entry_const: false } },
        straight('tbl_act_0', 'act_0', null),
      ], action_profiles: [], conditionals: [cond('node_3', { op: '==', left: f('scalars', 'meta._out_port1'), right: hex('0x00') }, 'tbl_act_0', null)] },
      { name: 'egress', id: 1, init_table: null, tables: [], action_profiles: [], conditionals: [] },
    ],
    checksums: [],
    errors: [['NoError', 0]],
    program: 'ctoffload.p4',
  };
}

/** The observation build of `production()`: a probe, a meta.obs field, an input-probe branch, an egress probe. */
function observation(mutate: (j: any) => void = () => undefined): any {
  const j = production();
  j.header_types[0].fields.push(['meta._obs_lookups2', 8, false]);
  j.header_types.push({ name: 'probe_t', id: 2, fields: [['flags', 8, false]] });
  j.headers.splice(1, 0, { name: 'probe', id: 2, header_type: 'probe_t', metadata: false });
  const ps = j.parsers[0].parse_states;
  ps[0].transitions[0].next_state = 'check_probe';
  ps.push(
    { name: 'check_probe', id: 2, parser_ops: [], transition_key: [{ type: 'lookahead', value: [0, 24] }], transitions: [{ type: 'hexstr', value: '0x637402', mask: null, next_state: 'parse_probe' }, { type: 'default', value: null, mask: null, next_state: 'parse_ethernet' }] },
    { name: 'parse_probe', id: 3, parser_ops: [{ op: 'extract', parameters: [{ type: 'regular', value: 'probe' }] }], transition_key: [], transitions: [{ type: 'default', value: null, mask: null, next_state: 'parse_ethernet' }] },
  );
  j.deparsers[0].order = ['probe', 'ethernet'];
  // ingress: the init action also zeroes meta.obs (erased); an ECHO-like branch on the input probe
  j.actions[0].primitives.push(assign('scalars', 'meta._obs_lookups2', hex('0x00')));
  j.actions.push(
    { name: 'act_1', id: 3, runtime_data: [], primitives: [assign('scalars', 'meta._run0', hex('0x00'))] },
    { name: 'act_2', id: 4, runtime_data: [], primitives: [{ op: 'add_header', parameters: [{ type: 'header', value: 'probe' }] }, assign('probe', 'flags', hex('0x01'))] },
    { name: 'act_3', id: 5, runtime_data: [], primitives: [assign('probe', 'flags', hex('0x03'))] },
  );
  const ing = j.pipelines[0];
  ing.tables[0].base_default_next = 'node_p';
  ing.tables[0].next_tables = { act: 'node_p' };
  ing.tables.push(straight('tbl_act_1', 'act_1', 'CtIngress.t'));
  ing.conditionals.push(cond('node_p', valid('probe'), 'tbl_act_1', 'CtIngress.t'));
  // egress: probe on every output, flags chosen by a production field (both branches observation only)
  const eg = j.pipelines[1];
  eg.init_table = 'tbl_act_2';
  eg.tables.push(straight('tbl_act_2', 'act_2', 'node_e'), straight('tbl_act_3', 'act_3', null));
  eg.conditionals.push(cond('node_e', { op: '==', left: f('scalars', 'meta._run0'), right: hex('0x01') }, 'tbl_act_3', null));
  mutate(j);
  return j;
}

const P4INFO = Uint8Array.of(1, 2, 3);
const check = (obs: any, p4info = P4INFO) => equalButObservation({ json: obs, p4info }, { json: production(), p4info: P4INFO }, ['CtIngress.t']);

describe('equalButObservation (hand-made bmv2 JSON)', () => {
  it('accepts an observation build: erases writes, resolves the input-probe branch, collapses observation-only branches, skips check_probe', () => {
    const r = check(observation());
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.erased).toMatchObject({ conditionalsResolved: 1, conditionalsCollapsed: 1, parserStates: 1, headers: 1, scalarFields: 1 });
    expect(r.erased.primitives).toBe(4);
  });

  it('rejects a P4Info that differs', () => {
    expect(check(observation(), Uint8Array.of(1, 2, 4)).problems.join('\n')).toMatch(/P4Info/);
  });

  it('rejects production state written from observation state', () => {
    const r = check(observation((j) => j.actions[1].primitives.push(assign('scalars', 'meta._out_port1', f('scalars', 'meta._obs_lookups2')))));
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/straight-line code differs/);
  });

  it('rejects observation state steering production code', () => {
    const r = check(
      observation((j) => {
        // the drop now happens only when meta.obs says so
        const ing = j.pipelines[0];
        ing.tables.find((t: any) => t.name === 'CtIngress.t').base_default_next = 'node_o';
        ing.tables.find((t: any) => t.name === 'CtIngress.t').next_tables = { 'CtIngress.fwd': 'node_o' };
        ing.conditionals.push(cond('node_o', { op: '==', left: f('scalars', 'meta._obs_lookups2'), right: hex('0x00') }, 'node_3', null));
      }),
    );
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/observation state steers production code/);
  });

  it('rejects an ingress that makes the probe valid (a plain input would then carry one)', () => {
    const r = check(observation((j) => j.actions[0].primitives.push({ op: 'add_header', parameters: [{ type: 'header', value: 'probe' }] })));
    expect(r.problems.join('\n')).toMatch(/makes probe valid/);
  });

  it('rejects a production header or parser change hidden next to the probe', () => {
    expect(check(observation((j) => (j.deparsers[0].order = ['ethernet', 'probe', 'ethernet']))).ok).toBe(false);
    expect(check(observation((j) => (j.parsers[0].parse_states[1].transitions[0].next_state = 'parse_probe'))).ok).toBe(false);
  });
});
