/**
 * Registers, metadata, move, zones from a field and conjunctions in the model
 * (docs/policy-language.md): parser (located errors), printer round trip, executor.
 */
import { describe, expect, it } from 'vitest';
import { Conntrack } from '../../../model/conntrack/index.js';
import { CS_NEW, CS_TRACKED } from '../../../model/ctstate.js';
import { FlowParseError } from '../../../model/errors.js';
import { Pipeline, formatFlow, parseFlow, parsePolicy } from '../../../model/pipeline/index.js';
import { udp4 } from '../../harness/targets/frames.js';

function run(text: string, frames: [number, Uint8Array][], classifier: 'auto' | 'linear' | 'tuple-space' = 'auto'): ReturnType<Pipeline['processTraced']>[] {
  const p = new Pipeline(parsePolicy(text, 't.flows'), new Conntrack(), { classifier });
  return frames.map(([port, f], i) => p.processTraced(f, port, i));
}

const pkt = (sport = 1000, dport = 53, src = '10.0.0.1', dst = '10.0.0.2'): Uint8Array => udp4({ src, dst, sport, dport });

function parseError(text: string): FlowParseError {
  try {
    parsePolicy(text, 'e.flows');
  } catch (e) {
    if (e instanceof FlowParseError) return e;
    throw e;
  }
  throw new Error(`no error for: ${text}`);
}

