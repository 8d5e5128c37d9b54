import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { Update } from '../../p4/messages.js';
import { encodeMessage } from '../../p4/proto.js';
import {
  MAX_WRITE_BATCH,
  WriteBatchError,
  decodeStatusDetails,
  p4ErrorsOf,
  perUpdateFailures,
  rpcFailureOf,
  writeInBatches,
} from '../../p4/write-error.js';

/** A grpc-js-shaped error whose trailer carries a google.rpc.Status with one p4.v1.Error per update. */
function failedWrite(perUpdate: ({ code: number; message: string } | null)[], typeUrl = 'type.googleapis.com/p4.v1.Error'): grpc.ServiceError {
  const status = encodeMessage('google.rpc.Status', {
    code: 2,
    message: '',
    details: perUpdate.map((e) => ({
      typeUrl,
      // PI sends an all-default Error (0 bytes) for the updates that succeeded (docs/p4-target-interfaces.md §3).
      value: e ? encodeMessage('p4.v1.Error', { canonicalCode: e.code, message: e.message, space: 'ALL-sswitch-p4org' }) : new Uint8Array(0),
    })),
  });
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(status));
  return Object.assign(new Error('2 UNKNOWN: '), { code: grpc.status.UNKNOWN, details: '', metadata });
}

function wholeRpc(code: number, details: string): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: new grpc.Metadata() });
}

const upd = (k: number, type: Update['type'] = 'INSERT'): Update => ({ type, entity: { tableEntry: { tableId: 0x02000001, match: [{ fieldId: 1, exact: { value: Uint8Array.of(k & 0xff, k >> 8) } }] } } });
const keyOf = (u: Update): string => Buffer.from(u.entity.tableEntry!.match![0]!.exact!.value).toString('hex');

/** A fake switch: a key set with PI's per-update semantics (INSERT dup → 6, DELETE absent → 5). */
function fakeSwitch() {
  const keys = new Set<string>();
  const batches: number[] = [];
  const send = async (batch: Update[]): Promise<void> => {
    batches.push(batch.length);
    const errs = batch.map((u) => {
      const k = keyOf(u);
      if (u.type === 'INSERT') {
        if (keys.has(k)) return { code: 6, message: 'Match entry exists, use MODIFY if you wish to change action' };
        keys.add(k);
      } else if (u.type === 'DELETE') {
        if (!keys.delete(k)) return { code: 5, message: 'Cannot find match entry' };
      }
      return null;
    });
    if (errs.some((e) => e)) throw failedWrite(errs);
  };
  return { keys, batches, send };
}

describe('decoding grpc-status-details-bin', () => {
  it('reads the observed PI trailer of [INSERT new, INSERT existing]', () => {
    const err = failedWrite([null, { code: 6, message: 'Match entry exists, use MODIFY if you wish to change action' }]);
    const f = rpcFailureOf(err);
    expect(f.code).toBe(2);
    const status = decodeStatusDetails(f.statusDetails!);
    expect(status.code).toBe(2);
    expect(p4ErrorsOf(status)).toEqual([{}, { canonicalCode: 6, message: 'Match entry exists, use MODIFY if you wish to change action', space: 'ALL-sswitch-p4org' }]);
    expect(perUpdateFailures(f, 100, 2)).toEqual([
      { index: 101, code: 6, codeName: 'ALREADY_EXISTS', message: 'Match entry exists, use MODIFY if you wish to change action', space: 'ALL-sswitch-p4org' },
    ]);
  });

  it('treats no trailer, no details, a count mismatch or foreign Any types as RPC-wide', () => {
    expect(perUpdateFailures(rpcFailureOf(wholeRpc(7, 'Not primary')), 0, 3)).toBeNull();
    expect(perUpdateFailures(rpcFailureOf(failedWrite([])), 0, 3)).toBeNull();
    expect(perUpdateFailures(rpcFailureOf(failedWrite([null, null])), 0, 3)).toBeNull();
    expect(perUpdateFailures(rpcFailureOf(failedWrite([{ code: 3, message: 'x' }], 'type.googleapis.com/other.Thing')), 0, 1)).toBeNull();
    expect(perUpdateFailures({ code: 2, statusDetails: Uint8Array.of(0xff, 0xff) }, 0, 1)).toBeNull();
  });
});

describe('writeInBatches (fake transport)', () => {
  it('splits into batches of at most batchSize and reports failures at caller indexes', async () => {
    const sw = fakeSwitch();
    await writeInBatches([0, 1, 2, 3, 4].map((k) => upd(k)), sw.send, 2);
    expect(sw.batches).toEqual([2, 2, 1]);
    // 1200 INSERTs of keys 0..1199 on a switch that already holds keys 3 and 9999; update 450
    // inserts 9999 and update 1100 repeats the key of update 1099.
    sw.keys.clear();
    sw.keys.add(keyOf(upd(3)));
    sw.keys.add(keyOf(upd(9999)));
    const updates = Array.from({ length: 1200 }, (_, i) => upd(i));
    updates[450] = upd(9999);
    updates[1100] = upd(1099); // duplicate of the update just before: the second one fails
    sw.batches.length = 0;
    let caught: unknown;
    try {
      await writeInBatches(updates, sw.send, 500);
    } catch (e) {
      caught = e;
    }
    expect(sw.batches).toEqual([500, 500, 200]);
    expect(caught).toBeInstanceOf(WriteBatchError);
    const wbe = caught as WriteBatchError;
    expect(wbe.code).toBe('CTO_P4RT_WRITE');
    expect(wbe.failures.map((f) => [f.index, f.codeName])).toEqual([
      [3, 'ALREADY_EXISTS'],
      [450, 'ALREADY_EXISTS'],
      [1100, 'ALREADY_EXISTS'],
    ]);
    expect(wbe.notSent).toEqual([]);
    expect(wbe.message).toMatch(/Write: 3 of 1200 updates failed\n {2}at index 3: ALREADY_EXISTS, Match entry exists/);
    // Everything else went in, across all three batches.
    expect(sw.keys.has(keyOf(upd(1199)))).toBe(true);
  });

  it('stops at an RPC-wide failure and says which updates were not sent', async () => {
    let calls = 0;
    const send = async (): Promise<void> => {
      calls++;
      if (calls === 2) throw wholeRpc(grpc.status.PERMISSION_DENIED, 'Not primary');
    };
    const err = (await writeInBatches(Array.from({ length: 7 }, (_, i) => upd(i)), send, 3).catch((e) => e)) as WriteBatchError;
    expect(calls).toBe(2);
    expect(err.rpcCode).toBe(7);
    expect(err.failures.map((f) => f.index)).toEqual([3, 4, 5]);
    expect(err.failures[0]).toMatchObject({ code: 7, codeName: 'PERMISSION_DENIED', message: 'Not primary' });
    expect(err.notSent).toEqual([6]);
    expect(err.message).toMatch(/Write failed as a whole: PERMISSION_DENIED \(7\): Not primary/);
  });

  it('refuses batch sizes above the grpc-js-safe cap', async () => {
    await expect(writeInBatches([upd(1)], async () => {}, MAX_WRITE_BATCH + 1)).rejects.toMatchObject({ code: 'CTO_P4RT_BATCH_SIZE' });
    await expect(writeInBatches([upd(1)], async () => {}, 0)).rejects.toMatchObject({ code: 'CTO_P4RT_BATCH_SIZE' });
    expect(await writeInBatches([], async () => {}, 10)).toEqual({ batches: 0 });
  });
});
