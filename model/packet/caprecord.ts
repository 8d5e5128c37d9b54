/** The record shared by the pcap and pcapng readers and writers (./capreader.ts, ./capwriter.ts). */

/** One captured frame. `port` is the switch port it was seen on (pcapng interface, or an option for pcap). */
export interface CaptureRecord {
  /** Capture time in nanoseconds since the Unix epoch (pcap/pcapng timestamps scaled to ns). */
  timeNs: bigint;
  port: number;
  /** The captured bytes (may be shorter than origLen when the capture had a snap length). */
  data: Uint8Array;
  /** Length of the frame on the wire. */
  origLen: number;
  comment?: string;
}

export const LINKTYPE_ETHERNET = 1;
