import { describe, expect, expectTypeOf, it } from 'vitest';
import * as api from '../../../model/pipeline/index.js';
import type { Conntrack } from '../../../model/conntrack/index.js';
import type { Verdict } from '../../../model/verdict.js';

describe('model/pipeline public API', () => {
  it('exposes the parser, printer and executor', () => {
    expectTypeOf(api.parsePolicy).parameters.toEqualTypeOf<[text: string, source?: string]>();
    expectTypeOf(api.parsePolicy).returns.toEqualTypeOf<api.Policy>();
    expectTypeOf(api.formatFlow).returns.toBeString();
    expectTypeOf<ConstructorParameters<typeof api.Pipeline>>().toEqualTypeOf<[api.Policy, Conntrack, (api.PipelineOptions | undefined)?]>();
    expectTypeOf<api.Pipeline['process']>().returns.toEqualTypeOf<Verdict>();
    expectTypeOf<api.PipelineResult>().toMatchTypeOf<Verdict>();
    expectTypeOf<api.Action['kind']>().toEqualTypeOf<'load' | 'move' | 'conjunction' | 'output' | 'controller' | 'drop' | 'resubmit' | 'goto_table' | 'ct_clear' | 'ct'>();
    expect(api.MATCH_FIELDS.map((f) => f.name)).toContain('ct_label');
    expect(api.MAX_RESUBMIT_DEPTH).toBe(64);
    expect(api.MAX_RECIRC_DEPTH).toBe(6);
  });
});
