import { describe, expect, it } from 'vitest';
import { Conntrack } from '../../../model/conntrack/index.js';
import { CLASSIFIER_MIN_FLOWS, FlowTable } from '../../../model/pipeline/classifier.js';
import { compilePolicy } from '../../../model/pipeline/compile.js';
import { parsePolicy } from '../../../model/pipeline/index.js';

function table1(lines: string[]): FlowTable {
  return compilePolicy(parsePolicy(lines.join('\n'), 't.flows'), new Conntrack()).flowTables[1]!;
}

describe('FlowTable: which lookup `auto` picks', () => {
  it('small tables keep the linear scan', () => {
    const t = table1(['table=1,ip,in_port=1,actions=output:2', 'table=1,priority=0,actions=drop']);
    expect(t.classifier).toBeNull();
    expect([...t.fids]).toEqual([0, 3]); // in_port, dl_type: what the executor loads
  });

  it('a large table of few masks gets tuple space search, one subtable per mask, by max priority', () => {
    const lines: string[] = [];
    for (let i = 0; i < 100; i++) lines.push(`table=1,priority=${i},tcp,nw_src=10.0.${i}.0/24,tp_dst=${i + 1},actions=drop`);
    for (let i = 0; i < 50; i++) lines.push(`table=1,priority=${200 + i},udp,nw_dst=10.1.${i}.1,actions=drop`);
    lines.push('table=1,priority=0,actions=drop');
    const t = table1(lines);
    expect(t.classifier).not.toBeNull();
    expect(t.classifier!.subtables.map((s) => [s.maxPriority, s.size])).toEqual([[249, 50], [99, 100], [0, 1]]);
  });

  it('a large table whose flows all have different masks keeps the scan', () => {
    const lines: string[] = [];
    for (let i = 0; i <= CLASSIFIER_MIN_FLOWS + 8; i++) lines.push(`table=1,priority=${i},ip,nw_src=10.0.0.0/${i + 1},actions=drop`);
    const t = table1(lines);
    expect(t.flows.length).toBeGreaterThan(CLASSIFIER_MIN_FLOWS);
    expect(t.classifier).toBeNull();
    expect(new FlowTable(t.flows, 'tuple-space').classifier!.subtables).toHaveLength(t.flows.length);
  });

  it('flows with the same mask and masked value keep only the best (priority, then file order)', () => {
    const lines = ['table=1,priority=5,ip,nw_src=10.0.0.1,actions=output:1', 'table=1,priority=7,ip,nw_src=10.0.0.1,actions=output:2'];
    for (let i = 0; i < 30; i++) lines.push(`table=1,priority=5,ip,nw_src=10.9.0.${i},actions=drop`);
    const t = table1(lines);
    const s = t.classifier!.subtables[0]!;
    expect(s.size).toBe(31);
    expect(s.maxPriority).toBe(7);
  });
});
