/**
 * Wire formats shared by the generated program, the harness and the slow-path controller —
 * the one place they are defined: the probe header on dataplane packets, and the
 * `packet_in` / `packet_out` controller headers (P4Runtime packet metadata, docs/p4-target-interfaces.md §4.8).
 *
 * ## Probe (config `probe`, default OFF: observation builds only)
 *
 * The production program carries no test machinery. An observation build (`probe: true`,
 * `ctoffload generate --probe`, what the harness's bmv2 target loads) adds the probe, and only
 * the probe: test/offload/observation-equality.ts proves with p4c's outputs (observation-equality-{a,b}.test.ts) that it has
 * the production build's P4Info byte for byte and, once the probe parts are erased, its bmv2
 * pipelines, parser and deparser.
 *
 * A probe is a 32-byte fixed part followed by `lookups` records of 24 bytes, *prepended* to the
 * Ethernet frame, big-endian (version 2):
 *
 * | offset | size | field    | meaning |
 * |--------|------|----------|---------|
 * | 0      | 2    | magic    | 0x6374 ("ct") |
 * | 2      | 1    | version  | 2 |
 * | 3      | 1    | flags    | bit 0 OUTPUT (set by the switch on every output, and on a `controller` PacketIn), bit 1 PACKET_OUT (output came from a PacketOut DIRECT, i.e. the slow path), bit 2 ECHO, bit 3 REPORT_DROP (input: see below; on a PacketIn: this is the drop report) |
 * | 4      | 4    | tag      | harness tag of the input packet, copied to every output and to the packet_in |
 * | 8      | 1    | ct_state | ct_state bits of the packet at output time (0 = untracked) |
 * | 9      | 1    | lookups  | number N of lookup records that follow (0 on input) |
 * | 10     | 2    | ct_zone  | |
 * | 12     | 4    | ct_mark  | |
 * | 16     | 16   | ct_label | |
 * | 32     | 24·N | records  | one per recirculating ct lookup, MOST RECENT FIRST (the program pushes each on the front of a header stack) |
 *
 * Lookup record (24 bytes) — the model's `CtLookup` (model/verdict.ts) as the hardware saw it
 * when the tracked copy entered its table (`ct(table=T)`: the hit's ct_state, the lookup's zone,
 * the entry's mark and label):
 *
 * | offset | size | field    | meaning |
 * |--------|------|----------|---------|
 * | 0      | 1    | table_id | policy table the tracked copy entered (`CtLookup.table`; `table` is a P4 keyword) |
 * | 1      | 1    | ct_state | |
 * | 2      | 2    | ct_zone  | |
 * | 4      | 4    | ct_mark  | |
 * | 8      | 16   | ct_label | |
 *
 * The header stack has one slot per unrolled stage (a stage recirculates at most once, so a
 * packet never has more lookups than stages; config `maxStages` ≤ 32 bounds a probe to
 * 32 + 24·32 bytes). `decodeProbe` returns the lookups in execution order.
 *
 * Where a probe appears:
 * - every dataplane output (hardware: lookups of the pass; PacketOut DIRECT: none);
 * - in front of the frame in the payload of the PacketIns that are not punts: a `controller`
 *   output (flag OUTPUT), a drop report (flag REPORT_DROP), an ECHO or a DIRECT-to-CPU ping
 *   (flag ECHO); `splitObservedPayload` strips it. A punt's payload stays the bare original
 *   frame (the controller runs the model on it; its lookups are the model's).
 *
 * Input: a frame arriving on a dataplane port whose first three bytes are magic+version is
 * parsed as probed, and its tag is used; any other frame is plain Ethernet with tag 0 (the
 * first byte 0x63 is a multicast, locally administered MAC — never one the harness uses as a
 * destination). The input probe never leaves the switch as such: outputs get a fresh one, a
 * punt's payload is the bare original frame. The tag, not the dataplane packet id, is what
 * attributes outputs to inputs (bmv2 mislabels ids when a PacketOut is injected concurrently).
 *
 * Echo (harness only): an input probe with flag ECHO sends the frame straight to the CPU port
 * as a PacketIn with reason 0 and the probe's tag — no policy, no lookup (like a PacketOut
 * DIRECT to the CPU port, which the controller uses as its ping). The bmv2 target writes one
 * after each input on the same dataplane stream: bmv2 has one ingress thread fed in order and
 * one queue per egress port, so the echo's PacketIn comes behind the input's punt, and its
 * arrival also proves the stream is registered (output produced while no stream is registered
 * is discarded, docs/p4-target-interfaces.md §5.3).
 *
 * Drop report (harness only): an input probe with flag REPORT_DROP makes a drop visible — instead
 * of being dropped, the packet goes to the CPU port as a reason-0 PacketIn with its tag, and its
 * probe carries the lookups done before the drop. With it, every harness input has exactly one
 * outcome the bmv2 target can wait for: one hardware output (decided whole, at most one
 * output), one PacketIn (a punt, a `controller` output, or this drop report).
 *
 * ## packet_out (controller → switch)
 *
 * | field | bits | meaning |
 * |---|---|---|
 * | egress_port | 9 | DIRECT: port to send the payload to |
 * | ingress_port | 9 | PIPELINE: logical in_port the policy sees |
 * | mode | 6 | 0 DIRECT (send as is, with these probe fields), 1 PIPELINE (run the policy as if received on ingress_port) |
 * | ct_state, ct_zone, ct_mark, ct_label | 8, 16, 32, 128 | DIRECT: ct fields for the output probe |
 * | tag | 32 | tag for the output probe / a punt of a PIPELINE packet |
 *
 * ## packet_in (switch → controller)
 *
 * | field | bits | meaning |
 * |---|---|---|
 * | ingress_port | 9 | in_port of the packet |
 * | pad | 7 | 0 (bmv2 needs whole bytes; not @hidden, PI derives the length from P4Info, docs/p4-target-interfaces.md §4.8) |
 * | reason | 8 | offload/punt.ts code |
 * | stage | 8 | pipeline stage at the punt |
 * | table_id | 8 | policy (OpenFlow) table being executed at the punt |
 * | ct_state, ct_zone, ct_mark, ct_label | 8, 16, 32, 128 | ct fields at the punt (CONTROLLER: at the output) |
 * | tag | 32 | probe tag of the input (0 without probe) |
 */
