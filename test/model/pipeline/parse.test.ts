import { describe, expect, it } from 'vitest';
import { FlowParseError } from '../../../model/errors.js';
import {
  type Flow,
  type Policy,
  OFPP_IN_PORT,
  formatFlow,
  formatPolicy,
  parseFlow,
  parsePolicy,
} from '../../../model/pipeline/index.js';
import { shape } from './shape.js';

function field(f: Flow, name: string): { value: bigint; mask: bigint } | undefined {
  const m = f.match.find((x) => x.name === name);
  return m && { value: m.value, mask: m.mask };
}

/** Expects a FlowParseError at line:column whose message contains `text`. */
function expectError(src: string, line: number, column: number, text: string | RegExp): void {
  let err: unknown;
  try {
    parsePolicy(src, 'p.flows');
  } catch (e) {
    err = e;
  }
  expect(err, `no error for ${JSON.stringify(src)}`).toBeInstanceOf(FlowParseError);
  const fe = err as FlowParseError;
  expect(fe.code).toBe('CTO_FLOW_PARSE');
  expect(fe.message).toMatch(typeof text === 'string' ? new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : text);
  expect(`${fe.line}:${fe.column}`).toBe(`${line}:${column}`);
  expect(fe.message.startsWith(`p.flows:${line}:${column}: `)).toBe(true);
}

describe('parsePolicy: structure', () => {
  it('reads one flow per line, skips comments and blank lines, keeps positions', () => {
    const p = parsePolicy(
      ['# a comment', '', 'table=0,priority=10,ip,actions=ct(table=1,zone=5)   # trailing', '  table=1, priority=5 actions=output:2'].join('\n'),
      'x.flows',
    );
    expect(p.flows).toHaveLength(2);
    expect(p.flows[0]!.pos).toEqual({ line: 3, column: 1 });
    expect(p.flows[1]!.pos).toEqual({ line: 4, column: 3 });
    expect(p.flows[1]!.actions[0]!.pos).toEqual({ line: 4, column: 31 });
    expect(p.tables).toEqual([0, 1]);
    expect(p.flows[0]!.text).toBe('table=0,priority=10,ip,actions=ct(table=1,zone=5)');
  });

  it('defaults: table 0, priority 32768, no cookie', () => {
    const f = parseFlow('actions=drop');
    expect(f.table).toBe(0);
    expect(f.priority).toBe(32768);
    expect(f.cookie).toBeNull();
    expect(f.actions.map((a) => a.kind)).toEqual(['drop']);
  });

  it('joins backslash continuation lines', () => {
    const p = parsePolicy('table=1,ip,\\\n  actions=output:3\n');
    expect(p.flows).toHaveLength(1);
    expect(p.flows[0]!.actions[0]).toMatchObject({ kind: 'output', port: 3, pos: { line: 2, column: 11 } });
  });

  it('sorts tables and keeps the last of identical flows, with a warning', () => {
    const p = parsePolicy('table=3,priority=1,ip,actions=output:1\ntable=1,actions=drop\ntable=3,priority=1,ip,actions=output:2\n');
    expect(p.tables).toEqual([1, 3]);
    expect(p.flows.map((f) => f.pos.line)).toEqual([2, 3]);
    expect(p.warnings).toHaveLength(1);
    expect(p.warnings[0]!.pos.line).toBe(3);
    expect(p.warnings[0]!.message).toMatch(/line 1/);
  });

  it('an empty actions= is a drop', () => {
    expect(parseFlow('ip,actions=').actions.map((a) => a.kind)).toEqual(['drop']);
  });
});

