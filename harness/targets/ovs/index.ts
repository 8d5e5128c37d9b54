/** Open vSwitch 3.1 (userspace conntrack, dummy datapath) as a harness Target. */
export { OvsTarget, type OvsTargetOptions } from './target.js';
export { OVS_MAX_FRAME, OVS_MIN_FRAME, OVS_PORT_MTU } from './limits.js';
export { OvsInstance, type OvsInstanceOptions } from './instance.js';
export { OvsError, type OvsErrorCode } from './errors.js';
export { planOvsPolicy, type OvsPolicyPlan, type PolicyConfig } from './rewrite.js';
