/**
 * Wire formats shared by the generated program, the harness and the slow-path controller —
 * the one place they are defined: the probe header on dataplane packets, and the
 * `packet_in` / `packet_out` controller headers (P4Runtime packet metadata, docs/p4-target-interfaces.md §4.8).
 *
 * ## Probe header (config `probe`, default on)
 *
 * 32 bytes *prepended* to the Ethernet frame, big-endian:
 *
 * | offset | size | field    | meaning |
 * |--------|------|----------|---------|
 * | 0      | 2    | magic    | 0x6374 ("ct") |
 * | 2      | 1    | version  | 1 |
 * | 3      | 1    | flags    | bit 0 OUTPUT (set by the switch on every output), bit 1 PACKET_OUT (output came from a PacketOut DIRECT, i.e. the slow path), bit 2 ECHO, bit 3 REPORT_DROP (input only: see below) |
 * | 4      | 4    | tag      | harness tag of the input packet, copied to every output and to the packet_in |
 * | 8      | 1    | ct_state | ct_state bits of the packet at output time (0 = untracked) |
 * | 9      | 1    | reserved | 0 |
 * | 10     | 2    | ct_zone  | |
 * | 12     | 4    | ct_mark  | |
 * | 16     | 16   | ct_label | |
 *
 * Input: a frame arriving on a dataplane port whose first three bytes are magic+version is
 * parsed as probed, and its tag is used; any other frame is plain Ethernet with tag 0 (the
 * first byte 0x63 is a multicast, locally administered MAC — never one the harness uses as a
 * destination). The input probe never leaves the switch: outputs get a fresh one, the
 * packet_in payload is the bare original frame. The tag, not the dataplane packet id, is what
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
 * of being dropped, the packet goes to the CPU port as a reason-0 PacketIn with its tag. With
 * it, every harness input has exactly one outcome the bmv2 target can wait for: one hardware
 * output (decided whole, at most one output), one PacketIn (a punt, a `controller` output, or
 * this drop report).
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
import type { CtFields } from '../model/verdict.js';

export const PROBE_MAGIC = 0x6374;
export const PROBE_VERSION = 1;
export const PROBE_LEN = 32;
export const PROBE_F_OUTPUT = 0x01;
export const PROBE_F_PACKET_OUT = 0x02;
/** Input only: send the frame to the CPU port as a reason-0 PacketIn with the tag (harness ordering barrier). */
export const PROBE_F_ECHO = 0x04;
/** Input only: report a drop as a reason-0 PacketIn with the tag instead of dropping silently. */
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
  ['reserved', 8],
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
}

/** Prepend an input probe carrying `tag` (ct fields zero) to a frame. */
export function addInputProbe(frame: Uint8Array, tag: number): Uint8Array {
  return encodeProbe({ flags: 0, tag, state: 0, zone: 0, mark: 0, label: 0n }, frame);
}

/** The probe header followed by `frame`. */
export function encodeProbe(p: Probe, frame: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(PROBE_LEN + frame.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, PROBE_MAGIC);
  out[2] = PROBE_VERSION;
  out[3] = p.flags & 0xff;
  dv.setUint32(4, p.tag >>> 0);
  out[8] = p.state & 0xff;
  dv.setUint16(10, p.zone & 0xffff);
  dv.setUint32(12, p.mark >>> 0);
  let l = p.label;
  for (let i = 31; i >= 16; i--) {
    out[i] = Number(l & 0xffn);
    l >>= 8n;
  }
  out.set(frame, PROBE_LEN);
  return out;
}

/** Split a probed packet into its probe and the bare frame; null when it carries no probe. */
export function decodeProbe(pkt: Uint8Array): { probe: Probe; frame: Uint8Array } | null {
  if (pkt.length < PROBE_LEN) return null;
  const dv = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
  if (dv.getUint16(0) !== PROBE_MAGIC || pkt[2] !== PROBE_VERSION) return null;
  // Labels are mostly zero: skip 16 BigInt steps then (one probe per output, hot in the harness).
  let label = 0n;
  if (dv.getUint32(16) | dv.getUint32(20) | dv.getUint32(24) | dv.getUint32(28)) {
    for (let i = 16; i < 32; i++) label = (label << 8n) | BigInt(pkt[i]!);
  }
  return {
    probe: { flags: pkt[3]!, tag: dv.getUint32(4), state: pkt[8]!, zone: dv.getUint16(10), mark: dv.getUint32(12), label },
    frame: pkt.subarray(PROBE_LEN),
  };
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
