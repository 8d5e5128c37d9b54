import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../offload/config.js';
import { compilePlan } from '../../offload/compile.js';
import { emitProgram } from '../../offload/emit.js';
import { controls, findTable, type HeaderDecl, type ParserDecl } from '../../offload/p4ast.js';
import { generateProgram } from '../../offload/p4gen.js';
import { ALLOW_OUTBOUND } from './ir-helpers.js';

const gen = (cfg: Record<string, unknown> = {}) => generateProgram(compilePlan(ALLOW_OUTBOUND, resolveConfig(cfg)));

describe('generateProgram', () => {
  it('conntrack table: exact zone+tuple key, ct_hit, idle timeout, direct counter, size', () => {
    const p = gen({ tableSizes: { conntrack: 4096 } });
    const { control, table } = findTable(p, 'conntrack_s0')!;
    expect(table.keys.map((k) => `${k.name}:${k.match}`)).toEqual(['zone:exact', 'l3:exact', 'proto:exact', 'src:exact', 'dst:exact', 'sport:exact', 'dport:exact']);
    expect(table.actions.map((a) => a.name)).toEqual(['ct_hit', 'ct_miss']);
    expect(table.defaultAction).toEqual({ name: 'ct_miss', args: [], isConst: true });
    expect(table.supportTimeout).toBe(true);
    expect(table.size).toBe(4096);
    expect(control.counters).toContainEqual({ name: table.counters, type: 'packets_and_bytes' });
    expect(control.actions.find((a) => a.name === 'ct_hit')!.params).toEqual([
      { name: 'state', width: 8 },
      { name: 'mark', width: 32 },
      { name: 'label', width: 128 },
    ]);
  });

  it('policy tables: ternary keys named like OVS fields, flow_miss default, source comments', () => {
    const p = gen();
    const { table } = findTable(p, 'stage1_table1')!;
    expect(table.keys).toEqual([
      { expr: 'meta.fk.in_port', match: 'ternary', name: 'in_port' },
      { expr: 'meta.ct.state', match: 'ternary', name: 'ct_state' },
    ]);
    expect(table.defaultAction.name).toBe('flow_miss');
    expect(table.comment!.some((l) => l.startsWith('policy.flows:4:'))).toBe(true);
  });

  it('controller headers and the probe follow the config; production (no probe) by default', () => {
    const on = gen({ probe: true });
    const hdr = (p: ReturnType<typeof gen>, n: string) => p.decls.find((d): d is HeaderDecl => d.kind === 'header' && d.name === n);
    expect(hdr(on, 'packet_in_t')!.annotations).toEqual(['@controller_header("packet_in")']);
    expect(hdr(on, 'packet_out_t')!.annotations).toEqual(['@controller_header("packet_out")']);
    expect(hdr(on, 'probe_t')).toBeDefined();
    expect(hdr(on, 'lookup_t')!.fields.map((f) => f.name)).toEqual(['table_id', 'ct_state', 'ct_zone', 'ct_mark', 'ct_label']);
    const parser = on.decls.find((d): d is ParserDecl => d.kind === 'parser')!;
    expect(parser.states.map((s) => s.name)).toEqual(expect.arrayContaining(['parse_packet_out', 'check_probe', 'parse_vlan0', 'parse_ipv4', 'parse_ipv6', 'parse_tcp', 'parse_udp', 'parse_icmp', 'ip_fragment']));
    const onText = emitProgram(on);
    expect(onText).toContain('OBSERVATION BUILD (probe on), FOR TESTING ONLY');
    // one lookup slot per stage; each recirculation pushes one record
    expect(onText).toContain(`lookup_t[${compilePlan(ALLOW_OUTBOUND, resolveConfig({ probe: true })).stages}] lookups;`);
    expect(onText.split('hdr.lookups.push_front(1);').length - 1).toBeGreaterThan(0);
    const off = gen({ cpuPort: 64 });
    expect(hdr(off, 'probe_t')).toBeUndefined();
    expect(hdr(off, 'lookup_t')).toBeUndefined();
    const offText = emitProgram(off);
    expect(offText).toContain('const bit<9> CPU_PORT = 64;');
    expect(offText).toContain('production build: no probe, no test machinery');
    for (const probeOnly of ['hdr.probe', 'hdr.lookups', 'meta.obs', 'check_probe', 'PROBE_MAGIC', 'report_drop']) expect(offText).not.toContain(probeOnly);
  });

  it('stage code applies each stage table and the conntrack table once', () => {
    const text = emitProgram(gen());
    for (const t of ['stage0_table0', 'stage1_table1', 'conntrack_s0']) expect(text.split(`${t}.apply()`).length - 1).toBe(1);
    expect(controls(gen()).map((c) => c.name)).toEqual(['CtVerifyChecksum', 'CtIngress', 'CtEgress', 'CtComputeChecksum', 'CtDeparser']);
  });

  it('disabled slow-path reasons become hardware drops', () => {
    const text = emitProgram(gen({ slowPath: { fragments: false, tcpFlags: false } }));
    expect(text).toContain('slowPath disabled for FRAGMENT: dropped in hardware');
    expect(text).not.toContain('punt_to_cpu(PUNT_TCP_FLAGS');
    expect(emitProgram(gen())).toContain('punt_to_cpu(PUNT_TCP_FLAGS, 0);');
  });
});
