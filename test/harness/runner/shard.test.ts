/**
 * Sharding of the search (harness/runner/conformance.ts, `shard`): shard i of n runs exactly the
 * traces t with t mod n = i − 1, each the same trace as in the unsharded run; the lowest of the
 * shards' first failures is the unsharded run's first failure with the same path; and the
 * unsharded run reports the lowest failing index with several jobs even when a later trace
 * fails first in time (ordered with promises, not timers).
 */
import { describe, expect, it } from 'vitest';
import { runConformance, type TraceLine } from '../../../harness/runner/index.js';
import type { PropertyReport } from '../../../harness/report/index.js';
import type { Verdict } from '../../../model/verdict.js';
import type { Target } from '../../../harness/targets/target.js';
import { DefectTarget, estAfterRstBecomesNew, modelTarget, POLICY } from './fake-target.js';

const searchLines = async (o: Parameters<typeof runConformance>[0]): Promise<{ r: PropertyReport; lines: TraceLine[] }> => {
  const lines: TraceLine[] = [];
  const r = await runConformance({ ...o, sink: { update: () => {}, trace: (l) => void (l.phase === 'search' && lines.push(l)) } });
  return { r, lines };
};

describe('sharded search', () => {
  it('splits the traces by index mod n; the shards together run exactly the unsharded traces', async () => {
    const base = { policy: POLICY, reference: modelTarget, target: modelTarget, runs: 20, seed: 7, stateSnapshot: false } as const;
    const whole = await searchLines(base);
    const byIndex = new Map(whole.lines.map((l) => [l.index, l.packets]));
    expect([...byIndex.keys()].sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    const seen: number[] = [];
    let packets = 0;
    for (let i = 1; i <= 3; i++) {
      const { r, lines } = await searchLines({ ...base, shard: { index: i, count: 3 }, jobs: 2 });
      expect(r.status).toBe('passed');
      expect(r.config.shard).toEqual({ index: i, count: 3 });
      expect(r.config.runs).toBe(20);
      for (const l of lines) {
        expect(l.index % 3).toBe(i - 1);
        // The same trace as in the unsharded run (packet count as its fingerprint).
        expect(l.packets).toBe(byIndex.get(l.index));
      }
      expect(r.counts.traces).toBe(lines.length);
      seen.push(...lines.map((l) => l.index));
      packets += r.counts.packets;
      // Shards share the configuration hash with each other, not with the unsharded run (n is part of it).
      expect(r.configHash).toMatch(/^[0-9a-f]{64}$/);
      expect(r.configHash).not.toBe(whole.r.configHash);
    }
    expect(seen.sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect(packets).toBe(whole.r.counts.packets);
  });

  it('an empty shard (more shards than runs) passes with no trace', async () => {
    const r = await runConformance({ policy: POLICY, reference: modelTarget, target: modelTarget, runs: 2, seed: 7, shard: { index: 3, count: 3 } });
    expect(r.status).toBe('passed');
    expect(r.counts.traces).toBe(0);
  });

  it('the lowest of the shards\' first failures is the unsharded first failure, with the same path', async () => {
    const base = { policy: POLICY, reference: modelTarget, target: async () => DefectTarget.model(estAfterRstBecomesNew), runs: 200, seed: 42 } as const;
    const whole = await runConformance(base);
    const shards = [];
    for (let i = 1; i <= 3; i++) shards.push(await runConformance({ ...base, shard: { index: i, count: 3 } }));
    const failing = shards.filter((s) => s.counterexample);
    expect(failing.length).toBeGreaterThan(0);
    const first = failing.reduce((a, b) => (Number(a.counterexample!.path.split(':')[0]) <= Number(b.counterexample!.path.split(':')[0]) ? a : b));
    expect(first.counterexample!.path).toBe(whole.counterexample!.path);
    expect(first.counterexample!.scenario).toEqual(whole.counterexample!.scenario);
    // And that shard's path replays with a plain { seed, path }.
    const replay = await runConformance({ ...base, path: first.counterexample!.path });
    expect(replay.status).toBe('failed');
    expect(replay.counterexample!.scenario).toEqual(whole.counterexample!.scenario);
  });

  it('rejects bad shards and shards with a replay (CTO_RUN_OPTIONS)', async () => {
    const base = { policy: POLICY, reference: modelTarget, target: modelTarget, runs: 5, seed: 1 } as const;
    for (const shard of [{ index: 0, count: 3 }, { index: 4, count: 3 }, { index: 1, count: 0 }, { index: 1.5, count: 3 }]) {
      await expect(runConformance({ ...base, shard })).rejects.toMatchObject({ code: 'CTO_RUN_OPTIONS' });
    }
    await expect(runConformance({ ...base, shard: { index: 1, count: 2 }, path: '3' })).rejects.toMatchObject({ code: 'CTO_RUN_OPTIONS', message: expect.stringContaining('search only') });
  });
});

describe('first failure with several jobs', () => {
  it('is the lowest failing index even when a higher index fails first in time', async () => {
    // Every packet disagrees (the target reports one ct lookup too many). Instance 0 (worker 0,
    // trace 0) holds its first packet until traces 1 and 2 have been accounted as failed.
    let made = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const extra = (_s: unknown, v: Verdict): Verdict => ({ outputs: v.outputs, lookups: [...v.lookups, { table: 99, state: 0, zone: 0, mark: 0, label: 0n }] });
    const target = async (): Promise<Target> => {
      const me = made++;
      const t = DefectTarget.model(extra);
      const send = t.send.bind(t);
      let first = true;
      t.send = async (st) => {
        if (me === 0 && first) {
          first = false;
          await gate;
        }
        return send(st);
      };
      return t;
    };
    const lines: TraceLine[] = [];
    const r = await runConformance({
      policy: POLICY, reference: modelTarget, target, runs: 10, seed: 3, jobs: 3, stateSnapshot: false,
      sink: {
        update: () => {},
        trace: (l) => {
          if (l.phase !== 'search') return;
          lines.push(l);
          if (lines.filter((x) => x.index !== 0 && x.status === 'fail').length === 2) release();
        },
      },
    });
    // Traces 1 and 2 finished (failed) before trace 0 did...
    expect(lines.map((l) => l.index).slice(0, 2).sort()).toEqual([1, 2]);
    expect(lines.every((l) => l.status === 'fail')).toBe(true);
    // ...and the reported first failure is still trace 0.
    expect(r.counterexample!.path.split(':')[0]).toBe('0');
  });
});