describe('parsePolicy: match fields', () => {
  it('protocol shorthands set dl_type and nw_proto', () => {
    const cases: [string, number, number | undefined][] = [
      ['ip', 0x0800, undefined], ['ipv6', 0x86dd, undefined], ['tcp', 0x0800, 6], ['udp', 0x0800, 17],
      ['icmp', 0x0800, 1], ['icmp6', 0x86dd, 58], ['tcp6', 0x86dd, 6], ['udp6', 0x86dd, 17], ['arp', 0x0806, undefined],
    ];
    for (const [kw, dl, np] of cases) {
      const f = parseFlow(`${kw},actions=drop`);
      expect(field(f, 'dl_type')?.value, kw).toBe(BigInt(dl));
      expect(field(f, 'nw_proto')?.value, kw).toBe(np === undefined ? undefined : BigInt(np));
    }
  });

  it('dl_type= and nw_proto= are the long forms', () => {
    const a = parseFlow('dl_type=0x0800,nw_proto=6,actions=drop');
    const b = parseFlow('tcp,actions=drop');
    expect(shape(a)).toEqual(shape(b));
  });

  it('in_port, addresses with CIDR and dotted masks, ports with masks', () => {
    const f = parseFlow('in_port=3,tcp,nw_src=10.1.0.0/16,nw_dst=192.168.1.1/255.255.255.0,tp_src=0x1000/0xf000,tp_dst=80,actions=drop');
    expect(field(f, 'in_port')).toEqual({ value: 3n, mask: 0xffffffffn });
    expect(field(f, 'nw_src')).toEqual({ value: 0x0a010000n, mask: 0xffff0000n });
    expect(field(f, 'nw_dst')).toEqual({ value: 0xc0a80100n, mask: 0xffffff00n });
    expect(field(f, 'tp_src')).toEqual({ value: 0x1000n, mask: 0xf000n });
    expect(field(f, 'tp_dst')).toEqual({ value: 80n, mask: 0xffffn });
  });

  it('ipv6_src/ipv6_dst with prefixes', () => {
    const f = parseFlow('ipv6,ipv6_src=2001:db8::/32,ipv6_dst=::1,actions=drop');
    expect(field(f, 'ipv6_src')).toEqual({ value: 0x20010db8n << 96n, mask: 0xffffffffn << 96n });
    expect(field(f, 'ipv6_dst')).toEqual({ value: 1n, mask: (1n << 128n) - 1n });
  });

  it('dl_src/dl_dst with masks, dl_vlan, icmp_type/code, tcp_flags', () => {
    const f = parseFlow('dl_src=00:11:22:33:44:55/ff:ff:ff:00:00:00,dl_dst=02:00:00:00:00:01,dl_vlan=10,actions=drop');
    expect(field(f, 'dl_src')).toEqual({ value: 0x001122000000n, mask: 0xffffff000000n });
    expect(field(f, 'dl_dst')).toEqual({ value: 0x020000000001n, mask: 0xffffffffffffn });
    expect(field(f, 'dl_vlan')).toEqual({ value: 0x100an, mask: 0x1fffn });
    expect(field(parseFlow('dl_vlan=0xffff,actions=drop'), 'dl_vlan')).toEqual({ value: 0n, mask: 0xffffn });
    const i = parseFlow('icmp,icmp_type=8,icmp_code=0,actions=drop');
    expect(field(i, 'tp_src')!.value).toBe(8n);
    expect(field(i, 'tp_dst')!.value).toBe(0n);
    const t = parseFlow('tcp,tcp_flags=+syn-ack,actions=drop');
    expect(field(t, 'tcp_flags')).toEqual({ value: 0x002n, mask: 0x012n });
    expect(field(parseFlow('tcp,tcp_flags=0x02/0x12,actions=drop'), 'tcp_flags')).toEqual({ value: 2n, mask: 0x12n });
  });

  it('ct_state in all OVS forms, ct_zone, ct_mark/ct_label with masks', () => {
    expect(field(parseFlow('ip,ct_state=+trk+est,actions=drop'), 'ct_state')).toEqual({ value: 0x22n, mask: 0x22n });
    expect(field(parseFlow('ip,ct_state=-trk,actions=drop'), 'ct_state')).toEqual({ value: 0n, mask: 0x20n });
    expect(field(parseFlow('ip,ct_state=0x21/0x21,actions=drop'), 'ct_state')).toEqual({ value: 0x21n, mask: 0x21n });
    expect(field(parseFlow('ip,ct_state=est|trk,actions=drop'), 'ct_state')).toEqual({ value: 0x22n, mask: 0xffffffffn });
    const f = parseFlow('ip,ct_zone=7,ct_mark=0x10/0xf0,ct_label=0x1/0x1,actions=drop');
    expect(field(f, 'ct_zone')).toEqual({ value: 7n, mask: 0xffffn });
    expect(field(f, 'ct_mark')).toEqual({ value: 0x10n, mask: 0xf0n });
    expect(field(f, 'ct_label')).toEqual({ value: 1n, mask: 1n });
    expect(field(parseFlow('ip,ct_label=0xffffffffffffffffffffffffffffffff,actions=drop'), 'ct_label')!.value).toBe((1n << 128n) - 1n);
  });

  it('cookie is kept but not a match field; ct tuple fields parse', () => {
    const f = parseFlow('cookie=0x1234,ip,ct_state=+trk+est,ct_nw_proto=6,ct_nw_src=10.0.0.1,ct_tp_dst=80,actions=drop');
    expect(f.cookie).toBe(0x1234n);
    expect(f.match.map((m) => m.name)).toEqual(['dl_type', 'ct_state', 'ct_nw_proto', 'ct_nw_src', 'ct_tp_dst']);
  });

  it('fields are stored in canonical order whatever the input order', () => {
    const f = parseFlow('tp_dst=80,nw_src=1.2.3.4,tcp,in_port=1,actions=drop');
    expect(f.match.map((m) => m.name)).toEqual(['in_port', 'dl_type', 'nw_src', 'nw_proto', 'tp_dst']);
  });
});

