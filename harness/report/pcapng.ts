/**
 * counterexample-N.pcapng: the shrunk trace as a capture (one interface per ingress port, named
 * `port<N>` by model/packet's writer, so `ctoffload replay --pcap` and Wireshark read it back),
 * each packet commented with both verdicts: "expected: … / observed: …", plus the differences and
 * both sides' state (connections, hardware entries) on the failing packet. Timestamps are the trace's virtual times (ms) from the epoch.
 */
import { writePcapng } from '../../model/packet/index.js';
import type { CaptureRecord } from '../../model/packet/index.js';
import type { Counterexample, PropertyReport } from './schema.js';
import { stateTextLines } from './state-text.js';

export function counterexampleRecords(cx: Counterexample, target = 'observed', reference = 'expected'): CaptureRecord[] {
  return cx.packets.map((p) => {
    const data = Uint8Array.from(Buffer.from(p.frame, 'hex'));
    const lines = [
      `step ${p.index}${p.label ? `: ${p.label}` : ''}`,
      `expected (${reference}): ${p.expected?.text ?? 'error'} / observed (${target}): ${p.observed?.text ?? 'error'}`,
      ...p.differences.map((d) => `DIFF ${d.kind}: ${d.message}`),
      ...p.excused.map((e) => `excused by ${e.rule}: ${e.diff.message}`),
      // Both sides' connections / hardware entries as they were just before this packet.
      ...(cx.state && cx.state.step === p.index ? stateTextLines(cx.state) : []),
    ];
    return { timeNs: BigInt(Math.max(0, Math.round(p.time))) * 1_000_000n, port: p.port, data, origLen: data.length, comment: lines.join('\n') };
  });
}

export function counterexamplePcapng(p: PropertyReport): Uint8Array {
  const cx = p.counterexample!;
  return writePcapng(counterexampleRecords(cx, p.target, p.reference), {
    comment: `ctoffload conformance counterexample ${cx.id}: ${p.name}\nseed ${cx.seed} path ${cx.path}${cx.final ? '' : ' (shrinking interrupted)'}\nreplay: ${cx.replay}`,
    application: 'ctoffload conformance',
  });
}