describe('parser: registers and friends', () => {
  it('reads matches on reg, NXM_NX_REG, xreg (split in two registers), metadata, conj_id', () => {
    const f = parseFlow('reg0=0x5/0xff,NXM_NX_REG6=7,xreg1=0x100000002,metadata=0x10/0xf0,conj_id=9,actions=drop');
    expect(f.match.map((m) => [m.name, m.value, m.mask])).toEqual([
      ['conj_id', 9n, 0xffffffffn],
      ['metadata', 0x10n, 0xf0n],
      ['reg0', 5n, 0xffn],
      ['reg2', 1n, 0xffffffffn],
      ['reg3', 2n, 0xffffffffn],
      ['reg6', 7n, 0xffffffffn],
    ]);
  });

  it('reads load, set_field, move, ct(zone=FIELD) and conjunction, and prints them back', () => {
    const texts = [
      'table=0,priority=1,actions=set_field:0x1/0xff->reg0,move:NXM_OF_IN_PORT[]->NXM_NX_REG5[0..15],set_field:0x2/0xffff->reg6,resubmit(,1)',
      'table=1,priority=1,ip,actions=ct(table=2,zone=NXM_NX_REG6[0..15])',
      'table=2,priority=5,ip,actions=conjunction(7,1/2),conjunction(8,2/3)',
      'table=2,priority=5,conj_id=7,ip,actions=output:2',
      'table=2,priority=4,ct_state=+est+trk,ip,actions=resubmit(,3,ct)',
    ];
    for (const t of texts) {
      const f = parseFlow(t);
      expect(parseFlow(formatFlow(f)).actions.map((a) => ({ ...a, pos: null }))).toEqual(f.actions.map((a) => ({ ...a, pos: null })));
    }
    const f = parseFlow('actions=load:0x1->NXM_NX_REG0[4..7],load:0x3->xreg0,set_field:0x1234->metadata');
    expect(f.actions.map((a) => a.kind === 'load' && [a.field, a.value, a.mask])).toEqual([
      ['reg0', 0x10n, 0xf0n],
      ['reg0', 0n, 0xffffffffn],
      ['reg1', 3n, 0xffffffffn],
      ['metadata', 0x1234n, 0xffffffffffffffffn],
    ]);
    expect(parseFlow('actions=move:NXM_NX_CT_MARK[]->reg3').actions).toMatchObject([{ kind: 'move', src: { field: 'NXM_NX_CT_MARK', ofs: 0, nBits: 32 }, dst: { field: 'NXM_NX_REG3', ofs: 0, nBits: 32 } }]);
    expect(parseFlow('actions=load:1->reg0').actions).toMatchObject([{ kind: 'load', field: 'reg0', value: 1n, mask: 0xffffffffn }]);
    expect(formatFlow(parseFlow('ip,actions=ct(zone=reg6[0..15])'))).toBe('table=0,priority=32768,ip,actions=ct(zone=NXM_NX_REG6[0..15])');
    expect(parseFlow('ip,action=ct(commit)').actions).toHaveLength(1);
  });

  it('rejects bad register syntax with OVS\'s reasons, at the place', () => {
    const cases: [string, RegExp, number][] = [
      ['actions=load:0x1ff->NXM_NX_REG0[0..7]', /value 0x1ff does not fit into 8 bits/, 14],
      ['actions=load:1->NXM_NX_REG0[32]', /starting bit 32 is not valid because field is only 32 bits wide/, 17],
      ['actions=load:5->NXM_NX_REG0[31..0]', /starting bit 31 is after ending bit 0/, 17],
      ['actions=move:NXM_OF_IN_PORT[]->NXM_NX_REG5[]', /source field is 16 bits wide but destination is 32 bits wide/, 14],
      ['actions=move:NXM_OF_IP_SRC[]->reg0', /source field NXM_OF_IP_SRC needs an IPv4 match/, 9],
      ['actions=set_field:0x1ffffffff->reg0', /does not fit in 32 bits/, 19],
      ['actions=set_field:1->NXM_OF_IP_SRC', /writing NXM_OF_IP_SRC rewrites the packet/, 22],
      ['actions=move:reg0[]->NXM_OF_ETH_DST[0..31]', /writing NXM_OF_ETH_DST rewrites the packet/, 22],
      ['reg16=1,actions=drop', /registers reg0-reg15 only/, 1],
      ['ip,actions=ct(zone=NXM_NX_REG6[0..7])', /must be exactly 16 bits, not 8 .*OFPBAC_BAD_SET_LEN/, 20],
      ['ip,actions=ct(zone=NXM_NX_REG99[])', /unknown field "NXM_NX_REG99"/, 20],
      ['conj_id=5/1,actions=drop', /conj_id cannot be masked/, 10],
      ['actions=conjunction(1,1/2),output:1', /"conjunction" actions may be used along with "note" but not any other kind of action \(such as the "output" action used here\)/, 28],
      ['actions=conjunction(1,1/1)', /conjunction must have at least 2 clauses/, 21],
      ['actions=conjunction(1,3/2)', /clause index must be less than or equal to number of clauses/, 21],
      ['actions=conjunction(1)', /"conjunction" syntax is "conjunction\(id,i\/n\)"/, 9],
      ['actions=move:reg0[]->NXM_NX_CT_MARK[]', /cannot set CT fields outside of ct action/, 9],
      ['actions=learn(table=1)', /learn is not supported by ctoffload/, 9],
      ['actions=resubmit(,2,ct)', /resubmit\(,TABLE,ct\) needs a ct_state match with \+new, \+est, \+rel or \+rpl.*OFPBAC_MATCH_INCONSISTENT/, 9],
      ['ct_state=+trk+inv,actions=resubmit(,2,ct)', /resubmit\(,TABLE,ct\) needs a ct_state match/, 27],
      ['actions=resubmit(,2,xx)', /expected "resubmit\(,TABLE\)" or "resubmit\(,TABLE,ct\)"/, 18],
      ['actions=set_field:1->reg0[0..3]', /bit range on the destination is not allowed/, 22],
    ];
    for (const [text, re, col] of cases) {
      const e = parseError(text);
      expect(e.message, text).toMatch(re);
      expect([e.line, e.column], text).toEqual([1, col]);
    }
  });

  it('refuses flows of one conjunction that disagree on the number of clauses', () => {
    const e = parseError('priority=5,ip,actions=conjunction(3,1/2)\npriority=5,udp,actions=conjunction(3,2/3)');
    expect(e.message).toMatch(/disagrees with conjunction\(3,1\/2\) at line 1/);
    expect(e.line).toBe(2);
    // Different priorities are different conjunctive flows (docs/policy-language.md §4).
    expect(() => parsePolicy('priority=5,ip,actions=conjunction(3,1/2)\npriority=6,udp,actions=conjunction(3,2/3)')).not.toThrow();
  });
});

