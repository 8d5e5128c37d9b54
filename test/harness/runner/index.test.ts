/** The public surface of harness/runner, harness/compare and harness/report (docs/style.md §5: pin each index.ts). */
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as compare from '../../../harness/compare/index.js';
import * as report from '../../../harness/report/index.js';
import * as runner from '../../../harness/runner/index.js';
import type { ConformanceOptions, PropertyReport } from '../../../harness/runner/index.js';
import type { Comparison, ComparisonContext, DiffKind } from '../../../harness/compare/index.js';

describe('public API', () => {
  it('exports the runner, comparator and report entry points', () => {
    for (const k of ['runConformance', 'runTrace', 'generateRuns', 'Side', 'RunnerError', 'withDeadline']) expect(typeof (runner as Record<string, unknown>)[k], k).toBe('function');
    for (const k of ['compareVerdicts', 'diffVerdicts', 'normalizeOutputs', 'formatVerdict', 'findException', 'validateExceptions']) expect(typeof (compare as Record<string, unknown>)[k], k).toBe('function');
    expect(Array.isArray(compare.EXCEPTIONS)).toBe(true);
    expect(compare.DIFF_KINDS).toContain('ct-state');
    for (const k of ['renderHtml', 'renderJunit', 'counterexamplePcapng', 'checkReport', 'ReportWriter']) expect(typeof (report as Record<string, unknown>)[k], k).toBe('function');
    expect(report.REPORT_SCHEMA).toBe('ctoffload-conformance/1');
  });

  it('has the documented types', () => {
    expectTypeOf(runner.runConformance).parameter(0).toEqualTypeOf<ConformanceOptions>();
    expectTypeOf(runner.runConformance).returns.toEqualTypeOf<Promise<PropertyReport>>();
    expectTypeOf(compare.compareVerdicts).parameter(0).toEqualTypeOf<ComparisonContext>();
    expectTypeOf(compare.compareVerdicts).returns.toEqualTypeOf<Comparison>();
    expectTypeOf<Comparison['differences'][number]['kind']>().toEqualTypeOf<DiffKind>();
  });
});
