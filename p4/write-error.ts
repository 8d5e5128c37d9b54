/**
 * Per-update Write errors (P4Runtime spec §10, §12.3; docs/p4-target-interfaces.md §3) and the
 * batching that keeps them readable.
 *
 * A Write whose updates all succeed returns OK. If some fail, the server answers gRPC UNKNOWN
 * and sends a serialized google.rpc.Status in the `grpc-status-details-bin` trailer whose
 * `details` hold one Any-packed p4.v1.Error per update, in request order (OK ones all-default).
 * An RPC-wide failure (not primary, no pipeline, bad atomicity) has no trailer or no details.
 * Like p4runtime-shell's P4RuntimeWriteException we skip the OK entries and report "at index
 * N: CODE, message" — with N the index in the caller's list, not in the sub-batch.
 *
 * Batches are capped at MAX_WRITE_BATCH updates: with @grpc/grpc-js a Status trailer of
 * ≳ 65 KB (≈ 550 failed updates at ~119 bytes each on PI) makes the call never complete and
 * wedges the connection (docs/p4-target-interfaces.md §3, observed with grpc-js 1.14).
 */
import { P4Error, codeName } from './errors.js';
import type { P4RuntimeError, RpcStatus, Update } from './messages.js';
import { decodeMessage } from './proto.js';

/**
 * Largest batch one Write RPC may carry. 500 all-failing PI updates make a ~59.5 KB Status,
 * which grpc-js still receives (docs/p4-target-interfaces.md §3: 59 502 bytes passed, 65 452 hung).
 */
export const MAX_WRITE_BATCH = 500;
/** Default batch size: stays well under the limit even with longer PI messages (docs/p4-target-interfaces.md §3: "≤ ~400"). */
export const DEFAULT_WRITE_BATCH = 400;

export interface UpdateFailure {
  /** Index of the update in the caller's list. */
  index: number;
  /** Canonical code (google.rpc.Code), e.g. 6 = ALREADY_EXISTS. */
  code: number;
  codeName: string;
  message: string;
  /** Error space, e.g. PI's `ALL-sswitch-p4org`. */
  space?: string;
}

/**
 * A Write (or one of its batches) failed. `failures` lists every failed update (index in the
 * caller's list). When a batch failed as a whole (`rpcCode` set: not primary, deadline, no
 * pipeline…), each of its updates is listed with that code, and the updates of later batches
 * were not sent (`notSent`).
 */
export class WriteBatchError extends P4Error {
  constructor(
    readonly failures: UpdateFailure[],
    readonly total: number,
    readonly notSent: number[] = [],
    readonly rpcCode?: number,
    readonly rpcMessage?: string,
  ) {
    super('CTO_P4RT_WRITE', WriteBatchError.describe(failures, total, notSent, rpcCode, rpcMessage));
  }

  private static describe(failures: UpdateFailure[], total: number, notSent: number[], rpcCode?: number, rpcMessage?: string): string {
    const head =
      rpcCode !== undefined
        ? `Write failed as a whole: ${codeName(rpcCode)} (${rpcCode})${rpcMessage ? `: ${rpcMessage}` : ''}; ${failures.length} of ${total} updates failed`
        : `Write: ${failures.length} of ${total} updates failed`;
    const lines = failures.slice(0, 10).map((f) => `at index ${f.index}: ${f.codeName}, ${f.message}`);
    if (failures.length > 10) lines.push(`… and ${failures.length - 10} more`);
    if (notSent.length) lines.push(`${notSent.length} updates not sent (indexes ${notSent[0]}..${notSent[notSent.length - 1]})`);
    return [head, ...lines].join('\n  ');
  }
}

/** google.rpc.Status from the bytes of a `grpc-status-details-bin` trailer. */
export function decodeStatusDetails(bytes: Uint8Array): RpcStatus {
  return decodeMessage<RpcStatus>('google.rpc.Status', bytes);
}

/** The p4.v1.Error in each Any of a Status (null for an Any of another type). */
export function p4ErrorsOf(status: RpcStatus): (P4RuntimeError | null)[] {
  return (status.details ?? []).map((any) => {
    const url = any.typeUrl ?? '';
    // Decode by the type URL's suffix after the last '/' (docs/p4-target-interfaces.md §3).
    if (url.slice(url.lastIndexOf('/') + 1) !== 'p4.v1.Error') return null;
    return decodeMessage<P4RuntimeError>('p4.v1.Error', any.value ?? new Uint8Array(0));
  });
}

