import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../offload/config.js';
import { compilePlan, OP, type Plan } from '../../offload/compile.js';
import { PUNT } from '../../offload/punt.js';
import { ALLOW_OUTBOUND, IP, controller, cs, ct, ctClear, drop, gotoT, m, out, policy, resubmit } from './ir-helpers.js';

const plan = (p: Parameters<typeof compilePlan>[0], cfg: Record<string, unknown> = {}): Plan => compilePlan(p, resolveConfig(cfg));
const flowAt = (pl: Plan, table: string, line: number) => pl.stageTables.find((t) => t.name === table)!.flows.find((f) => f.flow.line === line)!;

describe('compilePlan: stages and tables', () => {
  it('allow-outbound: two stages, one conntrack table, keys per policy table', () => {
    const pl = plan(ALLOW_OUTBOUND);
    expect(pl.stages).toBe(2);
    expect(pl.stageTables.map((t) => t.name)).toEqual(['stage0_table0', 'stage1_table1']);
    expect(pl.stageTables[0]!.keys).toEqual(['in_port', 'dl_type']);
    expect(pl.stageTables[1]!.keys).toEqual(['in_port', 'ct_state']);
    // The commit at stage 1 is in the zone the stage-0 lookup already hit: same-zone
    // shortcut, no second conntrack table.
    expect(pl.ctTables).toEqual([{ name: 'conntrack_s0', stage: 0, set: 'conntrack', zones: [1], size: 65536 }]);
    expect(pl.offloadedZones).toEqual([1]);
    expect(pl.diagnostics).toEqual([]);
  });

  it('compiles common action lists to the readable actions', () => {
    const pl = plan(ALLOW_OUTBOUND);
    expect(flowAt(pl, 'stage0_table0', 1).hw).toMatchObject({ action: 'flow_ct', params: { zone: 1n, next_table: 1n } });
    expect(flowAt(pl, 'stage0_table0', 3).hw.action).toBe('flow_drop');
    expect(flowAt(pl, 'stage1_table1', 4).hw).toMatchObject({ action: 'flow_ct_commit_output', params: { zone: 1n, port: 2n } });
    expect(flowAt(pl, 'stage1_table1', 6).hw).toMatchObject({ action: 'flow_output', params: { port: 1n } });
    // priority: OVS priority + 1 (P4Runtime needs > 0 on ternary tables)
    expect(flowAt(pl, 'stage0_table0', 3).priority).toBe(1);
    expect(flowAt(pl, 'stage1_table1', 4).priority).toBe(101);
  });

  it('flow_general carries flags for other supported lists', () => {
    const pl = plan(
      policy([
        [0, 10, IP, [ctClear, ct(3, { commit: true, table: 1, mark: { value: 5, mask: 0xff } }), controller]],
        [1, 10, [], [out(4), gotoT(2)]],
        [2, 10, [], [drop]],
      ]),
    );
    const g = flowAt(pl, 'stage0_table0', 1).hw;
    expect(g.action).toBe('flow_general');
    expect(g.params.flags).toBe(BigInt(OP.CLEAR | OP.CT | OP.COMMIT | OP.RECIRC | OP.EXEC_MARK | OP.CONTROLLER));
    expect(g.params).toMatchObject({ zone: 3n, next_table: 1n, mark: 5n, mark_mask: 0xffn, port: 510n });
    expect(flowAt(pl, 'stage1_table1', 2).hw.params.flags).toBe(BigInt(OP.OUTPUT | OP.GOTO));
    expect(pl.stages).toBe(3);
  });

  it('nested ct 2 deep: a conntrack table per stage for the zone looked up there', () => {
    const pl = plan(
      policy([
        [0, 10, IP, [ct(1, { table: 1 })]],
        [1, 10, [cs('+trk+est')], [ct(2, { table: 2 })]],
        [2, 10, [cs('+trk+est'), m('ct_zone', 2)], [out(2)]],
      ]),
    );
    expect(pl.stages).toBe(3);
    expect(pl.ctTables.map((t) => [t.name, t.zones])).toEqual([
      ['conntrack_s0', [1]],
      ['conntrack_s1', [2]],
    ]);
    expect(pl.stageTables.find((t) => t.name === 'stage2_table2')!.keys).toEqual(['in_port', 'ct_state', 'ct_zone']);
  });

  it('a table reached with and without a cached hit needs its own lookup', () => {
    const pl = plan(
      policy([
        [0, 10, [m('in_port', 1), ...IP], [ct(1, { table: 1 })]],
        [0, 5, IP, [gotoT(1)]],
        [1, 10, [], [ct(1, { commit: true }), out(3)]],
      ]),
    );
    expect(pl.ctTables.map((t) => t.name)).toEqual(['conntrack_s0', 'conntrack_s1']);
  });

  it('cycles are unrolled up to maxStages, then punted', () => {
    const pl = plan(
      policy([
        [0, 10, [], [gotoT(1)]],
        [1, 10, [], [resubmit(0)]],
      ]),
      { maxStages: 4 },
    );
    expect(pl.stages).toBe(4);
    expect(pl.stageTables.map((t) => t.name)).toEqual(['stage0_table0', 'stage1_table1', 'stage2_table0', 'stage3_table1']);
    expect(pl.stageTables[3]!.flows[0]!.hw).toMatchObject({ action: 'flow_punt', params: { reason: BigInt(PUNT.STAGE_LIMIT) } });
    expect(pl.stageTables[2]!.flows[0]!.hw.action).toBe('flow_goto');
    expect(pl.diagnostics.some((d) => /deeper than 4 stages/.test(d.message))).toBe(true);
  });

  it('a goto to an empty table leaves no P4 table for it (policy miss at run time)', () => {
    const pl = plan(policy([[0, 10, [], [gotoT(7)]]]));
    expect(pl.stages).toBe(2);
    expect(pl.stageTables.map((t) => t.name)).toEqual(['stage0_table0']);
  });

  it('zone sets split the conntrack tables; unlisted zones are not offloaded', () => {
    const p = policy([
      [0, 10, [m('in_port', 1), ...IP], [ct(1, { table: 1 })]],
      [0, 10, [m('in_port', 2), ...IP], [ct(2, { table: 1 })]],
      [0, 10, [m('in_port', 3), ...IP], [ct(3, { table: 1 })]],
      [1, 10, [cs('+trk+est')], [out(9)]],
    ]);
    const pl = plan(p, { zones: [1, 2], zoneSets: [{ name: 'tenant_a', zones: [1], size: 100 }, { name: 'tenant_b', zones: [2] }] });
    expect(pl.ctTables).toEqual([
      { name: 'tenant_a_s0', stage: 0, set: 'tenant_a', zones: [1], size: 100 },
      { name: 'tenant_b_s0', stage: 0, set: 'tenant_b', zones: [2], size: 65536 },
    ]);
    expect(flowAt(pl, 'stage0_table0', 3).hw).toMatchObject({ action: 'flow_punt', params: { reason: BigInt(PUNT.ZONE_NOT_OFFLOADED) } });
    expect(pl.offloadedZones).toEqual([1, 2]);
  });
});