describe('parsePolicy: actions', () => {
  it('output forms, in_port, controller, resubmit, goto_table, ct_clear', () => {
    const f = parseFlow('table=1,ip,actions=output:2,3,output(port=4),in_port,controller,controller(userdata=01.02),resubmit(,5),ct_clear,goto_table:7');
    expect(f.actions.map((a) => a.kind)).toEqual(['output', 'output', 'output', 'output', 'controller', 'controller', 'resubmit', 'ct_clear', 'goto_table']);
    expect(f.actions.slice(0, 4).map((a) => (a as { port: number }).port)).toEqual([2, 3, 4, OFPP_IN_PORT]);
    expect(f.actions[5]).toMatchObject({ args: 'userdata=01.02' });
    expect(f.actions[6]).toMatchObject({ table: 5 });
    expect(f.actions[8]).toMatchObject({ table: 7 });
  });

  it('ct() with every argument', () => {
    const f = parseFlow('tcp,actions=ct(commit,force,zone=0x10,table=3,alg=ftp,exec(set_field:0x5/0xff->ct_mark,load:1->NXM_NX_CT_LABEL[64..71]))');
    expect(f.actions[0]).toMatchObject({ kind: 'ct', commit: true, force: true, zone: 16, table: 3, alg: 'ftp', timeout: null });
    const ct = f.actions[0] as Extract<Flow['actions'][number], { kind: 'ct' }>;
    expect(ct.exec.map(({ field, value, mask }) => ({ field, value, mask }))).toEqual([
      { field: 'ct_mark', value: 5n, mask: 0xffn },
      { field: 'ct_label', value: 1n << 64n, mask: 0xffn << 64n },
    ]);
    const g = parseFlow('udp,actions=ct(commit,exec(set_field:0x1->ct_label,load:0xab->NXM_NX_CT_MARK[]))');
    const ct2 = g.actions[0] as typeof ct;
    expect(ct2.exec.map(({ field, value, mask }) => ({ field, value, mask }))).toEqual([
      { field: 'ct_label', value: 1n, mask: (1n << 128n) - 1n },
      { field: 'ct_mark', value: 0xabn, mask: 0xffffffffn },
    ]);
  });

  it('ct(timeout=NAME) refers to a timeout_policy directive (before or after it)', () => {
    const p = parsePolicy('ip,actions=ct(commit,timeout=short)\ntimeout_policy short udp_first=5,tcp_established=60\n');
    expect(p.flows[0]!.actions[0]).toMatchObject({ timeout: 'short' });
    expect(p.timeoutPolicies.get('short')).toEqual({ udp_first: 5, tcp_established: 60 });
  });
});

