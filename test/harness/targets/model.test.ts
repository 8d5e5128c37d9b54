import { describe, expect, it } from 'vitest';
import { ModelTarget, type ModelEngine } from '../../../harness/targets/model.js';
import type { Verdict } from '../../../model/verdict.js';

function fakeEngine(): ModelEngine & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    load: (p) => {
      if (p.text.includes('bad')) throw Object.assign(new Error('bad policy'), { code: 'CTO_FLOW_PARSE' });
      calls.push(`load ${p.source}`);
    },
    process: (port, frame, now): Verdict => {
      calls.push(`process ${port} ${frame.length} ${now}`);
      return { outputs: [{ port: port + 1, bytes: frame }], lookups: [] };
    },
    reset: () => calls.push('reset'),
  };
}

describe('ModelTarget', () => {
  it('passes packets through at their trace time and enforces the Target time contract', async () => {
    const e = fakeEngine();
    const t = new ModelTarget(e);
    await expect(t.send({ time: 0, port: 1, frame: new Uint8Array(14) })).rejects.toMatchObject({ code: 'CTO_MODEL_STATE' });
    await expect(t.load({ text: 'bad', source: 'x' })).rejects.toMatchObject({ code: 'CTO_FLOW_PARSE' });
    await t.load({ text: 'ok', source: 'p.flows' });
    const v = await t.send({ time: 5, port: 1, frame: new Uint8Array(20) });
    expect(v.outputs[0]!.port).toBe(2);
    await expect(t.send({ time: 4, port: 1, frame: new Uint8Array(20) })).rejects.toMatchObject({ code: 'CTO_MODEL_STATE' });
    await t.reset();
    await t.send({ time: 0, port: 3, frame: new Uint8Array(20) });
    expect(e.calls).toEqual(['load p.flows', 'reset', 'process 1 20 5', 'reset', 'process 3 20 0']);
    await t.close();
    await expect(t.reset()).rejects.toMatchObject({ code: 'CTO_MODEL_STATE' });
  });
});
