import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../model/pipeline/parse.js';
import { policyToIR } from '../../offload/from-policy.js';

describe('policyToIR', () => {
  it('maps matches by OVS name, keeps ct tuple fields aside, merges exec writes', () => {
    const ir = policyToIR(
      parsePolicy(
        [
          'table=0,priority=5,tcp,ct_state=+trk+est,ct_nw_src=10.0.0.1,actions=ct(commit,zone=2,exec(set_field:0x1/0x1->ct_mark,set_field:0x4/0x4->ct_mark,set_field:0x8->ct_label)),output:3',
          'table=1,in_port=4,actions=in_port',
          'table=1,priority=1,actions=resubmit(,2),goto_table:3',
        ].join('\n'),
        'p.flows',
      ),
    );
    const [f0, f1, f2] = ir.flows;
    expect(f0!.match.map((m) => m.field)).toEqual(['dl_type', 'nw_proto', 'ct_state']);
    expect(f0!.unsupportedMatch).toEqual(['ct_nw_src']);
    expect(f0!.actions[0]).toMatchObject({ kind: 'ct', zone: 2, commit: true, table: null, mark: { value: 5, mask: 5 }, label: { value: 8n, mask: (1n << 128n) - 1n } });
    expect(f0!.actions[1]).toEqual({ kind: 'output', port: 3 });
    expect(f0!.line).toBe(1);
    expect(f1!.actions[0]).toMatchObject({ kind: 'unsupported' });
    expect(f1!.priority).toBe(0x8000);
    expect(f2!.actions).toEqual([
      { kind: 'goto', table: 2, resubmit: true },
      { kind: 'goto', table: 3, resubmit: false },
    ]);
  });
});
