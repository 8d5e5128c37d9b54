import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../harness/cli/commands.js';

describe('the command list', () => {
  it('lazy commands carry the summary and name of the module they load', async () => {
    for (const c of COMMANDS) {
      if (!c.load) continue;
      const m = await c.load();
      expect(m.name).toBe(c.name);
      expect(m.summary).toBe(c.summary);
    }
    expect(COMMANDS.map((c) => c.name)).toEqual(['replay', 'conformance', 'generate', 'controller', 'status', 'report', 'selftest']);
  }, 60_000);
});
