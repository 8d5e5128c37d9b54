/**
 * Public API of harness/arbitraries: the traffic generator shared by the OVS and bmv2
 * harnesses. Generate Scenarios (scenarioArb), render them to Traces (renderScenario), or take
 * both at once (traceArb); describeScenario prints a scenario for reports.
 */
export type * from './types.js';
export { scenarioArb } from './scenario.js';
export { traceArb } from './trace.js';
export { renderScenario, renderScenarioDetailed, DEFAULT_PORTS } from './render.js';
export { describeScenario, type DescribeOptions } from './describe.js';
export { TrafficOptionsError, OVS_DEFAULT_TIMEOUTS_S } from './_internals/options.js';
export { tcpFlagsInvalid } from './_internals/tcp-sim.js';