describe('parsePolicy: directives (ctoffload extension)', () => {
  it('timeout_policy in both forms, zone_limit zone/default', () => {
    const p = parsePolicy(
      ['timeout_policy a udp_first=5 udp_single=6', 'timeout_policy name=b,icmp_first=3', 'zone_limit zone=5,limit=10', 'zone_limit default=100', 'ip,actions=drop'].join('\n'),
    );
    expect([...p.timeoutPolicies]).toEqual([['a', { udp_first: 5, udp_single: 6 }], ['b', { icmp_first: 3 }]]);
    expect([...p.zoneLimits]).toEqual([[5, 10]]);
    expect(p.defaultLimit).toBe(100);
    expect([...p.directiveLines].sort()).toEqual([1, 2, 3, 4]);
    expect(p.flows).toHaveLength(1);
  });

  it('errors in directives point at the offending word', () => {
    expectError('timeout_policy a udp_frist=5', 1, 18, 'unknown attribute "udp_frist"');
    expectError('timeout_policy udp_first=5', 1, 1, 'needs a name');
    expectError('zone_limit zone=5', 1, 1, 'zone_limit needs');
    expectError('zone_limit zone=70000,limit=1', 1, 17, 'does not fit in 16 bits');
    expectError('zone_limit color=5', 1, 12, 'unexpected "color"');
    expectError('  zone_limit', 1, 3, 'zone_limit needs');
    expectError('timeout_policy a udp_first=1\ntimeout_policy a udp_first=2', 2, 1, 'defined twice');
  });
});

