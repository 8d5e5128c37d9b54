/** Public API of harness/runner: the differential conformance runner (fast-check + shrinking). */
export { runConformance, generateRuns, type ConformanceOptions, type Progress, type RunSink, type TraceLine, type TargetFactory } from './conformance.js';
export { runTrace, verdictReport, type TraceOutcome, type TraceRunOptions } from './trace.js';
export { Side } from './side.js';
export type { PropertyReport, Counterexample, ConformanceReport } from '../report/schema.js';
export { RunnerError, withDeadline, errorText, type RunnerErrorCode } from './errors.js';
