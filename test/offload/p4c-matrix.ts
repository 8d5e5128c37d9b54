/** Shared body of the p4c compile-matrix suites (split in two files to stay under ~30 s each). */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileOffloadIR, writeOffload, type OffloadProgram, type WriteResult } from '../../offload/generate.js';
import { P4InfoIndex, tableEntry } from '../../p4/index.js';
import type { MatrixCase } from './matrix-policies.js';

export function matrixSuite(cases: MatrixCase[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'cto-matrix-'));
  const results = new Map<string, { prog: OffloadProgram; res: WriteResult }>();
  beforeAll(async () => {
    // One p4c at a time per file: vitest already runs the two matrix files side by side on the
    // two cores, and p4c is CPU-bound (~3 s per program).
    const queue = [...cases.entries()];
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [i, c] = next;
        const prog = compileOffloadIR(c.policy, c.config ?? {});
        const res = await writeOffload(prog, join(dir, String(i)), { p4c: 'require' });
        results.set(c.name, { prog, res });
      }
    };
    await worker();
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const c of cases) {
    it(`compiles: ${c.name}`, () => {
      const { prog, res } = results.get(c.name)!;
      expect(res.compiled).toBe(true);
      const p4info = P4InfoIndex.from(readFileSync(res.files.find((f) => f.endsWith('.p4info.bin'))!));
      const tables = p4info.list('table').map((t) => t.name);
      for (const t of c.tables) expect(tables).toContain(`CtIngress.${t}`);
      // every planned table is there, and nothing else
      expect([...tables].sort()).toEqual([...prog.plan.ctTables.map((t) => `CtIngress.${t.name}`), ...prog.plan.stageTables.map((t) => `CtIngress.${t.name}`)].sort());
      for (const ct of prog.plan.ctTables) {
        const t = p4info.table(`CtIngress.${ct.name}`);
        expect(t.supportsIdleTimeout).toBe(true);
        expect(t.directCounterId).not.toBe(0);
        expect(t.matchFields.map((f) => [f.name, f.matchKind, f.bitwidth])).toEqual([
          ['zone', 'EXACT', 16],
          ['l3', 'EXACT', 16],
          ['proto', 'EXACT', 8],
          ['src', 'EXACT', 128],
          ['dst', 'EXACT', 128],
          ['sport', 'EXACT', 16],
          ['dport', 'EXACT', 16],
        ]);
        expect(Number(t.size)).toBe(ct.size);
      }
      for (const st of prog.plan.stageTables) {
        const t = p4info.table(`CtIngress.${st.name}`);
        expect(t.matchFields.map((f) => f.name)).toEqual(st.keys);
        expect(t.matchFields.every((f) => f.matchKind === 'TERNARY')).toBe(true);
        expect(t.supportsIdleTimeout).toBe(false);
        expect(t.directCounterId !== 0).toBe(prog.plan.config.policyCounters);
      }
      const pin = p4info.controllerHeader('packet_in');
      const pout = p4info.controllerHeader('packet_out');
      expect(pin.metadata.map((x) => x.name)).toEqual(['ingress_port', 'pad', 'reason', 'stage', 'table_id', 'ct_state', 'ct_zone', 'ct_mark', 'ct_label', 'tag']);
      expect(pout.metadata.reduce((s, x) => s + x.bitwidth, 0) % 8).toBe(0);
      // p4c leaves unused actions out of the P4Info: ct_hit exists iff there is a conntrack table
      for (const a of ['flow_ct', 'flow_output', 'flow_general', 'flow_punt', 'flow_miss']) expect(p4info.action(a).name).toBe(`CtIngress.${a}`);
      expect(p4info.find('action', 'ct_hit') !== undefined).toBe(prog.plan.ctTables.length > 0);
      // every static entry is valid against the P4Info (names, widths, priorities)
      for (const e of prog.entries) expect(() => tableEntry(p4info, e.table, e.spec)).not.toThrow();
      const json = JSON.parse(readFileSync(res.files.find((f) => f.endsWith('ctoffload.json'))!, 'utf8'));
      expect(json.pipelines.map((p: { name: string }) => p.name)).toEqual(['ingress', 'egress']);
      expect(prog.p4).toContain(`const bit<9> CPU_PORT = ${prog.plan.config.cpuPort};`);
    });
  }
}
