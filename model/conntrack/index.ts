/** Public API of the reference connection tracker (OVS 3.1 userspace ct() semantics). */
export * from './types.js';
export { Conntrack, ConntrackConfigError, DEFAULT_MAX_CONNS, L4_TRACKERS } from './conntrack.js';
export type { ConntrackEvent, ConntrackOptions } from './conntrack.js';
export { TIMEOUT_ATTRS, DEFAULT_TIMEOUTS_S, TimeoutPolicyError } from './timeouts.js';
export { tcpTracker, tcpInvalidFlags, TCP_STATE_NAMES } from './tcp.js';
export { icmp4Tracker, icmp6Tracker } from './icmp.js';
export { otherTracker } from './other.js';
export { ConnTable } from './table.js';
