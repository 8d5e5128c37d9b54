import { describe, expect, it } from 'vitest';
import { compileOffload } from '../../offload/generate.js';
import { findTable } from '../../offload/p4ast.js';
import { PUNT } from '../../offload/punt.js';

const FIREWALL = `# stateful firewall: port 1 inside, port 2 outside
table=0,priority=100,ip,actions=ct(zone=1,table=1)
table=0,priority=100,ipv6,actions=ct(zone=1,table=1)
table=0,priority=0,actions=drop
table=1,priority=100,in_port=1,tcp,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=100,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=100,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=90,ip,ct_state=+trk+new,ct_mark=0x1/0x1,actions=ct(commit,zone=1,exec(set_field:0x2/0x2->ct_mark)),output:2
table=1,priority=80,ftp,actions=ct(commit,zone=1,alg=ftp),output:2
table=1,priority=0,actions=drop
`;

describe('compileOffload (policy text through model/pipeline/parse.ts)', () => {
  it('compiles the parser AST: keys, priorities, actions, source lines in comments', () => {
    const p = compileOffload(FIREWALL.replace('ftp,', 'tcp,tp_dst=21,'), 'fw.flows');
    const t1 = findTable(p.program, 'stage1_table1')!.table;
    expect(t1.keys.map((k) => k.name)).toEqual(['in_port', 'dl_type', 'nw_proto', 'tp_dst', 'ct_state', 'ct_mark']);
    expect(t1.comment!.join('\n')).toContain('fw.flows:5: table=1,priority=100,in_port=1,tcp,ct_state=+trk+new,actions=ct(commit,zone=1),output:2');
    expect(p.p4).toContain('// fw.flows:5: table=1,priority=100,in_port=1,tcp,ct_state=+trk+new,actions=ct(commit,zone=1),output:2');
    const byLine = (l: number) => p.entries.find((e) => e.comment.startsWith(`fw.flows:${l}:`))!;
    expect(byLine(5).spec).toMatchObject({
      action: 'CtIngress.flow_ct_commit_output',
      priority: 101,
      match: { in_port: { value: 1n, mask: 0x1ffn }, dl_type: { value: 0x800n, mask: 0xffffn }, nw_proto: { value: 6n, mask: 0xffn }, ct_state: { value: 0x21n, mask: 0x21n } },
    });
    expect(byLine(8).spec).toMatchObject({ action: 'CtIngress.flow_general', params: { mark: 2n, mark_mask: 2n, zone: 1n } });
    expect(byLine(9).spec).toMatchObject({ action: 'CtIngress.flow_punt', params: { reason: BigInt(PUNT.ALG) } });
    expect(p.plan.diagnostics).toEqual([{ line: 9, message: expect.stringMatching(/slow path \(ALG\)/) }]);
  });

  it('default priority and CTO_FLOW_PARSE errors come from the parser', () => {
    const p = compileOffload('actions=output:3\n', 'x.flows');
    expect(p.entries[0]!.spec.priority).toBe(0x8000 + 1);
    expect(() => compileOffload('table=0,actions=frobnicate\n', 'bad.flows')).toThrow(expect.objectContaining({ code: 'CTO_FLOW_PARSE' }));
  });

  it('a config error names the key', () => {
    expect(() => compileOffload(FIREWALL, 'fw.flows', { tableSizes: { conntrack: 0 } })).toThrow(/tableSizes\.conntrack: must be in 1\.\./);
  });
});
