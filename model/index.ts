/**
 * Public API of model/: the reference connection tracker with OVS 3.1 ct() semantics, the one
 * packet codec with captures, the flow-syntax policy pipeline, and the shared contracts
 * (ct_state, Verdict, Trace). Other folders import model only from here.
 */
export * from './errors.js';
export * from './ctstate.js';
export * from './verdict.js';
export * from './packet/index.js';
export * from './conntrack/index.js';
export * from './pipeline/index.js';
export * from './replay.js';