import type { CtFields, CtLookup } from '../model/verdict.js';
import { PUNT } from './punt.js';

export const PROBE_MAGIC = 0x6374;
/** 2: lookup records after the fixed part (count in the former reserved byte). */
export const PROBE_VERSION = 2;
/** Length of the fixed part. */
export const PROBE_LEN = 32;
/** Length of one lookup record. */
export const PROBE_LOOKUP_LEN = 24;
/** Most lookup records a probe can carry (config `maxStages` ≤ 32, offload/config.ts). */
export const PROBE_MAX_LOOKUPS = 32;
/** Set by the switch on every output, and on the probe of a `controller` PacketIn. */
export const PROBE_F_OUTPUT = 0x01;
/** Output of a PacketOut DIRECT (the slow path's). */
export const PROBE_F_PACKET_OUT = 0x02;
/** Input: send the frame to the CPU port as a reason-0 PacketIn with the tag (harness ordering barrier); on a PacketIn's probe: an echo or ping. */
export const PROBE_F_ECHO = 0x04;
/** Input: report a drop as a reason-0 PacketIn with the tag instead of dropping silently; on a PacketIn's probe: this is the drop report. */
export const PROBE_F_REPORT_DROP = 0x08;

export const PACKET_OUT_DIRECT = 0;
export const PACKET_OUT_PIPELINE = 1;

/** Header layouts (field name, width) in wire order; the generator declares them from these. */
export const PROBE_FIELDS = [
  ['magic', 16],
  ['version', 8],
  ['flags', 8],
  ['tag', 32],
  ['ct_state', 8],
  ['lookups', 8],
  ['ct_zone', 16],
  ['ct_mark', 32],
  ['ct_label', 128],
] as const;