describe('parsePolicy: errors name line:column', () => {
  it('syntax and values', () => {
    expectError('ip,actions=drop\nip,nw_src=1.2.3,actions=drop', 2, 11, 'not an IPv4 address');
    expectError('ip,foo=1,actions=drop', 1, 4, 'unknown match field "foo"');
    expectError('ip,nw_proto=6', 1, 1, 'has no "actions="');
    expectError('ip,output:1,actions=drop', 1, 4, 'looks like an action');
    expectError('table=255,actions=drop', 1, 7, 'invalid table 255');
    expectError('priority=70000,actions=drop', 1, 10, 'does not fit in 16 bits');
    expectError('ip,actions=ct(commit', 1, 14, 'unclosed "("');
    expectError('ip,actions=output:2)', 1, 20, 'unbalanced ")"');
    expectError('ip,nw_src=1.2.3.4/33,actions=drop', 1, 19, 'prefix length 33');
    expectError('in_port=1,in_port=2,actions=drop', 1, 11, 'conflicts');
    expectError('ip,ct_state=+trk+bogus,actions=drop', 1, 18, 'unknown ct_state flag "bogus"');
    expectError('tcp,tcp_flags=+syn+foo,actions=drop', 1, 20, 'unknown flag "foo"');
    expectError('in_port=eth0,actions=drop', 1, 9, 'port names are not supported');
    expectError('nw_tos=4,actions=drop', 1, 1, 'not supported by ctoffload');
    expectError('ip,priority,actions=drop', 1, 4, '"priority" needs a value');
  });

  it('prerequisites like OVS', () => {
    expectError('tp_src=80,actions=drop', 1, 1, 'tp_src requires a TCP, UDP or SCTP match');
    expectError('ip,tp_dst=80,actions=drop', 1, 4, 'tp_dst requires a TCP, UDP or SCTP match');
    expectError('nw_src=1.2.3.4,actions=drop', 1, 1, 'nw_src requires an IPv4 match');
    expectError('ipv6,nw_dst=1.2.3.4,actions=drop', 1, 6, 'nw_dst requires an IPv4 match');
    expectError('ip,ipv6_src=::1,actions=drop', 1, 4, 'ipv6_src requires an IPv6 match');
    expectError('udp,icmp_type=8,actions=drop', 1, 5, 'icmp_type requires an ICMP match');
    expectError('icmp,icmpv6_type=128,actions=drop', 1, 6, 'icmpv6_type requires an ICMPv6 match');
    expectError('udp,tcp_flags=+syn,actions=drop', 1, 5, 'tcp_flags requires a TCP match');
    expectError('nw_proto=6,actions=drop', 1, 1, 'nw_proto requires an IP match');
    expectError('ip,ct_nw_src=1.2.3.4,actions=drop', 1, 4, 'ct_nw_src requires a ct_state match with +new');
    expectError('ip,ct_state=+trk+inv+est,ct_nw_proto=6,ct_tp_dst=1,actions=drop', 1, 26, 'ct_nw_proto requires a ct_state match');
    // OVS 3.1 installs ct_tp_* without ct_nw_proto and drops the match [obs]: said so, first.
    expectError('ip,ct_state=+trk+inv+est,ct_tp_dst=1,actions=drop', 1, 26, /ct_tp_dst needs a ct_nw_proto match: without one OVS 3.1 installs the flow but drops the ct_tp_dst match/);
    expectError('ipv6,ct_state=+new,ct_nw_dst=1.2.3.4,actions=drop', 1, 20, 'ct_nw_dst requires an IPv4 match');
    expectError('ip,ct_state=+trk+new,ct_tp_dst=22,actions=drop', 1, 22, /ct_tp_dst needs a ct_nw_proto match.*would match every port/);
    expect(() => parsePolicy('ip,ct_state=+trk+new,ct_tp_dst=22,actions=drop', 'p.flows')).not.toThrow(/OVS rejects/);
  });

  it('ct() rules of docs/conntrack-semantics.md §1.1', () => {
    expectError('ip,actions=ct(force)', 1, 12, '"force" flag requires "commit" flag.');
    expectError('ip,actions=ct(exec(set_field:1->ct_mark))', 1, 15, 'CT action requires commit flag');
    expectError('ip,actions=ct(commit,exec(output:1))', 1, 27, "ct action doesn't support nested action output");
    expectError('ip,actions=ct(commit,exec(set_field:1->nw_tos))', 1, 40, "doesn't support nested modification of nw_tos");
    expectError('udp,actions=ct(commit,alg=ftp)', 1, 13, 'alg=ftp) needs a TCP match');
    expectError('tcp,actions=ct(commit,alg=tftp)', 1, 13, 'alg=tftp) needs a UDP match');
    expectError('tcp,actions=ct(commit,alg=sip)', 1, 27, 'invalid conntrack helper "sip"');
    expectError('arp,actions=ct(table=1)', 1, 13, 'must match ip or ipv6');
    expectError('actions=ct(table=1)', 1, 9, 'must match ip or ipv6');
    expectError('ip,ct_state=+trk+inv,actions=ct(commit)', 1, 30, 'ct_state=+inv');
    expectError('ip,actions=set_field:1->ct_mark', 1, 12, 'cannot set CT fields outside of ct action');
    expectError('ip,actions=load:1->NXM_NX_CT_LABEL[0..7]', 1, 12, 'cannot set CT fields outside of ct action');
    expectError('ip,actions=ct(nat(src=1.2.3.4))', 1, 15, 'CT action requires commit flag');
    expectError('ip,actions=nat', 1, 12, 'nat is only allowed as an argument of ct(...)');
    expectError('ip,actions=ct(zone=NXM_NX_REG0[0..7])', 1, 20, 'a zone field must be exactly 16 bits');
    expectError('ip,actions=ct(table=255)', 1, 21, 'invalid table 0xff');
    expectError('ip,actions=ct(commit,color)', 1, 22, 'invalid argument to "ct" action: `color\'');
    expectError('ip,actions=ct(commit,timeout=nope)', 1, 12, 'no timeout_policy named "nope"');
  });

  it('unsupported actions and action-list rules', () => {
    expectError('ip,actions=normal', 1, 12, 'normal is not supported');
    expectError('ip,actions=output:1,drop', 1, 21, '"drop" must not be accompanied');
    expectError('table=2,ip,actions=goto_table:1', 1, 31, 'must name a later table');
    expectError('ip,actions=goto_table:3,output:1', 1, 12, 'goto_table must be the last action');
    expectError('ip,actions=resubmit:3', 1, 12, 'resubmit:PORT');
    expectError('ip,actions=resubmit(1,3)', 1, 21, 'different in_port');
    expectError('ip,actions=mod_dl_src:00:00:00:00:00:01', 1, 12, 'unknown or unsupported action "mod_dl_src"');
    expectError('ip,actions=output:0', 1, 19, 'invalid port 0');
    expectError('ip,actions=set_field:1->nw_tos', 1, 25, 'set_field: unknown field "nw_tos"');
    expectError('ip,actions=set_field:1->ip_dst', 1, 25, 'set_field: writing NXM_OF_IP_DST rewrites the packet or its metadata: not supported by ctoffload');
  });
});

