import { describe, expect, it } from 'vitest';
import { logicalLines, planOvsPolicy, splitTopLevel } from '../../../../harness/targets/ovs/rewrite.js';

describe('splitTopLevel / logicalLines', () => {
  it('splits at top-level separators only', () => {
    expect(splitTopLevel('ct(commit,zone=1,exec(set_field:1->ct_mark)),output:2', ',')).toEqual([
      'ct(commit,zone=1,exec(set_field:1->ct_mark))',
      'output:2',
    ]);
    expect(splitTopLevel('table=1, priority=5 ip', ', ')).toEqual(['table=1', 'priority=5', 'ip']);
  });
  it('drops comments and joins continuation lines, keeping the first line number', () => {
    const got = logicalLines('# c\n\ntable=0,\\\n actions=drop # x\nip,actions=drop');
    expect(got.map((l) => ({ ...l, text: l.text.replace(/\s+/g, ' ') }))).toEqual([
      { line: 3, text: 'table=0, actions=drop' },
      { line: 5, text: 'ip,actions=drop' },
    ]);
  });
});

describe('planOvsPolicy', () => {
  const policy = [
    'table=0,priority=10,ip,actions=ct(table=1,zone=5)', // line 1
    '# comment', //                                        line 2
    'table=1,priority=10,ip,in_port=1,actions=ct(commit,zone=5,table=3),output:2', // line 3
    'table=3 priority=1 actions=clone(ct(table=1,zone=6)),7', // line 4
  ].join('\n');

  it('routes every ct(table=T) through one trampoline per T and keeps user lines in place', () => {
    const p = planOvsPolicy(policy, 'p.flows');
    expect([...p.trampolines]).toEqual([
      [1, 253],
      [3, 252],
    ]);
    const lines = p.flowsText.split('\n');
    expect(lines[0]).toBe('table=0,priority=10,ip,actions=ct(table=253,zone=5)');
    expect(lines[1]).toBe('');
    expect(lines[2]).toBe('table=1,priority=10,ip,in_port=1,actions=ct(commit,zone=5,table=252),output:2');
    expect(lines[3]).toBe('table=3,priority=1,actions=clone(ct(table=253,zone=6)),7');
    expect(p.userLines).toBe(4);
    const instr = lines.slice(4).filter(Boolean);
    expect(instr).toContain(
      'table=253,priority=0,cookie=0xc70ff10ad0000000,actions=controller(userdata=43.54.4f.4c.01),resubmit(,1)',
    );
    expect(instr).toContain(
      'table=252,priority=0,cookie=0xc70ff10ad0000000,actions=controller(userdata=43.54.4f.4c.03),resubmit(,3)',
    );
    expect(instr.some((l) => l.startsWith('table=0,priority=65535') && l.includes('dl_type=0x88b5'))).toBe(true);
    expect([...p.ports].sort((a, b) => a - b)).toEqual([1, 2, 7]);
  });

  it('skips tables the policy already uses when picking trampolines', () => {
    const p = planOvsPolicy('table=253,actions=drop\ntable=0,ip,actions=ct(table=252)\ntable=1,actions=resubmit(,251)', 's');
    expect(p.trampolines.get(252)).toBe(250);
  });

  it('maps ct(timeout=NAME) to the zone and removes it from the action', () => {
    const p = planOvsPolicy(
      'timeout_policy fast udp_first=5 tcp_established=20\ntable=0,ip,actions=ct(commit,zone=0x7,timeout=fast),output:2',
      'tp.flows',
    );
    expect(p.flowsText.split('\n')[1]).toBe('table=0,ip,actions=ct(commit,zone=0x7),output:2');
    expect([...p.zoneTimeouts]).toEqual([[7, { udp_first: 5, tcp_established: 20 }]]);
  });

  it('rejects timeout mappings OVS cannot reproduce', () => {
    const tp = 'timeout_policy a udp_first=5\ntimeout_policy b udp_first=6\n';
    expect(() => planOvsPolicy(`${tp}ip,actions=ct(commit,zone=1,timeout=a)\nip,in_port=2,actions=ct(commit,zone=1,timeout=b)`, 'x')).toThrow(
      expect.objectContaining({ code: 'CTO_OVS_UNSUPPORTED', message: expect.stringMatching(/^x:4: zone 1 commits with timeout policy "b" here and "a" at line 3/) }),
    );
    expect(() => planOvsPolicy(`${tp}ip,actions=ct(commit,zone=1,timeout=a)\nip,in_port=2,actions=ct(commit,zone=1)`, 'x')).toThrow(
      expect.objectContaining({ code: 'CTO_OVS_UNSUPPORTED', message: expect.stringMatching(/^x:4: a commit without timeout= in zone 1/) }),
    );
    expect(() => planOvsPolicy(`${tp}ip,actions=ct(commit,zone=NXM_NX_REG0[0..15],timeout=a)`, 'x')).toThrow(
      expect.objectContaining({ code: 'CTO_OVS_UNSUPPORTED', message: expect.stringMatching(/zone taken from a field/) }),
    );
    expect(() => planOvsPolicy('ip,actions=ct(commit,timeout=nope)', 'x')).toThrow(
      expect.objectContaining({ code: 'CTO_OVS_UNSUPPORTED', message: expect.stringMatching(/no timeout policy named "nope"/) }),
    );
  });

  it('reads zone limit directives', () => {
    const p = planOvsPolicy('zone_limit default=10\nzone-limit zone=3 limit=0\nip,actions=drop', 'z');
    expect(p.defaultLimit).toBe(10);
    expect([...p.zoneLimits]).toEqual([[3, 0]]);
    expect(() => planOvsPolicy('zone_limit zone=3', 'z')).toThrow(expect.objectContaining({ code: 'CTO_FLOW_PARSE' }));
  });

  it('refuses what would collide with the instrumentation', () => {
    expect(() => planOvsPolicy('table=0,priority=65535,actions=drop', 'r')).toThrow(
      expect.objectContaining({ code: 'CTO_OVS_UNSUPPORTED', message: expect.stringMatching(/^r:1: priority 65535 in table 0/) }),
    );
    expect(() => planOvsPolicy('ip,actions=controller(userdata=43.54.4f.4c.01)', 'r')).toThrow(
      expect.objectContaining({ code: 'CTO_OVS_UNSUPPORTED' }),
    );
    expect(() => planOvsPolicy('ip,priority=1', 'r')).toThrow(expect.objectContaining({ code: 'CTO_FLOW_PARSE' }));
  });
});