describe('executor: registers', () => {
  it('load/move set registers that later tables match; registers start at 0 for every packet', () => {
    const text = [
      'table=0,priority=10,in_port=1,actions=load:0x7->NXM_NX_REG5[],move:NXM_OF_IN_PORT[]->NXM_NX_REG6[0..15],resubmit(,1)',
      'table=0,priority=5,actions=resubmit(,1)',
      'table=1,priority=10,reg5=7,reg6=1,actions=output:3',
      'table=1,priority=9,reg5=0,actions=output:4',
    ].join('\n');
    const [a, b] = run(text, [[1, pkt()], [2, pkt()]]);
    expect(a!.outputs.map((o) => o.port)).toEqual([3]);
    expect(b!.outputs.map((o) => o.port)).toEqual([4]);
  });

  it('masked writes and matches, metadata and xreg halves', () => {
    const text = [
      'table=0,actions=set_field:0xab/0xf0->reg1,load:0x1->xreg1,set_field:0x100000000/0x100000000->metadata,resubmit(,1)',
      'table=1,priority=10,reg1=0xa0/0xf0,reg2=0,reg3=1,metadata=0x100000000,actions=output:3',
      'table=1,priority=1,actions=output:4',
    ].join('\n');
    expect(run(text, [[1, pkt()]])[0]!.outputs.map((o) => o.port)).toEqual([3]);
  });

  it('move reads the whole source before writing (overlapping ranges)', () => {
    const text = [
      'table=0,actions=load:0x1234->NXM_NX_REG0[0..15],move:NXM_NX_REG0[0..15]->NXM_NX_REG0[8..23],resubmit(,1)',
      'table=1,priority=10,reg0=0x123434,actions=output:3',
      'table=1,priority=1,actions=output:4',
    ].join('\n');
    expect(run(text, [[1, pkt()]])[0]!.outputs.map((o) => o.port)).toEqual([3]);
  });

  it('registers survive ct(table=…) as they were when the ct() was translated (frozen), not later writes', () => {
    const text = [
      'table=0,ip,actions=load:0x1->NXM_NX_REG3[],ct(table=1),load:0x2->NXM_NX_REG3[],resubmit(,2)',
      'table=1,priority=10,reg3=1,actions=output:3',
      'table=1,priority=1,actions=output:4',
      'table=2,priority=10,reg3=2,actions=output:5',
      'table=2,priority=1,actions=output:6',
    ].join('\n');
    const r = run(text, [[1, pkt()]])[0]!;
    expect(r.outputs.map((o) => o.port).sort()).toEqual([3, 5]);
  });

  it('ct(zone=FIELD) reads the zone at translation; ct_zone is that zone', () => {
    const text = [
      'table=0,priority=10,in_port=1,ip,actions=load:0x11->NXM_NX_REG6[0..15],resubmit(,1)',
      'table=0,priority=10,in_port=2,ip,actions=load:0x22->NXM_NX_REG6[0..15],resubmit(,1)',
      'table=1,ip,actions=ct(commit,zone=NXM_NX_REG6[0..15],table=2)',
      'table=2,ct_zone=0x11,actions=output:3',
      'table=2,ct_zone=0x22,actions=output:4',
    ].join('\n');
    const [a, b, c] = run(text, [[1, pkt()], [2, pkt()], [1, pkt()]]);
    expect(a!.lookups).toMatchObject([{ table: 2, zone: 0x11, state: CS_NEW | CS_TRACKED }]);
    expect(a!.outputs.map((o) => o.port)).toEqual([3]);
    // Same 5-tuple in another zone is another connection: new again.
    expect(b!.lookups).toMatchObject([{ table: 2, zone: 0x22, state: CS_NEW | CS_TRACKED }]);
    expect(b!.outputs.map((o) => o.port)).toEqual([4]);
    expect(c!.lookups[0]!.state & CS_NEW).toBe(CS_NEW); // committed, not yet replied: still new
    expect(c!.trace.join('\n')).toMatch(/\(zone 17\)/);
  });
});

describe('executor: resubmit(,T,ct)', () => {
  const text = [
    'table=0,priority=10,ip,actions=ct(commit,table=1)',
    'table=1,priority=20,ct_state=+trk+new,udp,tp_dst=54,actions=ct(commit),resubmit(,2,ct),output:6',
    'table=1,priority=10,ct_state=+trk+new,ip,actions=resubmit(,2,ct)',
    'table=1,priority=10,ct_state=+trk+est,ip,actions=resubmit(,2,ct)',
    'table=2,priority=10,udp,nw_src=10.0.0.1,tp_dst=53,actions=output:3',
    'table=2,priority=5,udp,nw_src=10.0.0.2,actions=output:4',
    'table=2,priority=1,actions=output:5',
  ].join('\n');

  it('the lookup sees the original-direction tuple: a reply matches as its request', () => {
    const [req, rep] = run(text, [[1, pkt(1000, 53, '10.0.0.1', '10.0.0.2')], [2, pkt(53, 1000, '10.0.0.2', '10.0.0.1')]]);
    expect(req!.outputs.map((o) => o.port)).toEqual([3]);
    expect(rep!.outputs.map((o) => o.port)).toEqual([3]);
  });

  it('after a ct() in the same pass there is no tuple: the resubmit is skipped, the rest runs', () => {
    const r = run(text, [[1, pkt(1000, 54, '10.0.0.1', '10.0.0.2')]])[0]!;
    expect(r.outputs.map((o) => o.port)).toEqual([6]);
    expect(r.trace.join('\n')).toMatch(/resubmit\(ct\) with non-tracked or non-IP packet!/);
  });
});