describe('formatFlow / formatPolicy', () => {
  const samples = [
    'table=0,priority=100,ip,actions=ct(table=1,zone=5)',
    'table=1,priority=10,tcp,in_port=1,nw_src=10.0.0.0/8,tp_dst=80,ct_state=+trk+new,actions=ct(commit,zone=5,exec(set_field:0x1/0xff->ct_mark,set_field:0x2->ct_label)),output:2',
    'table=1,ct_state=-trk,ip,actions=controller',
    'table=2,priority=1,icmp6,icmpv6_type=128,ipv6_src=2001:db8::/64,actions=output:3',
    'icmp,icmp_type=8,icmp_code=0,actions=in_port',
    'dl_src=00:11:22:33:44:55/ff:ff:ff:00:00:00,dl_vlan=0xffff,ip,nw_dst=10.0.0.1/255.0.255.0,actions=resubmit(,4)',
    'tcp6,tcp_flags=+syn-ack,actions=ct(commit,force,alg=ftp),goto_table:9',
    'udp,ct_mark=0x10/0xf0,ct_label=0x1/0xff,ct_zone=3,actions=ct_clear,output:1',
    'dl_type=0x88cc,actions=drop',
    'cookie=0xabc,dl_vlan=5,actions=controller(userdata=01.02)',
  ];
  it('print back what parses to the same flow', () => {
    for (const s of samples) {
      const f = parseFlow(s);
      const text = formatFlow(f);
      expect(shape(parseFlow(text)), `${s}\n→ ${text}`).toEqual(shape(f));
    }
  });

  it('prints the shorthand and OVS names', () => {
    expect(formatFlow(parseFlow('dl_type=0x0800,nw_proto=17,udp_dst=53,actions=output:1'))).toBe('table=0,priority=32768,udp,tp_dst=53,actions=output:1');
    expect(formatFlow(parseFlow('ip,ct_state=+est+trk,actions=drop'))).toBe('table=0,priority=32768,ip,ct_state=+est+trk,actions=drop');
    expect(formatFlow(parseFlow('icmp6,icmpv6_type=128,actions=drop'))).toBe('table=0,priority=32768,icmp6,icmpv6_type=128,actions=drop');
  });

  it('the ovs option leaves our timeout= extension out', () => {
    const p = parsePolicy('timeout_policy t udp_first=5\nudp,actions=ct(commit,zone=2,timeout=t)\n');
    expect(formatFlow(p.flows[0]!)).toContain('timeout=t');
    expect(formatFlow(p.flows[0]!, { ovs: true })).toBe('table=0,priority=32768,udp,actions=ct(commit,zone=2)');
    const whole = formatPolicy(p);
    expect(whole.split('\n')[0]).toBe('timeout_policy t udp_first=5');
    const again: Policy = parsePolicy(whole);
    expect(again.flows.map(shape)).toEqual(p.flows.map(shape));
    expect(again.timeoutPolicies).toEqual(p.timeoutPolicies);
    expect(formatPolicy(p, { ovs: true })).not.toContain('timeout');
  });
});

