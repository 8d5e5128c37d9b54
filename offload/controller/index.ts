/** The deployable slow-path controller: core, device interface, P4Runtime device. */
export * from './device.js';
export * from './core.js';
export * from './p4rt.js';
