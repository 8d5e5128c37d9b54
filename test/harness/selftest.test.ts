/**
 * `ctoffload selftest` (issue 6): the fault plumbing (no tools), and the real selftest against
 * bmv2 with a fixed seed known to catch every variant (seed 1, 30 runs: ~10 s of runs).
 */
import { describe, expect, it } from 'vitest';
import { compileOffload, connectionEntries, resolveConfig } from '../../offload/index.js';
import { main } from '../../harness/cli/main.js';
import { FAULT_NAMES, SELFTEST_POLICY, faultDecorators, type FaultName, type SelftestResult } from '../../harness/selftest/index.js';
import { createBmv2Target } from '../../harness/targets/bmv2/index.js';
import { describeWithTools, BMV2_TOOL, P4C_TOOL } from '../support/tools.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

describe('selftest faults (decorators around the seam)', () => {
  it('the production program and config know nothing of them', () => {
    const p = compileOffload(SELFTEST_POLICY.text, SELFTEST_POLICY.source);
    expect(p.p4).toContain('(hdr.tcp.flags & 0x007) != 0');
    expect(p.p4).toContain('meta.ctk.zone = meta.op.zone');
    expect(() => resolveConfig({ faults: { ignoreZone: true } })).toThrow();
  });

  it('finNotPunted and ignoreZone rewrite exactly their lines of the program; the others leave it alone', () => {
    const p4 = compileOffload(SELFTEST_POLICY.text, SELFTEST_POLICY.source).p4;
    const base = p4.split('\n');
    const diff = (name: FaultName): string[] => {
      const r = faultDecorators(name).rewriteProgram;
      return r ? r(p4).split('\n').filter((l, i) => l !== base[i]) : [];
    };
    expect(diff('finNotPunted')).toHaveLength(1);
    expect(diff('finNotPunted')[0]).toContain('(hdr.tcp.flags & 0x006) != 0');
    expect(diff('ignoreZone').length).toBeGreaterThan(0); // one lookup per stage
    expect(diff('ignoreZone').every((l) => l.includes('meta.ctk.zone = 0'))).toBe(true);
    for (const n of ['noReplyEntry', 'keepStaleEntries', 'hitsNotReported', 'replyKeyWrong'] as const) expect(faultDecorators(n).rewriteProgram).toBeUndefined();
    // a rewrite that no longer finds its line fails loudly instead of testing nothing
    expect(() => faultDecorators('finNotPunted').rewriteProgram!('control X {}')).toThrow(/found none/);
  });

  it('entry builders: noReplyEntry drops rpl from the reply entry, replyKeyWrong swaps its ports, ignoreZone keys zone 0', () => {
    const plan = compileOffload(SELFTEST_POLICY.text, SELFTEST_POLICY.source).plan;
    const conn = {
      id: 1, index: 0, zone: 2, l3: 4, proto: 17, mark: 0, label: 0n, expiration: 0, timeoutPolicy: null, seenReply: true, protoState: 'MULTIPLE', helper: null, parentId: null, related: false,
      orig: { src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 53 },
      reply: { src: '10.0.0.2', dst: '10.0.0.1', sport: 53, dport: 1000 },
    } as unknown as Parameters<typeof connectionEntries>[0];
    const base = connectionEntries(conn, plan, { idleTimeoutMs: 1000 });
    const with_ = (n: FaultName) => faultDecorators(n).entryBuilder!(conn, plan, { idleTimeoutMs: 1000 });
    const reply = (es: ReturnType<typeof connectionEntries>) => es.find((e) => e.comment.endsWith(' reply'))!;
    expect(Number(reply(base).spec.params!.state) & 0x08).toBe(0x08);
    expect(Number(reply(with_('noReplyEntry')).spec.params!.state) & 0x08).toBe(0);
    expect(reply(with_('replyKeyWrong')).spec.match).toMatchObject({ sport: 1000n, dport: 53n });
    expect(with_('ignoreZone').every((e) => (e.spec.match as Record<string, bigint>).zone === 0n)).toBe(true);
  });

  it('cannot be applied to prebuilt artifacts', async () => {
    await expect(createBmv2Target({ artifacts: '/nonexistent', decorators: faultDecorators('ignoreZone') })).rejects.toThrow();
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
      // A reply entry that never matches leaves every verdict right: only the offload contract sees it.
      expect(s.variants.find((v) => v.variant === 'replyKeyWrong')!.differences).toEqual(['offload-contract']);
      expect(s.baseline).toHaveLength(FAULT_NAMES.length);
      for (const b of s.baseline) {
        expect(b.outcome).toBe('agreed');
        expect(b.packets).toBeGreaterThan(100);
      }
    }, 900_000); // a deadline for a hang, not a speed bar: 12 bmv2 runs take 1–2 min on a loaded 2-core machine
  },
);
