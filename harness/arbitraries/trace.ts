/**
 * traceArb: scenarios rendered to Traces. Shrinking happens on the Scenario underneath; use
 * scenarioArb + renderScenario instead when the report should print the scenario.
 */
import type fc from 'fast-check';
import type { Trace } from '../../model/verdict.js';
import { renderScenario } from './render.js';
import { scenarioArb } from './scenario.js';
import type { TrafficOptions } from './types.js';

export function traceArb(options: TrafficOptions = {}): fc.Arbitrary<Trace> {
  return scenarioArb(options).map(renderScenario);
}