/** One lookup record (a header stack element in the program). */
export const PROBE_LOOKUP_FIELDS = [
  ['table_id', 8],
  ['ct_state', 8],
  ['ct_zone', 16],
  ['ct_mark', 32],
  ['ct_label', 128],
] as const;

export const PACKET_OUT_FIELDS = [
  ['egress_port', 9],
  ['ingress_port', 9],
  ['mode', 6],
  ['ct_state', 8],
  ['ct_zone', 16],
  ['ct_mark', 32],
  ['ct_label', 128],
  ['tag', 32],
] as const;

export const PACKET_IN_FIELDS = [
  ['ingress_port', 9],
  ['pad', 7],
  ['reason', 8],
  ['stage', 8],
  ['table_id', 8],
  ['ct_state', 8],
  ['ct_zone', 16],
  ['ct_mark', 32],
  ['ct_label', 128],
  ['tag', 32],
] as const;

export interface Probe extends CtFields {
  flags: number;
  tag: number;
  /** Lookups in execution order (oldest first); absent = none. */
  lookups?: CtLookup[];
}

/** A decoded probe: `lookups` always present (execution order). */
export interface DecodedProbe extends Probe {
  lookups: CtLookup[];
}

/** Prepend an input probe carrying `tag` (ct fields zero, no lookups) to a frame. */
export function addInputProbe(frame: Uint8Array, tag: number): Uint8Array {
  return encodeProbe({ flags: 0, tag, state: 0, zone: 0, mark: 0, label: 0n }, frame);
}

function putLabel(out: Uint8Array, end: number, label: bigint): void {
  let l = label;
  for (let i = end - 1; i >= end - 16; i--) {
    out[i] = Number(l & 0xffn);
    l >>= 8n;
  }
}

/** 16 bytes at `at` as a bigint; labels are mostly zero: skip 16 BigInt steps then (hot in the harness). */
function getLabel(pkt: Uint8Array, dv: DataView, at: number): bigint {
  if (!(dv.getUint32(at) | dv.getUint32(at + 4) | dv.getUint32(at + 8) | dv.getUint32(at + 12))) return 0n;
  let label = 0n;
  for (let i = at; i < at + 16; i++) label = (label << 8n) | BigInt(pkt[i]!);
  return label;
}

/** The probe (fixed part, then its lookups most recent first, as the switch writes them) followed by `frame`. */
export function encodeProbe(p: Probe, frame: Uint8Array = new Uint8Array(0)): Uint8Array {
  const lookups = p.lookups ?? [];
  if (lookups.length > PROBE_MAX_LOOKUPS) throw new RangeError(`a probe carries at most ${PROBE_MAX_LOOKUPS} lookups, got ${lookups.length}`);
  const head = PROBE_LEN + PROBE_LOOKUP_LEN * lookups.length;
  const out = new Uint8Array(head + frame.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, PROBE_MAGIC);
  out[2] = PROBE_VERSION;
  out[3] = p.flags & 0xff;
  dv.setUint32(4, p.tag >>> 0);
  out[8] = p.state & 0xff;
  out[9] = lookups.length;
  dv.setUint16(10, p.zone & 0xffff);
  dv.setUint32(12, p.mark >>> 0);
  putLabel(out, 32, p.label);
  for (let k = 0; k < lookups.length; k++) {
    const l = lookups[lookups.length - 1 - k]!; // most recent first
    const at = PROBE_LEN + PROBE_LOOKUP_LEN * k;
    out[at] = l.table & 0xff;
    out[at + 1] = l.state & 0xff;
    dv.setUint16(at + 2, l.zone & 0xffff);
    dv.setUint32(at + 4, l.mark >>> 0);
    putLabel(out, at + 24, l.label);
  }
  out.set(frame, head);
  return out;
}

/**
 * Split a probed packet into its probe and the bare frame; null when it carries no probe of this
 * version, or when it is shorter than the probe's lookup records say.
 */