/** What a failed gRPC call looks like (grpc-js ServiceError, or a fake in tests). */
export interface RpcFailure {
  code: number;
  details?: string;
  /** Buffers of the `grpc-status-details-bin` trailer, if any. */
  statusDetails?: Uint8Array;
}

/** Extract code, details and the status-details trailer from a grpc-js error. */
export function rpcFailureOf(err: unknown): RpcFailure {
  const e = err as { code?: number; details?: string; message?: string; metadata?: { get(k: string): unknown[] } };
  const bin = e.metadata?.get?.('grpc-status-details-bin')?.[0];
  return {
    code: typeof e.code === 'number' ? e.code : 2,
    details: e.details ?? e.message ?? '',
    statusDetails: bin instanceof Uint8Array ? bin : undefined,
  };
}

/**
 * Map a failed Write of `count` updates starting at caller index `offset` to per-update
 * failures, or to null if the failure is RPC-wide (no per-update details).
 */
export function perUpdateFailures(f: RpcFailure, offset: number, count: number): UpdateFailure[] | null {
  if (!f.statusDetails || f.statusDetails.length === 0) return null;
  let status: RpcStatus;
  try {
    status = decodeStatusDetails(f.statusDetails);
  } catch {
    return null;
  }
  const errors = p4ErrorsOf(status);
  // The spec wants exactly one detail per update; anything else cannot be mapped to indexes.
  if (errors.length !== count || errors.some((e) => e === null)) return null;
  const out: UpdateFailure[] = [];
  errors.forEach((e, i) => {
    const code = e!.canonicalCode ?? 0;
    if (code === 0) return;
    const fail: UpdateFailure = { index: offset + i, code, codeName: codeName(code), message: e!.message ?? '' };
    if (e!.space) fail.space = e!.space;
    out.push(fail);
  });
  return out;
}

/** Sends one batch; resolves on OK, rejects with a grpc-js error (or anything rpcFailureOf reads). */
export type SendBatch = (updates: Update[]) => Promise<void>;

export interface WriteResult {
  /** Number of Write RPCs made. */
  batches: number;
}

/**
 * Send `updates` in batches of at most `batchSize` (≤ MAX_WRITE_BATCH), in order. Per-update
 * failures of every batch are collected (the server continues within a batch, and we continue
 * with the next batches, so splitting does not change CONTINUE_ON_ERROR semantics); an RPC-wide
 * failure stops at that batch. Throws WriteBatchError if anything failed.
 */
export async function writeInBatches(updates: Update[], send: SendBatch, batchSize = DEFAULT_WRITE_BATCH): Promise<WriteResult> {
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_WRITE_BATCH) {
    throw new P4Error('CTO_P4RT_BATCH_SIZE', `batchSize ${batchSize} must be an integer in 1..${MAX_WRITE_BATCH} (larger failing batches hang @grpc/grpc-js, see p4/write-error.ts)`);
  }
  const failures: UpdateFailure[] = [];
  let batches = 0;
  for (let off = 0; off < updates.length; off += batchSize) {
    const batch = updates.slice(off, off + batchSize);
    batches++;
    try {
      await send(batch);
    } catch (err) {
      // Our own errors (e.g. an entity that cannot be encoded) are not RPC failures.
      if (err instanceof P4Error) throw err;
      const f = rpcFailureOf(err);
      const per = perUpdateFailures(f, off, batch.length);
      if (per) {
        failures.push(...per);
        continue;
      }
      for (let i = 0; i < batch.length; i++) failures.push({ index: off + i, code: f.code, codeName: codeName(f.code), message: f.details ?? '' });
      const notSent: number[] = [];
      for (let i = off + batch.length; i < updates.length; i++) notSent.push(i);
      throw new WriteBatchError(failures, updates.length, notSent, f.code, f.details);
    }
  }
  if (failures.length) throw new WriteBatchError(failures, updates.length);
  return { batches };
}
