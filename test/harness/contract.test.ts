/**
 * The offload contract (harness/contract.ts): what the deployed offload promises to do with each
 * packet, from the plan and the reference's state before the packet; and the comparator's
 * `offload-contract` difference.
 */
import { describe, expect, it } from 'vitest';
import { buildFrame, type FrameSpec } from '../../model/packet/build.js';
import { ContractEngine } from '../../harness/contract.js';
import { diffVerdicts } from '../../harness/compare/compare.js';
import type { Verdict } from '../../model/verdict.js';

const POLICY = {
  source: 'contract.flows',
  text: `table=0,priority=10,ip,in_port=1,actions=ct(zone=1,table=1)
table=0,priority=10,ip,in_port=2,actions=ct(zone=1,table=1)
table=0,priority=10,ip,in_port=3,actions=ct(zone=7,table=1)
table=0,priority=5,ip,in_port=4,actions=output:1,output:2
table=1,priority=10,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=1),output:2
table=1,priority=10,ip,in_port=3,ct_state=+trk+new,actions=ct(commit,zone=7),output:2
table=1,priority=10,ct_state=+trk+est,in_port=1,actions=output:2
table=1,priority=10,ct_state=+trk+est,in_port=2,actions=output:1
table=1,priority=0,actions=drop
`,
};
const A = '10.0.0.1';
const B = '10.0.0.2';
const udp = (from: 'a' | 'b'): Uint8Array => buildFrame(from === 'a' ? { ip: { src: A, dst: B }, udp: { sport: 1000, dport: 53 }, payload: 'q' } : { ip: { src: B, dst: A }, udp: { sport: 53, dport: 1000 }, payload: 'r' });
const tcp = (from: 'a' | 'b', flags: string, seq: number, ack = 0): Uint8Array =>
  buildFrame((from === 'a' ? { ip: { src: A, dst: B }, tcp: { sport: 4000, dport: 80, seq, ack, flags, win: 65535 } } : { ip: { src: B, dst: A }, tcp: { sport: 80, dport: 4000, seq, ack, flags, win: 65535 } }) as FrameSpec);

function engine(config: Record<string, unknown> = {}): ContractEngine {
  const e = new ContractEngine({ zones: [1], ...config });
  e.load(POLICY);
  return e;
}
const allowed = (v: Verdict): string[] | undefined => v.offload?.allowed;

describe('offload contract', () => {
  it('UDP: the first packets punt as CT_MISS; once established, both directions are the hardware’s until expiry', () => {
    const e = engine();
    expect(allowed(e.process(1, udp('a'), 0))).toEqual(['CT_MISS']);
    expect(allowed(e.process(2, udp('b'), 10))).toEqual(['CT_MISS']); // the reply establishes: entries only after it
    expect(allowed(e.process(1, udp('a'), 20))).toEqual(['hardware']);
    expect(allowed(e.process(2, udp('b'), 30))).toEqual(['hardware']);
    // udp_multiple = 30 s after the last packet: at expiry the controller has deleted the entries
    expect(allowed(e.process(1, udp('a'), 30_029))).toEqual(['hardware']);
    expect(allowed(e.process(1, udp('a'), 60_029))).toEqual(['CT_MISS']);
  });

  it('TCP: handshake punts, data in hardware, FIN punts for its flags', () => {
    const e = engine();
    expect(allowed(e.process(1, tcp('a', 'S', 100), 0))).toEqual(['CT_MISS']);
    expect(allowed(e.process(2, tcp('b', 'SA', 500, 101), 1))).toEqual(['CT_MISS']);
    expect(allowed(e.process(1, tcp('a', 'A', 101, 501), 2))).toEqual(['CT_MISS']); // completes the handshake
    expect(allowed(e.process(1, tcp('a', 'PA', 101, 501), 3))).toEqual(['hardware']);
    expect(allowed(e.process(2, tcp('b', 'A', 501, 102), 4))).toEqual(['hardware']);
    expect(allowed(e.process(1, tcp('a', 'FA', 102, 501), 5))).toEqual(['TCP_FLAGS']);
  });

  it('static punts and misses: a zone not offloaded, a multi-output flow, an ICMP error', () => {
    const e = engine();
    expect(allowed(e.process(3, udp('a'), 0))).toEqual(['ZONE_NOT_OFFLOADED']);
    expect(allowed(e.process(4, udp('a'), 0))).toEqual(['MULTI_OUTPUT']);
    const icmpErr = buildFrame({ ip: { src: B, dst: A }, icmpError: { type: 3, code: 3, inner: udp('a').subarray(14) } });
    expect(allowed(e.process(2, icmpErr, 1))).toEqual(['ICMP_ERROR']);
  });

  it('the comparator reports an offload outcome the contract does not allow, per direction', () => {
    const base: Verdict = { outputs: [], lookups: [] };
    const exp = (a: string[]): Verdict => ({ ...base, offload: { allowed: a } });
    const obs = (p: string[]): Verdict => ({ ...base, offload: { punts: p } });
    expect(diffVerdicts(exp(['hardware']), obs([]))).toEqual([]);
    expect(diffVerdicts(exp(['CT_MISS']), obs(['CT_MISS']))).toEqual([]);
    const miss = diffVerdicts(exp(['hardware']), obs(['CT_MISS']));
    expect(miss.map((d) => [d.kind, d.expected, d.observed])).toEqual([['offload-contract', 'hardware', 'CT_MISS']]);
    expect(miss[0]!.message).toMatch(/punted \(CT_MISS\), but the offload contract has the hardware decide it/);
    expect(diffVerdicts(exp(['TCP_FLAGS']), obs([]))[0]!.message).toMatch(/decided in hardware, but the offload contract punts it/);
    expect(diffVerdicts(exp(['TCP_FLAGS']), obs(['CT_MISS']))[0]!.message).toMatch(/punted for CT_MISS/);
    // not judged: no expectation, no observation, or a packet the hardware does not check
    expect(diffVerdicts(base, obs(['CT_MISS']))).toEqual([]);
    expect(diffVerdicts(exp(['hardware']), base)).toEqual([]);
    expect(diffVerdicts(exp(['*']), obs(['CT_MISS']))).toEqual([]);
  });
});
