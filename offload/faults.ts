/**
 * Deliberate offload defects for `ctoffload selftest` (issue 6): the harness must catch every
 * one of them. They are NOT configuration: no config file, manifest or CLI option of the normal
 * commands can set them (resolveConfig never reads them); only code that builds a plan through
 * `compileOffload(…, faults)` / `createBmv2Target({ faults })` does, and the selftest is the one
 * caller. Every field is off by default; each one breaks exactly one rule and is marked
 * `FAULT(<name>)` where it acts, so `grep FAULT offload/` lists every injection point.
 */
export interface OffloadFaults {
  /**
   * connectionEntries drops the genuine reply-direction entry and installs, under the reply
   * tuple, a copy of the ORIGINAL direction's state (no `rpl`): the reverse direction is
   * treated as the original one. (Dropping the reply entry alone is invisible to a verdict
   * comparison: the reply then misses, is punted and the slow path's model answers correctly —
   * a performance defect, not a correctness one.)
   */
  noReplyEntry?: true;
  /** Conntrack keys ignore the zone: entries are installed with zone 0 and the lookup uses zone 0, so all zones share hardware state. */
  ignoreZone?: true;
  /** The program does not punt FIN (PUNT_TCP_FLAGS only for SYN/RST/no-ACK): an offloaded connection's FIN is forwarded on a hit. */
  finNotPunted?: true;
  /** The controller does not delete hardware entries when the model expires a connection (sweep at advance, or destroy in a punt). */
  keepStaleEntries?: true;
}

/** Names of the faults, in selftest order. */
export const FAULT_NAMES = ['noReplyEntry', 'ignoreZone', 'finNotPunted', 'keepStaleEntries'] as const satisfies readonly (keyof OffloadFaults)[];
export type FaultName = (typeof FAULT_NAMES)[number];
