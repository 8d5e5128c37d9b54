/** Public API of the reference connection tracker (OVS 3.1 userspace ct() semantics). */
export * from './types.js';
export { Conntrack, ConntrackConfigError, DEFAULT_MAX_CONNS, L4_TRACKERS } from './conntrack.js';
export type { ConntrackEvent, ConntrackOptions } from './conntrack.js';
export { TIMEOUT_ATTRS, DEFAULT_TIMEOUTS_S, TimeoutPolicyError } from './timeouts.js';
export { tcpTracker, tcpInvalidFlags, TCP_STATE_NAMES } from './tcp.js';
export { icmp4Tracker, icmp6Tracker } from './icmp.js';
export { otherTracker } from './other.js';
export { ConnTable } from './table.js';
export {
  Ipf, IpfBatch, IpfConfigError, conntrackExecute, formatIpfStatus,
  IPF_PASS, IPF_INVALID, IPF_HELD, IPF_COMPLETE, IPF_EXPIRED_CT_STATE, IPF_LIST_STATE_NAMES,
  IPF_V4_FRAG_SIZE_MIN_DEF, IPF_V6_FRAG_SIZE_MIN_DEF, IPF_V4_FRAG_SIZE_LBOUND, IPF_V6_FRAG_SIZE_LBOUND,
  IPF_MAX_FRAGS_DEFAULT, IPF_NFRAG_UBOUND, IPF_FRAG_LIST_TIMEOUT, IPF_FRAG_LIST_PURGE_TIME_ADJ, NETDEV_MAX_BURST,
} from './ipf.js';
export type { IpfFragment, IpfStatus, IpfProtoStatus } from './ipf.js';
export { formatConnection } from './dump.js';
export {
  NatInfo, NatAllocator, natTupleAllowed, NAT_ACTION_SRC, NAT_ACTION_SRC_PORT, NAT_ACTION_DST, NAT_ACTION_DST_PORT,
  MIN_NAT_EPHEMERAL_PORT, MAX_NAT_EPHEMERAL_PORT,
} from './nat.js';
export type { NatChooser } from './nat.js';
/** The key layout (./key.ts), for code that builds or reads keys (the NAT chooser). */
export { KEY_WORDS, K_META, K_SRC, K_SPORT, K_DST, K_DPORT, META_V6 } from './key.js';
