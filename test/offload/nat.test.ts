import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Conntrack } from '../../model/conntrack/index.js';
import { buildFrame } from '../../model/packet/build.js';
import { Pipeline, parsePolicy } from '../../model/pipeline/index.js';
import { compileOffload, notOffloadableReason, PUNT } from '../../offload/index.js';

const POLICY = new URL('../../examples/nat.flows', import.meta.url);

describe('offload of NAT policies: slow path until the hardware translates (docs/offload-design.md, "NAT")', () => {
  it('every flow with ct(nat…) is a static NAT punt, listed in the diagnostics', () => {
    const text = readFileSync(POLICY, 'utf8');
    const { plan } = compileOffload(text, 'nat.flows', {});
    const natLines = text.split('\n').flatMap((l, i) => (/^[^#].*nat/.test(l) ? [i + 1] : []));
    expect(natLines.length).toBeGreaterThan(5);
    for (const line of natLines) {
      const d = plan.diagnostics.find((x) => x.line === line);
      expect(d?.message, `line ${line}`).toMatch(/slow path \(NAT\)/);
    }
    const punts = plan.stageTables.flatMap((t) => t.flows).filter((f) => f.op.kind === 'punt');
    expect(punts.some((f) => f.hw.params.reason === BigInt(PUNT.NAT))).toBe(true);
  });

  it('a NATed connection is never offloadable, even when looked up by a flow without nat', () => {
    const text = `table=0,ip,actions=ct(zone=1,table=1)
table=1,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=1,nat(src=10.9.9.9)),output:2
table=1,ip,ct_state=+trk+est,actions=output:1`;
    const { plan } = compileOffload(text, 'n.flows', { offload: 'all-committed' });
    const p = new Pipeline(parsePolicy(text, 'n.flows'), new Conntrack());
    p.process(buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 1000, dport: 53 }, payload: 'q' }), 1, 0);
    const [conn] = [...p.conntrack.connections()];
    expect(conn!.nat).toBe('src');
    expect(notOffloadableReason(conn!, plan)).toMatch(/NATed connection \(SNAT\)/);
  });
});