describe('executor: conjunctive match (lib/classifier.c)', () => {
  const conj = [
    'table=0,priority=10,ip,nw_src=10.0.0.1,actions=conjunction(1,1/2)',
    'table=0,priority=10,ip,nw_src=10.0.0.3,actions=conjunction(1,1/2)',
    'table=0,priority=10,udp,tp_dst=53,actions=conjunction(1,2/2)',
    'table=0,priority=10,udp,tp_dst=54,actions=conjunction(1,2/2)',
    'table=0,priority=7,conj_id=1,ip,actions=output:3',
    'table=0,priority=1,actions=output:4',
  ];
  const port = (text: string[], f: Uint8Array): number[] => run(text.join('\n'), [[1, f]])[0]!.outputs.map((o) => o.port);

  it('all clauses matched → the conj_id flow; one missing → the rest of the table', () => {
    expect(port(conj, pkt(1000, 53, '10.0.0.1'))).toEqual([3]);
    expect(port(conj, pkt(1000, 54, '10.0.0.3'))).toEqual([3]);
    expect(port(conj, pkt(1000, 55, '10.0.0.1'))).toEqual([4]);
    expect(port(conj, pkt(1000, 53, '10.0.0.2'))).toEqual([4]);
    const tr = run(conj.join('\n'), [[1, pkt(1000, 53, '10.0.0.1')]])[0]!.trace.join('\n');
    expect(tr).toMatch(/conjunction 1 matched/);
  });

  it('a hard flow of higher or equal priority than the clauses wins', () => {
    expect(port([...conj, 'table=0,priority=10,udp,tp_dst=53,nw_src=10.0.0.1,actions=output:5'], pkt(1000, 53, '10.0.0.1'))).toEqual([5]);
    // A hard flow between the clauses' and the conj_id flow's priority: the conjunction matched,
    // and the conj_id search (an ordinary search) finds the better hard flow.
    expect(port([...conj, 'table=0,priority=9,udp,actions=output:5'], pkt(1000, 53, '10.0.0.1'))).toEqual([5]);
  });

  it('the conj_id search ignores clause flows; no conj_id flow → as if the conjunction had not matched', () => {
    expect(port(conj.filter((l) => !l.includes('conj_id')), pkt(1000, 53, '10.0.0.1'))).toEqual([4]);
    // The conj_id search is an ordinary search: a better hard flow still wins it.
    expect(port([...conj, 'table=0,priority=8,ip,actions=output:6'], pkt(1000, 53, '10.0.0.1'))).toEqual([6]);
  });

  it('clauses at different priorities are different conjunctive flows', () => {
    const text = [
      'table=0,priority=10,ip,nw_src=10.0.0.1,actions=conjunction(1,1/2)',
      'table=0,priority=9,udp,tp_dst=53,actions=conjunction(1,2/2)',
      'table=0,priority=7,conj_id=1,ip,actions=output:3',
      'table=0,priority=1,actions=output:4',
    ];
    expect(port(text, pkt(1000, 53, '10.0.0.1'))).toEqual([4]);
  });

  it('a flow with several conjunction actions serves several conjunctive flows', () => {
    const text = [
      'table=0,priority=10,ip,nw_src=10.0.0.1,actions=conjunction(1,1/2),conjunction(2,1/2)',
      'table=0,priority=10,udp,tp_dst=53,actions=conjunction(1,2/2)',
      'table=0,priority=10,udp,tp_dst=80,actions=conjunction(2,2/2)',
      'table=0,priority=7,conj_id=1,actions=output:3',
      'table=0,priority=7,conj_id=2,actions=output:5',
      'table=0,priority=1,actions=output:4',
    ];
    expect(port(text, pkt(1000, 53, '10.0.0.1'))).toEqual([3]);
    expect(port(text, pkt(1000, 80, '10.0.0.1'))).toEqual([5]);
  });
});

describe('conjunctions: the hard-flow classifier choice does not change answers', () => {
  it('the Neutron example, every source × port × direction, linear scan ≡ tuple space search', async () => {
    const fs = await import('node:fs');
    const text = fs.readFileSync(new URL('../../../examples/neutron-sg.flows', import.meta.url), 'utf8');
    const frames: [number, Uint8Array][] = [];
    for (const src of ['192.0.2.1', '192.0.2.2', '192.0.2.3', '10.0.0.1']) {
      for (const dport of [22, 53, 64, 80, 81, 100, 127, 128]) {
        for (const [dst, mac] of [['10.0.0.1', '02:00:00:01:04:01'], ['10.0.0.3', '02:00:00:01:04:03']] as const) {
          frames.push([3, udp4({ src, dst, sport: 1000, dport, dstMac: mac })]);
        }
      }
    }
    const ports = (mode: 'linear' | 'tuple-space'): string[] => run(text, frames, mode).map((r) => JSON.stringify([r.outputs.map((o) => o.port), r.lookups.map((l) => [l.table, l.state, l.zone, l.mark])]));
    const lin = ports('linear');
    expect(ports('tuple-space')).toEqual(lin);
    expect(lin.some((x) => x.startsWith('[[1]') || x.startsWith('[[2]'))).toBe(true); // some accepted
    expect(lin.some((x) => x.startsWith('[[]'))).toBe(true); // some dropped
  });
});
