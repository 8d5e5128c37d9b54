/**
 * Policy pipeline throughput, whole-pipeline packets/s through Pipeline.process with the
 * conntrack model (parse, table passes, ct lookups, commit on the first packet, the Verdict):
 * the figure a user replaying captures sees.
 *
 * 1. Firewall: a small stateful policy (outbound TCP allowed, replies by ct_state=+trk+est)
 *    over 20 000 concurrent TCP sessions (9 packets each, bench/conntrack.ts `tcpSessionFrames`).
 * 1b. The same with NAT (NAT_POLICY): the price of translating every packet.
 * 2. Large ACL: the same sessions through `ct(zone=1,table=1)`, then one ACL table of N flows
 *    (1 000 and 10 000) of 5-tuple/prefix matches with scattered priorities — allow pairs per
 *    /24 source prefix, deny flows with other masks (/16, /32 + port, UDP, other subnets) that
 *    the traffic never hits — then a ct_state table. Every packet, both directions, is
 *    classified in the big table; the matching flow's rank in priority order is spread over the
 *    whole table, so this is the figure a flow classifier changes (model/pipeline/classifier.ts).
 */
import { pathToFileURL } from 'node:url';
import { Conntrack } from '../model/conntrack/index.js';
import { Pipeline, parsePolicy } from '../model/pipeline/index.js';
import type { Policy } from '../model/pipeline/index.js';
import { tcpSessionFrames } from './conntrack.js';
import type { BenchResult } from './result.js';

export const FIREWALL_POLICY = `
table=0,priority=100,ip,in_port=1,actions=ct(zone=1,table=1)
table=0,priority=100,ip,in_port=2,actions=ct(zone=1,table=1)
table=0,priority=0,actions=drop
table=1,priority=100,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=100,ip,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=100,ip,in_port=2,ct_state=+trk+est,actions=output:1
table=1,priority=0,actions=drop
`;

/**
 * The firewall with NAT: every look-up is `ct(nat)` and new connections are committed with
 * `nat(src)` — source NAT keeping the address, so the sessions' replies still match and every
 * packet of a connection is translated (copy, rewrite, re-parse: model/conntrack/nat.ts). Set
 * against the firewall figure, the cost of NAT in the reference.
 */
export const NAT_POLICY = FIREWALL_POLICY.replace(/ct\(zone=1,table=1\)/g, 'ct(nat,zone=1,table=1)').replace('ct(commit,zone=1)', 'ct(commit,zone=1,nat(src))');

/**
 * The large-ACL policy: `flows` flows in table 1 (about 80 % allow pairs for the prefixes of
 * sessions 0 … allowPrefixes-1, the rest deny flows the traffic does not hit). Deterministic.
 */
export function aclPolicyText(flows: number): { text: string; sessions: number } {
  let seed = 0x2545f491;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const acl: string[] = [];
  const pairs = Math.floor((flows * 0.8) / 2);
  const pfx = (k: number): string => `10.${(k >> 8) & 255}.${k & 255}.0/24`;
  for (let k = 0; k < pairs; k++) {
    const p = 1 + rnd(30000);
    acl.push(`table=1,priority=${p},tcp,in_port=1,nw_src=${pfx(k)},nw_dst=192.168.0.0/16,tp_dst=80,actions=goto_table:2`);
    acl.push(`table=1,priority=${p},tcp,in_port=2,nw_src=192.168.0.0/16,nw_dst=${pfx(k)},tp_src=80,actions=goto_table:2`);
  }
  for (let i = 0; acl.length < flows; i++) {
    const p = 1 + rnd(30000);
    const a = rnd(256);
    const b = rnd(256);
    switch (i % 5) {
      case 0:
        acl.push(`table=1,priority=${p},ip,nw_src=172.${16 + (a & 15)}.${b}.0/24,actions=drop`);
        break;
      case 1:
        acl.push(`table=1,priority=${p},tcp,nw_dst=10.${a}.${b}.${1 + rnd(250)},tp_dst=${1 + rnd(1023)},actions=drop`);
        break;
      case 2:
        acl.push(`table=1,priority=${p},udp,nw_src=10.${a}.0.0/16,tp_dst=53,actions=drop`);
        break;
      case 3:
        acl.push(`table=1,priority=${p},tcp,in_port=3,nw_src=10.${a}.${b}.0/24,nw_dst=192.168.${a}.0/24,actions=drop`);
        break;
      default:
        acl.push(`table=1,priority=${p},tcp,nw_src=10.${a}.${b}.${rnd(256)},nw_dst=8.8.${a}.${b},tp_src=${1024 + rnd(60000)},actions=drop`);
    }
  }
  const text = [
    'table=0,priority=100,ip,actions=ct(zone=1,table=1)',
    'table=0,priority=0,actions=drop',
    ...acl,
    'table=1,priority=0,actions=drop',
    'table=2,priority=100,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=1),output:2',
    'table=2,priority=100,ip,in_port=1,ct_state=+trk+est,actions=output:2',
    'table=2,priority=100,ip,in_port=2,ct_state=+trk+est,actions=output:1',
    'table=2,priority=0,actions=drop',
  ].join('\n');
  return { text, sessions: pairs };
}