describe('compilePlan: what is punted statically', () => {
  const cases: [string, Parameters<typeof policy>[0][number], keyof typeof PUNT][] = [
    ['nat', [0, 1, IP, [{ ...ct(1, { commit: true }), nat: true }, out(2)]], 'NAT'],
    ['force', [0, 1, IP, [ct(1, { commit: true, force: true }), out(2)]], 'ACTION'],
    ['alg', [0, 1, IP, [ct(1, { commit: true, alg: 'ftp' }), out(2)]], 'ALG'],
    ['zone from a field', [0, 1, IP, [ct(0, { zoneFromField: 'NXM_NX_REG0[0..15]' })]], 'ZONE_FROM_FIELD'],
    ['two outputs', [0, 1, [], [out(2), out(3)]], 'MULTI_OUTPUT'],
    ['output before ct', [0, 1, IP, [out(2), ct(1, { table: 1 })]], 'ACTION'],
    ['goto after ct(table=)', [0, 1, IP, [ct(1, { table: 1 }), gotoT(2)]], 'ACTION'],
    ['two ct()', [0, 1, IP, [ct(1, { commit: true }), ct(2, { table: 1 })]], 'ACTION'],
    ['resubmit not last', [0, 1, [], [resubmit(1), out(2)]], 'ACTION'],
    ['unknown action', [0, 1, [], [{ kind: 'unsupported', text: 'mod_dl_src:00:00:00:00:00:01' }]], 'ACTION'],
    ['register match', [0, 1, [], [out(2)], ['reg0']], 'REGISTERS'],
    ['conj_id match', [0, 1, [], [out(2)], ['conj_id', 'reg0']], 'CONJUNCTION'],
    ['register write', [0, 1, [], [{ kind: 'unsupported', text: 'set_field:0x1/0xff->reg0', reason: 'REGISTERS' }, out(2)]], 'REGISTERS'],
    ['conjunction clause', [0, 1, [], [{ kind: 'unsupported', text: 'conjunction(1,1/2)', reason: 'CONJUNCTION' }]], 'CONJUNCTION'],
    ['unsupported match', [0, 1, [], [out(2)], ['ct_nw_src']], 'ACTION'],
    ['output to the CPU port', [0, 1, [], [out(510)]], 'ACTION'],
    ['output beyond bmv2 ports', [0, 1, [], [out(600)]], 'ACTION'],
  ];
  for (const [name, flow, reason] of cases) {
    it(`${name} → ${reason}`, () => {
      const pl = plan(policy([flow]));
      const f = pl.stageTables[0]!.flows[0]!;
      expect(f.op.kind).toBe('punt');
      expect(f.hw).toMatchObject({ action: 'flow_punt', params: { reason: BigInt(PUNT[reason]) } });
      expect(pl.diagnostics.find((d) => d.line === 1)?.message).toMatch(new RegExp(`slow path \\(${reason}\\)`));
    });
  }

  it('exec mark/label writes compile (checked against the entry at run time)', () => {
    const pl = plan(policy([[0, 1, IP, [ct(1, { commit: true, mark: { value: 1, mask: 1 }, label: { value: 1n << 100n, mask: 1n << 100n } }), out(2)]]]));
    const hw = pl.stageTables[0]!.flows[0]!.hw;
    expect(hw.action).toBe('flow_general');
    expect(hw.params.flags! & BigInt(OP.EXEC_LABEL)).toBe(BigInt(OP.EXEC_LABEL));
    expect(hw.params.label).toBe(1n << 100n);
  });
});
