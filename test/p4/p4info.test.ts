import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { P4InfoIndex, closeNames } from '../../p4/p4info.js';
import { encodeMessage } from '../../p4/proto.js';
import { handP4Info } from './fixtures/hand.p4info.js';

const fixture = (f: string): URL => new URL(`./fixtures/${f}`, import.meta.url);
const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
  return 'no error';
};

describe('P4InfoIndex on a hand-written JSON P4Info', () => {
  const idx = P4InfoIndex.from(handP4Info());

  it('finds objects by full name, unique suffix, alias and id', () => {
    expect(idx.table('MyIngress.ct_table').id).toBe(0x02000001);
    expect(idx.table('ct_table').id).toBe(0x02000001);
    expect(idx.table(0x02000001).name).toBe('MyIngress.ct_table');
    expect(idx.table('routes').matchFields[0]!.matchKind).toBe('LPM');
    expect(idx.table('MyEgress.acl.filter').id).toBe(0x02000003);
    expect(idx.action('set_ct').params.map((p) => [p.name, p.bitwidth])).toEqual([['port', 9], ['mark', 32]]);
    expect(idx.param('set_ct', 'mark').id).toBe(2);
    expect(idx.matchField('ct_table', 'hdr.ipv4.src').bitwidth).toBe(32);
    expect(idx.matchField('ct_table', 'zone').id).toBe(3);
    expect(idx.matchField('ct_table', 2).name).toBe('hdr.ipv4.dst');
    expect(idx.directCounter('ct_counter').directTableId).toBe(0x02000001);
    expect(idx.counter('misses').size).toBe(8n);
    expect(idx.packetMetadata('packet_out', 'egress_port').bitwidth).toBe(9);
    expect(idx.controllerHeader('packet_in').metadata.map((m) => m.name)).toEqual(['ingress_port', 'pad']);
    expect(idx.digest('learn_t').members).toEqual([{ id: 1, name: 'src', bitwidth: 48 }, { id: 2, name: 'port', bitwidth: 9 }]);
    expect(idx.byId(0x13000001)?.kind).toBe('directCounter');
  });

  it('derives table properties (priority, idle timeout, direct counter)', () => {
    const ct = idx.table('ct_table');
    expect(ct.needsPriority).toBe(false);
    expect(ct.supportsIdleTimeout).toBe(true);
    expect(ct.directCounterId).toBe(0x13000001);
    expect(ct.size).toBe(4096n);
    expect(idx.table('MyIngress.acl.filter').needsPriority).toBe(true);
    expect(idx.table('routes').needsPriority).toBe(false);
    expect(idx.table(0x02000003).constDefaultActionId).toBe(0x01000003);
  });

  it('reports unknown names with close candidates', () => {
    expect(codeOf(() => idx.table('ct_tabel'))).toMatch(/^CTO_P4INFO_UNKNOWN_NAME: no table named 'ct_tabel'.*did you mean 'MyIngress.ct_table'/);
    expect(codeOf(() => idx.matchField('ct_table', 'hdr.ipv4.sr'))).toMatch(/^CTO_P4INFO_UNKNOWN_NAME: table 'MyIngress.ct_table': no match field named 'hdr.ipv4.sr'.*'hdr.ipv4.src'/);
    expect(codeOf(() => idx.param('set_ct', 'prt'))).toMatch(/CTO_P4INFO_UNKNOWN_NAME: action 'MyIngress.set_ct': no param named 'prt'.*'port'/);
    expect(codeOf(() => idx.table(0x02000099))).toMatch(/CTO_P4INFO_UNKNOWN_NAME: no table named 'id 0x2000099'/);
    expect(codeOf(() => idx.table('nothing_like_it'))).toMatch(/no table named 'nothing_like_it' in the P4Info$/);
  });

  it('reports ambiguous suffixes', () => {
    expect(codeOf(() => idx.table('acl.filter'))).toMatch(/^CTO_P4INFO_AMBIGUOUS: table name 'acl.filter' is ambiguous: 'MyIngress.acl.filter', 'MyEgress.acl.filter'/);
    expect(codeOf(() => idx.table('filter'))).toMatch(/AMBIGUOUS/);
    expect(codeOf(() => idx.packetMetadata('packet_out', 'pad'))).toBe('no error');
  });

  it('closeNames ranks by edit distance', () => {
    expect(closeNames('ct_tabel', ['MyIngress.ct_table', 'MyIngress.acl', 'x.y'])).toEqual(['MyIngress.ct_table']);
  });
});