function runSessions(policy: Policy, sessions: number, rounds: number): { pps: number; packets: number; dropped: number } {
  // Frames of one session alternate A (port 1) and B (port 2); A's frames come from 10.x.
  const sess = Array.from({ length: sessions }, (_, k) => tcpSessionFrames(k));
  const ports = sess[0]!.map((f) => (f[26] === 10 ? 1 : 2));
  let packets = 0;
  let dropped = 0;
  let ns = 0n;
  for (let r = 0; r < rounds; r++) {
    const pipeline = new Pipeline(policy, new Conntrack());
    const t0 = process.hrtime.bigint();
    for (let step = 0; step < ports.length; step++) {
      const port = ports[step]!;
      for (let k = 0; k < sessions; k++) {
        const v = pipeline.process(sess[k]![step]!, port, 1000 + step);
        if (v.outputs.length === 0) dropped++;
      }
    }
    ns += process.hrtime.bigint() - t0;
    packets += sessions * ports.length;
  }
  return { pps: packets / (Number(ns) / 1e9), packets, dropped };
}

export async function benchPipeline(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const fw = parsePolicy(FIREWALL_POLICY, 'bench-firewall.flows');
  runSessions(fw, 2000, 1); // warm-up: JIT
  const r = runSessions(fw, 20_000, 3);
  out.push({
    name: 'firewall policy, 20 000 TCP sessions (9 packets each)',
    value: Math.round(r.pps),
    unit: 'packets/s',
    note: `${r.packets} packets, ${r.dropped} dropped (expected 0)`,
  });
  const nat = parsePolicy(NAT_POLICY, 'bench-nat.flows');
  runSessions(nat, 2000, 1);
  const n = runSessions(nat, 20_000, 3);
  out.push({
    name: 'firewall policy with SNAT (ct(nat) look-ups, nat(src) commits), 20 000 TCP sessions',
    value: Math.round(n.pps),
    unit: 'packets/s',
    note: `${n.packets} packets, ${n.dropped} dropped (expected 0)`,
  });
  for (const flows of [1_000, 10_000]) {
    const { text, sessions } = aclPolicyText(flows);
    const policy = parsePolicy(text, `bench-acl-${flows}.flows`);
    runSessions(policy, Math.min(sessions, 200), 1); // warm-up
    // At least ~60 000 packets per figure (each round reopens every session on a fresh tracker).
    const a = runSessions(policy, sessions, Math.max(1, Math.ceil(60_000 / (sessions * 9))));
    out.push({
      name: `ACL policy, ${flows.toLocaleString('en-US')} flows in one table, ${sessions} TCP sessions`,
      value: Math.round(a.pps),
      unit: 'packets/s',
      note: `${a.packets} packets, ${a.dropped} dropped (expected 0)`,
    });
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await benchPipeline()) console.log(`${r.name}: ${r.value} ${r.unit}${r.note ? ` (${r.note})` : ''}`);
}
