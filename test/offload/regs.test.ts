/**
 * Registers, zones from a field and conjunctions in the offload compiler (docs/policy-language.md
 * §5, docs/offload-design.md punt table): register and metadata matches are keys on metadata the
 * program sets to 0 (nothing writes them in hardware); writes, conjunctions and zones from a
 * field are static punts with their own reasons, named in generate's diagnostics.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { compileOffload } from '../../offload/generate.js';
import { PUNT } from '../../offload/punt.js';

const POLICY = `table=0,priority=10,in_port=1,ip,actions=load:0x5->NXM_NX_REG6[],resubmit(,1)
table=0,priority=5,ip,actions=ct(zone=7,table=2)
table=1,priority=10,ip,actions=ct(zone=NXM_NX_REG6[0..15],table=2)
table=2,priority=10,ip,nw_src=10.0.0.1,actions=conjunction(3,1/2)
table=2,priority=10,udp,tp_dst=53,actions=conjunction(3,2/2)
table=2,priority=5,conj_id=3,ip,actions=output:2
table=2,priority=4,reg6=5,actions=output:3
table=2,priority=3,metadata=0x1,actions=output:4
table=2,priority=2,ip,actions=move:NXM_OF_IN_PORT[]->NXM_NX_REG1[0..15],output:5
table=2,priority=1,actions=output:6
table=0,priority=8,in_port=2,ip,actions=ct(zone=NXM_NX_REG6[0..15],table=2)
`;

describe('offload: registers, zones from a field, conjunctions', () => {
  const p = compileOffload(POLICY, 'regs.flows');
  const reason = (line: number): string | undefined => p.plan.diagnostics.find((d) => d.line === line)?.message;

  it('each construct is a static punt with its own reason, named with its line in the diagnostics', () => {
    expect(reason(1)).toMatch(/slow path \(REGISTERS\): action set_field:0x5\/0xffffffff->reg6 is not offloadable/);
    expect(reason(2)).toBeUndefined();
    expect(reason(3)).toMatch(/slow path \(ZONE_FROM_FIELD\): ct\(zone=NXM_NX_REG6\[0\.\.15\]\) takes the zone from a field/);
    expect(reason(4)).toMatch(/slow path \(CONJUNCTION\): action conjunction\(3,1\/2\) is not offloadable/);
    expect(reason(5)).toMatch(/slow path \(CONJUNCTION\)/);
    expect(reason(6)).toMatch(/slow path \(CONJUNCTION\): match on conj_id is not offloadable/);
    expect(reason(7)).toBeUndefined(); // reg6=5: a hardware key
    expect(reason(8)).toBeUndefined(); // metadata=0x1: a hardware key
    expect(reason(9)).toMatch(/slow path \(REGISTERS\): action move:NXM_OF_IN_PORT\[\]->NXM_NX_REG1\[0\.\.15\] is not offloadable/);
    expect(reason(10)).toBeUndefined();
    expect(reason(11)).toMatch(/slow path \(ZONE_FROM_FIELD\)/);
  });

  it('the punt entries carry the reason codes the controller counts', () => {
    const byLine = (l: number) => p.entries.filter((e) => e.comment.startsWith(`regs.flows:${l}:`));
    for (const [line, code] of [[1, PUNT.REGISTERS], [11, PUNT.ZONE_FROM_FIELD], [4, PUNT.CONJUNCTION], [6, PUNT.CONJUNCTION], [9, PUNT.REGISTERS]] as const) {
      const es = byLine(line);
      expect(es.length, `line ${line}`).toBeGreaterThan(0);
      for (const e of es) expect(e.spec).toMatchObject({ action: 'CtIngress.flow_punt', params: { reason: BigInt(code) } });
    }
    // Register and metadata matches are keys on zero-initialised metadata.
    const l7 = byLine(7);
    expect(l7.length).toBeGreaterThan(0);
    for (const e of l7) expect(e.spec).toMatchObject({ action: 'CtIngress.flow_output', match: { reg6: { value: 5n, mask: 0xffffffffn } } });
    for (const e of byLine(8)) expect(e.spec).toMatchObject({ action: 'CtIngress.flow_output', match: { metadata: { value: 1n, mask: 0xffffffffffffffffn } } });
    expect(p.p4).toMatch(/meta\.fk\.reg6 = 0;/);
    expect(p.p4).toMatch(/meta\.fk\.metadata = 0;/);
    expect(p.p4).not.toMatch(/meta\.fk\.reg1 = 0;/); // keyed nowhere
    // The program declares the new reasons (one home: offload/punt.ts).
    expect(p.p4).toMatch(/const bit<8> PUNT_REGISTERS = 14;/);
    expect(p.p4).toMatch(/const bit<8> PUNT_CONJUNCTION = 15;/);
    expect(p.p4).toMatch(/const bit<8> PUNT_ZONE_FROM_FIELD = 16;/);
  });

  it('the Neutron and OVN examples compile, every register/conjunction flow named', () => {
    for (const name of ['neutron-sg', 'ovn-acl']) {
      const text = readFileSync(new URL(`../../examples/${name}.flows`, import.meta.url), 'utf8');
      const q = compileOffload(text, `${name}.flows`);
      const reasons = new Set(q.plan.diagnostics.map((d) => /slow path \((\w+)\)/.exec(d.message)?.[1]));
      expect(reasons, name).toContain('REGISTERS');
      expect(reasons, name).toContain('CONJUNCTION');
    }
  });
});