describe('P4InfoIndex validation (CTO_P4INFO_BAD names the place)', () => {
  const bad = (mutate: (p: Record<string, any>) => void): string => {
    const p = handP4Info();
    mutate(p);
    return codeOf(() => P4InfoIndex.from(p));
  };

  it('accepts the hand-written P4Info', () => {
    expect(bad(() => {})).toBe('no error');
  });

  it('rejects bad ids, names, widths and references', () => {
    expect(bad((p) => (p.tables[1].preamble.id = 0x01000009))).toMatch(/^CTO_P4INFO_BAD: P4Info tables\[1\] \(MyIngress.acl.filter\): id 0x1000009 has prefix 0x1, expected 0x02/);
    expect(bad((p) => (p.tables[1].preamble.id = 0x02000001))).toMatch(/tables\[1\] \(MyIngress.acl.filter\): id 0x2000001 is also used by 'MyIngress.ct_table'/);
    expect(bad((p) => (p.actions[0].preamble.id = 0))).toMatch(/actions\[0\] \(MyIngress.set_ct\): has id 0/);
    expect(bad((p) => (p.actions[1].preamble.name = ''))).toMatch(/actions\[1\]: has an empty name/);
    expect(bad((p) => delete p.actions[1].preamble)).toMatch(/actions\[1\]: has no preamble/);
    expect(bad((p) => (p.tables[0].matchFields[2].bitwidth = 0))).toMatch(/tables\[0\] \(MyIngress.ct_table\).matchFields\[2\] \(meta.zone\): bitwidth 0 is not positive/);
    expect(bad((p) => (p.tables[0].matchFields[1].id = 1))).toMatch(/matchFields\[1\] \(hdr.ipv4.dst\): id 1 is used twice/);
    expect(bad((p) => delete p.tables[0].matchFields[0].matchType)).toMatch(/matchFields\[0\] \(hdr.ipv4.src\): has no match type/);
    expect(bad((p) => (p.actions[0].params[1].name = 'port'))).toMatch(/actions\[0\] \(MyIngress.set_ct\).params\[1\] \(port\): duplicate name/);
    expect(bad((p) => (p.tables[0].actionRefs[0].id = 0x01000077))).toMatch(/tables \(MyIngress.ct_table\): action_refs names unknown action id 0x1000077/);
    expect(bad((p) => (p.directCounters[0].directTableId = 0x02000077))).toMatch(/directCounters \(MyIngress.ct_counter\): direct_table_id 0x2000077 is not a table/);
    expect(bad((p) => (p.digests[0].typeSpec.struct.name = 'nope'))).toMatch(/digests\[0\] \(learn_t\): struct 'nope' is not in type_info/);
    expect(bad((p) => (p.tables = 5))).toMatch(/CTO_P4INFO_BAD/);
    expect(codeOf(() => P4InfoIndex.from('{ not json'))).toMatch(/^CTO_P4INFO_BAD: P4Info: not valid JSON/);
    // An unknown key is an error, not a silently dropped field.
    expect(bad((p) => (p.tables[0].matchFeilds = []))).toMatch(/^CTO_P4INFO_BAD: P4Info: cannot read P4Info JSON: .*unknown field: "matchFeilds"/);
    expect(codeOf(() => P4InfoIndex.from(Uint8Array.of(0x12, 0xff)))).toMatch(/CTO_P4_PROTO|CTO_P4INFO_BAD/);
  });

  it('accepts proto3 JSON with original snake_case keys', () => {
    const p = handP4Info();
    p.tables[0].match_fields = p.tables[0].matchFields;
    delete p.tables[0].matchFields;
    expect(P4InfoIndex.from(JSON.stringify(p)).table('ct_table').matchFields.map((f) => f.name)).toEqual(['hdr.ipv4.src', 'hdr.ipv4.dst', 'meta.zone']);
  });

  it('reads the binary encoding of the same P4Info', () => {
    const bin = encodeMessage('p4.config.v1.P4Info', handP4Info());
    const idx = P4InfoIndex.from(bin);
    expect(idx.table('ct_table').matchFields.length).toBe(3);
    expect(idx.encode()).toEqual(bin);
  });
});

describe('P4InfoIndex on real p4c-bm2-ss output (test/p4/fixtures/ct_test.p4info.*)', () => {
  const fromBin = P4InfoIndex.from(readFileSync(fixture('ct_test.p4info.bin')));
  const fromJson = P4InfoIndex.from(readFileSync(fixture('ct_test.p4info.json'), 'utf8'));
  const fromText = P4InfoIndex.from(readFileSync(fixture('ct_test.p4info.txtpb'), 'utf8'));

  it('binary, JSON and text forms decode to the same P4Info', () => {
    expect(fromJson.p4info).toEqual(fromBin.p4info);
    expect(fromText.p4info).toEqual(fromBin.p4info);
  });

  it('indexes the test program', () => {
    const idx = fromBin;
    const ct = idx.table('ct_table');
    expect(ct.name).toBe('TestIngress.ct_table');
    expect(ct.matchFields.map((f) => `${f.name}:${f.matchKind}:${f.bitwidth}`)).toEqual(['hdr.ipv4.src:EXACT:32', 'hdr.ipv4.dst:EXACT:32', 'meta.zone:EXACT:16']);
    expect(ct.supportsIdleTimeout).toBe(true);
    expect(ct.directCounterId).toBe(idx.directCounter('ct_counter').id);
    expect(idx.table('acl').needsPriority).toBe(true);
    expect(idx.controllerHeader('packet_out').metadata.map((m) => `${m.id}:${m.name}:${m.bitwidth}`)).toEqual(['1:egress_port:9', '2:pad:7']);
    expect(idx.digest('learn_t').members.map((m) => m.name)).toEqual(['src', 'port']);
    expect(idx.action('set_ct').params.map((p) => p.name)).toEqual(['port', 'mark']);
  });
});
