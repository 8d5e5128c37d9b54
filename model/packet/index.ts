/** Public API of model/packet: addresses, checksums, the flat PacketView parser, the codec, captures. */
export * from './addr.js';
export * from './checksum.js';
export * from './view.js';
export * from './build.js';
export * from './codec.js';
export * from './tcpopts.js';
export * from './capture.js';
