/**
 * Public API of the offload layer: configuration, policy → P4 compiler, table entries for the
 * static policy and for model connections, and the wire formats (probe, packet_in/out, punt
 * reasons) the slow-path controller and the harness share with the generated program.
 */
export * from './errors.js';
export * from './config.js';
export * from './fields.js';
export type * from './ir.js';
export * from './compile.js';
export * from './p4ast.js';
export * from './emit.js';
export * from './p4gen.js';
export * from './from-policy.js';
export * from './entries.js';
export * from './punt.js';
export * from './probe.js';
export * from './generate.js';
export * from './controller/index.js';
export * from './daemon/index.js';
