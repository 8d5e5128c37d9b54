/**
 * harness/targets/ovs/rewrite.ts: the OVS plan is a rewrite of the model's parsed policy,
 * printed with the model's printer. No OVS needed here (test/harness/targets/ovs.test.ts runs
 * the plans on ovs-vswitchd).
 */
import { describe, expect, it } from 'vitest';
import { INSTRUMENTATION_COOKIE, planOvsPolicy, SENTINEL_ETHERTYPE } from '../../../../harness/targets/ovs/rewrite.js';
import { type Flow, formatFlow, parsePolicy } from '../../../../model/pipeline/index.js';

const plan = (text: string, source = 'p.flows') => planOvsPolicy(parsePolicy(text, source));
/** A flow without positions and source text (what parse(format(f)) preserves). */
const shape = (f: Flow) => ({ ...f, pos: undefined, text: undefined, match: f.match.map((m) => ({ ...m, pos: undefined })), actions: f.actions.map((a) => ({ ...a, pos: undefined, ...(a.kind === 'ct' ? { exec: a.exec.map((w) => ({ ...w, pos: undefined })) } : {}) })) });

describe('planOvsPolicy', () => {
  const policy = [
    'table=0,priority=10,ip,actions=ct(table=1,zone=5)', //                        line 1
    '# comment', //                                                               line 2
    'table=1,priority=10,ip,in_port=1,actions=ct(commit,zone=5,table=3),output:2', // line 3
    'table=3 priority=1 ip actions=ct(table=1,zone=6),7', //                        line 4
    'table=3,priority=0,actions=\\', //                                             line 5
    '  controller(userdata=01.02),in_port', //                                      line 6
  ].join('\n');

  it('routes every ct(table=T) through one trampoline per T and keeps user flows on their lines', () => {
    const p = plan(policy);
    expect([...p.trampolines]).toEqual([
      [1, 253],
      [3, 252],
    ]);
    const lines = p.flowsText.split('\n');
    // Line 6 continues line 5's flow: the instrumentation starts right after the last user flow.
    expect(lines.slice(0, 5)).toEqual([
      'table=0,priority=10,ip,actions=ct(zone=5,table=253)',
      '',
      'table=1,priority=10,ip,in_port=1,actions=ct(commit,zone=5,table=252),output:2',
      'table=3,priority=1,ip,actions=ct(zone=6,table=253),output:7',
      'table=3,priority=0,actions=controller(userdata=01.02),in_port',
    ]);
    expect(p.userLines).toBe(5);
    const instr = lines.slice(5).filter(Boolean);
    expect(instr).toEqual([
      'table=0,priority=65535,cookie=0xc70ff10ad0000000,dl_src=02:c7:0f:00:00:02,dl_dst=02:c7:0f:00:00:01,dl_type=0x88b5,actions=controller(userdata=43.54.4f.53)',
      'table=253,priority=0,cookie=0xc70ff10ad0000000,actions=controller(userdata=43.54.4f.4c.01),resubmit(,1)',
      'table=252,priority=0,cookie=0xc70ff10ad0000000,actions=controller(userdata=43.54.4f.4c.03),resubmit(,3)',
    ]);
    expect([...p.ports].sort((a, b) => a - b)).toEqual([1, 2, 7]);
  });

  it('round trip: the text OVS gets parses back with our parser to the planned flows', () => {
    const text = [
      'timeout_policy fast udp_first=5',
      'zone_limit zone=3,limit=10',
      'table=0,priority=10,ipv6,actions=ct(table=2,zone=3)',
      'table=0,priority=10,tcp,nw_src=10.0.0.0/8,tp_dst=80,actions=ct(table=2,zone=3)',
      'table=2,priority=10,udp,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=3,timeout=fast,exec(set_field:0x1/0xff->ct_mark)),output:2',
      'table=2,priority=10,ct_state=+est+trk,ct_mark=0x1/0xff,actions=goto_table:4',
      'table=4,priority=5,cookie=0x9,actions=ct_clear,resubmit(,5)',
      'table=5,actions=drop',
    ].join('\n');
    const src = parsePolicy(text, 'rt.flows');
    const p = planOvsPolicy(src);
    const back = parsePolicy(p.flowsText, '<ovs>');
    expect(back.warnings).toEqual([]);
    expect(back.directives).toEqual([]);
    expect(back.flows.map(shape)).toEqual(p.flows.map(shape));
    // Every flow is where the plan put it, so OVS's `-:N:` names the user's line.
    expect(back.flows.map((f) => f.pos.line)).toEqual(p.flows.map((f) => f.pos.line));
    expect(p.flows.slice(0, src.flows.length).map((f) => f.pos.line)).toEqual(src.flows.map((f) => f.pos.line));

    // The expected instrumented flows, stated directly.
    const tt = p.trampolines.get(2)!;
    expect(tt).toBe(253);
    const user = back.flows.slice(0, src.flows.length);
    user.forEach((f, i) => {
      const orig = src.flows[i]!;
      expect(f.match).toEqual(orig.match.map((m, j) => ({ ...m, pos: f.match[j]!.pos })));
      expect(f.actions.map((a) => a.kind)).toEqual(orig.actions.map((a) => a.kind));
      f.actions.forEach((a, j) => {
        const o = orig.actions[j]!;
        if (a.kind !== 'ct' || o.kind !== 'ct') return;
        expect(a.table).toBe(o.table === null ? null : p.trampolines.get(o.table));
        expect(a.timeout).toBeNull(); // mapped to the zone, not given to OVS
        expect([a.zone, a.commit, a.exec.map((w) => [w.value, w.mask])]).toEqual([o.zone, o.commit, o.exec.map((w) => [w.value, w.mask])]);
      });
    });
    expect([...p.zoneTimeouts]).toEqual([[3, { udp_first: 5 }]]);
    expect([...p.zoneLimits]).toEqual([[3, 10]]);
    const [sentinel, tramp] = back.flows.slice(src.flows.length);
    expect(sentinel).toMatchObject({ table: 0, priority: 65535, cookie: INSTRUMENTATION_COOKIE });
    expect(sentinel!.match.find((m) => m.name === 'dl_type')?.value).toBe(BigInt(SENTINEL_ETHERTYPE));
    expect(tramp).toMatchObject({ table: tt, priority: 0, cookie: INSTRUMENTATION_COOKIE, match: [] });
    expect(tramp!.actions).toMatchObject([{ kind: 'controller', args: 'userdata=43.54.4f.4c.02' }, { kind: 'resubmit', table: 2 }]);
    expect(back.flows).toHaveLength(src.flows.length + 2);
  });

  it('prints what the parser kept: the effective flow of an add-flows replacement', () => {
    const p = plan('ip,actions=output:1\nip,actions=output:2');
    expect(p.flowsText.split('\n').slice(0, 2)).toEqual(['', 'table=0,priority=32768,ip,actions=output:2']);
  });

  it('skips tables the policy already uses when picking trampolines', () => {
    const p = plan('table=253,actions=drop\ntable=0,ip,actions=ct(table=252)\ntable=1,actions=resubmit(,251)', 's');
    expect(p.trampolines.get(252)).toBe(250);
  });

  it('maps ct(timeout=NAME) to the zone and removes it from the action', () => {
    const p = plan('timeout_policy fast udp_first=5,tcp_established=20\ntable=0,ip,actions=ct(commit,zone=0x7,timeout=fast),output:2', 'tp.flows');
    expect(p.flowsText.split('\n')[1]).toBe('table=0,priority=32768,ip,actions=ct(commit,zone=7),output:2');
    expect([...p.zoneTimeouts]).toEqual([[7, { udp_first: 5, tcp_established: 20 }]]);
  });

  it('rejects timeout mappings OVS cannot reproduce, naming line and column', () => {
    const tp = 'timeout_policy a udp_first=5\ntimeout_policy b udp_first=6\n';
    expect(() => plan(`${tp}ip,actions=ct(commit,zone=1,timeout=a)\nip,in_port=2,actions=ct(commit,zone=1,timeout=b)`, 'x')).toThrow(
      expect.objectContaining({ code: 'CTO_OVS_UNSUPPORTED', message: expect.stringMatching(/^x:4:22: zone 1 commits with timeout policy "b" here and "a" at x:3:12/) }),
    );
    expect(() => plan(`${tp}ip,actions=ct(commit,zone=1,timeout=a)\nip,in_port=2,actions=ct(commit,zone=1)`, 'x')).toThrow(
      expect.objectContaining({ code: 'CTO_OVS_UNSUPPORTED', message: expect.stringMatching(/^x:4:22: a commit without timeout= in zone 1/) }),
    );
    // A lookup without commit creates nothing: it may leave timeout= out.
    expect(plan(`${tp}ip,actions=ct(commit,zone=1,timeout=a)\nip,in_port=2,actions=ct(zone=1)`, 'x').zoneTimeouts.get(1)).toEqual({ udp_first: 5 });
  });

  it('reads zone limit and ipf directives from the parsed policy', () => {
    const p = plan('zone_limit default=10\nzone_limit zone=3,limit=0\nipf v6=off\nip,actions=drop', 'z');
    expect(p.defaultLimit).toBe(10);
    expect([...p.zoneLimits]).toEqual([[3, 0]]);
    expect(p.ipfDisabled).toEqual(['v6']);
    expect(p.flowsText.split('\n').slice(0, 4)).toEqual(['', '', '', 'table=0,priority=32768,ip,actions=drop']);
  });

  it('refuses what would collide with the instrumentation', () => {
    expect(() => plan('table=0,priority=65535,actions=drop', 'r')).toThrow(
      expect.objectContaining({ code: 'CTO_OVS_UNSUPPORTED', message: expect.stringMatching(/^r:1:1: priority 65535 in table 0/) }),
    );
    for (const ud of ['userdata=43.54.4f.4c.01', 'max_len=9,userdata=43544F']) {
      expect(() => plan(`ip,actions=controller(${ud})`, 'r')).toThrow(
        expect.objectContaining({ code: 'CTO_OVS_UNSUPPORTED', message: expect.stringMatching(/^r:1:12: controller userdata starting 43.54.4f/) }),
      );
    }
    expect(plan('ip,actions=controller(userdata=43.54.40)', 'r').flowsText).toMatch(/^table=0,priority=32768,ip,actions=controller\(userdata=43\.54\.40\)\n/);
  });

  it('formatFlow prints the instrumentation the way the plan text has it', () => {
    const p = plan('table=0,ip,actions=ct(table=9)');
    expect(p.flows.map((f) => formatFlow(f, { ovs: true })).join('\n') + '\n').toBe(p.flowsText);
  });
});
