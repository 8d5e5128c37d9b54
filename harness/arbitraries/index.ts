/**
 * Public API of harness/arbitraries: the traffic generator shared by the OVS and bmv2
 * harnesses. Generate Scenarios (scenarioArb), render them to Traces (renderScenario), or take
 * both at once (traceArb); describeScenario prints a scenario for reports.
 *
 * A runner should property-test over `scenarioArb(opts)` and render inside the property, so
 * that the shrunk counterexample is a Scenario: store it as JSON next to fast-check's
 * `{ seed, path }`; `renderScenario(JSON.parse(text))` gives back the same bytes, and
 * `renderScenarioDetailed` adds per-frame labels and the PacketView status each frame was
 * built to have (for reports and pcapng comments).
 */
export type * from './types.js';
export { scenarioArb } from './scenario.js';
export { traceArb } from './trace.js';
export { renderScenario, renderScenarioDetailed, DEFAULT_PORTS } from './render.js';
export { describeScenario, type DescribeOptions } from './describe.js';
export { fitTraffic, type FittedTraffic } from './fit.js';
export { hostMac, ROUTER, STRAY } from './_internals/addresses.js';
export { CoverageSteering, steeringScore, STEERING_CANDIDATES, type CoverageOracle } from './steering.js';
export { modelCoverageOracle } from './coverage-oracle.js';
export { TrafficOptionsError, OVS_DEFAULT_TIMEOUTS_S } from './_internals/options.js';
