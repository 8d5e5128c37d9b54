/**
 * One connection as text, in the shape of `ovs-appctl dpctl/dump-conntrack -m -s` (OVS 3.1
 * lib/ct-dpif.c `ct_dpif_format_entry`: protocol, orig=(…), reply=(…), id, zone, timeout,
 * mark, labels, protoinfo), so a person reading a counterexample compares it with what OVS
 * prints. Slow path only (counterexample reports, status): allocates.
 */
import type { ConnInfo, TupleInfo } from './types.js';

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp', 136: 'udplite' };

function tuple(t: TupleInfo, icmp: boolean): string {
  const ports = icmp ? `id=${t.sport},type=${t.icmpType ?? 0},code=${t.icmpCode ?? 0}` : `sport=${t.sport},dport=${t.dport}`;
  return `src=${t.src},dst=${t.dst},${ports}`;
}

export function formatConnection(c: ConnInfo): string {
  const icmp = c.proto === 1 || c.proto === 58;
  const name = PROTO_NAMES[c.proto] ?? `proto=${c.proto}`;
  const parts = [`${name}`, `orig=(${tuple(c.orig, icmp)})`, `reply=(${tuple(c.reply, icmp)})`, `id=${c.id}`];
  if (c.zone) parts.push(`zone=${c.zone}`);
  if (c.timeout !== undefined) parts.push(`timeout=${c.timeout}`);
  if (c.mark) parts.push(`mark=${c.mark}`);
  if (c.label) parts.push(`labels=0x${c.label.toString(16)}`);
  if (c.tcp) parts.push(`protoinfo=(state_orig=${c.tcp.stateOrig},state_reply=${c.tcp.stateReply})`);
  else parts.push(`protoinfo=(state=${c.protoState})`);
  if (c.helper) parts.push(`helper=${c.helper}`);
  if (c.parent) parts.push(`parent=(${tuple(c.parent, false)})`);
  if (c.timeoutPolicy) parts.push(`timeout_policy=${c.timeoutPolicy}`);
  if (c.seenReply) parts.push('seen_reply');
  return parts.join(',');
}
