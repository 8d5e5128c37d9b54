/** Shared body of test/offload/observation-equality-*.test.ts (split to run side by side: p4c takes seconds per program). */
import { expect, it } from 'vitest';
import { compileOffload, compileOffloadIR, type OffloadProgram } from '../../offload/generate.js';
import { P4InfoIndex, compileP4 } from '../../p4/index.js';
import { equalButObservation, type EqualityReport } from './observation-equality.js';
import type { MatrixCase } from './matrix-policies.js';

export interface EqualityCase {
  name: string;
  /** Both builds of one policy: config with probe false, and with probe true. */
  build(probe: boolean): OffloadProgram;
}

export const fromMatrix = (c: MatrixCase): EqualityCase => ({ name: c.name, build: (probe) => compileOffloadIR(c.policy, { ...c.config, probe }) });
export const fromText = (name: string, text: string, config: Record<string, unknown> = {}): EqualityCase => ({ name, build: (probe) => compileOffload(text, name, { ...config, probe }) });

/** Compile a program with p4c (cached by content hash) and check the two builds. */
export async function compareBuilds(probeP4: string, prodP4: string): Promise<EqualityReport> {
  const [a, b] = [await compileP4({ source: probeP4, name: 'ctoffload.p4' }), await compileP4({ source: prodP4, name: 'ctoffload.p4' })];
  const tables = P4InfoIndex.from(b.p4info).list('table').map((t) => t.name);
  return equalButObservation({ json: JSON.parse(Buffer.from(a.json).toString('utf8')), p4info: a.p4info }, { json: JSON.parse(Buffer.from(b.json).toString('utf8')), p4info: b.p4info }, tables);
}

export function equalitySuite(cases: EqualityCase[]): void {
  for (const c of cases) {
    it(`observation build = production build but for observation: ${c.name}`, async () => {
      const probe = c.build(true);
      const prod = c.build(false);
      expect(probe.plan.config.probe).toBe(true);
      expect(prod.plan.config.probe).toBe(false);
      const r = await compareBuilds(probe.p4, prod.p4);
      expect(r.problems).toEqual([]);
      // the erasure did remove the observation (it is there to be removed)
      expect(r.erased.primitives).toBeGreaterThan(0);
      expect(r.erased.parserStates).toBe(1);
      process.stderr.write(`[observation equality] ${c.name}: ${JSON.stringify(r.erased)}\n`);
    }, 240_000);
  }
}
