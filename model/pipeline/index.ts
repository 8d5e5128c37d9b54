/** Public API of the policy pipeline: OVS flow-syntax parser, AST, printer and executor. */
export * from './ast.js';
export { parsePolicy, parseFlow, TIMEOUT_POLICY_ATTRS, MAX_TABLE, MAX_PORT } from './parse.js';
export { compilePolicy, configureConntrack } from './compile.js';
export type { CompiledPolicy, CompiledFlow } from './compile.js';
export type { ClassifierMode } from './classifier.js';
export {
  Pipeline, MAX_RESUBMIT_DEPTH, MAX_RESUBMITS, MAX_RECIRC_DEPTH, formatCtFields,
} from './exec.js';
export type { PipelineOptions, PipelineResult, CtCall } from './exec.js';
export { PipelineEngine } from './engine.js';
export type { PipelineEngineOptions } from './engine.js';
