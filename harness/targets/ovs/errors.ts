/**
 * Errors of the OVS target. Each names the OVS command (or socket) involved and carries OVS's
 * own text (stderr, OFPT_ERROR, unixctl error) so a rejection reads as OVS phrased it.
 */
import { CtoffloadError } from '../../../model/errors.js';

export type OvsErrorCode =
  /** A daemon failed to start or a start-up step failed. */
  | 'CTO_OVS_START'
  /** An ovs-vsctl / ovs-ofctl / ovs-appctl command (or unixctl call) failed. */
  | 'CTO_OVS_COMMAND'
  /** A command or socket reply did not arrive before its deadline. */
  | 'CTO_OVS_TIMEOUT'
  /** OVS rejected the policy's flows (message = ovs-ofctl's stderr). */
  | 'CTO_OVS_POLICY'
  /** The policy is valid for the model but cannot be expressed on OVS 3.1 (reason given). */
  | 'CTO_OVS_UNSUPPORTED'
  /** netdev-dummy/receive refused the frame. */
  | 'CTO_OVS_INJECT'
  /** Unexpected OpenFlow / unixctl / pcap data. */
  | 'CTO_OVS_PROTOCOL'
  /** A daemon exited while the target was in use. */
  | 'CTO_OVS_EXIT'
  /** The target was used after close() or before load(). */
  | 'CTO_OVS_STATE';

export class OvsError extends CtoffloadError {
  constructor(
    code: OvsErrorCode,
    message: string,
    /** The command line (or socket request) that failed, when there is one. */
    readonly command?: string,
    /** OVS's own diagnostic text (stderr or error reply). */
    readonly detail?: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}