export function decodeProbe(pkt: Uint8Array): { probe: DecodedProbe; frame: Uint8Array } | null {
  if (pkt.length < PROBE_LEN) return null;
  const dv = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
  if (dv.getUint16(0) !== PROBE_MAGIC || pkt[2] !== PROBE_VERSION) return null;
  const n = pkt[9]!;
  const head = PROBE_LEN + PROBE_LOOKUP_LEN * n;
  if (n > PROBE_MAX_LOOKUPS || pkt.length < head) return null;
  const lookups: CtLookup[] = new Array<CtLookup>(n);
  for (let k = 0; k < n; k++) {
    const at = PROBE_LEN + PROBE_LOOKUP_LEN * k;
    // The switch writes the most recent lookup first: execution order is the reverse.
    lookups[n - 1 - k] = { table: pkt[at]!, state: pkt[at + 1]!, zone: dv.getUint16(at + 2), mark: dv.getUint32(at + 4), label: getLabel(pkt, dv, at + 8) };
  }
  return {
    probe: { flags: pkt[3]!, tag: dv.getUint32(4), state: pkt[8]!, zone: dv.getUint16(10), mark: dv.getUint32(12), label: getLabel(pkt, dv, 16), lookups },
    frame: pkt.subarray(head),
  };
}

/**
 * A PacketIn's payload as the controller should see it. In an observation build (`probeBuild`)
 * the PacketIns that are not punts — reason 0 (drop report, ECHO, ping) and CONTROLLER — carry
 * the probe in front of the frame (top of this file): returns the bare frame and the lookups
 * the hardware reported; null when that probe is missing or truncated (a malformed PacketIn).
 * A punt's payload, and every payload of a production build, is the bare frame (no lookups).
 */
export function splitObservedPayload(payload: Uint8Array, reason: number, probeBuild: boolean): { frame: Uint8Array; lookups?: CtLookup[] } | null {
  if (!probeBuild || (reason !== 0 && reason !== PUNT.CONTROLLER)) return { frame: payload };
  const d = decodeProbe(payload);
  return d ? { frame: d.frame, lookups: d.probe.lookups } : null;
}

export interface PacketInMeta {
  ingressPort: number;
  reason: number;
  stage: number;
  tableId: number;
  ct: CtFields;
  tag: number;
}

/**
 * PacketIn metadata (by field name, values as bigint or bytes already decoded by the client)
 * to a typed record. Accepts `{ name: value }` with number/bigint values.
 */
export function decodePacketIn(md: Record<string, number | bigint>): PacketInMeta {
  const n = (k: string): number => Number(md[k] ?? 0);
  return {
    ingressPort: n('ingress_port'),
    reason: n('reason'),
    stage: n('stage'),
    tableId: n('table_id'),
    ct: { state: n('ct_state'), zone: n('ct_zone'), mark: n('ct_mark'), label: BigInt(md.ct_label ?? 0) },
    tag: n('tag'),
  };
}

/** PacketOut metadata for mode DIRECT: send `payload` to `port` with these probe fields. */
export function packetOutDirect(port: number, ct: CtFields | undefined, tag: number): Record<string, bigint> {
  return {
    egress_port: BigInt(port),
    ingress_port: 0n,
    mode: BigInt(PACKET_OUT_DIRECT),
    ct_state: BigInt(ct?.state ?? 0),
    ct_zone: BigInt(ct?.zone ?? 0),
    ct_mark: BigInt((ct?.mark ?? 0) >>> 0),
    ct_label: ct?.label ?? 0n,
    tag: BigInt(tag >>> 0),
  };
}

/** PacketOut metadata for mode PIPELINE: run the policy as if the payload arrived on `inPort`. */
export function packetOutPipeline(inPort: number, tag: number): Record<string, bigint> {
  return { egress_port: 0n, ingress_port: BigInt(inPort), mode: BigInt(PACKET_OUT_PIPELINE), ct_state: 0n, ct_zone: 0n, ct_mark: 0n, ct_label: 0n, tag: BigInt(tag >>> 0) };
}
