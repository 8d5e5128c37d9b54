/**
 * The bmv2 target (harness side of the seam): the generated program on `simple_switch_grpc`
 * driven through the deployable controller core, observed from outside.
 */
export * from './target.js';
export * from './exceptions.js';
export * from './setup.js';
export * from './slow-path.js';
