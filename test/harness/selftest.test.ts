/**
 * `ctoffload selftest` (issue 6): the fault plumbing (no tools), and the real selftest against
 * bmv2 with a fixed seed known to catch every variant (seed 1, 30 runs: ~10 s of runs).
 */
import { describe, expect, it } from 'vitest';
import { compileOffload, FAULT_NAMES, resolveConfig } from '../../offload/index.js';
import { main } from '../../harness/cli/main.js';
import { SELFTEST_POLICY, type SelftestResult } from '../../harness/selftest.js';
import { createBmv2Target } from '../../harness/targets/bmv2/index.js';
import { describeWithTools, BMV2_TOOL, P4C_TOOL } from '../support/tools.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

describe('offload faults (selftest only)', () => {
  it('are off by default and unreachable from a config', () => {
    const p = compileOffload(SELFTEST_POLICY.text, SELFTEST_POLICY.source);
    expect(p.plan.faults).toBeUndefined();
    expect(p.p4).toContain('(hdr.tcp.flags & 0x007) != 0');
    expect(p.p4).toContain('meta.ctk.zone = meta.op.zone');
    expect(() => resolveConfig({ faults: { ignoreZone: true } })).toThrow();
  });

  it('finNotPunted and ignoreZone change exactly their line of the program', () => {
    const base = compileOffload(SELFTEST_POLICY.text, SELFTEST_POLICY.source).p4.split('\n');
    const fin = compileOffload(SELFTEST_POLICY.text, SELFTEST_POLICY.source, {}, { finNotPunted: true });
    expect(fin.plan.faults).toEqual({ finNotPunted: true });
    const finDiff = fin.p4.split('\n').filter((l, i) => l !== base[i]);
    expect(finDiff).toHaveLength(1);
    expect(finDiff[0]).toContain('(hdr.tcp.flags & 0x006) != 0');
    const zone = compileOffload(SELFTEST_POLICY.text, SELFTEST_POLICY.source, {}, { ignoreZone: true }).p4.split('\n');
    const zoneDiff = zone.filter((l, i) => l !== base[i]);
    expect(zoneDiff.length).toBeGreaterThan(0);
    expect(zoneDiff.every((l) => l.includes('meta.ctk.zone = 0'))).toBe(true);
    // Entry/controller faults leave the program alone.
    expect(compileOffload(SELFTEST_POLICY.text, SELFTEST_POLICY.source, {}, { noReplyEntry: true, keepStaleEntries: true }).p4.split('\n')).toEqual(base);
  });

  it('cannot be injected into prebuilt artifacts', async () => {
    await expect(createBmv2Target({ artifacts: '/nonexistent', faults: { ignoreZone: true } })).rejects.toThrow();
  });

  it('selftest --help lists every variant; a bad option or variant is a usage error', async () => {
    const h = await run('selftest', '--help');
    expect(h.code).toBe(0);
    for (const f of FAULT_NAMES) expect(h.out).toContain(f);
    expect((await run('selftest', '--runs', 'x')).code).toBe(2);
    expect((await run('selftest', '--variant', 'noSuchFault')).code).toBe(2);
  });

  it('exit 3 (environment) when bmv2/p4c are missing', async () => {
    const saved = { PATH: process.env.PATH, B: process.env.CTOFFLOAD_BMV2, P: process.env.CTOFFLOAD_P4C };
    process.env.PATH = '/nonexistent';
    process.env.CTOFFLOAD_BMV2 = '/nonexistent/simple_switch_grpc';
    delete process.env.CTOFFLOAD_P4C;
    try {
      const r = await run('selftest', '--runs', '1');
      expect(r.code).toBe(3);
      expect(r.err).toMatch(/simple_switch_grpc/);
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.B === undefined) delete process.env.CTOFFLOAD_BMV2;
      else process.env.CTOFFLOAD_BMV2 = saved.B;
      if (saved.P !== undefined) process.env.CTOFFLOAD_P4C = saved.P;
    }
  });
});

describeWithTools(
  'ctoffload selftest (real simple_switch_grpc + p4c)',
  [
    BMV2_TOOL,
    P4C_TOOL,
  ],
  () => {
    it('catches every seeded defect with a small shrunk counterexample; the baseline agrees', async () => {
      const r = await run('selftest', '--seed', '1', '--runs', '30', '--json');
      expect(r.code, r.err + r.out).toBe(0);
      const s = JSON.parse(r.out) as SelftestResult;
      expect(s.ok).toBe(true);
      expect(s.variants.map((v) => v.variant)).toEqual([...FAULT_NAMES]);
      for (const v of s.variants) {
        expect(v.outcome, v.variant).toBe('caught');
        expect(v.shrinkFinal, v.variant).toBe(true);
        expect(v.counterexamplePackets, v.variant).toBeGreaterThan(0);
        expect(v.counterexamplePackets!, v.variant).toBeLessThanOrEqual(10);
      }
      expect(s.baseline).toHaveLength(FAULT_NAMES.length);
      for (const b of s.baseline) {
        expect(b.outcome).toBe('agreed');
        expect(b.packets).toBeGreaterThan(100);
      }
    }, 180_000);
  },
);
