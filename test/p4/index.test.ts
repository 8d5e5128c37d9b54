import { describe, expect, expectTypeOf, it } from 'vitest';
import * as p4 from '../../p4/index.js';
import type { BenchResult } from '../../bench/p4runtime.js';

describe('p4/index.ts public surface', () => {
  it('exports the client, index, builders, bytes and errors', () => {
    for (const name of [
      'P4RuntimeClient',
      'waitForP4Runtime',
      'P4InfoIndex',
      'tableEntry',
      'matchKey',
      'insert',
      'modify',
      'remove',
      'packetOut',
      'encodeValue',
      'decodeValue',
      'protoRoot',
      'protoType',
      'makeGrpcClient',
      'WriteBatchError',
      'writeInBatches',
      'ArbitrationState',
      'BoundedQueue',
      'P4Error',
    ]) {
      expect(typeof (p4 as Record<string, unknown>)[name], name).toBe('function');
    }
  });

  it('pins the main signatures', () => {
    expectTypeOf(p4.P4RuntimeClient.connect).parameters.toEqualTypeOf<[string, p4.ConnectOptions]>();
    expectTypeOf(p4.P4RuntimeClient.connect).returns.resolves.toEqualTypeOf<p4.P4RuntimeClient>();
    expectTypeOf<p4.P4RuntimeClient['write']>().parameters.toEqualTypeOf<[p4.Update[], p4.WriteOptions?]>();
    expectTypeOf<p4.P4RuntimeClient['isPrimary']>().toEqualTypeOf<boolean>();
    expectTypeOf<p4.P4RuntimeClient['packetIns']>().toEqualTypeOf<p4.BoundedQueue<p4.PacketInEvent>>();
    expectTypeOf(p4.waitForP4Runtime).returns.resolves.toEqualTypeOf<string>();
    expectTypeOf(p4.tableEntry).returns.toEqualTypeOf<p4.TableEntry>();
    expectTypeOf(p4.encodeValue).parameters.toEqualTypeOf<[p4.P4Value, number, string?]>();
    expectTypeOf<p4.WriteBatchError['failures']>().toEqualTypeOf<p4.UpdateFailure[]>();
    expectTypeOf<p4.UpdateFailure>().toMatchTypeOf<{ index: number; code: number; message: string }>();
    expectTypeOf<p4.ConnectOptions['electionId']>().toEqualTypeOf<p4.ElectionId>();
    expectTypeOf<p4.TableEntry['idleTimeoutNs']>().toEqualTypeOf<bigint | undefined>();
    expectTypeOf<BenchResult>().toEqualTypeOf<{ name: string; value: number; unit: string; note?: string }>();
  });
});
