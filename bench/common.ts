/**
 * What the bmv2 benchmarks share: the one-table v1model program they compile (Ethernet only,
 * one ingress table given by the caller), the check for the tools they need, and the median.
 */
import { whichSync } from '../p4/which.js';

/** A v1model program parsing Ethernet, with `ingress` (actions + one table + apply) as its ingress body. */
export function oneTableProgram(ingress: string): string {
  return `
#include <core.p4>
#include <v1model.p4>
header ethernet_h { bit<48> dst; bit<48> src; bit<16> ether_type; }
struct headers_t { ethernet_h ethernet; }
struct meta_t { }
parser P(packet_in pkt, out headers_t hdr, inout meta_t m, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.ethernet); transition accept; }
}
control VC(inout headers_t hdr, inout meta_t m) { apply { } }
control I(inout headers_t hdr, inout meta_t m, inout standard_metadata_t sm) {
${ingress}
}
control E(inout headers_t hdr, inout meta_t m, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t m) { apply { } }
control D(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.ethernet); } }
V1Switch(P(), VC(), I(), E(), CC(), D()) main;
`;
}

/** `skipped: … not found` when simple_switch_grpc or p4c-bm2-ss is absent (env overrides honoured), else null. */
export function missingBmv2Tools(): string | null {
  const missing = [
    !whichSync(process.env.CTOFFLOAD_BMV2 || 'simple_switch_grpc') && 'simple_switch_grpc',
    !whichSync(process.env.CTOFFLOAD_P4C || 'p4c-bm2-ss') && 'p4c-bm2-ss',
  ].filter(Boolean);
  return missing.length ? `skipped: ${missing.join(' and ')} not found` : null;
}

export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