describe('flow syntax pasted from OVS (issue 12)', () => {
  it('accepts action= like actions= (ovs-ofctl ofp_extract_actions finds "action" then "=")', () => {
    const p = parsePolicy('table=0,priority=5,ip,action=ct(table=1,zone=2)\ntable=1,ip,action=output:2', 'p.flows');
    expect(p.flows.map((f) => f.actions[0]!.kind)).toEqual(['ct', 'output']);
    const [a, b] = [parsePolicy('ip,actions=output:2').flows[0]!, parsePolicy('ip,action=output:2').flows[0]!];
    expect(b.match).toEqual(a.match);
    expect(b.actions.map((x) => ({ ...x, pos: null }))).toEqual(a.actions.map((x) => ({ ...x, pos: null })));
  });

  it('registers are accepted in matches and actions (issue 15; more in regs.test.ts)', () => {
    expect(parsePolicy('ip,actions=drop\nudp,actions=set_field:5->reg4,output:2').flows[1]!.actions.map((a) => a.kind)).toEqual(['load', 'output']);
    expect(parsePolicy('ip,reg4=5,actions=move:reg1[]->reg2[],output:2').flows[0]!.match.map((m) => m.name)).toEqual(['dl_type', 'reg4']);
  });

  it('a port name as an action is named as such, like a port name in in_port', () => {
    expectError('ip,actions=p1', 1, 12, /OVS would read it as output to a port named "p1": port names are not supported: use a port number/);
    expectError('ip,actions=output:p1', 1, 19, /port names are not supported \("p1"\): use a port number/);
    expectError('ip,in_port=p1,actions=drop', 1, 12, /port names are not supported \("p1"\): use a port number/);
  });

  it('in_port beyond what OVS takes is refused at its line', () => {
    expectError('ip,actions=drop\nin_port=70000,actions=drop', 2, 9, /in_port=70000: invalid port 70000: OVS takes 0-65535/);
    expectError('in_port=65534,actions=drop', 1, 9, /reserved OpenFlow port/);
    expect(() => parsePolicy('in_port=65279,actions=drop')).not.toThrow();
  });

  it('UTF-16 and binary policy files are named as such, not as unknown fields', () => {
    const utf16le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('ip,actions=drop\n', 'utf16le')]).toString('utf8');
    expectError(utf16le, 1, 1, /not valid UTF-8 text \(the file looks like UTF-16: convert it to UTF-8/);
    const noBom = Buffer.from('ip,actions=drop\n', 'utf16le').toString('utf8');
    expectError(noBom, 1, 2, /NUL byte \(the file looks like UTF-16/);
    expectError('ip,actions=drop\n\u0000\u0001\u0002', 2, 1, /not a text policy: NUL byte \(binary data\?\)/);
    // A UTF-8 byte-order mark is fine and columns stay right.
    expect(parsePolicy('\ufeffip,actions=drop').flows).toHaveLength(1);
    expectError('\ufeffip,actions=frob', 1, 12, /frob/);
  });
});
