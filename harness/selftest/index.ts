/** `ctoffload selftest`: the harness against deliberately broken offloads (./faults.ts). */
export * from './run.js';
export { faultDecorators } from './faults.js';
