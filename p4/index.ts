/**
 * Public API of the p4 layer: protocol definitions, canonical bytestrings, the P4Info index and
 * entity builders, and the P4Runtime client. Other folders import only from here.
 */
export * from './errors.js';
export * from './proto.js';
export * from './messages.js';
export * from './bytes.js';
export * from './p4info.js';
export * from './entities.js';
export * from './arbitration.js';
export * from './stream.js';
export * from './write-error.js';
export * from './runtime.js';
// bmv2 driver, packet channels and the p4c runner.
export * from './which.js';
export * from './ports.js';
export * from './bmv2.js';
export * from './dataplane.js';
export * from './nanomsg.js';
export * from './nanomsg-channel.js';
export * from './p4c.js';
