/**
 * Deliberately broken offloads for `ctoffload selftest`: the harness must catch every one in
 * its DEFAULT (deployed) configuration. Each defect is wrapped around the seam from outside
 * (docs/architecture.md): a rewrite of the generated P4 source, another entry builder, or a
 * wrapper of the device the controller core sees. Nothing in offload/ knows of them.
 *
 * Drawn from what breaks in real conntrack offloads:
 * - noReplyEntry: the reply direction's entry carries the original direction's state (no rpl):
 *   the reverse direction is treated as the original one.
 * - ignoreZone: keys ignore the zone (lookups and entries under zone 0): all zones share
 *   hardware state (zone confusion, as in NIC tables keyed without the CT zone).
 * - finNotPunted: the program does not punt FIN: an offloaded connection's FIN is forwarded on
 *   a hit and the software never sees the close.
 * - keepStaleEntries: the controller's DELETEs never reach the hardware (reported as done):
 *   an expired connection's entries keep forwarding.
 * - hitsNotReported: the hardware's counters never move, so the software expires a connection
 *   the NIC is still forwarding (openwrt/openwrt#17915: a hardware-offloaded flow timed out by
 *   the software conntrack while traffic still flows).
 * - replyKeyWrong: the reply entry is keyed with the ports swapped, so it never matches: every
 *   verdict stays right (the slow path answers each reply) while the NIC offloads only half of
 *   what it promises — only the offload contract (harness/contract.ts) can see it (as in
 *   openwrt/openwrt#2815: hardware flow entries computed wrongly, never bound, "all packets
 *   are forwarded by CPU" while traffic worked).
 */
import type { ConnInfo } from '../../model/conntrack/types.js';
import { CS_REPLY_DIR } from '../../model/ctstate.js';
import { connectionEntries, type ControllerDevice, type EntryBuilder, type OffloadEntry, type Plan } from '../../offload/index.js';
import type { Bmv2Decorators } from '../targets/bmv2/index.js';

export const FAULT_NAMES = ['noReplyEntry', 'ignoreZone', 'finNotPunted', 'keepStaleEntries', 'hitsNotReported', 'replyKeyWrong'] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

/** Replace every `from` by `to` in the generated source; none found: the variant would be void. */
function rewriteEvery(p4: string, from: string, to: string, what: string): string {
  const parts = p4.split(from);
  if (parts.length < 2) throw new Error(`selftest fault ${what}: expected '${from}' in the generated program, found none (has offload/p4gen.ts changed?)`);
  return parts.join(to);
}

/** Entries of the reply direction (comment `conn N zone Z reply`, offload/entries.ts). */
const isReply = (e: OffloadEntry): boolean => e.comment.endsWith(' reply');

function mapEntries(f: (e: OffloadEntry, conn: ConnInfo) => OffloadEntry): EntryBuilder {
  return (conn: ConnInfo, plan: Plan, opts) => connectionEntries(conn, plan, opts).map((e) => f(e, conn));
}

/** The decorators of one variant. */
export function faultDecorators(name: FaultName): Bmv2Decorators {
  switch (name) {
    case 'noReplyEntry':
      return {
        entryBuilder: mapEntries((e) => {
          if (!isReply(e)) return e;
          const state = (e.spec.params!.state as bigint) & ~BigInt(CS_REPLY_DIR);
          return { ...e, spec: { ...e.spec, params: { ...e.spec.params, state } } };
        }),
      };
    case 'ignoreZone':
      return {
        rewriteProgram: (p4) => rewriteEvery(p4, 'meta.ctk.zone = meta.op.zone;', 'meta.ctk.zone = 0;', name),
        entryBuilder: mapEntries((e) => ({ ...e, spec: { ...e.spec, match: { ...e.spec.match, zone: 0n } } })),
      };
    case 'finNotPunted':
      return { rewriteProgram: (p4) => rewriteEvery(p4, '(hdr.tcp.flags & 0x007) != 0', '(hdr.tcp.flags & 0x006) != 0', name) };
    case 'keepStaleEntries':
      return {
        wrapDevice: (d: ControllerDevice): ControllerDevice => ({
          ...d,
          packetIns: d.packetIns,
          write: async (ops) => {
            // DELETEs are dropped and reported as done; the other ops' failures keep their indexes.
            const kept = ops.map((o, i) => [o, i] as const).filter(([o]) => o.type !== 'DELETE');
            const fails = await d.write(kept.map(([o]) => o));
            return fails.map((f) => ({ ...f, index: kept[f.index]![1] }));
          },
        }),
      };
    case 'hitsNotReported':
      return {
        wrapDevice: (d: ControllerDevice): ControllerDevice => ({
          ...d,
          packetIns: d.packetIns,
          ...(d.readHits ? { readHits: async (tables: string[]) => (await d.readHits!(tables)).map((h) => ({ key: h.key, packets: 0n })) } : {}),
        }),
      };
    case 'replyKeyWrong':
      return {
        entryBuilder: mapEntries((e) => {
          if (!isReply(e)) return e;
          const m = e.spec.match as Record<string, bigint>;
          return { ...e, spec: { ...e.spec, match: { ...m, sport: m.dport!, dport: m.sport! } } };
        }),
      };
  }
}
