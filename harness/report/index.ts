/** Public API of harness/report: report.json schema, HTML, JUnit and pcapng renderers, the incremental writer. */
export * from './schema.js';
export { renderHtml, htmlEscape, barChart, rateChart } from './html.js';
export { renderJunit, xmlEscape } from './junit.js';
export { stateTextLines } from './state-text.js';
export { counterexamplePcapng, counterexampleRecords } from './pcapng.js';
export { ReportWriter, CTOFFLOAD_VERSION, fastCheckVersion, type ReportWriterOptions, type CounterexampleFile } from './writer.js';
export { mergeReportDirs, readShardDir, counterexampleTrace, MergeError, type MergeResult, type ShardDir } from './merge.js';
export { configIdentity, configHash, canonicalJson, IDENTITY_FIELDS, type ConfigIdentity } from './config-hash.js';
export {
  addCoverage, coverageLine, emptyCoverage, neverHitReasons, policyEntries, unhitEntries, targetUnhitEntries, unhitCtTables, unhitActions,
  parseMinCoverage, checkMinCoverage, shortfallLines, COVERAGE_PARTS, MinCoverageSpecError,
  type CoveragePart, type CoverageShortfall, type MinCoverage, type TraceCoverage,
} from './coverage.js';
export {
  KeyCoverageObserver, addTrafficCoverage, trafficCoverageLine, keyFieldSummary, missingBits, untakenPaths, varyingBits,
  type TrafficCoverage, type KeyBits, type KeyCoverageSetup,
} from './key-coverage.js';
export { parserPaths, type ParserPaths } from './parser-paths.js';
