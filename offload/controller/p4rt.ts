/**
 * The controller's device over a real P4Runtime session (p4/ P4RuntimeClient): entry writes by
 * name through `toUpdates` (P4Info ids resolved at the last moment), per-update failures from
 * WriteBatchError mapped back to op indexes, PacketOut by field name, PacketIns from the
 * client's bounded queue, direct counters by wildcard Read with `counter_data` (docs/p4-target-interfaces.md §4.7) and
 * idle-timeout notifications (docs/p4-target-interfaces.md §4.10) drained from the client's queue.
 *
 * Every RPC has a deadline (the client's default, or `deadlineMs`).
 */
import { P4InfoIndex, P4RuntimeClient, WriteBatchError, describeTableEntry, tableReadRequest, type DecodedMatch } from '../../p4/index.js';
import { toUpdates } from '../entries.js';
import { entryKey, type ControllerDevice, type EntryHits, type EntryOp, type OpFailure, type PacketInSource } from './device.js';

export interface P4RuntimeDeviceOptions {
  /** Deadline of each Write / Read (ms). Default 10 000. */
  deadlineMs?: number;
}

function decodedKey(table: string, match: Record<string, DecodedMatch>): string {
  const m: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(match)) {
    if (v.kind === 'exact' || v.kind === 'optional') m[k] = v.value;
    else if (v.kind === 'ternary') m[k] = { value: v.value, mask: v.mask };
    else m[k] = { value: 0n };
  }
  return entryKey(table, m);
}

export function p4runtimeDevice(client: P4RuntimeClient, index: P4InfoIndex, opts: P4RuntimeDeviceOptions = {}): ControllerDevice {
  const deadlineMs = opts.deadlineMs ?? 10_000;
  const packetIns: PacketInSource = {
    next: () => client.packetIns.next(),
    get dropped() {
      return client.packetIns.dropped;
    },
  };
  return {
    packetIns,
    async write(ops: EntryOp[]): Promise<OpFailure[]> {
      if (!ops.length) return [];
      // One type per call from the controller; group anyway so mixed lists work.
      const failures: OpFailure[] = [];
      const groups = new Map<string, number[]>();
      ops.forEach((o, i) => {
        const g = groups.get(o.type) ?? [];
        g.push(i);
        groups.set(o.type, g);
      });
      for (const [type, idxs] of groups) {
        const updates = toUpdates(
          idxs.map((i) => ops[i]!.entry),
          index,
          type as EntryOp['type'],
        );
        try {
          await client.write(updates, { deadlineMs, batchSize: 400 });
        } catch (e) {
          if (!(e instanceof WriteBatchError)) throw e;
          for (const f of e.failures) failures.push({ index: idxs[f.index]!, code: f.code, message: f.message });
          for (const n of e.notSent) failures.push({ index: idxs[n]!, code: e.rpcCode ?? 2, message: `not sent: ${e.rpcMessage ?? ''}` });
        }
      }
      return failures;
    },
    packetOut(payload, metadata) {
      client.sendPacketOut(payload, metadata);
    },
    async readHits(tables: string[]): Promise<EntryHits[]> {
      const out: EntryHits[] = [];
      const entities = await client.readAll(
        tables.map((t) => ({ tableEntry: tableReadRequest(index, t, { counterData: true }) })),
        { deadlineMs },
      );
      for (const ent of entities) {
        if (!ent.tableEntry) continue;
        const d = describeTableEntry(index, ent.tableEntry);
        out.push({ key: decodedKey(d.table, d.match), packets: d.counterData?.packetCount ?? 0n });
      }
      return out;
    },
    pollIdleTimeouts(): string[] {
      const keys: string[] = [];
      for (let ev = client.idleTimeouts.poll(); ev; ev = client.idleTimeouts.poll()) {
        for (const d of ev.decoded ?? []) keys.push(decodedKey(d.table, d.match));
      }
      return keys;
    },
  };
}
