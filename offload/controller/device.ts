/**
 * What the controller core needs from a switch: entry writes, PacketOut, a PacketIn source, and
 * the hardware's activity (direct counters, idle-timeout notifications). `p4runtimeDevice`
 * (./p4rt.ts) implements it over a real P4Runtime session; unit tests use a fake. Anything that
 * observes or perturbs the controller from outside (the conformance harness, the self-test's
 * faults) wraps this interface: the core never knows.
 */

export type EntryOpType = 'INSERT' | 'MODIFY' | 'DELETE';

import type { OffloadEntry } from '../entries.js';

export interface EntryOp {
  type: EntryOpType;
  entry: OffloadEntry;
}

/** One failed op of a `write`: index in the ops list, canonical gRPC code (google.rpc.Code). */
export interface OpFailure {
  index: number;
  code: number;
  message: string;
}

export interface RawPacketIn {
  payload: Uint8Array;
  /** packet_in field name → value (p4/ `decodePacketIn`). */
  metadata: Record<string, bigint>;
}

/** Something that hands out PacketIns in arrival order (p4/ BoundedQueue has this shape). */
export interface PacketInSource {
  /** Next PacketIn, or undefined once the source is closed. */
  next(): Promise<RawPacketIn | undefined>;
  /** PacketIns lost to a full queue. */
  readonly dropped?: number;
}

/** Activity of one installed entry (direct counter, docs/p4-target-interfaces.md §4.7). */
export interface EntryHits {
  /** `entryKey(table, match)`. */
  key: string;
  packets: bigint;
  /**
   * When the entry was last hit, in the controller's clock (ms), if the hardware can say (a NIC's
   * per-flow `lastused` stamp, P4Runtime `time_since_last_hit` mapped to the controller's clock).
   * Absent: the controller credits the hits at the time of the poll (see core.ts "Ageing").
   */
  lastUsed?: number;
}

export interface ControllerDevice {
  /**
   * Apply `ops` in order (≤ 400 per Write); resolve with the failed ops (empty: all applied).
   * Reject only when the outcome of the ops is unknown (switch gone).
   */
  write(ops: EntryOp[]): Promise<OpFailure[]>;
  /** One PacketOut with `packet_out` fields by name. */
  packetOut(payload: Uint8Array, metadata: Record<string, bigint>): void;
  readonly packetIns: PacketInSource;
  /** Hardware activity of the entries of these tables (direct counters). */
  readHits?(tables: string[]): Promise<EntryHits[]>;
  /** Drain pending idle-timeout notifications (entry keys). */
  pollIdleTimeouts?(): string[];
}

/** Canonical text key of a table entry (table + match values), to find entries again. */
export function entryKey(table: string, match: Record<string, unknown>): string {
  const parts = Object.keys(match)
    .sort()
    .map((k) => {
      const v = match[k] as bigint | { value: bigint; mask?: bigint };
      if (typeof v === 'bigint' || typeof v === 'number') return `${k}=${v.toString(16)}`;
      return `${k}=${v.value.toString(16)}${v.mask !== undefined ? `/${v.mask.toString(16)}` : ''}`;
    });
  return `${table}|${parts.join(',')}`;
}

/** Key of an offload entry (its table and match). */
export const offloadEntryKey = (e: OffloadEntry): string => entryKey(e.table, e.spec.match ?? {});

/** google.rpc.Code values the controller reacts to. */
export const STATUS_OK = 0;
export const STATUS_UNKNOWN = 2;
export const STATUS_NOT_FOUND = 5;
export const STATUS_ALREADY_EXISTS = 6;
export const STATUS_RESOURCE_EXHAUSTED = 8;
